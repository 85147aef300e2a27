//! `limits.*` enforced through cgroups.

use std::time::Duration;

use anyhow::{ensure, Context};
use lxd_core::{Instance, InstanceStatus};

use crate::fixture::{sh, Env};
use crate::{block, TestResult};

pub fn memory_limit_ooms_inside_only() -> TestResult {
    let mut env = Env::new("memory");
    let c = env.container("memory-test", &[("limits.memory", "32MiB")]);
    block(c.start())?;
    let info = c.info_blocking()?.context("info")?;
    let mem = info
        .cgroup
        .controller_path("memory")
        .context("memory cgroup")?
        .to_path_buf();
    let limit_file = if mem.join("memory.max").exists() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    let limit: u64 = std::fs::read_to_string(mem.join(limit_file))?
        .trim()
        .parse()?;
    ensure!(limit == 32 << 20, "limit {limit}");
    // A 64 MiB buffer, filled from /dev/zero, does not fit.
    let out = sh(&c, "dd if=/dev/zero of=/dev/null bs=64M count=1")?;
    ensure!(
        out.exit_code != 0,
        "allocation past the limit succeeded: {out:?}"
    );
    // 8 MiB does.
    let out = sh(&c, "dd if=/dev/zero of=/dev/null bs=8M count=1")?;
    ensure!(out.exit_code == 0, "{out:?}");
    // Only the allocating process died: the container runs on, and so does this program.
    ensure!(block(c.state())?.status == InstanceStatus::Running);
    ensure!(block(c.exec_output(&["true"]))?.exit_code == 0);
    Ok(())
}

pub fn pids_limit_stops_fork_bomb() -> TestResult {
    let mut env = Env::new("pids");
    let c = env.container("pids-test", &[("limits.processes", "12")]);
    block(c.start())?;
    let out = sh(&c, "for i in $(seq 1 40); do sleep 2 & done; wait")?;
    ensure!(
        out.stderr_str().contains("can't fork"),
        "fork bomb was not stopped: {out:?}"
    );
    let info = c.info_blocking()?.context("info")?;
    let pids = info.cgroup.controller_path("pids").context("pids cgroup")?;
    let max: u64 = std::fs::read_to_string(pids.join("pids.max"))?
        .trim()
        .parse()?;
    ensure!(max == 12);
    let events = std::fs::read_to_string(pids.join("pids.events"))?;
    ensure!(!events.contains("max 0"), "pids.events: {events}");
    // Once the sleeps are gone the container works again.
    std::thread::sleep(Duration::from_millis(2500));
    ensure!(block(c.exec_output(&["true"]))?.exit_code == 0);
    Ok(())
}

pub fn cpu_count_and_allowance() -> TestResult {
    let mut env = Env::new("cpu");
    let c = env.container(
        "cpu-test",
        &[
            ("limits.cpu", "1"),
            ("limits.cpu.allowance", "10ms/100ms"),
            ("limits.cpu.priority", "5"),
        ],
    );
    block(c.start())?;
    let out = sh(&c, "nproc")?;
    ensure!(
        out.stdout_str().trim() == "1",
        "nproc {:?}",
        out.stdout_str()
    );
    let info = c.info_blocking()?.context("info")?;
    let cpu = info
        .cgroup
        .controller_path("cpu")
        .context("cpu cgroup")?
        .to_path_buf();
    let (quota, shares) = if cpu.join("cpu.max").exists() {
        (
            std::fs::read_to_string(cpu.join("cpu.max"))?,
            std::fs::read_to_string(cpu.join("cpu.weight"))?,
        )
    } else {
        (
            std::fs::read_to_string(cpu.join("cpu.cfs_quota_us"))?,
            std::fs::read_to_string(cpu.join("cpu.shares"))?,
        )
    };
    ensure!(quota.trim().starts_with("10000"), "quota {quota}");
    ensure!(
        shares.trim() == "1019" || shares.trim() == "95",
        "shares {shares}"
    );
    // A busy loop is throttled to the allowance.
    sh(&c, "timeout 1 sh -c 'while :; do :; done'")?;
    let stat = std::fs::read_to_string(cpu.join("cpu.stat"))?;
    let throttled: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .context("nr_throttled")?
        .trim()
        .parse()?;
    ensure!(throttled > 0, "never throttled: {stat}");
    Ok(())
}

pub fn kernel_rlimits() -> TestResult {
    let mut env = Env::new("rlimit");
    let c = env.container("rlimit-test", &[("limits.kernel.nofile", "1024:2048")]);
    block(c.start())?;
    // Both init and exec'd commands run under the limit.
    let text = sh(&c, "grep 'open files' /proc/1/limits")?.stdout_str();
    let fields: Vec<&str> = text.split_whitespace().collect();
    ensure!(
        fields.get(3) == Some(&"1024") && fields.get(4) == Some(&"2048"),
        "{text:?}"
    );
    let out = sh(&c, "ulimit -n; ulimit -Hn")?;
    ensure!(out.stdout_str() == "1024\n2048\n", "{:?}", out.stdout_str());
    Ok(())
}
