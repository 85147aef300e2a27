//! Background operations (`/1.0/operations`).

use super::{StatusCode, Timestamp};
use serde::{Deserialize, Serialize};

/// `class` of an operation that runs in the background.
pub const OPERATION_CLASS_TASK: &str = "task";

/// `class` of an operation that waits for websocket connections (exec, console, migration).
pub const OPERATION_CLASS_WEBSOCKET: &str = "websocket";

/// `class` of an operation that holds a token (certificate add, cluster join).
pub const OPERATION_CLASS_TOKEN: &str = "token";
use std::collections::BTreeMap;

/// A LXD background operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Operation {
    /// UUID of the operation.
    pub id: String,
    /// Type of operation (task, token or websocket).
    pub class: String,
    /// Description of the operation.
    pub description: String,
    /// Operation creation time.
    pub created_at: Timestamp,
    /// Operation last change.
    pub updated_at: Timestamp,
    /// Status name.
    pub status: String,
    /// Status code.
    pub status_code: StatusCode,
    /// Affected resources (URLs by kind); `null` when none were given.
    pub resources: Option<BTreeMap<String, Vec<String>>>,
    /// Operation specific metadata; `null` when none.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether the operation can be canceled.
    pub may_cancel: bool,
    /// Operation error message.
    pub err: String,
    /// What cluster member this record was found on.
    pub location: String,
}
