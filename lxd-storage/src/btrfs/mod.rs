//! btrfs support: the ioctl wrappers the `btrfs` driver is built on.

pub mod ioctl;
