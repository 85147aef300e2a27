//! Loop devices for pools kept in a file (LXD's `$LXD_DIR/disks/NAME.img`): attaching a file
//! through `/dev/loop-control` and `LOOP_CONFIGURE` (or `LOOP_SET_FD` + `LOOP_SET_STATUS64`
//! on kernels without it), finding the device already backed by a file, and detaching.
//!
//! With [`LoopOptions::autoclear`] the kernel detaches the device by itself when its last
//! user goes away: attach, mount, drop the [`LoopDevice`], and the unmount releases it.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::copy::meta;
use crate::error::{Result, StorageError};

/// `LOOP_SET_FD`.
pub const LOOP_SET_FD: libc::Ioctl = 0x4C00;
/// `LOOP_CLR_FD`.
pub const LOOP_CLR_FD: libc::Ioctl = 0x4C01;
/// `LOOP_SET_STATUS64`.
pub const LOOP_SET_STATUS64: libc::Ioctl = 0x4C04;
/// `LOOP_GET_STATUS64`.
pub const LOOP_GET_STATUS64: libc::Ioctl = 0x4C05;
/// `LOOP_SET_CAPACITY`.
pub const LOOP_SET_CAPACITY: libc::Ioctl = 0x4C07;
/// `LOOP_CONFIGURE`.
pub const LOOP_CONFIGURE: libc::Ioctl = 0x4C0A;
/// `LOOP_CTL_GET_FREE`.
pub const LOOP_CTL_GET_FREE: libc::Ioctl = 0x4C82;
/// `LO_FLAGS_READ_ONLY`.
pub const LO_FLAGS_READ_ONLY: u32 = 1;
/// `LO_FLAGS_AUTOCLEAR`.
pub const LO_FLAGS_AUTOCLEAR: u32 = 4;
/// `LO_FLAGS_DIRECT_IO`.
pub const LO_FLAGS_DIRECT_IO: u32 = 16;
/// `LO_NAME_SIZE`.
pub const LO_NAME_SIZE: usize = 64;

/// `struct loop_info64`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LoopInfo64 {
    /// Device of the backing file.
    pub lo_device: u64,
    /// Inode of the backing file.
    pub lo_inode: u64,
    /// Device number of the loop device.
    pub lo_rdevice: u64,
    /// Offset into the backing file.
    pub lo_offset: u64,
    /// Size limit (0: the whole file).
    pub lo_sizelimit: u64,
    /// Loop device number.
    pub lo_number: u32,
    /// Obsolete encryption type.
    pub lo_encrypt_type: u32,
    /// Obsolete encryption key size.
    pub lo_encrypt_key_size: u32,
    /// `LO_FLAGS_*`.
    pub lo_flags: u32,
    /// Name of the backing file (informational, truncated).
    pub lo_file_name: [u8; LO_NAME_SIZE],
    /// Obsolete.
    pub lo_crypt_name: [u8; LO_NAME_SIZE],
    /// Obsolete.
    pub lo_encrypt_key: [u8; 32],
    /// Obsolete.
    pub lo_init: [u64; 2],
}

/// `struct loop_config` (for `LOOP_CONFIGURE`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LoopConfig {
    /// Descriptor of the backing file.
    pub fd: u32,
    /// Logical block size (0: default).
    pub block_size: u32,
    /// Settings.
    pub info: LoopInfo64,
    /// Reserved.
    pub reserved: [u64; 8],
}

const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);

/// How [`LoopDevice::attach`] sets the device up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopOptions {
    /// Detach automatically when the last user (this handle, a mount) closes the device.
    pub autoclear: bool,
    /// Attach read-only.
    pub read_only: bool,
    /// Use direct I/O on the backing file.
    pub direct_io: bool,
}

/// An open loop device bound to a backing file. Dropping it closes the handle only: a device
/// attached without autoclear stays until [`LoopDevice::detach`].
#[derive(Debug)]
pub struct LoopDevice {
    number: u32,
    path: PathBuf,
    file: File,
}

