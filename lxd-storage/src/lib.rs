//! Storage drivers for the Rust LXD: `dir`, `btrfs`, `zfs` and `lvm`, each a thin
//! implementation of `lxd_core::StorageDriver` that manages volumes and declares its
//! capabilities, with the pool layer in lxd-core owning records and rollback.
//!
//! The drivers arrive with the storage issue; this crate holds only its description until then.

pub mod btrfs;
pub mod copy;
pub mod error;
pub mod loopdev;

pub use copy::{copy_tree, reflink_supported, remove_tree, CopyOptions, CopyStats, Reflink};
pub use error::{Result, ResultExt, StorageError};
pub use loopdev::{create_sparse_file, LoopDevice, LoopOptions};
