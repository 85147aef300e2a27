//! Safe wrappers over the btrfs ioctls the `btrfs` driver needs, so it runs no `btrfs`
//! command: subvolumes (create, snapshot, delete, read-only flag, id, nesting found in the
//! root tree), quota groups (enable, limit, usage, rescan) and filesystem sync.
//!
//! The argument structures are defined `#[repr(C)]` exactly as in `linux/btrfs.h`;
//! compile-time assertions pin their sizes and the `btrfs_abi` test compares sizes and
//! request numbers with the C header.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::sys::statfs::{statfs, BTRFS_SUPER_MAGIC};

use crate::copy::meta::{self, Kind};
use crate::error::{Result, StorageError};

/// The ioctl request number type of the C library.
pub type Request = libc::Ioctl;

const MAGIC: u8 = 0x94;
/// `BTRFS_PATH_NAME_MAX`.
pub const PATH_NAME_MAX: usize = 4087;
/// `BTRFS_SUBVOL_NAME_MAX`.
pub const SUBVOL_NAME_MAX: usize = 4039;
/// `BTRFS_INO_LOOKUP_PATH_MAX`.
pub const INO_LOOKUP_PATH_MAX: usize = 4080;
/// Size of the result buffer of `btrfs_ioctl_search_args`.
pub const SEARCH_ARGS_BUFSIZE: usize = 4096 - std::mem::size_of::<SearchKey>();
/// Object id of the root directory of every subvolume (`BTRFS_FIRST_FREE_OBJECTID`).
pub const FIRST_FREE_OBJECTID: u64 = 256;
/// The top-level subvolume (`BTRFS_FS_TREE_OBJECTID`).
pub const FS_TREE_OBJECTID: u64 = 5;
/// Read-only subvolume flag (`BTRFS_SUBVOL_RDONLY`).
pub const SUBVOL_RDONLY: u64 = 1 << 1;
/// `BTRFS_QUOTA_CTL_ENABLE`.
pub const QUOTA_CTL_ENABLE: u64 = 1;
/// `BTRFS_QUOTA_CTL_DISABLE`.
pub const QUOTA_CTL_DISABLE: u64 = 2;
/// `BTRFS_QGROUP_LIMIT_MAX_RFER`.
pub const QGROUP_LIMIT_MAX_RFER: u64 = 1 << 0;
/// `BTRFS_QGROUP_LIMIT_MAX_EXCL`.
pub const QGROUP_LIMIT_MAX_EXCL: u64 = 1 << 1;
const ROOT_TREE_OBJECTID: u64 = 1;
const QUOTA_TREE_OBJECTID: u64 = 8;
const ROOT_ITEM_KEY: u32 = 132;
const QGROUP_INFO_KEY: u32 = 242;
const QGROUP_LIMIT_KEY: u32 = 244;

/// `struct btrfs_ioctl_vol_args`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VolArgs {
    /// Source descriptor (snapshots) or unused.
    pub fd: i64,
    /// NUL-terminated name.
    pub name: [u8; PATH_NAME_MAX + 1],
}

/// `struct btrfs_ioctl_vol_args_v2` (the `qgroup_inherit` union is kept as `unused`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VolArgsV2 {
    /// Source descriptor for snapshots.
    pub fd: i64,
    /// Transaction id (output of async creation, unused here).
    pub transid: u64,
    /// `BTRFS_SUBVOL_*` flags.
    pub flags: u64,
    /// `size` + `qgroup_inherit` pointer, or `unused[4]`.
    pub unused: [u64; 4],
    /// NUL-terminated name (or `devid`/`subvolid` with the `SPEC_BY_ID` flags).
    pub name: [u8; SUBVOL_NAME_MAX + 1],
}

/// `struct btrfs_ioctl_ino_lookup_args`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct InoLookupArgs {
    /// Tree to look in (0: the descriptor's subvolume; set on return).
    pub treeid: u64,
    /// Inode to resolve.
    pub objectid: u64,
    /// Path of the inode in its subvolume.
    pub name: [u8; INO_LOOKUP_PATH_MAX],
}

/// `struct btrfs_ioctl_search_key`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SearchKey {
    /// Tree to search (0: the descriptor's subvolume).
    pub tree_id: u64,
    /// Lowest object id.
    pub min_objectid: u64,
    /// Highest object id.
    pub max_objectid: u64,
    /// Lowest key offset.
    pub min_offset: u64,
    /// Highest key offset.
    pub max_offset: u64,
    /// Lowest transaction id.
    pub min_transid: u64,
    /// Highest transaction id.
    pub max_transid: u64,
    /// Lowest key type.
    pub min_type: u32,
    /// Highest key type.
    pub max_type: u32,
    /// In: items wanted; out: items returned.
    pub nr_items: u32,
    /// Padding.
    pub unused: u32,
    /// Reserved.
    pub unused1: u64,
    /// Reserved.
    pub unused2: u64,
    /// Reserved.
    pub unused3: u64,
    /// Reserved.
    pub unused4: u64,
}

