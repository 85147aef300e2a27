//! Network namespaces as open descriptors: an instance's (`/proc/PID/ns/net`) and the calling
//! thread's own, and netlink sockets opened inside another namespace.
//!
//! A socket keeps the namespace it was created in, so a socket for an instance's namespace is
//! made on a short-lived helper thread that `setns`es there first; the thread calling lxd-net
//! never changes namespace.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

use crate::error::{NetError, Result};

/// An open network namespace.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
    path: PathBuf,
}

impl NetNs {
    /// Opens a namespace file (`/proc/PID/ns/net`, `/run/netns/NAME`).
    pub fn open(path: impl AsRef<Path>) -> Result<NetNs> {
        let path = path.as_ref().to_path_buf();
        let fd = nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| NetError::io("open network namespace", &path, e.into()))?;
        // SAFETY: open returned a new descriptor that nothing else owns.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(NetNs { fd, path })
    }

    /// The namespace of the process `pid` (an instance's init).
    pub fn of_pid(pid: i32) -> Result<NetNs> {
        if pid <= 0 {
            return Err(NetError::invalid(
                "init_pid",
                pid.to_string(),
                "not a process id",
            ));
        }
        NetNs::open(format!("/proc/{pid}/ns/net"))
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<NetNs> {
        NetNs::open("/proc/thread-self/ns/net")
    }

    /// The path it was opened from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw descriptor (for `IFLA_NET_NS_FD`); valid while `self` lives.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether two handles name the same namespace (same inode on nsfs).
    pub fn same_as(&self, other: &NetNs) -> Result<bool> {
        let a = nix::sys::stat::fstat(self.fd.as_raw_fd())
            .map_err(|e| NetError::io("stat", &self.path, e.into()))?;
        let b = nix::sys::stat::fstat(other.fd.as_raw_fd())
            .map_err(|e| NetError::io("stat", &other.path, e.into()))?;
        Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    }

    /// Creates a netlink route socket inside this namespace.
    pub fn netlink_socket(&self) -> Result<OwnedFd> {
        let ns: BorrowedFd<'_> = self.fd.as_fd();
        let r = std::thread::scope(|s| {
            s.spawn(move || -> std::io::Result<OwnedFd> {
                // Only this helper thread changes namespace, and it ends right after.
                nix::sched::setns(ns, CloneFlags::CLONE_NEWNET)?;
                let sock = rtnetlink::sys::Socket::new(rtnetlink::sys::protocols::NETLINK_ROUTE)?;
                let raw = sock.into_raw_fd();
                // SAFETY: `raw` was just released by the socket object, so it is owned here.
                Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
            })
            .join()
        });
        match r {
            Ok(Ok(fd)) => Ok(fd),
            Ok(Err(e)) => Err(NetError::io("open netlink socket in", &self.path, e)),
            Err(_) => Err(NetError::io(
                "open netlink socket in",
                &self.path,
                std::io::Error::other("helper thread panicked"),
            )),
        }
    }
}
