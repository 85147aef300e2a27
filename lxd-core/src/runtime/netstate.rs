//! The network interfaces of a running container as its init sees them, read from the host
//! through `/proc/PID` (counters, addresses) and the container's own `/sys` (type, state,
//! MTU, MAC), without entering its namespaces.
//!
//! A listing reads this for every running container, so each directory is opened once and
//! its files are opened relative to it: one path component each, rather than a walk through
//! `/proc/PID/root/sys/...` for every file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;

/// An address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddress {
    /// `inet` or `inet6`.
    pub family: &'static str,
    /// The address.
    pub address: String,
    /// Prefix length.
    pub netmask: String,
    /// `global`, `link` or `local`.
    pub scope: &'static str,
}

/// Traffic counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfCounters {
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Packets received.
    pub packets_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Receive errors.
    pub errors_received: u64,
    /// Send errors.
    pub errors_sent: u64,
    /// Dropped inbound.
    pub packets_dropped_inbound: u64,
    /// Dropped outbound.
    pub packets_dropped_outbound: u64,
}

/// One interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// Addresses.
    pub addresses: Vec<IfAddress>,
    /// Counters.
    pub counters: IfCounters,
    /// MAC address.
    pub hwaddr: String,
    /// MTU.
    pub mtu: u64,
    /// `up` or `down`.
    pub state: String,
    /// `loopback`, `broadcast`, `point-to-point`.
    pub kind: String,
}

/// A directory whose files are read by name; reads of a directory that could not be opened,
/// and of files that cannot be read, give the empty string.
struct Dir(Option<OwnedFd>);

impl Dir {
    const FLAGS: OFlag = OFlag::O_PATH
        .union(OFlag::O_DIRECTORY)
        .union(OFlag::O_CLOEXEC);

    fn open(path: &str) -> Dir {
        let fd = open(path, Self::FLAGS, Mode::empty());
        // SAFETY: open returned a new descriptor that nothing else owns.
        Dir(fd.ok().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// A directory under this one (following symlinks, as sysfs's class links need).
    fn dir(&self, name: &str) -> Dir {
        let Some(dir) = &self.0 else {
            return Dir(None);
        };
        let fd = openat(Some(dir.as_raw_fd()), name, Self::FLAGS, Mode::empty());
        // SAFETY: openat returned a new descriptor that nothing else owns.
        Dir(fd.ok().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn read(&self, name: &str) -> String {
        let Some(dir) = &self.0 else {
            return String::new();
        };
        let Ok(fd) = openat(
            Some(dir.as_raw_fd()),
            name,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) else {
            return String::new();
        };
        // SAFETY: openat returned a new descriptor that nothing else owns.
        let mut f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let mut s = String::new();
        match f.read_to_string(&mut s) {
            Ok(_) => s,
            Err(_) => String::new(),
        }
    }
}

fn counters(net: &Dir) -> BTreeMap<String, IfCounters> {
    let mut out = BTreeMap::new();
    for line in net.read("dev").lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 16 {
            continue;
        }
        out.insert(
            name.trim().to_string(),
            IfCounters {
                bytes_received: v[0],
                packets_received: v[1],
                errors_received: v[2],
                packets_dropped_inbound: v[3],
                bytes_sent: v[8],
                packets_sent: v[9],
                errors_sent: v[10],
                packets_dropped_outbound: v[11],
            },
        );
    }
    out
}

/// IPv4 addresses from `fib_trie`: `LOCAL` host entries under each interface's prefixes.
fn ipv4(net: &Dir) -> Vec<(String, IfAddress)> {
    // /proc/PID/net/fib_trie lists prefixes and host routes but not interface names; match
    // each local address against the routes of /proc/PID/net/route to find its interface.
    let trie = net.read("fib_trie");
    let mut locals = Vec::new();
    let mut last_ip = String::new();
    for line in trie.lines() {
        let t = line.trim_start_matches([' ', '|', '-', '+']);
        if let Some(ip) = t
            .split_whitespace()
            .next()
            .filter(|s| s.parse::<std::net::Ipv4Addr>().is_ok())
        {
            last_ip = ip.to_string();
        } else if t.starts_with("/32 host LOCAL") && !locals.contains(&last_ip) {
            locals.push(last_ip.clone());
        }
    }
    // Loopback addresses need no route (a container with only `lo` has no other).
    let routed = locals.iter().any(|ip| {
        ip.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| !a.is_loopback())
    });
    let routes = if routed {
        net.read("route")
    } else {
        String::new()
    };
    let mut out = Vec::new();
    for ip in locals {
        let addr: std::net::Ipv4Addr = match ip.parse() {
            Ok(a) => a,
            Err(_) => continue,
        };
        let a = u32::from(addr);
        let mut best: Option<(String, u32)> = None;
        for r in routes.lines().skip(1) {
            let f: Vec<&str> = r.split_whitespace().collect();
            if f.len() < 8 {
                continue;
            }
            let dest = u32::from_str_radix(f[1], 16).map(u32::from_be).unwrap_or(0);
            let mask = u32::from_str_radix(f[7], 16).map(u32::from_be).unwrap_or(0);
            if mask != 0
                && a & mask == dest & mask
                && best.as_ref().is_none_or(|b| mask.count_ones() > b.1)
            {
                best = Some((f[0].to_string(), mask.count_ones()));
            }
        }
        let (dev, bits) = if addr.is_loopback() {
            ("lo".to_string(), 8)
        } else {
            match best {
                Some(b) => b,
                None => continue,
            }
        };
        out.push((
            dev,
            IfAddress {
                family: "inet",
                address: ip,
                netmask: bits.to_string(),
                scope: if addr.is_loopback() {
                    "local"
                } else {
                    "global"
                },
            },
        ));
    }
    out
}

fn ipv6(net: &Dir) -> Vec<(String, IfAddress)> {
    net.read("if_inet6")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 || f[0].len() != 32 {
                return None;
            }
            let groups: Vec<String> = (0..8).map(|i| f[0][i * 4..i * 4 + 4].to_string()).collect();
            let addr: std::net::Ipv6Addr = groups.join(":").parse().ok()?;
            let bits = u32::from_str_radix(f[2], 16).ok()?;
            let scope = match f[3] {
                "10" => "local",
                "20" => "link",
                _ => "global",
            };
            Some((
                f[5].to_string(),
                IfAddress {
                    family: "inet6",
                    address: addr.to_string(),
                    netmask: bits.to_string(),
                    scope,
                },
            ))
        })
        .collect()
}