/// `struct btrfs_ioctl_search_args`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SearchArgs {
    /// The key range.
    pub key: SearchKey,
    /// Results: a [`SearchHeader`] followed by the item, repeated.
    pub buf: [u8; SEARCH_ARGS_BUFSIZE],
}

/// `struct btrfs_ioctl_search_header`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SearchHeader {
    /// Transaction id of the block holding the item.
    pub transid: u64,
    /// Key object id.
    pub objectid: u64,
    /// Key offset.
    pub offset: u64,
    /// Key type.
    pub type_: u32,
    /// Length of the item that follows.
    pub len: u32,
}

/// `struct btrfs_ioctl_quota_ctl_args`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct QuotaCtlArgs {
    /// `QUOTA_CTL_ENABLE` or `QUOTA_CTL_DISABLE`.
    pub cmd: u64,
    /// Status (unused).
    pub status: u64,
}

/// `struct btrfs_qgroup_limit`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct QgroupLimit {
    /// `QGROUP_LIMIT_*` flags saying which fields are set.
    pub flags: u64,
    /// Referenced bytes limit.
    pub max_rfer: u64,
    /// Exclusive bytes limit.
    pub max_excl: u64,
    /// Reserved referenced bytes.
    pub rsv_rfer: u64,
    /// Reserved exclusive bytes.
    pub rsv_excl: u64,
}

/// `struct btrfs_ioctl_qgroup_limit_args`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct QgroupLimitArgs {
    /// The quota group (`level << 48 | id`).
    pub qgroupid: u64,
    /// The limits.
    pub lim: QgroupLimit,
}

/// `struct btrfs_ioctl_quota_rescan_args`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct QuotaRescanArgs {
    /// Flags (none defined).
    pub flags: u64,
    /// Progress (status output).
    pub progress: u64,
    /// Reserved.
    pub reserved: [u64; 6],
}

/// `struct btrfs_ioctl_fs_info_args`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FsInfoArgs {
    /// Highest device id.
    pub max_id: u64,
    /// Number of devices.
    pub num_devices: u64,
    /// Filesystem UUID.
    pub fsid: [u8; 16],
    /// Node size.
    pub nodesize: u32,
    /// Sector size.
    pub sectorsize: u32,
    /// Clone alignment.
    pub clone_alignment: u32,
    /// Checksum type.
    pub csum_type: u16,
    /// Checksum size.
    pub csum_size: u16,
    /// `BTRFS_FS_INFO_FLAG_*`.
    pub flags: u64,
    /// Generation.
    pub generation: u64,
    /// Metadata UUID.
    pub metadata_uuid: [u8; 16],
    /// Padding to 1 KiB.
    pub reserved: [u8; 944],
}

const _: () = assert!(std::mem::size_of::<VolArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<VolArgsV2>() == 4096);
const _: () = assert!(std::mem::size_of::<InoLookupArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<SearchKey>() == 104);
const _: () = assert!(std::mem::size_of::<SearchArgs>() == 4096);
const _: () = assert!(std::mem::size_of::<SearchHeader>() == 32);
const _: () = assert!(std::mem::size_of::<QuotaCtlArgs>() == 16);
const _: () = assert!(std::mem::size_of::<QgroupLimitArgs>() == 48);
const _: () = assert!(std::mem::size_of::<QuotaRescanArgs>() == 64);
const _: () = assert!(std::mem::size_of::<FsInfoArgs>() == 1024);

/// The ioctl request numbers, as `linux/btrfs.h` defines them.
pub mod request {
    use super::*;
    use std::mem::size_of;

    /// `BTRFS_IOC_SYNC`.
    pub const SYNC: Request = nix::request_code_none!(MAGIC, 8);
    /// `BTRFS_IOC_SUBVOL_CREATE`.
    pub const SUBVOL_CREATE: Request = nix::request_code_write!(MAGIC, 14, size_of::<VolArgs>());
    /// `BTRFS_IOC_SNAP_DESTROY`.
    pub const SNAP_DESTROY: Request = nix::request_code_write!(MAGIC, 15, size_of::<VolArgs>());
    /// `BTRFS_IOC_TREE_SEARCH`.
    pub const TREE_SEARCH: Request =
        nix::request_code_readwrite!(MAGIC, 17, size_of::<SearchArgs>());
    /// `BTRFS_IOC_INO_LOOKUP`.
    pub const INO_LOOKUP: Request =
        nix::request_code_readwrite!(MAGIC, 18, size_of::<InoLookupArgs>());
    /// `BTRFS_IOC_SNAP_CREATE_V2`.
    pub const SNAP_CREATE_V2: Request = nix::request_code_write!(MAGIC, 23, size_of::<VolArgsV2>());
    /// `BTRFS_IOC_SUBVOL_GETFLAGS`.
    pub const SUBVOL_GETFLAGS: Request = nix::request_code_read!(MAGIC, 25, size_of::<u64>());
    /// `BTRFS_IOC_SUBVOL_SETFLAGS`.
    pub const SUBVOL_SETFLAGS: Request = nix::request_code_write!(MAGIC, 26, size_of::<u64>());
    /// `BTRFS_IOC_FS_INFO`.
    pub const FS_INFO: Request = nix::request_code_read!(MAGIC, 31, size_of::<FsInfoArgs>());
    /// `BTRFS_IOC_QUOTA_CTL`.
    pub const QUOTA_CTL: Request =
        nix::request_code_readwrite!(MAGIC, 40, size_of::<QuotaCtlArgs>());
    /// `BTRFS_IOC_QGROUP_LIMIT` (declared `_IOR` in the header although the kernel reads it).
    pub const QGROUP_LIMIT: Request =
        nix::request_code_read!(MAGIC, 43, size_of::<QgroupLimitArgs>());
    /// `BTRFS_IOC_QUOTA_RESCAN`.
    pub const QUOTA_RESCAN: Request =
        nix::request_code_write!(MAGIC, 44, size_of::<QuotaRescanArgs>());
    /// `BTRFS_IOC_QUOTA_RESCAN_WAIT`.
    pub const QUOTA_RESCAN_WAIT: Request = nix::request_code_none!(MAGIC, 46);
    /// `BTRFS_IOC_SNAP_DESTROY_V2`.
    pub const SNAP_DESTROY_V2: Request =
        nix::request_code_write!(MAGIC, 63, size_of::<VolArgsV2>());
}

