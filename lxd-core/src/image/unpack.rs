//! Safe unpacking of an image into an empty volume directory.
//!
//! LXD unpacks with `tar --restrict --numeric-owner --xattrs-include=*` (and `unsquashfs` for a
//! squashfs rootfs), then checks that `metadata.yaml` is a regular file. This unpacker does the
//! same work itself and is stricter about the tarball's paths:
//!
//! - an entry with a `..` component or an absolute path is refused (GNU tar would strip or skip
//!   it); a hard link whose target is absolute, has `..`, lies in another top-level directory
//!   of the volume, or has not been extracted yet is refused;
//! - every file is created relative to its parent directory's descriptor, and the parent is
//!   opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: nothing is ever written
//!   through a symlink (`rootfs/etc -> /etc` then `rootfs/etc/passwd` is refused), whatever
//!   the symlink's target;
//! - `rootfs` and `templates` must be directories, `metadata.yaml` (and `backup.yaml`, as LXD
//!   checks) regular files; other top-level entries of a unified tarball are extracted, as
//!   LXD's `tar` does; the metadata tarball of a split image may not hold `rootfs/`, which
//!   comes from the rootfs file;
//! - an entry that replaces an existing directory is refused; one that replaces a file
//!   replaces it (later entries of a tarball win, as with tar).
//!
//! Ownership is the numeric uid/gid of the tar header (pax `uid`/`gid` when present), never a
//! name lookup; modes keep setuid/setgid/sticky; mtimes (pax `mtime` with nanoseconds) are
//! restored, those of directories once their contents are written; xattrs come from pax
//! `SCHILY.xattr.*` (and `LIBARCHIVE.xattr.*`) records and are set after ownership so that
//! `security.capability` survives; hard links, symlinks, fifos and device nodes are recreated.
//! LXD extracts device nodes when it runs as root and leaves `dev/*` out in a user namespace;
//! [`UnpackOptions::allow_devices`] (default true) says which: when false, character and block
//! devices are skipped and counted in [`UnpackStats::skipped_devices`].
//!
//! On any error the destination is emptied again before the error is returned.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::compression::{self, detect_format, Compression, FileFormat, ReadAhead};
use super::openat::{self, Resolve};
use super::{squashfs, ImageError, ImageFiles, Result};

/// How many decompressed megabytes the decompression thread may run ahead.
const READ_AHEAD_CHUNKS: usize = 8;

/// Size of the copy buffer for file contents.
const COPY_BUFFER: usize = 1 << 20;

/// Options of [`unpack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackOptions {
    /// Create character and block device nodes (LXD does when it runs as root, the normal
    /// case). When false they are skipped, as LXD skips `dev/*` when it runs in a user
    /// namespace where `mknod` fails.
    pub allow_devices: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            allow_devices: true,
        }
    }
}

/// What [`unpack`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries created: files, directories, links, nodes.
    pub entries: u64,
    /// Regular files written (hard links not counted).
    pub files: u64,
    /// Bytes of regular-file contents written.
    pub bytes: u64,
    /// Device nodes left out because [`UnpackOptions::allow_devices`] was false.
    pub skipped_devices: u64,
}

impl UnpackStats {
    fn add(&mut self, other: UnpackStats) {
        self.entries += other.entries;
        self.files += other.files;
        self.bytes += other.bytes;
        self.skipped_devices += other.skipped_devices;
    }
}

/// Splits a tarball entry's path into its components, dropping `.` and empty ones; an
/// absolute path or a `..` component is refused with the reason.
pub fn normalize_entry(raw: &[u8]) -> std::result::Result<Vec<&[u8]>, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path");
    }
    let mut out = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path has a `..` component"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Unpacks the image `files` into `dest`, which must be an existing, empty directory:
