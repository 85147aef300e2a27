//! The container's filesystem view, built inside its new mount namespace before
//! `pivot_root`: `/proc`, `/sys`, the cgroup hierarchies, and a `/dev` tmpfs with the standard
//! nodes, a new devpts instance and the console.

use std::fs;
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::sys;

/// Errors while building the view, with the step and path that failed.
#[derive(Debug)]
pub struct SetupError(pub String);

impl SetupError {
    fn new(step: &str, path: &Path, e: impl std::fmt::Display) -> Self {
        SetupError(format!("{step} {}: {e}", path.display()))
    }
}

type R<T> = Result<T, SetupError>;

/// Options of the view.
pub struct ViewOptions<'a> {
    /// Privileged containers get LXD's `proc:mixed sys:mixed` (read-only `/proc/sys` except
    /// `net`, read-only `/sys` except `devices/virtual/net`); unprivileged ones get rw mounts
    /// that the kernel restricts through the user namespace.
    pub privileged: bool,
    /// Host path of the console pty's slave.
    pub console: &'a Path,
    /// cgroup hierarchies to mount: (name under `/sys/fs/cgroup`, options); an empty name
    /// mounts cgroup2 on `/sys/fs/cgroup` itself.
    pub cgroup_mounts: &'a [(String, String)],
}

fn mnt(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    step: &str,
) -> R<()> {
    mount(src, target, fstype, flags, data).map_err(|e| SetupError::new(step, target, e))
}

fn bind(src: &Path, target: &Path, step: &str) -> R<()> {
    mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| SetupError::new(step, target, e))
}

fn remount_ro(target: &Path, extra: MsFlags) -> R<()> {
    mnt(
        None,
        target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | extra,
        None,
        "remount read-only",
    )
}

/// Makes sure `path` is a real directory inside the rootfs (not a symlink that could point
/// the mount elsewhere).
fn ensure_dir(path: &Path) -> R<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(SetupError::new("mount point", path, "is not a directory")),
        Err(_) => fs::DirBuilder::new()
            .mode(0o755)
            .create(path)
            .map_err(|e| SetupError::new("mkdir", path, e)),
    }
}

fn ensure_file(path: &Path) -> R<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(SetupError::new(
            "mount point",
            path,
            "is not a regular file",
        )),
        Err(_) => fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o000)
            .open(path)
            .map(drop)
            .map_err(|e| SetupError::new("create", path, e)),
    }
}

