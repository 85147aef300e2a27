//! Metadata of one file: `statx` without following symlinks (with the mount-root attribute),
//! reading directories without touching their access time, and applying ownership,
//! extended attributes (POSIX ACLs and file capabilities included), mode and timestamps to a
//! copy in the order that keeps each of them.

use std::ffi::{CStr, CString, OsString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::error::{Result, StorageError};

/// The kind of a file, from its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    Regular,
    Symlink,
    /// Character or block device, fifo or socket: made with `mknod`.
    Special,
}

/// What `statx` says about one path (not following a final symlink).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub ino: u64,
    pub dev: u64,
    pub rdev: u64,
    pub size: u64,
    pub blocks: u64,
    pub atime: libc::timespec,
    pub mtime: libc::timespec,
    /// Whether the path is the root of a mount; `None` when the kernel does not say.
    pub mount_root: Option<bool>,
}

impl Stat {
    pub fn kind(&self) -> Kind {
        match self.mode & libc::S_IFMT {
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFREG => Kind::Regular,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Special,
        }
    }

    /// The permission bits including setuid, setgid and sticky.
    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// A path as a C string for the system calls.
pub(crate) fn cpath(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        StorageError::invalid("path", path.display().to_string(), "contains a NUL byte")
    })
}

/// `statx(AT_SYMLINK_NOFOLLOW)` of a path.
pub(crate) fn lstat(path: &Path) -> Result<Stat> {
    let c = cpath(path)?;
    lstat_c(&c).map_err(|e| StorageError::sys("stat", path, e))
}

fn lstat_c(path: &CStr) -> std::result::Result<Stat, Errno> {
    // SAFETY: statx only writes into the zeroed buffer it is given.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid NUL-terminated string and `stx` a valid statx buffer.
    let ret = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    };
    Errno::result(ret)?;
    let mount_root_bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    let mount_root = (stx.stx_attributes_mask & mount_root_bit != 0)
        .then_some(stx.stx_attributes & mount_root_bit != 0);
    Ok(Stat {
        mode: u32::from(stx.stx_mode),
        uid: stx.stx_uid,
        gid: stx.stx_gid,
        nlink: stx.stx_nlink,
        ino: stx.stx_ino,
        dev: libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
        rdev: libc::makedev(stx.stx_rdev_major, stx.stx_rdev_minor),
        size: stx.stx_size,
        blocks: stx.stx_blocks,
        atime: libc::timespec {
            tv_sec: stx.stx_atime.tv_sec,
            tv_nsec: i64::from(stx.stx_atime.tv_nsec),
        },
        mtime: libc::timespec {
            tv_sec: stx.stx_mtime.tv_sec,
            tv_nsec: i64::from(stx.stx_mtime.tv_nsec),
        },
        mount_root,
    })
}

/// `lstat` that answers `None` for a path that does not exist.
pub(crate) fn lstat_opt(path: &Path) -> Result<Option<Stat>> {
    let c = cpath(path)?;
    match lstat_c(&c) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(StorageError::sys("stat", path, e)),
    }
}

/// Whether `st` (a directory below a tree whose root is on device `root_dev`) is another
/// mount: the kernel's mount-root attribute where it reports one, else a device change.
pub(crate) fn is_other_mount(st: &Stat, root_dev: u64) -> bool {
    match st.mount_root {
        Some(root) => root,
        None => st.dev != root_dev,
    }
}

/// One directory entry: its name and the type `readdir` gave (`None` when unknown).
pub(crate) struct Entry {
    pub name: OsString,
    pub dir: Option<bool>,
}

/// Opens a directory for reading without following a symlink and, where allowed, without
/// updating its access time.
fn open_dir(path: &Path) -> Result<Dir> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match Dir::open(path, flags | OFlag::O_NOATIME, Mode::empty()) {
        Err(Errno::EPERM) => Dir::open(path, flags, Mode::empty()),
        other => other,
    }
    .map_err(|e| StorageError::sys("open directory", path, e))
}

