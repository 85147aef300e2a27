//! Instance commands of the acceptance list, with the real `lxc` client.

use std::time::{Duration, Instant};

use crate::check;
use crate::fixture::Daemon;
use crate::TestResult;

fn state(d: &Daemon, name: &str) -> String {
    d.ok(&["list", "-f", "csv", "-c", "ns"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name},")).map(str::to_string))
        .unwrap_or_default()
}

pub fn launch_options_pools_and_storage_commands() -> TestResult {
    let d = Daemon::start("launch");
    d.ok(&["storage", "create", "bt", "btrfs", "size=1GiB"]);
    d.ok(&[
        "launch",
        "busybox",
        "c2",
        "-s",
        "bt",
        "-c",
        "limits.memory=64MiB",
        "-p",
        "default",
    ]);
    check!(
        d.ok(&["config", "get", "c2", "limits.memory"]).trim() == "64MiB",
        "limits.memory"
    );
    check!(state(&d, "c2") == "RUNNING", "c2 not running");
    let show = d.ok(&["config", "show", "c2", "--expanded"]);
    check!(show.contains("pool: bt"), "root disk not on bt: {show}");
    d.ok(&["init", "busybox", "c3"]);
    check!(state(&d, "c3") == "STOPPED", "init must not start");
    let pools = d.ok(&["storage", "list"]);
    check!(
        pools.contains("| bt ") && pools.contains("| default ") && pools.contains("CREATED"),
        "{pools}"
    );
    let info = d.ok(&["storage", "info", "bt"]);
    check!(
        info.contains("driver: btrfs") && info.contains("total space"),
        "{info}"
    );
    check!(info.contains("c2"), "storage info used by: {info}");
    let vols = d.ok(&["storage", "volume", "list", "bt"]);
    check!(
        vols.contains("container") && vols.contains("c2") && vols.contains("image"),
        "{vols}"
    );
    let vols = d.ok(&["storage", "volume", "list", "default"]);
    check!(vols.contains("c3"), "{vols}");
    Ok(())
}

pub fn list_formats() -> TestResult {
    let d = Daemon::start("list");
    d.ok(&["launch", "busybox", "c1"]);
    d.ok(&["init", "busybox", "c2"]);
    let table = d.ok(&["list"]);
    check!(
        table.contains("NAME") && table.contains("STATE") && table.contains("| c1   | RUNNING |"),
        "{table}"
    );
    check!(table.contains("CONTAINER"), "{table}");
    let json = d.ok(&["list", "-f", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| format!("{e}: {json}"))?;
    let arr = v.as_array().ok_or("not an array")?;
    check!(arr.len() == 2, "{json}");
    let c1 = arr.iter().find(|i| i["name"] == "c1").ok_or("no c1")?;
    check!(
        c1["status"] == "Running" && c1["state"]["pid"].as_i64().unwrap_or(0) > 0,
        "{c1}"
    );
    check!(c1["state"]["network"]["lo"]["type"] == "loopback", "{c1}");
    let csv = d.ok(&["list", "-c", "ns4", "-f", "csv"]);
    check!(csv.lines().any(|l| l.starts_with("c1,RUNNING,")), "{csv}");
    check!(csv.lines().any(|l| l.starts_with("c2,STOPPED,")), "{csv}");
    Ok(())
}

pub fn state_commands() -> TestResult {
    let d = Daemon::start("state");
    d.ok(&["launch", "busybox", "c1"]);
    let t = Instant::now();
    d.ok(&["stop", "c1"]);
    check!(state(&d, "c1") == "STOPPED", "graceful stop");
    check!(t.elapsed() < Duration::from_secs(30), "graceful stop hung");
    d.ok(&["start", "c1"]);
    check!(state(&d, "c1") == "RUNNING", "start");
    let pid1 = d.ok(&["list", "-f", "csv", "-c", "p"]);
    d.ok(&["restart", "c1"]);
    check!(state(&d, "c1") == "RUNNING", "restart");
    let pid2 = d.ok(&["list", "-f", "csv", "-c", "p"]);
    check!(pid1 != pid2, "restart kept the same init: {pid1} {pid2}");
    d.ok(&["restart", "-f", "c1"]);
    d.ok(&["pause", "c1"]);
    check!(state(&d, "c1") == "FROZEN", "pause: {}", state(&d, "c1"));
    let out = d.lxc(&["exec", "c1", "--", "true"]);
    check!(
        out.code != 0 && out.stderr.contains("Instance is frozen"),
        "exec frozen: {out:?}"
    );
    d.ok(&["start", "c1"]);
    check!(state(&d, "c1") == "RUNNING", "unfreeze");
    d.ok(&["stop", "-f", "c1"]);
    check!(state(&d, "c1") == "STOPPED", "stop -f");
    Ok(())
}

pub fn snapshot_restore_copy_move_delete() -> TestResult {
    let d = Daemon::start("snap");
    d.ok(&["launch", "busybox", "c1"]);
    d.ok(&["exec", "c1", "--", "sh", "-c", "echo one > /root/f"]);
    d.ok(&["snapshot", "c1", "s1"]);
    d.ok(&["exec", "c1", "--", "sh", "-c", "echo two > /root/f"]);
    d.ok(&["restore", "c1", "s1"]);
    let f = d.ok(&["exec", "c1", "--", "cat", "/root/f"]);
    check!(f.trim() == "one", "restore: {f}");
    check!(
        state(&d, "c1") == "RUNNING",
        "restore of a running instance restarts it"
    );
    let info = d.ok(&["info", "c1"]);
    check!(
        info.contains("Name: c1") && info.contains("Status: RUNNING") && info.contains("| s1 "),
        "{info}"
    );
    d.ok(&["snapshot", "c1"]);
    let info = d.ok(&["info", "c1"]);
    check!(info.contains("snap0"), "default snapshot name: {info}");
    d.ok(&["copy", "c1", "c4"]);
    let info = d.ok(&["info", "c4"]);
    check!(
        info.contains("| s1 ") && info.contains("snap0"),
        "copy keeps snapshots: {info}"
    );
    d.ok(&["start", "c4"]);
    check!(
        d.ok(&["exec", "c4", "--", "hostname"]).trim() == "c4",
        "copy hostname template"
    );
    d.ok(&["exec", "c4", "--", "sh", "-c", "echo changed > /root/f"]);
    check!(
        d.ok(&["exec", "c1", "--", "cat", "/root/f"]).trim() == "one",
        "copy not independent"
    );
    d.ok(&["stop", "-f", "c4"]);
    d.ok(&["move", "c4", "c5"]);
    let list = d.ok(&["list", "-f", "csv", "-c", "n"]);
    check!(list.contains("c5") && !list.contains("c4"), "{list}");
    d.ok(&["delete", "c1/snap0"]);
    let info = d.ok(&["info", "c1"]);
    check!(!info.contains("snap0"), "snapshot delete: {info}");
    d.ok(&["delete", "-f", "c1"]);
    d.ok(&["delete", "c5"]);
    check!(
        d.ok(&["list", "-f", "csv", "-c", "n"]).trim().is_empty(),
        "delete"
    );
    Ok(())
}

pub fn config_and_devices() -> TestResult {
    let d = Daemon::start("config");
    d.ok(&["launch", "busybox", "c1"]);
    d.ok(&["config", "set", "c1", "limits.memory", "128MiB"]);
    check!(
        d.ok(&["config", "get", "c1", "limits.memory"]).trim() == "128MiB",
        "get"
    );
    // Applied to the running container at once.
    let pid: String = d.ok(&["list", "-f", "csv", "-c", "p"]).trim().to_string();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|e| e.to_string())?;
    let mem = cg
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
        .ok_or("no memory cgroup")?;
    let limit =
        std::fs::read_to_string(format!("/sys/fs/cgroup/memory{mem}/memory.limit_in_bytes"))
            .map_err(|e| e.to_string())?;
    check!(
        limit.trim() == (128u64 << 20).to_string(),
        "live limit {limit}"
    );
    let show = d.ok(&["config", "show", "c1"]);
    check!(
        show.contains("limits.memory: 128MiB") && show.contains("volatile.uuid"),
        "{show}"
    );
    let edited = show.replace(
        "limits.memory: 128MiB",
        "limits.memory: 100MiB\n  user.note: edited",
    );
    let out = d.lxc_stdin(&["config", "edit", "c1"], &edited);
    check!(out.code == 0, "config edit: {out:?}");
    check!(
        d.ok(&["config", "get", "c1", "user.note"]).trim() == "edited",
        "edit"
    );
    let src = d.dir.join("shared");
    std::fs::create_dir_all(&src).map_err(|e| e.to_string())?;
    d.ok(&[
        "config",
        "device",
        "add",
        "c1",
        "d1",
        "disk",
        &format!("source={}", src.display()),
        "path=/mnt/shared",
    ]);
    let show = d.ok(&["config", "show", "c1"]);
    check!(
        show.contains("d1:") && show.contains("path: /mnt/shared"),
        "{show}"
    );
    // Hot-plugged into the running container, and there again after a restart.
    std::fs::write(src.join("hello"), "from the host\n").map_err(|e| e.to_string())?;
    let seen = d.ok(&["exec", "c1", "--", "cat", "/mnt/shared/hello"]);
    check!(seen.trim() == "from the host", "hot-plugged mount: {seen}");
    d.ok(&["restart", "-f", "c1"]);
    let seen = d.ok(&["exec", "c1", "--", "cat", "/mnt/shared/hello"]);
    check!(
        seen.trim() == "from the host",
        "mount after restart: {seen}"
    );
    d.ok(&["config", "device", "remove", "c1", "d1"]);
    check!(
        !d.ok(&["config", "show", "c1"]).contains("d1:"),
        "device remove"
    );
    let gone = d.lxc(&["exec", "c1", "--", "cat", "/mnt/shared/hello"]);
    check!(gone.code != 0, "unplugged mount still visible: {gone:?}");
    let bad = d.lxc(&[
        "config",
        "device",
        "add",
        "c1",
        "d2",
        "disk",
        "source=/nonexistent-dir-xyz",
        "path=/mnt/x",
    ]);
    check!(
        bad.code != 0 && bad.stderr.contains("does not exist"),
        "{bad:?}"
    );
    check!(
        !d.ok(&["config", "show", "c1"]).contains("d2:"),
        "a failed hot-plug must not be recorded"
    );
    Ok(())
}

pub fn profiles() -> TestResult {
    let d = Daemon::start("profiles");
    let list = d.ok(&["profile", "list"]);
    check!(list.contains("default"), "{list}");
    let show = d.ok(&["profile", "show", "default"]);
    check!(
        show.contains("pool: default") && show.contains("type: disk"),
        "{show}"
    );
    d.ok(&["profile", "create", "p1"]);
    let out = d.lxc_stdin(
        &["profile", "edit", "p1"],
        "config:\n  limits.cpu: \"1\"\ndescription: test profile\ndevices: {}\n",
    );
    check!(out.code == 0, "profile edit: {out:?}");
    let show = d.ok(&["profile", "show", "p1"]);
    check!(
        show.contains("limits.cpu: \"1\"") && show.contains("test profile"),
        "{show}"
    );
    d.ok(&["launch", "busybox", "c1", "-p", "default", "-p", "p1"]);
    let nproc = d.ok(&["exec", "c1", "--", "nproc"]);
    check!(nproc.trim() == "1", "profile limit not applied: {nproc}");
    let show = d.ok(&["profile", "show", "p1"]);
    check!(show.contains("/1.0/instances/c1"), "used_by: {show}");
    let out = d.lxc(&["profile", "delete", "p1"]);
    check!(out.code != 0, "deleting a used profile must fail: {out:?}");
    let bad = d.lxc_stdin(
        &["profile", "edit", "p1"],
        "config:\n  limits.memory: lots\ndevices: {}\n",
    );
    check!(bad.code != 0 && bad.stderr.contains("lots"), "{bad:?}");
    Ok(())
}

pub fn operations_monitor_console() -> TestResult {
    let d = Daemon::start("monitor");
    let out = d.ok(&["operation", "list"]);
    check!(out.contains("ID") && out.contains("STATUS"), "{out}");
    let mon = std::process::Command::new("lxc")
        .env("LXD_DIR", &d.dir)
        .env("LXD_CONF", d.dir.join("client"))
        .args(["monitor", "--type=lifecycle", "--format=json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(300));
    d.ok(&["launch", "busybox", "c1"]);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(mon.id() as i32, libc::SIGTERM) };
    let out = mon.wait_with_output().map_err(|e| e.to_string())?;
    let events = String::from_utf8_lossy(&out.stdout);
    check!(
        events.contains("instance-created") && events.contains("instance-started"),
        "events: {events}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = d.ok(&["console", "c1", "--show-log"]);
        if log.contains("busybox container c1 booted") {
            break;
        }
        check!(Instant::now() < deadline, "console log: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

pub fn error_envelopes() -> TestResult {
    let d = Daemon::start("errors");
    let out = d.lxc(&["info", "nosuch"]);
    check!(
        out.code != 0 && out.stderr.contains("Error: Instance not found"),
        "{out:?}"
    );
    d.ok(&["launch", "busybox", "c1"]);
    let out = d.lxc(&["launch", "busybox", "c1"]);
    check!(
        out.code != 0 && out.stderr.contains("already exists"),
        "{out:?}"
    );
    let out = d.lxc(&["config", "set", "c1", "limits.memory", "lots"]);
    check!(
        out.code != 0 && out.stderr.contains("Invalid config") && out.stderr.contains("lots"),
        "{out:?}"
    );
    let out = d.lxc(&["config", "set", "c1", "no.such.key", "1"]);
    check!(
        out.code != 0
            && out
                .stderr
                .contains("Unknown configuration key: no.such.key"),
        "{out:?}"
    );
    let out = d.lxc(&["start", "c1"]);
    check!(
        out.code != 0 && out.stderr.contains("The instance is already running"),
        "{out:?}"
    );
    let out = d.lxc(&["launch", "nosuchimage", "cx"]);
    check!(out.code != 0 && out.stderr.contains("not found"), "{out:?}");
    let out = d.lxc(&["launch", "busybox", "bad_name"]);
    check!(
        out.code != 0 && out.stderr.contains("Invalid instance name"),
        "{out:?}"
    );
    d.ok(&["stop", "-f", "c1"]);
    let out = d.lxc(&["stop", "c1"]);
    check!(
        out.code != 0 && out.stderr.contains("The instance is already stopped"),
        "{out:?}"
    );
    let out = d.lxc(&["exec", "c1", "--", "true"]);
    check!(
        out.code != 0 && out.stderr.contains("Instance is not running"),
        "{out:?}"
    );
    Ok(())
}
