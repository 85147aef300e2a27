//! Events sent over `/1.0/events`.

use super::{is_default, nullable, ConfigMap, Operation, Timestamp};
use serde::{Deserialize, Serialize};

/// `type` of an event whose metadata is an [`EventLifecycle`].
pub const EVENT_TYPE_LIFECYCLE: &str = "lifecycle";

/// `type` of an event whose metadata is an [`EventLogging`].
pub const EVENT_TYPE_LOGGING: &str = "logging";

/// `type` of an event whose metadata is an [`Operation`].
pub const EVENT_TYPE_OPERATION: &str = "operation";

/// An event entry, as sent over the `/1.0/events` websocket (one JSON text message each,
/// ending with a newline).
///
/// `T` is the type of `metadata`: [`serde_json::Value`] by default, or a typed record
/// ([`Operation`], [`EventLifecycle`], [`EventLogging`]) so that its fields go out in LXD's
/// order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "T: Deserialize<'de> + Default"))]
pub struct Event<T = serde_json::Value> {
    /// Event type (one of operation, logging or lifecycle).
    pub r#type: String,
    /// Time at which the event was sent.
    pub timestamp: Timestamp,
    /// Type-specific metadata (see EventLogging, EventLifecycle or Operation).
    pub metadata: T,
    /// Originating cluster member.
    #[serde(skip_serializing_if = "is_default")]
    pub location: String,
    /// Project the event belongs to.
    #[serde(skip_serializing_if = "is_default")]
    pub project: String,
}

impl<T> Event<T> {
    /// An event of type `type` (see the `EVENT_TYPE_*` constants) in `project`.
    pub fn new(r#type: &str, timestamp: Timestamp, project: &str, metadata: T) -> Self {
        Self {
            r#type: r#type.to_owned(),
            timestamp,
            metadata,
            location: String::new(),
            project: project.to_owned(),
        }
    }
}

impl Event<serde_json::Value> {
    /// The metadata of a `lifecycle` event; `None` for other types.
    pub fn lifecycle(&self) -> Option<Result<EventLifecycle, serde_json::Error>> {
        (self.r#type == EVENT_TYPE_LIFECYCLE).then(|| EventLifecycle::deserialize(&self.metadata))
    }

    /// The metadata of a `logging` event; `None` for other types.
    pub fn logging(&self) -> Option<Result<EventLogging, serde_json::Error>> {
        (self.r#type == EVENT_TYPE_LOGGING).then(|| EventLogging::deserialize(&self.metadata))
    }

    /// The metadata of an `operation` event; `None` for other types.
    pub fn operation(&self) -> Option<Result<Operation, serde_json::Error>> {
        (self.r#type == EVENT_TYPE_OPERATION).then(|| Operation::deserialize(&self.metadata))
    }
}

/// The metadata of a `logging` event: one daemon log record (admin only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventLogging {
    /// Log message.
    pub message: String,
    /// Log level (`debug`, `info`, `warning`, `error`, ...).
    pub level: String,
    /// Key/value context of the record.
    #[serde(deserialize_with = "nullable")]
    pub context: ConfigMap,
}

/// The metadata of a `lifecycle` event: something happened to an object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventLifecycle {
    /// What happened (`instance-started`, `profile-created`, ...).
    pub action: String,
    /// URL of the object it happened to (`/1.0/instances/c1`).
    pub source: String,
    /// Details of the action.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub context: serde_json::Map<String, serde_json::Value>,
    /// Who asked for it, when known.
    #[serde(skip_serializing_if = "is_default")]
    pub requestor: Option<EventLifecycleRequestor>,
}

/// The requestor of a lifecycle event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventLifecycleRequestor {
    /// User name (or certificate fingerprint).
    pub username: String,
    /// How the user authenticated (`unix`, `tls`, `candid`, ...).
    pub protocol: String,
    /// Requestor address.
    pub address: String,
}
