//! btrfs support: the `btrfs` driver and the ioctl wrappers it is built on.

mod driver;
pub mod ioctl;

pub use driver::BtrfsDriver;
