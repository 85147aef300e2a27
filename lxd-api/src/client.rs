//! A Rust client for the API over the unix socket, used by the daemon's subcommands and tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::UnixStream;

/// A client error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached.
    #[error("connect {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// HTTP failed.
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// The server answered with LXD's error envelope.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// LXD's message.
        message: String,
    },
    /// The answer was not what was expected.
    #[error("bad response: {0}")]
    Bad(String),
    /// An operation failed.
    #[error("operation {id} failed: {err}")]
    Operation {
        /// Its id.
        id: String,
        /// Its error.
        err: String,
    },
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// The envelope (or the raw body as a string value when not JSON).
    pub body: Value,
    /// Response headers.
    pub headers: hyper::HeaderMap,
}

impl ApiResponse {
    /// The envelope's metadata.
    pub fn metadata(&self) -> &Value {
        &self.body["metadata"]
    }
}

/// A client for one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client for `$LXD_DIR/unix.socket`.
    pub fn new(lxd_dir: &Path) -> Self {
        Client {
            socket: lxd_dir.join("unix.socket"),
        }
    }

    /// A client for an explicit socket path.
    pub fn with_socket(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
        }
    }

    /// Sends a request with a raw body and extra headers.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<ApiResponse, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    path: self.socket.clone(),
                    source,
                })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://lxd{path}"))
            .header("Host", "lxd")
            .header("User-Agent", "lxd-rs");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| ClientError::Bad(e.to_string()))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if body.get("type").and_then(Value::as_str) == Some("error") {
            return Err(ClientError::Api {
                status,
                message: body["error"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(ApiResponse {
            status,
            body,
            headers,
        })
    }

    /// Sends a request with an optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ApiResponse, ClientError> {
        let (headers, bytes): (&[(&str, &str)], Bytes) = match body {
            Some(v) => (
                &[("Content-Type", "application/json")],
                Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            ),
            None => (&[], Bytes::new()),
        };
        self.raw(method, path, headers, bytes).await
    }

    /// `GET` and parse the metadata.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let r = self.request(Method::GET, path, None).await?;
        serde_json::from_value(r.metadata().clone()).map_err(|e| ClientError::Bad(e.to_string()))
    }

    /// Sends a request; if it started an operation, waits for it and returns the finished
    /// operation, else the metadata.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let r = self.request(method, path, body).await?;
        if r.body["type"] == "async" {
            let op = r.body["operation"].as_str().unwrap_or("").to_string();
            return self.wait(&op, None).await;
        }
        Ok(r.metadata().clone())
    }

    /// Waits for an operation (by URL) to end; errors if it failed.
    pub async fn wait(
        &self,
        op_url: &str,
        timeout: Option<Duration>,
    ) -> Result<Value, ClientError> {
        let t = timeout.map_or(-1, |t| t.as_secs() as i64);
        let r = self
            .request(Method::GET, &format!("{op_url}/wait?timeout={t}"), None)
            .await?;
        let op = r.metadata().clone();
        if op["status"] == "Failure" || op["status"] == "Cancelled" {
            return Err(ClientError::Operation {
                id: op["id"].as_str().unwrap_or("").to_string(),
                err: op["err"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(op)
    }
}
