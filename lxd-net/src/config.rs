//! The configuration of a managed bridge: LXD 5.0's keys for the `bridge` type (plus
//! `fan.peers`), checked key by key, with LXD's defaults, parsed into [`BridgeConfig`].
//!
//! `fan.peers` is this project's own key: a comma-separated list of the other fan hosts'
//! underlay addresses. LXD learns them from cluster membership; here they come from the
//! configuration until the cluster layer provides them.

use std::net::{IpAddr, Ipv4Addr};

use lxd_core::store::ConfigMap;

use crate::cidr::{parse_host_cidr, parse_subnet, Cidr, IpRange, Mac};
use crate::error::{NetError, Result};

/// Keys this implementation provides.
const KEYS: &[&str] = &[
    "bridge.driver",
    "bridge.hwaddr",
    "bridge.mode",
    "bridge.mtu",
    "dns.domain",
    "dns.mode",
    "dns.search",
    "fan.overlay_subnet",
    "fan.peers",
    "fan.type",
    "fan.underlay_subnet",
    "ipv4.address",
    "ipv4.dhcp",
    "ipv4.dhcp.expiry",
    "ipv4.dhcp.gateway",
    "ipv4.dhcp.ranges",
    "ipv4.firewall",
    "ipv4.nat",
    "ipv4.nat.address",
    "ipv4.routes",
    "ipv4.routing",
    "ipv6.address",
    "ipv6.dhcp",
    "ipv6.dhcp.expiry",
    "ipv6.dhcp.ranges",
    "ipv6.dhcp.stateful",
    "ipv6.firewall",
    "ipv6.nat",
    "ipv6.nat.address",
    "ipv6.routes",
    "ipv6.routing",
    "raw.dnsmasq",
];

/// LXD keys (or key prefixes) this implementation refuses, with the reason.
const NOT_PROVIDED: &[(&str, &str)] = &[
    (
        "bridge.external_interfaces",
        "is not provided by this implementation (only instance nics are bridge ports)",
    ),
    (
        "ipv4.nat.order",
        "is not provided: NAT rules live in the network's own nftables table, whose order against other tables cannot be chosen",
    ),
    (
        "ipv6.nat.order",
        "is not provided: NAT rules live in the network's own nftables table, whose order against other tables cannot be chosen",
    ),
    ("ipv4.ovn.ranges", "is not provided: OVN networks are not implemented"),
    ("ipv6.ovn.ranges", "is not provided: OVN networks are not implemented"),
    ("maas.", "is not provided: MAAS integration is not implemented"),
    ("security.acls", "is not provided: network ACLs are not implemented"),
    ("dns.zone.", "is not provided: network DNS zones are not implemented"),
    ("bgp.", "is not provided: BGP is not implemented"),
    ("tunnel.", "is not provided: bridge tunnels are not implemented"),
];

/// Whether a dnsmasq should run and what DNS it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsMode {
    /// Instance names registered (LXD's default).
    Managed,
    /// Names clients give are registered too.
    Dynamic,
    /// No local domain.
    None,
}

/// The encapsulation of a fan overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanType {
    /// VXLAN over UDP 8472 (the default).
    Vxlan,
    /// IP in IP.
    Ipip,
}

/// A fan overlay's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanConfig {
    /// The overlay (`240.0.0.0/8`).
    pub overlay: Cidr,
    /// The underlay the hosts share (`10.1.0.0/16`).
    pub underlay: Cidr,
    /// Encapsulation.
    pub kind: FanType,
    /// The other hosts' underlay addresses.
    pub peers: Vec<Ipv4Addr>,
}

