//! The fallback when idmapped mounts are not available: shifting the ownership of every file
//! in a rootfs on disk (and back), including POSIX ACL entries, as LXD does, recording the
//! applied map in `volatile.last_state.idmap`.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::idmap::IdmapSet;

/// Direction of a shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Container ids on disk become host ids (`0` → `1000000`).
    Shift,
    /// Host ids on disk go back to container ids.
    Unshift,
}

fn map_uid(map: &IdmapSet, id: u32, dir: Direction) -> u32 {
    let m = match dir {
        Direction::Shift => map.host_uid(id.into()),
        Direction::Unshift => map.ns_uid(id.into()),
    };
    m.and_then(|v| u32::try_from(v).ok()).unwrap_or(id)
}

fn map_gid(map: &IdmapSet, id: u32, dir: Direction) -> u32 {
    let m = match dir {
        Direction::Shift => map.host_gid(id.into()),
        Direction::Unshift => map.ns_gid(id.into()),
    };
    m.and_then(|v| u32::try_from(v).ok()).unwrap_or(id)
}

/// Shifts (or unshifts) every file under `root`, staying on its filesystem.
pub fn shift_tree(root: &Path, map: &IdmapSet, dir: Direction) -> std::io::Result<u64> {
    let dev = fs::symlink_metadata(root)?.dev();
    let mut count = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path)?;
        if meta.dev() != dev {
            continue;
        }
        shift_one(&path, &meta, map, dir)?;
        count += 1;
        if meta.is_dir() {
            for entry in fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(count)
}

fn shift_one(
    path: &Path,
    meta: &fs::Metadata,
    map: &IdmapSet,
    dir: Direction,
) -> std::io::Result<()> {
    let (uid, gid) = (map_uid(map, meta.uid(), dir), map_gid(map, meta.gid(), dir));
    if (uid, gid) != (meta.uid(), meta.gid()) {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
        // chown clears setuid/setgid bits on executables: put them back.
        if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    if !meta.file_type().is_symlink() {
        for attr in ["system.posix_acl_access", "system.posix_acl_default"] {
            shift_acl(path, attr, map, dir)?;
        }
    }
    Ok(())
}

const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;

/// Rewrites the uids and gids inside a POSIX ACL xattr (header of 4 bytes, then entries of
/// tag u16, perm u16, id u32).
fn shift_acl(path: &Path, name: &str, map: &IdmapSet, dir: Direction) -> std::io::Result<()> {
    let p = CString::new(path.as_os_str().as_bytes())?;
    let n = CString::new(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: the path and name are valid C strings and the buffer is writable for its length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) | Some(libc::ERANGE) => Ok(()),
            _ => Err(e),
        };
    }
    buf.truncate(len as usize);
    let mut changed = false;
    let mut off = 4;
    while off + 8 <= buf.len() {
        let tag = u16::from_le_bytes([buf[off], buf[off + 1]]);
        let id = u32::from_le_bytes(buf[off + 4..off + 8].try_into().expect("4 bytes"));
        let new = match tag {
            ACL_USER => map_uid(map, id, dir),
            ACL_GROUP => map_gid(map, id, dir),
            _ => id,
        };
        if new != id {
            buf[off + 4..off + 8].copy_from_slice(&new.to_le_bytes());
            changed = true;
        }
        off += 8;
    }
    if changed {
        // SAFETY: as above; the buffer holds `buf.len()` initialised bytes.
        let r =
            unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), buf.as_ptr().cast(), buf.len(), 0) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
