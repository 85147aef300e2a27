//! The data of one regular file: a reflink (`FICLONE`) where the filesystem shares extents,
//! else an in-kernel copy (`copy_file_range`) of the data ranges only (`SEEK_DATA`/`SEEK_HOLE`,
//! so holes stay holes), else `pread`/`pwrite`. What the filesystem refused once is remembered
//! for the rest of the copy.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::unistd::{lseek, Whence};

use crate::copy::Reflink;
use crate::error::{Result, StorageError};

/// Size of the buffer of the read/write fallback.
const BUF_SIZE: usize = 256 * 1024;

/// Copies file data for one tree copy, remembering which methods the filesystems refused.
#[derive(Debug)]
pub(crate) struct DataCopier {
    reflink: Reflink,
    clone_refused: AtomicBool,
    range_refused: AtomicBool,
    /// Files whose data was cloned.
    pub cloned: AtomicU64,
    /// Non-empty files whose data was copied rather than cloned.
    pub copied: AtomicU64,
}

/// Errors with which a filesystem says it cannot do an operation between these two files.
fn refused(e: Errno) -> bool {
    matches!(
        e,
        Errno::EOPNOTSUPP | Errno::EXDEV | Errno::EINVAL | Errno::ENOTTY | Errno::ENOSYS
    )
}

/// `FICLONE`: makes `dst` share all of `src`'s extents.
pub(crate) fn ficlone(src: &File, dst: &File) -> std::result::Result<(), Errno> {
    // SAFETY: FICLONE takes the source descriptor as its integer argument; both are open.
    let ret = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    Errno::result(ret).map(drop)
}

impl DataCopier {
    /// A copier for one tree copy.
    pub fn new(reflink: Reflink) -> Self {
        DataCopier {
            reflink,
            clone_refused: AtomicBool::new(false),
            range_refused: AtomicBool::new(false),
            cloned: AtomicU64::new(0),
            copied: AtomicU64::new(0),
        }
    }

    /// Copies the `size` bytes (`blocks` 512-byte blocks allocated) of `src` into the new,
    /// empty `dst`.
    pub fn copy(
        &self,
        src: &File,
        src_path: &Path,
        dst: &File,
        dst_path: &Path,
        size: u64,
        blocks: u64,
    ) -> Result<()> {
        if size == 0 {
            return Ok(());
        }
        if self.reflink != Reflink::Never && !self.clone_refused.load(Ordering::Relaxed) {
            match ficlone(src, dst) {
                Ok(()) => {
                    self.cloned.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) if refused(e) => {
                    if self.reflink == Reflink::Always {
                        return Err(StorageError::Unsupported {
                            what: format!(
                                "reflink copy of {} to {}",
                                src_path.display(),
                                dst_path.display()
                            ),
                            reason: format!("FICLONE: {e}"),
                        });
                    }
                    if !self.clone_refused.swap(true, Ordering::Relaxed) {
                        tracing::debug!(dst = %dst_path.display(), error = %e, "reflink refused; copying data");
                    }
                }
                Err(e) => return Err(StorageError::sys("FICLONE", dst_path, e)),
            }
        } else if self.reflink == Reflink::Always {
            return Err(StorageError::Unsupported {
                what: format!(
                    "reflink copy of {} to {}",
                    src_path.display(),
                    dst_path.display()
                ),
                reason: "the filesystem refused FICLONE earlier in this copy".into(),
            });
        }
        self.copied.fetch_add(1, Ordering::Relaxed);
        // The size first: writes then stay inside the file, so filesystems that preallocate
        // past the end of a growing file (xfs) do not fill the holes.
        dst.set_len(size)
            .map_err(|e| StorageError::io("set size of", dst_path, e))?;
        if blocks.saturating_mul(512) < size {
            self.copy_sparse(src, src_path, dst, dst_path, size)
        } else {
            self.copy_range(src, src_path, dst, dst_path, 0, size)
        }
    }

    /// Copies only the data ranges of a file with holes (the destination has its size already).
    fn copy_sparse(
        &self,
        src: &File,
        src_path: &Path,
        dst: &File,
        dst_path: &Path,
        size: u64,
    ) -> Result<()> {
        let mut pos: u64 = 0;
        while pos < size {
            let data = match lseek(src.as_raw_fd(), pos as i64, Whence::SeekData) {
                Ok(off) => off as u64,
                Err(Errno::ENXIO) => break,
                Err(Errno::EINVAL) => {
                    // SEEK_DATA unsupported: the whole rest is data.
                    return self.copy_range(src, src_path, dst, dst_path, pos, size - pos);
                }
                Err(e) => return Err(StorageError::sys("SEEK_DATA in", src_path, e)),
            };
            if data >= size {
                break;
            }
            let hole = lseek(src.as_raw_fd(), data as i64, Whence::SeekHole)
                .map_err(|e| StorageError::sys("SEEK_HOLE in", src_path, e))?
                as u64;
            let end = hole.min(size);
            self.copy_range(src, src_path, dst, dst_path, data, end - data)?;
            pos = end;
        }
        Ok(())
    }

    /// Copies `len` bytes at `off` (same offset in both files).
    fn copy_range(
        &self,
        src: &File,
        src_path: &Path,
        dst: &File,
        dst_path: &Path,
        off: u64,
        len: u64,
    ) -> Result<()> {
        let mut done = 0u64;
        if !self.range_refused.load(Ordering::Relaxed) {
            while done < len {
                let mut off_in = (off + done) as libc::loff_t;
                let mut off_out = off_in;
                let want = (len - done).min(1 << 30) as usize;
                // SAFETY: both descriptors are open; the offsets point at live integers.
                let ret = unsafe {
                    libc::copy_file_range(
                        src.as_raw_fd(),
                        &mut off_in,
                        dst.as_raw_fd(),
                        &mut off_out,
                        want,
                        0,
                    )
                };
                match Errno::result(ret) {
                    Ok(0) => break, // the source shrank, or the kernel wants us to go on by hand
                    Ok(n) => done += n as u64,
                    Err(Errno::EINTR) => continue,
                    Err(e) if refused(e) || e == Errno::EBADF => {
                        if !self.range_refused.swap(true, Ordering::Relaxed) {
                            tracing::debug!(dst = %dst_path.display(), error = %e, "copy_file_range refused; using read/write");
                        }
                        break;
                    }
                    Err(e) => return Err(StorageError::sys("copy_file_range to", dst_path, e)),
                }
            }
        }
        if done < len {
            read_write(src, src_path, dst, dst_path, off + done, len - done)?;
        }
        Ok(())
    }
}

/// The last resort: `pread`/`pwrite` through a buffer. Stops early at the source's end.
fn read_write(
    src: &File,
    src_path: &Path,
    dst: &File,
    dst_path: &Path,
    off: u64,
    len: u64,
) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; BUF_SIZE.min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let want = ((len - done) as usize).min(buf.len());
        let n = match src.read_at(&mut buf[..want], off + done) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StorageError::io("read", src_path, e)),
        };
        dst.write_all_at(&buf[..n], off + done)
            .map_err(|e| StorageError::io("write", dst_path, e))?;
        done += n as u64;
    }
    Ok(())
}
