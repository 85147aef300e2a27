//! Images: building root filesystems offline.

pub mod busybox;
