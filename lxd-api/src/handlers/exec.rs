//! `POST /1.0/instances/NAME/exec`: runs a command in a running container.
//!
//! With `wait-for-websocket` the answer is a websocket-class operation whose metadata carries
//! one secret per stream (`0`, `1`, `2` and `control`; interactive: `0` and `control`). Once
//! the client has connected the streams, the command starts (on pipes, or on a pty of the
//! requested size) and its data is pumped in binary frames, an empty text frame meaning EOF in
//! both directions. The control socket carries `window-resize` and `signal` messages. The exit
//! code lands in the operation's metadata as `return` (128 + signal when killed). Without
//! websockets the command runs as a task, its output recorded to log files
//! (`record-output`) or discarded.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use lxd_core::runtime::exec_client::ExecProcess;
use lxd_core::{Container, ExecCommand, ExecStdio, Instance, InstanceStatus, WindowSize};
use serde_json::{json, Map, Value};
use tokio::io::unix::AsyncFd;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::instances::resources;
use super::util::{task, url};
use crate::server::operations::secret;
use crate::server::ws::WebSocket;
use crate::server::{ApiError, ApiState, NewOp, OpClass, Operation, Reply, Req};
use crate::types::{InstanceExecControl, InstanceExecPost};

/// How long the client has to connect every required websocket.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Once the command has exited, how long to wait for more output from processes it left
/// behind that still hold its stdout or stderr.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);
/// How long the client may take to read the last output before the sockets are dropped.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// LXD's default `PATH`.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why an exec failed, with the instance or file concerned.
#[derive(Debug, thiserror::Error)]
enum ExecError {
    /// The client did not connect every websocket in time.
    #[error("Timed out waiting for websockets to connect")]
    NotConnected {
        /// The instance.
        instance: String,
    },
    /// An output log could not be created.
    #[error("Failed to create exec output file {path}: {source}")]
    OutputFile {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A stream of the command could not be set up.
    #[error("Failed to set up stream {fd} of the command in {instance}: {source}")]
    Stream {
        /// The instance.
        instance: String,
        /// Stream name.
        fd: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The command's end could not be observed.
    #[error("Failed waiting for the command in {instance}: {source}")]
    Wait {
        /// The instance.
        instance: String,
        /// The cause.
        source: lxd_core::Error,
    },
}

impl From<ExecError> for ApiError {
    fn from(e: ExecError) -> Self {
        if let ExecError::NotConnected { instance } = &e {
            tracing::debug!(%instance, "exec websockets not connected in time");
        }
        ApiError::internal(e.to_string())
    }
}

/// What a command runs with, resolved from the request.
#[derive(Clone)]
struct Job {
    project: String,
    name: String,
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: String,
    uid: u32,
    gid: u32,
}

impl Job {
    fn command(&self) -> ExecCommand {
        ExecCommand {
            argv: self.argv.clone(),
            env: self.env.clone(),
            cwd: (!self.cwd.is_empty()).then(|| self.cwd.clone()),
            uid: self.uid,
            gid: self.gid,
            ..Default::default()
        }
    }

    /// Announces the start of the command (LXD's `instance-exec`, without requestor).
    fn announce(&self, st: &ApiState) {
        st.events.send(
            "lifecycle",
            &self.project,
            json!({
                "action": "instance-exec",
                "source": url(&format!("/1.0/instances/{}", self.name), &self.project),
                "context": {"command": self.argv},
            }),
        );
    }
}

/// Starts a command in an instance.
pub async fn post(
    st: Arc<ApiState>,
    mut req: Req,
    project: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let body: InstanceExecPost = req.json().await?;
    if body.record_output && body.wait_for_websocket {
        return Err(ApiError::bad_request(
            "Cannot use \"record-output\" in combination with \"wait-for-websocket\"",
        ));
    }
    if body.interactive && body.record_output {
        return Err(ApiError::bad_request(
            "Cannot use \"interactive\" in combination with \"record-output\"",
        ));
    }
    if body.command.is_empty() {
        return Err(ApiError::bad_request("Missing command"));
    }
    let c = st.lxd.container(project, name).await?;
    let state = c.state().await?;
    match state.status {
        InstanceStatus::Running => {}
        InstanceStatus::Frozen => return Err(ApiError::bad_request("Instance is frozen")),
        InstanceStatus::Stopped | InstanceStatus::Error => {
            return Err(ApiError::bad_request("Instance is not running"))
        }
    }
    let env = environment(&c, &body, state.pid);
    let job = Job {
        project: project.to_string(),
        name: name.to_string(),
        argv: body.command.clone(),
        env,
        cwd: body.cwd.clone(),
        uid: body.user,
        gid: body.group,
    };
    let res = resources(project, &[name]);
    if body.wait_for_websocket {
        websocket_op(&st, c, job, &body, &res)
    } else {
        task_op(&st, c, job, body.record_output, &res)
    }
}

/// The command's environment as LXD builds it: the request's variables, the instance's
/// `environment.*` keys under them, then `PATH`, `HOME`, `USER` (root only) and `LANG` where
/// missing. The runtime adds the same defaults, so the process gets exactly this.
fn environment(
    c: &Container,
    body: &InstanceExecPost,
    init_pid: Option<i32>,
) -> BTreeMap<String, String> {
    let mut env = body.environment.clone();
    for (k, v) in c.config().environment() {
        env.entry(k).or_insert(v);
    }
    if !env.contains_key("PATH") {
        let mut path = DEFAULT_PATH.to_string();
        if let Some(pid) = init_pid {
            for (marker, extra) in [
                ("/snap", "/snap/bin"),
                ("/etc/NIXOS", "/run/current-system/sw/bin"),
            ] {
                if super::files::exists_in_container(pid, marker) {
                    path.push(':');
                    path.push_str(extra);
                }
            }
        }
        env.insert("PATH".into(), path);
    }
    if body.user == 0 {
        env.entry("HOME".into()).or_insert_with(|| "/root".into());
        env.entry("USER".into()).or_insert_with(|| "root".into());
    }
    env.entry("LANG".into()).or_insert_with(|| "C.UTF-8".into());
    env
}

/// Turns a failed start into LXD's exit code and message: 127 "Command not found", 126
/// "Command not executable", else -1 and the runtime's message.
fn start_failure(e: lxd_core::Error) -> (i64, ApiError) {
    let text = match &e {
        lxd_core::Error::Exec { message, .. } => message.clone(),
        other => other.to_string(),
    };
    if text.starts_with("Command not found") {
        (127, ApiError::bad_request("Command not found"))
    } else if text.starts_with("Permission denied") {
        (126, ApiError::bad_request("Command not executable"))
    } else {
        (-1, ApiError::from(e))
    }
}

/// LXD turns these exit codes into operation failures.
fn exit_result(code: i64) -> Result<(), ApiError> {
    match code {
        127 => Err(ApiError::bad_request("Command not found")),
        126 => Err(ApiError::bad_request("Command not executable")),
        _ => Ok(()),
    }
}

/// Runs the command as a task: stdin from `/dev/null`, output recorded or discarded.
fn task_op(
    st: &Arc<ApiState>,
    c: Container,
    job: Job,
    record: bool,
    res: &[(&'static str, String)],
) -> Result<Reply, ApiError> {
    let new = NewOp::task(&job.project, "Executing command", res);
    let st2 = st.clone();
    task(st, new, move |op| async move {
        let mut cmd = job.command();
        let mut output = None;
        if record {
            let dir = c.paths().log_dir.clone();
            let mut urls = Map::new();
            for (fd, ext) in [("1", "stdout"), ("2", "stderr")] {
                let file = format!("exec_{}.{ext}", op.id);
                let path = dir.join(&file);
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|source| ExecError::OutputFile { path, source })?;
                let stdio = ExecStdio::Fd(OwnedFd::from(f));
                if fd == "1" {
                    cmd.stdout = stdio;
                } else {
                    cmd.stderr = stdio;
                }
                let u = url(
                    &format!("/1.0/instances/{}/logs/{file}", job.name),
                    &job.project,
                );
                urls.insert(fd.to_string(), Value::String(u));
            }
            output = Some(Value::Object(urls));
        }
        let process = match c.exec(cmd).await {
            Ok(p) => p,
            Err(e) => {
                let (code, err) = start_failure(e);
                op.set_metadata("return", json!(code));
                return Err(err);
            }
        };
        job.announce(&st2);
        let code = process.wait().await.map_err(|source| ExecError::Wait {
            instance: job.name.clone(),
            source,
        })?;
        if let Some(o) = output {
            op.set_metadata("output", o);
        }
        op.set_metadata("return", json!(code));
        exit_result(i64::from(code))
    })
}

/// The receivers of an exec operation's websockets, registered before the client can see
/// the secrets.
struct Sockets {
    /// `0` (and `1`, `2` when not interactive), in order.
    fds: Vec<oneshot::Receiver<WebSocket>>,
    control: oneshot::Receiver<WebSocket>,
}

fn websocket_op(
    st: &Arc<ApiState>,
    c: Container,
    job: Job,
    body: &InstanceExecPost,
    res: &[(&'static str, String)],
) -> Result<Reply, ApiError> {
    let interactive = body.interactive;
    let names: &[&str] = if interactive {
        &["0"]
    } else {
        &["0", "1", "2"]
    };
    let mut secrets: Vec<(String, String)> =
        names.iter().map(|n| (n.to_string(), secret())).collect();
    secrets.push(("control".into(), secret()));
    let fds: Map<String, Value> = secrets
        .iter()
        .map(|(n, s)| (n.clone(), Value::String(s.clone())))
        .collect();
    let mut new = NewOp::task(&job.project, "Executing command", res);
    new.class = OpClass::Websocket;
    new.metadata = Map::from_iter([
        ("command".to_string(), json!(job.argv)),
        ("environment".to_string(), json!(job.env)),
        ("fds".to_string(), Value::Object(fds)),
        ("interactive".to_string(), json!(interactive)),
    ]);
    let size = WindowSize {
        cols: u16::try_from(body.width).unwrap_or(0),
        rows: u16::try_from(body.height).unwrap_or(0),
    };
    let (hand_over, receive) = oneshot::channel::<Sockets>();
    let st2 = st.clone();
    let op = st.ops.spawn(new, move |op| async move {
        let sockets = receive
            .await
            .map_err(|_| ApiError::internal("exec websockets were not registered"))?;
        let session = Session {
            st: st2,
            op,
            c,
            job,
            pty: interactive.then_some(size),
        };
        session.run(sockets).await
    });
    // The secrets are registered before the client can learn them from the answer.
    let mut receivers: Vec<oneshot::Receiver<WebSocket>> =
        secrets.iter().map(|(_, s)| op.expect_socket(s)).collect();
    let control = receivers.pop().expect("the control secret is always there");
    let _ = hand_over.send(Sockets {
        fds: receivers,
        control,
    });
    Ok(Reply::Async(op.to_json(), op.url()))
}

/// A non-blocking descriptor (pipe end or pty master) driven by the tokio reactor.
struct AsyncStream {
    fd: AsyncFd<OwnedFd>,
}

impl AsyncStream {
    fn new(fd: OwnedFd) -> std::io::Result<Self> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
        // SAFETY: the AsyncFd owns the descriptor, which stays open and the same until the
        // AsyncFd is dropped.
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(AsyncStream { fd })
    }

    /// Reads some bytes; 0 at EOF (a pty master's EIO, once every slave is closed, is EOF).
    async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard
                .try_io(|fd| nix::unistd::read(fd.as_raw_fd(), buf).map_err(std::io::Error::from))
            {
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| {
                nix::unistd::write(fd.get_ref().as_fd(), data).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

/// Waits for one websocket and sends it LXD's keepalive ping, as LXD does right after each
/// upgrade.
async fn connected(rx: oneshot::Receiver<WebSocket>) -> Result<WebSocket, ()> {
    let mut ws = rx.await.map_err(drop)?;
    let _ = ws
        .send(Message::Ping(Bytes::from_static(b"keepalive")))
        .await;
    Ok(ws)
}

/// The streams of a started command, taken out of its [`ExecProcess`].
enum Streams {
    /// The terminal's master side.
    Pty(OwnedFd),
    /// stdin, stdout, stderr.
    Pipes(OwnedFd, OwnedFd, OwnedFd),
}

/// One exec with websockets.
struct Session {
    st: Arc<ApiState>,
    op: Arc<Operation>,
    c: Container,
    job: Job,
    /// The terminal size of an interactive exec.
    pty: Option<WindowSize>,
}

/// The tasks moving a command's data.
struct Pumps {
    /// Output to the client; each returns its socket half so it stays open until the end.
    outputs: Vec<JoinHandle<Option<SplitSink<WebSocket, Message>>>>,
    /// Everything else (input, socket readers), aborted at the end.
    others: Vec<JoinHandle<()>>,
    /// Socket halves kept open until the end.
    keep: Vec<SplitStream<WebSocket>>,
}

impl Session {
    async fn run(self, sockets: Sockets) -> Result<(), ApiError> {
        let interactive = self.pty.is_some();
        let (exited_tx, exited) = watch::channel(false);
        let (ready_tx, control_ready) = watch::channel(false);
        let (proc_tx, proc_rx) = oneshot::channel::<Arc<ExecProcess>>();
        let control_task = tokio::spawn(control_loop(
            sockets.control,
            ready_tx,
            proc_rx,
            exited.clone(),
            interactive,
        ));

        // LXD requires the control socket only in interactive mode (older clients did not
        // connect it otherwise).
        let wait_all = async {
            let fds =
                futures_util::future::try_join_all(sockets.fds.into_iter().map(connected)).await?;
            if interactive {
                control_ready.clone().wait_for(|r| *r).await.map_err(drop)?;
            }
            Ok::<_, ()>(fds)
        };
        let Ok(Ok(fds)) = tokio::time::timeout(CONNECT_TIMEOUT, wait_all).await else {
            control_task.abort();
            return Err(ExecError::NotConnected {
                instance: self.job.name.clone(),
            }
            .into());
        };

        let mut cmd = self.job.command();
        match self.pty {
            Some(size) => cmd.pty = Some(size),
            None => {
                cmd.stdin = ExecStdio::Piped;
                cmd.stdout = ExecStdio::Piped;
                cmd.stderr = ExecStdio::Piped;
            }
        }
        let mut process = match self.c.exec(cmd).await {
            Ok(p) => p,
            Err(e) => {
                control_task.abort();
                let (code, err) = start_failure(e);
                self.finish_unstarted(fds).await;
                self.op.set_metadata("return", json!(code));
                return Err(err);
            }
        };
        self.job.announce(&self.st);
        let streams = match self.take_streams(&mut process) {
            Ok(s) => s,
            Err(e) => {
                let _ = process.signal(libc::SIGKILL);
                control_task.abort();
                let _ = process.wait().await;
                return Err(e.into());
            }
        };
        let process = Arc::new(process);
        let pumps = match self.start_pumps(streams, &process, fds, &exited, &control_ready) {
            Ok(p) => p,
            Err(e) => {
                let _ = process.signal(libc::SIGKILL);
                control_task.abort();
                let _ = process.wait().await;
                return Err(e.into());
            }
        };
        let _ = proc_tx.send(process.clone());

        let waited = process.wait().await;
        exited_tx.send_replace(true);
        // The control socket closes as soon as the command ended.
        control_task.abort();
        let _ = control_task.await;
        let mut sinks = Vec::new();
        for h in pumps.outputs {
            match tokio::time::timeout(FLUSH_TIMEOUT, h).await {
                Ok(Ok(Some(s))) => sinks.push(s),
                Ok(_) => {}
                Err(_) => {
                    tracing::debug!(instance = %self.job.name, "exec output not read in time")
                }
            }
        }
        for t in pumps.others {
            t.abort();
        }
        let code = match waited {
            Ok(code) => i64::from(code),
            Err(source) => {
                self.op.set_metadata("return", json!(-1));
                return Err(ExecError::Wait {
                    instance: self.job.name.clone(),
                    source,
                }
                .into());
            }
        };
        self.op.set_metadata("return", json!(code));
        // Dropping the sockets closes their connections (no close frames, as LXD).
        drop(sinks);
        drop(pumps.keep);
        exit_result(code)
    }

    /// When the command could not start: tell the client EOF on every output stream.
    async fn finish_unstarted(&self, fds: Vec<WebSocket>) {
        for (i, mut ws) in fds.into_iter().enumerate() {
            if i > 0 || self.pty.is_some() {
                let _ = ws.send(Message::text("")).await;
            }
        }
    }

    fn take_streams(&self, process: &mut ExecProcess) -> Result<Streams, ExecError> {
        let missing = |fd: &'static str| ExecError::Stream {
            instance: self.job.name.clone(),
            fd,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not provided by the runtime",
            ),
        };
        if self.pty.is_some() {
            let master = process.pty.take().ok_or_else(|| missing("pty"))?;
            return Ok(Streams::Pty(master.into()));
        }
        let stdin = process.stdin.take().ok_or_else(|| missing("0"))?;
        let stdout = process.stdout.take().ok_or_else(|| missing("1"))?;
        let stderr = process.stderr.take().ok_or_else(|| missing("2"))?;
        Ok(Streams::Pipes(stdin.into(), stdout.into(), stderr.into()))
    }

    fn start_pumps(
        &self,
        streams: Streams,
        process: &Arc<ExecProcess>,
        fds: Vec<WebSocket>,
        exited: &watch::Receiver<bool>,
        control_ready: &watch::Receiver<bool>,
    ) -> Result<Pumps, ExecError> {
        let stream = |fd: &'static str, owned: OwnedFd| {
            AsyncStream::new(owned)
                .map(Arc::new)
                .map_err(|source| ExecError::Stream {
                    instance: self.job.name.clone(),
                    fd,
                    source,
                })
        };
        let mut pumps = Pumps {
            outputs: Vec::new(),
            others: Vec::new(),
            keep: Vec::new(),
        };
        let mut fds = fds.into_iter();
        let (stdin, stdout, stderr) = match streams {
            Streams::Pty(master) => {
                let pty = stream("pty", master)?;
                if let Some(ws) = fds.next() {
                    let (sink, input) = ws.split();
                    pumps.outputs.push(tokio::spawn(pump_output(
                        pty.clone(),
                        sink,
                        exited.clone(),
                    )));
                    pumps
                        .others
                        .push(tokio::spawn(pump_input(input, pty, true)));
                }
                return Ok(pumps);
            }
            Streams::Pipes(i, o, e) => (stream("0", i)?, stream("1", o)?, stream("2", e)?),
        };
        if let Some(ws) = fds.next() {
            // Only read: the write half is not needed (the connection lives while one half does).
            let (_, input) = ws.split();
            pumps
                .others
                .push(tokio::spawn(pump_input(input, stdin, false)));
        }
        if let Some(ws) = fds.next() {
            let (sink, from_client) = ws.split();
            pumps
                .outputs
                .push(tokio::spawn(pump_output(stdout, sink, exited.clone())));
            // Nothing is expected from the client on stdout: its end means the client went
            // away, and without a control socket nobody else would stop the command.
            pumps.others.push(tokio::spawn(watch_client(
                from_client,
                process.clone(),
                exited.clone(),
                control_ready.clone(),
            )));
        }
        if let Some(ws) = fds.next() {
            let (sink, from_client) = ws.split();
            pumps
                .outputs
                .push(tokio::spawn(pump_output(stderr, sink, exited.clone())));
            pumps.keep.push(from_client);
        }
        Ok(pumps)
    }
}

/// Reads the stdout socket (pongs only are expected); if the client drops it while the command
/// runs and no control socket is connected, the command is killed, as LXD does.
async fn watch_client(
    mut stream: SplitStream<WebSocket>,
    process: Arc<ExecProcess>,
    exited: watch::Receiver<bool>,
    control_ready: watch::Receiver<bool>,
) {
    loop {
        match stream.next().await {
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => {}
        }
    }
    if !*exited.borrow() && !*control_ready.borrow() {
        tracing::debug!(
            pid = process.pid(),
            "exec stdout websocket closed by the client, killing the command"
        );
        let _ = process.signal(libc::SIGKILL);
    }
    std::future::pending::<()>().await;
}

/// Serves the control socket: `window-resize` and `signal` messages. When the client drops it
/// while the command runs, the command is killed (LXD's rule). Ends, dropping the socket, when
/// the command ends.
async fn control_loop(
    rx: oneshot::Receiver<WebSocket>,
    ready: watch::Sender<bool>,
    proc_rx: oneshot::Receiver<Arc<ExecProcess>>,
    exited: watch::Receiver<bool>,
    interactive: bool,
) {
    let mut ended = exited.clone();
    let Ok(mut ws) = connected(rx).await else {
        return;
    };
    ready.send_replace(true);
    let Ok(process) = proc_rx.await else { return };
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => control_message(&process, t.as_bytes(), interactive),
                Some(Ok(Message::Binary(b))) => control_message(&process, &b, interactive),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    if !*exited.borrow() {
                        tracing::debug!(pid = process.pid(), "exec control websocket closed, killing the command");
                        let _ = process.signal(libc::SIGKILL);
                    }
                    return;
                }
                Some(Ok(_)) => {}
            },
            _ = ended.wait_for(|e| *e) => return,
        }
    }
}

