//! The DNS/DHCP service of a managed network: one dnsmasq process per network, started with
//! LXD's arguments, supervised by a tokio task that restarts it when it dies, reloaded with
//! SIGHUP when the static leases change, and restarted when its arguments change.
//!
//! Files in the network's state directory: `dnsmasq.leases` (dnsmasq's lease database),
//! `dnsmasq.hosts` (static leases, `MAC,IPV4,NAME` lines), `dnsmasq.pid`, and
//! `dnsmasq.raw` (the `raw.dnsmasq` key, when set). dnsmasq logs to its stderr, which goes to
//! `tracing` (debug level) and whose last lines explain a failed start.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lxd_core::network::{Lease, StaticLease};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cidr::{Cidr, Mac};
use crate::config::{BridgeConfig, DnsMode};
use crate::error::{NetError, Result};

/// The leases database.
pub const LEASES: &str = "dnsmasq.leases";
/// The static leases.
pub const HOSTS: &str = "dnsmasq.hosts";
/// The pid file.
pub const PID: &str = "dnsmasq.pid";
/// The `raw.dnsmasq` configuration.
pub const RAW: &str = "dnsmasq.raw";

/// How long a starting dnsmasq may take to write its pid file.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many stderr lines are kept for error messages.
const LOG_LINES: usize = 20;

/// The addresses the bridge actually has (a fan's is computed at setup).
#[derive(Debug, Clone, Copy)]
pub struct BridgeAddrs {
    /// IPv4 address and prefix of the bridge.
    pub ipv4: Option<Cidr>,
    /// IPv6 address and prefix of the bridge.
    pub ipv6: Option<Cidr>,
    /// The bridge's MTU.
    pub mtu: u32,
}

/// dnsmasq's command line for a network (LXD 5.0's arguments).
pub fn args(
    cfg: &BridgeConfig,
    addrs: &BridgeAddrs,
    state_dir: &Path,
    drop_to: Option<(&str, &str)>,
) -> Vec<String> {
    let f = |n: &str| state_dir.join(n).display().to_string();
    let name = &cfg.name;
    let mut a: Vec<String> = vec![
        "--keep-in-foreground".into(),
        "--strict-order".into(),
        "--bind-interfaces".into(),
        "--except-interface=lo".into(),
        format!("--pid-file={}", f(PID)),
        "--no-ping".into(),
        format!("--interface={name}"),
        "--log-facility=-".into(),
    ];
    let mut dhcp_files_added = false;
    let mut dhcp_files = |a: &mut Vec<String>| {
        if !dhcp_files_added {
            dhcp_files_added = true;
            a.push("--dhcp-no-override".into());
            a.push("--dhcp-authoritative".into());
            a.push(format!("--dhcp-leasefile={}", f(LEASES)));
            a.push(format!("--dhcp-hostsfile={}", f(HOSTS)));
        }
    };
    if let Some(v4) = addrs.ipv4 {
        a.push(format!("--listen-address={}", v4.addr));
        let dhcp = cfg.ipv4_dhcp || cfg.fan.is_some();
        if dhcp {
            dhcp_files(&mut a);
            if let Some(g) = cfg.ipv4_dhcp_gateway {
                a.push(format!("--dhcp-option-force=3,{g}"));
            }
            if addrs.mtu != 1500 {
                a.push(format!("--dhcp-option-force=26,{}", addrs.mtu));
            }
            if let Some(s) = &cfg.dns_search {
                a.push(format!("--dhcp-option-force=119,{}", s.replace(' ', "")));
            }
            let expiry = &cfg.ipv4_dhcp_expiry;
            if cfg.ipv4_dhcp_ranges.is_empty() {
                a.push(format!(
                    "--dhcp-range={},{},{expiry}",
                    v4.nth(2),
                    v4.nth(-2)
                ));
            } else {
                for r in &cfg.ipv4_dhcp_ranges {
                    a.push(format!("--dhcp-range={},{},{expiry}", r.start, r.end));
                }
            }
        }
    }
    if let Some(v6) = addrs.ipv6 {
        a.push(format!("--listen-address={}", v6.addr));
        a.push("--enable-ra".into());
        if cfg.ipv6_dhcp {
            dhcp_files(&mut a);
            let expiry = &cfg.ipv6_dhcp_expiry;
            if cfg.ipv6_dhcp_stateful {
                if cfg.ipv6_dhcp_ranges.is_empty() {
                    a.push(format!(
                        "--dhcp-range={},{},{},{expiry}",
                        v6.nth(2),
                        v6.nth(-1),
                        v6.prefix
                    ));
                } else {
                    for r in &cfg.ipv6_dhcp_ranges {
                        a.push(format!(
                            "--dhcp-range={},{},{},{expiry}",
                            r.start, r.end, v6.prefix
                        ));
                    }
                }
            } else {
                a.push(format!(
                    "--dhcp-range=::,constructor:{name},ra-stateless,ra-names"
                ));
            }
        } else {
            a.push(format!("--dhcp-range=::,constructor:{name},ra-only"));
        }
    }
    if cfg.dns_mode != DnsMode::None {
        let d = &cfg.dns_domain;
        a.push("-s".into());
        a.push(d.clone());
        a.push(format!("--interface-name=_gateway.{d},{name}"));
        a.push("-S".into());
        a.push(format!("/{d}/"));
    }
    a.push(format!(
        "--conf-file={}",
        if cfg.raw_dnsmasq.is_some() {
            f(RAW)
        } else {
            "/dev/null".into()
        }
    ));
    if let Some((u, g)) = drop_to {
        a.push("-u".into());
        a.push(u.into());
        a.push("-g".into());
        a.push(g.into());
    }
    a
}

