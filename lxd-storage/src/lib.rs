//! Storage drivers for the Rust LXD: `dir`, `btrfs`, `zfs` and `lvm`, each a thin
//! implementation of `lxd_core::StorageDriver` that manages volumes and declares its
//! capabilities, with the pool layer in lxd-core owning records and rollback.
//!
//! [`drivers`] lists them for [`lxd_core::Lxd::open`].

pub mod btrfs;
pub mod copy;
pub mod dir;
pub mod error;
pub mod loopdev;
pub mod lvm;
pub mod mounts;
pub mod zfs;

pub use copy::{copy_tree, reflink_supported, remove_tree, CopyOptions, CopyStats, Reflink};
pub use error::{Result, ResultExt, StorageError};
pub use loopdev::{create_sparse_file, LoopDevice, LoopOptions};

pub use btrfs::BtrfsDriver;
pub use dir::DirDriver;
pub use lvm::LvmDriver;
pub use zfs::ZfsDriver;

/// Every driver of this crate, for [`lxd_core::Lxd::open`].
pub fn drivers() -> Vec<std::sync::Arc<dyn lxd_core::StorageDriver>> {
    vec![
        std::sync::Arc::new(DirDriver),
        std::sync::Arc::new(BtrfsDriver),
        std::sync::Arc::new(ZfsDriver),
        std::sync::Arc::new(LvmDriver),
    ]
}
