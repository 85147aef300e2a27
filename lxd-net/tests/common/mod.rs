//! Shared fixtures of the lxd-net tests. Everything happens inside network namespaces the
//! tests create (`ip netns add`), never in the host's:
//! - [`Netns`]: a uniquely named namespace; dropping it kills every process left in it and
//!   deletes it;
//! - [`NsRuntime`]: a thread that entered a namespace and drives a current-thread tokio
//!   runtime, on which the drivers run (processes they start, nft, tc and dnsmasq, inherit the
//!   namespace); jobs are sent to it and their results awaited from the test's thread;
//! - [`Container`]: a namespace with a sleeping process standing for an instance's init, plus
//!   helpers to run busybox's udhcpc, nslookup, ping and nc in it;
//! - [`TestDir`]: a scratch directory removed on drop.
#![allow(dead_code)]

use std::future::Future;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn seq() -> u32 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Runs `bash -c script` in the test's own (host) namespace context; fails with stderr.
pub fn sh(script: &str) -> Result<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .output()
        .with_context(|| format!("run bash for {script:?}"))?;
    if !out.status.success() {
        bail!(
            "{script:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Fails with a clear message when a tool the tests need is missing.
pub fn require_tools(tools: &[&str]) -> Result<()> {
    for t in tools {
        if sh(&format!("command -v {t}")).is_err() {
            bail!("the lxd-net tests need `{t}` (Debian packages: iproute2 nftables dnsmasq-base busybox-static tcpdump; see scripts/setup)");
        }
    }
    Ok(())
}

/// A network namespace created for the test.
pub struct Netns {
    /// Its name under /run/netns.
    pub name: String,
}

impl Netns {
    /// Creates `lxn-PID-N-TAG` with its loopback up.
    pub fn new(tag: &str) -> Result<Netns> {
        require_tools(&["ip", "nft", "dnsmasq", "busybox", "tc"])?;
        let name = format!("lxn-{}-{}-{tag}", std::process::id(), seq());
        sh(&format!("ip netns add {name}"))?;
        let ns = Netns { name };
        ns.exec("ip link set lo up")?;
        Ok(ns)
    }

    /// The namespace file.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }

    /// Runs a shell script inside the namespace.
    pub fn exec(&self, script: &str) -> Result<String> {
        sh(&format!(
            "ip netns exec {} bash -c {}",
            self.name,
            shell_quote(&format!("set -euo pipefail\n{script}"))
        ))
        .with_context(|| format!("in netns {}", self.name))
    }

    /// Runs a shell script inside the namespace; returns (success, stdout+stderr).
    pub fn try_exec(&self, script: &str) -> (bool, String) {
        match Command::new("ip")
            .args(["netns", "exec", &self.name, "bash", "-c", script])
            .output()
        {
            Ok(o) => (
                o.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            ),
            Err(e) => (false, e.to_string()),
        }
    }

    /// Starts a long-running process in the namespace (killed on drop of the handle).
    pub fn spawn(&self, args: &[&str]) -> Result<Proc> {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawn {args:?} in {}", self.name))?;
        Ok(Proc { child })
    }

    /// Interface names in the namespace.
    pub fn links(&self) -> Result<Vec<String>> {
        Ok(self
            .exec("ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1")?
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// Whether an interface exists in the namespace.
    pub fn has_link(&self, name: &str) -> Result<bool> {
        Ok(self.links()?.iter().any(|l| l == name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let me = std::process::id().to_string();
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if pid != me {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Quotes a string for bash.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A child process killed (and reaped) on drop.
pub struct Proc {
    /// The process.
    pub child: Child,
}

impl Proc {
    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A thread inside a namespace driving a current-thread tokio runtime.
pub struct NsRuntime {
    tx: Option<tokio::sync::mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    ns: String,
}

impl NsRuntime {
    /// Starts the thread in `ns`.
    pub fn new(ns: &Netns) -> Result<NsRuntime> {
        let path = ns.path();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::result::Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name(format!("ns-{}", ns.name))
            .spawn(move || {
                let setup = || -> Result<tokio::runtime::Runtime> {
                    let f = std::fs::File::open(&path).with_context(|| format!("open {path:?}"))?;
                    nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                        .context("setns")?;
                    Ok(tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?)
                };
                let rt = match setup() {
                    Ok(rt) => {
                        let _ = ready_tx.send(Ok(()));
                        rt
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{e:#}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    while let Some(job) = rx.recv().await {
                        job().await;
                    }
                });
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("runtime thread in {}: {e}", ns.name),
            Err(_) => bail!("runtime thread in {} died", ns.name),
        }
        Ok(NsRuntime {
            tx: Some(tx),
            thread: Some(thread),
            ns: ns.name.clone(),
        })
    }

    /// Runs `f()` on the namespace's runtime and waits for its result.
    pub fn run<T, Fut, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        Fut: Future<Output = T> + 'static,
        F: FnOnce() -> Fut + Send + 'static,
    {
        let (rtx, rrx) = std::sync::mpsc::channel();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let v = f().await;
                let _ = rtx.send(v);
            })
        });
        self.tx
            .as_ref()
            .expect("runtime running")
            .send(job)
            .unwrap_or_else(|_| panic!("runtime thread of {} is gone", self.ns));
        rrx.recv()
            .unwrap_or_else(|_| panic!("a job on the runtime of {} panicked (see above)", self.ns))
    }
}

impl Drop for NsRuntime {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A scratch directory `/tmp/lxd-net-test.PID.N.TAG`, removed on drop.
pub struct TestDir {
    /// Its path.
    pub path: PathBuf,
}

impl TestDir {
    /// Creates it (mode 0755, so dnsmasq's unprivileged user can read what it needs).
    pub fn new(tag: &str) -> Result<TestDir> {
        let path = PathBuf::from(format!(
            "/tmp/lxd-net-test.{}.{}.{tag}",
            std::process::id(),
            seq()
        ));
        std::fs::create_dir_all(&path)?;
        sh(&format!("chmod 755 {}", path.display()))?;
        Ok(TestDir { path })
    }

    /// A path inside.
    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A stand-in for an instance: a namespace with a sleeping "init".
pub struct Container {
    /// Name (its DNS name on the network).
    pub name: String,
    /// Its namespace.
    pub ns: Netns,
    init: Proc,
    script: PathBuf,
}

impl Container {
    /// Creates it; `dir` holds its DHCP script.
    pub fn new(name: &str, dir: &TestDir) -> Result<Container> {
        let ns = Netns::new(name)?;
        let init = ns.spawn(&["sleep", "100000"])?;
        // Wait until the sleeper has entered the namespace (ip netns exec setns then execs).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let exe = std::fs::read_link(format!("/proc/{}/exe", init.pid())).unwrap_or_default();
            if exe.ends_with("sleep") {
                break;
            }
            if Instant::now() > deadline {
                bail!("container {name}: sleeper did not start");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let script = dir.join(&format!("udhcpc-{name}.sh"));
        std::fs::write(
            &script,
            "#!/bin/sh\n\
             case \"$1\" in\n\
             deconfig) ip addr flush dev \"$interface\"; ip link set \"$interface\" up ;;\n\
             bound|renew)\n\
               ip addr flush dev \"$interface\"\n\
               ip addr add \"$ip/$mask\" dev \"$interface\"\n\
               if [ -n \"$router\" ]; then ip route replace default via \"${router%% *}\" dev \"$interface\"; fi\n\
               if [ -n \"$mtu\" ]; then ip link set \"$interface\" mtu \"$mtu\"; fi\n\
               ;;\n\
             esac\n",
        )?;
        sh(&format!("chmod 755 {}", script.display()))?;
        Ok(Container {
            name: name.to_string(),
            ns,
            init,
            script,
        })
    }

    /// The init's pid (what the nic driver gets).
    pub fn pid(&self) -> i32 {
        self.init.pid()
    }

    /// Runs a script inside.
    pub fn exec(&self, script: &str) -> Result<String> {
        self.ns.exec(script)
    }

    /// Gets a DHCP lease on `iface` with busybox udhcpc (sending its name as host name);
    /// returns the address.
    pub fn dhcp(&self, iface: &str) -> Result<String> {
        self.exec(&format!(
            "busybox udhcpc -i {iface} -n -q -f -T 1 -t 8 -s {} -x hostname:{} >/dev/null 2>&1",
            self.script.display(),
            self.name
        ))
        .with_context(|| format!("udhcpc in {}", self.name))?;
        self.ipv4(iface)?
            .with_context(|| format!("{}: no address after DHCP", self.name))
    }

    /// The IPv4 address of `iface`, if any.
    pub fn ipv4(&self, iface: &str) -> Result<Option<String>> {
        let out = self.exec(&format!("ip -4 -o addr show dev {iface}"))?;
        Ok(out
            .split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .map(|a| a.split('/').next().unwrap_or(a).to_string()))
    }

    /// Pings `ip` (up to 3 tries of one packet); returns whether an answer came.
    pub fn ping(&self, ip: &str) -> bool {
        self.ns
            .try_exec(&format!("busybox ping -c 1 -W 2 {ip} || busybox ping -c 1 -W 2 {ip} || busybox ping -c 1 -W 2 {ip}"))
            .0
    }
}

/// Waits until `f` holds, up to `timeout`.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `NetworkInfo` of a network whose state directory is under `dir`.
pub fn net_info(name: &str, config: &[(&str, &str)], dir: &Path) -> lxd_core::network::NetworkInfo {
    lxd_core::network::NetworkInfo {
        name: name.to_string(),
        kind: "bridge".into(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        state_dir: dir.join("networks").join(name),
    }
}

/// Whether a process is alive.
pub fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Reads a sysctl inside a namespace.
pub fn sysctl(ns: &Netns, path: &str) -> Result<String> {
    Ok(ns
        .exec(&format!("cat /proc/sys/{path}"))?
        .trim()
        .to_string())
}

/// Checks that nothing of network `name` is left in `host`: interfaces, nft table, processes,
/// forwarding changes.
pub fn assert_nothing_left(host: &Netns, name: &str, dir: &std::path::Path) -> Result<()> {
    let links = host.links()?;
    ensure!(
        !links
            .iter()
            .any(|l| l == name || l == &format!("{name}-fan")),
        "interfaces left: {links:?}"
    );
    let tables = host.exec("nft list tables")?;
    ensure!(
        !tables.contains(&format!("lxdrs_{name}")),
        "nft table left: {tables}"
    );
    let pids = sh(&format!("ip netns pids {}", host.name))?;
    ensure!(
        pids.trim().is_empty(),
        "processes left in the host namespace: {pids}"
    );
    // Test namespaces start with forwarding off everywhere: it must be off again.
    let fwd = host.exec(
        "cd /proc/sys/net && grep -H . ipv4/ip_forward ipv4/conf/*/forwarding ipv6/conf/*/forwarding ipv6/conf/*/force_forwarding 2>/dev/null || true",
    )?;
    let on: Vec<&str> = fwd.lines().filter(|l| !l.ends_with(":0")).collect();
    ensure!(on.is_empty(), "forwarding left on: {on:?}");
    ensure!(
        !dir.join("networks").join(name).join("sysctl.json").exists(),
        "sysctl ledger left"
    );
    ensure!(
        !dir.join("networks").join(name).join("dnsmasq.pid").exists(),
        "dnsmasq pid file left"
    );
    Ok(())
}
