//! The monitor: one small single-threaded process per running container. It is the parent of
//! the container's init, owns its cgroup and console, and answers a control socket, so the
//! program that started the container may exit and another one reattach.
//!
//! It is started by re-executing the embedding program (see [`crate::init_hook`]): the
//! program's `main` calls the hook first, which turns the process into a monitor when the
//! runtime asked for one. The monitor detaches (`setsid` and a second fork), reads the
//! [`ContainerSpec`] from stdin, starts the container, reports on stdout, then serves requests
//! until the container stops.

pub mod exec;
pub mod protocol;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libseccomp::ScmpFilterContext;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use self::exec::Namespaces;
use self::protocol::{MonitorInfo, Reply, Request};
use super::idmap::IdmapSet;
use super::init::{self, InitContext};
use super::netlink::Rtnl;
use super::seccomp::build_filter;
use super::shift::{shift_tree, Direction};
use super::spec::{ContainerSpec, IdmapMode, SpecNic};
use super::sys;

/// How often a pending clean shutdown repeats the halt signal.
const HALT_RESEND: Duration = Duration::from_secs(1);

/// Largest console log kept; when it grows past this, the older half is dropped.
const CONSOLE_LOG_MAX: u64 = 1 << 20;

macro_rules! log {
    ($($arg:tt)*) => {{
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        eprintln!("{}.{:03} {}", now.as_secs(), now.subsec_millis(), format!($($arg)*));
    }};
}

/// Entry point of a re-executed monitor process; never returns.
pub fn main() -> ! {
    // Nothing the embedding program had open belongs to the monitor.
    sys::close_fds_from(3, &[]);
    let _ = nix::unistd::setsid();
    // The spec arrives as one line on stdin; the pre-start hook's answer follows on it.
    // SAFETY: dup returns a new descriptor we own (checked before use).
    let control = match nix::unistd::dup(0) {
        Ok(fd) => File::from(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(e) => {
            log!("dup: {e}");
            std::process::exit(1);
        }
    };
    let mut control = BufReader::new(control);
    let mut input = String::new();
    if let Err(e) = control.read_line(&mut input) {
        log!("reading the container spec: {e}");
        std::process::exit(1);
    }
    let spec: ContainerSpec = match serde_json::from_str(&input) {
        Ok(s) => s,
        Err(e) => {
            log!("parsing the container spec: {e}");
            std::process::exit(1);
        }
    };
    // Detach: the spawner reaps the intermediate process at once, the monitor is re-parented.
    // SAFETY: nothing has started a thread in this freshly executed process.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {
            // SAFETY: leave without running exit handlers; the child carries on.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Child) => {}
        Err(e) => {
            log!("fork: {e}");
            std::process::exit(1);
        }
    }
    // Keep stdout as the readiness channel; fds 0 and 1 become /dev/null.
    let ready = nix::unistd::dup(1).map(|fd| {
        // SAFETY: dup returned a new descriptor we own.
        File::from(unsafe { OwnedFd::from_raw_fd(fd) })
    });
    if let Ok(null) = File::open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
    let mut ready = match ready {
        Ok(f) => f,
        Err(e) => {
            log!("dup: {e}");
            std::process::exit(1);
        }
    };
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGPIPE,
    ] {
        // SAFETY: installing SIG_IGN has no handler code to be unsafe about.
        let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn) };
    }
    let name = spec.name.clone();
    let mut hook = |init_pid: i32| -> Result<(), String> {
        report(&mut ready, &Reply::Created { init_pid });
        let mut answer = String::new();
        match control.read_line(&mut answer) {
            Ok(_) if answer.trim_end() == "go" => Ok(()),
            Ok(0) => Err("the program that started the container went away".into()),
            Ok(_) => Err(answer.trim_end().to_string()),
            Err(e) => Err(format!("reading the pre-start answer: {e}")),
        }
    };
    let result = Monitor::new(spec, &mut hook);
    match result {
        Ok(mut m) => {
            log!("{name}: started, init pid {}", m.init_pid);
            let reply = Reply::Started {
                last_state_idmap: m.last_state_idmap.take(),
            };
            report(&mut ready, &reply);
            drop(ready);
            drop(control);
            m.run();
            std::process::exit(0);
        }
        Err(message) => {
            log!("{name}: start failed: {message}");
            report(&mut ready, &Reply::Error { message });
            std::process::exit(1);
        }
    }
}

/// Writes one reply line to the spawner.
fn report(ready: &mut File, reply: &Reply) {
    let mut line = serde_json::to_vec(reply).unwrap_or_default();
    line.push(b'\n');
    let _ = ready.write_all(&line);
}

