//! Thin wrappers over the system calls the runtime needs that nix does not wrap: the new mount
//! API (idmapped mounts), `pivot_root`, a fork-like `clone` with namespace flags, and passing
//! file descriptors over unix sockets.

use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

fn cpath(p: &Path) -> Result<CString, Errno> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)
}

fn check(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes a detached recursive copy of the mount tree at `path` (`open_tree(OPEN_TREE_CLONE)`).
pub fn open_tree_clone(path: &Path) -> Result<OwnedFd, Errno> {
    let p = cpath(path)?;
    // SAFETY: `p` is a valid NUL-terminated string for the duration of the call; the kernel
    // returns a new file descriptor that we take ownership of.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            p.as_ptr(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE,
        )
    })?;
    // SAFETY: the syscall succeeded, so `fd` is a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Makes a detached mount idmapped through the user namespace `userns`.
pub fn set_idmap(mount: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: `attr` lives across the call and its size is passed; the empty path with
    // AT_EMPTY_PATH makes the kernel act on `mount` itself.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;

/// Makes a detached mount tree read-only.
pub fn set_readonly(mount: BorrowedFd<'_>) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: as in `set_idmap`: `attr` lives across the call and its size is passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })?;
    Ok(())
}

/// Attaches a detached mount at `target` (`move_mount`).
pub fn move_mount(mount: BorrowedFd<'_>, target: &Path) -> Result<(), Errno> {
    let t = cpath(target)?;
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })?;
    Ok(())
}

/// `pivot_root(new_root, put_old)`.
pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<(), Errno> {
    let (n, o) = (cpath(new_root)?, cpath(put_old)?);
    // SAFETY: both are valid NUL-terminated strings for the duration of the call.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) })?;
    Ok(())
}

/// Forks with extra `CLONE_NEW*` flags: returns 0 in the child and the child's pid in the
/// parent, like `fork(2)`.
///
/// # Safety
/// The caller must be single-threaded (the monitor is), as with `fork`: the child gets a copy of
/// the address space in which only the calling thread exists.
pub unsafe fn fork_with_namespaces(flags: libc::c_int) -> Result<libc::pid_t, Errno> {
    // SAFETY: with a NULL stack the raw clone syscall behaves like fork (the child runs on a
    // copy of the parent's stack); the caller guarantees single-threadedness.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    check(ret).map(|p| p as libc::pid_t)
}

/// Closes every descriptor from `first` upward except those listed in `keep`.
pub fn close_fds_from(first: RawFd, keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|f| *f >= first).collect();
    keep.sort_unstable();
    let mut lo = first as libc::c_uint;
    for k in keep {
        if (k as libc::c_uint) > lo {
            // SAFETY: close_range only closes descriptors; none in the range are in use by Rust
            // objects the caller keeps (the caller lists those in `keep`).
            unsafe { libc::syscall(libc::SYS_close_range, lo, k as libc::c_uint - 1, 0) };
        }
        lo = k as libc::c_uint + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, lo, libc::c_uint::MAX, 0) };
}

/// Sends `data` and the descriptors `fds` in one message.
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[RawFd]) -> Result<(), Errno> {
    let iov = [IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    let mut sent = sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    // A stream socket may take the data in pieces; the descriptors went with the first one.
    while sent < data.len() {
        let iov = [IoSlice::new(&data[sent..])];
        sent += sendmsg::<()>(sock.as_raw_fd(), &iov, &[], MsgFlags::MSG_NOSIGNAL, None)?;
    }
    Ok(())
}

/// Receives up to `buf.len()` bytes and any descriptors sent with them (close-on-exec).
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(usize, Vec<OwnedFd>), Errno> {
    let mut space = nix::cmsg_space!([RawFd; 8]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(list) = c {
            // SAFETY: SCM_RIGHTS installed these descriptors in our table just now; we are
            // their only owner.
            fds.extend(
                list.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    Ok((msg.bytes, fds))
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// Opens `path` (as `O_PATH`) relative to `root`, resolving `..` and symlinks as if `root`
/// were `/` (`openat2` with `RESOLVE_IN_ROOT`), so nothing outside `root` is reached.
pub fn openat_in_root(root: RawFd, path: &str) -> Result<OwnedFd, Errno> {
    let p = CString::new(path).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `p` and `how` are valid for the duration of the call and `how`'s size is passed.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            p.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })?;
    // SAFETY: the syscall returned a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
