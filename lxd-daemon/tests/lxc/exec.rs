//! `lxc exec` against the daemon: streams and exit codes, stdin, environment, users, a real
//! terminal with resizing, signals, errors, `record-output` through the API, the operation's
//! shape and lifecycle event, and how long an exec takes.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::check;
use crate::fixture::{Daemon, Out};
use crate::TestResult;

/// An HTTP answer from the daemon.
pub struct Http {
    /// Status code.
    pub status: u16,
    /// Header lines (`name: value`, names lower-cased).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Http {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} {:?}\n{}",
            self.status,
            self.headers,
            self.text()
        )
    }
}

/// One request on the daemon's socket with curl; `body` is sent as is.
pub fn curl(d: &Daemon, method: &str, path: &str, headers: &[&str], body: Option<&[u8]>) -> Http {
    let mut c = Command::new("curl");
    c.args(["-s", "-S", "-i", "--unix-socket"])
        .arg(d.socket())
        .args(["-X", method]);
    if method == "HEAD" {
        c.arg("-I");
    }
    for h in headers {
        c.args(["-H", h]);
    }
    let tmp = body.map(|b| {
        let p = d.dir.join(format!("curl-body-{}", std::process::id()));
        std::fs::write(&p, b).expect("write the request body");
        p
    });
    if let Some(p) = &tmp {
        c.arg("--data-binary").arg(format!("@{}", p.display()));
    }
    c.arg(format!("http://lxd{path}"));
    let out = c.stdin(Stdio::null()).output().expect("run curl");
    if let Some(p) = tmp {
        let _ = std::fs::remove_file(p);
    }
    let raw = out.stdout;
    // Skip interim answers (100 Continue) and split the head from the body.
    let mut rest: &[u8] = &raw;
    loop {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Http {
                status: 0,
                headers: Vec::new(),
                body: raw.clone(),
            };
        };
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let body = &rest[end + 4..];
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if status == 100 {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        return Http {
            status,
            headers,
            body: body.to_vec(),
        };
    }
}

/// Waits for an operation to end and returns it.
pub fn wait_op(d: &Daemon, op_url: &str) -> serde_json::Value {
    wait_op_at(&d.socket(), op_url)
}

/// Waits for an operation of the daemon at `socket` to end and returns it.
fn wait_op_at(socket: &std::path::Path, op_url: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-s", "-S", "--unix-socket"])
        .arg(socket)
        .arg(format!("http://lxd{op_url}/wait?timeout=30"))
        .stdin(Stdio::null())
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&out)
        .map(|v| v["metadata"].clone())
        .unwrap_or(serde_json::Value::Null)
}

/// A command line for `lxc` with this daemon's environment, as text for a shell.
fn lxc_env(d: &Daemon) -> Vec<(String, String)> {
    vec![
        ("LXD_DIR".into(), d.dir.display().to_string()),
        (
            "LXD_CONF".into(),
            d.dir.join("client").display().to_string(),
        ),
    ]
}

/// Runs `sh -c script` under a real terminal (util-linux `script`), feeding `input`.
fn under_pty(d: &Daemon, script: &str, input: &str) -> Out {
    let mut c = Command::new("script");
    c.args(["-qec", script, "/dev/null"])
        .envs(lxc_env(d))
        .env_remove("LXD_SOCKET")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run script");
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_string();
    // Keep the terminal's input open while the command runs: script ends the session when
    // its input ends.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(input.as_bytes());
        std::thread::sleep(Duration::from_secs(8));
        drop(stdin);
    });
    let out = child.wait_with_output().expect("wait for script");
    drop(writer);
    out.into()
}

fn launch(d: &Daemon, name: &str) {
    d.ok(&["launch", "busybox", name]);
}

