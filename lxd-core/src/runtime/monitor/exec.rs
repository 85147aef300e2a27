//! The monitor's side of exec: fork a child that joins the container's cgroup and namespaces,
//! takes the requested identity and stdio (or a new pty from the container's devpts), and
//! executes the command.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use libseccomp::ScmpFilterContext;
use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::{dup2, execve, fork, setresgid, setresuid, setsid, ForkResult, Gid, Pid, Uid};

use crate::config::InstanceConfig;
use crate::runtime::cgroup::Cgroup;
use crate::runtime::init::{apply_rlimits, drop_caps};
use crate::runtime::monitor::protocol::ExecRequest;
use crate::runtime::sys;

/// Namespace descriptors of a running container, opened once by the monitor.
pub struct Namespaces {
    /// (flag, descriptor) in the order they are joined.
    pub fds: Vec<(CloneFlags, OwnedFd)>,
}

impl Namespaces {
    /// Opens the namespaces of `pid` (the pid namespace is joined by the monitor itself for
    /// its future children, so it is not listed).
    pub fn open(pid: i32, with_user: bool) -> std::io::Result<Self> {
        let mut list = vec![
            ("cgroup", CloneFlags::CLONE_NEWCGROUP),
            ("ipc", CloneFlags::CLONE_NEWIPC),
            ("uts", CloneFlags::CLONE_NEWUTS),
            ("net", CloneFlags::CLONE_NEWNET),
            ("mnt", CloneFlags::CLONE_NEWNS),
        ];
        if with_user {
            list.push(("user", CloneFlags::CLONE_NEWUSER));
        }
        let mut fds = Vec::new();
        for (name, flag) in list {
            let f = std::fs::File::open(format!("/proc/{pid}/ns/{name}"))?;
            fds.push((flag, OwnedFd::from(f)));
        }
        Ok(Namespaces { fds })
    }
}

/// Forks the exec child. Returns its pid and, for a pty exec, the pty master; or the error
/// the child reported before it could exec.
pub fn spawn(
    req: &ExecRequest,
    stdio: Vec<OwnedFd>,
    ns: &Namespaces,
    cgroup: &Cgroup,
    seccomp: &ScmpFilterContext,
    config: &InstanceConfig,
) -> Result<(Pid, Option<OwnedFd>), String> {
    let (parent_sock, child_sock) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    // SAFETY: the monitor is single-threaded, so the child is a faithful copy.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(parent_sock);
            let err = match child(req, stdio, ns, cgroup, seccomp, config, &child_sock) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let code = match err.1 {
                nix::errno::Errno::ENOENT => 127,
                nix::errno::Errno::EACCES => 126,
                _ => 1,
            };
            let _ = (&child_sock).write_all(err.0.as_bytes());
            // SAFETY: ends the forked child without running the monitor's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(child_sock);
            drop(stdio);
            let mut master = None;
            let mut message = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match sys::recv_with_fds(parent_sock.as_fd(), &mut buf) {
                    Ok((0, fds)) => {
                        master = master.or(fds.into_iter().next());
                        break;
                    }
                    Ok((n, fds)) => {
                        master = master.or(fds.into_iter().next());
                        message.extend_from_slice(&buf[..n]);
                    }
                    Err(e) => return Err(format!("exec sync: {e}")),
                }
            }
            // The child sends a single marker byte with the pty master; anything longer is an
            // error message.
            let message: Vec<u8> = message.into_iter().filter(|b| *b != 0).collect();
            if !message.is_empty() {
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(String::from_utf8_lossy(&message).into_owned());
            }
            Ok((child, master))
        }
    }
}

type ChildErr = (String, nix::errno::Errno);

fn fail(what: &str, e: nix::errno::Errno) -> ChildErr {
    (format!("{what}: {e}"), e)
}

