//! The nftables rules of a managed network, in a table the network owns: `inet lxdrs_NAME`.
//! Deleting the table removes every rule of the network and nothing else.
//!
//! The table holds, as LXD's nftables driver does for a bridge:
//! - `nat_postrouting`: masquerade (or SNAT to `ipv4.nat.address`) of the network's subnet
//!   (a fan's whole overlay) towards any other destination, when `ipv4.nat`/`ipv6.nat`;
//! - `filter_forward`: accept traffic from and to the bridge, when `ipv4.firewall`/`ipv6.firewall`;
//! - `filter_input`/`filter_output`: accept DNS, DHCP and core ICMP between the bridge and the
//!   host, when the firewall keys are on.
//!
//! Every change is one `nft -f -` transaction that replaces the whole table.

use std::fmt::Write;

use crate::cmd;
use crate::config::BridgeConfig;
use crate::error::Result;

/// The table of network `name`.
pub fn table_name(name: &str) -> String {
    format!("lxdrs_{name}")
}

/// The rules a network needs (empty when it needs none).
pub fn ruleset(cfg: &BridgeConfig) -> String {
    let name = &cfg.name;
    let v4 = cfg.ipv4_scope();
    let v6 = cfg.ipv6.map(|c| c.subnet());
    let mut nat = String::new();
    if let (true, Some(s)) = (cfg.ipv4_nat, v4) {
        let action = match cfg.ipv4_nat_address {
            Some(a) => format!("snat ip to {a}"),
            None => "masquerade".into(),
        };
        let _ = writeln!(nat, "\t\tip saddr {s} ip daddr != {s} {action}");
    }
    if let (true, Some(s)) = (cfg.ipv6_nat, v6) {
        let action = match cfg.ipv6_nat_address {
            Some(a) => format!("snat ip6 to {a}"),
            None => "masquerade".into(),
        };
        let _ = writeln!(nat, "\t\tip6 saddr {s} ip6 daddr != {s} {action}");
    }

    let fw4 = cfg.ipv4_firewall && v4.is_some();
    let fw6 = cfg.ipv6_firewall && v6.is_some();
    let mut fwd = String::new();
    let mut input = String::new();
    let mut output = String::new();
    if fw4 || fw6 {
        for (on, fam) in [(fw4, "ipv4"), (fw6, "ipv6")] {
            if on {
                let _ = writeln!(fwd, "\t\tmeta nfproto {fam} iifname \"{name}\" accept");
                let _ = writeln!(fwd, "\t\tmeta nfproto {fam} oifname \"{name}\" accept");
            }
        }
        let _ = writeln!(input, "\t\tiifname \"{name}\" tcp dport 53 accept");
        let _ = writeln!(input, "\t\tiifname \"{name}\" udp dport 53 accept");
        let _ = writeln!(output, "\t\toifname \"{name}\" tcp sport 53 accept");
        let _ = writeln!(output, "\t\toifname \"{name}\" udp sport 53 accept");
        if fw4 {
            let _ = writeln!(
                input,
                "\t\tiifname \"{name}\" icmp type {{ 3, 11, 12 }} accept"
            );
            let _ = writeln!(input, "\t\tiifname \"{name}\" udp dport 67 accept");
            let _ = writeln!(
                output,
                "\t\toifname \"{name}\" icmp type {{ 3, 11, 12 }} accept"
            );
            let _ = writeln!(output, "\t\toifname \"{name}\" udp sport 67 accept");
        }
        if fw6 {
            let _ = writeln!(
                input,
                "\t\tiifname \"{name}\" icmpv6 type {{ 1, 2, 3, 4, 133, 135, 136, 143 }} accept"
            );
            let _ = writeln!(input, "\t\tiifname \"{name}\" udp dport 547 accept");
            let _ = writeln!(
                output,
                "\t\toifname \"{name}\" icmpv6 type {{ 1, 2, 3, 4, 128, 134, 135, 136, 143 }} accept"
            );
            let _ = writeln!(output, "\t\toifname \"{name}\" udp sport 547 accept");
        }
    }

    if nat.is_empty() && fwd.is_empty() {
        return String::new();
    }
    let mut t = format!("table inet {} {{\n", table_name(name));
    if !nat.is_empty() {
        let _ = write!(
            t,
            "\tchain nat_postrouting {{\n\t\ttype nat hook postrouting priority 100; policy accept;\n{nat}\t}}\n"
        );
    }
    if !fwd.is_empty() {
        let _ = write!(
            t,
            "\tchain filter_forward {{\n\t\ttype filter hook forward priority 0; policy accept;\n{fwd}\t}}\n"
        );
        let _ = write!(
            t,
            "\tchain filter_input {{\n\t\ttype filter hook input priority 0; policy accept;\n{input}\t}}\n"
        );
        let _ = write!(
            t,
            "\tchain filter_output {{\n\t\ttype filter hook output priority 0; policy accept;\n{output}\t}}\n"
        );
    }
    t.push_str("}\n");
    t
}

