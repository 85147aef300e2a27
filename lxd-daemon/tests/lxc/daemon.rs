//! The daemon itself: restarts, recovery after a kill, `lxd shutdown`, `lxd init`, `lxd sql`,
//! and bad requests.

use std::time::{Duration, Instant};

use crate::check;
use crate::fixture::Daemon;
use crate::TestResult;

fn pid_of(d: &Daemon, name: &str) -> String {
    d.ok(&["list", "-f", "csv", "-c", "np"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name},")).map(str::to_string))
        .unwrap_or_default()
}

pub fn restart_keeps_containers_running() -> TestResult {
    let mut d = Daemon::start("restart");
    d.ok(&["launch", "busybox", "c1"]);
    let pid = pid_of(&d, "c1");
    check!(!pid.is_empty() && pid != "0", "no pid");
    d.terminate();
    check!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "SIGTERM stopped the container"
    );
    d.spawn();
    check!(
        pid_of(&d, "c1") == pid,
        "the container was restarted or lost"
    );
    let out = d.ok(&["exec", "c1", "--", "hostname"]);
    check!(out.trim() == "c1", "exec after restart: {out}");
    // A kill (no cleanup at all) loses nothing either.
    d.kill();
    check!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "SIGKILL of the daemon stopped the container"
    );
    d.spawn();
    check!(pid_of(&d, "c1") == pid, "lost after a daemon kill");
    d.ok(&["stop", "-f", "c1"]);
    Ok(())
}

pub fn interrupted_operations_are_cleaned_up() -> TestResult {
    let mut d = Daemon::start("recover");
    d.ok(&["launch", "busybox", "keep"]);
    d.kill();
    // What a kill in the middle of a create, an import or a restore leaves behind.
    let pool = d.dir.join("storage-pools/default");
    let ghost = pool.join("containers/ghost/rootfs/etc");
    std::fs::create_dir_all(&ghost).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(pool.join("images/0123456789abcdef/rootfs"))
        .map_err(|e| e.to_string())?;
    std::fs::write(d.dir.join("images/lxd_post_deadbeef"), b"half an upload")
        .map_err(|e| e.to_string())?;
    d.spawn();
    check!(
        !pool.join("containers/ghost").exists(),
        "half-made volume left"
    );
    check!(
        !pool.join("images/0123456789abcdef").exists(),
        "half-unpacked image left"
    );
    check!(
        !d.dir.join("images/lxd_post_deadbeef").exists(),
        "half-uploaded image left"
    );
    check!(
        pool.join("containers/keep/rootfs").is_dir(),
        "recovery removed a real volume"
    );
    let list = d.ok(&["list", "-f", "csv", "-c", "ns"]);
    check!(list.trim() == "keep,RUNNING", "{list}");
    Ok(())
}

