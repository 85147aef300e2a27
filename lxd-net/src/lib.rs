//! Networking for the Rust LXD: managed bridges (netlink, dnsmasq, nftables), the fan
//! overlay on stock kernels, and macvlan/physical nics, behind `lxd_core::NetworkDriver`.
//!
//! The drivers arrive with the networking issue; this crate holds only its description until then.
