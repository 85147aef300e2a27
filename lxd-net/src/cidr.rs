//! Addresses with a prefix length (`10.0.3.1/24`, `fd42::1/64`), MAC addresses and address
//! ranges, parsed strictly as LXD's validators do.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address and a prefix length: an interface address or, with the host bits cleared, a
/// subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The address as written (host bits kept).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Builds a CIDR, checking the prefix length against the family.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        (prefix <= bits(addr)).then_some(Cidr { addr, prefix })
    }

    /// Whether this is IPv4.
    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        from_u128(self.addr, to_u128(self.addr) & self.mask())
    }

    /// The subnet (network address and prefix).
    pub fn subnet(&self) -> Cidr {
        Cidr {
            addr: self.network(),
            prefix: self.prefix,
        }
    }

    /// The last address of the subnet (IPv4's broadcast address).
    pub fn last(&self) -> IpAddr {
        from_u128(
            self.addr,
            to_u128(self.network()) | (!self.mask() & max(self.addr)),
        )
    }

    /// Whether `ip` is in the subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && (to_u128(ip) & self.mask()) == to_u128(self.network())
    }

    /// Whether the two subnets share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        if self.is_v4() != other.is_v4() {
            return false;
        }
        let p = self.prefix.min(other.prefix);
        let a = Cidr {
            addr: self.addr,
            prefix: p,
        };
        a.contains(other.addr)
    }

    /// The address `n` places from the start of the subnet (`n >= 0`: network + n) or from its
    /// end (`n < 0`: -1 is the last address), as LXD's `dhcpalloc.GetIP`.
    pub fn nth(&self, n: i64) -> IpAddr {
        let v = if n >= 0 {
            to_u128(self.network()).wrapping_add(n as u128)
        } else {
            to_u128(self.last()).wrapping_sub((-n - 1) as u128)
        };
        from_u128(self.addr, v & max(self.addr))
    }

    /// The number of addresses in the subnet (saturating).
    pub fn size(&self) -> u128 {
        let host_bits = u32::from(bits(self.addr) - self.prefix);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    fn mask(&self) -> u128 {
        let b = u32::from(bits(self.addr));
        let host = b - u32::from(self.prefix);
        let all = max(self.addr);
        if host >= 128 {
            0
        } else {
            all & !((1u128 << host) - 1)
        }
    }

    /// Parses `ADDR/PREFIX` of either family.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
            return None;
        }
        let prefix: u8 = p.parse().ok()?;
        Cidr::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Cidr::parse(s).ok_or(())
    }
}

