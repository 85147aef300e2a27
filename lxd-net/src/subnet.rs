//! Subnets in use on this host and the choice of a free one for `ipv4.address=auto` /
//! `ipv6.address=auto`.
//!
//! LXD pings candidate subnets; that proves nothing where every address answers, so the
//! choice here is only by what the host knows: a candidate must overlap no route (of any
//! table, default routes aside), no interface address and no other managed network. IPv4
//! candidates are the `10.X.Y.0/24` subnets, tried in order from a random start; IPv6
//! candidates random `fd42:X:Y:Z::/64` subnets. The bridge takes the first address (`.1`).

use std::net::{IpAddr, Ipv6Addr};

use lxd_core::network::NetworkInfo;

use crate::cidr::Cidr;
use crate::error::{NetError, Result};
use crate::names::random_bytes;
use crate::netlink::Netlink;

/// A subnet in use and what uses it (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Used {
    /// The subnet.
    pub subnet: Cidr,
    /// `route 10.0.0.0/8 on eth0`, `address 10.1.2.3/24 on eth0`, `network lxdbr1`.
    pub by: String,
}

/// Subnets used by routes and interface addresses of this host (its current network
/// namespace); interfaces named in `skip` (the network's own bridge and tunnel) are left out.
pub async fn host_subnets(nl: &Netlink, skip: &[&str]) -> Result<Vec<Used>> {
    let links = nl.links().await?;
    let name_of = |i: Option<u32>| {
        i.and_then(|i| links.iter().find(|l| l.index == i))
            .map(|l| l.name.clone())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for v4 in [true, false] {
        for r in nl.routes(v4).await? {
            if r.dst.prefix == 0 || !r.unicast {
                continue;
            }
            let dev = name_of(r.oif);
            if skip.contains(&dev.as_str()) {
                continue;
            }
            if !v4 && r.dst.addr.is_ipv6() && is_link_local_v6(&r.dst) {
                continue;
            }
            out.push(Used {
                subnet: r.dst.subnet(),
                by: format!("route {} on {dev}", r.dst.subnet()),
            });
        }
    }
    for a in nl.addresses(None).await? {
        let dev = name_of(Some(a.index));
        if skip.contains(&dev.as_str()) || a.scope != "global" {
            continue;
        }
        out.push(Used {
            subnet: a.cidr.subnet(),
            by: format!("address {} on {dev}", a.cidr),
        });
    }
    Ok(out)
}

fn is_link_local_v6(c: &Cidr) -> bool {
    match c.addr {
        IpAddr::V6(v) => (v.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// Subnets of the other managed networks: their `ipv4.address`/`ipv6.address`, and a fan's
/// whole overlay.
pub fn network_subnets(self_name: &str, others: &[NetworkInfo]) -> Vec<Used> {
    let mut out = Vec::new();
    for n in others.iter().filter(|n| n.name != self_name) {
        let c = &n.config;
        for k in ["ipv4.address", "ipv6.address"] {
            if let Some(s) = c.get(k).and_then(|v| Cidr::parse(v)) {
                out.push(Used {
                    subnet: s.subnet(),
                    by: format!("network {} ({k} {s})", n.name),
                });
            }
        }
        if c.get("bridge.mode").map(String::as_str) == Some("fan") {
            let ov = c
                .get("fan.overlay_subnet")
                .filter(|v| !v.is_empty())
                .map(String::as_str)
                .unwrap_or("240.0.0.0/8");
            if let Some(s) = Cidr::parse(ov) {
                out.push(Used {
                    subnet: s.subnet(),
                    by: format!("fan network {} (overlay {s})", n.name),
                });
            }
        }
    }
    out
}

/// The first thing in `used` that overlaps `subnet`.
pub fn first_overlap<'a>(subnet: &Cidr, used: &'a [Used]) -> Option<&'a Used> {
    used.iter().find(|u| u.subnet.overlaps(subnet))
}

/// A free `10.X.Y.1/24`, trying the 65536 candidates in order from a random one.
pub fn pick_v4(used: &[Used]) -> Result<Cidr> {
    let r: [u8; 2] = random_bytes()?;
    let start = u16::from_be_bytes(r);
    for i in 0..=u16::MAX {
        let n = start.wrapping_add(i);
        let [x, y] = n.to_be_bytes();
        let c = Cidr {
            addr: IpAddr::V4([10, x, y, 1].into()),
            prefix: 24,
        };
        if first_overlap(&c, used).is_none() {
            return Ok(c);
        }
    }
    Err(NetError::invalid(
        "ipv4.address",
        "auto",
        "no free 10.x.y.0/24 subnet is left, configure the address by hand",
    ))
}

/// A free random `fd42:X:Y:Z::1/64`.
pub fn pick_v6(used: &[Used]) -> Result<Cidr> {
    for _ in 0..100 {
        let r: [u8; 6] = random_bytes()?;
        let seg = |i: usize| u16::from_be_bytes([r[i], r[i + 1]]);
        let c = Cidr {
            addr: IpAddr::V6(Ipv6Addr::new(0xfd42, seg(0), seg(2), seg(4), 0, 0, 0, 1)),
            prefix: 64,
        };
        if first_overlap(&c, used).is_none() {
            return Ok(c);
        }
    }
    Err(NetError::invalid(
        "ipv6.address",
        "auto",
        "no free fd42::/64 subnet found, configure the address by hand",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lxd_core::store::ConfigMap;

    #[test]
    fn picks_avoid_used_subnets() {
        // 10.0.0.0/9, 10.128.0.0/10, ... 10.255.254.0/24: only 10.255.255.0/24 is free.
        let mut used: Vec<Used> = (9..=24u8)
            .map(|p| {
                let start: u32 = (0xffff_ffffu32 << (33 - p)) & 0x00ff_ffff;
                let a = std::net::Ipv4Addr::from(0x0a00_0000 | start);
                Used {
                    subnet: Cidr::new(IpAddr::V4(a), p).unwrap(),
                    by: "test".into(),
                }
            })
            .collect();
        assert_eq!(pick_v4(&used).unwrap().to_string(), "10.255.255.1/24");
        used.push(Used {
            subnet: Cidr::parse("10.255.255.128/25").unwrap(),
            by: "test".into(),
        });
        assert!(pick_v4(&used).is_err());
        let v6 = pick_v6(&[]).unwrap();
        assert!(v6.to_string().starts_with("fd42:"), "{v6}");
        assert_eq!(v6.prefix, 64);
    }

    #[test]
    fn other_networks_subnets() {
        let mk = |name: &str, pairs: &[(&str, &str)]| NetworkInfo {
            name: name.into(),
            kind: "bridge".into(),
            config: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<ConfigMap>(),
            state_dir: "/nonexistent".into(),
        };
        let others = vec![
            mk(
                "a",
                &[("ipv4.address", "10.1.2.1/24"), ("ipv6.address", "none")],
            ),
            mk(
                "b",
                &[
                    ("bridge.mode", "fan"),
                    ("fan.underlay_subnet", "10.9.0.0/16"),
                ],
            ),
            mk("self", &[("ipv4.address", "10.3.3.1/24")]),
        ];
        let u = network_subnets("self", &others);
        assert_eq!(u.len(), 2);
        let hit = first_overlap(&Cidr::parse("10.1.2.0/25").unwrap(), &u).unwrap();
        assert!(hit.by.contains("network a"), "{}", hit.by);
        let hit = first_overlap(&Cidr::parse("240.1.0.0/16").unwrap(), &u).unwrap();
        assert!(hit.by.contains("fan network b"), "{}", hit.by);
        assert!(first_overlap(&Cidr::parse("10.3.3.0/24").unwrap(), &u).is_none());
    }
}