/// The entries of a directory except `.` and `..`.
pub(crate) fn read_dir(path: &Path) -> Result<Vec<Entry>> {
    let mut dir = open_dir(path)?;
    let mut out = Vec::new();
    for ent in dir.iter() {
        let ent = ent.map_err(|e| StorageError::sys("read directory", path, e))?;
        let name = ent.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let dir = match ent.file_type() {
            Some(Type::Directory) => Some(true),
            Some(_) => Some(false),
            None => None,
        };
        out.push(Entry {
            name: OsString::from_vec(name.to_vec()),
            dir,
        });
    }
    Ok(out)
}

/// Where a file's metadata is read or written: an open descriptor, or a path used without
/// following a final symlink.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Fd(BorrowedFd<'a>),
    Path(&'a CStr),
}

/// The names of a file's extended attributes, in all namespaces.
pub(crate) fn list_xattrs(t: Target<'_>, path: &Path) -> Result<Vec<CString>> {
    let err = |e| StorageError::Xattr {
        op: "list",
        path: path.to_path_buf(),
        name: String::new(),
        source: e,
    };
    let mut buf = vec![0u8; 1024];
    loop {
        let ret = match t {
            // SAFETY: the buffer pointer and length describe `buf`.
            Target::Fd(fd) => unsafe {
                libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
            },
            // SAFETY: `p` is NUL-terminated; the buffer pointer and length describe `buf`.
            Target::Path(p) => unsafe {
                libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
            },
        };
        match Errno::result(ret) {
            Ok(n) => {
                buf.truncate(n as usize);
                break;
            }
            Err(Errno::ERANGE) => buf.resize(buf.len() * 4, 0),
            Err(Errno::EOPNOTSUPP) => return Ok(Vec::new()),
            Err(e) => return Err(err(e)),
        }
    }
    Ok(buf
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| CString::new(n).expect("split at NUL"))
        .collect())
}

