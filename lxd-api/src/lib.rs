//! The LXD REST API for the Rust LXD: wire types exactly as LXD sends them, the hyper router,
//! operations, events, websockets and a typed client over the unix socket.
//!
//! The API arrives with the daemon issue; this crate holds only its description until then.
