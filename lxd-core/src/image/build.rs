//! Building images from a root file system directory, a [`ImageMetadata`] and template files:
//! a unified tarball, or a split image (metadata tarball plus a rootfs tarball or squashfs).
//! Outputs are written to a temporary name next to the destination and renamed into place, so
//! a failed build leaves nothing behind.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::compression::{Compression, Encoder};
use super::metadata::ImageMetadata;
use super::pack::{append_dir, append_file, TreePacker};
use super::{fingerprint, squashfs, ImageError, ImageFiles, Result};

/// What an image is built from.
#[derive(Debug, Clone, Copy)]
pub struct ImageSource<'a> {
    /// The root file system tree (packed as `rootfs/`), with its owners, modes and xattrs.
    pub rootfs: &'a Path,
    /// The image's `metadata.yaml`.
    pub metadata: &'a ImageMetadata,
    /// Template files for `templates/`: file name → contents.
    pub templates: &'a BTreeMap<String, String>,
}

/// The rootfs file of a split image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsFormat {
    /// A tarball with this compression.
    Tarball(Compression),
    /// A squashfs file made by `mksquashfs`.
    Squashfs,
}

/// A unified image that was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuild {
    /// The tarball.
    pub path: PathBuf,
    /// Its fingerprint (LXD's image identifier).
    pub fingerprint: String,
}

impl ImageBuild {
    /// The image's files.
    pub fn files(&self) -> ImageFiles {
        ImageFiles::Unified(self.path.clone())
    }
}

/// A split image that was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitImageBuild {
    /// The metadata tarball.
    pub metadata: PathBuf,
    /// The rootfs tarball or squashfs file.
    pub rootfs: PathBuf,
    /// The image's fingerprint (SHA-256 of the metadata file then the rootfs file).
    pub fingerprint: String,
}

impl SplitImageBuild {
    /// The image's files.
    pub fn files(&self) -> ImageFiles {
        ImageFiles::Split {
            metadata: self.metadata.clone(),
            rootfs: self.rootfs.clone(),
        }
    }
}

/// The compression level used for each compression: low, to keep builds fast.
fn level(c: Compression) -> u32 {
    match c {
        Compression::Xz => 1,
        Compression::Gzip => 3,
        _ => 6,
    }
}