/// The interfaces of the network namespace of `pid`.
pub fn interfaces(pid: i32) -> BTreeMap<String, Interface> {
    let mut out: BTreeMap<String, Interface> = BTreeMap::new();
    let net = Dir::open(&format!("/proc/{pid}/net"));
    let class = Dir::open(&format!("/proc/{pid}/root/sys/class/net"));
    for (name, c) in counters(&net) {
        let sys = class.dir(&name);
        let flags =
            u32::from_str_radix(sys.read("flags").trim().trim_start_matches("0x"), 16).unwrap_or(0);
        let kind = match sys.read("type").trim() {
            "772" => "loopback",
            "776" | "778" => "point-to-point",
            _ if name == "lo" => "loopback",
            _ => "broadcast",
        };
        out.insert(
            name.clone(),
            Interface {
                addresses: Vec::new(),
                counters: c,
                hwaddr: sys.read("address").trim().to_string(),
                mtu: sys.read("mtu").trim().parse().unwrap_or(if name == "lo" {
                    65536
                } else {
                    1500
                }),
                state: if flags & 1 == 1 {
                    "up".into()
                } else {
                    "down".into()
                },
                kind: kind.to_string(),
            },
        );
    }
    for (dev, a) in ipv4(&net).into_iter().chain(ipv6(&net)) {
        if let Some(i) = out.get_mut(&dev) {
            i.addresses.push(a);
        }
    }
    if let Some(lo) = out.get_mut("lo") {
        if lo.hwaddr == "00:00:00:00:00:00" {
            lo.hwaddr.clear();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_namespace_lists_loopback() {
        let ifs = interfaces(std::process::id() as i32);
        let lo = ifs.get("lo").expect("lo in our own namespace");
        assert_eq!(lo.kind, "loopback");
        assert!(lo.hwaddr.is_empty(), "{lo:?}");
        assert!(lo.mtu > 0, "{lo:?}");
        // Every IPv4 address found its interface: loopback ones on lo, the others through the
        // routes.
        for (name, i) in &ifs {
            for a in i.addresses.iter().filter(|a| a.family == "inet") {
                let ip: std::net::Ipv4Addr = a.address.parse().expect("IPv4");
                assert_eq!(ip.is_loopback(), name == "lo", "{name}: {a:?}");
            }
        }
    }

    #[test]
    fn missing_process_has_no_interfaces() {
        assert!(interfaces(i32::MAX).is_empty());
    }
}