/// Runs one ioctl whose argument is a pointer (or, for `arg == null`, none).
fn ioctl<T>(fd: &File, req: Request, arg: *mut T, op: &'static str, path: &Path) -> Result<i32> {
    // SAFETY: `arg` points at a live value of the type the request expects (or is null for
    // requests without argument); the descriptor is open for the call's duration.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg) };
    Errno::result(ret).map_err(|e| StorageError::sys(op, path, e))
}

/// A zeroed argument structure (all of them are plain integers and byte arrays).
fn zeroed<T: Copy>() -> T {
    // SAFETY: only used for the `#[repr(C)]` structs above, for which all-zero bytes are a
    // valid value.
    unsafe { std::mem::zeroed() }
}

/// Opens a directory for ioctls.
fn open_dir(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| StorageError::io("open directory", path, e))
}

/// Whether `path` is on a btrfs filesystem.
pub fn is_btrfs(path: &Path) -> Result<bool> {
    let st = statfs(path).map_err(|e| StorageError::sys("statfs", path, e))?;
    Ok(st.filesystem_type() == BTRFS_SUPER_MAGIC)
}

/// Refuses a path that is not on btrfs.
fn require_btrfs(path: &Path) -> Result<()> {
    if is_btrfs(path)? {
        Ok(())
    } else {
        Err(StorageError::invalid(
            "btrfs path",
            path.display().to_string(),
            "not on a btrfs filesystem",
        ))
    }
}

/// Whether `path` is the root directory of a subvolume: a directory with inode number 256 on
/// a btrfs filesystem.
pub fn is_subvolume(path: &Path) -> Result<bool> {
    let st = meta::lstat(path)?;
    if st.kind() != Kind::Dir || st.ino != FIRST_FREE_OBJECTID {
        return Ok(false);
    }
    is_btrfs(path)
}

fn require_subvolume(path: &Path) -> Result<()> {
    if is_subvolume(path)? {
        Ok(())
    } else {
        Err(StorageError::invalid(
            "btrfs subvolume",
            path.display().to_string(),
            "not a btrfs subvolume",
        ))
    }
}

/// Checks a subvolume's name and copies it into an ioctl name field.
fn put_name(name: &OsStr, field: &mut [u8]) -> Result<()> {
    let bad =
        |reason: &str| StorageError::invalid("subvolume name", name.to_string_lossy(), reason);
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." {
        return Err(bad("must be a file name"));
    }
    if bytes.contains(&b'/') || bytes.contains(&0) {
        return Err(bad("must not contain '/' or NUL"));
    }
    if bytes.len() > 255 || bytes.len() >= field.len() {
        return Err(bad("is longer than 255 bytes"));
    }
    field[..bytes.len()].copy_from_slice(bytes);
    field[bytes.len()] = 0;
    Ok(())
}