/// The pre-start hook: runs with the pid of the init that waits in its new namespaces.
type Hook<'a> = &'a mut dyn FnMut(i32) -> Result<(), String>;

/// Resets signal dispositions and the mask so a child starts like a fresh process.
pub(crate) fn reset_signals() {
    for n in 1..=64 {
        if n == libc::SIGKILL || n == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting SIG_DFL installs no handler; invalid numbers just fail.
        unsafe { libc::signal(n, libc::SIG_DFL) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

struct Console {
    master: OwnedFd,
    /// Kept open so the master does not see a hangup while init reopens its terminal.
    _slave: OwnedFd,
    log: File,
    size: u64,
}

impl Console {
    /// Sets the terminal size the container's console sees.
    fn resize(&self, size: protocol::WindowSize) {
        let ws = libc::winsize {
            ws_row: size.rows,
            ws_col: size.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which is valid for the call.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }

    /// Writes input to the console (the terminal's input queue), giving up on data the
    /// container does not read within a moment.
    fn input(&self, mut data: &[u8]) {
        let deadline = Instant::now() + Duration::from_millis(200);
        while !data.is_empty() && Instant::now() < deadline {
            match nix::unistd::write(&self.master, data) {
                Ok(n) => data = &data[n..],
                Err(Errno::EAGAIN | Errno::EINTR) => std::thread::sleep(Duration::from_millis(1)),
                Err(_) => return,
            }
        }
    }

    fn append(&mut self, data: &[u8]) {
        if self.size + data.len() as u64 > CONSOLE_LOG_MAX {
            // Keep the newer half.
            let keep = CONSOLE_LOG_MAX / 2;
            let mut tail = Vec::new();
            if self
                .log
                .seek(SeekFrom::Start(self.size.saturating_sub(keep)))
                .is_ok()
            {
                let _ = (&self.log).take(keep).read_to_end(&mut tail);
            }
            let _ = self.log.set_len(0);
            let _ = self.log.seek(SeekFrom::Start(0));
            let _ = self.log.write_all(&tail);
            self.size = tail.len() as u64;
        }
        let _ = self.log.seek(SeekFrom::End(0));
        if self.log.write_all(data).is_ok() {
            self.size += data.len() as u64;
        }
    }
}

#[derive(PartialEq, Eq)]
enum Waiter {
    Stop,
}

struct ExecProc {
    conn: Option<UnixStream>,
}

struct Monitor {
    spec: ContainerSpec,
    /// The monitor's own pid namespace, to create the next container's from after a reboot.
    own_pidns: File,
    /// The monitor's own network namespace (where physical nics go back to).
    own_netns: File,
    /// The network namespace of the last init, kept after it exits while the container holds
    /// nics: a reboot carries them over, a final stop hands physical ones back.
    old_netns: Option<OwnedFd>,
    listener: UnixListener,
    sigfd: SignalFd,
    seccomp: ScmpFilterContext,
    init_pid: Pid,
    started_at: u64,
    console: Option<Console>,
    /// A client attached to the console (`lxc console`), non-blocking.
    console_client: Option<UnixStream>,
    ns: Namespaces,
    execs: HashMap<Pid, ExecProc>,
    waiters: Vec<(Waiter, UnixStream)>,
    deadline: Option<Instant>,
    /// When a pending clean shutdown sends the halt signal again: an init that had not yet
    /// installed its handler when the first one came (just after start) ignores it.
    halt_resend: Option<Instant>,
    killed: bool,
    last_state_idmap: Option<String>,
}

/// Undoes the steps of a failed start.
struct StartGuard<'a> {
    spec: &'a ContainerSpec,
    child: Option<Pid>,
    armed: bool,
}

impl Drop for StartGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.child {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        let _ = self.spec.cgroup.kill_all();
        let _ = self.spec.cgroup.remove();
        let _ = std::fs::remove_file(self.spec.paths.socket());
        let _ = std::fs::remove_file(self.spec.paths.pid_file());
    }
}

fn open_console(spec: &ContainerSpec) -> Result<(OwnedFd, OwnedFd, PathBuf), String> {
    let m = nix::pty::posix_openpt(
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
    )
    .map_err(|e| format!("console: posix_openpt: {e}"))?;
    nix::pty::grantpt(&m).map_err(|e| format!("console: grantpt: {e}"))?;
    nix::pty::unlockpt(&m).map_err(|e| format!("console: unlockpt: {e}"))?;
    let path =
        PathBuf::from(nix::pty::ptsname_r(&m).map_err(|e| format!("console: ptsname: {e}"))?);
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| format!("console: open {}: {e}", path.display()))?;
    // The container's root owns its console, with the tty group.
    let uid = spec.idmap.host_uid(0).unwrap_or(0) as u32;
    let gid = spec.idmap.host_gid(5).unwrap_or(5) as u32;
    std::os::unix::fs::fchown(&slave, Some(uid), Some(gid))
        .map_err(|e| format!("console: chown {}: {e}", path.display()))?;
    // SAFETY: PtyMaster owns a valid descriptor; we move ownership into an OwnedFd.
    let master = unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(m)) };
    // The monitor polls the console; reads must never block it.
    nix::fcntl::fcntl(
        master.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|e| format!("console: nonblocking: {e}"))?;
    Ok((master, slave.into(), path))
}

