//! The system-container runtime: namespaces, id maps, cgroups, rootfs, seccomp, a monitor
//! process per container, and exec.
//!
//! ```no_run
//! # async fn demo() -> lxd_core::Result<()> {
//! use lxd_core::{Instance, InstanceConfig, Runtime, RuntimeConfig};
//! let runtime = Runtime::new(RuntimeConfig::new("/var/lib/lxd-rs"))?;
//! let c = runtime.container("c1", "/srv/c1/rootfs", InstanceConfig::default())?;
//! c.start().await?;
//! let out = c.exec_output(&["hostname"]).await?;
//! assert_eq!(out.stdout_str().trim(), "c1");
//! c.stop().await?;
//! # Ok(()) }
//! ```

pub mod cgroup;
pub mod exec_client;
pub mod idmap;
pub(crate) mod init;
pub mod monitor;
mod monitor_client;
pub mod netlink;
pub mod netstate;
pub(crate) mod rootfs;
pub mod seccomp;
pub mod shift;
pub mod spec;
pub(crate) mod sys;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use self::cgroup::{Cgroup, CgroupLayout, FreezerChoice, Version};
use self::exec_client::ExecProcess;
use self::idmap::{compute_idmap, Allocation, HostIdRange, IdmapSet};
use self::monitor::protocol::{self, ExecRequest, MonitorInfo, Reply, Request};
pub use self::spec::{ContainerSpec, DiskMount, IdmapMode, InstancePaths, SpecNic};
use crate::config::{validate_name, InstanceConfig};
use crate::error::{Error, Result};
use crate::instance::{ExecCommand, ExecStdio, Instance, InstanceState, InstanceStatus};

/// The environment variable that turns a re-executed program into a monitor.
pub(crate) const REEXEC_ENV: &str = "_LXD_CORE_REEXEC";

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Control sockets and pid files: `RUN_DIR/NAME/`.
    pub run_dir: PathBuf,
    /// Console and monitor logs: `LOG_DIR/NAME/` (LXD's `$LXD_DIR/logs/NAME`).
    pub log_dir: PathBuf,
    /// Name of the cgroup subtree the runtime owns in each hierarchy.
    pub cgroup_subtree: String,
    /// The host ids containers are mapped into.
    pub host_ids: HostIdRange,
    /// The program re-executed as a monitor; it must call [`crate::init_hook`] first thing.
    pub monitor_exe: PathBuf,
    /// Idmapped mounts (with a shift as fallback) or always shift.
    pub idmap_mode: IdmapMode,
    /// Which freezer to use on a hybrid host.
    pub freezer: FreezerChoice,
}

impl RuntimeConfig {
    /// Defaults under an LXD data directory: `DIR/run`, `DIR/logs`, a cgroup subtree named
    /// after the directory (`lxd` for `/var/lib/lxd`, else `lxd-` and a hash of the path, so
    /// two data directories never share container cgroups), the host id range from
    /// `/etc/subuid`, and this program as the monitor.
    pub fn new(lxd_dir: impl AsRef<Path>) -> Self {
        let dir = lxd_dir.as_ref();
        let subtree = if dir == Path::new("/var/lib/lxd") {
            "lxd".to_string()
        } else {
            let h = dir
                .as_os_str()
                .as_encoded_bytes()
                .iter()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
                });
            format!("lxd-{:08x}", h as u32)
        };
        RuntimeConfig {
            run_dir: dir.join("run"),
            log_dir: dir.join("logs"),
            cgroup_subtree: subtree,
            host_ids: HostIdRange::from_system(),
            monitor_exe: PathBuf::from("/proc/self/exe"),
            idmap_mode: IdmapMode::Auto,
            freezer: FreezerChoice::Auto,
        }
    }
}

struct RuntimeInner {
    config: RuntimeConfig,
    layout: CgroupLayout,
}