/// Splits a subvolume path into its parent directory and final name.
fn split(path: &Path) -> Result<(&Path, &OsStr)> {
    let name = path.file_name().ok_or_else(|| {
        StorageError::invalid(
            "subvolume path",
            path.display().to_string(),
            "has no final name",
        )
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((parent, name))
}

/// Creates an empty subvolume `name` in the directory `parent`; returns its path.
pub fn create_subvolume(parent: &Path, name: &str) -> Result<PathBuf> {
    let mut args: VolArgs = zeroed();
    put_name(OsStr::new(name), &mut args.name)?;
    let path = parent.join(name);
    let dir = open_dir(parent)?;
    ioctl(
        &dir,
        request::SUBVOL_CREATE,
        &mut args,
        "BTRFS_IOC_SUBVOL_CREATE",
        &path,
    )?;
    tracing::debug!(path = %path.display(), "created btrfs subvolume");
    Ok(path)
}

/// Snapshots the subvolume `src` as `name` in the directory `dst_parent` (read-only when
/// `readonly`); returns the snapshot's path. Subvolumes nested in `src` are not included
/// (they appear as empty directories in the snapshot; see [`nested_subvolumes`]).
pub fn snapshot(src: &Path, dst_parent: &Path, name: &str, readonly: bool) -> Result<PathBuf> {
    require_subvolume(src)?;
    let mut args: VolArgsV2 = zeroed();
    put_name(OsStr::new(name), &mut args.name)?;
    let path = dst_parent.join(name);
    let src_dir = open_dir(src)?;
    let dst_dir = open_dir(dst_parent)?;
    args.fd = i64::from(src_dir.as_raw_fd());
    if readonly {
        args.flags = SUBVOL_RDONLY;
    }
    ioctl(
        &dst_dir,
        request::SNAP_CREATE_V2,
        &mut args,
        "BTRFS_IOC_SNAP_CREATE_V2",
        &path,
    )?;
    tracing::debug!(src = %src.display(), dst = %path.display(), readonly, "created btrfs snapshot");
    Ok(path)
}

/// Deletes the subvolume at `path` (which must have no nested subvolumes left: delete those
/// first, in the reverse order of [`nested_subvolumes`]). Its space is freed in the
/// background; [`wait_subvolume_cleaned`] waits for that.
pub fn delete_subvolume(path: &Path) -> Result<()> {
    require_subvolume(path)?;
    let (parent, name) = split(path)?;
    let dir = open_dir(parent)?;
    let mut v2: VolArgsV2 = zeroed();
    put_name(name, &mut v2.name)?;
    match ioctl(
        &dir,
        request::SNAP_DESTROY_V2,
        &mut v2,
        "BTRFS_IOC_SNAP_DESTROY_V2",
        path,
    ) {
        Err(e) if e.errno() == Some(Errno::ENOTTY) => {
            let mut v1: VolArgs = zeroed();
            put_name(name, &mut v1.name)?;
            ioctl(
                &dir,
                request::SNAP_DESTROY,
                &mut v1,
                "BTRFS_IOC_SNAP_DESTROY",
                path,
            )?;
        }
        other => {
            other?;
        }
    }
    tracing::debug!(path = %path.display(), "deleted btrfs subvolume");
    Ok(())
}

/// The flags of a subvolume (`SUBVOL_RDONLY`).
fn get_flags(dir: &File, path: &Path) -> Result<u64> {
    let mut flags = 0u64;
    ioctl(
        dir,
        request::SUBVOL_GETFLAGS,
        &mut flags,
        "BTRFS_IOC_SUBVOL_GETFLAGS",
        path,
    )?;
    Ok(flags)
}

/// Whether the subvolume at `path` is read-only.
pub fn is_readonly(path: &Path) -> Result<bool> {
    require_subvolume(path)?;
    let dir = open_dir(path)?;
    Ok(get_flags(&dir, path)? & SUBVOL_RDONLY != 0)
}

/// Makes the subvolume at `path` read-only or writable.
pub fn set_readonly(path: &Path, readonly: bool) -> Result<()> {
    require_subvolume(path)?;
    let dir = open_dir(path)?;
    let old = get_flags(&dir, path)?;
    let mut flags = if readonly {
        old | SUBVOL_RDONLY
    } else {
        old & !SUBVOL_RDONLY
    };
    if flags == old {
        return Ok(());
    }
    ioctl(
        &dir,
        request::SUBVOL_SETFLAGS,
        &mut flags,
        "BTRFS_IOC_SUBVOL_SETFLAGS",
        path,
    )?;
    Ok(())
}

/// The id of the subvolume holding `path` (a file or directory on btrfs).
pub fn subvolume_id(path: &Path) -> Result<u64> {
    require_btrfs(path)?;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| StorageError::io("open", path, e))?;
    lookup_subvolume(&f, path)
}

/// The subvolumes below the subvolume (or directory) `path`, at any depth, sorted by path
/// (component by component), which is a pre-order: a subvolume comes before the ones nested
/// in it, so snapshotting in this order and deleting in the reverse order both work. Only paths
/// that exist below `path` on the same mount are listed: a subvolume hidden by a mount, or
/// reached only through another mount, is not. `path` itself is not listed, and a symlink is
/// refused.
///
/// The answer comes from the filesystem's root tree (`BTRFS_IOC_TREE_SEARCH`), so its cost
/// grows with the number of subvolumes, not of files. The search needs `CAP_SYS_ADMIN`; where
/// the kernel refuses it (`EPERM`), or cannot tell which mount a file is on, the directories
/// below `path` are walked instead, with the same answer.
pub fn nested_subvolumes(path: &Path) -> Result<Vec<PathBuf>> {
    require_btrfs(path)?;
    let mut out = match search_nested(path) {
        Ok(Some(found)) => found,
        Ok(None) => {
            tracing::debug!(path = %path.display(), "no mount ids from statx: walking for nested subvolumes");
            walk_nested(path)?
        }
        Err(e) if e.errno() == Some(Errno::EPERM) => {
            tracing::debug!(path = %path.display(), error = %e, "tree search refused: walking for nested subvolumes");
            walk_nested(path)?
        }
        Err(e) => return Err(e),
    };
    out.sort();
    Ok(out)
}

/// `BTRFS_ROOT_REF_KEY`: the root tree item `(parent id, ROOT_REF, child id)` that records
/// where a subvolume's directory entry is in its parent.
const ROOT_REF_KEY: u32 = 156;
/// Size of the packed `struct btrfs_root_ref { __le64 dirid; __le64 sequence; __le16
/// name_len; }` that precedes the name.
const ROOT_REF_SIZE: usize = 18;
/// Inode number of the empty directory a snapshot shows where the source had a nested
/// subvolume (`BTRFS_EMPTY_SUBVOL_DIR_OBJECTID`).
const EMPTY_SUBVOL_DIR_OBJECTID: u64 = 2;

/// One `ROOT_REF` item: a child subvolume and where its entry is in the parent.
struct RootRef {
    /// The child's subvolume id (the key's offset).
    child: u64,
    /// Inode of the directory holding the child's entry, in the parent subvolume.
    dirid: u64,
    /// The entry's name.
    name: OsString,
}

/// Lists what [`nested_subvolumes`] lists from the root tree; `None` when the kernel does not
/// report mount ids, without which reachability cannot be checked.
fn search_nested(path: &Path) -> Result<Option<Vec<PathBuf>>> {
    let dir = open_dir_nofollow(path)?;
    let st = fstatx(&dir, path)?;
    if st.ino == EMPTY_SUBVOL_DIR_OBJECTID {
        // A snapshot's stand-in for a nested subvolume of its source: always empty.
        return Ok(Some(Vec::new()));
    }
    let Some(mnt_id) = st.mnt_id else {
        return Ok(None);
    };
    let subvol = lookup_subvolume(&dir, path)?;
    let mut search = NestedSearch {
        dir,
        path,
        mnt_id,
        dir_paths: HashMap::new(),
        out: Vec::new(),
    };
    // Where `path` is inside its subvolume: only children below there are wanted.
    let prefix = search.dir_path(subvol, st.ino)?;
    search.children(subvol, &prefix, Path::new(""))?;
    Ok(Some(search.out))
}

/// State of one [`search_nested`] call.
struct NestedSearch<'a> {
    /// `path`, open.
    dir: File,
    /// The path asked about.
    path: &'a Path,
    /// The mount `path` is on: listed subvolumes must be on it too.
    mnt_id: u64,
    /// Paths of directories inside subvolumes already resolved, by (subvolume, inode).
    dir_paths: HashMap<(u64, u64), PathBuf>,
    /// Nested subvolumes found.
    out: Vec<PathBuf>,
}