/// Moves the interfaces of a rebooting container's previous network namespace (all but `lo`)
/// into the new init's, and sets them up as they were at the first start.
fn carry_nics(old: &OwnedFd, own: &File, pid: Pid) -> Result<(), String> {
    let new = File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| format!("open the new net namespace: {e}"))?;
    let mut nl = Rtnl::open_in(old.as_fd(), own.as_fd())
        .map_err(|e| format!("netlink in the old net namespace: {e}"))?;
    let links = nl
        .links()
        .map_err(|e| format!("listing the old interfaces: {e}"))?;
    let mut moved = Vec::new();
    for link in links.into_iter().filter(|l| l.name != "lo") {
        nl.set_link(link.index, Some(new.as_raw_fd()), None, None)
            .map_err(|e| format!("moving {} to the new net namespace: {e}", link.name))?;
        moved.push(link.name);
    }
    let mut nl = Rtnl::open_in(new.as_fd(), own.as_fd())
        .map_err(|e| format!("netlink in the new net namespace: {e}"))?;
    for name in moved {
        if let Some(index) = nl.index_of(&name).map_err(|e| e.to_string())? {
            nl.set_link(index, None, None, Some(true))
                .map_err(|e| format!("setting {name} up: {e}"))?;
        }
    }
    Ok(())
}

/// Hands the physical nics of a stopped container back to the host, under their host names.
fn return_nics(old: &OwnedFd, own: &File, nics: &[SpecNic]) -> Result<(), String> {
    let mut nl = Rtnl::open_in(old.as_fd(), own.as_fd()).map_err(|e| e.to_string())?;
    for nic in nics {
        let Some(host_name) = &nic.host_name else {
            continue;
        };
        if let Some(index) = nl.index_of(&nic.name).map_err(|e| e.to_string())? {
            nl.set_link(index, Some(own.as_raw_fd()), Some(host_name), Some(false))
                .map_err(|e| format!("{} back to the host as {host_name}: {e}", nic.name))?;
        }
    }
    Ok(())
}

fn write_map(pid: Pid, file: &str, content: &str) -> Result<(), String> {
    std::fs::write(format!("/proc/{pid}/{file}"), content)
        .map_err(|e| format!("write {file} {content:?}: {e}"))
}

/// Prepares the rootfs for the child: an idmapped mount, or a shift on disk. Returns the mount
/// to attach (if any) and the new `volatile.last_state.idmap` when it changed.
fn prepare_rootfs(
    spec: &ContainerSpec,
    child: Pid,
) -> Result<(Option<OwnedFd>, Option<String>), String> {
    let disk = &spec.disk_idmap;
    let root = &spec.rootfs;
    let unshift = |map: &IdmapSet| -> Result<(), String> {
        shift_tree(root, map, Direction::Unshift)
            .map(drop)
            .map_err(|e| format!("unshift rootfs {}: {e}", root.display()))
    };
    if spec.idmap.is_empty() {
        // Privileged: the rootfs must hold plain ids.
        if !disk.is_empty() {
            unshift(disk)?;
            return Ok((None, Some("[]".into())));
        }
        return Ok((None, None));
    }
    if spec.idmap_mode == IdmapMode::Auto {
        let userns = File::open(format!("/proc/{child}/ns/user"))
            .map_err(|e| format!("open user namespace: {e}"))?;
        let tree =
            sys::open_tree_clone(root).map_err(|e| format!("open_tree {}: {e}", root.display()))?;
        match sys::set_idmap(tree.as_fd(), userns.as_fd()) {
            Ok(()) => {
                let mut changed = None;
                if !disk.is_empty() {
                    unshift(disk)?;
                    changed = Some("[]".into());
                }
                return Ok((Some(tree), changed));
            }
            Err(e @ (Errno::EINVAL | Errno::EPERM | Errno::ENOSYS | Errno::EOPNOTSUPP)) => {
                log!(
                    "idmapped mounts unavailable on {} ({e}); shifting on disk",
                    root.display()
                );
            }
            Err(e) => return Err(format!("idmap rootfs {}: {e}", root.display())),
        }
    }
    if disk == &spec.idmap {
        return Ok((None, None));
    }
    if !disk.is_empty() {
        unshift(disk)?;
    }
    let n = shift_tree(root, &spec.idmap, Direction::Shift)
        .map_err(|e| format!("shift rootfs {}: {e}", root.display()))?;
    log!("shifted {n} files in {}", root.display());
    Ok((None, Some(spec.idmap.to_json())))
}

