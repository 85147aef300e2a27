//! Images as LXD has them: formats, fingerprints, safe unpacking, templates, and offline
//! builders.

pub mod busybox;

use std::path::PathBuf;

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
}
