//! `/1.0/instances/NAME/files?path=P`: pull (`GET`, `HEAD`), push (`POST`) and delete
//! (`DELETE`) files, directories and symlinks of an instance, all sync.
//!
//! Every path is resolved inside the container, never on the host: the container's root is
//! opened once — through `/proc/INIT/root` for a running container (the kernel resolves it in
//! the container's mount namespace), or the instance's `rootfs/` when it is stopped — and every
//! path is then resolved relative to that descriptor with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`, so `..` and absolute symlinks stay in the container and magic links
//! (`/proc/PID/root`, `/proc/self/fd/N`) are refused. Operations act on the descriptors found
//! (`fchown`, `fchmod`, writes) or on a parent descriptor and one name (`mkdirat`,
//! `symlinkat`, `unlinkat`). Pseudo filesystems (proc, sysfs, cgroup, ...) are never written.
//!
//! Ownership on the wire is in container ids. A running container's files are seen through its
//! id map (idmapped rootfs, userns-owned mounts), so changes are made with the thread's
//! filesystem ids set to the container's root and ids converted with the map; a stopped one's
//! files hold container ids unless `volatile.last_state.idmap` says the rootfs was shifted.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::HeaderValue;
use hyper::Method;
use lxd_core::runtime::idmap::IdmapSet;
use lxd_core::Container;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::{Gid, Uid};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::util::url;
use crate::server::reply::{full, Body};
use crate::server::{ApiError, ApiState, Reply, Req};

/// Files up to this size are read at once; larger ones are streamed.
const READ_AT_ONCE: u64 = 256 * 1024;
/// Chunk size of streamed reads.
const CHUNK: usize = 64 * 1024;
/// The longest symlink target accepted.
const MAX_LINK: usize = 4096;
/// What a container id that the map does not cover shows as (the kernel's overflow id).
const OVERFLOW_ID: u64 = 65534;