/// Builds the view under `root` (the rootfs, already mounted at that path).
pub fn setup(root: &Path, opts: &ViewOptions<'_>) -> R<()> {
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;

    // /proc
    let proc_ = root.join("proc");
    ensure_dir(&proc_)?;
    mnt(
        Some("proc"),
        &proc_,
        Some("proc"),
        nosuid_nodev_noexec,
        None,
        "mount proc",
    )?;
    if opts.privileged {
        let sys_ = proc_.join("sys");
        bind(&sys_, &sys_, "bind /proc/sys")?;
        let net = sys_.join("net");
        if net.exists() {
            bind(&net, &net, "bind /proc/sys/net")?;
        }
        remount_ro(&sys_, nosuid_nodev_noexec)?;
        let sysrq = proc_.join("sysrq-trigger");
        if sysrq.exists() {
            bind(&sysrq, &sysrq, "bind /proc/sysrq-trigger")?;
            remount_ro(&sysrq, nosuid_nodev_noexec)?;
        }
    }

    // /sys
    let sys_ = root.join("sys");
    ensure_dir(&sys_)?;
    mnt(
        Some("sysfs"),
        &sys_,
        Some("sysfs"),
        nosuid_nodev_noexec,
        None,
        "mount sysfs",
    )?;
    if opts.privileged {
        let net = sys_.join("devices/virtual/net");
        if net.exists() {
            bind(&net, &net, "bind /sys/devices/virtual/net")?;
        }
    }

    // /sys/fs/cgroup, rooted at the container's cgroup by the cgroup namespace.
    let cg = sys_.join("fs/cgroup");
    if cg.is_dir() && !opts.cgroup_mounts.is_empty() {
        let unified_only = opts.cgroup_mounts.len() == 1 && opts.cgroup_mounts[0].0.is_empty();
        if unified_only {
            mnt(
                Some("cgroup2"),
                &cg,
                Some("cgroup2"),
                nosuid_nodev_noexec,
                None,
                "mount cgroup2",
            )?;
        } else {
            mnt(
                Some("tmpfs"),
                &cg,
                Some("tmpfs"),
                nosuid_nodev_noexec,
                Some("mode=755,size=65536"),
                "mount cgroup tmpfs",
            )?;
            for (name, opts_) in opts.cgroup_mounts {
                let dir = cg.join(name);
                ensure_dir(&dir)?;
                if opts_ == "cgroup2" {
                    mnt(
                        Some("cgroup2"),
                        &dir,
                        Some("cgroup2"),
                        nosuid_nodev_noexec,
                        None,
                        "mount cgroup2",
                    )?;
                } else {
                    mnt(
                        Some("cgroup"),
                        &dir,
                        Some("cgroup"),
                        nosuid_nodev_noexec,
                        Some(opts_),
                        "mount cgroup",
                    )?;
                }
                // Co-mounted controllers (cpu,cpuacct) get a link per controller, as on hosts.
                if name.contains(',') {
                    for c in name.split(',') {
                        let _ = symlink(name, cg.join(c));
                    }
                }
            }
            mnt(
                None,
                &cg,
                None,
                MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | nosuid_nodev_noexec,
                Some("mode=755"),
                "remount cgroup tmpfs",
            )?;
        }
    }
    if opts.privileged {
        remount_ro(&sys_, nosuid_nodev_noexec)?;
    }

    // /dev
    let dev = root.join("dev");
    ensure_dir(&dev)?;
    mnt(
        Some("none"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("size=500000,mode=755"),
        "mount /dev tmpfs",
    )?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(node);
        ensure_file(&target)?;
        bind(&Path::new("/dev").join(node), &target, "bind device")?;
    }
    for optional in ["fuse", "net/tun"] {
        let host = Path::new("/dev").join(optional);
        if host.exists() {
            let target = dev.join(optional);
            if let Some(parent) = target.parent() {
                ensure_dir(parent)?;
            }
            ensure_file(&target)?;
            bind(&host, &target, "bind device")?;
        }
    }
    let pts = dev.join("pts");
    ensure_dir(&pts)?;
    mnt(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5,max=1024"),
        "mount devpts",
    )?;
    let ptmx = dev.join("ptmx");
    ensure_file(&ptmx)?;
    bind(&pts.join("ptmx"), &ptmx, "bind /dev/ptmx")?;
    let console = dev.join("console");
    ensure_file(&console)?;
    bind(opts.console, &console, "bind /dev/console")?;
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(to, dev.join(link)).map_err(|e| SetupError::new("symlink", &dev.join(link), e))?;
    }
    let shm = dev.join("shm");
    ensure_dir(&shm)?;
    mnt(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
        "mount /dev/shm",
    )?;
    let mq = dev.join("mqueue");
    ensure_dir(&mq)?;
    mnt(
        Some("mqueue"),
        &mq,
        Some("mqueue"),
        nosuid_nodev_noexec,
        None,
        "mount /dev/mqueue",
    )?;
    Ok(())
}

/// Switches the root to `root` and detaches the old one, so no host mount stays visible.
pub fn pivot(root: &Path) -> R<()> {
    std::env::set_current_dir(root).map_err(|e| SetupError::new("chdir", root, e))?;
    sys::pivot_root(Path::new("."), Path::new("."))
        .map_err(|e| SetupError::new("pivot_root", root, e))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| SetupError::new("detach old root", Path::new("/"), e))?;
    std::env::set_current_dir("/").map_err(|e| SetupError::new("chdir", Path::new("/"), e))?;
    Ok(())
}