fn control_message(process: &ExecProcess, raw: &[u8], interactive: bool) {
    let Ok(msg) = serde_json::from_slice::<InstanceExecControl>(raw) else {
        tracing::debug!("ignoring a malformed exec control message");
        return;
    };
    match msg.command.as_str() {
        "window-resize" if interactive => {
            let dim = |k: &str| msg.args.get(k).and_then(|v| v.parse::<u16>().ok());
            match (dim("width"), dim("height")) {
                (Some(w), Some(h)) => {
                    if let Err(e) = process.resize(w, h) {
                        tracing::debug!("exec window resize: {e}");
                    }
                }
                _ => tracing::debug!("exec window resize without a valid width and height"),
            }
        }
        "signal" => match i32::try_from(msg.signal) {
            Ok(sig) if sig > 0 => {
                if let Err(e) = process.signal(sig) {
                    tracing::debug!("exec signal {sig}: {e}");
                }
            }
            _ => tracing::debug!("exec control: invalid signal {}", msg.signal),
        },
        _ => {}
    }
}

/// Command output → binary frames, then an empty text frame at EOF. Once the command exited,
/// output still buffered is sent, then EOF even if a process it left behind holds the stream.
async fn pump_output(
    src: Arc<AsyncStream>,
    mut sink: SplitSink<WebSocket, Message>,
    mut exited: watch::Receiver<bool>,
) -> Option<SplitSink<WebSocket, Message>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut draining = *exited.borrow();
    loop {
        let r = if draining {
            match tokio::time::timeout(DRAIN_AFTER_EXIT, src.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                r = src.read(&mut buf) => r,
                _ = exited.wait_for(|e| *e) => {
                    draining = true;
                    continue;
                }
            }
        };
        match r {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if sink
                    .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    return None;
                }
            }
        }
    }
    sink.send(Message::text("")).await.ok()?;
    Some(sink)
}

/// Client data → the command's stdin (or terminal). An empty text frame is EOF: stdin is
/// closed (a terminal gets ^D). The socket stays open until the session ends.
async fn pump_input(mut stream: SplitStream<WebSocket>, dst: Arc<AsyncStream>, terminal: bool) {
    let mut dst = Some(dst);
    while let Some(msg) = stream.next().await {
        let data: Bytes = match msg {
            Ok(Message::Binary(b)) => b,
            Ok(Message::Text(t)) if t.is_empty() => {
                if terminal {
                    if let Some(d) = &dst {
                        let _ = d.write_all(b"\x04").await;
                    }
                } else {
                    dst = None;
                }
                continue;
            }
            Ok(Message::Text(t)) => Bytes::copy_from_slice(t.as_bytes()),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        if let Some(d) = &dst {
            if d.write_all(&data).await.is_err() {
                // The command closed its input; keep reading so the client is not disturbed.
                dst = None;
            }
        }
    }
    drop(dst);
    std::future::pending::<()>().await;
}