pub fn shutdown_stops_instances_and_they_come_back() -> TestResult {
    let mut d = Daemon::start("shutdown");
    d.ok(&["launch", "busybox", "c1"]);
    d.ok(&["init", "busybox", "c2"]);
    let pid = pid_of(&d, "c1");
    let out = d.lxd(&["shutdown"]);
    check!(out.code == 0, "lxd shutdown: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !d.exited() {
        check!(Instant::now() < deadline, "the daemon did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    check!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "lxd shutdown left the instance running"
    );
    d.spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = d.ok(&["list", "-f", "csv", "-c", "ns"]);
        if list.contains("c1,RUNNING") {
            check!(list.contains("c2,STOPPED"), "c2 must stay stopped: {list}");
            break;
        }
        check!(
            Instant::now() < deadline,
            "c1 was not started again: {list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

pub fn init_auto_and_sql() -> TestResult {
    let d = Daemon::start_bare("init");
    let out = d.lxd(&["init", "--auto"]);
    check!(out.code == 0, "lxd init --auto: {out:?}");
    let pools = d.ok(&["storage", "list", "-f", "csv"]);
    check!(pools.starts_with("default,dir,"), "{pools}");
    let prof = d.ok(&["profile", "show", "default"]);
    check!(prof.contains("pool: default"), "{prof}");
    let out = d.lxd(&["sql", "global", "SELECT name, description FROM projects"]);
    check!(
        out.stdout == "+---------+---------------------+\n|  name   |     description     |\n+---------+---------------------+\n| default | Default LXD project |\n+---------+---------------------+\n",
        "lxd sql: {out:?}"
    );
    let out = d.lxd(&["sql", "global", ".schema"]);
    check!(
        out.stdout.contains("CREATE TABLE instances")
            && out.stdout.contains("CREATE TABLE storage_pools"),
        "{out:?}"
    );
    let out = d.lxd(&["sql", "local", "SELECT * FROM config"]);
    check!(out.code == 0 && out.stdout.contains("| key |"), "{out:?}");
    let out = d.lxd(&["sql", "global", "SELECT * FROM nosuch"]);
    check!(
        out.code != 0 && out.stderr.contains("Failed to execute query"),
        "{out:?}"
    );
    let out = d.lxd(&[
        "sql",
        "global",
        "UPDATE config SET value = 'x' WHERE key = 'none'",
    ]);
    check!(out.stdout.trim() == "Rows affected: 0", "{out:?}");
    let out = d.lxd(&["waitready", "--timeout", "5"]);
    check!(out.code == 0, "{out:?}");
    Ok(())
}

fn raw(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(d.socket())
        .args([
            "-X",
            method,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@-",
        ])
        .arg(format!("http://lxd{path}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body.as_bytes())?;
            c.wait_with_output()
        })
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

pub fn bad_requests_get_4xx() -> TestResult {
    let d = Daemon::start("badreq");
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(6 << 20));
    let cases: Vec<(&str, String, String)> = vec![
        ("POST", "/1.0/instances".into(), "{not json".into()),
        ("POST", "/1.0/instances".into(), "{\"name\": 5}".into()),
        ("POST", "/1.0/instances".into(), "[]".into()),
        ("POST", "/1.0/instances".into(), "".into()),
        ("POST", "/1.0/instances".into(), huge),
        (
            "POST",
            "/1.0/instances".into(),
            "{\"name\":\"../../etc\",\"source\":{\"type\":\"none\"}}".into(),
        ),
        (
            "PUT",
            "/1.0/instances/nosuch/state".into(),
            "{\"action\":\"start\"}".into(),
        ),
        (
            "PUT",
            "/1.0/instances/x%2F..%2F..%2Fetc/state".into(),
            "{\"action\":\"start\"}".into(),
        ),
        (
            "GET",
            "/1.0/instances/..%2F..%2Fetc%2Fpasswd".into(),
            "".into(),
        ),
        ("GET", "/1.0/images/zz%00".into(), "".into()),
        ("POST", "/1.0/profiles".into(), "{\"name\":\"a/b\"}".into()),
        (
            "POST",
            "/1.0/storage-pools".into(),
            "{\"name\":\"p\",\"driver\":\"nosuch\"}".into(),
        ),
        (
            "POST",
            "/1.0/storage-pools".into(),
            "{\"name\":\"../x\",\"driver\":\"dir\"}".into(),
        ),
        (
            "PUT",
            "/1.0/instances/c1/state".into(),
            "{\"action\":\"explode\"}".into(),
        ),
        (
            "POST",
            "/1.0/images/aliases".into(),
            "{\"name\":\"x\",\"target\":\"nosuch\"}".into(),
        ),
        (
            "GET",
            "/1.0/operations/nosuch/wait?timeout=abc".into(),
            "".into(),
        ),
        ("GET", "/1.0/instances?recursion=999".into(), "".into()),
    ];
    for (method, path, body) in cases {
        let (code, text) = raw(&d, method, &path, &body);
        let ok = (400..500).contains(&code)
            || (code == 202 && text.contains("\"type\":\"async\""))
            || (code == 200 && method == "GET");
        check!(
            ok,
            "{method} {path}: HTTP {code}: {}",
            &text[..text.len().min(300)]
        );
        if code == 202 {
            // Accepted as an operation: it must fail cleanly, not crash.
            let id = text
                .split("/1.0/operations/")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("");
            let (_, op) = raw(
                &d,
                "GET",
                &format!("/1.0/operations/{id}/wait?timeout=10"),
                "",
            );
            check!(
                op.contains("\"status\":\"Failure\""),
                "{method} {path} op: {op}"
            );
        }
    }
    // The daemon survived all of it.
    let info = d.ok(&["info"]);
    check!(info.contains("server_version"), "daemon died");
    check!(
        !std::path::Path::new("/etc/state").exists(),
        "path trick reached the host"
    );
    Ok(())
}
