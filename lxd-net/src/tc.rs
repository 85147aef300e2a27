//! Bandwidth limits of a bridged nic, applied with `tc` on the host side of its veth pair:
//! - `limits.ingress` (traffic to the instance, which leaves the host through the veth): an
//!   htb root qdisc on the veth with one class at the rate, the default for all traffic;
//! - `limits.egress` (traffic from the instance, which enters the host through the veth): the
//!   veth's ingress is redirected (`mirred`) to an ifb device owned by the nic,
//!   `ifb` + 8 hex digits derived from the veth's name, whose root htb qdisc shapes at the
//!   rate. LXD polices with tc's `police` action instead; kernels built without `act_police`
//!   (as this project's CI kernel) cannot load it, and nftables' byte-rate `limit` lets TCP
//!   through well above the rate, while shaping on an ifb holds it.
//!
//! `limits.max` sets both. The ifb device is deleted on detach (the veth's qdiscs go with the
//! veth).

use crate::cmd;
use crate::error::{NetError, Result};
use crate::netlink::{LinkChange, Netlink};

/// Parses a bit rate as LXD's `ParseBitSizeString` (`10Mbit`, `1Gbit`, `512kbit`, `100Mibit`,
/// a plain number of bit/s); returns bits per second.
pub fn parse_bit_rate(key: &str, v: &str) -> Result<u64> {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, suffix) = v.split_at(split);
    let bad = |r: &str| NetError::invalid(key, v, r);
    if num.is_empty() {
        return Err(bad("a bit rate is a number with a unit such as 10Mbit"));
    }
    let n: u64 = num.parse().map_err(|_| bad("the number is too large"))?;
    let mult: u64 = match suffix {
        "" | "bit" => 1,
        "kbit" => 1_000,
        "Mbit" => 1_000_000,
        "Gbit" => 1_000_000_000,
        "Tbit" => 1_000_000_000_000,
        "Pbit" => 1_000_000_000_000_000,
        "Ebit" => 1_000_000_000_000_000_000,
        "Kibit" => 1 << 10,
        "Mibit" => 1 << 20,
        "Gibit" => 1 << 30,
        "Tibit" => 1 << 40,
        "Pibit" => 1 << 50,
        "Eibit" => 1 << 60,
        _ => {
            return Err(bad(
                "unknown unit (bit, kbit, Mbit, Gbit, Tbit, Kibit, Mibit, Gibit, ...)",
            ))
        }
    };
    let r = n
        .checked_mul(mult)
        .ok_or_else(|| bad("the rate is too large"))?;
    if r == 0 {
        return Err(bad("a rate limit must be above zero"));
    }
    Ok(r)
}

/// The ifb device shaping the egress of host interface `host`.
pub fn ifb_name(host: &str) -> String {
    // FNV-1a: stable, and distinct enough for the few nics of a host.
    let mut h: u32 = 0x811c_9dc5;
    for b in host.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("ifb{h:08x}")
}

async fn htb(dev: &str, rate: u64) -> Result<()> {
    let rate = format!("{rate}bit");
    cmd::run(
        "tc",
        &[
            "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "10",
        ],
        None,
    )
    .await?;
    cmd::run(
        "tc",
        &[
            "class", "replace", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", &rate,
        ],
        None,
    )
    .await
    .map(|_| ())
}

/// Applies the limits (bits per second) to host interface `host`.
pub async fn apply(
    nl: &Netlink,
    host: &str,
    ingress: Option<u64>,
    egress: Option<u64>,
) -> Result<()> {
    if let Some(rate) = ingress {
        htb(host, rate).await?;
    }
    if let Some(rate) = egress {
        let ifb = ifb_name(host);
        nl.del_link_by_name(&ifb).await?;
        nl.add_ifb(&ifb).await.map_err(|e| match e.errno() {
            Some(nix::errno::Errno::EOPNOTSUPP) => NetError::unsupported(
                "limits.egress",
                "the running kernel has no ifb device support (CONFIG_IFB)",
            ),
            _ => e,
        })?;
        let l = nl.require_link(&ifb).await?;
        nl.set_link(
            l.index,
            &ifb,
            &LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        )
        .await?;
        htb(&ifb, rate).await?;
        cmd::run(
            "tc",
            &[
                "qdisc", "replace", "dev", host, "handle", "ffff:", "ingress",
            ],
            None,
        )
        .await?;
        cmd::run(
            "tc",
            &[
                "filter", "replace", "dev", host, "parent", "ffff:", "protocol", "all", "prio",
                "1", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect",
                "dev", &ifb,
            ],
            None,
        )
        .await?;
    }
    Ok(())
}

/// Removes what the limits of host interface `host` left besides the veth's own qdiscs: the
/// ifb device (also when the veth is already gone).
pub async fn clear(nl: &Netlink, host: &str) -> Result<()> {
    nl.del_link_by_name(&ifb_name(host)).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_rates_as_lxd() {
        assert_eq!(
            parse_bit_rate("limits.ingress", "10Mbit").unwrap(),
            10_000_000
        );
        assert_eq!(
            parse_bit_rate("limits.ingress", "1Gbit").unwrap(),
            1_000_000_000
        );
        assert_eq!(parse_bit_rate("limits.ingress", "2Mibit").unwrap(), 2 << 20);
        assert_eq!(parse_bit_rate("limits.ingress", "5000").unwrap(), 5000);
        let e = parse_bit_rate("limits.egress", "10MB").unwrap_err();
        assert!(e.to_string().contains("limits.egress"), "{e}");
        assert!(parse_bit_rate("limits.egress", "Mbit").is_err());
        assert!(parse_bit_rate("limits.egress", "0bit").is_err());
        let i = ifb_name("veth1a2b3c4d");
        assert_eq!(i.len(), 11);
        assert_eq!(i, ifb_name("veth1a2b3c4d"));
        assert_ne!(i, ifb_name("veth1a2b3c4e"));
    }
}
