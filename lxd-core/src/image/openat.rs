//! Descriptor-relative file-system calls that never follow a symlink where the caller did not
//! ask for it: `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` (or `RESOLVE_IN_ROOT`),
//! and the `*at` calls on a parent directory descriptor plus a single name.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

/// How `open_resolved` treats symlinks met on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolve {
    /// Any symlink in the path fails with `ELOOP`; `..` may not climb above the root.
    NoSymlinks,
    /// Symlinks and `..` are resolved as if the root were `/` (a chroot-like walk that cannot
    /// leave the root); magic links (`/proc/*/fd`) fail.
    InRoot,
}

fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: the caller passes a descriptor a syscall just returned; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Opens the directory at `path` (an ordinary path, followed as usual).
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let p = cstr(path.as_os_str().as_bytes())?;
    // SAFETY: `p` is a valid NUL-terminated string for the duration of the call.
    let fd = check(unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    Ok(owned(fd))
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)` for a single name.
pub(crate) fn openat(
    dir: BorrowedFd<'_>,
    name: &[u8],
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    let n = cstr(name)?;
    // SAFETY: `n` is a valid C string; `dir` is a live descriptor.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            n.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    Ok(owned(fd))
}

/// The kernel's `struct open_how` (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Opens `rel` (a relative path, `/`-separated, no `..` for [`Resolve::NoSymlinks`]) under
/// `root` with `flags`, resolving as `resolve` says. On kernels without `openat2` the
/// [`Resolve::NoSymlinks`] walk is done one component at a time with `O_NOFOLLOW`.
pub(crate) fn open_resolved(
    root: BorrowedFd<'_>,
    rel: &[u8],
    flags: i32,
    mode: u32,
    resolve: Resolve,
) -> io::Result<OwnedFd> {
    let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
    let p = cstr(rel)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: if flags & libc::O_CREAT != 0 {
            mode as u64
        } else {
            0
        },
        resolve: match resolve {
            Resolve::NoSymlinks => {
                libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS
            }
            Resolve::InRoot => libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        },
    };
    // SAFETY: `p` and `how` are valid for the call and the size of `how` is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            p.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if ret >= 0 {
        return Ok(owned(ret as libc::c_int));
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) || resolve != Resolve::NoSymlinks {
        return Err(err);
    }
    // No openat2: walk with O_NOFOLLOW, which fails with ELOOP on a symlink component.
    let mut parts = rel
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".");
    let mut cur: Option<OwnedFd> = None;
    let mut next = parts.next();
    while let Some(part) = next {
        if part == b".." {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        next = parts.next();
        let dir = cur.as_ref().map(|f| f.as_fd()).unwrap_or(root);
        let f = if next.is_some() {
            openat(
                dir,
                part,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )?
        } else {
            openat(dir, part, flags | libc::O_NOFOLLOW, mode)?
        };
        cur = Some(f);
    }
    match cur {
        Some(f) => Ok(f),
        None => openat(root, b".", flags, mode),
    }
}

/// `mkdirat(dir, name, mode)`.
pub(crate) fn mkdirat(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let n = cstr(name)?;
    // SAFETY: valid C string and live descriptor.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), n.as_ptr(), mode as libc::mode_t) })?;
    Ok(())
}

/// `symlinkat(target, dir, name)`.
pub(crate) fn symlinkat(target: &[u8], dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let t = cstr(target)?;
    let n = cstr(name)?;
    // SAFETY: valid C strings and live descriptor.
    check(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) })?;
    Ok(())
}

/// `linkat(old_dir, old_name, new_dir, new_name, 0)`: a hard link to `old_name` itself (a
/// symlink is linked, not followed).
pub(crate) fn linkat(
    old_dir: BorrowedFd<'_>,
    old_name: &[u8],
    new_dir: BorrowedFd<'_>,
    new_name: &[u8],
) -> io::Result<()> {
    let o = cstr(old_name)?;
    let n = cstr(new_name)?;
    // SAFETY: valid C strings and live descriptors.
    check(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            o.as_ptr(),
            new_dir.as_raw_fd(),
            n.as_ptr(),
            0,
        )
    })?;
    Ok(())
}

/// `mknodat(dir, name, mode, dev)` for device nodes and fifos.
pub(crate) fn mknodat(dir: BorrowedFd<'_>, name: &[u8], mode: u32, dev: u64) -> io::Result<()> {
    let n = cstr(name)?;
    // SAFETY: valid C string and live descriptor.
    check(unsafe {
        libc::mknodat(
            dir.as_raw_fd(),
            n.as_ptr(),
            mode as libc::mode_t,
            dev as libc::dev_t,
        )
    })?;
    Ok(())
}

/// `unlinkat(dir, name, flags)`.
pub(crate) fn unlinkat(dir: BorrowedFd<'_>, name: &[u8], flags: i32) -> io::Result<()> {
    let n = cstr(name)?;
    // SAFETY: valid C string and live descriptor.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), n.as_ptr(), flags) })?;
    Ok(())
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lstatat(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<libc::stat> {
    let n = cstr(name)?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid C string, live descriptor, and `st` has room for a `struct stat`.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            n.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded, so it filled `st`.
    Ok(unsafe { st.assume_init() })
}

/// `fstat(fd)`.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: live descriptor and `st` has room for a `struct stat`.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled `st`.
    Ok(unsafe { st.assume_init() })
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn lchownat(dir: BorrowedFd<'_>, name: &[u8], uid: u32, gid: u32) -> io::Result<()> {
    let n = cstr(name)?;
    // SAFETY: valid C string and live descriptor.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            n.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// `fchown(fd, uid, gid)`.
pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: live descriptor.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
    Ok(())
}

/// `fchmod(fd, mode)`.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: live descriptor.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })?;
    Ok(())
}

/// `fchmodat(dir, name, mode, 0)`, for an entry just created that is not a symlink.
pub(crate) fn fchmodat(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let n = cstr(name)?;
    // SAFETY: valid C string and live descriptor.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), n.as_ptr(), mode as libc::mode_t, 0) })?;
    Ok(())
}

/// `fsetxattr(fd, name, value, 0)`.
pub(crate) fn fsetxattr(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> io::Result<()> {
    let n = cstr(name)?;
    // SAFETY: valid C string, `value` valid for its length, live descriptor.
    check(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })?;
    Ok(())
}

/// `lsetxattr` on `name` inside the directory `dir`, through `/proc/self/fd/DIR/NAME` (the
/// final component, a symlink, device or fifo, is not followed).
pub(crate) fn lsetxattrat(
    dir: BorrowedFd<'_>,
    name: &[u8],
    xname: &[u8],
    value: &[u8],
) -> io::Result<()> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name);
    let p = cstr(&path)?;
    let n = cstr(xname)?;
    // SAFETY: valid C strings and `value` valid for its length.
    check(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })?;
    Ok(())
}

fn timespecs(sec: i64, nsec: u32) -> [libc::timespec; 2] {
    let t = libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as libc::c_long,
    };
    [t, t]
}

/// Sets the access and modification times of `fd` to `sec.nsec`.
pub(crate) fn futimens(fd: BorrowedFd<'_>, sec: i64, nsec: u32) -> io::Result<()> {
    let ts = timespecs(sec, nsec);
    // SAFETY: live descriptor and a two-element timespec array.
    check(unsafe { libc::futimens(fd.as_raw_fd(), ts.as_ptr()) })?;
    Ok(())
}

/// Sets the access and modification times of `name` in `dir` without following it.
pub(crate) fn lutimensat(dir: BorrowedFd<'_>, name: &[u8], sec: i64, nsec: u32) -> io::Result<()> {
    let n = cstr(name)?;
    let ts = timespecs(sec, nsec);
    // SAFETY: valid C string, live descriptor and a two-element timespec array.
    check(unsafe {
        libc::utimensat(
            dir.as_raw_fd(),
            n.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}