/// Detached bind mounts of the disk devices' host paths.
fn prepare_disks(spec: &ContainerSpec) -> Result<Vec<OwnedFd>, String> {
    spec.mounts.iter().map(prepare_disk).collect()
}

fn prepare_disk(m: &super::spec::DiskMount) -> Result<OwnedFd, String> {
    if !m.source.exists() {
        return Err(format!(
            "disk device source {} does not exist",
            m.source.display()
        ));
    }
    let fd = sys::open_tree_clone(&m.source)
        .map_err(|e| format!("open_tree {}: {e}", m.source.display()))?;
    if m.readonly {
        sys::set_readonly(fd.as_fd())
            .map_err(|e| format!("read-only {}: {e}", m.source.display()))?;
    }
    Ok(fd)
}

impl Monitor {
    /// Mounts a disk device into the running container: a child joins its mount and user
    /// namespaces and attaches the prepared mount.
    fn hotplug(&self, m: &super::spec::DiskMount, add: bool) -> Result<(), String> {
        let fd = if add { Some(prepare_disk(m)?) } else { None };
        let privileged = self.spec.idmap.is_empty();
        // SAFETY: the monitor is single-threaded.
        match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => {
                let r = (|| -> Result<(), String> {
                    for (flag, ns) in &self.ns.fds {
                        if *flag == CloneFlags::CLONE_NEWNS || *flag == CloneFlags::CLONE_NEWUSER {
                            setns(ns.as_fd(), *flag).map_err(|e| format!("setns: {e}"))?;
                        }
                    }
                    if !privileged {
                        let root = nix::unistd::Uid::from_raw(0);
                        let g = nix::unistd::Gid::from_raw(0);
                        nix::unistd::setresgid(g, g, g).map_err(|e| e.to_string())?;
                        nix::unistd::setresuid(root, root, root).map_err(|e| e.to_string())?;
                    }
                    match &fd {
                        Some(fd) => init::attach_disk(m, fd.as_fd()),
                        None => {
                            nix::mount::umount2(m.path.as_str(), nix::mount::MntFlags::MNT_DETACH)
                                .map_err(|e| format!("unmount {}: {e}", m.path))
                        }
                    }
                })();
                if let Err(e) = &r {
                    let _ = std::io::stderr().write_all(format!("{e}\n").as_bytes());
                }
                // SAFETY: ends the forked child without running the monitor's exit handlers.
                unsafe { libc::_exit(if r.is_ok() { 0 } else { 1 }) }
            }
            ForkResult::Parent { child } => match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(s) => Err(format!(
                    "{} {} in the container failed ({s:?}); see {}",
                    if add { "mounting" } else { "unmounting" },
                    m.path,
                    self.spec.paths.monitor_log().display()
                )),
                Err(e) => Err(format!("wait: {e}")),
            },
        }
    }

    fn new(spec: ContainerSpec, hook: Hook<'_>) -> Result<Self, String> {
        let socket = spec.paths.socket();
        let _ = std::fs::remove_file(&socket);
        let listener =
            UnixListener::bind(&socket).map_err(|e| format!("bind {}: {e}", socket.display()))?;
        let _ = std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600));
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("socket: {e}"))?;
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
            .map_err(|e| format!("sigprocmask: {e}"))?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| format!("signalfd: {e}"))?;
        let seccomp = build_filter(&spec.config).map_err(|e| e.to_string())?;
        let own_pidns =
            File::open("/proc/self/ns/pid").map_err(|e| format!("open pid namespace: {e}"))?;
        let own_netns =
            File::open("/proc/self/ns/net").map_err(|e| format!("open net namespace: {e}"))?;
        let mut m = Monitor {
            spec,
            own_pidns,
            own_netns,
            old_netns: None,
            listener,
            sigfd,
            seccomp,
            init_pid: Pid::from_raw(0),
            started_at: 0,
            console: None,
            console_client: None,
            ns: Namespaces { fds: Vec::new() },
            execs: HashMap::new(),
            waiters: Vec::new(),
            deadline: None,
            halt_resend: None,
            killed: false,
            last_state_idmap: None,
        };
        m.boot(Some(hook))?;
        Ok(m)
    }

    /// Creates the cgroup and console, forks the init into its namespaces and waits until it
    /// has executed `/sbin/init`.
    fn boot(&mut self, hook: Option<Hook<'_>>) -> Result<(), String> {
        let old_netns = self.old_netns.take();
        let spec = &self.spec;
        let mut guard = StartGuard {
            spec,
            child: None,
            armed: true,
        };
        spec.cgroup.create().map_err(|e| e.to_string())?;
        let limits = spec.config.limits().map_err(|e| e.to_string())?;
        spec.cgroup
            .apply_limits(&limits)
            .map_err(|e| e.to_string())?;
        let (master, slave, console_path) = open_console(spec)?;
        let log_path = spec.paths.console_log();
        // A new start begins a new log; a reboot keeps appending.
        let log = OpenOptions::new()
            .create(true)
            .write(true)
            .read(true)
            .truncate(self.started_at == 0)
            .mode(0o600)
            .open(&log_path)
            .map_err(|e| format!("console log {}: {e}", log_path.display()))?;
        let log_size = log.metadata().map(|m| m.len()).unwrap_or(0);
        let (parent_sync, child_sync) =
            UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let privileged = spec.idmap.is_empty();
        let mut flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWNET;
        if !privileged {
            flags |= libc::CLONE_NEWUSER;
        }
        // The child starts in the rootfs directory: its copy of the mount namespace keeps the
        // working directory, so it can attach the rootfs there without a path lookup.
        std::env::set_current_dir(&spec.rootfs)
            .map_err(|e| format!("enter rootfs {}: {e}", spec.rootfs.display()))?;
        // SAFETY: the monitor is single-threaded.
        let forked = unsafe { sys::fork_with_namespaces(flags) };
        if !matches!(forked, Ok(0)) {
            let _ = std::env::set_current_dir("/");
        }
        let pid = forked.map_err(|e| format!("clone: {e}"))?;
        if pid == 0 {
            drop(parent_sync);
            reset_signals();
            init::child_main(InitContext {
                spec,
                sync: &child_sync,
                console_slave: &slave,
                console_path: &console_path,
                seccomp: &self.seccomp,
            });
        }
        drop(child_sync);
        let pid = Pid::from_raw(pid);
        guard.child = Some(pid);
        if !privileged {
            write_map(pid, "uid_map", &spec.idmap.uid_map())?;
            write_map(pid, "gid_map", &spec.idmap.gid_map())?;
        }
        spec.cgroup
            .add_process(pid.as_raw())
            .map_err(|e| e.to_string())?;
        let (mount, last_state) = prepare_rootfs(spec, pid)?;
        let mount = match mount {
            Some(m) => m,
            None => sys::open_tree_clone(&spec.rootfs)
                .map_err(|e| format!("open_tree {}: {e}", spec.rootfs.display()))?,
        };
        let disks = prepare_disks(spec)?;
        if let Some(old) = old_netns {
            carry_nics(&old, &self.own_netns, pid)?;
        }
        if let Some(hook) = hook.filter(|_| spec.prestart_hook) {
            hook(pid.as_raw())?;
        }
        let fds: Vec<i32> = std::iter::once(&mount)
            .chain(&disks)
            .map(|f| f.as_raw_fd())
            .collect();
        sys::send_with_fds(parent_sync.as_fd(), init::GO, &fds)
            .map_err(|e| format!("sync: {e}"))?;
        drop(mount);
        drop(disks);
        let mut err = Vec::new();
        let _ = (&parent_sync).read_to_end(&mut err);
        if !err.is_empty() {
            return Err(String::from_utf8_lossy(&err).into_owned());
        }
        if let Ok(WaitStatus::Exited(_, code)) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            guard.child = None;
            return Err(format!("init exited at once with status {code}"));
        }
        let ns = Namespaces::open(pid.as_raw(), !privileged)
            .map_err(|e| format!("open namespaces: {e}"))?;
        // Children forked from now on (exec) are born in the container's pid namespace.
        let pidns = File::open(format!("/proc/{pid}/ns/pid"))
            .map_err(|e| format!("open pid namespace: {e}"))?;
        setns(pidns.as_fd(), CloneFlags::CLONE_NEWPID).map_err(|e| format!("setns pid: {e}"))?;
        std::fs::write(
            spec.paths.pid_file(),
            format!("{} {}\n", std::process::id(), pid),
        )
        .map_err(|e| format!("pid file: {e}"))?;
        guard.armed = false;
        drop(guard);
        self.init_pid = pid;
        self.started_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.console = Some(Console {
            master,
            _slave: slave,
            log,
            size: log_size,
        });
        self.ns = ns;
        self.killed = false;
        self.deadline = None;
        self.halt_resend = None;
        if last_state.is_some() {
            self.spec.disk_idmap = match last_state.as_deref() {
                Some("[]") => IdmapSet::privileged(),
                _ => self.spec.idmap.clone(),
            };
            self.last_state_idmap = last_state;
        }
        Ok(())
    }

    fn run(&mut self) {
        loop {
            let wake = match (self.deadline, self.halt_resend) {
                (Some(d), Some(r)) => Some(d.min(r)),
                (d, r) => d.or(r),
            };
            let timeout = match wake {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                        .unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            let exec_pids: Vec<Pid> = self
                .execs
                .iter()
                .filter(|(_, e)| e.conn.is_some())
                .map(|(p, _)| *p)
                .collect();
            let (listen_ready, sig_ready, console_ready, client_ready, exec_ready) = {
                let mut fds = vec![
                    PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN),
                ];
                let console_fd: Option<BorrowedFd<'_>> =
                    self.console.as_ref().map(|c| c.master.as_fd());
                if let Some(fd) = console_fd {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                }
                let client_at = fds.len();
                let client_fd: Option<BorrowedFd<'_>> =
                    self.console_client.as_ref().map(|c| c.as_fd());
                if let Some(fd) = client_fd {
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                }
                let base = fds.len();
                for pid in &exec_pids {
                    if let Some(c) = self.execs.get(pid).and_then(|e| e.conn.as_ref()) {
                        fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
                    }
                }
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => {
                        log!("poll: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
                let exec_ready: Vec<Pid> = exec_pids
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| fds.get(base + i).is_some_and(ready))
                    .map(|(_, p)| *p)
                    .collect();
                (
                    ready(&fds[0]),
                    ready(&fds[1]),
                    console_fd.is_some() && ready(&fds[2]),
                    client_fd.is_some() && ready(&fds[client_at]),
                    exec_ready,
                )
            };
            if console_ready {
                self.pump_console();
            }
            if client_ready {
                self.console_input();
            }
            if sig_ready {
                while let Ok(Some(_)) = self.sigfd.read_signal() {}
                if self.reap() {
                    return;
                }
            }
            if listen_ready {
                loop {
                    match self.listener.accept() {
                        Ok((conn, _)) => self.handle(conn),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            log!("accept: {e}");
                            break;
                        }
                    }
                }
            }
            for pid in exec_ready {
                self.exec_message(pid);
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                log!("{}: shutdown timed out, killing", self.spec.name);
                self.deadline = None;
                self.halt_resend = None;
                self.force_kill();
            } else if self.halt_resend.is_some_and(|r| Instant::now() >= r) {
                self.halt_resend = None;
                if self.deadline.is_some() && !self.killed {
                    let sig = Signal::try_from(self.spec.halt_signal).unwrap_or(Signal::SIGPWR);
                    if kill(self.init_pid, sig).is_ok() {
                        self.halt_resend = Some(Instant::now() + HALT_RESEND);
                    }
                }
            }
        }
    }

    fn pump_console(&mut self) {
        let Some(c) = self.console.as_mut() else {
            return;
        };
        let mut buf = [0u8; 8192];
        match nix::unistd::read(c.master.as_raw_fd(), &mut buf) {
            Ok(0) | Err(Errno::EIO) => {
                // Nobody holds the terminal any more.
                self.console = None;
            }
            Ok(n) => {
                c.append(&buf[..n]);
                // An attached client gets what it can take; a client that stops reading
                // loses output rather than stalling the monitor.
                if let Some(client) = self.console_client.as_ref() {
                    match (&*client).write(&buf[..n]) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => self.console_client = None,
                    }
                }
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(e) => {
                log!("console read: {e}");
                self.console = None;
            }
        }
    }

    /// Moves what an attached console client typed to the console; detaches it at EOF.
    fn console_input(&mut self) {
        let Some(client) = self.console_client.as_ref() else {
            return;
        };
        let mut buf = [0u8; 4096];
        match (&*client).read(&mut buf) {
            Ok(0) => self.console_client = None,
            Ok(n) => {
                if let Some(c) = self.console.as_ref() {
                    c.input(&buf[..n]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => self.console_client = None,
        }
    }

    fn force_kill(&mut self) {
        self.killed = true;
        if let Err(e) = self.spec.cgroup.kill_all() {
            log!("kill: {e}");
            let _ = kill(self.init_pid, Signal::SIGKILL);
        }
    }

    /// Reaps children; returns true when the monitor should exit.
    fn reap(&mut self) -> bool {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return false,
                Ok(status) => {
                    let Some(pid) = status.pid() else {
                        return false;
                    };
                    let code = match status {
                        WaitStatus::Exited(_, c) => c,
                        WaitStatus::Signaled(_, s, _) => 128 + s as i32,
                        _ => continue,
                    };
                    if pid == self.init_pid {
                        let reboot = matches!(status, WaitStatus::Signaled(_, Signal::SIGHUP, _))
                            && !self.killed
                            && self.waiters.is_empty();
                        log!("{}: init exited ({status:?})", self.spec.name);
                        self.teardown();
                        if reboot {
                            log!("{}: init asked for a reboot", self.spec.name);
                            match self.boot(None) {
                                Ok(()) => continue,
                                Err(e) => log!("{}: reboot failed: {e}", self.spec.name),
                            }
                        }
                        self.finish();
                        return true;
                    }
                    if let Some(e) = self.execs.remove(&pid) {
                        if let Some(conn) = e.conn {
                            let _ =
                                protocol::send(&conn, &Reply::ExecExited { exit_code: code }, &[]);
                        }
                    }
                }
            }
        }
    }

    /// After init is gone: kill what is left, reap, remove the cgroup.
    fn teardown(&mut self) {
        self.pump_console();
        if let Err(e) = self.spec.cgroup.kill_all() {
            log!("kill leftovers: {e}");
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.execs.is_empty() && Instant::now() < deadline {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(1)),
                Ok(status) => {
                    if let Some(e) = status.pid().and_then(|p| self.execs.remove(&p)) {
                        let code = match status {
                            WaitStatus::Exited(_, c) => c,
                            WaitStatus::Signaled(_, s, _) => 128 + s as i32,
                            _ => 1,
                        };
                        if let Some(conn) = e.conn {
                            let _ =
                                protocol::send(&conn, &Reply::ExecExited { exit_code: code }, &[]);
                        }
                    }
                }
                Err(_) => break,
            }
        }
        self.execs.clear();
        if let Err(e) = self.spec.cgroup.remove() {
            log!("remove cgroup: {e}");
        }
        self.console = None;
        self.console_client = None;
        let ns = std::mem::replace(&mut self.ns, Namespaces { fds: Vec::new() });
        if !self.spec.nics.is_empty() {
            self.old_netns = ns
                .fds
                .into_iter()
                .find(|(flag, _)| *flag == CloneFlags::CLONE_NEWNET)
                .map(|(_, fd)| fd);
        }
        // New namespaces must not be created under the dead container's pid namespace.
        if let Err(e) = setns(self.own_pidns.as_fd(), CloneFlags::CLONE_NEWPID) {
            log!("setns back to own pid namespace: {e}");
        }
    }

    fn finish(&mut self) {
        if let Some(old) = self.old_netns.take() {
            if let Err(e) = return_nics(&old, &self.own_netns, &self.spec.nics) {
                log!("{}: handing nics back: {e}", self.spec.name);
            }
        }
        let _ = std::fs::remove_file(self.spec.paths.socket());
        let _ = std::fs::remove_file(self.spec.paths.pid_file());
        let killed = self.killed;
        for (_, conn) in self.waiters.drain(..) {
            let _ = protocol::send(&conn, &Reply::Stopped { killed }, &[]);
        }
    }

    fn info(&self) -> MonitorInfo {
        let cg = &self.spec.cgroup;
        MonitorInfo {
            monitor_pid: std::process::id() as i32,
            init_pid: self.init_pid.as_raw(),
            frozen: cg.is_frozen().unwrap_or(false),
            started_at: self.started_at,
            idmap: self.spec.idmap.clone(),
            cgroup: cg.clone(),
            memory_usage: cg.memory_usage(),
            memory_peak: cg.memory_peak(),
            cpu_usage_ns: cg.cpu_usage_ns(),
            processes: cg.process_count(),
        }
    }

    fn handle(&mut self, conn: UnixStream) {
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let (req, fds) = match protocol::recv::<Request>(&conn) {
            Ok(r) => r,
            Err(e) => {
                let _ = protocol::send(
                    &conn,
                    &Reply::Error {
                        message: e.to_string(),
                    },
                    &[],
                );
                return;
            }
        };
        let err = |conn: &UnixStream, message: String| {
            let _ = protocol::send(conn, &Reply::Error { message }, &[]);
        };
        match req {
            Request::Info => {
                let _ = protocol::send(&conn, &Reply::Info(self.info()), &[]);
            }
            Request::Freeze | Request::Unfreeze => {
                let frozen = matches!(req, Request::Freeze);
                match self.spec.cgroup.set_frozen(frozen) {
                    Ok(()) => {
                        let _ = protocol::send(&conn, &Reply::Done, &[]);
                    }
                    Err(e) => err(&conn, e.to_string()),
                }
            }
            Request::UpdateLimits { config } => {
                let r = config
                    .limits()
                    .map_err(|e| e.to_string())
                    .and_then(|l| self.spec.cgroup.apply_limits(&l).map_err(|e| e.to_string()));
                match r {
                    Ok(()) => {
                        self.spec.config = config;
                        let _ = protocol::send(&conn, &Reply::Done, &[]);
                    }
                    Err(e) => err(&conn, e),
                }
            }
            Request::Mount { mount, add } => match self.hotplug(&mount, add) {
                Ok(()) => {
                    if add {
                        self.spec.mounts.push(mount);
                    } else {
                        self.spec.mounts.retain(|m| m.path != mount.path);
                    }
                    let _ = protocol::send(&conn, &Reply::Done, &[]);
                }
                Err(e) => err(&conn, e),
            },
            Request::Stop => {
                self.waiters.push((Waiter::Stop, conn));
                self.force_kill();
            }
            Request::Shutdown { timeout_ms } => {
                if self.spec.cgroup.is_frozen().unwrap_or(false) {
                    let _ = self.spec.cgroup.set_frozen(false);
                }
                let sig = Signal::try_from(self.spec.halt_signal).unwrap_or(Signal::SIGPWR);
                if let Err(e) = kill(self.init_pid, sig) {
                    err(&conn, format!("send {sig} to init: {e}"));
                    return;
                }
                let d = Instant::now() + Duration::from_millis(timeout_ms);
                self.deadline = Some(self.deadline.map_or(d, |old| old.min(d)));
                self.halt_resend = Some(Instant::now() + HALT_RESEND);
                self.waiters.push((Waiter::Stop, conn));
            }
            Request::Exec(req) => {
                if self.spec.cgroup.is_frozen().unwrap_or(false) {
                    return err(&conn, "The instance is frozen".into());
                }
                match exec::spawn(
                    &req,
                    fds,
                    &self.ns,
                    &self.spec.cgroup,
                    &self.seccomp,
                    &self.spec.config,
                ) {
                    Ok((pid, master)) => {
                        let fds: Vec<i32> = master.iter().map(|m| m.as_raw_fd()).collect();
                        let _ =
                            protocol::send(&conn, &Reply::ExecStarted { pid: pid.as_raw() }, &fds);
                        self.execs.insert(pid, ExecProc { conn: Some(conn) });
                    }
                    Err(message) => err(&conn, message),
                }
            }
            Request::ConsoleAttach { size } => {
                let Some(c) = self.console.as_ref() else {
                    return err(&conn, "The console is not available".into());
                };
                if let Some(size) = size {
                    c.resize(size);
                }
                if protocol::send(&conn, &Reply::Done, &[]).is_ok()
                    && conn.set_nonblocking(true).is_ok()
                {
                    // Drops an earlier client, which sees its connection close.
                    self.console_client = Some(conn);
                }
            }
            Request::ConsoleResize { size } => match self.console.as_ref() {
                Some(c) => {
                    c.resize(size);
                    let _ = protocol::send(&conn, &Reply::Done, &[]);
                }
                None => err(&conn, "The console is not available".into()),
            },
            Request::SetNics { nics } => {
                self.spec.nics = nics;
                let _ = protocol::send(&conn, &Reply::Done, &[]);
            }
            Request::Signal { .. } => {
                err(&conn, "signal is only valid on an exec connection".into())
            }
        }
    }

    fn exec_message(&mut self, pid: Pid) {
        let Some(e) = self.execs.get_mut(&pid) else {
            return;
        };
        let Some(conn) = e.conn.as_ref() else { return };
        match protocol::recv::<Request>(conn) {
            Ok((Request::Signal { signal }, _)) => {
                if let Err(msg) = exec::signal(pid, signal) {
                    log!("signal {signal} to {pid}: {msg}");
                }
            }
            Ok(_) => {}
            Err(_) => {
                // The client went away; the command keeps running.
                e.conn = None;
            }
        }
    }
}