impl NestedSearch<'_> {
    /// Adds the children of subvolume `parent` whose path in it is below `prefix`, then
    /// theirs; `base` is where `parent`'s `prefix` is relative to `self.path`.
    fn children(&mut self, parent: u64, prefix: &Path, base: &Path) -> Result<()> {
        for r in root_refs(&self.dir, self.path, parent)? {
            let in_parent = self.dir_path(parent, r.dirid)?.join(&r.name);
            let rel = match in_parent.strip_prefix(prefix) {
                Ok(below) if below.as_os_str().is_empty() => continue,
                Ok(below) => base.join(below),
                Err(_) => continue,
            };
            if !self.reachable(&rel, r.child)? {
                tracing::debug!(
                    path = %self.path.join(&rel).display(),
                    id = r.child,
                    "nested subvolume not reachable from here: not listed"
                );
                continue;
            }
            self.out.push(self.path.join(&rel));
            self.children(r.child, Path::new(""), &rel)?;
        }
        Ok(())
    }

    /// The path of directory `ino` inside subvolume `tree`, relative to its root.
    fn dir_path(&mut self, tree: u64, ino: u64) -> Result<PathBuf> {
        if ino == FIRST_FREE_OBJECTID {
            return Ok(PathBuf::new());
        }
        if let Some(p) = self.dir_paths.get(&(tree, ino)) {
            return Ok(p.clone());
        }
        let mut args: InoLookupArgs = zeroed();
        args.treeid = tree;
        args.objectid = ino;
        ioctl(
            &self.dir,
            request::INO_LOOKUP,
            &mut args,
            "BTRFS_IOC_INO_LOOKUP",
            self.path,
        )?;
        // The kernel writes "a/b/": NUL-terminated, with a trailing slash.
        let len = args
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(args.name.len());
        let p = PathBuf::from(OsStr::from_bytes(&args.name[..len]));
        self.dir_paths.insert((tree, ino), p.clone());
        Ok(p)
    }

    /// Whether `rel` (below `self.path`) is the root of subvolume `id`, reached without
    /// crossing into another mount and without following a symlink at its end.
    fn reachable(&self, rel: &Path, id: u64) -> Result<bool> {
        let full = self.path.join(rel);
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match openat(Some(self.dir.as_raw_fd()), rel, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => return Ok(false),
            Err(e) => return Err(StorageError::sys("open directory", &full, e)),
        };
        // SAFETY: `openat` just returned this descriptor and nothing else owns it.
        let sub = unsafe { File::from_raw_fd(fd) };
        let st = fstatx(&sub, &full)?;
        if st.ino != FIRST_FREE_OBJECTID || st.mnt_id != Some(self.mnt_id) {
            return Ok(false);
        }
        Ok(lookup_subvolume(&sub, &full)? == id)
    }
}