/// A bridge's parsed configuration, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Network (and bridge) name.
    pub name: String,
    /// The fan overlay when `bridge.mode=fan`.
    pub fan: Option<FanConfig>,
    /// `bridge.mtu`.
    pub mtu: Option<u32>,
    /// `bridge.hwaddr`.
    pub hwaddr: Option<Mac>,
    /// The bridge's IPv4 address (`None` for `none`); for the fan it is computed at setup.
    pub ipv4: Option<Cidr>,
    /// The bridge's IPv6 address.
    pub ipv6: Option<Cidr>,
    /// `ipv4.nat`.
    pub ipv4_nat: bool,
    /// `ipv6.nat`.
    pub ipv6_nat: bool,
    /// `ipv4.nat.address`.
    pub ipv4_nat_address: Option<IpAddr>,
    /// `ipv6.nat.address`.
    pub ipv6_nat_address: Option<IpAddr>,
    /// `ipv4.dhcp` (default true).
    pub ipv4_dhcp: bool,
    /// `ipv6.dhcp` (default true).
    pub ipv6_dhcp: bool,
    /// `ipv6.dhcp.stateful` (default false).
    pub ipv6_dhcp_stateful: bool,
    /// `ipv4.dhcp.expiry` (default `1h`).
    pub ipv4_dhcp_expiry: String,
    /// `ipv6.dhcp.expiry` (default `1h`).
    pub ipv6_dhcp_expiry: String,
    /// `ipv4.dhcp.ranges`.
    pub ipv4_dhcp_ranges: Vec<IpRange>,
    /// `ipv6.dhcp.ranges`.
    pub ipv6_dhcp_ranges: Vec<IpRange>,
    /// `ipv4.dhcp.gateway`.
    pub ipv4_dhcp_gateway: Option<IpAddr>,
    /// `ipv4.routing` (default true).
    pub ipv4_routing: bool,
    /// `ipv6.routing` (default true).
    pub ipv6_routing: bool,
    /// `ipv4.firewall` (default true).
    pub ipv4_firewall: bool,
    /// `ipv6.firewall` (default true).
    pub ipv6_firewall: bool,
    /// `ipv4.routes`.
    pub ipv4_routes: Vec<Cidr>,
    /// `ipv6.routes`.
    pub ipv6_routes: Vec<Cidr>,
    /// `dns.domain` (default `lxd`).
    pub dns_domain: String,
    /// `dns.mode` (default managed).
    pub dns_mode: DnsMode,
    /// `dns.search`.
    pub dns_search: Option<String>,
    /// `raw.dnsmasq`.
    pub raw_dnsmasq: Option<String>,
}

/// Parses LXD's boolean values (`true`, `1`, `yes`, `on` and their opposites).
pub fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(NetError::invalid(key, v, "not a boolean (true or false)")),
    }
}

fn get<'a>(c: &'a ConfigMap, k: &str) -> Option<&'a str> {
    c.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

fn bool_or(c: &ConfigMap, k: &str, default: bool) -> Result<bool> {
    get(c, k).map_or(Ok(default), |v| parse_bool(k, v))
}

/// Whether the network is a fan (`bridge.mode=fan`).
pub fn is_fan(c: &ConfigMap) -> bool {
    get(c, "bridge.mode") == Some("fan")
}

/// Checks every key is known and provided, and every value has the right form (`auto` is
/// accepted where LXD accepts it). `name` names the network in errors.
pub fn check_keys(name: &str, c: &ConfigMap) -> Result<()> {
    for (k, v) in c {
        if k.starts_with("user.") {
            continue;
        }
        if let Some((_, reason)) = NOT_PROVIDED.iter().find(|(p, _)| {
            if p.ends_with('.') {
                k.starts_with(p)
            } else {
                k == p || k.starts_with(&format!("{p}."))
            }
        }) {
            return Err(NetError::Key {
                object: format!("network {name}"),
                key: k.clone(),
                reason: reason.to_string(),
            });
        }
        if !KEYS.contains(&k.as_str()) {
            return Err(NetError::Key {
                object: format!("network {name}"),
                key: k.clone(),
                reason: "is unknown".into(),
            });
        }
        if v.is_empty() {
            continue;
        }
        check_value(k, v)?;
    }
    Ok(())
}