/// Non-interactive streams, exit codes, stdin, environment, cwd, users and command errors.
pub fn streams_exit_codes_env_and_users() -> TestResult {
    let d = Daemon::start("exec-streams");
    launch(&d, "c1");

    let out = d.lxc(&[
        "exec",
        "c1",
        "--",
        "sh",
        "-c",
        "echo hi; echo err >&2; exit 3",
    ]);
    check!(out.code == 3, "exit code: {out:?}");
    check!(
        out.stdout == "hi\n" && out.stderr == "err\n",
        "streams: {out:?}"
    );

    let out = d.lxc_stdin(&["exec", "c1", "--", "cat"], "data\nmore data\n");
    check!(
        out.code == 0 && out.stdout == "data\nmore data\n",
        "stdin through cat: {out:?}"
    );

    // A large stdin and stdout, both ways at once (more than the pipe buffers).
    let big: String = (0..40_000).map(|i| format!("line {i}\n")).collect();
    let out = d.lxc_stdin(&["exec", "c1", "--", "cat"], &big);
    check!(
        out.code == 0 && out.stdout.len() == big.len() && out.stdout == big,
        "big stdin: {} of {} bytes",
        out.stdout.len(),
        big.len()
    );
    let out = d.lxc_stdin(&["exec", "c1", "--", "wc", "-c"], &big);
    check!(out.stdout.trim() == big.len().to_string(), "wc -c: {out:?}");

    let out = d.lxc(&[
        "exec",
        "c1",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--",
        "sh",
        "-c",
        "echo $FOO; pwd",
    ]);
    check!(
        out.code == 0 && out.stdout == "bar\n/tmp\n",
        "env and cwd: {out:?}"
    );

    // LXD's defaults, the instance's environment.* keys, and the request over both.
    d.ok(&[
        "config",
        "set",
        "c1",
        "environment.FROMCONFIG=cfg",
        "environment.LANG=fr_FR.UTF-8",
    ]);
    let out = d.lxc(&["exec", "c1", "--env", "FOO=bar", "--", "env"]);
    let env: Vec<&str> = out.stdout.lines().collect();
    for want in [
        "HOME=/root",
        "USER=root",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "FOO=bar",
        "FROMCONFIG=cfg",
        "LANG=fr_FR.UTF-8",
    ] {
        check!(env.contains(&want), "exec env lacks {want}: {out:?}");
    }
    let out = d.lxc(&[
        "exec",
        "c1",
        "--env",
        "FROMCONFIG=request",
        "--",
        "sh",
        "-c",
        "echo $FROMCONFIG",
    ]);
    check!(
        out.stdout == "request\n",
        "request env over config: {out:?}"
    );
    let out = d.lxc(&["exec", "c1", "--", "pwd"]);
    check!(
        out.stdout == "/root\n",
        "default cwd is root's home: {out:?}"
    );

    let out = d.lxc(&[
        "exec",
        "c1",
        "--user",
        "1000",
        "--group",
        "1000",
        "--",
        "sh",
        "-c",
        "id -u; id -g; echo home=$HOME",
    ]);
    check!(
        out.code == 0 && out.stdout == "1000\n1000\nhome=\n",
        "user and group: {out:?}"
    );

    let out = d.lxc(&["exec", "c1", "--", "/no/such/command"]);
    check!(
        out.code != 0 && out.stderr.contains("Command not found"),
        "missing command: {out:?}"
    );

    // The output of a command that exits while a child it left behind keeps stdout open
    // still ends (the session does not wait for the child).
    let started = Instant::now();
    let out = d.lxc(&["exec", "c1", "--", "sh", "-c", "sleep 20 & echo parent"]);
    check!(
        out.code == 0 && out.stdout == "parent\n",
        "left-behind child: {out:?}"
    );
    check!(
        started.elapsed() < Duration::from_secs(10),
        "exec waited for a background child: {:?}",
        started.elapsed()
    );
    Ok(())
}

