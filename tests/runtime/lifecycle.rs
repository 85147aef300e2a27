//! Start, stop, exec, freeze, the monitor, reattach, delete.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use lxd_core::{Error, ExecCommand, ExecStdio, Instance, InstanceConfig, InstanceStatus, Runtime};

use crate::fixture::{host_mounts_with, runtime_config, sh, Env};
use crate::{block, TestResult};

pub fn pid1_is_init_and_hostname_is_name() -> TestResult {
    let mut env = Env::new("pid1");
    let c = env.container("pid1-test", &[]);
    block(c.start())?;
    let out = sh(
        &c,
        "cat /proc/1/comm; readlink /proc/1/exe; hostname; echo $$",
    )?;
    let lines: Vec<&str> = out
        .stdout
        .split(|b| *b == b'\n')
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    ensure!(lines[0] == "init", "pid 1 runs {:?}", lines[0]);
    ensure!(lines[1] == "/bin/busybox", "pid 1 exe {:?}", lines[1]);
    ensure!(lines[2] == "pid1-test", "hostname {:?}", lines[2]);
    let shell_pid: u32 = lines[3].parse()?;
    ensure!(shell_pid > 1, "exec runs in the container's pid namespace");
    // The host sees init under the monitor.
    let state = block(c.state())?;
    let init = state.pid.context("init pid")?;
    let comm = std::fs::read_to_string(format!("/proc/{init}/comm"))?;
    ensure!(comm.trim() == "init", "host view of init: {comm}");
    Ok(())
}

pub fn no_host_mount_is_visible() -> TestResult {
    let mut env = Env::new("mounts");
    let c = env.container("mounts-test", &[]);
    block(c.start())?;
    let out = sh(&c, "cat /proc/self/mountinfo")?;
    let text = out.stdout_str();
    ensure!(!text.is_empty(), "no mountinfo");
    for line in text.lines() {
        let mp = line.split_whitespace().nth(4).unwrap_or("");
        let allowed = mp == "/"
            || ["/proc", "/sys", "/dev"]
                .iter()
                .any(|p| mp == *p || mp.starts_with(&format!("{p}/")));
        ensure!(allowed, "host mount visible in the container: {line}");
    }
    // And nothing of the container is mounted on the host.
    ensure!(host_mounts_with(env.dir.to_str().unwrap()).is_empty());
    Ok(())
}