/// A zeroed `loop_info64`.
fn zero_info() -> LoopInfo64 {
    // SAFETY: the struct holds only integers and byte arrays; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

fn ioctl_ptr<T>(
    f: &File,
    req: libc::Ioctl,
    arg: *mut T,
    op: &'static str,
    path: &Path,
) -> Result<i32> {
    // SAFETY: `arg` points at a live value of the type the request expects; `f` is open.
    let ret = unsafe { libc::ioctl(f.as_raw_fd(), req, arg) };
    Errno::result(ret).map_err(|e| StorageError::sys(op, path, e))
}

fn ioctl_int(
    f: &File,
    req: libc::Ioctl,
    arg: libc::c_ulong,
    op: &'static str,
    path: &Path,
) -> Result<i32> {
    // SAFETY: the request takes an integer argument (or none); `f` is open.
    let ret = unsafe { libc::ioctl(f.as_raw_fd(), req, arg) };
    Errno::result(ret).map_err(|e| StorageError::sys(op, path, e))
}

/// Device path of loop device `n`.
fn dev_path(n: u32) -> PathBuf {
    PathBuf::from(format!("/dev/loop{n}"))
}

/// Sysfs directory of loop device `n`.
fn sys_dir(n: u32) -> PathBuf {
    PathBuf::from(format!("/sys/block/loop{n}/loop"))
}

fn open_device(path: &Path, read_only: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(!read_only)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| StorageError::io("open loop device", path, e))
}

