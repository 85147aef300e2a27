//! Packing a directory tree into a tarball the way LXD's images are packed: numeric owners,
//! full modes, mtimes, xattrs as pax `SCHILY.xattr.*` records, hard links, symlinks, device
//! nodes and fifos, in sorted order so that the same tree gives the same bytes.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::{ImageError, Result};

/// Reads the extended attributes of `path` without following a symlink.
pub fn read_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let p = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut names = vec![0u8; 1024];
    let len = loop {
        // SAFETY: `p` is a valid C string and `names` is writable for its length.
        let n = unsafe { libc::llistxattr(p.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => names.resize(names.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(e),
        }
    };
    let mut out = Vec::new();
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("split on NUL");
        let mut value = vec![0u8; 256];
        let vlen = loop {
            // SAFETY: valid C strings and `value` is writable for its length.
            let n = unsafe {
                libc::lgetxattr(
                    p.as_ptr(),
                    cname.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ERANGE) => value.resize(value.len() * 16, 0),
                Some(libc::ENODATA) => break usize::MAX,
                _ => return Err(e),
            }
        };
        if vlen == usize::MAX {
            continue;
        }
        value.truncate(vlen);
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "xattr name is not UTF-8"))?;
        out.push((name, value));
    }
    out.sort();
    Ok(out)
}

/// Appends the tree at `src` to `builder` under `prefix` (`"rootfs"` gives `rootfs/`,
/// `rootfs/bin`, ...; `""` gives `./`, `bin`, ...), the root directory's own entry first.
pub struct TreePacker<'a, W: Write> {
    builder: &'a mut tar::Builder<W>,
    links: HashMap<(u64, u64), PathBuf>,
}

impl<'a, W: Write> TreePacker<'a, W> {
    /// A packer writing to `builder`.
    pub fn new(builder: &'a mut tar::Builder<W>) -> Self {
        TreePacker {
            builder,
            links: HashMap::new(),
        }
    }

    /// Packs the tree `src` as `prefix`.
    pub fn pack(&mut self, src: &Path, prefix: &str) -> Result<()> {
        let name = if prefix.is_empty() {
            PathBuf::from("./")
        } else {
            PathBuf::from(prefix)
        };
        self.entry(src, &name)
    }

    fn entry(&mut self, path: &Path, name: &Path) -> Result<()> {
        let io_err = |e: io::Error| ImageError::io(path, e);
        let md = fs::symlink_metadata(path).map_err(io_err)?;
        let ft = md.file_type();
        if ft.is_socket() {
            tracing::debug!(path = %path.display(), "sockets are not packed");
            return Ok(());
        }
        let xattrs = read_xattrs(path).map_err(io_err)?;
        let mut h = Header::new_gnu();
        h.set_mode(md.mode() & 0o7777);
        h.set_uid(md.uid().into());
        h.set_gid(md.gid().into());
        h.set_mtime(md.mtime().max(0) as u64);
        h.set_size(0);
        let tar_err = |e: io::Error| ImageError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(e.kind(), format!("adding to the tarball: {e}")),
        };
        if ft.is_file() && md.nlink() > 1 {
            if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                h.set_entry_type(EntryType::Link);
                let first = first.clone();
                return self
                    .builder
                    .append_link(&mut h, name, first)
                    .map_err(tar_err);
            }
            self.links.insert((md.dev(), md.ino()), name.to_path_buf());
        }
        if !xattrs.is_empty() {
            let keys: Vec<String> = xattrs
                .iter()
                .map(|(k, _)| format!("SCHILY.xattr.{k}"))
                .collect();
            let records = keys
                .iter()
                .map(String::as_str)
                .zip(xattrs.iter().map(|(_, v)| v.as_slice()));
            self.builder
                .append_pax_extensions(records)
                .map_err(tar_err)?;
        }
        if ft.is_dir() {
            h.set_entry_type(EntryType::Directory);
            self.builder
                .append_data(&mut h, name, io::empty())
                .map_err(tar_err)?;
            let mut children: Vec<_> = fs::read_dir(path)
                .map_err(io_err)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()
                .map_err(io_err)?;
            children.sort();
            for child in children {
                let child_name = if name == Path::new("./") {
                    PathBuf::from(&child)
                } else {
                    name.join(&child)
                };
                self.entry(&path.join(&child), &child_name)?;
            }
            Ok(())
        } else if ft.is_file() {
            h.set_entry_type(EntryType::Regular);
            h.set_size(md.len());
            let f = File::open(path).map_err(io_err)?;
            // `take`: a file that grows while it is packed must not corrupt the tarball.
            self.builder
                .append_data(&mut h, name, io::Read::take(f, md.len()))
                .map_err(tar_err)
        } else if ft.is_symlink() {
            h.set_entry_type(EntryType::Symlink);
            let target = fs::read_link(path).map_err(io_err)?;
            self.builder
                .append_link(
                    &mut h,
                    name,
                    Path::new(OsStr::from_bytes(target.as_os_str().as_bytes())),
                )
                .map_err(tar_err)
        } else {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            h.set_entry_type(kind);
            let rdev = if kind == EntryType::Fifo {
                0
            } else {
                md.rdev()
            };
            h.set_device_major(libc::major(rdev)).map_err(tar_err)?;
            h.set_device_minor(libc::minor(rdev)).map_err(tar_err)?;
            self.builder
                .append_data(&mut h, name, io::empty())
                .map_err(tar_err)
        }
    }
}

/// Appends a regular file `name` holding `data` (owner root, `mode`, `mtime`).
pub fn append_file<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mode: u32,
    mtime: u64,
    image: &Path,
) -> Result<()> {
    let mut h = Header::new_gnu();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(data.len() as u64);
    builder
        .append_data(&mut h, name, data)
        .map_err(|e| ImageError::io(image, e))
}

/// Appends a directory `name` (owner root, `mode`, `mtime`).
pub fn append_dir<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    mode: u32,
    mtime: u64,
    image: &Path,
) -> Result<()> {
    let mut h = Header::new_gnu();
    h.set_entry_type(EntryType::Directory);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(0);
    builder
        .append_data(&mut h, name, io::empty())
        .map_err(|e| ImageError::io(image, e))
}
