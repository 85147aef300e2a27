//! The daemon's HTTP server: hyper on the unix socket, LXD's routes, operations, events and
//! websockets, over an [`lxd_core::Lxd`].

pub mod events;
pub mod operations;
pub mod reply;
pub mod request;
pub mod ws;

pub use events::Events;
pub use operations::{NewOp, OpClass, Operation, Operations};
pub use reply::{ApiError, Reply};
pub use request::Req;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::sync::watch;

use reply::{error_response, Body};

/// Facts about the daemon reported by `GET /1.0`.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// LXD version we speak (`5.0.2`).
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Start time.
    pub started: SystemTime,
    /// Host name.
    pub hostname: String,
    /// The data directory.
    pub lxd_dir: PathBuf,
}

/// Everything handlers need.
pub struct ApiState {
    /// The orchestration.
    pub lxd: Arc<lxd_core::Lxd>,
    /// Operations.
    pub ops: Operations,
    /// Events.
    pub events: Events,
    /// Facts about this daemon.
    pub info: ServerInfo,
    /// Set to true to ask the daemon to shut down (`PUT /internal/shutdown`).
    pub shutdown: watch::Sender<bool>,
}

impl ApiState {
    /// A state over an orchestration.
    pub fn new(lxd: Arc<lxd_core::Lxd>, info: ServerInfo) -> Arc<Self> {
        let events = Events::new();
        let (shutdown, _) = watch::channel(false);
        Arc::new(ApiState {
            lxd,
            ops: Operations::new(events.clone()),
            events,
            info,
            shutdown,
        })
    }
}

async fn handle(state: Arc<ApiState>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let r = match Req::from_hyper(req) {
        Ok(r) => crate::handlers::route(state, r).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(reply) => reply.into_response(),
        Err(e) => {
            tracing::debug!(%method, %path, status = e.status, "{}", e.message);
            error_response(&e)
        }
    }
}

/// Serves the API on `listener` until `stop` resolves.
pub async fn serve(
    listener: UnixListener,
    state: Arc<ApiState>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    continue;
                }
            },
        };
        let st = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, Infallible>(handle(st, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!("connection: {e}");
            }
        });
    }
}