/// `dest/metadata.yaml`, `dest/templates/`, `dest/rootfs/`. See the module documentation for
/// what is refused and preserved. On error `dest` is left empty.
pub fn unpack(files: &ImageFiles, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let dest_meta = std::fs::metadata(dest).map_err(|e| ImageError::io(dest, e))?;
    if !dest_meta.is_dir() {
        return Err(ImageError::Destination {
            path: dest.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    let mut listing = std::fs::read_dir(dest).map_err(|e| ImageError::io(dest, e))?;
    if listing.next().is_some() {
        return Err(ImageError::Destination {
            path: dest.to_path_buf(),
            reason: "not empty".into(),
        });
    }
    let started = std::time::Instant::now();
    let result = unpack_into(files, dest, opts);
    match result {
        Ok(stats) => {
            tracing::debug!(
                dest = %dest.display(),
                entries = stats.entries,
                bytes = stats.bytes,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "image unpacked"
            );
            Ok(stats)
        }
        Err(e) => {
            if let Err(clean) = clear_dir(dest) {
                tracing::error!(dest = %dest.display(), error = %clean, "cleaning up a failed unpack");
            }
            Err(e)
        }
    }
}

fn unpack_into(files: &ImageFiles, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let root = openat::open_dir(dest).map_err(|e| ImageError::io(dest, e))?;
    let mut stats = UnpackStats::default();
    match files {
        ImageFiles::Unified(path) => {
            stats.add(extract_tarball(path, &root, dest, Layout::Unified, opts)?);
        }
        ImageFiles::Split { metadata, rootfs } => {
            stats.add(extract_tarball(
                metadata,
                &root,
                dest,
                Layout::SplitMetadata,
                opts,
            )?);
            let rootfs_dir = dest.join("rootfs");
            match detect_format(rootfs)? {
                FileFormat::Tarball(_) => {
                    openat::mkdirat(root.as_fd(), b"rootfs", 0o755)
                        .and_then(|()| openat::fchmodat(root.as_fd(), b"rootfs", 0o755))
                        .map_err(|e| ImageError::write("mkdir", &rootfs_dir, e))?;
                    stats.add(extract_tarball(
                        rootfs,
                        &root,
                        dest,
                        Layout::SplitRootfs,
                        opts,
                    )?);
                }
                FileFormat::Squashfs => {
                    stats.add(squashfs::unsquash(rootfs, &rootfs_dir, opts)?);
                }
                FileFormat::Qcow2 => {
                    return Err(ImageError::invalid(
                        rootfs,
                        "a qcow2 disk is the rootfs of a virtual-machine image, not of a container",
                    ))
                }
            }
        }
    }
    // What LXD checks after unpacking (`CheckMetadataFilesAreRegular`), plus a rootfs.
    let image = files.metadata_file();
    match openat::lstatat(root.as_fd(), b"metadata.yaml") {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
        Ok(_) => {
            return Err(ImageError::unsafe_entry(
                "metadata.yaml",
                "not a regular file",
            ))
        }
        Err(_) => return Err(ImageError::invalid(image, "the image has no metadata.yaml")),
    }
    match openat::lstatat(root.as_fd(), b"rootfs") {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
        _ => {
            return Err(ImageError::invalid(
                image,
                "the image has no rootfs/ directory",
            ))
        }
    }
    Ok(stats)
}

/// Removes everything inside `dir` (not `dir` itself), never following symlinks.
pub fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Where a tarball's entries go in the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A unified image: entries are volume paths.
    Unified,
    /// The metadata tarball of a split image: volume paths, without `rootfs/`.
    SplitMetadata,
    /// The rootfs tarball of a split image: paths under `rootfs/`.
    SplitRootfs,
}

/// Metadata of an entry, from its header and pax records.
struct EntryMeta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, u32),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A directory (as path components) and the mtime to give it once it is complete.
type DirTime = (Vec<Vec<u8>>, (i64, u32));

struct Extractor<'a> {
    root: BorrowedFd<'a>,
    dest: &'a Path,
    tarball: &'a Path,
    opts: &'a UnpackOptions,
    layout: Layout,
    stats: UnpackStats,
    cache: Option<(Vec<u8>, OwnedFd)>,
    at_root: bool,
    dir_times: Vec<DirTime>,
    buf: Vec<u8>,
}

