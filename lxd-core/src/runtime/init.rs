//! The container's first process: forked by the monitor into new namespaces, it waits for its
//! id map and cgroup, builds its filesystem view, pivots into the rootfs, drops privileges and
//! becomes the image's `/sbin/init` as PID 1.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use caps::{CapSet, Capability};
use libseccomp::ScmpFilterContext;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{dup2, execve, sethostname, setresgid, setresuid, setsid, Gid, Uid};

use super::rootfs::{self, ViewOptions};
use super::spec::ContainerSpec;
use super::sys;

/// Capabilities LXD removes from every container's bounding set.
pub const DROPPED_CAPS: &[Capability] = &[
    Capability::CAP_SYS_TIME,
    Capability::CAP_SYS_MODULE,
    Capability::CAP_MAC_ADMIN,
    Capability::CAP_MAC_OVERRIDE,
];

/// Also removed for privileged containers, whose capabilities are the host's.
pub const DROPPED_CAPS_PRIVILEGED: &[Capability] = &[Capability::CAP_SYS_RAWIO];

/// Message the monitor sends when the id map and cgroup are in place.
pub const GO: &[u8] = b"go";

/// Removes the dropped capabilities from the bounding set.
pub fn drop_caps(privileged: bool) -> Result<(), String> {
    let extra: &[Capability] = if privileged {
        DROPPED_CAPS_PRIVILEGED
    } else {
        &[]
    };
    for cap in DROPPED_CAPS.iter().chain(extra) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(|e| format!("drop {cap}: {e}"))?;
        let _ = caps::drop(None, CapSet::Inheritable, *cap);
    }
    Ok(())
}

/// Everything the init child needs, prepared by the monitor before the fork.
pub struct InitContext<'a> {
    /// The container.
    pub spec: &'a ContainerSpec,
    /// Child end of the sync socket (close-on-exec).
    pub sync: &'a UnixStream,
    /// The console's slave side.
    pub console_slave: &'a OwnedFd,
    /// Host path of the console slave.
    pub console_path: &'a Path,
    /// The compiled seccomp filter.
    pub seccomp: &'a ScmpFilterContext,
}

/// Runs in the forked child; never returns. Failures are reported on the sync socket.
pub fn child_main(ctx: InitContext<'_>) -> ! {
    let err = match setup(&ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = (&*ctx.sync).write_all(err.as_bytes());
    // SAFETY: _exit ends the forked child without running the parent's atexit handlers.
    unsafe { libc::_exit(1) }
}

fn step<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn setup(ctx: &InitContext<'_>) -> Result<std::convert::Infallible, String> {
    let spec = ctx.spec;
    // Wait for the monitor: id map written, cgroup joined, rootfs mount prepared.
    let mut buf = [0u8; 16];
    let (n, mut fds) = step(
        "wait for monitor",
        sys::recv_with_fds(ctx.sync.as_fd(), &mut buf),
    )?;
    // "go", then the rootfs mount (idmapped or plain) and the disk mounts in the spec's
    // order.
    let msg = &buf[..n];
    if !msg.starts_with(GO) {
        return Err("monitor aborted the start".into());
    }
    let rootfs_mount = if !fds.is_empty() {
        Some(fds.remove(0))
    } else {
        None
    };
    let disk_mounts = fds;
    let privileged = spec.idmap.is_empty();
    if !privileged {
        step("setgroups", nix::unistd::setgroups(&[]))?;
        step(
            "setresgid",
            setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0)),
        )?;
        step(
            "setresuid",
            setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)),
        )?;
    }
    step(
        "unshare cgroup namespace",
        unshare(CloneFlags::CLONE_NEWCGROUP),
    )?;
    step(
        "make mounts slave",
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None::<&str>,
        ),
    )?;
    // The rootfs is attached on the working directory (the monitor started us in it) and
    // entered through its descriptor: path lookups run as the container's root, which may
    // not search the directories above the rootfs.
    let tree = rootfs_mount.ok_or("the monitor sent no rootfs mount")?;
    step(
        "attach rootfs",
        sys::move_mount(tree.as_fd(), Path::new(".")),
    )?;
    step("enter rootfs", nix::unistd::fchdir(tree.as_raw_fd()))?;
    let root = Path::new(".");
    let view = ViewOptions {
        privileged,
        console: ctx.console_path,
        cgroup_mounts: &spec.cgroup_mounts,
    };
    rootfs::setup(root, &view).map_err(|e| e.0)?;
    step("sethostname", sethostname(&spec.hostname))?;
    rootfs::pivot(root).map_err(|e| e.0)?;
    for (m, fd) in spec.mounts.iter().zip(&disk_mounts) {
        attach_disk(m, fd.as_fd())?;
    }
    apply_rlimits(&spec.config)?;
    apply_sysctls(spec)?;

    // The console becomes init's controlling terminal and stdio.
    step("setsid", setsid())?;
    let console = ctx.console_slave.as_raw_fd();
    // SAFETY: TIOCSCTTY takes an int argument; `console` is an open terminal descriptor.
    if unsafe { libc::ioctl(console, libc::TIOCSCTTY, 0) } < 0 {
        return Err(format!(
            "set console as controlling terminal: {}",
            std::io::Error::last_os_error()
        ));
    }
    for fd in 0..3 {
        step("dup console", dup2(console, fd))?;
    }
    drop_caps(privileged)?;
    step("load seccomp filter", ctx.seccomp.load())?;
    sys::close_fds_from(3, &[ctx.sync.as_raw_fd()]);

    let init = CString::new("/sbin/init").expect("static");
    let mut env = vec![CString::new("container=lxc").expect("static")];
    for (k, v) in spec.config.environment() {
        if let Ok(kv) = CString::new(format!("{k}={v}")) {
            env.push(kv);
        }
    }
    let err = execve(&init, std::slice::from_ref(&init), &env).unwrap_err();
    Err(match err {
        nix::errno::Errno::ENOENT => "the rootfs has no /sbin/init".to_string(),
        e => format!("exec /sbin/init: {e}"),
    })
}

