//! Id maps, the shift fallback, seccomp, capabilities, /proc and /dev.

use std::os::unix::fs::MetadataExt;

use anyhow::{ensure, Context};
use lxd_core::Instance;

use crate::fixture::{cap_bounding, host_uids, sh, Env};
use crate::{block, TestResult};

pub fn unprivileged_root_is_host_range() -> TestResult {
    let mut env = Env::new("unpriv");
    let c = env.container("unpriv-test", &[]);
    block(c.start())?;
    let init = block(c.state())?.pid.context("pid")?;
    ensure!(
        host_uids(init) == vec![crate::fixture::host_base(); 4],
        "init uids {:?}",
        host_uids(init)
    );
    let out = sh(&c, "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map")?;
    let text = out.stdout_str();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    ensure!(lines[0] == ["0"], "{text}");
    let base = crate::fixture::host_base().to_string();
    ensure!(lines[1] == ["0", base.as_str(), "65536"], "{text}");
    ensure!(lines[2] == ["0", base.as_str(), "65536"], "{text}");
    // The idmapped rootfs: files owned by 0 on disk are root's inside, and nothing was chowned.
    let meta = std::fs::metadata(c.rootfs().join("etc/passwd"))?;
    ensure!(meta.uid() == 0, "rootfs was shifted on disk");
    let out = sh(&c, "stat -c %u /etc/passwd; touch /root/made-inside")?;
    ensure!(out.stdout_str().trim() == "0", "{out:?}");
    ensure!(std::fs::metadata(c.rootfs().join("root/made-inside"))?.uid() == 0);
    ensure!(c.config().get("volatile.last_state.idmap").is_none());
    Ok(())
}

pub fn privileged_maps_nothing_and_proc_sys_ro() -> TestResult {
    let mut env = Env::new("priv");
    let c = env.container("priv-test", &[("security.privileged", "true")]);
    block(c.start())?;
    let init = block(c.state())?.pid.context("pid")?;
    ensure!(host_uids(init) == vec![0; 4]);
    let out = sh(&c, "cat /proc/self/uid_map")?;
    let map: Vec<String> = out
        .stdout_str()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    ensure!(map == ["0", "0", "4294967295"], "{map:?}");
    // proc:mixed and sys:mixed, as LXD gives privileged containers.
    let out = sh(&c, "echo x > /proc/sys/kernel/domainname")?;
    ensure!(
        out.exit_code != 0 && out.stderr_str().contains("Read-only"),
        "{out:?}"
    );
    let out = sh(&c, "echo 1 > /proc/sysrq-trigger")?;
    ensure!(out.exit_code != 0, "{out:?}");
    let out = sh(
        &c,
        "cat /proc/sys/net/ipv4/ip_forward > /proc/sys/net/ipv4/ip_forward",
    )?;
    ensure!(
        out.exit_code == 0,
        "/proc/sys/net should be writable: {out:?}"
    );
    let out = sh(&c, "grep ' /sys ' /proc/mounts")?;
    ensure!(out.stdout_str().contains(" ro,"), "{:?}", out.stdout_str());
    // Capabilities LXD drops for privileged containers.
    let bnd = cap_bounding(&c, "self")?;
    for (bit, name) in [
        (25, "sys_time"),
        (16, "sys_module"),
        (17, "sys_rawio"),
        (32, "mac_override"),
        (33, "mac_admin"),
    ] {
        ensure!(bnd & (1 << bit) == 0, "{name} not dropped: {bnd:x}");
    }
    ensure!(bnd & (1 << 21) != 0, "sys_admin should stay");
    Ok(())
}

pub fn isolated_idmaps_do_not_overlap() -> TestResult {
    let mut env = Env::new("isolated");
    let a = env.container("iso-a", &[("security.idmap.isolated", "true")]);
    let b = env.container("iso-b", &[("security.idmap.isolated", "true")]);
    block(a.start())?;
    block(b.start())?;
    let ua = host_uids(block(a.state())?.pid.context("pid")?)[0];
    let ub = host_uids(block(b.state())?.pid.context("pid")?)[0];
    ensure!(
        ua >= crate::fixture::host_base() + 65_536 && ub >= crate::fixture::host_base() + 65_536,
        "{ua} {ub}"
    );
    ensure!(ua.abs_diff(ub) >= 65_536, "ranges overlap: {ua} {ub}");
    let base_a: u64 = a
        .config()
        .get("volatile.idmap.base")
        .context("base")?
        .parse()?;
    ensure!(base_a == ua);
    Ok(())
}