/// Runs containers on this host; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl Runtime {
    /// Detects the cgroup layout and creates the runtime's directories.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        let layout = CgroupLayout::detect()?;
        for d in [&config.run_dir, &config.log_dir] {
            std::fs::create_dir_all(d).map_err(|e| Error::io("create directory", d, e))?;
        }
        Ok(Runtime {
            inner: Arc::new(RuntimeInner { config, layout }),
        })
    }

    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The host's cgroup hierarchies.
    pub fn cgroup_layout(&self) -> &CgroupLayout {
        &self.inner.layout
    }

    /// A handle on the container `name` with its rootfs and configuration. Nothing is started;
    /// if the container already runs (started by this or an earlier program), the handle
    /// reattaches to it.
    pub fn container(
        &self,
        name: &str,
        rootfs: impl Into<PathBuf>,
        config: InstanceConfig,
    ) -> Result<Container> {
        self.container_with_id(name, name, rootfs, config)
    }

    /// Like [`Runtime::container`] with a runtime id that differs from the hostname, as for
    /// instances of a project other than `default` (`PROJECT_NAME`, LXD's on-disk name).
    pub fn container_with_id(
        &self,
        id: &str,
        name: &str,
        rootfs: impl Into<PathBuf>,
        config: InstanceConfig,
    ) -> Result<Container> {
        validate_name(name).map_err(|reason| Error::InvalidName {
            name: name.to_string(),
            reason,
        })?;
        if id.is_empty()
            || id.len() > 128
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::InvalidName {
                name: id.to_string(),
                reason:
                    "Runtime ids can only contain alphanumeric, hyphen and underscore characters",
            });
        }
        let hostname = (id != name).then(|| name.to_string());
        let name = id;
        let paths = InstancePaths {
            run_dir: self.inner.config.run_dir.join(name),
            log_dir: self.inner.config.log_dir.join(name),
        };
        let sock = paths.socket();
        if sock.as_os_str().len() >= 108 {
            return Err(Error::io(
                "control socket path too long",
                sock,
                std::io::Error::from_raw_os_error(libc::ENAMETOOLONG),
            ));
        }
        Ok(Container {
            inner: Arc::new(ContainerInner {
                rt: self.clone(),
                name: name.to_string(),
                hostname,
                rootfs: rootfs.into(),
                paths,
                config: Mutex::new(config),
                mounts: Mutex::new(Vec::new()),
                nics: Mutex::new(Vec::new()),
                prestart: Mutex::new(None),
            }),
        })
    }

    /// Names of the containers whose monitor is alive.
    pub fn running(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(&self.inner.config.run_dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok())
            .filter(|e| UnixStream::connect(e.path().join("monitor.sock")).is_ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// Isolated id ranges held by running containers other than `except`.
    fn isolated_allocations(&self, except: &str) -> Vec<Allocation> {
        let host = self.inner.config.host_ids;
        self.running()
            .into_iter()
            .filter(|n| n != except)
            .filter_map(|n| {
                let sock = self.inner.config.run_dir.join(&n).join("monitor.sock");
                let conn = UnixStream::connect(sock).ok()?;
                protocol::send(&conn, &Request::Info, &[]).ok()?;
                match protocol::recv::<Reply>(&conn).ok()?.0 {
                    Reply::Info(info) => info.idmap.0.first().copied(),
                    _ => None,
                }
            })
            .filter(|e| e.hostid != host.base)
            .map(|e| Allocation {
                base: e.hostid,
                size: e.maprange,
            })
            .collect()
    }

    /// The cgroup hierarchies to mount inside containers.
    fn cgroup_mounts(&self) -> Vec<(String, String)> {
        let layout = &self.inner.layout;
        let unified_only = layout.hierarchies.iter().all(|h| h.version == Version::V2);
        layout
            .hierarchies
            .iter()
            .map(|h| {
                let name = if unified_only {
                    String::new()
                } else {
                    h.mount
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                };
                let opts = match h.version {
                    Version::V1 => h.controllers.join(","),
                    Version::V2 => "cgroup2".to_string(),
                };
                (name, opts)
            })
            .collect()
    }
}

struct ContainerInner {
    rt: Runtime,
    /// The runtime id (run and log directories, cgroup).
    name: String,
    /// The hostname when it differs from the id.
    hostname: Option<String>,
    rootfs: PathBuf,
    paths: InstancePaths,
    config: Mutex<InstanceConfig>,
    mounts: Mutex<Vec<DiskMount>>,
    nics: Mutex<Vec<SpecNic>>,
    prestart: Mutex<Option<PrestartHook>>,
}

/// Runs between the creation of a container's namespaces and its init, with the pid of the
/// waiting init: the embedding program attaches nics here. An error aborts the start.
pub type PrestartHook = Box<dyn FnOnce(i32) -> Result<()> + Send>;

/// A system container managed by a [`Runtime`]; cheap to clone.
#[derive(Clone)]
pub struct Container {
    inner: Arc<ContainerInner>,
}

fn connect_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::ECONNREFUSED)
    )
}