/// Why a file operation failed, with the path (inside the instance) concerned.
#[derive(Debug, thiserror::Error)]
pub(super) enum FileError {
    /// The path does not exist (LXD's message is just "Not Found").
    #[error("Not Found")]
    NotFound {
        /// The path.
        path: String,
    },
    /// A request header is invalid.
    #[error("Invalid {header} header {value:?}: {reason}")]
    BadHeader {
        /// The header.
        header: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The path cannot name what the request asks for.
    #[error("Invalid path {path:?}: {reason}")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A container id outside the instance's id map.
    #[error("{kind} {id} for {path} is not mapped in the instance")]
    Unmapped {
        /// `uid` or `gid`.
        kind: &'static str,
        /// The container id.
        id: u32,
        /// The path.
        path: String,
    },
    /// Neither a regular file, a directory nor a symlink.
    #[error("{path} is not a regular file, directory or symlink")]
    Unsupported {
        /// The path.
        path: String,
    },
    /// The path is on a kernel pseudo filesystem.
    #[error("{path} is on {fs}, which cannot be changed through the files API")]
    PseudoFs {
        /// The path.
        path: String,
        /// The filesystem.
        fs: &'static str,
    },
    /// Something else already has the name.
    #[error("{path} already exists")]
    Exists {
        /// The path.
        path: String,
    },
    /// A directory still has entries.
    #[error("Failed to delete {path}: directory not empty")]
    NotEmpty {
        /// The path.
        path: String,
    },
    /// The upload stopped before its end.
    #[error("Upload of {path} failed: {reason}")]
    Upload {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The instance's root could not be opened.
    #[error("Failed to open the filesystem of instance {instance}: {reason}")]
    Root {
        /// The instance.
        instance: String,
        /// Why.
        reason: String,
    },
    /// A system call failed.
    #[error("Failed to {op} {path}: {errno}")]
    Sys {
        /// What was done.
        op: &'static str,
        /// The path.
        path: String,
        /// The error.
        errno: Errno,
    },
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        let status = match &e {
            FileError::NotFound { .. } => 404,
            FileError::Exists { .. } => 409,
            FileError::Root { .. } => 500,
            FileError::Sys { errno, .. } => match errno {
                Errno::EACCES | Errno::EPERM => 403,
                Errno::EISDIR
                | Errno::ENOTDIR
                | Errno::ELOOP
                | Errno::ENAMETOOLONG
                | Errno::EXDEV
                | Errno::EINVAL
                | Errno::EROFS
                | Errno::ENOSPC
                | Errno::EDQUOT
                | Errno::EOVERFLOW => 400,
                _ => 500,
            },
            _ => 400,
        };
        if let FileError::NotFound { path } = &e {
            tracing::debug!(%path, "file not found in the instance");
        }
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

/// A failed system call on `path` (ENOENT is "Not Found").
fn sys(op: &'static str, path: &str) -> impl FnOnce(Errno) -> FileError {
    let path = path.to_string();
    move |errno| match errno {
        Errno::ENOENT => FileError::NotFound { path },
        errno => FileError::Sys { op, path, errno },
    }
}

/// Takes ownership of a descriptor a system call just returned.
fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass descriptors freshly returned by open-like calls, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `openat2` relative to `dir` with `resolve`; `EAGAIN` (a concurrent rename) is retried.
fn openat2(
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlag,
    mode: u32,
    resolve: ResolveFlag,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(Mode::from_bits_truncate(mode))
        .resolve(resolve);
    let mut tries = 0;
    loop {
        match nix::fcntl::openat2(dir.as_raw_fd(), path, how) {
            Ok(fd) => return Ok(own(fd)),
            Err(Errno::EAGAIN | Errno::EINTR) if tries < 16 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Resolves `path` inside the root `root` (its `/`): `..` and absolute symlinks stay inside,
/// magic links fail.
fn open_in(root: BorrowedFd<'_>, path: &str, flags: OFlag, mode: u32) -> Result<OwnedFd, Errno> {
    let path = if path.is_empty() { "/" } else { path };
    openat2(
        root,
        path,
        flags,
        mode,
        ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    )
}

/// Opens the single entry `name` of the directory `dir`, following no symlink at all.
fn open_entry(dir: BorrowedFd<'_>, name: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
    openat2(
        dir,
        name,
        flags | OFlag::O_NOFOLLOW,
        0,
        ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS,
    )
}

/// Whether `path` exists inside the running container whose init is `pid` (resolved in the
/// container, as every files operation is).
pub(super) fn exists_in_container(pid: i32, path: &str) -> bool {
    let Ok(root) = File::open(format!("/proc/{pid}/root")) else {
        return false;
    };
    open_in(root.as_fd(), path, OFlag::O_PATH, 0).is_ok()
}

/// `stat` of what a descriptor (possibly `O_PATH`, possibly a symlink) refers to.
fn stat_fd(fd: BorrowedFd<'_>, path: &str) -> Result<FileStat, FileError> {
    nix::sys::stat::fstatat(
        Some(fd.as_raw_fd()),
        "",
        nix::fcntl::AtFlags::AT_EMPTY_PATH | nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(sys("stat", path))
}

fn file_type(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Refuses to change anything on a kernel pseudo filesystem (the daemon acts with host
/// privileges; a container's `/proc/sys` or `/sys` reached through a symlink must not become a
/// way to change the host).
fn check_writable(fd: BorrowedFd<'_>, path: &str) -> Result<(), FileError> {
    let st = nix::sys::statfs::fstatfs(fd).map_err(sys("statfs", path))?;
    let magic = st.filesystem_type().0 as i64;
    let fs = match magic {
        0x9fa0 => "proc",
        0x6265_6572 => "sysfs",
        0x0027_e0eb => "cgroup",
        0x6367_7270 => "cgroup2",
        0x7363_6673 => "securityfs",
        0x6462_6720 => "debugfs",
        0x7472_6163 => "tracefs",
        0xcafe_4a11 => "bpf",
        0x6265_6570 => "configfs",
        0xde5e_81e4 => "efivarfs",
        0x4249_4e4d => "binfmt_misc",
        0x6165_676c => "pstore",
        0x6573_5543 => "fusectl",
        0xf97c_ff8c => "selinuxfs",
        0x4341_5d53 => "smackfs",
        0x1cd1 => "devpts",
        _ => return Ok(()),
    };
    Err(FileError::PseudoFs {
        path: path.to_string(),
        fs,
    })
}

/// Splits an absolute path into its parent and last name (`/` has no name).
fn split(path: &str) -> (&str, &str) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => ("/", trimmed),
    }
}

/// The parent and name of a path that is to be created or removed.
fn parent_and_name(path: &str) -> Result<(&str, &str), FileError> {
    let (parent, name) = split(path);
    if name.is_empty() || name == "." || name == ".." {
        return Err(FileError::BadPath {
            path: path.to_string(),
            reason: "it does not end with a name",
        });
    }
    Ok((parent, name))
}

/// Go's `filepath.Clean` of an absolute path.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A symlink's target as LXD reports it: made absolute against the link's directory.
fn absolute_target(link: &str, target: &str) -> String {
    if target.starts_with('/') {
        clean(target)
    } else {
        clean(&format!("{}/{target}", split(link).0))
    }
}

/// The container's `/`, with the id map its files are seen through.
struct Root {
    fd: OwnedFd,
    /// Ids as seen through `fd` ↔ container ids (identity when empty).
    map: IdmapSet,
    /// Filesystem ids to create files with (the container's root, when files are seen through
    /// an id map: only mapped ids may create there).
    creator: Option<(u32, u32)>,
}

impl Root {
    /// Opens the root of a running container through its init, or the rootfs of a stopped one.
    fn open(c: &Container, instance: &str) -> Result<Root, FileError> {
        let fail = |reason: String| FileError::Root {
            instance: instance.to_string(),
            reason,
        };
        for _ in 0..3 {
            let Some(info) = c.info_blocking().map_err(|e| fail(e.to_string()))? else {
                return Self::open_stopped(c, instance);
            };
            let pid = info.init_pid;
            // Hold /proc/PID, then make sure it is still this container's init (not a reused
            // pid), then open its root through that handle.
            let Ok(proc_dir) = File::open(format!("/proc/{pid}")) else {
                continue;
            };
            match c.info_blocking() {
                Ok(Some(again)) if again.init_pid == pid => {}
                _ => continue,
            }
            let Ok(fd) = nix::fcntl::openat(
                Some(proc_dir.as_raw_fd()),
                "root",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            let creator = if info.idmap.is_empty() {
                None
            } else {
                let uid = info.idmap.host_uid(0).and_then(|u| u32::try_from(u).ok());
                let gid = info.idmap.host_gid(0).and_then(|g| u32::try_from(g).ok());
                Some((uid.unwrap_or(0), gid.unwrap_or(0)))
            };
            return Ok(Root {
                fd: own(fd),
                map: info.idmap,
                creator,
            });
        }
        Err(fail("it changed state while being opened".into()))
    }

    fn open_stopped(c: &Container, instance: &str) -> Result<Root, FileError> {
        let fail = |reason: String| FileError::Root {
            instance: instance.to_string(),
            reason,
        };
        let config = c.config();
        let map = match config.get("volatile.last_state.idmap") {
            Some(v) if !v.is_empty() => IdmapSet::from_json(v).map_err(|e| fail(e.to_string()))?,
            _ => IdmapSet::privileged(),
        };
        let rootfs = c.rootfs();
        let fd = nix::fcntl::open(
            rootfs,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            fail(format!(
                "its root filesystem {} is not available: {e}",
                rootfs.display()
            ))
        })?;
        Ok(Root {
            fd: own(fd),
            map,
            creator: None,
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The ids to give a new file: the requested container ids (root by default), converted
    /// to the ids files are seen with.
    fn owner(
        &self,
        uid: Option<u32>,
        gid: Option<u32>,
        path: &str,
    ) -> Result<(Uid, Gid), FileError> {
        let (u, g) = (uid.unwrap_or(0), gid.unwrap_or(0));
        let unmapped = |kind, id| FileError::Unmapped {
            kind,
            id,
            path: path.to_string(),
        };
        let hu = self
            .map
            .host_uid(u64::from(u))
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| unmapped("uid", u))?;
        let hg = self
            .map
            .host_gid(u64::from(g))
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| unmapped("gid", g))?;
        Ok((Uid::from_raw(hu), Gid::from_raw(hg)))
    }

    /// The container ids of a file.
    fn container_ids(&self, st: &FileStat) -> (u64, u64) {
        (
            self.map.ns_uid(u64::from(st.st_uid)).unwrap_or(OVERFLOW_ID),
            self.map.ns_gid(u64::from(st.st_gid)).unwrap_or(OVERFLOW_ID),
        )
    }
}

/// Linux capability sets of one thread (`capget`/`capset`, version 3).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// Makes this thread act on files as `uid`/`gid` (filesystem ids only) while keeping its
/// capabilities, which the kernel drops from the effective set when the filesystem uid leaves 0.
/// Both are per-thread: the caller is a thread of its own that ends after the operation.
fn act_as(uid: u32, gid: u32) -> std::io::Result<()> {
    // SAFETY: setfsgid/setfsuid only change this thread's filesystem ids.
    unsafe {
        libc::setfsgid(gid);
        libc::setfsuid(uid);
    }
    // SAFETY: with an invalid id (-1) these calls change nothing and return the current id.
    let (now_uid, now_gid) = unsafe { (libc::setfsuid(u32::MAX), libc::setfsgid(u32::MAX)) };
    if now_uid as u32 != uid || now_gid as u32 != gid {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("could not take filesystem ids {uid}:{gid}"),
        ));
    }
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and two data structs (as version 3 requires) are valid for the call.
    if unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    for d in &mut data {
        d.effective = d.permitted;
    }
    // SAFETY: as above; pid 0 is the calling thread.
    if unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs a change in a thread of its own acting as the container's root (when the root needs
/// it), so that the identity change never leaks into other work.
async fn change<T, F>(root: Arc<Root>, instance: &str, f: F) -> Result<T, FileError>
where
    T: Send + 'static,
    F: FnOnce(&Root) -> Result<T, FileError> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let name = instance.to_string();
    let spawned = std::thread::Builder::new()
        .name("lxd-files".into())
        .spawn(move || {
            let r = match root.creator {
                Some((uid, gid)) => act_as(uid, gid).map_err(|e| FileError::Root {
                    instance: name,
                    reason: e.to_string(),
                }),
                None => Ok(()),
            }
            .and_then(|()| f(&root));
            let _ = tx.send(r);
        });
    let fail = |reason: String| FileError::Root {
        instance: instance.to_string(),
        reason,
    };
    spawned.map_err(|e| fail(format!("file thread: {e}")))?;
    rx.await
        .map_err(|_| fail("the file thread ended early".into()))?
}

/// What `POST` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
    Symlink,
}

/// The `X-LXD-*` headers of a push.
#[derive(Debug, Clone)]
struct Push {
    kind: Kind,
    append: bool,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

fn header<'a>(req: &'a Req, name: &'static str) -> Result<Option<&'a str>, FileError> {
    match req.headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| FileError::BadHeader {
                header: name,
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
                reason: "not text",
            }),
    }
}

/// Parses the push headers (names are case-insensitive: Go sends `X-Lxd-Uid`).
fn parse_push(req: &Req) -> Result<Push, FileError> {
    let kind = match header(req, "x-lxd-type")?.unwrap_or("") {
        "" | "file" => Kind::File,
        "directory" => Kind::Directory,
        "symlink" => Kind::Symlink,
        other => {
            return Err(FileError::BadHeader {
                header: "X-LXD-type",
                value: other.into(),
                reason: "expected file, directory or symlink",
            })
        }
    };
    let append = match header(req, "x-lxd-write")?.unwrap_or("") {
        "" | "overwrite" => false,
        "append" => true,
        other => {
            return Err(FileError::BadHeader {
                header: "X-LXD-write",
                value: other.into(),
                reason: "expected overwrite or append",
            })
        }
    };
    let mode = match header(req, "x-lxd-mode")? {
        None | Some("") => None,
        Some(v) => {
            let digits = v.strip_prefix("0o").unwrap_or(v);
            let m = u32::from_str_radix(digits, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| FileError::BadHeader {
                    header: "X-LXD-mode",
                    value: v.into(),
                    reason: "expected an octal mode such as 0644",
                })?;
            // LXD keeps the permission bits only.
            Some(m & 0o777)
        }
    };
    let id = |name: &'static str, label: &'static str| -> Result<Option<u32>, FileError> {
        match header(req, name)? {
            None | Some("") | Some("-1") => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| FileError::BadHeader {
                    header: label,
                    value: v.into(),
                    reason: "expected a container id (a number)",
                }),
        }
    };
    Ok(Push {
        kind,
        append,
        mode,
        uid: id("x-lxd-uid", "X-LXD-uid")?,
        gid: id("x-lxd-gid", "X-LXD-gid")?,
    })
}

/// File push, pull and delete.
pub async fn handle(
    st: Arc<ApiState>,
    mut req: Req,
    project: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let raw = req.query.get("path").cloned().unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiError::bad_request("Missing path argument"));
    }
    if raw.contains('\0') {
        return Err(FileError::BadPath {
            path: raw,
            reason: "it contains a NUL byte",
        }
        .into());
    }
    // Paths with or without a leading slash are absolute in the instance.
    let path = if raw.starts_with('/') {
        raw
    } else {
        format!("/{raw}")
    };
    let method = req.method.clone();
    if !matches!(
        method,
        Method::GET | Method::HEAD | Method::POST | Method::DELETE
    ) {
        return Err(ApiError::method_not_allowed());
    }
    // Bad headers are refused before anything is touched.
    let push = if method == Method::POST {
        Some(parse_push(&req)?)
    } else {
        None
    };
    let c = st.lxd.container(project, name).await?;
    let instance = name.to_string();
    let root = tokio::task::spawn_blocking(move || Root::open(&c, &instance))
        .await
        .map_err(|e| ApiError::internal(format!("file task: {e}")))??;
    let root = Arc::new(root);
    let source = url(&format!("/1.0/instances/{name}"), project);
    let reply = match (method, push) {
        (Method::POST, Some(push)) => {
            post(&mut req, root, name, &path, push).await?;
            st.events.lifecycle(
                project,
                "instance-file-pushed",
                &source,
                json!({"path": path}),
            );
            Reply::Sync(json!({}))
        }
        (Method::DELETE, _) => {
            let p = path.clone();
            change(root, name, move |root| delete(root, &p)).await?;
            st.events.lifecycle(
                project,
                "instance-file-deleted",
                &source,
                json!({"path": path}),
            );
            Reply::Sync(json!({}))
        }
        (method, _) => {
            let head = method == Method::HEAD;
            let range = req.header("range").map(str::to_string);
            let r = get(root, path.clone(), head, range).await?;
            if !head {
                st.events.lifecycle(
                    project,
                    "instance-file-retrieved",
                    &source,
                    json!({"path": path}),
                );
            }
            r
        }
    };
    Ok(reply)
}

/// What a path holds, ready to be sent.
enum Found {
    File { file: File, size: u64 },
    Directory(Vec<String>),
    Symlink(String),
}

/// The `X-LXD-*` headers of a file and what it holds.
fn lookup(root: &Root, path: &str, head: bool) -> Result<(FileStat, Found), FileError> {
    let fd = open_in(root.fd(), path, OFlag::O_PATH | OFlag::O_NOFOLLOW, 0)
        .map_err(sys("open", path))?;
    let st = stat_fd(fd.as_fd(), path)?;
    // Re-opening our own O_PATH descriptor gives exactly the inode that was resolved.
    let reopen = |flags: OFlag| {
        nix::fcntl::open(
            format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(),
            flags | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
            Mode::empty(),
        )
        .map(|f| File::from(own(f)))
        .map_err(sys("open", path))
    };
    let found = match file_type(&st) {
        SFlag::S_IFLNK => {
            let target =
                nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "").map_err(sys("read link", path))?;
            Found::Symlink(absolute_target(
                path,
                &String::from_utf8_lossy(target.as_bytes()),
            ))
        }
        SFlag::S_IFDIR => {
            if head {
                Found::Directory(Vec::new())
            } else {
                let dir = reopen(OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
                let listing = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))
                    .map_err(|e| FileError::Sys {
                        op: "list",
                        path: path.to_string(),
                        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                    })?;
                let names = listing
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                Found::Directory(names)
            }
        }
        SFlag::S_IFREG => Found::File {
            file: reopen(OFlag::O_RDONLY)?,
            size: st.st_size as u64,
        },
        _ => {
            return Err(FileError::Unsupported {
                path: path.to_string(),
            })
        }
    };
    Ok((st, found))
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `(YYYY, MM, DD, hh:mm:ss)` of Unix seconds, through the API's RFC 3339 writer.
fn civil(secs: i64) -> (String, usize, String, String) {
    let s = crate::types::rfc3339(secs, 0);
    let (date, time) = s.split_once('T').unwrap_or((&s, "00:00:00Z"));
    let mut it = date.splitn(3, '-');
    let y = it.next().unwrap_or("1970").to_string();
    let m = it.next().and_then(|m| m.parse::<usize>().ok()).unwrap_or(1);
    let d = it.next().unwrap_or("01").to_string();
    (y, m, d, time.trim_end_matches('Z').to_string())
}