/// The unprivileged user and group dnsmasq drops to (`nobody`/`nogroup`, as LXD without an
/// `lxd` user), when they exist and the state directory is reachable for them.
pub fn unprivileged_user(state_dir: &Path) -> Option<(&'static str, &'static str)> {
    use std::os::unix::fs::PermissionsExt;
    nix::unistd::User::from_name("nobody").ok().flatten()?;
    nix::unistd::Group::from_name("nogroup").ok().flatten()?;
    let mut p = Some(state_dir);
    while let Some(dir) = p {
        let mode = std::fs::metadata(dir).ok()?.permissions().mode();
        if mode & 0o001 == 0 {
            return None;
        }
        p = dir.parent();
    }
    Some(("nobody", "nogroup"))
}

/// Writes the static leases file (atomically).
pub fn write_hosts(state_dir: &Path, leases: &[StaticLease]) -> Result<()> {
    let mut body = String::new();
    for l in leases {
        body.push_str(&format!("{},{},{}\n", l.hwaddr, l.ipv4, l.hostname));
    }
    let path = state_dir.join(HOSTS);
    let tmp = state_dir.join(format!("{HOSTS}.tmp"));
    std::fs::write(&tmp, body).map_err(|e| NetError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| NetError::io("rename", &path, e))
}

/// Reads the static leases file (empty when missing).
pub fn read_hosts(state_dir: &Path) -> Result<Vec<StaticLease>> {
    let path = state_dir.join(HOSTS);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NetError::io("read", &path, e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.trim().split(',');
            let (m, ip, h) = (it.next()?, it.next()?, it.next().unwrap_or(""));
            Some(StaticLease {
                hostname: h.to_string(),
                hwaddr: m.to_string(),
                ipv4: ip.to_string(),
            })
        })
        .collect())
}