/// Replaces the network's table with `rules` (from [`ruleset`]) in one transaction; empty
/// rules just remove the table.
pub async fn apply(name: &str, rules: &str) -> Result<()> {
    let table = table_name(name);
    // `add` then `delete` makes the delete succeed whether or not the table existed.
    let script = format!("add table inet {table}\ndelete table inet {table}\n{rules}");
    cmd::run("nft", &["-f", "-"], Some(&script))
        .await
        .map(|_| ())
}

/// Removes the network's table if it exists.
pub async fn delete(name: &str) -> Result<()> {
    apply(name, "").await
}

/// Whether the network's table exists.
pub async fn table_exists(name: &str) -> Result<bool> {
    let out = cmd::run("nft", &["list", "tables", "inet"], None).await?;
    let want = format!("table inet {}", table_name(name));
    Ok(out.lines().any(|l| l.trim() == want))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lxd_core::store::ConfigMap;

    fn cfg(pairs: &[(&str, &str)]) -> BridgeConfig {
        let m: ConfigMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BridgeConfig::parse("lxdbr9", &m).unwrap()
    }

    #[test]
    fn nat_and_firewall_rules() {
        let r = ruleset(&cfg(&[
            ("ipv4.address", "10.9.8.1/24"),
            ("ipv4.nat", "true"),
            ("ipv6.address", "fd42:1::1/64"),
            ("ipv6.nat", "true"),
            ("ipv6.nat.address", "fd00::5"),
        ]));
        assert!(r.starts_with("table inet lxdrs_lxdbr9 {"), "{r}");
        assert!(
            r.contains("ip saddr 10.9.8.0/24 ip daddr != 10.9.8.0/24 masquerade"),
            "{r}"
        );
        assert!(
            r.contains("ip6 saddr fd42:1::/64 ip6 daddr != fd42:1::/64 snat ip6 to fd00::5"),
            "{r}"
        );
        assert!(
            r.contains("meta nfproto ipv4 iifname \"lxdbr9\" accept"),
            "{r}"
        );
        assert!(r.contains("udp dport 67 accept"), "{r}");
        assert!(r.contains("udp dport 547 accept"), "{r}");

        let r = ruleset(&cfg(&[
            ("ipv4.address", "10.9.8.1/24"),
            ("ipv4.firewall", "false"),
        ]));
        assert!(r.is_empty(), "no NAT, no firewall: no table: {r}");

        let r = ruleset(&cfg(&[
            ("bridge.mode", "fan"),
            ("fan.underlay_subnet", "10.77.0.0/16"),
            ("ipv4.nat", "true"),
        ]));
        assert!(
            r.contains("ip saddr 240.0.0.0/8 ip daddr != 240.0.0.0/8 masquerade"),
            "{r}"
        );
    }
}