/// Go's `time.Time.String()` in UTC, as `X-LXD-modified` carries it.
fn go_time(secs: i64) -> String {
    let (y, m, d, t) = civil(secs);
    format!("{y}-{m:02}-{d} {t} +0000 UTC")
}

/// An HTTP date (`Last-Modified`).
fn http_date(secs: i64) -> String {
    let (y, m, d, t) = civil(secs);
    let wd = DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    format!("{wd}, {d} {} {y} {t} GMT", MONTHS[(m - 1).min(11)])
}

/// A single byte range of `size` bytes asked by a `Range` header: `Ok(None)` for the whole
/// body (no or unusable header), `Err(())` when the range cannot be satisfied.
fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let range = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(drop)?;
            if n == 0 || size == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (s, e) => {
            let s: u64 = s.parse().map_err(drop)?;
            if s >= size {
                return Err(());
            }
            let e = if e.is_empty() {
                size - 1
            } else {
                e.parse::<u64>().map_err(drop)?.min(size - 1)
            };
            if e < s {
                return Err(());
            }
            (s, e)
        }
    };
    Ok(Some(range))
}

/// A body fed by a channel (large files, read in a blocking task).
struct ChannelBody(mpsc::Receiver<std::io::Result<Bytes>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// Streams `len` bytes of `file` from its current offset.
fn stream_file(mut file: File, len: u64) -> Body {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            match file.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file shrank while being read",
                    )));
                    return;
                }
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    ChannelBody(rx).boxed()
}