/// Whether `path` exists inside `root`, resolving symlinks as the container would.
fn exists_in_root(root: &Path, path: &str) -> bool {
    let Ok(dir) = File::open(root) else {
        return false;
    };
    sys::openat_in_root(dir.as_raw_fd(), path).is_ok()
}

impl Container {
    /// The instance's runtime files.
    pub fn paths(&self) -> &InstancePaths {
        &self.inner.paths
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> &Path {
        &self.inner.rootfs
    }

    /// The configuration, including the `volatile.*` keys the runtime maintains.
    pub fn config(&self) -> InstanceConfig {
        self.inner.config.lock().expect("config lock").clone()
    }

    /// Changes the configuration (validated); limits apply at the next start.
    pub fn set_config(&self, config: InstanceConfig) {
        *self.inner.config.lock().expect("config lock") = config;
    }

    fn name_err(&self, message: &'static str) -> Error {
        Error::InvalidState {
            name: self.inner.name.clone(),
            message,
        }
    }

    fn monitor_err(&self, message: impl Into<String>) -> Error {
        Error::Monitor {
            name: self.inner.name.clone(),
            message: message.into(),
        }
    }

    /// Connects to the monitor; `None` when the container is not running.
    fn connect(&self) -> Result<Option<UnixStream>> {
        match UnixStream::connect(self.inner.paths.socket()) {
            Ok(c) => Ok(Some(c)),
            Err(e) if connect_error(&e) => Ok(None),
            Err(e) => Err(Error::io("connect", self.inner.paths.socket(), e)),
        }
    }

    fn running_conn(&self) -> Result<UnixStream> {
        self.connect()?
            .ok_or_else(|| self.name_err("The instance isn't running"))
    }

    fn call(&self, conn: &UnixStream, req: &Request, timeout: Option<Duration>) -> Result<Reply> {
        let _ = conn.set_read_timeout(timeout);
        protocol::send(conn, req, &[]).map_err(|e| self.monitor_err(e.to_string()))?;
        let (reply, _) =
            protocol::recv::<Reply>(conn).map_err(|e| self.monitor_err(e.to_string()))?;
        match reply {
            Reply::Error { message } => Err(self.monitor_err(message)),
            r => Ok(r),
        }
    }

    /// The monitor's report, when running.
    pub fn info_blocking(&self) -> Result<Option<MonitorInfo>> {
        let Some(conn) = self.connect()? else {
            return Ok(None);
        };
        match self.call(&conn, &Request::Info, Some(Duration::from_secs(10)))? {
            Reply::Info(i) => Ok(Some(i)),
            other => Err(self.monitor_err(format!("unexpected reply {other:?}"))),
        }
    }

    /// Builds the spec the monitor runs.
    fn spec(&self) -> Result<ContainerSpec> {
        let rt = &self.inner.rt.inner;
        let config = self.config();
        let previous = config
            .get("volatile.idmap.base")
            .and_then(|b| b.parse().ok());
        let in_use = if config.get_bool("security.idmap.isolated") {
            self.inner.rt.isolated_allocations(&self.inner.name)
        } else {
            Vec::new()
        };
        let (idmap, _) = compute_idmap(&config, rt.config.host_ids, &in_use, previous)?;
        let disk_idmap = match config.get("volatile.last_state.idmap") {
            Some(v) => IdmapSet::from_json(v)?,
            None => IdmapSet::privileged(),
        };
        let leaf = format!("lxc.payload.{}", self.inner.name);
        Ok(ContainerSpec {
            name: self.inner.name.clone(),
            hostname: self
                .inner
                .hostname
                .clone()
                .unwrap_or_else(|| self.inner.name.clone()),
            rootfs: self.inner.rootfs.clone(),
            config,
            idmap,
            disk_idmap,
            idmap_mode: rt.config.idmap_mode,
            cgroup: Cgroup::plan(
                &rt.layout,
                &rt.config.cgroup_subtree,
                &leaf,
                rt.config.freezer,
            ),
            paths: self.inner.paths.clone(),
            halt_signal: libc::SIGPWR,
            cgroup_mounts: self.inner.rt.cgroup_mounts(),
            mounts: self.inner.mounts.lock().expect("mounts lock").clone(),
            nics: self.inner.nics.lock().expect("nics lock").clone(),
            prestart_hook: self.inner.prestart.lock().expect("prestart lock").is_some(),
        })
    }

    /// [`Instance::start`], blocking.
    pub fn start_blocking(&self) -> Result<()> {
        if self.connect()?.is_some() {
            return Err(self.name_err("The instance is already running"));
        }
        let name = &self.inner.name;
        let root = &self.inner.rootfs;
        let bad_root = |reason: &str| Error::InvalidRootfs {
            name: name.clone(),
            path: root.clone(),
            reason: reason.to_string(),
        };
        if !root.is_dir() {
            return Err(bad_root("not a directory"));
        }
        if !exists_in_root(root, "/sbin/init") {
            return Err(bad_root("it has no /sbin/init"));
        }
        let spec = self.spec()?;
        let paths = &self.inner.paths;
        for d in [&paths.run_dir, &paths.log_dir] {
            std::fs::create_dir_all(d).map_err(|e| Error::io("create directory", d, e))?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(paths.monitor_log())
            .map_err(|e| Error::io("open monitor log", paths.monitor_log(), e))?;
        let exe = &self.inner.rt.inner.config.monitor_exe;
        let mut child = Command::new(exe)
            .arg0(format!("[lxd monitor] {name}"))
            .env(REEXEC_ENV, "monitor")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::io("spawn monitor", exe, e))?;
        let mut body = serde_json::to_vec(&spec).expect("specs serialize");
        body.push(b'\n');
        let hook = self.inner.prestart.lock().expect("prestart lock").take();
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let talk_err = |e: std::io::Error| Error::Start {
            name: name.clone(),
            message: format!("talking to the monitor: {e}"),
        };
        let no_report = || Error::Start {
            name: name.clone(),
            message: format!(
                "the monitor did not report (does the program call lxd_core::init_hook()? see {})",
                paths.monitor_log().display()
            ),
        };
        let read_reply = |out: &mut BufReader<std::process::ChildStdout>| -> Result<Reply> {
            let mut line = String::new();
            out.read_line(&mut line).map_err(talk_err)?;
            serde_json::from_str(&line).map_err(|_| no_report())
        };
        let result = (|| -> Result<Reply> {
            stdin.write_all(&body).map_err(talk_err)?;
            let mut reply = read_reply(&mut stdout)?;
            if let Reply::Created { init_pid } = reply {
                let answer = match hook.map_or(Ok(()), |h| h(init_pid)) {
                    Ok(()) => "go\n".to_string(),
                    Err(e) => format!("{}\n", e.to_string().replace('\n', " ")),
                };
                stdin.write_all(answer.as_bytes()).map_err(talk_err)?;
                reply = read_reply(&mut stdout)?;
            }
            Ok(reply)
        })();
        drop(stdin);
        let _ = child.wait();
        let reply = result?;
        match reply {
            Reply::Started { last_state_idmap } => {
                let mut cfg = self.inner.config.lock().expect("config lock");
                let mut map = cfg.as_map().clone();
                map.insert("volatile.idmap.current".into(), spec.idmap.to_json());
                let base = spec
                    .idmap
                    .0
                    .first()
                    .filter(|_| cfg.get_bool("security.idmap.isolated"))
                    .map_or(0, |e| e.hostid);
                map.insert("volatile.idmap.base".into(), base.to_string());
                if let Some(v) = last_state_idmap {
                    map.insert("volatile.last_state.idmap".into(), v);
                }
                *cfg = InstanceConfig::new(map)?;
                Ok(())
            }
            Reply::Error { message } => Err(Error::Start {
                name: name.clone(),
                message,
            }),
            other => Err(self.monitor_err(format!("unexpected reply {other:?}"))),
        }
    }

    fn stop_request(&self, req: Request, timeout: Option<Duration>) -> Result<bool> {
        let conn = self.running_conn()?;
        match self.call(&conn, &req, timeout)? {
            Reply::Stopped { killed } => Ok(killed),
            other => Err(self.monitor_err(format!("unexpected reply {other:?}"))),
        }
    }

    /// [`Instance::stop`], blocking.
    pub fn stop_blocking(&self) -> Result<()> {
        self.stop_request(Request::Stop, Some(Duration::from_secs(30)))
            .map(drop)
    }

    /// [`Instance::shutdown`], blocking.
    pub fn shutdown_blocking(&self, timeout: Duration) -> Result<bool> {
        let req = Request::Shutdown {
            timeout_ms: timeout.as_millis() as u64,
        };
        self.stop_request(req, Some(timeout + Duration::from_secs(30)))
    }

    fn simple(&self, req: Request) -> Result<()> {
        let conn = self.running_conn()?;
        self.call(&conn, &req, Some(Duration::from_secs(30)))
            .map(drop)
    }

    /// Attaches to the running container's console (`lxc console`): the returned stream
    /// carries the console's raw bytes both ways until it is closed. A newer attach replaces
    /// this one.
    pub fn console_attach_blocking(
        &self,
        size: Option<protocol::WindowSize>,
    ) -> Result<UnixStream> {
        let conn = self.running_conn()?;
        self.call(
            &conn,
            &Request::ConsoleAttach { size },
            Some(Duration::from_secs(10)),
        )?;
        let _ = conn.set_read_timeout(None);
        Ok(conn)
    }

    /// Sets the size of the running container's console terminal.
    pub fn console_resize_blocking(&self, size: protocol::WindowSize) -> Result<()> {
        let conn = self.running_conn()?;
        self.call(
            &conn,
            &Request::ConsoleResize { size },
            Some(Duration::from_secs(10)),
        )
        .map(drop)
    }

    /// The nics the container holds from its next start on (the monitor carries them over
    /// reboots and hands physical ones back when it stops).
    pub fn set_nics(&self, nics: Vec<SpecNic>) {
        *self.inner.nics.lock().expect("nics lock") = nics;
    }

    /// Tells the running container's monitor which nics it now holds (after a hot-plug).
    pub fn update_nics_blocking(&self, nics: Vec<SpecNic>) -> Result<()> {
        let conn = self.running_conn()?;
        self.call(
            &conn,
            &Request::SetNics { nics: nics.clone() },
            Some(Duration::from_secs(30)),
        )?;
        self.set_nics(nics);
        Ok(())
    }

    /// A hook to run at the next start between the creation of the container's namespaces
    /// and its init (see [`PrestartHook`]).
    pub fn set_prestart_hook(&self, hook: PrestartHook) {
        *self.inner.prestart.lock().expect("prestart lock") = Some(hook);
    }

    /// The host paths bound into the container at its next start.
    pub fn set_mounts(&self, mounts: Vec<DiskMount>) {
        *self.inner.mounts.lock().expect("mounts lock") = mounts;
    }

    /// Mounts (`add`) or unmounts a disk device in the running container.
    pub fn hotplug_blocking(&self, mount: &DiskMount, add: bool) -> Result<()> {
        let conn = self.running_conn()?;
        self.call(
            &conn,
            &Request::Mount {
                mount: mount.clone(),
                add,
            },
            Some(Duration::from_secs(30)),
        )
        .map(drop)
    }

    /// Applies changed `limits.*` to the running container's cgroup at once (the next start
    /// applies them anyway).
    pub fn update_limits_blocking(&self, config: &InstanceConfig) -> Result<()> {
        config.limits()?;
        let conn = self.running_conn()?;
        self.call(
            &conn,
            &Request::UpdateLimits {
                config: config.clone(),
            },
            Some(Duration::from_secs(30)),
        )
        .map(drop)
    }

    /// [`Instance::freeze`], blocking.
    pub fn freeze_blocking(&self) -> Result<()> {
        self.simple(Request::Freeze)
    }

    /// [`Instance::unfreeze`], blocking.
    pub fn unfreeze_blocking(&self) -> Result<()> {
        self.simple(Request::Unfreeze)
    }

    /// [`Instance::state`], blocking.
    pub fn state_blocking(&self) -> Result<InstanceState> {
        match self.info_blocking()? {
            Some(i) => Ok(Self::running_state(i)),
            None => Ok(self.state_without_monitor()),
        }
    }

    /// The state of a container whose monitor answered.
    fn running_state(i: MonitorInfo) -> InstanceState {
        InstanceState {
            status: if i.frozen {
                InstanceStatus::Frozen
            } else {
                InstanceStatus::Running
            },
            pid: Some(i.init_pid),
            processes: i.processes,
            memory_usage: i.memory_usage,
            memory_peak: i.memory_peak,
            cpu_usage_ns: i.cpu_usage_ns,
            started_at: Some(i.started_at),
        }
    }

    /// The state of a container without a monitor: stopped, or in error when the pid file
    /// names an init that is still there.
    fn state_without_monitor(&self) -> InstanceState {
        let pids = std::fs::read_to_string(self.inner.paths.pid_file()).ok();
        let init = pids
            .as_deref()
            .and_then(|s| s.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(pid) = init.filter(|p| Path::new(&format!("/proc/{p}")).exists()) {
            let mut s = InstanceState::stopped();
            s.status = InstanceStatus::Error;
            s.pid = Some(pid);
            return s;
        }
        InstanceState::stopped()
    }

    /// The default environment of exec, as LXD builds it.
    fn exec_env(&self, cmd: &ExecCommand) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert(
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
        env.insert("LANG".into(), "C.UTF-8".into());
        if cmd.uid == 0 {
            env.insert("HOME".into(), "/root".into());
            env.insert("USER".into(), "root".into());
        }
        env.extend(self.config().environment());
        env.extend(cmd.env.clone());
        env.into_iter().collect()
    }

    /// [`Instance::exec`], blocking.
    pub fn exec_blocking(&self, cmd: ExecCommand) -> Result<ExecProcess> {
        let name = self.inner.name.clone();
        if cmd.argv.is_empty() {
            return Err(Error::Exec {
                name,
                message: "empty command".into(),
            });
        }
        let conn = self.running_conn()?;
        let env = self.exec_env(&cmd);
        let cwd = cmd.cwd.clone().unwrap_or_else(|| {
            let home = env
                .iter()
                .find(|(k, _)| k == "HOME")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| "/".into());
            if exists_in_root(&self.inner.rootfs, &home) {
                home
            } else {
                "/".into()
            }
        });
        // Our ends of the pipes, and the descriptors that go to the monitor.
        let mut ours: [Option<File>; 3] = [None, None, None];
        let mut theirs: Vec<OwnedFd> = Vec::new();
        let mut present = [false; 3];
        let pty = cmd.pty;
        for (i, s) in [cmd.stdin, cmd.stdout, cmd.stderr].into_iter().enumerate() {
            if pty.is_some() {
                break;
            }
            match s {
                ExecStdio::Null => {}
                ExecStdio::Fd(fd) => {
                    present[i] = true;
                    theirs.push(fd);
                }
                ExecStdio::Piped => {
                    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| {
                        Error::Exec {
                            name: name.clone(),
                            message: format!("pipe: {e}"),
                        }
                    })?;
                    let (mine, other) = if i == 0 { (w, r) } else { (r, w) };
                    ours[i] = Some(File::from(mine));
                    present[i] = true;
                    theirs.push(other);
                }
            }
        }
        let req = ExecRequest {
            argv: cmd.argv,
            env,
            cwd,
            uid: cmd.uid,
            gid: cmd.gid,
            pty,
            stdio: present,
        };
        let fds: Vec<RawFd> = theirs.iter().map(|f| f.as_raw_fd()).collect();
        protocol::send(&conn, &Request::Exec(req), &fds)
            .map_err(|e| self.monitor_err(e.to_string()))?;
        drop(theirs);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
        let (reply, mut got) =
            protocol::recv::<Reply>(&conn).map_err(|e| self.monitor_err(e.to_string()))?;
        match reply {
            Reply::ExecStarted { pid } => Ok(ExecProcess::new(name, pid, conn, ours, got.pop())),
            Reply::Error { message } => Err(Error::Exec { name, message }),
            other => Err(self.monitor_err(format!("unexpected reply {other:?}"))),
        }
    }

