//! LXD 5.0 REST API wire types, field for field as LXD 5.0.2 encodes them.
//!
//! Every struct mirrors one Go struct of LXD's `shared/api` package. Embedded Go structs (for
//! example `InstancePut` inside `Instance`) are flattened on the wire; here their fields are
//! repeated in the outer struct, in Go's declaration order, so the JSON keys come out in the
//! order LXD writes them.
//!
//! Encoding follows Go's `encoding/json`:
//! - every field is written, including `""`, `false`, `0` and empty maps, unless the Go field
//!   is tagged `omitempty`; those are skipped when empty (see [`is_default`]);
//! - Go pointers, and the few maps and slices LXD really leaves nil in its responses (such as
//!   an instance's `state.network` while it is stopped), are `Option`s written as `null`;
//! - maps are written with sorted keys (`BTreeMap`), as Go sorts map keys;
//! - times are [`Timestamp`]s: RFC 3339 strings, zero time `0001-01-01T00:00:00Z`.
//!
//! Decoding is as lenient as Go's: a missing field takes its zero value, unknown fields are
//! ignored, and `null` where a map, list or nested object is expected gives the empty value
//! (Go clients send nil maps and slices as `null`).

mod event;
mod image;
mod instance;
mod network;
mod operation;
mod profile;
mod project;
mod resources;
mod response;
mod server;
mod storage;
mod time;

pub use event::*;
pub use image::*;
pub use instance::*;
pub use network::*;
pub use operation::*;
pub use profile::*;
pub use project::*;
pub use resources::*;
pub use response::*;
pub use server::*;
pub use storage::*;
pub use time::*;

use serde::{Deserialize, Deserializer, Serializer};
use std::collections::BTreeMap;

/// A configuration map (`config` of instances, profiles, pools, volumes, networks, projects).
pub type ConfigMap = BTreeMap<String, String>;

/// Devices by name, each a map of device keys (`type`, `path`, `pool`, ...).
pub type Devices = BTreeMap<String, BTreeMap<String, String>>;

/// Whether a value equals its type's default: Go's `omitempty` test for strings, numbers,
/// booleans, maps, slices and pointers (`Option`), used with `skip_serializing_if`.
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Deserializes `null` as the type's default value, as Go leaves a field untouched (zero) when
/// it reads `null`; used with `deserialize_with` on map, list and nested-object fields.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Serializes a float as Go does: whole numbers without a fraction (`480`, not `480.0`).
pub fn go_float<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    // Whole numbers below 2^53 convert to i64 exactly.
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}