/// `GET`/`HEAD`: file content with LXD's headers, a directory listing, or a symlink's target.
async fn get(
    root: Arc<Root>,
    path: String,
    head: bool,
    range: Option<String>,
) -> Result<Reply, ApiError> {
    let p = path.clone();
    let (st, (uid, gid), found) = tokio::task::spawn_blocking(move || {
        lookup(&root, &p, head).map(|(st, found)| (st, root.container_ids(&st), found))
    })
    .await
    .map_err(|e| ApiError::internal(format!("file task: {e}")))??;
    let kind = match &found {
        Found::File { .. } => "file",
        Found::Directory(_) => "directory",
        Found::Symlink(_) => "symlink",
    };
    let headers: Vec<(&'static str, String)> = vec![
        ("x-lxd-uid", uid.to_string()),
        ("x-lxd-gid", gid.to_string()),
        ("x-lxd-mode", format!("{:04o}", st.st_mode & 0o777)),
        ("x-lxd-type", kind.to_string()),
        ("x-lxd-modified", go_time(st.st_mtime)),
    ];
    let filename = split(&path).1.to_string();
    let answer = Answer {
        headers,
        filename,
        range,
        head,
    };
    match found {
        Found::Directory(names) => {
            let mut r = Reply::Sync(json!(names)).into_response();
            for (k, v) in answer.headers {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    r.headers_mut().insert(k, v);
                }
            }
            if head {
                *r.body_mut() = full("");
            }
            Ok(Reply::Http(r))
        }
        Found::Symlink(target) => {
            // LXD dates a symlink's answer with the current time.
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let size = target.len() as u64;
            answer
                .reply(now, size, Content::Memory(Bytes::from(target.into_bytes())))
                .await
                .map_err(|e| {
                    ApiError::internal(format!("Failed to send the target of {path}: {e}"))
                })
        }
        Found::File { file, size } => answer
            .reply(st.st_mtime, size, Content::File(file))
            .await
            .map_err(|e| ApiError::internal(format!("Failed to read {path}: {e}"))),
    }
}