/// Applies `limits.kernel.*` to the calling process.
pub(crate) fn apply_rlimits(config: &crate::config::InstanceConfig) -> Result<(), String> {
    for (key, value) in config.as_map() {
        let Some(name) = key.strip_prefix("limits.kernel.") else {
            continue;
        };
        let resource = match name {
            "as" => libc::RLIMIT_AS,
            "core" => libc::RLIMIT_CORE,
            "cpu" => libc::RLIMIT_CPU,
            "data" => libc::RLIMIT_DATA,
            "fsize" => libc::RLIMIT_FSIZE,
            "locks" => libc::RLIMIT_LOCKS,
            "memlock" => libc::RLIMIT_MEMLOCK,
            "msgqueue" => libc::RLIMIT_MSGQUEUE,
            "nice" => libc::RLIMIT_NICE,
            "nofile" => libc::RLIMIT_NOFILE,
            "nproc" => libc::RLIMIT_NPROC,
            "rss" => libc::RLIMIT_RSS,
            "rtprio" => libc::RLIMIT_RTPRIO,
            "rttime" => libc::RLIMIT_RTTIME,
            "sigpending" => libc::RLIMIT_SIGPENDING,
            "stack" => libc::RLIMIT_STACK,
            _ => continue,
        };
        let parse = |s: &str| {
            if s == "unlimited" {
                libc::RLIM_INFINITY
            } else {
                s.parse().unwrap_or(libc::RLIM_INFINITY)
            }
        };
        let (soft, hard) = match value.split_once(':') {
            Some((s, h)) => (parse(s), parse(h)),
            None => (parse(value), parse(value)),
        };
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: `lim` is a valid rlimit for the duration of the call.
        if unsafe { libc::setrlimit(resource, &lim) } < 0 {
            return Err(format!("{key}: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn apply_sysctls(spec: &ContainerSpec) -> Result<(), String> {
    for (key, value) in spec.config.as_map() {
        let Some(name) = key.strip_prefix("linux.sysctl.") else {
            continue;
        };
        if name.contains("..") || name.contains('/') {
            return Err(format!("{key}: invalid sysctl name"));
        }
        let path = Path::new("/proc/sys").join(name.replace('.', "/"));
        std::fs::write(&path, value).map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(())
}

/// Creates the mount point of a disk device inside the (already pivoted) root and attaches
/// the prepared mount there. Paths resolve inside the container.
pub(crate) fn attach_disk(
    m: &super::spec::DiskMount,
    fd: std::os::fd::BorrowedFd<'_>,
) -> Result<(), String> {
    let target = Path::new(&m.path);
    if !target.is_absolute() || m.path.split('/').any(|c| c == "..") {
        return Err(format!(
            "disk device path {:?} must be absolute without \"..\"",
            m.path
        ));
    }
    let source_is_dir = std::fs::metadata(&m.source)
        .map(|md| md.is_dir())
        .unwrap_or(true);
    if source_is_dir {
        std::fs::create_dir_all(target)
            .map_err(|e| format!("create mount point {}: {e}", m.path))?;
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("create {}: {e}", parent.display()))?;
        }
        if !target.exists() {
            std::fs::File::create(target)
                .map_err(|e| format!("create mount point {}: {e}", m.path))?;
        }
    }
    sys::move_mount(fd, target)
        .map_err(|e| format!("mount {} on {}: {e}", m.source.display(), m.path))
}