fn check_value(k: &str, v: &str) -> Result<()> {
    let bad = |reason: String| Err(NetError::invalid(k, v, reason));
    match k {
        "bridge.driver" => match v {
            "native" => Ok(()),
            "openvswitch" => Err(NetError::unsupported(
                "bridge.driver=openvswitch",
                "this implementation manages native Linux bridges only",
            )),
            _ => bad("must be native or openvswitch".into()),
        },
        "bridge.hwaddr" => match Mac::parse(v) {
            Some(m) if m.is_unicast() => Ok(()),
            Some(_) => bad("not a unicast MAC address".into()),
            None => bad("not a MAC address (six hex bytes separated by colons)".into()),
        },
        "bridge.mtu" => match v.parse::<u32>() {
            Ok(m) if (68..=65535).contains(&m) => Ok(()),
            _ => bad("an MTU is an integer from 68 to 65535".into()),
        },
        "bridge.mode" => match v {
            "standard" | "fan" => Ok(()),
            _ => bad("must be standard or fan".into()),
        },
        "dns.mode" => match v {
            "managed" | "dynamic" | "none" => Ok(()),
            _ => bad("must be managed, dynamic or none".into()),
        },
        "dns.domain" => check_domain(k, v),
        "dns.search" => {
            for d in v.split(',') {
                check_domain(k, d.trim())?;
            }
            Ok(())
        }
        "fan.overlay_subnet" => parse_subnet(v, true).map(|_| ()).or_else(bad),
        "fan.underlay_subnet" if v == "auto" => Ok(()),
        "fan.underlay_subnet" => parse_subnet(v, true).map(|_| ()).or_else(bad),
        "fan.type" => match v {
            "vxlan" | "ipip" => Ok(()),
            _ => bad("must be vxlan or ipip".into()),
        },
        "fan.peers" => {
            for p in v.split(',') {
                let p = p.trim();
                if p.parse::<Ipv4Addr>().is_err() {
                    return bad(format!("{p:?} is not an IPv4 address"));
                }
            }
            Ok(())
        }
        "ipv4.address" | "ipv6.address" if v == "auto" || v == "none" => Ok(()),
        "ipv4.address" => parse_host_cidr(v, true).map(|_| ()).or_else(bad),
        "ipv6.address" => parse_host_cidr(v, false).map(|_| ()).or_else(bad),
        "ipv4.dhcp" | "ipv4.firewall" | "ipv4.nat" | "ipv4.routing" | "ipv6.dhcp"
        | "ipv6.dhcp.stateful" | "ipv6.firewall" | "ipv6.nat" | "ipv6.routing" => {
            parse_bool(k, v).map(|_| ())
        }
        "ipv4.dhcp.expiry" | "ipv6.dhcp.expiry" => {
            let ok = v == "infinite"
                || (!v.is_empty() && {
                    let (num, unit) =
                        v.split_at(v.trim_end_matches(['s', 'm', 'h', 'd', 'w']).len());
                    !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) && unit.len() <= 1
                });
            if ok {
                Ok(())
            } else {
                bad(
                    "a lease time is a number with an optional unit (s, m, h, d, w) or infinite"
                        .into(),
                )
            }
        }
        "ipv4.dhcp.gateway" | "ipv4.nat.address" => match v.parse::<Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => bad("not an IPv4 address".into()),
        },
        "ipv6.nat.address" => match v.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => bad("not an IPv6 address".into()),
        },
        "ipv4.dhcp.ranges" | "ipv6.dhcp.ranges" => {
            for r in v.split(',') {
                IpRange::parse(r.trim(), k.starts_with("ipv4"))
                    .map(|_| ())
                    .or_else(bad)?;
            }
            Ok(())
        }
        "ipv4.routes" | "ipv6.routes" => {
            for r in v.split(',') {
                parse_subnet(r.trim(), k.starts_with("ipv4"))
                    .map(|_| ())
                    .or_else(bad)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_domain(k: &str, d: &str) -> Result<()> {
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(NetError::invalid(k, d, "not a DNS domain name"))
    }
}

/// Applies LXD's `FillConfig` defaults that need no lookup: a standard bridge gets
/// `ipv4.address=auto` (and `ipv6.address=auto` when the kernel has IPv6 enabled) and NAT
/// where the address is `auto`; a fan gets `fan.underlay_subnet=auto` and NAT.
pub fn fill_defaults(c: &mut ConfigMap, ipv6_enabled: bool) {
    let set_if_empty = |c: &mut ConfigMap, k: &str, v: &str| {
        if get(c, k).is_none() {
            c.insert(k.to_string(), v.to_string());
        }
    };
    if is_fan(c) {
        set_if_empty(c, "fan.underlay_subnet", "auto");
        set_if_empty(c, "ipv4.nat", "true");
    } else {
        set_if_empty(c, "ipv4.address", "auto");
        if get(c, "ipv4.address") == Some("auto") {
            set_if_empty(c, "ipv4.nat", "true");
        }
        if ipv6_enabled {
            set_if_empty(c, "ipv6.address", "auto");
        }
        if get(c, "ipv6.address") == Some("auto") {
            set_if_empty(c, "ipv6.nat", "true");
        }
    }
}

impl BridgeConfig {
    /// Parses a configuration whose `auto` values have been replaced, checking the rules that
    /// involve several keys (fan restrictions, MTU limits, ranges inside the subnet).
    pub fn parse(name: &str, c: &ConfigMap) -> Result<BridgeConfig> {
        check_keys(name, c)?;
        let fan_mode = is_fan(c);
        crate::names::check_network_name(name, fan_mode)?;

        for (k, v) in c {
            if v.is_empty() {
                continue;
            }
            if v == "auto"
                && (k == "ipv4.address" || k == "ipv6.address" || k == "fan.underlay_subnet")
            {
                return Err(NetError::invalid(
                    k.as_str(),
                    v.as_str(),
                    "auto must be resolved before the network is created",
                ));
            }
            if fan_mode
                && k.starts_with("ipv4.")
                && !matches!(
                    k.as_str(),
                    "ipv4.dhcp.expiry" | "ipv4.firewall" | "ipv4.nat" | "ipv4.nat.address"
                )
            {
                return Err(NetError::invalid(
                    k.as_str(),
                    v.as_str(),
                    "IPv4 configuration may not be set when in fan mode (the address comes from the underlay)",
                ));
            }
            if fan_mode && k.starts_with("ipv6.") {
                return Err(NetError::invalid(
                    k.as_str(),
                    v.as_str(),
                    "IPv6 configuration may not be set when in fan mode",
                ));
            }
            if !fan_mode && k.starts_with("fan.") {
                return Err(NetError::invalid(
                    k.as_str(),
                    v.as_str(),
                    "fan configuration may only be set when bridge.mode is fan",
                ));
            }
        }
        if fan_mode && get(c, "bridge.hwaddr").is_some() {
            return Err(NetError::invalid(
                "bridge.hwaddr",
                get(c, "bridge.hwaddr").unwrap_or_default(),
                "a static MAC address cannot be used in fan mode (every host would share it)",
            ));
        }

        let addr = |k: &str, v4: bool| -> Result<Option<Cidr>> {
            match get(c, k) {
                None | Some("none") => Ok(None),
                Some(v) => parse_host_cidr(v, v4)
                    .map(Some)
                    .map_err(|r| NetError::invalid(k, v, r)),
            }
        };
        let ipv4 = addr("ipv4.address", true)?;
        let ipv6 = addr("ipv6.address", false)?;

        let fan = if fan_mode {
            let overlay = get(c, "fan.overlay_subnet").unwrap_or("240.0.0.0/8");
            let overlay = parse_subnet(overlay, true)
                .map_err(|r| NetError::invalid("fan.overlay_subnet", overlay, r))?;
            let underlay_s = get(c, "fan.underlay_subnet").ok_or_else(|| {
                NetError::invalid("fan.underlay_subnet", "", "required in fan mode (or auto)")
            })?;
            let underlay = parse_subnet(underlay_s, true)
                .map_err(|r| NetError::invalid("fan.underlay_subnet", underlay_s, r))?;
            crate::fan::check_sizes(&overlay, &underlay)?;
            let kind = match get(c, "fan.type") {
                Some("ipip") => FanType::Ipip,
                _ => FanType::Vxlan,
            };
            let mut peers = Vec::new();
            if let Some(p) = get(c, "fan.peers") {
                for s in p.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let ip: Ipv4Addr = s.parse().map_err(|_| {
                        NetError::invalid("fan.peers", p, format!("{s:?} is not an IPv4 address"))
                    })?;
                    if !underlay.contains(ip.into()) {
                        return Err(NetError::invalid(
                            "fan.peers",
                            p,
                            format!("{ip} is not in fan.underlay_subnet {underlay}"),
                        ));
                    }
                    if !peers.contains(&ip) {
                        peers.push(ip);
                    }
                }
            }
            Some(FanConfig {
                overlay,
                underlay,
                kind,
                peers,
            })
        } else {
            None
        };

        let mtu = get(c, "bridge.mtu")
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| NetError::invalid("bridge.mtu", v, "not an integer"))
            })
            .transpose()?;
        if let Some(m) = mtu {
            if ipv6.is_some() && m < 1280 {
                return Err(NetError::invalid(
                    "bridge.mtu",
                    m.to_string(),
                    "the minimum MTU for an IPv6 network is 1280",
                ));
            }
            if let Some(f) = &fan {
                let max = match f.kind {
                    FanType::Ipip => 1480,
                    FanType::Vxlan => 1450,
                };
                if m > max {
                    return Err(NetError::invalid(
                        "bridge.mtu",
                        m.to_string(),
                        format!(
                            "the maximum MTU of a {} fan bridge is {max}",
                            if f.kind == FanType::Ipip {
                                "ipip"
                            } else {
                                "vxlan"
                            }
                        ),
                    ));
                }
            }
        }

        let ranges = |k: &str, v4: bool, subnet: Option<Cidr>| -> Result<Vec<IpRange>> {
            let Some(v) = get(c, k) else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for r in v.split(',') {
                let range = IpRange::parse(r.trim(), v4).map_err(|e| NetError::invalid(k, v, e))?;
                match subnet {
                    Some(s) if s.contains(range.start) && s.contains(range.end) => {}
                    Some(s) => {
                        return Err(NetError::invalid(
                            k,
                            v,
                            format!(
                                "range {} is not inside the network's subnet {}",
                                r.trim(),
                                s.subnet()
                            ),
                        ))
                    }
                    None => {
                        return Err(NetError::invalid(
                            k,
                            v,
                            "the network has no address of that family",
                        ))
                    }
                }
                out.push(range);
            }
            Ok(out)
        };
        let routes = |k: &str, v4: bool| -> Result<Vec<Cidr>> {
            let Some(v) = get(c, k) else {
                return Ok(Vec::new());
            };
            v.split(',')
                .map(|r| parse_subnet(r.trim(), v4).map_err(|e| NetError::invalid(k, v, e)))
                .collect()
        };
        let ip_of = |k: &str| -> Result<Option<IpAddr>> {
            get(c, k)
                .map(|v| {
                    v.parse::<IpAddr>()
                        .map_err(|_| NetError::invalid(k, v, "not an IP address"))
                })
                .transpose()
        };

        let dns_mode = match get(c, "dns.mode") {
            Some("dynamic") => DnsMode::Dynamic,
            Some("none") => DnsMode::None,
            _ => DnsMode::Managed,
        };

        Ok(BridgeConfig {
            name: name.to_string(),
            mtu,
            hwaddr: get(c, "bridge.hwaddr").and_then(Mac::parse),
            ipv4,
            ipv6,
            ipv4_nat: bool_or(c, "ipv4.nat", false)?,
            ipv6_nat: bool_or(c, "ipv6.nat", false)?,
            ipv4_nat_address: ip_of("ipv4.nat.address")?,
            ipv6_nat_address: ip_of("ipv6.nat.address")?,
            ipv4_dhcp: bool_or(c, "ipv4.dhcp", true)?,
            ipv6_dhcp: bool_or(c, "ipv6.dhcp", true)?,
            ipv6_dhcp_stateful: bool_or(c, "ipv6.dhcp.stateful", false)?,
            ipv4_dhcp_expiry: get(c, "ipv4.dhcp.expiry").unwrap_or("1h").to_string(),
            ipv6_dhcp_expiry: get(c, "ipv6.dhcp.expiry").unwrap_or("1h").to_string(),
            ipv4_dhcp_ranges: ranges("ipv4.dhcp.ranges", true, ipv4)?,
            ipv6_dhcp_ranges: ranges("ipv6.dhcp.ranges", false, ipv6)?,
            ipv4_dhcp_gateway: ip_of("ipv4.dhcp.gateway")?,
            ipv4_routing: bool_or(c, "ipv4.routing", true)?,
            ipv6_routing: bool_or(c, "ipv6.routing", true)?,
            ipv4_firewall: bool_or(c, "ipv4.firewall", true)?,
            ipv6_firewall: bool_or(c, "ipv6.firewall", true)?,
            ipv4_routes: routes("ipv4.routes", true)?,
            ipv6_routes: routes("ipv6.routes", false)?,
            dns_domain: get(c, "dns.domain").unwrap_or("lxd").to_string(),
            dns_mode,
            dns_search: get(c, "dns.search").map(str::to_string),
            raw_dnsmasq: get(c, "raw.dnsmasq").map(str::to_string),
            fan,
        })
    }

    /// The IPv4 subnet NAT and overlap checks use: the bridge's subnet, or the whole overlay
    /// for a fan.
    pub fn ipv4_scope(&self) -> Option<Cidr> {
        match &self.fan {
            Some(f) => Some(f.overlay),
            None => self.ipv4.map(|c| c.subnet()),
        }
    }

    /// Whether a dnsmasq runs for this network (LXD's `UsesDNSMasq`).
    pub fn uses_dnsmasq(&self) -> bool {
        self.fan.is_some() || self.ipv4.is_some() || self.ipv6.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_and_unprovided_keys_are_refused_by_name() {
        let e = check_keys("br0", &map(&[("ipv4.nonsense", "1")])).unwrap_err();
        assert!(
            e.to_string().contains("\"ipv4.nonsense\" is unknown"),
            "{e}"
        );
        let e = check_keys("br0", &map(&[("security.acls", "a")])).unwrap_err();
        assert!(e.to_string().contains("not implemented"), "{e}");
        let e = check_keys("br0", &map(&[("bridge.driver", "openvswitch")])).unwrap_err();
        assert!(e.to_string().contains("openvswitch"), "{e}");
        assert!(check_keys("br0", &map(&[("user.foo", "bar")])).is_ok());
        let e = check_keys("br0", &map(&[("ipv4.address", "10.0.0.0/33")])).unwrap_err();
        assert!(e.to_string().contains("ipv4.address"), "{e}");
        assert!(check_keys("br0", &map(&[("ipv4.dhcp.expiry", "12h")])).is_ok());
        assert!(check_keys("br0", &map(&[("ipv4.dhcp.expiry", "soon")])).is_err());
        assert!(check_keys("br0", &map(&[("dns.domain", "bad domain")])).is_err());
    }

    #[test]
    fn defaults_follow_lxd() {
        let mut c = ConfigMap::new();
        fill_defaults(&mut c, true);
        assert_eq!(c["ipv4.address"], "auto");
        assert_eq!(c["ipv4.nat"], "true");
        assert_eq!(c["ipv6.address"], "auto");
        assert_eq!(c["ipv6.nat"], "true");
        let mut c = map(&[("ipv4.address", "10.9.8.1/24"), ("ipv6.address", "none")]);
        fill_defaults(&mut c, true);
        assert!(
            !c.contains_key("ipv4.nat"),
            "explicit address: NAT stays off as in LXD"
        );
        let mut c = map(&[("bridge.mode", "fan")]);
        fill_defaults(&mut c, true);
        assert_eq!(c["fan.underlay_subnet"], "auto");
        assert_eq!(c["ipv4.nat"], "true");
        assert!(!c.contains_key("ipv4.address"));
    }

    #[test]
    fn composite_rules() {
        let ok = BridgeConfig::parse(
            "br0",
            &map(&[
                ("ipv4.address", "10.9.8.1/24"),
                ("ipv4.dhcp.ranges", "10.9.8.10-10.9.8.20"),
                ("ipv6.address", "none"),
            ]),
        )
        .unwrap();
        assert_eq!(ok.ipv4_scope().unwrap().to_string(), "10.9.8.0/24");
        assert_eq!(ok.dns_domain, "lxd");
        assert!(ok.ipv4_dhcp && ok.ipv4_routing && !ok.ipv4_nat);
        let e = BridgeConfig::parse(
            "br0",
            &map(&[
                ("ipv4.address", "10.9.8.1/24"),
                ("ipv4.dhcp.ranges", "10.9.9.10-10.9.9.20"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not inside"), "{e}");
        let e = BridgeConfig::parse(
            "fan0",
            &map(&[
                ("bridge.mode", "fan"),
                ("fan.underlay_subnet", "10.1.0.0/16"),
                ("ipv4.address", "10.0.0.1/24"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("fan mode"), "{e}");
        let e = BridgeConfig::parse("br0", &map(&[("fan.type", "vxlan")])).unwrap_err();
        assert!(e.to_string().contains("bridge.mode is fan"), "{e}");
        let f = BridgeConfig::parse(
            "fan0",
            &map(&[
                ("bridge.mode", "fan"),
                ("fan.underlay_subnet", "10.1.0.0/16"),
                ("fan.peers", "10.1.0.2, 10.1.0.3"),
            ]),
        )
        .unwrap();
        let fc = f.fan.as_ref().unwrap();
        assert_eq!(fc.overlay.to_string(), "240.0.0.0/8");
        assert_eq!(fc.peers.len(), 2);
        assert_eq!(f.ipv4_scope().unwrap().to_string(), "240.0.0.0/8");
        let e = BridgeConfig::parse(
            "fan0",
            &map(&[
                ("bridge.mode", "fan"),
                ("fan.underlay_subnet", "10.1.0.0/16"),
                ("fan.peers", "10.2.0.3"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not in fan.underlay_subnet"), "{e}");
        let e = BridgeConfig::parse(
            "fan0",
            &map(&[
                ("bridge.mode", "fan"),
                ("fan.underlay_subnet", "10.1.0.0/16"),
                ("bridge.mtu", "1500"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("1450"), "{e}");
    }
}