/// What a raw answer carries.
enum Content {
    /// Bytes at hand (a symlink's target).
    Memory(Bytes),
    /// A file, read at once when small, else streamed.
    File(File),
}

/// A raw answer in the making: LXD's headers, `Content-Disposition`, and ranges as Go's
/// `http.ServeContent` serves them.
struct Answer {
    headers: Vec<(&'static str, String)>,
    filename: String,
    range: Option<String>,
    head: bool,
}

impl Answer {
    async fn reply(mut self, modified: i64, size: u64, content: Content) -> std::io::Result<Reply> {
        self.headers.push(("accept-ranges", "bytes".into()));
        let (start, len, status) = match byte_range(self.range.as_deref(), size) {
            Err(()) => {
                self.headers
                    .push(("content-range", format!("bytes */{size}")));
                return Ok(Reply::Raw {
                    status: 416,
                    headers: self.headers,
                    body: full(""),
                });
            }
            Ok(Some((s, e))) => {
                self.headers
                    .push(("content-range", format!("bytes {s}-{e}/{size}")));
                (s, e - s + 1, 206)
            }
            Ok(None) => (0, size, 200),
        };
        self.headers
            .push(("content-type", "application/octet-stream".into()));
        self.headers.push((
            "content-disposition",
            format!("inline;filename={}", self.filename),
        ));
        self.headers.push(("last-modified", http_date(modified)));
        self.headers.push(("content-length", len.to_string()));
        let body = if self.head || len == 0 {
            full("")
        } else {
            match content {
                Content::Memory(b) => full(b.slice(start as usize..(start + len) as usize)),
                Content::File(f) => body_of(f, start, len).await?,
            }
        };
        Ok(Reply::Raw {
            status,
            headers: self.headers,
            body,
        })
    }
}

/// The bytes `start..start+len` of a file: read at once when small, else streamed.
async fn body_of(mut file: File, start: u64, len: u64) -> std::io::Result<Body> {
    if start > 0 {
        file.seek(SeekFrom::Start(start))?;
    }
    if len > READ_AT_ONCE {
        return Ok(stream_file(file, len));
    }
    let data = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(len as usize);
        file.take(len).read_to_end(&mut buf)?;
        if (buf.len() as u64) < len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while being read",
            ));
        }
        Ok(buf)
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(full(data))
}

