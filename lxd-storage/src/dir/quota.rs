//! Project quotas for the `dir` driver: a volume's files carry a project id and the filesystem
//! enforces a block limit per project. Works where the filesystem is mounted with project
//! quotas (ext4 `prjquota`, xfs `pquota`); elsewhere the error says why.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;

use crate::error::{Result, StorageError};

const SYS_QUOTACTL_FD: libc::c_long = 443;
const Q_GETINFO: u32 = 0x80_0005;
const Q_SETQUOTA: u32 = 0x80_0008;
const Q_GETQUOTA: u32 = 0x80_0007;
const PRJQUOTA: u32 = 2;
const QIF_BLIMITS: u32 = 1;
const FS_XFLAG_PROJINHERIT: u32 = 0x200;
const FS_IOC_FSGETXATTR: libc::c_ulong = 0x801c_581f;
const FS_IOC_FSSETXATTR: libc::c_ulong = 0x401c_5820;

#[repr(C)]
#[derive(Default)]
struct IfDqblk {
    bhardlimit: u64,
    bsoftlimit: u64,
    curspace: u64,
    ihardlimit: u64,
    isoftlimit: u64,
    curinodes: u64,
    btime: u64,
    itime: u64,
    valid: u32,
}

#[repr(C)]
#[derive(Default)]
struct IfDqinfo {
    bgrace: u64,
    igrace: u64,
    flags: u32,
    valid: u32,
}

#[repr(C)]
#[derive(Default)]
struct FsXattr {
    xflags: u32,
    extsize: u32,
    nextents: u32,
    projid: u32,
    cowextsize: u32,
    pad: [u8; 8],
}

fn qcmd(cmd: u32) -> u32 {
    (cmd << 8) | (PRJQUOTA & 0xff)
}

fn quotactl(
    dir: &File,
    cmd: u32,
    id: u32,
    addr: *mut libc::c_void,
) -> std::result::Result<(), Errno> {
    // SAFETY: quotactl_fd reads or writes the structure `addr` points to, which the callers
    // pass as a valid, correctly sized struct for `cmd`.
    let r = unsafe {
        libc::syscall(
            SYS_QUOTACTL_FD,
            dir.as_raw_fd(),
            qcmd(cmd) as libc::c_uint,
            id as libc::c_int,
            addr,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

fn fstype(path: &Path) -> String {
    nix::sys::statfs::statfs(path)
        .map(|s| match s.filesystem_type().0 {
            0xef53 => "ext4".to_string(),
            0x5846_5342 => "xfs".to_string(),
            0x9123_683e => "btrfs".to_string(),
            0x0102_1994 => "tmpfs".to_string(),
            other => format!("filesystem type {other:#x}"),
        })
        .unwrap_or_else(|_| "unknown filesystem".into())
}

/// Checks that project quotas are enforced on the filesystem holding `dir`.
pub fn check_supported(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(|e| StorageError::io("open", dir, e))?;
    let mut info = IfDqinfo::default();
    match quotactl(&f, Q_GETINFO, 0, (&mut info as *mut IfDqinfo).cast()) {
        Ok(()) => Ok(()),
        Err(e) => {
            let why = match e {
                Errno::ESRCH => "project quotas are not enabled on it (mount it with prjquota/pquota)",
                Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::ENOTTY | Errno::EINVAL => {
                    "the kernel has no quota support for it (CONFIG_QUOTA with QFMT_V2 for ext4, CONFIG_XFS_QUOTA for xfs)"
                }
                _ => "the quota query failed",
            };
            Err(StorageError::Unsupported {
                what: format!(
                    "size limits on dir volumes ({} at {})",
                    fstype(dir),
                    dir.display()
                ),
                reason: format!("the dir driver enforces size with project quotas, and {why}: {e}"),
            })
        }
    }
}

/// A stable project id for a volume path.
pub fn project_id(volume: &Path) -> u32 {
    let h = volume
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    10_000 + (h % 0x7fff_0000) as u32
}

fn set_projid(path: &Path, projid: u32) -> Result<()> {
    let f = File::open(path).map_err(|e| StorageError::io("open", path, e))?;
    let mut x = FsXattr::default();
    // SAFETY: FS_IOC_FSGETXATTR fills a struct fsxattr, which `x` is.
    if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FSGETXATTR, &mut x) } < 0 {
        return Err(StorageError::sys("FS_IOC_FSGETXATTR", path, Errno::last()));
    }
    x.projid = projid;
    if path.is_dir() {
        x.xflags |= FS_XFLAG_PROJINHERIT;
    }
    // SAFETY: FS_IOC_FSSETXATTR reads a struct fsxattr, which `x` is.
    if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FSSETXATTR, &x) } < 0 {
        return Err(StorageError::sys("FS_IOC_FSSETXATTR", path, Errno::last()));
    }
    Ok(())
}

/// Tags every directory and regular file of the volume with its project id and sets the
/// block limit (`None` removes it).
pub fn set_limit(volume: &Path, bytes: Option<u64>) -> Result<()> {
    check_supported(volume)?;
    let id = project_id(volume);
    let mut stack = vec![volume.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).map_err(|e| StorageError::io("stat", &p, e))?;
        if m.is_dir() || m.is_file() {
            set_projid(&p, id)?;
        }
        if m.is_dir() {
            for e in std::fs::read_dir(&p).map_err(|e| StorageError::io("read directory", &p, e))? {
                stack.push(
                    e.map_err(|e| StorageError::io("read directory", &p, e))?
                        .path(),
                );
            }
        }
    }
    let f = File::open(volume).map_err(|e| StorageError::io("open", volume, e))?;
    let mut q = IfDqblk {
        bhardlimit: bytes.map_or(0, |b| b.div_ceil(1024)),
        bsoftlimit: 0,
        valid: QIF_BLIMITS,
        ..Default::default()
    };
    quotactl(&f, Q_SETQUOTA, id, (&mut q as *mut IfDqblk).cast())
        .map_err(|e| StorageError::sys("quotactl Q_SETQUOTA", volume, e))
}

/// Bytes charged to the volume's project, when project quotas are on.
pub fn usage(volume: &Path) -> Option<u64> {
    let f = File::open(volume).ok()?;
    let mut q = IfDqblk::default();
    quotactl(
        &f,
        Q_GETQUOTA,
        project_id(volume),
        (&mut q as *mut IfDqblk).cast(),
    )
    .ok()?;
    Some(q.curspace)
}