/// Checks a static lease: a unicast MAC, an IPv4 address in `subnet` (when known) and a host
/// name usable in DNS.
pub fn check_static_lease(network: &str, l: &StaticLease, subnet: Option<Cidr>) -> Result<()> {
    let key = |k: &str| format!("static lease of {} on network {network}: {k}", l.hostname);
    match Mac::parse(&l.hwaddr) {
        Some(m) if m.is_unicast() => {}
        _ => {
            return Err(NetError::invalid(
                key("hwaddr"),
                &l.hwaddr,
                "not a unicast MAC address",
            ))
        }
    }
    let ip: Ipv4Addr = l
        .ipv4
        .parse()
        .map_err(|_| NetError::invalid(key("ipv4.address"), &l.ipv4, "not an IPv4 address"))?;
    if let Some(s) = subnet {
        if !s.contains(IpAddr::V4(ip)) || ip == Ipv4Addr::from(0) {
            return Err(NetError::invalid(
                key("ipv4.address"),
                &l.ipv4,
                format!("not in the network's subnet {}", s.subnet()),
            ));
        }
        if IpAddr::V4(ip) == s.addr {
            return Err(NetError::invalid(
                key("ipv4.address"),
                &l.ipv4,
                "this is the bridge's own address",
            ));
        }
    }
    let ok = !l.hostname.is_empty()
        && l.hostname.len() <= 63
        && l.hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !l.hostname.starts_with('-');
    if !ok {
        return Err(NetError::invalid(
            key("hostname"),
            &l.hostname,
            "not a valid host name",
        ));
    }
    Ok(())
}

/// Parses dnsmasq's lease database (IPv4 and IPv6 entries) into dynamic leases.
pub fn parse_leases(text: &str) -> Vec<Lease> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[0] == "duid" {
            continue;
        }
        let Ok(ip) = f[2].parse::<IpAddr>() else {
            continue;
        };
        let hwaddr = if ip.is_ipv4() {
            f[1].to_string()
        } else {
            f.get(4).map(|d| mac_of_duid(d)).unwrap_or_default()
        };
        out.push(Lease {
            hostname: if f[3] == "*" {
                String::new()
            } else {
                f[3].to_string()
            },
            hwaddr,
            address: ip.to_string(),
            kind: "dynamic".into(),
        });
    }
    out
}

/// The MAC address inside a DUID-LLT or DUID-LL over Ethernet, else empty.
fn mac_of_duid(duid: &str) -> String {
    let b: Vec<u8> = duid
        .split(':')
        .filter_map(|x| u8::from_str_radix(x, 16).ok())
        .collect();
    let mac = match b.as_slice() {
        [0, 1, 0, 1, _, _, _, _, rest @ ..] if rest.len() == 6 => rest,
        [0, 3, 0, 1, rest @ ..] if rest.len() == 6 => rest,
        _ => return String::new(),
    };
    Mac::from_slice(mac)
        .map(|m| m.to_string())
        .unwrap_or_default()
}

/// Stops a dnsmasq left by an earlier run (its pid file names a live dnsmasq serving this
/// network's interface) and removes the pid file.
pub async fn kill_stale(name: &str, state_dir: &Path) -> Result<()> {
    let pid_file = state_dir.join(PID);
    let Ok(text) = std::fs::read_to_string(&pid_file) else {
        return Ok(());
    };
    if let Ok(pid) = text.trim().parse::<i32>() {
        if is_our_dnsmasq(pid, name, &pid_file) {
            tracing::info!(
                network = name,
                pid,
                "stopping dnsmasq left by an earlier run"
            );
            terminate_pid(pid).await;
        }
    }
    remove_file(&pid_file)
}

fn is_our_dnsmasq(pid: i32, name: &str, pid_file: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let iface = format!("--interface={name}");
    let pidf = format!("--pid-file={}", pid_file.display());
    args.first().is_some_and(|a| a.ends_with("dnsmasq"))
        && args.contains(&iface)
        && args.contains(&pidf)
}

async fn terminate_pid(pid: i32) {
    let p = Pid::from_raw(pid);
    if kill(p, Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if kill(p, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = kill(p, Signal::SIGKILL);
}

fn remove_file(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io("remove", p, e)),
    }
}

type LogTail = Arc<Mutex<VecDeque<String>>>;