/// The `ROOT_REF` items of subvolume `parent`: its direct children.
fn root_refs(dir: &File, path: &Path, parent: u64) -> Result<Vec<RootRef>> {
    let key = SearchKey {
        tree_id: ROOT_TREE_OBJECTID,
        min_objectid: parent,
        max_objectid: parent,
        min_type: ROOT_REF_KEY,
        max_type: ROOT_REF_KEY,
        min_offset: 0,
        max_offset: u64::MAX,
        max_transid: u64::MAX,
        ..Default::default()
    };
    let mut refs = Vec::new();
    let mut bad = None;
    tree_search(dir, path, key, |h, item| {
        if h.objectid != parent || h.type_ != ROOT_REF_KEY {
            return;
        }
        match parse_root_ref(h.offset, item) {
            Some(r) => refs.push(r),
            None => bad = Some(h.offset),
        }
    })?;
    if let Some(child) = bad {
        return Err(StorageError::invalid(
            "btrfs root ref",
            format!("{parent} -> {child}"),
            format!(
                "item shorter than its name in the root tree of {}",
                path.display()
            ),
        ));
    }
    Ok(refs)
}

/// Decodes a `btrfs_root_ref` item followed by its name; `None` when it is truncated.
fn parse_root_ref(child: u64, item: &[u8]) -> Option<RootRef> {
    let dirid = u64::from_le_bytes(item.get(0..8)?.try_into().ok()?);
    let name_len = usize::from(u16::from_le_bytes(item.get(16..18)?.try_into().ok()?));
    let name = item.get(ROOT_REF_SIZE..ROOT_REF_SIZE + name_len)?;
    Some(RootRef {
        child,
        dirid,
        name: OsStr::from_bytes(name).to_os_string(),
    })
}

/// The id of the subvolume holding the open file `f` (`BTRFS_IOC_INO_LOOKUP` of inode 256,
/// which the kernel answers without privileges).
fn lookup_subvolume(f: &File, path: &Path) -> Result<u64> {
    let mut args: InoLookupArgs = zeroed();
    args.objectid = FIRST_FREE_OBJECTID;
    ioctl(
        f,
        request::INO_LOOKUP,
        &mut args,
        "BTRFS_IOC_INO_LOOKUP",
        path,
    )?;
    Ok(args.treeid)
}

/// Inode number and mount id of an open file.
struct FdStat {
    ino: u64,
    /// `None` when the kernel does not report mount ids (before Linux 5.8).
    mnt_id: Option<u64>,
}

