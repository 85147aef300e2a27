//! State stores for the Rust LXD: implementations of `lxd_core::ClusterStore`, a single-node
//! sqlite store first and a raft-replicated one later, so callers never hold a database handle.
//!
//! The sqlite store arrives with the storage and images issue; this crate holds only its
//! description until then.
