//! Images as LXD has them: formats, fingerprints, safe unpacking, templates, and offline
//! builders.
//!
//! An image is either *unified* (one tarball holding `metadata.yaml`, `rootfs/` and an optional
//! `templates/`) or *split* (a metadata tarball holding `metadata.yaml` and `templates/`, plus a
//! root file system that is a tarball or a squashfs file). Tarballs may be compressed with xz,
//! gzip, bzip2, zstd or lzma, detected from their magic bytes as LXD does.
//!
//! - [`fingerprint()`] computes the image's identifier exactly as LXD does on upload;
//! - [`read_metadata`] reads `metadata.yaml` without unpacking the rest;
//! - [`unpack()`] extracts an image into an empty volume directory, refusing entries that would
//!   land outside it or be written through a symlink, and preserving ownership, modes,
//!   xattrs, links and device nodes;
//! - [`apply_templates`] renders the image's templates into an instance's root file system;
//! - [`build_unified`] and [`build_split`] pack a directory tree into an image, and
//!   [`busybox`] and [`debian`] build complete images offline (busybox) or with `debootstrap`.

pub mod build;
pub mod busybox;
pub mod compression;
pub mod debian;
pub mod fingerprint;
pub mod metadata;
mod openat;
pub mod pack;
pub mod pongo;
pub mod squashfs;
pub mod templates;
pub mod unpack;

use std::path::{Path, PathBuf};

pub use build::{
    build_split, build_unified, ImageBuild, ImageSource, RootfsFormat, SplitImageBuild,
};
pub use compression::{detect_compression, detect_format, Compression, FileFormat};
pub use fingerprint::fingerprint;
pub use metadata::{read_metadata, ImageMetadata, TemplateEntry};
pub use templates::{apply_templates, TemplateContext, Trigger};
pub use unpack::{unpack, UnpackOptions, UnpackStats};

/// The result type of the image module.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// The files an image is made of, as LXD stores them (`<fingerprint>` and, for split images,
/// `<fingerprint>.rootfs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageFiles {
    /// One tarball with `metadata.yaml`, `rootfs/` and optionally `templates/`.
    Unified(PathBuf),
    /// A metadata tarball (`metadata.yaml`, `templates/`) and a root file system that is a
    /// tarball or a squashfs file.
    Split {
        /// The metadata tarball.
        metadata: PathBuf,
        /// The root file system tarball or squashfs file.
        rootfs: PathBuf,
    },
}

impl ImageFiles {
    /// The file that holds `metadata.yaml`: the unified tarball or the metadata tarball.
    pub fn metadata_file(&self) -> &Path {
        match self {
            ImageFiles::Unified(p) => p,
            ImageFiles::Split { metadata, .. } => metadata,
        }
    }
}

/// An image that cannot be read, unpacked or built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A file of the image could not be read or written.
    #[error("image file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The image is not in a format LXD accepts.
    #[error("invalid image {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An entry of the tarball would land outside the volume, or is not allowed there.
    #[error("unsafe image entry {entry:?}: {reason}")]
    Unsafe {
        /// The entry's path in the tarball.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// Writing into a volume or an instance's root file system failed.
    #[error("{op} {path}: {source}")]
    Write {
        /// The operation (`create`, `chown`, `set xattr`, ...).
        op: &'static str,
        /// The path written (on the host).
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The destination of an unpack or a build is not usable.
    #[error("destination {path}: {reason}")]
    Destination {
        /// The destination directory or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A template of the image could not be rendered or written.
    #[error("template {template:?}: {reason}")]
    Template {
        /// The template file name (in `templates/`) or the target path.
        template: String,
        /// What is wrong, naming the unsupported construct when there is one.
        reason: String,
    },
    /// An external command (`unsquashfs`, `mksquashfs`, `debootstrap`) failed.
    #[error("command {command}: {reason}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and standard error, or why it could not run.
        reason: String,
    },
    /// A step of an image build that uses the rest of lxd-core failed.
    #[error("building image {path}: {source}")]
    Build {
        /// The image being built.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<crate::Error>,
    },
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ImageError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn write(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ImageError::Write {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn unsafe_entry(entry: impl Into<String>, reason: impl Into<String>) -> Self {
        ImageError::Unsafe {
            entry: entry.into(),
            reason: reason.into(),
        }
    }
}