pub fn console_log_has_boot_output() -> TestResult {
    let mut env = Env::new("console");
    let c = env.container("console-test", &[]);
    block(c.start())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = String::from_utf8_lossy(&block(c.console_log())?).into_owned();
        if log.contains("busybox container console-test booted") {
            break;
        }
        ensure!(Instant::now() < deadline, "console log: {log:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // /dev/console inside is the terminal whose output lands in the log.
    sh(&c, "echo via-dev-console > /dev/console")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&block(c.console_log())?).contains("via-dev-console") {
        ensure!(
            Instant::now() < deadline,
            "write to /dev/console not logged"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

pub fn exec_exit_code_and_separate_streams() -> TestResult {
    let mut env = Env::new("streams");
    let c = env.container("streams-test", &[]);
    block(c.start())?;
    let out = sh(&c, "echo to-out; echo to-err >&2; exit 3")?;
    ensure!(out.exit_code == 3, "exit code {}", out.exit_code);
    ensure!(
        out.stdout_str() == "to-out\n",
        "stdout {:?}",
        out.stdout_str()
    );
    ensure!(
        out.stderr_str() == "to-err\n",
        "stderr {:?}",
        out.stderr_str()
    );
    let ok = block(c.exec_output(&["true"]))?;
    ensure!(ok.exit_code == 0 && ok.stdout.is_empty());
    let fail = block(c.exec_output(&["false"]))?;
    ensure!(fail.exit_code == 1);
    Ok(())
}

pub fn exec_stdin_env_cwd_user() -> TestResult {
    let mut env = Env::new("stdin");
    let c = env.container("stdin-test", &[("environment.FROM_CONFIG", "cfg-value")]);
    block(c.start())?;
    let mut cmd = ExecCommand::new([
        "sh",
        "-c",
        "cat; echo \"$FOO $FROM_CONFIG\"; pwd; id -u; id -g",
    ])
    .env("FOO", "bar")
    .cwd("/tmp")
    .user(1000, 1001);
    cmd.stdin = ExecStdio::Piped;
    cmd.stdout = ExecStdio::Piped;
    let mut p = block(c.exec(cmd))?;
    p.stdin
        .take()
        .context("stdin")?
        .write_all(b"piped-input\n")?;
    let out = p.output_blocking()?;
    ensure!(out.exit_code == 0, "{out:?}");
    ensure!(
        out.stdout_str() == "piped-input\nbar cfg-value\n/tmp\n1000\n1001\n",
        "{:?}",
        out.stdout_str()
    );
    // Defaults: root's home as cwd, PATH, HOME.
    let out = sh(&c, "pwd; echo $HOME; echo $PATH")?;
    ensure!(
        out.stdout_str()
            == "/root\n/root\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
        "{:?}",
        out.stdout_str()
    );
    // A host file as stdout.
    let path = env.dir.join("out.txt");
    let f = std::fs::File::create(&path)?;
    let mut cmd = ExecCommand::new(["echo", "into-a-file"]);
    cmd.stdout = ExecStdio::Fd(f.into());
    ensure!(block(block(c.exec(cmd))?.wait())? == 0);
    ensure!(std::fs::read_to_string(&path)? == "into-a-file\n");
    Ok(())
}

fn read_until(r: &mut std::fs::File, needle: &str, timeout: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    // The pty master is blocking; a reader thread would outlive a failure, so poll instead.
    use std::os::fd::AsRawFd;
    while !String::from_utf8_lossy(&seen).contains(needle) {
        ensure!(
            Instant::now() < deadline,
            "timed out waiting for {needle:?}, got {:?}",
            String::from_utf8_lossy(&seen)
        );
        let mut pfd = libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 100) } > 0 {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    }
    Ok(String::from_utf8_lossy(&seen).into_owned())
}

pub fn exec_pty_sees_terminal_and_resizes() -> TestResult {
    let mut env = Env::new("pty");
    let c = env.container("pty-test", &[]);
    block(c.start())?;
    let cmd = ExecCommand::new([
        "sh",
        "-c",
        "tty; [ -t 0 ] && echo IS-A-TTY; stty size; read x; stty size; echo done-$x",
    ])
    .pty(80, 24);
    let mut p = block(c.exec(cmd))?;
    let mut pty = p.pty.take().context("pty master")?;
    let first = read_until(&mut pty, "24 80", Duration::from_secs(10))?;
    ensure!(first.contains("/dev/pts/"), "tty output: {first:?}");
    ensure!(first.contains("IS-A-TTY"), "{first:?}");
    p.resize(100, 40)?;
    pty.write_all(b"yes\n")?;
    let second = read_until(&mut pty, "done-yes", Duration::from_secs(10))?;
    ensure!(second.contains("40 100"), "after resize: {second:?}");
    ensure!(p.wait_blocking()? == 0);
    Ok(())
}

pub fn exec_signal_forwarding() -> TestResult {
    let mut env = Env::new("signal");
    let c = env.container("signal-test", &[]);
    block(c.start())?;
    let p = block(c.exec(ExecCommand::new(["sleep", "100"])))?;
    // The exec'd process is in the container's user namespace: its uid on the host is mapped.
    let uids = crate::fixture::host_uids(p.pid());
    ensure!(
        uids[0] == crate::fixture::host_base(),
        "exec uid on host {uids:?}"
    );
    p.signal(libc::SIGTERM)?;
    let code = p.wait_blocking()?;
    ensure!(code == 128 + libc::SIGTERM, "exit code {code}");
    Ok(())
}

pub fn exec_errors() -> TestResult {
    let mut env = Env::new("execerr");
    let c = env.container("execerr-test", &[]);
    // Not running.
    match block(c.exec_output(&["true"])) {
        Err(Error::InvalidState { message, .. }) => ensure!(message.contains("isn't running")),
        other => bail!("exec on a stopped container: {other:?}"),
    }
    block(c.start())?;
    let err = block(c.exec_output(&["no-such-command"]))
        .unwrap_err()
        .to_string();
    ensure!(err.contains("Command not found: no-such-command"), "{err}");
    let err = block(c.exec(ExecCommand::new(["true"]).cwd("/nonexistent")))
        .unwrap_err()
        .to_string();
    ensure!(err.contains("/nonexistent"), "{err}");
    // The container is unharmed.
    ensure!(block(c.exec_output(&["true"]))?.exit_code == 0);
    Ok(())
}

pub fn shutdown_clean_with_busybox_init() -> TestResult {
    let mut env = Env::new("shutdown");
    let c = env.container("shutdown-test", &[]);
    block(c.start())?;
    let killed = block(c.shutdown(Duration::from_secs(30)))?;
    ensure!(!killed, "busybox init should halt on SIGPWR");
    ensure!(block(c.state())?.status == InstanceStatus::Stopped);
    Ok(())
}

pub fn shutdown_timeout_then_kill() -> TestResult {
    let mut env = Env::new("stubborn");
    let root = env.rootfs("stubborn-test");
    // An init that ignores the halt signal.
    std::fs::remove_file(root.join("sbin/init"))?;
    std::fs::write(
        root.join("sbin/init"),
        "#!/bin/sh\ntrap '' PWR\nwhile :; do sleep 1; done\n",
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("sbin/init"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    let c = env.container_on("stubborn-test", root, &[]);
    block(c.start())?;
    let t = Instant::now();
    let killed = block(c.shutdown(Duration::from_millis(700)))?;
    let waited = t.elapsed();
    ensure!(killed, "the init ignoring SIGPWR must be killed");
    ensure!(
        waited >= Duration::from_millis(700),
        "killed before the timeout: {waited:?}"
    );
    ensure!(block(c.state())?.status == InstanceStatus::Stopped);
    Ok(())
}

fn freeze_test(mut env: Env, name: &str) -> TestResult {
    let c = env.container(name, &[]);
    block(c.start())?;
    let _loop = block(c.exec(ExecCommand::new([
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; done",
    ])))?;
    let root = c.rootfs().to_path_buf();
    let read = |r: &Path| -> u64 {
        std::fs::read_to_string(r.join("tmp/counter"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while read(&root) < 10 {
        ensure!(Instant::now() < deadline, "counter does not move");
        std::thread::sleep(Duration::from_millis(10));
    }
    block(c.freeze())?;
    ensure!(block(c.state())?.status == InstanceStatus::Frozen);
    let a = read(&root);
    std::thread::sleep(Duration::from_millis(300));
    let b = read(&root);
    ensure!(a == b, "frozen counter moved from {a} to {b}");
    // Exec into a frozen container is refused rather than hanging.
    ensure!(block(c.exec_output(&["true"])).is_err());
    block(c.unfreeze())?;
    ensure!(block(c.state())?.status == InstanceStatus::Running);
    let deadline = Instant::now() + Duration::from_secs(10);
    while read(&root) <= b {
        ensure!(Instant::now() < deadline, "counter did not resume");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Force stop works on a frozen container too.
    block(c.freeze())?;
    block(c.stop())?;
    ensure!(block(c.state())?.status == InstanceStatus::Stopped);
    Ok(())
}

pub fn freeze_and_unfreeze_v1() -> TestResult {
    freeze_test(Env::new("freeze"), "freeze-test")
}

pub fn freeze_and_unfreeze_unified() -> TestResult {
    freeze_test(Env::unified_freezer("freeze2"), "freeze2-test")
}

/// Runs in a child copy of this test binary: starts a container and waits to be killed.
pub fn starter_role() -> ! {
    let dir = PathBuf::from(std::env::var("LXD_TEST_DIR").expect("dir"));
    let name = std::env::var("LXD_TEST_NAME").expect("name");
    let rt = Runtime::new(runtime_config(&dir)).expect("runtime");
    let c = rt
        .container(
            &name,
            dir.join("roots").join(&name),
            InstanceConfig::default(),
        )
        .expect("container");
    block(c.start()).expect("start");
    println!("started");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

pub fn survives_starter_kill_and_reattaches() -> TestResult {
    let mut env = Env::new("reattach");
    let name = "reattach-test";
    let root = env.rootfs(name);
    // Registered with the fixture for cleanup; this process does not start it.
    let handle = env.container_on(name, root, &[]);
    let exe = std::env::current_exe()?;
    let mut starter = Command::new(exe)
        .env("LXD_TEST_ROLE", "starter")
        .env("LXD_TEST_DIR", &env.dir)
        .env("LXD_TEST_NAME", name)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(starter.stdout.take().context("stdout")?).read_line(&mut line)?;
    ensure!(line.trim() == "started", "starter said {line:?}");
    let before = block(handle.state())?;
    starter.kill()?;
    starter.wait()?;
    // A new program (a new Runtime) reattaches by name.
    let rt2 = Runtime::new(runtime_config(&env.dir))?;
    let again = rt2.container(
        name,
        env.dir.join("roots").join(name),
        InstanceConfig::default(),
    )?;
    let state = block(again.state())?;
    ensure!(
        state.status == InstanceStatus::Running,
        "after the starter died: {state:?}"
    );
    ensure!(
        state.pid == before.pid,
        "init changed: {:?} vs {:?}",
        state.pid,
        before.pid
    );
    let out = block(again.exec_output(&["hostname"]))?;
    ensure!(out.stdout_str().trim() == name);
    ensure!(rt2.running().contains(&name.to_string()));
    block(again.stop())?;
    Ok(())
}

pub fn delete_leaves_nothing() -> TestResult {
    let mut env = Env::new("delete");
    let c = env.container("delete-test", &[("limits.memory", "64MiB")]);
    block(c.start())?;
    let info = c.info_blocking()?.context("info")?;
    let _sleeper = block(c.exec(ExecCommand::new(["sleep", "1000"])))?;
    ensure!(Path::new(&format!("/proc/{}", info.monitor_pid)).exists());
    for d in &info.cgroup.dirs {
        ensure!(
            d.path.is_dir(),
            "cgroup {} missing while running",
            d.path.display()
        );
    }
    match block(c.delete()) {
        Err(Error::InvalidState { .. }) => {}
        other => bail!("delete of a running container: {other:?}"),
    }
    block(c.stop())?;
    block(c.delete())?;
    // The monitor is gone (allow the kernel a moment to reap it).
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{}", info.monitor_pid)).exists() {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", info.monitor_pid)).unwrap_or_default();
        if stat.contains(") Z") {
            break; // a zombie waiting for its (test harness) reaper is not a live monitor
        }
        ensure!(
            Instant::now() < deadline,
            "monitor {} still alive",
            info.monitor_pid
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    ensure!(
        !Path::new(&format!("/proc/{}", info.init_pid)).exists() || {
            std::fs::read_to_string(format!("/proc/{}/comm", info.init_pid))
                .map(|c| c.trim() != "init")
                .unwrap_or(true)
        },
        "init survived"
    );
    for d in &info.cgroup.dirs {
        ensure!(!d.path.exists(), "cgroup {} left behind", d.path.display());
    }
    ensure!(!c.paths().run_dir.exists() && !c.paths().log_dir.exists());
    ensure!(host_mounts_with(env.dir.to_str().unwrap()).is_empty());
    Ok(())
}

pub fn reboot_restarts_container() -> TestResult {
    let mut env = Env::new("reboot");
    let c = env.container("reboot-test", &[]);
    block(c.start())?;
    let before = block(c.state())?.pid.context("pid")?;
    sh(&c, "reboot")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = block(c.state())?;
        if s.status == InstanceStatus::Running && s.pid.is_some_and(|p| p != before) {
            break;
        }
        ensure!(Instant::now() < deadline, "no reboot: {s:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = block(c.exec_output(&["hostname"]))?;
    ensure!(out.stdout_str().trim() == "reboot-test");
    Ok(())
}

pub fn state_and_double_start() -> TestResult {
    let mut env = Env::new("state");
    let c = env.container("state-test", &[]);
    ensure!(block(c.state())?.status == InstanceStatus::Stopped);
    match block(c.stop()) {
        Err(Error::InvalidState { message, .. }) => ensure!(message.contains("isn't running")),
        other => bail!("stop of a stopped container: {other:?}"),
    }
    block(c.start())?;
    let s = block(c.state())?;
    ensure!(s.status == InstanceStatus::Running);
    ensure!(s.processes.is_some_and(|n| n >= 1), "{s:?}");
    ensure!(s.memory_usage.is_some_and(|m| m > 0), "{s:?}");
    ensure!(s.started_at.is_some());
    match block(c.start()) {
        Err(Error::InvalidState { message, .. }) => ensure!(message.contains("already running")),
        other => bail!("second start: {other:?}"),
    }
    block(c.stop())?;
    // A stopped container starts again.
    block(c.start())?;
    ensure!(block(c.exec_output(&["true"]))?.exit_code == 0);
    Ok(())
}

fn leftovers(env: &Env, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let layout = env.rt.cgroup_layout();
    let plan = lxd_core::runtime::cgroup::Cgroup::plan(
        layout,
        &crate::fixture::subtree(),
        &format!("lxc.payload.{name}"),
        Default::default(),
    );
    for d in plan.dirs {
        if d.path.exists() {
            out.push(format!("cgroup {}", d.path.display()));
        }
    }
    let sock = env.dir.join("run").join(name).join("monitor.sock");
    if sock.exists() {
        out.push(format!("socket {}", sock.display()));
    }
    let ps = Command::new("ps")
        .arg("-eo")
        .arg("args")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if ps
        .lines()
        .any(|l| l.trim() == format!("[lxd monitor] {name}"))
    {
        out.push("monitor process".into());
    }
    out
}

pub fn bad_input_leaves_nothing() -> TestResult {
    let mut env = Env::new("badinput");
    // A rootfs without /sbin/init.
    let root = env.rootfs("noinit-test");
    std::fs::remove_file(root.join("sbin/init"))?;
    let c = env.container_on("noinit-test", root, &[]);
    let err = block(c.start()).unwrap_err();
    ensure!(matches!(err, Error::InvalidRootfs { .. }), "{err:?}");
    ensure!(err.to_string().contains("/sbin/init"), "{err}");
    ensure!(
        leftovers(&env, "noinit-test").is_empty(),
        "{:?}",
        leftovers(&env, "noinit-test")
    );

    // A /sbin/init that is a dangling link (passes nothing) and one pointing outside the rootfs.
    let root = env.rootfs("escape-test");
    std::fs::remove_file(root.join("sbin/init"))?;
    std::os::unix::fs::symlink(
        "../../../../../../bin/true-nonexistent",
        root.join("sbin/init"),
    )?;
    let c = env.container_on("escape-test", root, &[]);
    ensure!(matches!(block(c.start()), Err(Error::InvalidRootfs { .. })));

    // Unknown keys and bad limits are refused before anything runs, naming key and value.
    let e = InstanceConfig::from_pairs([("limits.memroy", "1GiB")])
        .unwrap_err()
        .to_string();
    ensure!(e.contains("limits.memroy"), "{e}");
    let e = InstanceConfig::from_pairs([("limits.memory", "lots")])
        .unwrap_err()
        .to_string();
    ensure!(e.contains("limits.memory") && e.contains("lots"), "{e}");
    let e = InstanceConfig::from_pairs([("limits.processes", "-1")])
        .unwrap_err()
        .to_string();
    ensure!(e.contains("limits.processes") && e.contains("-1"), "{e}");

    // A name that is not a valid hostname.
    for bad in ["bad_name", "-lead", "9lives", "a.b", ""] {
        match env
            .rt
            .container(bad, env.dir.join("x"), InstanceConfig::default())
        {
            Err(Error::InvalidName { .. }) => {}
            Err(e) => bail!("{bad:?}: wrong error {e}"),
            Ok(_) => bail!("{bad:?} accepted"),
        }
    }

    // A failure inside the monitor (a CPU this host does not have) is reported and undone.
    let c = env.container("badcpu-test", &[("limits.cpu", "63-63")]);
    let err = block(c.start()).unwrap_err().to_string();
    ensure!(err.contains("limits.cpu") && err.contains("63"), "{err}");
    ensure!(
        leftovers(&env, "badcpu-test").is_empty(),
        "{:?}",
        leftovers(&env, "badcpu-test")
    );
    ensure!(block(c.state())?.status == InstanceStatus::Stopped);
    Ok(())
}

pub fn rootfs_below_a_private_directory() -> TestResult {
    // mktemp -d makes 0700 directories: the container's root may not search them, and the
    // rootfs below must still start (and exec and stop).
    let mut env = Env::new("private");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env.dir, std::fs::Permissions::from_mode(0o700))?;
    let c = env.container("private-test", &[]);
    block(c.start())?;
    let out = sh(&c, "hostname; touch /root/x && echo wrote")?;
    ensure!(out.stdout_str() == "private-test\nwrote\n", "{out:?}");
    block(c.stop())?;
    Ok(())
}
