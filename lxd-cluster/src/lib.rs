//! State stores for the Rust LXD: implementations of [`lxd_core::ClusterStore`], so callers
//! never hold a database handle.
//!
//! [`SqliteStore`] is the single-node store. It keeps LXD 5.0's global database layout
//! (`config`, `nodes`, `projects`, `profiles`, `instances`, `images`, `storage_pools`,
//! `storage_volumes`, their `*_config`/`*_devices` tables and `schema`) in a sqlite file, so
//! `lxd sql global` shows what a user of LXD expects, and optionally LXD's local database
//! (`config`, `patches`, `raft_nodes`). Names records carry are stored as LXD's integer codes
//! (architectures, device types, pool states, volume content types, image types: see
//! [`codes`]); dates as LXD's DATETIME text, while records use seconds since the epoch, with 0
//! stored as NULL where the column allows it. Schemas evolve through numbered steps
//! ([`schema`]).
//!
//! Behaviour beyond plain rows, as LXD has it: a project created (or updated) with
//! `features.profiles` on gets its `default` profile; an instance in a project without
//! `features.profiles` takes its profiles from project `default`; an instance whose `node` is
//! empty is placed on this node (and reads back as `none`); a node's empty address is stored as
//! LXD's `0.0.0.0`; a pool's node-specific keys (`source`, `size`, ...) carry this node's id in
//! `storage_pools_config`; an instance snapshot's profiles are kept by name in
//! `instances_snapshots_profiles`, a table LXD does not have.
//!
//! Errors name the object's kind as listed in [`kind`]. Input the schema cannot hold (an
//! unknown architecture, device type, pool status, content type or image type, an empty name,
//! a profile listed twice) is refused with [`lxd_core::store::StoreError::Unsupported`] naming
//! the object; an image prefix that matches several images likewise.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use lxd_core::store::{ClusterStore, Database};
//! let store = lxd_cluster::SqliteStore::open_dir("/var/lib/lxd-rs").await?;
//! let rows = store.query(Database::Global, "SELECT name FROM projects").await?;
//! assert_eq!(rows.rows, vec![vec![Some("default".to_string())]]);
//! # Ok(()) }
//! ```

pub mod codes;
pub mod error;
pub mod kind;
mod lookup;
mod packed;
mod raw;
mod read;
mod rows;
pub mod schema;
mod sqlite_store;
mod write;

pub use error::Error;
pub use schema::{GLOBAL_SCHEMA_VERSION, LOCAL_SCHEMA_VERSION};
pub use sqlite_store::SqliteStore;