fn child(
    req: &ExecRequest,
    stdio: Vec<OwnedFd>,
    ns: &Namespaces,
    cgroup: &Cgroup,
    seccomp: &ScmpFilterContext,
    config: &InstanceConfig,
    sync: &UnixStream,
) -> Result<std::convert::Infallible, ChildErr> {
    let privileged = config.privileged();
    crate::runtime::monitor::reset_signals();
    for dir in &cgroup.dirs {
        std::fs::write(dir.path.join("cgroup.procs"), "0").map_err(|e| {
            (
                format!("join cgroup {}: {e}", dir.path.display()),
                nix::errno::Errno::EIO,
            )
        })?;
    }
    for (flag, fd) in &ns.fds {
        setns(fd.as_fd(), *flag).map_err(|e| fail(&format!("setns {flag:?}"), e))?;
    }
    if !privileged {
        // Become the container's root first: capabilities in the container's namespace.
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(|e| fail("setresgid", e))?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(|e| fail("setresuid", e))?;
    }
    apply_rlimits(config).map_err(|e| (e, nix::errno::Errno::EPERM))?;
    drop_caps(privileged).map_err(|e| (e, nix::errno::Errno::EPERM))?;
    seccomp.load().map_err(|e| {
        (
            format!("load seccomp filter: {e}"),
            nix::errno::Errno::EPERM,
        )
    })?;
    nix::unistd::setgroups(&[Gid::from_raw(req.gid)]).map_err(|e| fail("setgroups", e))?;
    let (gid, uid) = (Gid::from_raw(req.gid), Uid::from_raw(req.uid));
    setresgid(gid, gid, gid).map_err(|e| fail("setresgid", e))?;
    setresuid(uid, uid, uid).map_err(|e| fail("setresuid", e))?;

    if let Some(size) = req.pty {
        let master = open(
            "/dev/ptmx",
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail("open /dev/ptmx", e))?;
        // SAFETY: `open` returned a new descriptor that we own.
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        let unlock: libc::c_int = 0;
        // SAFETY: TIOCSPTLCK reads an int from the pointer, which is valid.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
            return Err(fail("unlock pty", nix::errno::Errno::last()));
        }
        let ws = libc::winsize {
            ws_row: size.rows,
            ws_col: size.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which is valid.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        // SAFETY: TIOCGPTPEER returns a new descriptor for the slave, which we own.
        let slave = unsafe {
            libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY,
            )
        };
        if slave < 0 {
            return Err(fail("open pty slave", nix::errno::Errno::last()));
        }
        // SAFETY: the ioctl returned a new descriptor.
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        sys::send_with_fds(sync.as_fd(), &[0], &[master.as_raw_fd()])
            .map_err(|e| fail("send pty master", e))?;
        drop(master);
        setsid().map_err(|e| fail("setsid", e))?;
        // SAFETY: TIOCSCTTY takes an int; `slave` is an open terminal.
        if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
            return Err(fail("set controlling terminal", nix::errno::Errno::last()));
        }
        for fd in 0..3 {
            dup2(slave.as_raw_fd(), fd).map_err(|e| fail("dup2", e))?;
        }
    } else {
        let mut given = stdio.into_iter();
        let null = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| fail("open /dev/null", e))?;
        // SAFETY: new descriptor from open.
        let null = unsafe { OwnedFd::from_raw_fd(null) };
        // Move the passed descriptors above 2 first so dup2 does not clobber one with another.
        let mut srcs: Vec<OwnedFd> = Vec::new();
        for (i, present) in req.stdio.iter().enumerate() {
            let fd = if *present {
                given
                    .next()
                    .ok_or_else(|| (format!("stdio {i} missing"), nix::errno::Errno::EINVAL))?
            } else {
                null.try_clone()
                    .map_err(|e| (format!("dup /dev/null: {e}"), nix::errno::Errno::EIO))?
            };
            let high = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))
                .map_err(|e| fail("dup stdio", e))?;
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor.
            srcs.push(unsafe { OwnedFd::from_raw_fd(high) });
        }
        for (i, fd) in srcs.iter().enumerate() {
            dup2(fd.as_raw_fd(), i as RawFd).map_err(|e| fail("dup2", e))?;
        }
        // The child runs in its own session so signals sent to its process group stay there.
        let _ = setsid();
    }
    std::env::set_current_dir(&req.cwd).map_err(|e| {
        (
            format!("working directory {}: {e}", req.cwd),
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    sys::close_fds_from(3, &[sync.as_raw_fd()]);
    exec_path(req)
}

/// Executes `argv[0]`, searching the request's `PATH` when it has no slash.
fn exec_path(req: &ExecRequest) -> Result<std::convert::Infallible, ChildErr> {
    let argv: Vec<CString> = req
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            (
                "argument contains a NUL byte".to_string(),
                nix::errno::Errno::EINVAL,
            )
        })?;
    let env: Vec<CString> = req
        .env
        .iter()
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    let prog = req
        .argv
        .first()
        .ok_or_else(|| ("empty command".to_string(), nix::errno::Errno::EINVAL))?;
    let candidates: Vec<String> = if prog.contains('/') {
        vec![prog.clone()]
    } else {
        let path = req
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| format!("{d}/{prog}"))
            .collect()
    };
    let mut last = nix::errno::Errno::ENOENT;
    for c in candidates {
        if !Path::new(&c).exists() {
            continue;
        }
        let Ok(p) = CString::new(c) else { continue };
        let e = execve(&p, &argv, &env).unwrap_err();
        last = e;
    }
    Err(match last {
        nix::errno::Errno::ENOENT => (format!("Command not found: {prog}"), last),
        nix::errno::Errno::EACCES => (format!("Permission denied: {prog}"), last),
        e => (format!("exec {prog}: {e}"), e),
    })
}

/// Sends a signal to an exec'd process.
pub fn signal(pid: Pid, sig: i32) -> Result<(), String> {
    let sig = nix::sys::signal::Signal::try_from(sig).map_err(|e| e.to_string())?;
    nix::sys::signal::kill(pid, sig).map_err(|e| e.to_string())
}