    /// [`Instance::console_log`], blocking.
    pub fn console_log_blocking(&self) -> Result<Vec<u8>> {
        let p = self.inner.paths.console_log();
        match std::fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io("read console log", p, e)),
        }
    }

    /// Removes the runtime files of a stopped container (its rootfs belongs to storage).
    pub fn delete_blocking(&self) -> Result<()> {
        if self.connect()?.is_some() {
            return Err(self.name_err("The instance is running, stop it first"));
        }
        let state = self.state_blocking()?;
        if state.status == InstanceStatus::Error {
            return Err(self.name_err("The instance still has processes but no monitor"));
        }
        for d in [&self.inner.paths.run_dir, &self.inner.paths.log_dir] {
            match std::fs::remove_dir_all(d) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", d, e)),
            }
        }
        Ok(())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Container) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(me))
            .await
            .map_err(|e| Error::Monitor {
                name: self.inner.name.clone(),
                message: format!("task failed: {e}"),
            })?
    }

    /// Removes the runtime files of a stopped container.
    pub async fn delete(&self) -> Result<()> {
        self.blocking(|c| c.delete_blocking()).await
    }
}

#[async_trait]
impl Instance for Container {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn start(&self) -> Result<()> {
        self.blocking(|c| c.start_blocking()).await
    }

    async fn stop(&self) -> Result<()> {
        self.blocking(|c| c.stop_blocking()).await
    }

    async fn shutdown(&self, timeout: Duration) -> Result<bool> {
        self.blocking(move |c| c.shutdown_blocking(timeout)).await
    }

    async fn freeze(&self) -> Result<()> {
        self.blocking(|c| c.freeze_blocking()).await
    }

    async fn unfreeze(&self) -> Result<()> {
        self.blocking(|c| c.unfreeze_blocking()).await
    }

    async fn state(&self) -> Result<InstanceState> {
        // No thread per call: a listing asks every monitor at once.
        self.state_async().await
    }

    async fn exec(&self, cmd: ExecCommand) -> Result<ExecProcess> {
        self.blocking(move |c| c.exec_blocking(cmd)).await
    }

    async fn console_log(&self) -> Result<Vec<u8>> {
        self.blocking(|c| c.console_log_blocking()).await
    }
}
