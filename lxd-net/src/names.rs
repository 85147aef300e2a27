//! Interface names and generated identifiers: LXD's interface-name rule, random host-side
//! names (`veth1a2b3c4d`) and MAC addresses in LXD's `00:16:3e` range.

use std::io::Read;

use crate::cidr::Mac;
use crate::error::{NetError, Result};

/// The kernel's limit on interface names (IFNAMSIZ - 1).
pub const IFNAMSIZ_MAX: usize = 15;

/// The longest name a fan bridge may have: its tunnel is `NAME-fan` and must fit IFNAMSIZ.
pub const FAN_NAME_MAX: usize = 11;

/// Checks an interface name as LXD's `IsInterfaceName`: 2 to 15 characters of
/// `[-_a-zA-Z0-9.]`; `what` names the key or object in the error.
pub fn check_interface_name(what: &str, name: &str) -> Result<()> {
    let reason = if name.len() < 2 {
        Some("an interface name has at least 2 characters".to_string())
    } else if name.len() > IFNAMSIZ_MAX {
        Some(format!(
            "an interface name has at most {IFNAMSIZ_MAX} characters (IFNAMSIZ), this one has {}",
            name.len()
        ))
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        Some("an interface name may only hold letters, digits, '-', '_' and '.'".to_string())
    } else if name == "." || name == ".." {
        Some("not a usable interface name".to_string())
    } else {
        None
    };
    match reason {
        Some(r) => Err(NetError::invalid(what, name, r)),
        None => Ok(()),
    }
}

/// Checks a managed network's name: an interface name (the bridge is named after the network)
/// that does not look like a number and, for the fan, leaves room for the `-fan` tunnel.
pub fn check_network_name(name: &str, fan: bool) -> Result<()> {
    check_interface_name("network name", name)?;
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NetError::invalid(
            "network name",
            name,
            "a network name cannot be a number",
        ));
    }
    if fan && name.len() > FAN_NAME_MAX {
        return Err(NetError::invalid(
            "network name",
            name,
            format!(
                "a fan network's name has at most {FAN_NAME_MAX} characters (its tunnel is {name}-fan), this one has {}",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// `n` random bytes from the kernel.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| NetError::io("read", "/dev/urandom", e))?;
    Ok(b)
}

/// A random interface name `PREFIX` + 8 hex digits (`veth1a2b3c4d`), as LXD's `RandomDevName`.
pub fn random_dev_name(prefix: &str) -> Result<String> {
    let b: [u8; 4] = random_bytes()?;
    Ok(format!(
        "{prefix}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3]
    ))
}

/// A random MAC address in LXD's `00:16:3e` range.
pub fn random_mac() -> Result<Mac> {
    let b: [u8; 3] = random_bytes()?;
    Ok(Mac([0x00, 0x16, 0x3e, b[0], b[1], b[2]]))
}

/// A MAC address in LXD's range derived from a name, stable across restarts (a bridge keeps
/// its MAC so instances' neighbour caches stay valid).
pub fn stable_mac(seed: &str) -> Mac {
    // FNV-1a, 64 bits: stable across Rust versions, unlike DefaultHasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    Mac([0x00, 0x16, 0x3e, b[0], b[1], b[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(check_interface_name("name", "lxdbr0").is_ok());
        assert!(check_interface_name("name", "a").is_err());
        let long = check_interface_name("name", "abcdefghijklmnop").unwrap_err();
        assert!(long.to_string().contains("at most 15"), "{long}");
        assert!(check_interface_name("name", "br 0").is_err());
        assert!(check_interface_name("name", "br/0").is_err());
        assert!(check_network_name("12", false).is_err());
        assert!(check_network_name("fanbr012345", true).is_ok());
        let fan = check_network_name("fanbr0123456", true).unwrap_err();
        assert!(fan.to_string().contains("at most 11"), "{fan}");
    }

    #[test]
    fn generated_names() {
        let n = random_dev_name("veth").unwrap();
        assert_eq!(n.len(), 12);
        assert!(n.starts_with("veth"));
        let m = random_mac().unwrap();
        assert!(m.is_unicast());
        assert_eq!(&m.0[..3], &[0x00, 0x16, 0x3e]);
        assert_eq!(stable_mac("lxdbr0"), stable_mac("lxdbr0"));
        assert_ne!(stable_mac("lxdbr0"), stable_mac("lxdbr1"));
    }
}
