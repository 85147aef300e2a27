//! The image fingerprint as LXD computes it when an image is uploaded (`getImgPostInfo` in
//! `lxd/images.go`): the SHA-256 of the unified tarball's bytes, or of the metadata tarball's
//! bytes followed by the rootfs file's bytes for a split image.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{ImageError, ImageFiles, Result};

const BUFFER: usize = 1 << 20;

fn hash_file(hasher: &mut Sha256, path: &Path, buf: &mut [u8]) -> Result<()> {
    let mut f = File::open(path).map_err(|e| ImageError::io(path, e))?;
    loop {
        match f.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ImageError::io(path, e)),
        }
    }
}

/// The image's fingerprint: 64 lowercase hex digits.
pub fn fingerprint(files: &ImageFiles) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUFFER];
    match files {
        ImageFiles::Unified(path) => hash_file(&mut hasher, path, &mut buf)?,
        ImageFiles::Split { metadata, rootfs } => {
            hash_file(&mut hasher, metadata, &mut buf)?;
            hash_file(&mut hasher, rootfs, &mut buf)?;
        }
    }
    Ok(hex::encode(hasher.finalize()))
}