/// A real terminal: `tty`, the initial size from the request, a resize while running, input
/// typed into the terminal, and the exit code.
pub fn interactive_terminal() -> TestResult {
    let d = Daemon::start("exec-pty");
    launch(&d, "c1");

    let out = under_pty(
        &d,
        "stty cols 100 rows 30; lxc exec c1 -- sh -c 'tty; stty size; exit 7'",
        "",
    );
    check!(out.code == 7, "interactive exit code: {out:?}");
    check!(
        out.stdout.contains("/dev/pts/"),
        "no terminal in the container: {out:?}"
    );
    check!(
        out.stdout.contains("30 100"),
        "initial terminal size: {out:?}"
    );

    // The client sends window-resize on SIGWINCH; the size inside follows.
    let out = under_pty(
        &d,
        "stty cols 100 rows 30; (sleep 1.5; stty cols 120 rows 40 </dev/tty) & lxc exec c1 -- sh -c 'stty size; sleep 3; stty size'",
        "",
    );
    check!(
        out.stdout.contains("30 100") && out.stdout.contains("40 120"),
        "resize: {out:?}"
    );

    // Keystrokes go to the command through the terminal.
    let out = under_pty(&d, "lxc exec c1 -- sh", "echo marker-$((6*7)); exit 5\n");
    check!(out.stdout.contains("marker-42"), "typed input: {out:?}");
    check!(out.code == 5, "shell exit code: {out:?}");
    Ok(())
}

/// Starts `lxc` in the background against the daemon.
fn spawn_lxc(d: &Daemon, args: &[&str]) -> Result<std::process::Child, String> {
    Command::new("lxc")
        .args(args)
        .envs(lxc_env(d))
        .env_remove("LXD_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn lxc: {e}"))
}

