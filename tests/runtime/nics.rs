//! Interfaces in containers at the runtime level: the pre-start hook sees the waiting init and
//! moves an interface in before `/sbin/init` runs; a reboot carries the interfaces over; a
//! stop hands a physical interface back to the host under its own name; a failing hook aborts
//! the start and leaves nothing. The veth pairs are this test's own (unique names) and go
//! whatever happens.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use lxd_core::{Error, Instance, InstanceStatus, SpecNic};

use crate::fixture::{sh, Env};
use crate::{block, TestResult};

/// A veth pair on the host, deleted on drop (deleting one end deletes both).
struct Veth(String);

impl Veth {
    fn new(a: &str, b: &str) -> anyhow::Result<Self> {
        ip(&["link", "add", a, "type", "veth", "peer", "name", b])?;
        Ok(Veth(a.to_string()))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ip").args(args).output().context("run ip")?;
    ensure!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn host_has(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

fn inside(c: &lxd_core::Container, nic: &str, file: &str) -> anyhow::Result<String> {
    let out = sh(c, &format!("cat /sys/class/net/{nic}/{file}"))?;
    ensure!(
        out.exit_code == 0,
        "no {nic} in the container: {}",
        out.stderr_str()
    );
    Ok(out.stdout_str().trim().to_string())
}

/// Whether a container interface has IFF_UP.
fn is_up(c: &lxd_core::Container, nic: &str) -> anyhow::Result<bool> {
    let flags = inside(c, nic, "flags")?;
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16)?;
    Ok(flags & 1 == 1)
}

pub fn prestart_hook_reboot_and_physical_return() -> TestResult {
    let tag = std::process::id() % 100_000;
    let (v_host, v_peer) = (format!("lt{tag}vh"), format!("lt{tag}vc"));
    let (p_host, p_peer) = (format!("lt{tag}ph"), format!("lt{tag}pc"));
    let _veth = Veth::new(&v_host, &v_peer)?;
    let _phys = Veth::new(&p_host, &p_peer)?;
    ip(&["link", "set", &v_peer, "address", "00:16:3e:aa:bb:01"])?;
    ip(&["link", "set", &p_peer, "address", "00:16:3e:aa:bb:02"])?;
    ip(&["link", "set", &v_host, "up"])?;

    let mut env = Env::new("nics");
    let c = env.container("nics-test", &[]);
    c.set_nics(vec![
        SpecNic {
            name: "eth0".into(),
            host_name: None,
        },
        SpecNic {
            name: "eth1".into(),
            host_name: Some(p_peer.clone()),
        },
    ]);
    let (vp, pp) = (v_peer.clone(), p_peer.clone());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    c.set_prestart_hook(Box::new(move |pid| {
        *seen2.lock().unwrap() = Some(pid);
        // The init has not run yet: its command line is still the monitor's.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "init" {
            return Err(Error::Invalid("the hook ran after init started".into()));
        }
        let pid = pid.to_string();
        for (dev, name) in [(&vp, "eth0"), (&pp, "eth1")] {
            ip(&["link", "set", dev, "netns", &pid, "name", name])
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        // Inside the namespace, by the waiting init's pid.
        let out = Command::new("nsenter")
            .args(["-t", &pid, "-n", "ip", "link", "set", "eth0", "up"])
            .output()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if !out.status.success() {
            return Err(Error::Invalid(String::from_utf8_lossy(&out.stderr).into()));
        }
        Ok(())
    }));
    block(c.start())?;
    let pid = block(c.state())?.pid.context("pid")?;
    ensure!(*seen.lock().unwrap() == Some(pid), "hook saw the init");
    ensure!(
        !host_has(&v_peer) && !host_has(&p_peer),
        "moved off the host"
    );
    ensure!(inside(&c, "eth0", "address")? == "00:16:3e:aa:bb:01");
    ensure!(inside(&c, "eth1", "address")? == "00:16:3e:aa:bb:02");
    ensure!(is_up(&c, "eth0")?, "eth0 is up from the start");

    // A reboot keeps both (the hook is not called again: the program may be gone).
    sh(&c, "reboot")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = block(c.state())?;
        if s.status == InstanceStatus::Running && s.pid.is_some_and(|p| p != pid) {
            break;
        }
        ensure!(Instant::now() < deadline, "no reboot: {s:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    ensure!(
        inside(&c, "eth0", "address")? == "00:16:3e:aa:bb:01",
        "eth0 after reboot"
    );
    ensure!(
        inside(&c, "eth1", "address")? == "00:16:3e:aa:bb:02",
        "eth1 after reboot"
    );
    ensure!(is_up(&c, "eth0")? && is_up(&c, "eth1")?, "up after reboot");
    ensure!(host_has(&v_host), "the host end of the veth lives on");

    // A stop hands the physical one back under its host name; the veth goes with the
    // container's namespace.
    block(c.stop())?;
    ensure!(host_has(&p_peer), "{p_peer} is back on the host");
    // Namespaces are cleaned up by the kernel's workqueue, a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_has(&v_host) {
        ensure!(
            Instant::now() < deadline,
            "the veth died with the container's namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let show = ip(&["-o", "link", "show", &p_peer])?;
    ensure!(show.contains("00:16:3e:aa:bb:02"), "{show}");
    Ok(())
}

pub fn failing_prestart_hook_aborts_start() -> TestResult {
    let mut env = Env::new("nics-fail");
    let c = env.container("nicfail-test", &[]);
    c.set_prestart_hook(Box::new(|_| {
        Err(Error::Invalid("no such network \"nope\"".into()))
    }));
    match block(c.start()) {
        Err(e) => ensure!(e.to_string().contains("no such network"), "{e}"),
        Ok(()) => bail!("a failing hook must abort the start"),
    }
    ensure!(block(c.state())?.status == InstanceStatus::Stopped);
    // The hook is used once: the next start runs without it.
    block(c.start())?;
    ensure!(block(c.state())?.status == InstanceStatus::Running);
    block(c.stop())?;
    Ok(())
}
