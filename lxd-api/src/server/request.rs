//! A request as handlers see it: method, decoded path segments, query parameters, headers, and
//! the body read on demand with a size limit.

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper::{HeaderMap, Method, Request};
use serde::de::DeserializeOwned;

use super::reply::ApiError;

/// The largest JSON body accepted (LXD's objects are small; uploads stream instead).
pub const MAX_JSON: usize = 4 << 20;

/// A request.
pub struct Req {
    /// Method.
    pub method: Method,
    /// Path segments, percent-decoded (`/1.0/instances/c1` → `["1.0", "instances", "c1"]`).
    pub path: Vec<String>,
    /// Query parameters, decoded.
    pub query: HashMap<String, String>,
    /// Headers.
    pub headers: HeaderMap,
    body: Option<Incoming>,
    /// The connection upgrade, for websocket handlers.
    pub on_upgrade: Option<OnUpgrade>,
}

/// Decodes `%XX` and (in queries) `+`.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                let v = u8::from_str_radix(hex, 16)
                    .map_err(|_| ApiError::bad_request(format!("Invalid escape in {s:?}")))?;
                out.push(v);
                i += 3;
            }
            b'%' => return Err(ApiError::bad_request(format!("Invalid escape in {s:?}"))),
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request(format!("Invalid UTF-8 in {s:?}")))
}

impl Req {
    /// Splits a hyper request.
    pub fn from_hyper(mut req: Request<Incoming>) -> Result<Self, ApiError> {
        let on_upgrade = Some(hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let mut path = Vec::new();
        for seg in parts.uri.path().split('/').filter(|s| !s.is_empty()) {
            path.push(percent_decode(seg, false)?);
        }
        let mut query = HashMap::new();
        if let Some(q) = parts.uri.query() {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                query.insert(percent_decode(k, true)?, percent_decode(v, true)?);
            }
        }
        Ok(Req {
            method: parts.method,
            path,
            query,
            headers: parts.headers,
            body: Some(body),
            on_upgrade,
        })
    }

    /// `?project=` (default `default`).
    pub fn project(&self) -> String {
        self.query
            .get("project")
            .filter(|p| !p.is_empty())
            .cloned()
            .unwrap_or_else(|| "default".into())
    }

    /// `?recursion=` (0, 1 or 2).
    pub fn recursion(&self) -> u8 {
        self.query
            .get("recursion")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Takes the body stream (uploads).
    pub fn take_body(&mut self) -> Result<Incoming, ApiError> {
        self.body
            .take()
            .ok_or_else(|| ApiError::internal("request body already read"))
    }

    /// Reads the whole body (up to `limit` bytes).
    pub async fn bytes(&mut self, limit: usize) -> Result<Bytes, ApiError> {
        let body = self.take_body()?;
        Limited::new(body, limit)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    ApiError {
                        status: 413,
                        message: format!("Request body larger than {limit} bytes"),
                    }
                } else {
                    ApiError::bad_request(format!("Reading the request body: {e}"))
                }
            })
    }

    /// Reads and parses a JSON body.
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let b = self.bytes(MAX_JSON).await?;
        if b.is_empty() {
            return Err(ApiError::bad_request("Empty request body"));
        }
        // Every body LXD takes is a JSON object (serde would also read a struct from an array).
        let v: serde_json::Value = serde_json::from_slice(&b)
            .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?;
        if !v.is_object() {
            return Err(ApiError::bad_request(
                "Invalid request body: expected a JSON object",
            ));
        }
        serde_json::from_value(v)
            .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
    }
}
