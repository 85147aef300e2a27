//! The `zfs` driver (LXD's): a pool is a zpool (on a sparse file it creates, a block device, or
//! an existing zpool or dataset) holding LXD's dataset layout; volumes are datasets, snapshots
//! are zfs snapshots, images are unpacked once into a dataset with a `@readonly` snapshot that
//! instances are cloned from, and copies are clones or `zfs send | zfs receive`.
//!
//! It drives the `zfs` and `zpool` commands and works with both implementations found on
//! Linux: OpenZFS (kernel module, modern CLI, `mountpoint=legacy` datasets mounted with
//! `mount(2)`) and zfs-fuse (a user-space daemon with an older CLI: datasets are mounted by the
//! daemon at their `mountpoint` property with `zfs mount`, and busy datasets are unmounted and
//! retried). [`Flavor`] tells them apart; [`FuseDaemon`] starts zfs-fuse for tests and
//! benchmarks.

mod clones;
mod cmd;
mod config;
mod driver;
mod fuse;
mod mount;
mod names;
mod pool;
mod probe;
mod props;
mod volume;

pub use driver::ZfsDriver;
pub use fuse::FuseDaemon;
pub use probe::{flavor, Flavor};
