//! Networking for the Rust LXD: managed bridges (netlink, dnsmasq, nftables), the fan overlay
//! on stock kernels, and bridged/macvlan/physical nics, behind lxd-core's
//! [`lxd_core::NetworkDriver`] and [`lxd_core::network::NicDriver`] traits.
//!
//! [`drivers`] lists the network drivers (the `bridge` type, whose `bridge.mode=fan` is the
//! fan overlay) and [`nic_driver`] gives the nic driver. Everything works in the network
//! namespace of the calling thread, and nics in the namespace of the instance's init.

pub mod bridge;
pub mod cidr;
pub mod cmd;
pub mod config;
pub mod dnsmasq;
pub mod error;
pub mod fan;
pub mod names;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod nic;
pub mod state;
pub mod subnet;
pub mod sysctl;
pub mod tc;

use std::sync::Arc;

pub use bridge::BridgeDriver;
pub use error::{NetError, Result};
pub use nic::Nics;

/// Every network driver of this crate (the `bridge` type).
pub fn drivers() -> Vec<Arc<dyn lxd_core::NetworkDriver>> {
    vec![Arc::new(BridgeDriver::new())]
}

/// The nic driver.
pub fn nic_driver() -> Arc<dyn lxd_core::network::NicDriver> {
    Arc::new(Nics)
}