pub fn shift_fallback_recorded_and_undone() -> TestResult {
    let mut env = Env::shifting("shift");
    let c = env.container("shift-test", &[]);
    let root = c.rootfs().to_path_buf();
    block(c.start())?;
    // Shifted on disk, and recorded.
    ensure!(
        std::fs::metadata(root.join("etc/passwd"))?.uid() as u64 == crate::fixture::host_base()
    );
    let recorded = c
        .config()
        .get("volatile.last_state.idmap")
        .context("last_state")?
        .to_string();
    ensure!(
        recorded.contains(&format!("\"Hostid\":{}", crate::fixture::host_base())),
        "{recorded}"
    );
    let out = sh(&c, "stat -c %u /etc/passwd")?;
    ensure!(out.stdout_str().trim() == "0");
    block(c.stop())?;
    // A second start with the recorded map does not shift again: a file the host made as
    // uid 0 stays 0 (a re-shift would have moved it).
    std::fs::write(root.join("host-file"), "x")?;
    block(c.start())?;
    ensure!(
        std::fs::metadata(root.join("host-file"))?.uid() == 0,
        "shifted twice"
    );
    block(c.stop())?;
    // Back on a runtime with idmapped mounts, the shift is undone and the record cleared.
    let rt = lxd_core::Runtime::new(crate::fixture::runtime_config(&env.dir))?;
    let c2 = rt.container("shift-test", &root, c.config())?;
    block(c2.start())?;
    ensure!(
        std::fs::metadata(root.join("etc/passwd"))?.uid() == 0,
        "not unshifted"
    );
    ensure!(c2.config().get("volatile.last_state.idmap") == Some("[]"));
    let out = sh(&c2, "stat -c %u /etc/passwd")?;
    ensure!(out.stdout_str().trim() == "0");
    block(c2.stop())?;
    Ok(())
}

pub fn seccomp_denies_lxd_default_list() -> TestResult {
    let mut env = Env::new("seccomp");
    let c = env.container("seccomp-test", &[]);
    block(c.start())?;
    // init_module fails with ENOSYS (not EPERM) under LXD's policy.
    let out = sh(&c, "insmod /bin/busybox")?;
    // (busybox words ENOSYS as "kernel does not support requested operation")
    ensure!(
        out.exit_code != 0 && out.stderr_str().contains("does not support"),
        "{out:?}"
    );
    // umount -f is refused with EACCES, a plain umount is not filtered.
    let out = sh(&c, "umount -f /dev/mqueue")?;
    ensure!(
        out.exit_code != 0 && out.stderr_str().contains("Permission denied"),
        "{out:?}"
    );
    let out = sh(&c, "grep -c mqueue /proc/mounts")?;
    ensure!(out.stdout_str().trim() == "1");
    let out = sh(&c, "umount /dev/mqueue && echo unmounted")?;
    ensure!(out.stdout_str().trim() == "unmounted", "{out:?}");
    let out = sh(&c, "grep Seccomp: /proc/1/status")?;
    ensure!(out.stdout_str().contains('2'), "init not filtered: {out:?}");

    // security.syscalls.deny adds to the list.
    let d = env.container("seccomp-deny", &[("security.syscalls.deny", "sethostname")]);
    block(d.start())?;
    let out = sh(&d, "hostname changed")?;
    ensure!(
        out.exit_code != 0 && out.stderr_str().contains("not permitted"),
        "{out:?}"
    );
    Ok(())
}

pub fn capabilities_dropped() -> TestResult {
    let mut env = Env::new("caps");
    let c = env.container("caps-test", &[]);
    block(c.start())?;
    for pid in ["1", "self"] {
        let bnd = cap_bounding(&c, pid)?;
        for (bit, name) in [
            (25, "sys_time"),
            (16, "sys_module"),
            (32, "mac_override"),
            (33, "mac_admin"),
        ] {
            ensure!(
                bnd & (1 << bit) == 0,
                "{name} in bounding set of {pid}: {bnd:x}"
            );
        }
    }
    let out = sh(&c, "date -s 2000-01-01")?;
    ensure!(
        out.stderr_str().contains("can't set date"),
        "set the clock: {out:?}"
    );
    Ok(())
}

pub fn devices_and_devpts() -> TestResult {
    let mut env = Env::new("dev");
    let c = env.container("dev-test", &[]);
    block(c.start())?;
    let out = sh(
        &c,
        "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c; ls /dev/pts; readlink /dev/fd; test -c /dev/console && echo console; grep -c devpts /proc/mounts",
    )?;
    let lines: Vec<String> = out
        .stdout_str()
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    ensure!(lines[0] == "4" && lines[1] == "4", "{lines:?}");
    ensure!(
        lines[2] == "ptmx",
        "devpts is not a new instance: {lines:?}"
    );
    ensure!(lines[3] == "/proc/self/fd", "{lines:?}");
    ensure!(lines.contains(&"console".to_string()), "{lines:?}");
    // mknod of a real device is refused in an unprivileged container.
    let out = sh(&c, "mknod /tmp/sda b 8 0")?;
    ensure!(out.exit_code != 0, "{out:?}");
    Ok(())
}
