//! LXD's response envelopes (sync, async, error), raw bodies, and the API error type with the
//! HTTP status each error maps to.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// The body type of every response.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A full body from bytes.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// An API error: an HTTP status and LXD's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (also `error_code` in the envelope).
    pub status: u16,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
        }
    }
    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            message: message.into(),
        }
    }
    /// 409 Conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError {
            status: 409,
            message: message.into(),
        }
    }
    /// 412 Precondition Failed (ETag mismatch).
    pub fn precondition(message: impl Into<String>) -> Self {
        ApiError {
            status: 412,
            message: message.into(),
        }
    }
    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: 500,
            message: message.into(),
        }
    }
    /// 501 Not Implemented.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        ApiError {
            status: 501,
            message: message.into(),
        }
    }
    /// 405 Method Not Allowed.
    pub fn method_not_allowed() -> Self {
        ApiError {
            status: 405,
            message: "method not allowed".into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<lxd_core::Error> for ApiError {
    fn from(e: lxd_core::Error) -> Self {
        use lxd_core::store::StoreError;
        use lxd_core::Error as E;
        let status = match &e {
            E::Store(StoreError::NotFound { .. }) => 404,
            E::Store(StoreError::AlreadyExists { .. }) => 409,
            E::Store(StoreError::InUse { .. }) | E::InUse(_) => 400,
            E::Store(StoreError::Unsupported(_)) => 400,
            E::Config(_) | E::InvalidName { .. } | E::InvalidState { .. } | E::Invalid(_) => 400,
            E::Idmap(_) | E::InvalidRootfs { .. } => 400,
            E::Exec { .. } => 400,
            _ => 500,
        };
        let message = match &e {
            E::Store(StoreError::NotFound { kind, .. }) => format!("{kind} not found"),
            E::InvalidState { message, .. } => message.to_string(),
            _ => e.to_string(),
        };
        ApiError { status, message }
    }
}

impl From<lxd_core::store::StoreError> for ApiError {
    fn from(e: lxd_core::store::StoreError) -> Self {
        lxd_core::Error::from(e).into()
    }
}

/// What a handler answers.
pub enum Reply {
    /// A sync response (200) with metadata.
    Sync(Value),
    /// A sync response with an ETag header.
    SyncEtag(Value, String),
    /// A sync response that created something: 201 with a `Location`.
    Created(String),
    /// An async response: 202 with the operation and its `Location`.
    Async(Value, String),
    /// A raw body with a status and headers (file pull, image export, logs).
    Raw {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(&'static str, String)>,
        /// The body.
        body: Body,
    },
    /// A complete response built by the handler (websocket upgrades).
    Http(Response<Body>),
}

fn envelope(status: u16, v: Value) -> Response<Body> {
    // LXD ends sync and async bodies with a newline and error bodies with two.
    let mut body = serde_json::to_vec(&v).unwrap_or_default();
    body.push(b'\n');
    if v["type"] == "error" {
        body.push(b'\n');
    }
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn sync_body(metadata: Value) -> Value {
    json!({
        "type": "sync",
        "status": "Success",
        "status_code": 200,
        "operation": "",
        "error_code": 0,
        "error": "",
        "metadata": metadata,
    })
}

impl Reply {
    /// The HTTP response.
    pub fn into_response(self) -> Response<Body> {
        match self {
            Reply::Sync(v) => envelope(200, sync_body(v)),
            Reply::SyncEtag(v, etag) => {
                let mut r = envelope(200, sync_body(v));
                if let Ok(h) = HeaderValue::from_str(&format!("\"{etag}\"")) {
                    r.headers_mut().insert(hyper::header::ETAG, h);
                }
                r
            }
            Reply::Created(location) => {
                let mut r = envelope(201, sync_body(Value::Null));
                if let Ok(h) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(hyper::header::LOCATION, h);
                }
                r
            }
            Reply::Async(op, location) => {
                let v = json!({
                    "type": "async",
                    "status": "Operation created",
                    "status_code": 100,
                    "operation": location,
                    "error_code": 0,
                    "error": "",
                    "metadata": op,
                });
                let mut r = envelope(202, v);
                if let Ok(h) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(hyper::header::LOCATION, h);
                }
                r
            }
            Reply::Raw {
                status,
                headers,
                body,
            } => {
                let mut r = Response::new(body);
                *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                for (k, v) in headers {
                    if let Ok(v) = HeaderValue::from_str(&v) {
                        r.headers_mut().insert(HeaderName::from_static(k), v);
                    }
                }
                r
            }
            Reply::Http(r) => r,
        }
    }
}

/// The error envelope.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = envelope(
        e.status,
        json!({
            "type": "error",
            "status": "",
            "status_code": 0,
            "operation": "",
            "error_code": e.status,
            "error": e.message,
            "metadata": null,
        }),
    );
    r.headers_mut().insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A short, stable ETag of a JSON value (LXD hashes the object's writable fields).
pub fn etag(v: &Value) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(&bytes))
}