impl LoopDevice {
    /// Attaches `file` to a free loop device.
    pub fn attach(file: &Path, opts: &LoopOptions) -> Result<LoopDevice> {
        let backing = OpenOptions::new()
            .read(true)
            .write(!opts.read_only)
            .custom_flags(libc::O_CLOEXEC)
            .open(file)
            .map_err(|e| StorageError::io("open loop backing file", file, e))?;
        let ctl_path = Path::new("/dev/loop-control");
        let ctl = open_device(ctl_path, false)?;

        let mut flags = 0;
        if opts.autoclear {
            flags |= LO_FLAGS_AUTOCLEAR;
        }
        if opts.read_only {
            flags |= LO_FLAGS_READ_ONLY;
        }
        if opts.direct_io {
            flags |= LO_FLAGS_DIRECT_IO;
        }
        let mut info = zero_info();
        info.lo_flags = flags;
        let name = file.as_os_str().as_bytes();
        let n = name.len().min(LO_NAME_SIZE - 1);
        info.lo_file_name[..n].copy_from_slice(&name[..n]);

        // Another process may take the free device between asking and binding: retry.
        for _ in 0..32 {
            let number =
                ioctl_int(&ctl, LOOP_CTL_GET_FREE, 0, "LOOP_CTL_GET_FREE", ctl_path)? as u32;
            let path = dev_path(number);
            let dev = open_device(&path, opts.read_only)?;
            let mut config = LoopConfig {
                fd: backing.as_raw_fd() as u32,
                block_size: 0,
                info,
                reserved: [0; 8],
            };
            match ioctl_ptr(&dev, LOOP_CONFIGURE, &mut config, "LOOP_CONFIGURE", &path) {
                Ok(_) => {}
                Err(e) if e.errno() == Some(Errno::EBUSY) => continue,
                Err(e) if matches!(e.errno(), Some(Errno::EINVAL) | Some(Errno::ENOTTY)) => {
                    // No LOOP_CONFIGURE (before 5.8): bind, then set the flags.
                    match ioctl_int(
                        &dev,
                        LOOP_SET_FD,
                        backing.as_raw_fd() as libc::c_ulong,
                        "LOOP_SET_FD",
                        &path,
                    ) {
                        Err(e) if e.errno() == Some(Errno::EBUSY) => continue,
                        other => {
                            other?;
                        }
                    }
                    let mut status = info;
                    status.lo_flags &= LO_FLAGS_AUTOCLEAR;
                    if let Err(e) = ioctl_ptr(
                        &dev,
                        LOOP_SET_STATUS64,
                        &mut status,
                        "LOOP_SET_STATUS64",
                        &path,
                    ) {
                        let _ = ioctl_int(&dev, LOOP_CLR_FD, 0, "LOOP_CLR_FD", &path);
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
            tracing::debug!(device = %path.display(), file = %file.display(), autoclear = opts.autoclear, "attached loop device");
            return Ok(LoopDevice {
                number,
                path,
                file: dev,
            });
        }
        Err(StorageError::InUse {
            path: file.to_path_buf(),
            reason: "every free loop device was taken by someone else before it could be bound"
                .into(),
        })
    }

    /// Opens the existing loop device number `number` (bound or not).
    pub fn open(number: u32) -> Result<LoopDevice> {
        let path = dev_path(number);
        let file = open_device(&path, true)?;
        Ok(LoopDevice { number, path, file })
    }

    /// The device node, `/dev/loopN`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device number `N`.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The backing file as the kernel reports it, or `None` when the device is not bound.
    pub fn backing_file(&self) -> Result<Option<PathBuf>> {
        read_backing_file(self.number)
    }

    /// The kernel's view of the device (`LOOP_GET_STATUS64`).
    pub fn status(&self) -> Result<LoopInfo64> {
        let mut info = zero_info();
        ioctl_ptr(
            &self.file,
            LOOP_GET_STATUS64,
            &mut info,
            "LOOP_GET_STATUS64",
            &self.path,
        )?;
        Ok(info)
    }

    /// Makes the device follow a change of its backing file's size.
    pub fn set_capacity(&self) -> Result<()> {
        ioctl_int(
            &self.file,
            LOOP_SET_CAPACITY,
            0,
            "LOOP_SET_CAPACITY",
            &self.path,
        )
        .map(drop)
    }

    /// Detaches the device from its file. While something else (a mount) still holds the
    /// device the kernel defers this until it is released.
    pub fn detach(self) -> Result<()> {
        ioctl_int(&self.file, LOOP_CLR_FD, 0, "LOOP_CLR_FD", &self.path)?;
        tracing::debug!(device = %self.path.display(), "detached loop device");
        Ok(())
    }

    /// The loop device backed by `file`, if any (the lowest-numbered one when several are).
    pub fn find_by_backing_file(file: &Path) -> Result<Option<LoopDevice>> {
        let want = std::fs::canonicalize(file).map_err(|e| StorageError::io("resolve", file, e))?;
        let want_st = meta::lstat(&want)?;
        let sys = Path::new("/sys/block");
        let mut numbers: Vec<u32> = std::fs::read_dir(sys)
            .map_err(|e| StorageError::io("read", sys, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("loop"))
                    .and_then(|n| n.parse().ok())
            })
            .collect();
        numbers.sort_unstable();
        for n in numbers {
            if read_backing_file(n)?.as_deref() != Some(want.as_path()) {
                continue;
            }
            let dev = match LoopDevice::open(n) {
                Ok(d) => d,
                Err(e) if matches!(e.errno(), Some(Errno::ENOENT) | Some(Errno::ENXIO)) => continue,
                Err(e) => return Err(e),
            };
            match dev.status() {
                Ok(info) if info.lo_inode == want_st.ino => return Ok(Some(dev)),
                Ok(_) => continue,
                // Released between the sysfs read and the open.
                Err(e) if e.errno() == Some(Errno::ENXIO) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// `/sys/block/loopN/loop/backing_file`, or `None` when the device is not bound.
fn read_backing_file(n: u32) -> Result<Option<PathBuf>> {
    let p = sys_dir(n).join("backing_file");
    match std::fs::read(&p) {
        Ok(mut bytes) => {
            while bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            Ok(Some(PathBuf::from(OsString::from_vec(bytes))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io("read", p, e)),
    }
}

/// Creates the new file `path` of `size` bytes without allocating any of them.
pub fn create_sparse_file(path: &Path, size: u64) -> Result<()> {
    if size == 0 {
        return Err(StorageError::invalid(
            "size",
            "0",
            "a loop file needs a size",
        ));
    }
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => StorageError::AlreadyExists {
                what: "loop file",
                path: path.to_path_buf(),
            },
            _ => StorageError::io("create", path, e),
        })?;
    if let Err(e) = f.set_len(size) {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(StorageError::io("set size of", path, e));
    }
    Ok(())
}