/// A file being written under a temporary name; removed on drop unless committed.
struct Partial {
    tmp: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Partial {
    fn new(out: &Path) -> Result<(Self, File)> {
        let name = out.file_name().ok_or_else(|| ImageError::Destination {
            path: out.to_path_buf(),
            reason: "not a file path".into(),
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".partial-{}", std::process::id()));
        let tmp = out.with_file_name(tmp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| ImageError::write("create", &tmp, e))?;
        Ok((
            Partial {
                tmp,
                out: out.to_path_buf(),
                committed: false,
            },
            file,
        ))
    }

    fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.out)
            .map_err(|e| ImageError::write("rename", &self.out, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn check_source(src: &ImageSource<'_>, out: &Path) -> Result<()> {
    src.metadata.validate(out)?;
    for name in src.templates.keys() {
        if name.is_empty()
            || name.starts_with('/')
            || name.split('/').any(|c| c == ".." || c.is_empty())
        {
            return Err(ImageError::Template {
                template: name.clone(),
                reason: "a template file name must be a relative path without `..`".into(),
            });
        }
    }
    for (target, rule) in &src.metadata.templates {
        if !src.templates.contains_key(&rule.template) {
            return Err(ImageError::Template {
                template: rule.template.clone(),
                reason: format!("the rule for {target} names a template file that is not provided"),
            });
        }
    }
    let md = std::fs::symlink_metadata(src.rootfs).map_err(|e| ImageError::io(src.rootfs, e))?;
    if !md.is_dir() {
        return Err(ImageError::invalid(
            src.rootfs,
            "the rootfs is not a directory",
        ));
    }
    Ok(())
}

/// Writes `metadata.yaml` and `templates/` into `builder`.
fn append_metadata<W: Write>(
    builder: &mut tar::Builder<W>,
    src: &ImageSource<'_>,
    out: &Path,
) -> Result<()> {
    let mtime = src.metadata.creation_date.max(0) as u64;
    append_file(
        builder,
        "metadata.yaml",
        src.metadata.to_yaml().as_bytes(),
        0o644,
        mtime,
        out,
    )?;
    if !src.templates.is_empty() {
        append_dir(builder, "templates", 0o755, mtime, out)?;
        for (name, text) in src.templates {
            append_file(
                builder,
                &format!("templates/{name}"),
                text.as_bytes(),
                0o644,
                mtime,
                out,
            )?;
        }
    }
    Ok(())
}

fn finish<W: Write>(builder: tar::Builder<W>, out: &Path) -> Result<W> {
    builder
        .into_inner()
        .map_err(|e| ImageError::write("write", out, e))
}

/// Builds the unified tarball `out` (`metadata.yaml`, `templates/`, `rootfs/`) compressed with
/// `compression`, and returns it with its fingerprint.
pub fn build_unified(
    src: &ImageSource<'_>,
    out: &Path,
    compression: Compression,
) -> Result<ImageBuild> {
    check_source(src, out)?;
    let (partial, file) = Partial::new(out)?;
    let enc = Encoder::new(file, compression, level(compression), out)?;
    let mut builder = tar::Builder::new(enc);
    append_metadata(&mut builder, src, out)?;
    TreePacker::new(&mut builder).pack(src.rootfs, "rootfs")?;
    finish(builder, out)?
        .finish()
        .map_err(|e| ImageError::write("write", out, e))?;
    partial.commit()?;
    let fingerprint = fingerprint(&ImageFiles::Unified(out.to_path_buf()))?;
    Ok(ImageBuild {
        path: out.to_path_buf(),
        fingerprint,
    })
}

/// Builds a split image: the metadata tarball `metadata_out` (compressed with
/// `metadata_compression`) and the rootfs file `rootfs_out` in `format`.
pub fn build_split(
    src: &ImageSource<'_>,
    metadata_out: &Path,
    rootfs_out: &Path,
    metadata_compression: Compression,
    format: RootfsFormat,
) -> Result<SplitImageBuild> {
    check_source(src, metadata_out)?;
    let (meta_partial, file) = Partial::new(metadata_out)?;
    let enc = Encoder::new(
        file,
        metadata_compression,
        level(metadata_compression),
        metadata_out,
    )?;
    let mut builder = tar::Builder::new(enc);
    append_metadata(&mut builder, src, metadata_out)?;
    finish(builder, metadata_out)?
        .finish()
        .map_err(|e| ImageError::write("write", metadata_out, e))?;
    let (rootfs_partial, file) = Partial::new(rootfs_out)?;
    match format {
        RootfsFormat::Tarball(c) => {
            let enc = Encoder::new(file, c, level(c), rootfs_out)?;
            let mut builder = tar::Builder::new(enc);
            TreePacker::new(&mut builder).pack(src.rootfs, "")?;
            finish(builder, rootfs_out)?
                .finish()
                .map_err(|e| ImageError::write("write", rootfs_out, e))?;
        }
        RootfsFormat::Squashfs => {
            drop(file);
            std::fs::remove_file(&rootfs_partial.tmp)
                .map_err(|e| ImageError::write("remove", &rootfs_partial.tmp, e))?;
            squashfs::mksquashfs(src.rootfs, &rootfs_partial.tmp)?;
        }
    }
    rootfs_partial.commit()?;
    if let Err(e) = meta_partial.commit() {
        let _ = std::fs::remove_file(rootfs_out);
        return Err(e);
    }
    let files = ImageFiles::Split {
        metadata: metadata_out.to_path_buf(),
        rootfs: rootfs_out.to_path_buf(),
    };
    let fingerprint = fingerprint(&files)?;
    Ok(SplitImageBuild {
        metadata: metadata_out.to_path_buf(),
        rootfs: rootfs_out.to_path_buf(),
        fingerprint,
    })
}
