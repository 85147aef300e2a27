//! The `lvm` driver (LXD's `lvm`): a pool is an LVM volume group, made on a loop file the
//! driver creates (`size=`), on a block device (`source=/dev/...`), or an existing one
//! (`source=VG`, `lvm.vg_name`). With a thin pool (`lvm.use_thinpool=true`, the default;
//! `lvm.thinpool_name`, default `LXDThinPool`) volumes are thin volumes, snapshots are
//! read-only thin snapshots, instances of an image and copies are writable thin snapshots;
//! without one, volumes are classic logical volumes, snapshots classic copy-on-write
//! snapshots, copies full copies. Volumes hold ext4 (default) or xfs (`block.filesystem`),
//! are mounted when needed, and grow with their filesystem when `size` grows.
//!
//! The driver runs the LVM tools (`lvm lvcreate ...`) and reads their reports without
//! headings, in bytes, fields separated by `|`. Logical volumes are named as LXD names them
//! (`containers_c1`, `containers_c1-snap0`, `images_FINGERPRINT`). Without device-mapper in
//! the kernel, pool creation fails at once with an error that says so.

mod cmd;
mod config;
mod driver;
pub mod error;
mod fs;
mod names;
mod pool;
mod volumes;

pub use driver::LvmDriver;
pub use error::LvmError;

/// LXD's name of the driver.
pub const NAME: &str = "lvm";

/// Whether the kernel can run LVM pools (it has device-mapper); `Err` says what is missing.
pub fn device_mapper_available() -> std::result::Result<(), String> {
    match cmd::device_mapper_missing() {
        None => Ok(()),
        Some(detail) => Err(detail),
    }
}