/// The value of one extended attribute, or `None` when it vanished since it was listed.
pub(crate) fn get_xattr(t: Target<'_>, name: &CStr, path: &Path) -> Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    loop {
        let ret = match t {
            // SAFETY: `name` is NUL-terminated; the buffer pointer and length describe `buf`.
            Target::Fd(fd) => unsafe {
                libc::fgetxattr(
                    fd.as_raw_fd(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            },
            // SAFETY: both strings are NUL-terminated; the buffer describes `buf`.
            Target::Path(p) => unsafe {
                libc::lgetxattr(
                    p.as_ptr(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            },
        };
        match Errno::result(ret) {
            Ok(n) => {
                buf.truncate(n as usize);
                return Ok(Some(buf));
            }
            Err(Errno::ERANGE) => buf.resize(buf.len() * 4, 0),
            Err(Errno::ENODATA) => return Ok(None),
            Err(e) => {
                return Err(StorageError::Xattr {
                    op: "read",
                    path: path.to_path_buf(),
                    name: name.to_string_lossy().into_owned(),
                    source: e,
                })
            }
        }
    }
}

/// Sets one extended attribute.
pub(crate) fn set_xattr(t: Target<'_>, name: &CStr, value: &[u8], path: &Path) -> Result<()> {
    let ret = match t {
        // SAFETY: `name` is NUL-terminated; the value pointer and length describe `value`.
        Target::Fd(fd) => unsafe {
            libc::fsetxattr(
                fd.as_raw_fd(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        },
        // SAFETY: both strings are NUL-terminated; the value describes `value`.
        Target::Path(p) => unsafe {
            libc::lsetxattr(
                p.as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        },
    };
    Errno::result(ret)
        .map(drop)
        .map_err(|e| StorageError::Xattr {
            op: "write",
            path: path.to_path_buf(),
            name: name.to_string_lossy().into_owned(),
            source: e,
        })
}

/// Removes one extended attribute.
pub(crate) fn remove_xattr(t: Target<'_>, name: &CStr, path: &Path) -> Result<()> {
    let ret = match t {
        // SAFETY: `name` is NUL-terminated.
        Target::Fd(fd) => unsafe { libc::fremovexattr(fd.as_raw_fd(), name.as_ptr()) },
        // SAFETY: both strings are NUL-terminated.
        Target::Path(p) => unsafe { libc::lremovexattr(p.as_ptr(), name.as_ptr()) },
    };
    Errno::result(ret)
        .map(drop)
        .map_err(|e| StorageError::Xattr {
            op: "remove",
            path: path.to_path_buf(),
            name: name.to_string_lossy().into_owned(),
            source: e,
        })
}

/// XFS's on-disk form of the POSIX ACLs, which it also lists (to root) next to
/// `system.posix_acl_*`: the ACLs are copied through the latter, so that the destination
/// filesystem stores them in its own form and no XFS-only attribute lands elsewhere.
const XFS_ACL_MIRRORS: [&[u8]; 2] = [b"trusted.SGI_ACL_FILE", b"trusted.SGI_ACL_DEFAULT"];

/// Copies every extended attribute of `src` onto `dst` (all namespaces: `user`, `trusted`,
/// `security` including file capabilities, and POSIX ACLs as `system.posix_acl_*`); returns
/// how many.
pub(crate) fn copy_xattrs(
    src: Target<'_>,
    src_path: &Path,
    dst: Target<'_>,
    dst_path: &Path,
) -> Result<usize> {
    let names = list_xattrs(src, src_path)?;
    let mut n = 0;
    for name in &names {
        if XFS_ACL_MIRRORS.contains(&name.to_bytes()) {
            continue;
        }
        if let Some(value) = get_xattr(src, name, src_path)? {
            set_xattr(dst, name, &value, dst_path)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Applies `st`'s ownership, extended attributes (copied from `src`), permission bits and
/// times to `dst`, in that order: `chown` clears setuid/setgid bits and file capabilities,
/// so the attributes and mode come after it, and the times come last.
pub(crate) fn apply(
    st: &Stat,
    src: Target<'_>,
    src_path: &Path,
    dst: Target<'_>,
    dst_path: &Path,
) -> Result<()> {
    let kind = st.kind();
    // Ownership.
    let ret = match dst {
        // SAFETY: plain system call on a valid descriptor.
        Target::Fd(fd) => unsafe { libc::fchown(fd.as_raw_fd(), st.uid, st.gid) },
        // SAFETY: `p` is NUL-terminated.
        Target::Path(p) => unsafe {
            libc::fchownat(
                libc::AT_FDCWD,
                p.as_ptr(),
                st.uid,
                st.gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
    };
    Errno::result(ret).map_err(|e| StorageError::sys("chown", dst_path, e))?;

    copy_xattrs(src, src_path, dst, dst_path)?;

    // Mode (symlinks have none of their own).
    if kind != Kind::Symlink {
        let ret = match dst {
            // SAFETY: plain system call on a valid descriptor.
            Target::Fd(fd) => unsafe { libc::fchmod(fd.as_raw_fd(), st.perm()) },
            // SAFETY: `p` is NUL-terminated; the path is not a symlink (checked above).
            Target::Path(p) => unsafe { libc::fchmodat(libc::AT_FDCWD, p.as_ptr(), st.perm(), 0) },
        };
        Errno::result(ret).map_err(|e| StorageError::sys("chmod", dst_path, e))?;
    }

    // Times.
    let times = [st.atime, st.mtime];
    let ret = match dst {
        // SAFETY: `times` holds two timespecs as futimens requires.
        Target::Fd(fd) => unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) },
        // SAFETY: `p` is NUL-terminated and `times` holds two timespecs.
        Target::Path(p) => unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                p.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
    };
    Errno::result(ret).map_err(|e| StorageError::sys("set times of", dst_path, e))?;
    Ok(())
}