/// A piece of an upload handed to the writing thread.
enum Chunk {
    Data(Bytes),
    End,
}

/// `POST`: creates or writes a file, creates a directory or a symlink.
async fn post(
    req: &mut Req,
    root: Arc<Root>,
    instance: &str,
    path: &str,
    push: Push,
) -> Result<(), ApiError> {
    let owner = root.owner(push.uid, push.gid, path)?;
    let p = path.to_string();
    match push.kind {
        Kind::Directory => {
            change(root, instance, move |root| {
                make_dir(root, &p, push.mode, owner)
            })
            .await?;
        }
        Kind::Symlink => {
            let target = req.bytes(MAX_LINK).await?;
            if target.is_empty() {
                return Err(FileError::BadPath {
                    path: path.to_string(),
                    reason: "the symlink target (the request body) is empty",
                }
                .into());
            }
            change(root, instance, move |root| {
                make_symlink(root, &p, &target, owner)
            })
            .await?;
        }
        Kind::File => {
            let (tx, rx) = mpsc::channel::<Chunk>(8);
            let writer = change(root, instance, move |root| {
                write_file(root, &p, &push, owner, rx)
            });
            let upload = async {
                // Owning the sender: the writer sees the channel close when this ends.
                let tx = tx;
                let mut body = req.take_body().map_err(|e| FileError::Upload {
                    path: path.to_string(),
                    reason: e.message,
                })?;
                loop {
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                if !data.is_empty() && tx.send(Chunk::Data(data)).await.is_err() {
                                    // The writer stopped: its error is the answer.
                                    return Ok(());
                                }
                            }
                        }
                        Some(Err(e)) => {
                            return Err(FileError::Upload {
                                path: path.to_string(),
                                reason: format!("reading the request body: {e}"),
                            });
                        }
                        None => {
                            let _ = tx.send(Chunk::End).await;
                            return Ok(());
                        }
                    }
                }
            };
            let (uploaded, written) = tokio::join!(upload, writer);
            written?;
            uploaded?;
        }
    }
    Ok(())
}