/// `statx` of an open file, for its inode number and mount id.
fn fstatx(f: &File, path: &Path) -> Result<FdStat> {
    // SAFETY: statx only writes into the zeroed buffer it is given.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open, the empty path is NUL-terminated and `stx` is a valid
    // statx buffer.
    let ret = unsafe {
        libc::statx(
            f.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_INO | libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    Errno::result(ret).map_err(|e| StorageError::sys("statx", path, e))?;
    Ok(FdStat {
        ino: stx.stx_ino,
        mnt_id: (stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id),
    })
}

/// Opens a directory for ioctls without following a symlink at its end.
fn open_dir_nofollow(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| StorageError::io("open directory", path, e))
}

/// The fallback of [`nested_subvolumes`]: walks the directories below `path` on its mount
/// (other mounts are skipped) for directories with inode 256.
fn walk_nested(path: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk_subvolumes(path, &mut out)?;
    Ok(out)
}

fn walk_subvolumes(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in meta::read_dir(dir)? {
        if entry.dir == Some(false) {
            continue;
        }
        let p = dir.join(&entry.name);
        let st = meta::lstat(&p)?;
        if st.kind() != Kind::Dir || st.mount_root == Some(true) {
            continue;
        }
        if st.ino == FIRST_FREE_OBJECTID {
            out.push(p.clone());
        }
        walk_subvolumes(&p, out)?;
    }
    Ok(())
}

/// Commits the filesystem's current transaction (`BTRFS_IOC_SYNC`), after which quota
/// group numbers are up to date and the cleaner frees deleted subvolumes.
pub fn sync(path: &Path) -> Result<()> {
    let dir = open_dir(path)?;
    ioctl(
        &dir,
        request::SYNC,
        std::ptr::null_mut::<u8>(),
        "BTRFS_IOC_SYNC",
        path,
    )?;
    Ok(())
}

/// The filesystem UUID (the name of its directory in `/sys/fs/btrfs`).
pub fn fs_uuid(path: &Path) -> Result<[u8; 16]> {
    require_btrfs(path)?;
    let dir = open_dir(path)?;
    let mut args: FsInfoArgs = zeroed();
    ioctl(&dir, request::FS_INFO, &mut args, "BTRFS_IOC_FS_INFO", path)?;
    Ok(args.fsid)
}

fn quota_ctl(fs_path: &Path, cmd: u64, op: &'static str) -> Result<()> {
    require_btrfs(fs_path)?;
    let dir = open_dir(fs_path)?;
    let mut args = QuotaCtlArgs { cmd, status: 0 };
    ioctl(&dir, request::QUOTA_CTL, &mut args, op, fs_path)?;
    Ok(())
}

/// Enables quota groups on the filesystem of `fs_path` (idempotent). The kernel then rescans
/// existing data; [`quota_rescan_wait`] waits for it.
pub fn quota_enable(fs_path: &Path) -> Result<()> {
    quota_ctl(fs_path, QUOTA_CTL_ENABLE, "BTRFS_IOC_QUOTA_CTL(enable)")
}

/// Disables quota groups on the filesystem of `fs_path`.
pub fn quota_disable(fs_path: &Path) -> Result<()> {
    quota_ctl(fs_path, QUOTA_CTL_DISABLE, "BTRFS_IOC_QUOTA_CTL(disable)")
}

/// Starts a quota rescan (a rescan already running is fine).
pub fn quota_rescan(fs_path: &Path) -> Result<()> {
    let dir = open_dir(fs_path)?;
    let mut args = QuotaRescanArgs::default();
    match ioctl(
        &dir,
        request::QUOTA_RESCAN,
        &mut args,
        "BTRFS_IOC_QUOTA_RESCAN",
        fs_path,
    ) {
        Err(e) if e.errno() == Some(Errno::EINPROGRESS) => Ok(()),
        Err(e) if e.errno() == Some(Errno::ENOTCONN) => Err(quotas_off(fs_path)),
        other => other.map(drop),
    }
}

/// Waits until a running quota rescan is over (returns at once when none runs).
pub fn quota_rescan_wait(fs_path: &Path) -> Result<()> {
    let dir = open_dir(fs_path)?;
    ioctl(
        &dir,
        request::QUOTA_RESCAN_WAIT,
        std::ptr::null_mut::<u8>(),
        "BTRFS_IOC_QUOTA_RESCAN_WAIT",
        fs_path,
    )?;
    Ok(())
}

fn quotas_off(path: &Path) -> StorageError {
    StorageError::Unsupported {
        what: format!("btrfs quota groups on {}", path.display()),
        reason: "quotas are not enabled on this filesystem".into(),
    }
}

/// Sets (`Some(bytes)`) or removes (`None`) the referenced-bytes limit of the level-0 quota
/// group of the subvolume holding `path`. Quotas must be enabled.
pub fn qgroup_limit(path: &Path, max_referenced: Option<u64>) -> Result<()> {
    let id = subvolume_id(path)?;
    if max_referenced == Some(u64::MAX) {
        return Err(StorageError::invalid(
            "qgroup limit",
            u64::MAX.to_string(),
            "too large",
        ));
    }
    let dir = open_dir(path)?;
    let mut args = QgroupLimitArgs {
        qgroupid: id,
        lim: QgroupLimit {
            flags: QGROUP_LIMIT_MAX_RFER,
            // The kernel clears the limit when given all ones.
            max_rfer: max_referenced.unwrap_or(u64::MAX),
            ..Default::default()
        },
    };
    match ioctl(
        &dir,
        request::QGROUP_LIMIT,
        &mut args,
        "BTRFS_IOC_QGROUP_LIMIT",
        path,
    ) {
        Err(e) if e.errno() == Some(Errno::ENOTCONN) => Err(quotas_off(path)),
        other => other.map(drop),
    }
}

/// Usage and limits of a level-0 quota group, as committed (call [`sync`] first for numbers
/// that include the latest writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QgroupUsage {
    /// The subvolume id (the quota group is `0/id`).
    pub subvolume_id: u64,
    /// Bytes referenced by the subvolume.
    pub referenced: u64,
    /// Bytes referenced by the subvolume only.
    pub exclusive: u64,
    /// Referenced-bytes limit.
    pub max_referenced: Option<u64>,
    /// Exclusive-bytes limit.
    pub max_exclusive: Option<u64>,
}

