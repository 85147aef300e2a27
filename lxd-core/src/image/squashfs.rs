//! Squashfs root file systems through squashfs-tools: `unsquashfs` to unpack (as LXD does,
//! `unsquashfs -d DIR -n FILE`) and `mksquashfs` to build.
//!
//! unsquashfs (4.5 and later) refuses names with `/`, `.` or `..` and duplicate names, and it
//! creates the tree it reads, so nothing can be written through a symlink; it restores owners,
//! modes, xattrs and device nodes when run as root. The unpacked tree is then walked (without
//! following symlinks) to count it and, when devices are not allowed, remove device nodes.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use super::unpack::{UnpackOptions, UnpackStats};
use super::{ImageError, Result};

fn run(mut cmd: Command) -> Result<()> {
    let line = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| ImageError::Command {
        command: line.clone(),
        reason: format!("cannot run it (is squashfs-tools installed?): {e}"),
    })?;
    if !out.status.success() {
        return Err(ImageError::Command {
            command: line,
            reason: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// Unpacks the squashfs `file` into `dest` (which must not exist yet) and returns what it
/// holds.
pub fn unsquash(file: &Path, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    if dest.symlink_metadata().is_ok() {
        return Err(ImageError::Destination {
            path: dest.to_path_buf(),
            reason: "already exists".into(),
        });
    }
    let mut cmd = Command::new("unsquashfs");
    cmd.arg("-n").arg("-d").arg(dest).arg(file);
    run(cmd)?;
    let top = dest
        .symlink_metadata()
        .map_err(|e| ImageError::write("stat", dest, e))?;
    if !top.is_dir() {
        return Err(ImageError::unsafe_entry(
            "rootfs",
            "the squashfs root is not a directory",
        ));
    }
    let mut stats = UnpackStats::default();
    walk(dest, opts, &mut stats)?;
    Ok(stats)
}

fn walk(dir: &Path, opts: &UnpackOptions, stats: &mut UnpackStats) -> Result<()> {
    stats.entries += 1;
    let list = std::fs::read_dir(dir).map_err(|e| ImageError::write("read", dir, e))?;
    for entry in list {
        let entry = entry.map_err(|e| ImageError::write("read", dir, e))?;
        let path = entry.path();
        let ft = entry
            .file_type()
            .map_err(|e| ImageError::write("stat", &path, e))?;
        if ft.is_dir() {
            walk(&path, opts, stats)?;
        } else if ft.is_block_device() || ft.is_char_device() {
            if opts.allow_devices {
                stats.entries += 1;
            } else {
                std::fs::remove_file(&path).map_err(|e| ImageError::write("remove", &path, e))?;
                stats.skipped_devices += 1;
            }
        } else {
            stats.entries += 1;
            if ft.is_file() {
                let md = entry
                    .metadata()
                    .map_err(|e| ImageError::write("stat", &path, e))?;
                stats.files += 1;
                stats.bytes += md.size();
            }
        }
    }
    Ok(())
}

/// Builds the squashfs file `out` from the directory `src`, keeping owners, modes and xattrs
/// (`mksquashfs SRC OUT -noappend -no-progress -comp gzip`).
pub fn mksquashfs(src: &Path, out: &Path) -> Result<()> {
    let mut cmd = Command::new("mksquashfs");
    cmd.arg(src)
        .arg(out)
        .args(["-noappend", "-no-progress", "-quiet", "-comp", "gzip"]);
    run(cmd)
}