fn bits(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

fn max(a: IpAddr) -> u128 {
    if a.is_ipv4() {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    }
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(family: IpAddr, v: u128) -> IpAddr {
    match family {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// Parses an interface address with prefix of the given family that is usable as a host
/// address (not the network address nor, for IPv4, the broadcast address), as LXD's
/// `IsNetworkAddressCIDRV4`/`V6`.
pub fn parse_host_cidr(s: &str, v4: bool) -> Result<Cidr, String> {
    let c = Cidr::parse(s).ok_or_else(|| "not an address with a prefix length".to_string())?;
    if c.is_v4() != v4 {
        return Err(format!("not an IPv{} address", if v4 { 4 } else { 6 }));
    }
    let host_bits = bits(c.addr) - c.prefix;
    if host_bits == 0 && v4 {
        return Err("a /32 leaves no address for instances".into());
    }
    if c.addr == c.network() && host_bits > 1 {
        return Err("the network address is not usable as an interface address".into());
    }
    if v4 && c.addr == c.last() && host_bits > 1 {
        return Err("the broadcast address is not usable as an interface address".into());
    }
    Ok(c)
}

/// Parses a subnet of the given family (host bits must be clear), as LXD's `IsNetworkV4`.
pub fn parse_subnet(s: &str, v4: bool) -> Result<Cidr, String> {
    let c = Cidr::parse(s).ok_or_else(|| "not a subnet in CIDR notation".to_string())?;
    if c.is_v4() != v4 {
        return Err(format!("not an IPv{} subnet", if v4 { 4 } else { 6 }));
    }
    if c.addr != c.network() {
        return Err(format!("host bits are set (the subnet is {})", c.subnet()));
    }
    Ok(c)
}

/// A range of addresses `FIRST-LAST` (`ipv4.dhcp.ranges`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// The first address.
    pub start: IpAddr,
    /// The last address.
    pub end: IpAddr,
}

impl IpRange {
    /// Parses `A-B` of the given family with `A <= B`.
    pub fn parse(s: &str, v4: bool) -> Result<IpRange, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| "a range is FIRST-LAST".to_string())?;
        let parse = |x: &str| -> Result<IpAddr, String> {
            let ip: IpAddr = x
                .trim()
                .parse()
                .map_err(|_| format!("{x:?} is not an IP address"))?;
            if ip.is_ipv4() != v4 {
                return Err(format!(
                    "{x:?} is not an IPv{} address",
                    if v4 { 4 } else { 6 }
                ));
            }
            Ok(ip)
        };
        let (start, end) = (parse(a)?, parse(b)?);
        if to_u128(start) > to_u128(end) {
            return Err(format!("{start} comes after {end}"));
        }
        Ok(IpRange { start, end })
    }
}

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses `aa:bb:cc:dd:ee:ff` (six colon-separated hex pairs, as LXD's `IsNetworkMAC`).
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return None;
        }
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return None;
            }
            *o = u8::from_str_radix(p, 16).ok()?;
        }
        Some(Mac(out))
    }

    /// From a netlink hardware address (6 bytes).
    pub fn from_slice(b: &[u8]) -> Option<Mac> {
        <[u8; 6]>::try_from(b).ok().map(Mac)
    }

    /// Whether this is a usable unicast address (not multicast, not all zeros).
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0 && self.0 != [0; 6]
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Formats a netlink hardware address of any length as colon-separated hex.
pub fn format_hwaddr(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn subnet_arithmetic() {
        let a = c("10.1.2.1/24");
        assert_eq!(a.network().to_string(), "10.1.2.0");
        assert_eq!(a.last().to_string(), "10.1.2.255");
        assert_eq!(a.nth(2).to_string(), "10.1.2.2");
        assert_eq!(a.nth(-2).to_string(), "10.1.2.254");
        assert!(a.contains("10.1.2.200".parse().unwrap()));
        assert!(!a.contains("10.1.3.1".parse().unwrap()));
        assert!(a.overlaps(&c("10.0.0.0/8")));
        assert!(c("10.0.0.0/8").overlaps(&a));
        assert!(!a.overlaps(&c("10.1.3.0/24")));
        assert!(!a.overlaps(&c("fd42::/64")));
        assert_eq!(a.size(), 256);
        let v6 = c("fd42:1:2:3::1/64");
        assert_eq!(v6.network().to_string(), "fd42:1:2:3::");
        assert_eq!(v6.nth(-1).to_string(), "fd42:1:2:3:ffff:ffff:ffff:ffff");
        assert!(v6.overlaps(&c("fd42:1:2::/48")));
        assert_eq!(c("0.0.0.0/0").network().to_string(), "0.0.0.0");
        assert!(c("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn strict_parsing() {
        assert!(Cidr::parse("10.1.2.1").is_none());
        assert!(Cidr::parse("10.1.2.1/33").is_none());
        assert!(Cidr::parse("10.1.2.300/24").is_none());
        assert!(Cidr::parse("10.1.2.1/+4").is_none());
        assert!(parse_host_cidr("10.1.2.0/24", true).is_err());
        assert!(parse_host_cidr("10.1.2.255/24", true).is_err());
        assert!(parse_host_cidr("fd42::1/64", true).is_err());
        assert!(parse_host_cidr("10.1.2.1/24", true).is_ok());
        assert!(parse_subnet("10.1.0.0/16", true).is_ok());
        assert!(parse_subnet("10.1.2.3/16", true)
            .unwrap_err()
            .contains("10.1.0.0/16"));
        assert!(IpRange::parse("10.0.0.10-10.0.0.20", true).is_ok());
        assert!(IpRange::parse("10.0.0.20-10.0.0.10", true).is_err());
        assert!(IpRange::parse("10.0.0.20", true).is_err());
        assert_eq!(
            Mac::parse("00:16:3E:aa:bb:cc").unwrap().to_string(),
            "00:16:3e:aa:bb:cc"
        );
        assert!(Mac::parse("00-16-3e-aa-bb-cc").is_none());
        assert!(Mac::parse("00:16:3e:aa:bb").is_none());
        assert!(!Mac::parse("01:00:5e:00:00:01").unwrap().is_unicast());
    }
}