/// Opens the file a push writes: a new one (created, following a dangling final symlink as
/// LXD does) or an existing one. Returns whether it was created.
fn open_for_write(root: &Root, path: &str, append: bool) -> Result<(OwnedFd, bool), FileError> {
    let base = OFlag::O_WRONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    if append {
        let fd = open_in(root.fd(), path, base | OFlag::O_APPEND, 0).map_err(sys("open", path))?;
        return Ok((fd, false));
    }
    match open_in(
        root.fd(),
        path,
        base | OFlag::O_CREAT | OFlag::O_EXCL,
        0o600,
    ) {
        Ok(fd) => return Ok((fd, true)),
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(sys("create", path)(e)),
    }
    match open_in(root.fd(), path, base, 0) {
        Ok(fd) => Ok((fd, false)),
        // A symlink to nothing yet: create its target.
        Err(Errno::ENOENT) => open_in(root.fd(), path, base | OFlag::O_CREAT, 0o600)
            .map(|fd| (fd, true))
            .map_err(sys("create", path)),
        Err(e) => Err(sys("open", path)(e)),
    }
}

fn write_file(
    root: &Root,
    path: &str,
    push: &Push,
    owner: (Uid, Gid),
    mut chunks: mpsc::Receiver<Chunk>,
) -> Result<(), FileError> {
    let (fd, created) = open_for_write(root, path, push.append)?;
    let st = stat_fd(fd.as_fd(), path)?;
    if file_type(&st) != SFlag::S_IFREG {
        return Err(FileError::Unsupported {
            path: path.to_string(),
        });
    }
    check_writable(fd.as_fd(), path)?;
    let mut file = File::from(fd);
    if !created && !push.append {
        file.set_len(0).map_err(|e| io_err("truncate", path, &e))?;
    }
    loop {
        match chunks.blocking_recv() {
            Some(Chunk::Data(b)) => file.write_all(&b).map_err(|e| io_err("write", path, &e))?,
            Some(Chunk::End) => break,
            None => {
                return Err(FileError::Upload {
                    path: path.to_string(),
                    reason: "the request body ended early".into(),
                })
            }
        }
    }
    if created {
        // A new file gets the requested mode (0644 by default) and owner (root by default);
        // an existing one keeps both, as in LXD.
        let mode = Mode::from_bits_truncate(push.mode.unwrap_or(0o644));
        nix::sys::stat::fchmod(file.as_raw_fd(), mode).map_err(sys("chmod", path))?;
        nix::unistd::fchown(file.as_raw_fd(), Some(owner.0), Some(owner.1))
            .map_err(sys("chown", path))?;
    }
    Ok(())
}