/// A running, supervised dnsmasq.
pub struct Supervisor {
    args: Vec<String>,
    pid: Arc<AtomicI32>,
    restarts: Arc<AtomicU32>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

struct Spec {
    network: String,
    args: Vec<String>,
    pid_file: PathBuf,
}

impl Supervisor {
    /// Starts dnsmasq and waits until it serves (its pid file is written), then supervises it.
    pub async fn start(network: &str, state_dir: &Path, args: Vec<String>) -> Result<Supervisor> {
        let spec = Spec {
            network: network.to_string(),
            args: args.clone(),
            pid_file: state_dir.join(PID),
        };
        let child = spawn_ready(&spec).await?;
        let pid = Arc::new(AtomicI32::new(child.id().map_or(0, |p| p as i32)));
        let restarts = Arc::new(AtomicU32::new(0));
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(supervise(spec, child, rx, pid.clone(), restarts.clone()));
        Ok(Supervisor {
            args,
            pid,
            restarts,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// The arguments it runs with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The current process id (0 while it is being restarted).
    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// How many times it was restarted after dying.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// Makes dnsmasq re-read its hosts files (SIGHUP).
    pub fn reload(&self) {
        let pid = self.pid();
        if pid > 0 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
        }
    }

    /// Stops dnsmasq and its supervision, and waits for both.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Dropping the sender tells the task to stop; it kills dnsmasq.
        self.stop.take();
    }
}

async fn spawn_ready(spec: &Spec) -> Result<Child> {
    remove_file(&spec.pid_file)?;
    let mut child = Command::new("dnsmasq")
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NetError::Dnsmasq {
            network: spec.network.clone(),
            message: format!(
                "cannot be started (is dnsmasq installed? Debian package dnsmasq-base): {e}"
            ),
        })?;
    let tail: LogTail = Arc::new(Mutex::new(VecDeque::new()));
    let reader = child.stderr.take().map(|stderr| {
        let tail = tail.clone();
        let network = spec.network.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                tracing::debug!(network = %network, "dnsmasq: {l}");
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                if t.len() == LOG_LINES {
                    t.pop_front();
                }
                t.push_back(l);
            }
        })
    });
    let my_pid = child.id().unwrap_or(0);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| NetError::io("wait for", "dnsmasq", e))?
        {
            if let Some(r) = reader {
                let _ = tokio::time::timeout(Duration::from_secs(1), r).await;
            }
            let log = tail
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            return Err(NetError::Dnsmasq {
                network: spec.network.clone(),
                message: format!("exited at start ({status}): {log}"),
            });
        }
        if let Ok(t) = std::fs::read_to_string(&spec.pid_file) {
            if t.trim().parse::<u32>().ok() == Some(my_pid) {
                return Ok(child);
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill().await;
            return Err(NetError::Dnsmasq {
                network: spec.network.clone(),
                message: format!("did not start within {}s", START_TIMEOUT.as_secs()),
            });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn supervise(
    spec: Spec,
    mut child: Child,
    mut stop: oneshot::Receiver<()>,
    pid: Arc<AtomicI32>,
    restarts: Arc<AtomicU32>,
) {
    loop {
        tokio::select! {
            _ = &mut stop => {
                shutdown(&spec, child).await;
                pid.store(0, Ordering::SeqCst);
                return;
            }
            status = child.wait() => {
                pid.store(0, Ordering::SeqCst);
                tracing::warn!(network = %spec.network, status = ?status, "dnsmasq exited, restarting it");
                let mut delay = Duration::from_millis(50);
                loop {
                    tokio::select! {
                        _ = &mut stop => {
                            let _ = remove_file(&spec.pid_file);
                            return;
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                    match spawn_ready(&spec).await {
                        Ok(c) => {
                            child = c;
                            pid.store(child.id().map_or(0, |p| p as i32), Ordering::SeqCst);
                            restarts.fetch_add(1, Ordering::SeqCst);
                            tracing::info!(network = %spec.network, pid = pid.load(Ordering::SeqCst), "dnsmasq restarted");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(network = %spec.network, error = %e, "dnsmasq restart failed");
                            delay = (delay * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            }
        }
    }
}

async fn shutdown(spec: &Spec, mut child: Child) {
    if let Some(id) = child.id() {
        let _ = kill(Pid::from_raw(id as i32), Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(3), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
    let _ = child.wait().await;
    let _ = remove_file(&spec.pid_file);
}

#[cfg(test)]
mod tests {
    use super::*;
    use lxd_core::store::ConfigMap;

    #[test]
    fn leases_file_v4_and_v6() {
        let text = "1795316144 32:a5:aa:5a:f6:09 10.55.0.182 c1 01:32:a5:aa:5a:f6:09\n\
                    1795316150 00:16:3e:00:00:02 10.55.0.183 * *\n\
                    duid 00:01:00:01:2c:aa:bb:cc:00:16:3e:99:99:99\n\
                    1795316160 12345 fd42::5 c3 00:03:00:01:00:16:3e:12:34:56\n";
        let l = parse_leases(text);
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].hostname, "c1");
        assert_eq!(l[0].hwaddr, "32:a5:aa:5a:f6:09");
        assert_eq!(l[1].hostname, "");
        assert_eq!(l[2].address, "fd42::5");
        assert_eq!(l[2].hwaddr, "00:16:3e:12:34:56");
        assert!(l.iter().all(|x| x.kind == "dynamic"));
    }

    #[test]
    fn arguments_follow_lxd() {
        let m: ConfigMap = [
            ("ipv4.address", "10.9.8.1/24"),
            ("ipv6.address", "none"),
            ("dns.domain", "example"),
            ("raw.dnsmasq", "no-resolv"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = BridgeConfig::parse("lxdbr9", &m).unwrap();
        let a = args(
            &cfg,
            &BridgeAddrs {
                ipv4: cfg.ipv4,
                ipv6: None,
                mtu: 1500,
            },
            Path::new("/var/lib/lxd/networks/lxdbr9"),
            Some(("nobody", "nogroup")),
        );
        let has = |s: &str| a.iter().any(|x| x == s);
        assert!(has("--interface=lxdbr9"));
        assert!(has("--listen-address=10.9.8.1"));
        assert!(has("--dhcp-range=10.9.8.2,10.9.8.254,1h"));
        assert!(has(
            "--dhcp-leasefile=/var/lib/lxd/networks/lxdbr9/dnsmasq.leases"
        ));
        assert!(has(
            "--dhcp-hostsfile=/var/lib/lxd/networks/lxdbr9/dnsmasq.hosts"
        ));
        assert!(has("--conf-file=/var/lib/lxd/networks/lxdbr9/dnsmasq.raw"));
        assert!(has("/example/"));
        assert!(has("--no-ping") && has("--strict-order") && has("--bind-interfaces"));
        assert!(!a.iter().any(|x| x.starts_with("--dhcp-option-force=26")));
    }

    #[test]
    fn static_leases_are_checked() {
        let s = Cidr::parse("10.9.8.1/24");
        let good = StaticLease {
            hostname: "c1".into(),
            hwaddr: "00:16:3e:00:00:01".into(),
            ipv4: "10.9.8.50".into(),
        };
        assert!(check_static_lease("br", &good, s).is_ok());
        let outside = StaticLease {
            ipv4: "10.9.9.50".into(),
            ..good.clone()
        };
        let e = check_static_lease("br", &outside, s).unwrap_err();
        assert!(e.to_string().contains("10.9.8.0/24"), "{e}");
        let bad_mac = StaticLease {
            hwaddr: "zz".into(),
            ..good.clone()
        };
        assert!(check_static_lease("br", &bad_mac, s).is_err());
        let bad_name = StaticLease {
            hostname: "c 1".into(),
            ..good
        };
        assert!(check_static_lease("br", &bad_name, s).is_err());
    }
}
