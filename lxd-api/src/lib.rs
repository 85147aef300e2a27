//! The LXD REST API for the Rust LXD: wire types exactly as LXD sends them, the hyper server
//! with LXD's routes, operations, events and websockets, and a typed client over the unix
//! socket.

pub mod client;
mod extensions;
mod handlers;
pub mod server;
pub mod types;

pub use extensions::API_EXTENSIONS;
pub use handlers::{autostart, shutdown_instances as handlers_shutdown};

/// The LXD version this daemon speaks.
pub const LXD_VERSION: &str = "5.0.2";
