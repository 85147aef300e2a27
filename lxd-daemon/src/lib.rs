//! The `lxd` binary of the Rust LXD: the daemon that composes lxd-core, the drivers and the
//! REST API, and its subcommands (`lxd init`, `lxd sql`, `lxd waitready`, `lxd shutdown`).
//!
//! The daemon arrives with the daemon and REST API issue; this crate holds only its
//! description until then.