/// Waits until a process whose command line contains `pattern` runs in `c1`.
fn wait_for_process(d: &Daemon, pattern: &str, child: &mut std::process::Child) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ps = d.lxc(&["exec", "c1", "--", "ps"]);
        if ps.stdout.contains(pattern) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{pattern} never started: {ps:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGINT on the client reaches the command (exit 130); stopped and frozen instances are
/// refused with LXD's messages.
pub fn signals_and_refusals() -> TestResult {
    let d = Daemon::start("exec-signals");
    launch(&d, "c1");

    let mut child = spawn_lxc(&d, &["exec", "c1", "--", "sleep", "30"])?;
    wait_for_process(&d, "sleep 30", &mut child)?;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("lxc exec did not end after SIGINT".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    check!(
        status.code() == Some(130),
        "exit after SIGINT: {status:?} {err}"
    );
    let ps = d.lxc(&["exec", "c1", "--", "ps"]);
    check!(
        !ps.stdout.contains("sleep 30"),
        "sleep survived SIGINT: {ps:?}"
    );

    // A client that dies (no signal message, its sockets just drop) takes the command along.
    let mut child = spawn_lxc(&d, &["exec", "c1", "--", "sleep", "31"])?;
    wait_for_process(&d, "sleep 31", &mut child)?;
    let _ = child.kill();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ps = d.lxc(&["exec", "c1", "--", "ps"]);
        if !ps.stdout.contains("sleep 31") {
            break;
        }
        check!(
            Instant::now() < deadline,
            "the command outlived its killed client: {ps:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    d.ok(&["init", "busybox", "c2"]);
    let out = d.lxc(&["exec", "c2", "--", "true"]);
    check!(
        out.code != 0 && out.stderr.contains("Instance is not running"),
        "stopped: {out:?}"
    );

    d.ok(&["pause", "c1"]);
    let out = d.lxc(&["exec", "c1", "--", "true"]);
    let resumed = d.lxc(&["start", "c1"]);
    check!(
        out.code != 0 && out.stderr.contains("Instance is frozen"),
        "frozen: {out:?}"
    );
    check!(resumed.code == 0, "resume: {resumed:?}");

    let out = d.lxc(&["exec", "nosuch", "--", "true"]);
    check!(
        out.code != 0 && out.stderr.contains("not found"),
        "missing instance: {out:?}"
    );
    Ok(())
}

/// The API side: the websocket operation's shape, `record-output` to log files read back
/// through the logs endpoint, output discarded otherwise, the lifecycle event, bad requests,
/// and the time an exec takes.
pub fn api_record_output_and_timing() -> TestResult {
    let d = Daemon::start("exec-api");
    launch(&d, "c1");
    let json = ["Content-Type: application/json"];

    // The operation's metadata before any socket is connected.
    let body = br#"{"command":["true"],"wait-for-websocket":true,"interactive":false,"environment":{"TERM":"xterm"},"width":0,"height":0,"record-output":false,"user":0,"group":0,"cwd":""}"#;
    let r = curl(&d, "POST", "/1.0/instances/c1/exec", &json, Some(body));
    check!(r.status == 202, "exec POST: {r:?}");
    let op = &r.json()["metadata"];
    check!(
        op["class"] == "websocket" && op["description"] == "Executing command",
        "op: {op}"
    );
    check!(
        op["resources"]["instances"][0] == "/1.0/instances/c1"
            && op["resources"]["containers"][0] == "/1.0/containers/c1",
        "resources: {op}"
    );
    let md = &op["metadata"];
    let fds = md["fds"].as_object().cloned().unwrap_or_default();
    let mut keys: Vec<&String> = fds.keys().collect();
    keys.sort();
    check!(keys == ["0", "1", "2", "control"], "fds: {md}");
    check!(
        fds.values()
            .all(|v| v.as_str().is_some_and(|s| s.len() == 64)),
        "secrets: {md}"
    );
    check!(
        md["command"] == serde_json::json!(["true"]) && md["interactive"] == false,
        "metadata: {md}"
    );
    let env = &md["environment"];
    check!(
        env["HOME"] == "/root"
            && env["USER"] == "root"
            && env["LANG"] == "C.UTF-8"
            && env["TERM"] == "xterm",
        "environment: {env}"
    );
    check!(
        env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PATH: {env}"
    );
    // A wrong secret is refused.
    let id = op["id"].as_str().unwrap_or_default().to_string();
    // Its end is awaited from now on, in the background (it gives up 15 s after creation).
    let unconnected = {
        let (socket, op_url) = (d.socket(), format!("/1.0/operations/{id}"));
        std::thread::spawn(move || wait_op_at(&socket, &op_url))
    };
    let r = curl(
        &d,
        "GET",
        &format!("/1.0/operations/{id}/websocket?secret=nope"),
        &[
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ],
        None,
    );
    check!(r.status >= 400, "bad secret accepted: {r:?}");

    let body = br#"{"command":["sh","-c","echo out; echo err >&2; exit 4"],"wait-for-websocket":false,"record-output":true}"#;
    let r = curl(&d, "POST", "/1.0/instances/c1/exec", &json, Some(body));
    check!(r.status == 202, "record-output POST: {r:?}");
    let op_url = r.header("location").unwrap_or_default().to_string();
    let op = wait_op(&d, &op_url);
    check!(
        op["status"] == "Success" && op["metadata"]["return"] == 4,
        "record-output op: {op}"
    );
    let out1 = op["metadata"]["output"]["1"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out2 = op["metadata"]["output"]["2"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let opid = op["id"].as_str().unwrap_or_default();
    check!(
        out1 == format!("/1.0/instances/c1/logs/exec_{opid}.stdout"),
        "stdout log url: {op}"
    );
    let r = curl(&d, "GET", &out1, &[], None);
    check!(r.status == 200 && r.body == b"out\n", "stdout log: {r:?}");
    let r = curl(&d, "GET", &out2, &[], None);
    check!(r.status == 200 && r.body == b"err\n", "stderr log: {r:?}");
    let r = curl(&d, "GET", "/1.0/instances/c1/logs", &[], None);
    check!(
        r.text().contains(&format!("exec_{opid}.stdout")),
        "logs list: {r:?}"
    );

    let body = br#"{"command":["sh","-c","echo gone; exit 0"],"wait-for-websocket":false,"record-output":false}"#;
    let r = curl(&d, "POST", "/1.0/instances/c1/exec", &json, Some(body));
    let op = wait_op(&d, r.header("location").unwrap_or_default());
    check!(
        op["status"] == "Success"
            && op["metadata"]["return"] == 0
            && op["metadata"].get("output").is_none(),
        "discarded output: {op}"
    );

    let body = br#"{"command":["true"],"wait-for-websocket":true,"record-output":true}"#;
    let r = curl(&d, "POST", "/1.0/instances/c1/exec", &json, Some(body));
    check!(
        r.status == 400 && r.text().contains("record-output"),
        "record-output with websockets: {r:?}"
    );
    let body = br#"{"command":[],"wait-for-websocket":true}"#;
    let r = curl(&d, "POST", "/1.0/instances/c1/exec", &json, Some(body));
    check!(r.status == 400, "empty command: {r:?}");

    // The lifecycle event carries the command and no requestor.
    let mut monitor = Command::new("lxc")
        .args(["monitor", "--type=lifecycle", "--format=json"])
        .envs(lxc_env(&d))
        .env_remove("LXD_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("lxc monitor: {e}"))?;
    std::thread::sleep(Duration::from_millis(700));
    let out = d.lxc(&["exec", "c1", "--", "true"]);
    std::thread::sleep(Duration::from_millis(500));
    let _ = monitor.kill();
    let mut events = String::new();
    if let Some(mut s) = monitor.stdout.take() {
        let _ = s.read_to_string(&mut events);
    }
    let _ = monitor.wait();
    check!(out.code == 0, "exec true: {out:?}");
    let exec_event = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["metadata"]["action"] == "instance-exec");
    match exec_event {
        Some(e) => check!(
            e["metadata"]["context"]["command"] == serde_json::json!(["true"])
                && e["metadata"]["source"] == "/1.0/instances/c1",
            "instance-exec event: {e}"
        ),
        None => return Err(format!("no instance-exec event in: {events}")),
    }

    // The operation whose sockets were never connected gives up (15 s after its creation).
    let op = unconnected
        .join()
        .map_err(|_| "waiting thread".to_string())?;
    check!(
        op["status"] == "Failure" && op["err"] == "Timed out waiting for websockets to connect",
        "unconnected exec: {op}"
    );

    // How long `lxc exec c1 -- true` takes end to end (client start included).
    let runs = 10;
    let started = Instant::now();
    for _ in 0..runs {
        let out = d.lxc(&["exec", "c1", "--", "true"]);
        check!(out.code == 0, "exec true: {out:?}");
    }
    let each = started.elapsed() / runs;
    println!("lxc exec c1 -- true: {each:?} per run (average of {runs})");
    check!(
        each < Duration::from_secs(1),
        "exec is slow: {each:?} per run"
    );
    Ok(())
}

/// `lxc console`: the container's console on a terminal, typed input reaching its shell, and
/// ctrl+a q detaching while the container keeps running.
pub fn console_attach_and_detach() -> TestResult {
    let d = Daemon::start("console");
    launch(&d, "c1");
    let mut c = Command::new("script");
    c.args(["-qec", "stty cols 90 rows 20; lxc console c1", "/dev/null"])
        .envs(lxc_env(&d))
        .env_remove("LXD_SOCKET")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        std::thread::sleep(Duration::from_millis(1500));
        // Enter activates busybox's console shell; then a command, then ctrl+a q.
        let _ = stdin.write_all(b"\n");
        std::thread::sleep(Duration::from_millis(700));
        let _ = stdin.write_all(b"echo console-$((6*7)); stty size\n");
        std::thread::sleep(Duration::from_millis(1500));
        // The client only sees the escape when ctrl+a and q arrive in separate reads.
        let _ = stdin.write_all(b"\x01");
        let _ = stdin.flush();
        std::thread::sleep(Duration::from_millis(300));
        let _ = stdin.write_all(b"q");
        std::thread::sleep(Duration::from_secs(3));
        drop(stdin);
    });
    let out: Out = child.wait_with_output().map_err(|e| e.to_string())?.into();
    let _ = writer.join();
    check!(out.code == 0, "lxc console: {out:?}");
    check!(
        out.stdout.contains("console-42"),
        "the console shell ran the typed command: {out:?}"
    );
    check!(out.stdout.contains("20 90"), "console size: {out:?}");
    let state = d.ok(&["list", "c1", "-c", "s", "-f", "csv"]);
    check!(state.trim() == "RUNNING", "detaching stopped c1: {state}");
    // The log shows what went over the console.
    let log = d.ok(&["console", "c1", "--show-log"]);
    check!(log.contains("console-42"), "{log}");
    Ok(())
}