fn io_err(op: &'static str, path: &str, e: &std::io::Error) -> FileError {
    sys(op, path)(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// Creates a directory (0750 unless a mode is given); an existing one is left as it is.
fn make_dir(
    root: &Root,
    path: &str,
    mode: Option<u32>,
    owner: (Uid, Gid),
) -> Result<(), FileError> {
    if open_in(root.fd(), path, OFlag::O_PATH, 0).is_ok() {
        return Ok(());
    }
    let (parent, name) = parent_and_name(path)?;
    let dir = open_in(root.fd(), parent, OFlag::O_PATH | OFlag::O_DIRECTORY, 0)
        .map_err(sys("open", parent))?;
    check_writable(dir.as_fd(), path)?;
    match nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o700)) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(e) => return Err(sys("create directory", path)(e)),
    }
    let new = open_entry(dir.as_fd(), name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(sys("open", path))?;
    let mode = Mode::from_bits_truncate(mode.unwrap_or(0o750));
    nix::sys::stat::fchmod(new.as_raw_fd(), mode).map_err(sys("chmod", path))?;
    nix::unistd::fchown(new.as_raw_fd(), Some(owner.0), Some(owner.1))
        .map_err(sys("chown", path))?;
    Ok(())
}

/// Creates a symlink; one with the same target already there is fine.
fn make_symlink(
    root: &Root,
    path: &str,
    target: &[u8],
    owner: (Uid, Gid),
) -> Result<(), FileError> {
    if let Ok(fd) = open_in(root.fd(), path, OFlag::O_PATH | OFlag::O_NOFOLLOW, 0) {
        let same = nix::fcntl::readlinkat(Some(fd.as_raw_fd()), "")
            .map(|t| t.as_bytes() == target)
            .unwrap_or(false);
        if same {
            return Ok(());
        }
        return Err(FileError::Exists {
            path: path.to_string(),
        });
    }
    let (parent, name) = parent_and_name(path)?;
    let dir = open_in(root.fd(), parent, OFlag::O_PATH | OFlag::O_DIRECTORY, 0)
        .map_err(sys("open", parent))?;
    check_writable(dir.as_fd(), path)?;
    nix::unistd::symlinkat(OsStr::from_bytes(target), Some(dir.as_raw_fd()), name).map_err(
        |e| match e {
            Errno::EEXIST => FileError::Exists {
                path: path.to_string(),
            },
            e => sys("create symlink", path)(e),
        },
    )?;
    nix::unistd::fchownat(
        Some(dir.as_raw_fd()),
        name,
        Some(owner.0),
        Some(owner.1),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(sys("chown", path))?;
    Ok(())
}

/// Deletes a file, a symlink (not its target) or an empty directory.
fn delete(root: &Root, path: &str) -> Result<(), FileError> {
    let (parent, name) = parent_and_name(path)?;
    let dir = open_in(root.fd(), parent, OFlag::O_PATH | OFlag::O_DIRECTORY, 0)
        .map_err(sys("open", parent))?;
    check_writable(dir.as_fd(), path)?;
    use nix::unistd::UnlinkatFlags;
    match nix::unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) => Ok(()),
        Err(Errno::EISDIR) => {
            nix::unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir).map_err(
                |e| match e {
                    Errno::ENOTEMPTY | Errno::EEXIST => FileError::NotEmpty {
                        path: path.to_string(),
                    },
                    e => sys("delete", path)(e),
                },
            )
        }
        Err(e) => Err(sys("delete", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_clean() {
        assert_eq!(split("/tmp/x"), ("/tmp", "x"));
        assert_eq!(split("/x"), ("/", "x"));
        assert_eq!(split("/tmp/dir/"), ("/tmp", "dir"));
        assert_eq!(split("/"), ("/", ""));
        assert_eq!(
            absolute_target("/tmp/pushdir/link", "a.txt"),
            "/tmp/pushdir/a.txt"
        );
        assert_eq!(absolute_target("/tmp/up", "../../../../../../etc"), "/etc");
        assert_eq!(absolute_target("/tmp/evil", "/etc//shadow"), "/etc/shadow");
        assert!(parent_and_name("/tmp/..").is_err());
        assert!(parent_and_name("/").is_err());
    }

    #[test]
    fn dates_as_go_and_http_write_them() {
        // 2026-11-22 00:52:25 UTC, a Sunday.
        let t = 1_795_308_745;
        assert_eq!(go_time(t), "2026-11-22 00:52:25 +0000 UTC");
        assert_eq!(http_date(t), "Sun, 22 Nov 2026 00:52:25 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(byte_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(Some("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(byte_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,3-4"), 10), Ok(None));
    }
}
