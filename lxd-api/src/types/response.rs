//! The response envelope every LXD REST call answers with, and LXD's status codes.

use super::Operation;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a response: a result now, an operation started, or an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseType {
    /// A synchronous result in `metadata`.
    #[default]
    Sync,
    /// A background operation, rendered in `metadata`, with its URL in `operation`.
    Async,
    /// A failure: `error_code` holds the HTTP status and `error` the message.
    Error,
}

/// The envelope of every REST API answer (Go's `api.ResponseRaw`/`api.Response`).
///
/// `T` is the type of `metadata`: [`serde_json::Value`] by default, or a typed record (such
/// as `&Instance`) so that its fields go out in LXD's order. LXD ends each JSON body with a
/// newline (Go's `json.Encoder`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "T: Deserialize<'de> + Default"))]
pub struct Response<T = serde_json::Value> {
    /// Response type (`sync`, `async` or `error`).
    pub r#type: ResponseType,
    /// Status name (`Success`, `Operation created`; empty for errors).
    pub status: String,
    /// Status code (200, 100; 0 for errors).
    pub status_code: StatusCode,
    /// URL of the background operation (async responses).
    pub operation: String,
    /// HTTP status code of an error (error responses).
    pub error_code: i64,
    /// Error message (error responses).
    pub error: String,
    /// The result: an object, a list, an operation, or `null`.
    pub metadata: T,
}

impl<T> Response<T> {
    /// A successful synchronous response carrying `metadata` (LXD's `SyncResponse(true, ...)`).
    pub fn sync(metadata: T) -> Self {
        Self {
            r#type: ResponseType::Sync,
            status: StatusCode::SUCCESS.name().to_owned(),
            status_code: StatusCode::SUCCESS,
            operation: String::new(),
            error_code: 0,
            error: String::new(),
            metadata,
        }
    }
}

impl Response<Operation> {
    /// The response to a request that started `op`, whose URL is `url`
    /// (`/1.0/operations/<id>`): type `async`, status `Operation created` (100).
    pub fn operation(url: &str, op: Operation) -> Self {
        Self {
            r#type: ResponseType::Async,
            status: StatusCode::OPERATION_CREATED.name().to_owned(),
            status_code: StatusCode::OPERATION_CREATED,
            operation: url.to_owned(),
            error_code: 0,
            error: String::new(),
            metadata: op,
        }
    }
}

impl Response<serde_json::Value> {
    /// LXD's `EmptySyncResponse`: success with `{}` as metadata.
    pub fn empty_sync() -> Self {
        Self::sync(serde_json::Value::Object(serde_json::Map::new()))
    }

    /// An error response with HTTP status `code` and message `message`; metadata is `null`.
    pub fn error(code: u16, message: impl Into<String>) -> Self {
        Self {
            r#type: ResponseType::Error,
            error_code: i64::from(code),
            error: message.into(),
            ..Self::default()
        }
    }

    /// Decodes `metadata` as `U`.
    pub fn metadata_as<U: DeserializeOwned>(&self) -> Result<U, serde_json::Error> {
        U::deserialize(&self.metadata)
    }
}

/// A status of an operation or an instance, as LXD numbers them (`shared/api/status_code.go`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct StatusCode(pub i64);

impl StatusCode {
    /// 100: an operation was created.
    pub const OPERATION_CREATED: Self = Self(100);
    /// 101: started.
    pub const STARTED: Self = Self(101);
    /// 102: stopped.
    pub const STOPPED: Self = Self(102);
    /// 103: running.
    pub const RUNNING: Self = Self(103);
    /// 104: cancelling.
    pub const CANCELLING: Self = Self(104);
    /// 105: pending.
    pub const PENDING: Self = Self(105);
    /// 106: starting.
    pub const STARTING: Self = Self(106);
    /// 107: stopping.
    pub const STOPPING: Self = Self(107);
    /// 108: aborting.
    pub const ABORTING: Self = Self(108);
    /// 109: freezing.
    pub const FREEZING: Self = Self(109);
    /// 110: frozen.
    pub const FROZEN: Self = Self(110);
    /// 111: thawed.
    pub const THAWED: Self = Self(111);
    /// 112: error.
    pub const ERROR: Self = Self(112);
    /// 113: ready (an instance whose agent reported ready).
    pub const READY: Self = Self(113);
    /// 200: success.
    pub const SUCCESS: Self = Self(200);
    /// 400: failure.
    pub const FAILURE: Self = Self(400);
    /// 401: cancelled.
    pub const CANCELLED: Self = Self(401);

    /// Every code LXD defines with its name.
    const NAMES: [(Self, &'static str); 17] = [
        (Self::OPERATION_CREATED, "Operation created"),
        (Self::STARTED, "Started"),
        (Self::STOPPED, "Stopped"),
        (Self::RUNNING, "Running"),
        (Self::CANCELLING, "Cancelling"),
        (Self::PENDING, "Pending"),
        (Self::STARTING, "Starting"),
        (Self::STOPPING, "Stopping"),
        (Self::ABORTING, "Aborting"),
        (Self::FREEZING, "Freezing"),
        (Self::FROZEN, "Frozen"),
        (Self::THAWED, "Thawed"),
        (Self::ERROR, "Error"),
        (Self::READY, "Ready"),
        (Self::SUCCESS, "Success"),
        (Self::FAILURE, "Failure"),
        (Self::CANCELLED, "Cancelled"),
    ];

    /// LXD's name for the code (`"Running"`, `"Success"`, `"Operation created"`), the empty
    /// string for a code LXD does not define (as Go's map lookup gives).
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(code, _)| *code == self)
            .map_or("", |(_, name)| name)
    }

    /// The code LXD names `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(code, _)| *code)
    }

    /// Whether the code is an end state (200 and above: success, failure, cancelled).
    pub fn is_final(self) -> bool {
        self.0 >= 200
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