/// Reads usage and limits of the quota group of the subvolume holding `path` from the quota
/// tree (`BTRFS_IOC_TREE_SEARCH`).
pub fn qgroup_usage(path: &Path) -> Result<QgroupUsage> {
    let id = subvolume_id(path)?;
    let dir = open_dir(path)?;
    let exact = |item_type| SearchKey {
        tree_id: QUOTA_TREE_OBJECTID,
        min_objectid: 0,
        max_objectid: 0,
        min_type: item_type,
        max_type: item_type,
        min_offset: id,
        max_offset: id,
        max_transid: u64::MAX,
        ..Default::default()
    };
    let mut info: Option<Vec<u8>> = None;
    let search = tree_search(&dir, path, exact(QGROUP_INFO_KEY), |_, item| {
        info = Some(item.to_vec());
    });
    match search {
        Err(e) if e.errno() == Some(Errno::ENOENT) => return Err(quotas_off(path)),
        other => other?,
    }
    let info = info.ok_or_else(|| StorageError::not_found(format!("qgroup 0/{id}"), path))?;
    let mut limit: Option<Vec<u8>> = None;
    tree_search(&dir, path, exact(QGROUP_LIMIT_KEY), |_, item| {
        limit = Some(item.to_vec());
    })?;
    // btrfs_qgroup_info_item: generation, rfer, rfer_cmpr, excl, excl_cmpr (little endian).
    let field = |buf: &[u8], i: usize| -> u64 {
        buf.get(i * 8..i * 8 + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .unwrap_or(0)
    };
    let (mut max_referenced, mut max_exclusive) = (None, None);
    if let Some(l) = &limit {
        // btrfs_qgroup_limit_item: flags, max_rfer, max_excl, rsv_rfer, rsv_excl.
        let flags = field(l, 0);
        if flags & QGROUP_LIMIT_MAX_RFER != 0 {
            max_referenced = Some(field(l, 1));
        }
        if flags & QGROUP_LIMIT_MAX_EXCL != 0 {
            max_exclusive = Some(field(l, 2));
        }
    }
    Ok(QgroupUsage {
        subvolume_id: id,
        referenced: field(&info, 1),
        exclusive: field(&info, 3),
        max_referenced,
        max_exclusive,
    })
}

/// Calls `f` with the header and item bytes of every item in the key range, following the
/// range across as many ioctl calls as needed.
fn tree_search(
    dir: &File,
    path: &Path,
    mut key: SearchKey,
    mut f: impl FnMut(&SearchHeader, &[u8]),
) -> Result<()> {
    let mut args: SearchArgs = zeroed();
    loop {
        key.nr_items = 4096;
        args.key = key;
        ioctl(
            dir,
            request::TREE_SEARCH,
            &mut args,
            "BTRFS_IOC_TREE_SEARCH",
            path,
        )?;
        let n = args.key.nr_items;
        if n == 0 {
            return Ok(());
        }
        let hsize = std::mem::size_of::<SearchHeader>();
        let mut off = 0usize;
        let mut last = SearchHeader::default();
        for _ in 0..n {
            if off + hsize > args.buf.len() {
                break;
            }
            // SAFETY: `off + hsize` is within `buf`; the kernel wrote a header there and
            // `read_unaligned` copes with its alignment.
            let h: SearchHeader =
                unsafe { std::ptr::read_unaligned(args.buf.as_ptr().add(off).cast()) };
            let start = off + hsize;
            let end = (start + h.len as usize).min(args.buf.len());
            f(&h, &args.buf[start..end]);
            off = end;
            last = h;
        }
        // Continue just after the last key returned.
        if last.offset < u64::MAX {
            key.min_objectid = last.objectid;
            key.min_type = last.type_;
            key.min_offset = last.offset + 1;
        } else if last.type_ < 255 {
            key.min_objectid = last.objectid;
            key.min_type = last.type_ + 1;
            key.min_offset = 0;
        } else if last.objectid < key.max_objectid {
            key.min_objectid = last.objectid + 1;
            key.min_type = 0;
            key.min_offset = 0;
        } else {
            return Ok(());
        }
        if (key.min_objectid, key.min_type, key.min_offset)
            > (key.max_objectid, key.max_type, key.max_offset)
        {
            return Ok(());
        }
    }
}

/// Whether the subvolume `id` still has a root item (deleted subvolumes keep theirs until
/// the cleaner has freed their space).
fn root_item_exists(dir: &File, path: &Path, id: u64) -> Result<bool> {
    let key = SearchKey {
        tree_id: ROOT_TREE_OBJECTID,
        min_objectid: id,
        max_objectid: id,
        min_type: ROOT_ITEM_KEY,
        max_type: ROOT_ITEM_KEY,
        min_offset: 0,
        max_offset: u64::MAX,
        max_transid: u64::MAX,
        ..Default::default()
    };
    let mut found = false;
    tree_search(dir, path, key, |_, _| found = true)?;
    Ok(found)
}

/// Waits until the space of the deleted subvolume `id` has been freed on the filesystem of
/// `fs_path`, committing transactions to wake the cleaner; fails after `timeout`.
pub fn wait_subvolume_cleaned(fs_path: &Path, id: u64, timeout: Duration) -> Result<()> {
    let dir = open_dir(fs_path)?;
    let deadline = Instant::now() + timeout;
    loop {
        sync(fs_path)?;
        if !root_item_exists(&dir, fs_path, id)? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StorageError::InUse {
                path: fs_path.to_path_buf(),
                reason: format!(
                    "deleted subvolume {id} was not cleaned up within {} ms",
                    timeout.as_millis()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
