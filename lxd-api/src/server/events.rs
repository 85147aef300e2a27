//! The event bus behind `/1.0/events`: operation, lifecycle and logging events, broadcast to
//! every websocket listener that asked for their type and project.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Events as JSON, shared by every listener.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Value>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

/// The current time as LXD writes it.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    crate::types::rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

impl Events {
    /// A bus with room for bursts of events.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Events { tx }
    }

    /// Sends an event of `kind` (`operation`, `lifecycle`, `logging`).
    pub fn send(&self, kind: &str, project: &str, metadata: Value) {
        let ev = json!({
            "type": kind,
            "timestamp": now_rfc3339(),
            "metadata": metadata,
            "location": "none",
            "project": project,
        });
        // No listener is not an error.
        let _ = self.tx.send(Arc::new(ev));
    }

    /// Sends a lifecycle event (`instance-started`, `image-created`, ...) about `source`.
    pub fn lifecycle(&self, project: &str, action: &str, source: &str, context: Value) {
        self.send(
            "lifecycle",
            project,
            json!({
                "action": action,
                "source": source,
                "context": context,
                "requestor": {"username": "root", "protocol": "unix", "address": "@"},
            }),
        );
    }

    /// A new listener.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Value>> {
        self.tx.subscribe()
    }
}