fn extract_tarball(
    tarball: &Path,
    root: &OwnedFd,
    dest: &Path,
    layout: Layout,
    opts: &UnpackOptions,
) -> Result<UnpackStats> {
    let compression = compression::detect_compression(tarball)?;
    let file = File::open(tarball).map_err(|e| ImageError::io(tarball, e))?;
    let decoded =
        compression::decoder(file, compression).map_err(|e| ImageError::io(tarball, e))?;
    let reader: Box<dyn Read> = if compression == Compression::None {
        decoded
    } else {
        Box::new(
            ReadAhead::new(decoded, READ_AHEAD_CHUNKS).map_err(|e| ImageError::io(tarball, e))?,
        )
    };
    let mut x = Extractor {
        root: root.as_fd(),
        dest,
        tarball,
        opts,
        layout,
        stats: UnpackStats::default(),
        cache: None,
        at_root: true,
        dir_times: Vec::new(),
        buf: vec![0u8; COPY_BUFFER],
    };
    x.run(reader)?;
    Ok(x.stats)
}

fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    comps.join(&b'/')
}

fn display(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn is_type(st: &libc::stat, fmt: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == fmt
}

/// Parses a pax time (`1700000000.123456789`, possibly negative) into seconds and nanoseconds.
fn parse_pax_time(v: &str) -> Option<(i64, u32)> {
    let (sec, frac) = v.split_once('.').unwrap_or((v, ""));
    let sec: i64 = sec.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: u32 = digits.parse().ok()?;
    if sec < 0 && nsec > 0 {
        // -1.5 is 1.5 s before the epoch: -2 s + 0.5 s.
        return Some((sec - 1, 1_000_000_000 - nsec));
    }
    Some((sec, nsec))
}

/// Decodes libarchive's percent-encoded xattr name.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Decodes standard base64 (padding optional), as libarchive writes xattr values.
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s: Vec<u8> = s.iter().copied().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

impl<'a> Extractor<'a> {
    fn host_path(&self, comps: &[Vec<u8>]) -> PathBuf {
        let mut p = self.dest.to_path_buf();
        for c in comps {
            p.push(std::ffi::OsStr::from_bytes(c));
        }
        p
    }

    fn corrupt(&self, what: impl std::fmt::Display) -> ImageError {
        ImageError::invalid(self.tarball, format!("reading the tarball: {what}"))
    }

    fn run(&mut self, reader: Box<dyn Read + 'a>) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| self.corrupt(e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.corrupt(e))?;
            self.entry(&mut entry)?;
        }
        // Directory times last, deepest first, once nothing more is written into them.
        let times = std::mem::take(&mut self.dir_times);
        for (comps, (sec, nsec)) in times.iter().rev() {
            let (name, parent_comps) = comps.split_last().expect("a directory has a name");
            self.parent(parent_comps, &display(&join(comps)), false)?;
            let parent = self.pfd();
            openat::lutimensat(parent, name, *sec, *nsec)
                .map_err(|e| ImageError::write("set times of", self.host_path(comps), e))?;
        }
        Ok(())
    }

    /// Opens (from the cache when it is the last one) the directory `comps` under the volume,
    /// refusing any symlink on the way; with `create`, missing directories are created
    /// (owned by root, mode 0755) as tar does. [`Self::pfd`] then returns it.
    fn parent(&mut self, comps: &[Vec<u8>], entry: &str, create: bool) -> Result<()> {
        if comps.is_empty() {
            self.at_root = true;
            return Ok(());
        }
        self.at_root = false;
        let key = join(comps);
        if matches!(&self.cache, Some((k, _)) if *k == key) {
            return Ok(());
        }
        let flags = libc::O_PATH | libc::O_DIRECTORY;
        let fd = match openat::open_resolved(self.root, &key, flags, 0, Resolve::NoSymlinks) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                self.create_dirs(comps, entry)?
            }
            Err(e) => return Err(self.resolve_error(e, comps, entry)),
        };
        self.cache = Some((key, fd));
        Ok(())
    }

    /// The directory opened by the last [`Self::parent`].
    fn pfd(&self) -> BorrowedFd<'_> {
        match &self.cache {
            Some((_, fd)) if !self.at_root => fd.as_fd(),
            _ => self.root,
        }
    }

    fn resolve_error(&self, e: io::Error, comps: &[Vec<u8>], entry: &str) -> ImageError {
        let dir = display(&join(comps));
        match e.raw_os_error() {
            Some(libc::ELOOP) => ImageError::unsafe_entry(
                entry,
                format!(
                    "{dir} is a symlink or goes through one; nothing is written through symlinks"
                ),
            ),
            Some(libc::ENOTDIR) => {
                ImageError::unsafe_entry(entry, format!("{dir} is not a directory"))
            }
            Some(libc::EXDEV) => {
                ImageError::unsafe_entry(entry, format!("{dir} escapes the volume"))
            }
            Some(libc::ENOENT) => ImageError::unsafe_entry(entry, format!("{dir} does not exist")),
            _ => ImageError::write("open", self.host_path(comps), e),
        }
    }

    fn create_dirs(&self, comps: &[Vec<u8>], entry: &str) -> Result<OwnedFd> {
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let mut cur: Option<OwnedFd> = None;
        for (i, c) in comps.iter().enumerate() {
            let dir = cur.as_ref().map(|f| f.as_fd()).unwrap_or(self.root);
            let fd = match openat::openat(dir, c, flags, 0) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    openat::mkdirat(dir, c, 0o755)
                        .and_then(|()| openat::fchmodat(dir, c, 0o755))
                        .map_err(|e| ImageError::write("mkdir", self.host_path(&comps[..=i]), e))?;
                    openat::openat(dir, c, flags, 0)
                        .map_err(|e| self.resolve_error(e, &comps[..=i], entry))?
                }
                Err(e) => return Err(self.resolve_error(e, &comps[..=i], entry)),
            };
            cur = Some(fd);
        }
        Ok(cur.expect("at least one component"))
    }

    /// Checks the entry against the image layout (see the module documentation).
    fn check_layout(&self, comps: &[Vec<u8>], kind: EntryType, entry: &str) -> Result<()> {
        let top = comps[0].as_slice();
        let whole = comps.len() == 1;
        if self.layout == Layout::SplitMetadata && top == b"rootfs" {
            return Err(ImageError::unsafe_entry(
                entry,
                "the metadata tarball of a split image may not hold rootfs/ (it comes from the rootfs file)",
            ));
        }
        match top {
            b"rootfs" | b"templates" if whole && !kind.is_dir() => Err(ImageError::unsafe_entry(
                entry,
                format!("{} must be a directory", display(top)),
            )),
            b"metadata.yaml" | b"backup.yaml" if whole && !kind.is_file() => {
                Err(ImageError::unsafe_entry(entry, "must be a regular file"))
            }
            b"metadata.yaml" | b"backup.yaml" if !whole => Err(ImageError::unsafe_entry(
                entry,
                format!("{} is a file, not a directory", display(top)),
            )),
            b"metadata.yaml" | b"backup.yaml" | b"rootfs" | b"templates" => Ok(()),
            _ => {
                tracing::debug!(
                    entry,
                    "extracting a top-level entry outside the image layout, as LXD does"
                );
                Ok(())
            }
        }
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, name: &str) -> Result<EntryMeta> {
        let bad = |what: &str, e: io::Error| self.corrupt(format!("entry {name}: {what}: {e}"));
        let h = entry.header();
        let mode = h.mode().map_err(|e| bad("mode", e))? & 0o7777;
        let mut uid = h.uid().map_err(|e| bad("uid", e))?;
        let mut gid = h.gid().map_err(|e| bad("gid", e))?;
        let mut mtime = (h.mtime().map_err(|e| bad("mtime", e))? as i64, 0u32);
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut libarchive: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|e| bad("pax header", e))? {
            for ext in pax {
                let ext = ext.map_err(|e| bad("pax header", e))?;
                let key = ext.key_bytes();
                let value = ext.value_bytes();
                let text = || std::str::from_utf8(value).ok();
                if let Some(x) = key.strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((x.to_vec(), value.to_vec()));
                } else if let Some(x) = key.strip_prefix(b"LIBARCHIVE.xattr.") {
                    let (Some(n), Some(v)) = (percent_decode(x), base64_decode(value)) else {
                        return Err(
                            self.corrupt(format!("entry {name}: bad LIBARCHIVE.xattr record"))
                        );
                    };
                    libarchive.push((n, v));
                } else if key.starts_with(b"GNU.sparse.") {
                    return Err(self.corrupt(format!(
                        "entry {name}: GNU pax sparse files are not supported (repack without --sparse)"
                    )));
                } else if key == b"uid" {
                    uid = text()
                        .and_then(|t| t.parse().ok())
                        .ok_or_else(|| self.corrupt(format!("entry {name}: bad pax uid")))?;
                } else if key == b"gid" {
                    gid = text()
                        .and_then(|t| t.parse().ok())
                        .ok_or_else(|| self.corrupt(format!("entry {name}: bad pax gid")))?;
                } else if key == b"mtime" {
                    mtime = text()
                        .and_then(parse_pax_time)
                        .ok_or_else(|| self.corrupt(format!("entry {name}: bad pax mtime")))?;
                }
            }
        }
        for (n, v) in libarchive {
            if !xattrs.iter().any(|(k, _)| *k == n) {
                xattrs.push((n, v));
            }
        }
        let id = |v: u64, what: &str| {
            u32::try_from(v)
                .map_err(|_| self.corrupt(format!("entry {name}: {what} {v} out of range")))
        };
        Ok(EntryMeta {
            mode,
            uid: id(uid, "uid")?,
            gid: id(gid, "gid")?,
            mtime,
            xattrs,
        })
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        match kind {
            EntryType::XGlobalHeader => return Ok(()),
            // A GNU volume label names the archive, not a file.
            k if k.as_byte() == b'V' => return Ok(()),
            _ => {}
        }
        let raw = entry.path_bytes().into_owned();
        let name = display(&raw);
        let mut comps: Vec<Vec<u8>> = match normalize_entry(&raw) {
            Ok(c) => c.into_iter().map(<[u8]>::to_vec).collect(),
            Err(reason) => return Err(ImageError::unsafe_entry(name, reason)),
        };
        if self.layout == Layout::SplitRootfs {
            comps.insert(0, b"rootfs".to_vec());
        }
        if comps.is_empty() {
            // `./`: the volume's root belongs to the storage driver, not to the image.
            return Ok(());
        }
        self.check_layout(&comps, kind, &name)?;
        let meta = self.meta(entry, &name)?;
        match kind {
            EntryType::Directory => self.directory(&comps, &meta, &name),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(entry, &comps, &meta, &name, kind == EntryType::GNUSparse)
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| ImageError::unsafe_entry(&name, "symlink without a target"))?;
                self.symlink(&comps, &target, &meta, &name)
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .ok_or_else(|| ImageError::unsafe_entry(&name, "hard link without a target"))?;
                self.hardlink(&comps, &target, &name)
            }
            EntryType::Fifo => self.node(&comps, kind, 0, 0, &meta, &name),
            EntryType::Char | EntryType::Block => {
                let h = entry.header();
                let bad = |e: io::Error| self.corrupt(format!("entry {name}: device number: {e}"));
                let major = h.device_major().map_err(bad)?.unwrap_or(0);
                let minor = h.device_minor().map_err(bad)?.unwrap_or(0);
                self.node(&comps, kind, major, minor, &meta, &name)
            }
            other => Err(self.corrupt(format!(
                "entry {name}: unsupported entry type {:?}",
                other.as_byte() as char
            ))),
        }
    }

    /// Makes room for a new non-directory entry named `name` in `parent`: an existing file is
    /// removed, an existing directory is refused.
    fn replace(
        &self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        comps: &[Vec<u8>],
        entry: &str,
    ) -> Result<()> {
        match openat::lstatat(parent, name) {
            Ok(st) if is_type(&st, libc::S_IFDIR) => Err(ImageError::unsafe_entry(
                entry,
                "would replace a directory already extracted",
            )),
            Ok(_) => openat::unlinkat(parent, name, 0)
                .map_err(|e| ImageError::write("remove", self.host_path(comps), e)),
            Err(e) => Err(ImageError::write("stat", self.host_path(comps), e)),
        }
    }

    fn set_xattrs_fd(&self, fd: BorrowedFd<'_>, meta: &EntryMeta, comps: &[Vec<u8>]) -> Result<()> {
        for (k, v) in &meta.xattrs {
            openat::fsetxattr(fd, k, v).map_err(|e| self.xattr_error(k, comps, e))?;
        }
        Ok(())
    }

    fn xattr_error(&self, key: &[u8], comps: &[Vec<u8>], e: io::Error) -> ImageError {
        ImageError::Write {
            op: "set xattr",
            path: self.host_path(comps).join(format!("[{}]", display(key))),
            source: e,
        }
    }

    fn directory(&mut self, comps: &[Vec<u8>], meta: &EntryMeta, entry: &str) -> Result<()> {
        let (name, parent_comps) = comps.split_last().expect("non-empty");
        let host = self.host_path(comps);
        self.parent(parent_comps, entry, true)?;
        let parent = self.pfd();
        match openat::mkdirat(parent, name, 0o700) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                let st = openat::lstatat(parent, name)
                    .map_err(|e| ImageError::write("stat", &host, e))?;
                if !is_type(&st, libc::S_IFDIR) {
                    openat::unlinkat(parent, name, 0)
                        .map_err(|e| ImageError::write("remove", &host, e))?;
                    openat::mkdirat(parent, name, 0o700)
                        .map_err(|e| ImageError::write("mkdir", &host, e))?;
                }
            }
            Err(e) => return Err(ImageError::write("mkdir", &host, e)),
        }
        let dir = openat::openat(
            parent,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(|e| ImageError::write("open", &host, e))?;
        openat::fchown(dir.as_fd(), meta.uid, meta.gid)
            .map_err(|e| ImageError::write("chown", &host, e))?;
        openat::fchmod(dir.as_fd(), meta.mode).map_err(|e| ImageError::write("chmod", &host, e))?;
        self.set_xattrs_fd(dir.as_fd(), meta, comps)?;
        self.dir_times.push((comps.to_vec(), meta.mtime));
        self.stats.entries += 1;
        Ok(())
    }

    fn regular<R: Read>(
        &mut self,
        data: &mut R,
        comps: &[Vec<u8>],
        meta: &EntryMeta,
        entry: &str,
        sparse: bool,
    ) -> Result<()> {
        let (name, parent_comps) = comps.split_last().expect("non-empty");
        let host = self.host_path(comps);
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        self.parent(parent_comps, entry, true)?;
        let parent = self.pfd();
        let fd = match openat::openat(parent, name, flags, 0o600) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.replace(parent, name, comps, entry)?;
                openat::openat(parent, name, flags, 0o600)
                    .map_err(|e| ImageError::write("create", &host, e))?
            }
            Err(e) => return Err(ImageError::write("create", &host, e)),
        };
        let mut file = File::from(fd);
        let mut written = 0u64;
        let mut hole = false;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.corrupt(format!("entry {entry}: {e}"))),
            };
            let chunk = &self.buf[..n];
            if sparse && chunk.iter().all(|b| *b == 0) {
                file.seek(SeekFrom::Current(n as i64))
                    .map_err(|e| ImageError::write("write", &host, e))?;
                hole = true;
            } else {
                file.write_all(chunk)
                    .map_err(|e| ImageError::write("write", &host, e))?;
                hole = false;
            }
            written += n as u64;
        }
        if hole {
            file.set_len(written)
                .map_err(|e| ImageError::write("write", &host, e))?;
        }
        openat::fchown(file.as_fd(), meta.uid, meta.gid)
            .map_err(|e| ImageError::write("chown", &host, e))?;
        openat::fchmod(file.as_fd(), meta.mode)
            .map_err(|e| ImageError::write("chmod", &host, e))?;
        self.set_xattrs_fd(file.as_fd(), meta, comps)?;
        openat::futimens(file.as_fd(), meta.mtime.0, meta.mtime.1)
            .map_err(|e| ImageError::write("set times of", &host, e))?;
        self.stats.entries += 1;
        self.stats.files += 1;
        self.stats.bytes += written;
        Ok(())
    }

    /// Ownership, mode, xattrs and times of a just-created entry that cannot be opened for
    /// writing (symlink, node): set through its parent without following it.
    fn finish_at(
        &mut self,
        comps: &[Vec<u8>],
        meta: &EntryMeta,
        chmod: bool,
        entry: &str,
    ) -> Result<()> {
        let (name, parent_comps) = comps.split_last().expect("non-empty");
        let host = self.host_path(comps);
        self.parent(parent_comps, entry, false)?;
        let parent = self.pfd();
        openat::lchownat(parent, name, meta.uid, meta.gid)
            .map_err(|e| ImageError::write("chown", &host, e))?;
        if chmod {
            openat::fchmodat(parent, name, meta.mode)
                .map_err(|e| ImageError::write("chmod", &host, e))?;
        }
        for (k, v) in &meta.xattrs {
            openat::lsetxattrat(parent, name, k, v).map_err(|e| self.xattr_error(k, comps, e))?;
        }
        openat::lutimensat(parent, name, meta.mtime.0, meta.mtime.1)
            .map_err(|e| ImageError::write("set times of", &host, e))?;
        self.stats.entries += 1;
        Ok(())
    }

    fn symlink(
        &mut self,
        comps: &[Vec<u8>],
        target: &[u8],
        meta: &EntryMeta,
        entry: &str,
    ) -> Result<()> {
        let (name, parent_comps) = comps.split_last().expect("non-empty");
        let host = self.host_path(comps);
        self.parent(parent_comps, entry, true)?;
        let parent = self.pfd();
        match openat::symlinkat(target, parent, name) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.replace(parent, name, comps, entry)?;
                openat::symlinkat(target, parent, name)
                    .map_err(|e| ImageError::write("symlink", &host, e))?;
            }
            Err(e) => return Err(ImageError::write("symlink", &host, e)),
        }
        self.finish_at(comps, meta, false, entry)
    }

    fn hardlink(&mut self, comps: &[Vec<u8>], target: &[u8], entry: &str) -> Result<()> {
        let shown = display(target);
        let mut tcomps: Vec<Vec<u8>> = match normalize_entry(target) {
            Ok(c) => c.into_iter().map(<[u8]>::to_vec).collect(),
            Err(reason) => {
                return Err(ImageError::unsafe_entry(
                    entry,
                    format!("hard link target {shown:?} is outside the volume: {reason}"),
                ))
            }
        };
        if self.layout == Layout::SplitRootfs {
            tcomps.insert(0, b"rootfs".to_vec());
        }
        if tcomps.is_empty() || tcomps == comps {
            return Err(ImageError::unsafe_entry(
                entry,
                format!("hard link to {shown:?} links to itself or the volume"),
            ));
        }
        if tcomps[0] != comps[0] {
            return Err(ImageError::unsafe_entry(
                entry,
                format!("hard link target {shown:?} is in another part of the image"),
            ));
        }
        let (tname, tparent_comps) = tcomps.split_last().expect("non-empty");
        let not_yet = || {
            ImageError::unsafe_entry(
                entry,
                format!("hard link target {shown:?} has not been extracted"),
            )
        };
        // The target's directory: no creation, no symlinks.
        let key = join(tparent_comps);
        let tparent = if tparent_comps.is_empty() {
            None
        } else {
            let flags = libc::O_PATH | libc::O_DIRECTORY;
            match openat::open_resolved(self.root, &key, flags, 0, Resolve::NoSymlinks) {
                Ok(fd) => Some(fd),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(not_yet()),
                Err(e) => return Err(self.resolve_error(e, tparent_comps, entry)),
            }
        };
        let tdir = tparent.as_ref().map(|f| f.as_fd()).unwrap_or(self.root);
        match openat::lstatat(tdir, tname) {
            Ok(st) if is_type(&st, libc::S_IFDIR) => {
                return Err(ImageError::unsafe_entry(
                    entry,
                    format!("hard link target {shown:?} is a directory"),
                ))
            }
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(not_yet()),
            Err(e) => return Err(ImageError::write("stat", self.host_path(&tcomps), e)),
        }
        let (name, parent_comps) = comps.split_last().expect("non-empty");
        let host = self.host_path(comps);
        self.parent(parent_comps, entry, true)?;
        let parent = self.pfd();
        match openat::linkat(tdir, tname, parent, name) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.replace(parent, name, comps, entry)?;
                openat::linkat(tdir, tname, parent, name)
                    .map_err(|e| ImageError::write("link", &host, e))?;
            }
            Err(e) => return Err(ImageError::write("link", &host, e)),
        }
        self.stats.entries += 1;
        Ok(())
    }

    fn node(
        &mut self,
        comps: &[Vec<u8>],
        kind: EntryType,
        major: u32,
        minor: u32,
        meta: &EntryMeta,
        entry: &str,
    ) -> Result<()> {
        let fmt = match kind {
            EntryType::Char => libc::S_IFCHR,
            EntryType::Block => libc::S_IFBLK,
            _ => libc::S_IFIFO,
        };
        if fmt != libc::S_IFIFO && !self.opts.allow_devices {
            self.stats.skipped_devices += 1;
            return Ok(());
        }
        let dev = if fmt == libc::S_IFIFO {
            0
        } else {
            libc::makedev(major, minor)
        };
        let (name, parent_comps) = comps.split_last().expect("non-empty");
        let host = self.host_path(comps);
        self.parent(parent_comps, entry, true)?;
        let parent = self.pfd();
        let mode = fmt | 0o600;
        match openat::mknodat(parent, name, mode, dev) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.replace(parent, name, comps, entry)?;
                openat::mknodat(parent, name, mode, dev)
                    .map_err(|e| ImageError::write("mknod", &host, e))?;
            }
            Err(e) => return Err(ImageError::write("mknod", &host, e)),
        }
        self.finish_at(comps, meta, true, entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(
            normalize_entry(b"./rootfs//bin/./sh").unwrap(),
            vec![&b"rootfs"[..], b"bin", b"sh"]
        );
        assert!(normalize_entry(b"./").unwrap().is_empty());
        assert!(normalize_entry(b"/etc/passwd").is_err());
        assert!(normalize_entry(b"rootfs/../../x").is_err());
    }

    #[test]
    fn pax_times_and_libarchive_encodings() {
        assert_eq!(
            parse_pax_time("1700000000.5"),
            Some((1700000000, 500_000_000))
        );
        assert_eq!(parse_pax_time("12"), Some((12, 0)));
        assert_eq!(parse_pax_time("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_pax_time("x"), None);
        assert_eq!(percent_decode(b"user.a%3Db").unwrap(), b"user.a=b");
        assert_eq!(base64_decode(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode(b"AQID").unwrap(), vec![1, 2, 3]);
    }
}
