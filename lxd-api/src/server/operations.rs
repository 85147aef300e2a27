//! Operations: every mutating call runs as one. An operation has LXD's classes (task,
//! websocket, token), statuses and metadata; its changes are sent as `operation` events; clients
//! wait on it, cancel it, or (websocket class) connect to its websockets with per-socket
//! secrets.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::{oneshot, watch};

use super::events::{now_rfc3339, Events};
use super::reply::ApiError;
use super::ws::WebSocket;

/// How long a finished operation stays visible (LXD keeps them 5 s).
const KEEP_FINISHED: Duration = Duration::from_secs(5);

/// LXD's operation classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    /// A background task.
    Task,
    /// An operation with websockets (exec, console).
    Websocket,
    /// A token.
    Token,
}

impl OpClass {
    fn name(self) -> &'static str {
        match self {
            OpClass::Task => "task",
            OpClass::Websocket => "websocket",
            OpClass::Token => "token",
        }
    }
}

/// Operation statuses with LXD's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    /// Created, not started.
    Pending,
    /// Running.
    Running,
    /// Done.
    Success,
    /// Failed.
    Failure,
    /// Cancelled.
    Cancelled,
}

impl OpStatus {
    /// LXD's status code.
    pub fn code(self) -> u16 {
        match self {
            OpStatus::Pending => 105,
            OpStatus::Running => 103,
            OpStatus::Success => 200,
            OpStatus::Failure => 400,
            OpStatus::Cancelled => 401,
        }
    }
    /// LXD's status name.
    pub fn name(self) -> &'static str {
        match self {
            OpStatus::Pending => "Pending",
            OpStatus::Running => "Running",
            OpStatus::Success => "Success",
            OpStatus::Failure => "Failure",
            OpStatus::Cancelled => "Cancelled",
        }
    }
    fn is_final(self) -> bool {
        matches!(
            self,
            OpStatus::Success | OpStatus::Failure | OpStatus::Cancelled
        )
    }
}

struct State {
    status: OpStatus,
    updated_at: String,
    metadata: Map<String, Value>,
    err: String,
}

/// One operation.
pub struct Operation {
    /// Its UUID.
    pub id: String,
    /// Its project.
    pub project: String,
    class: OpClass,
    description: String,
    created_at: String,
    resources: BTreeMap<String, Vec<String>>,
    may_cancel: bool,
    state: Mutex<State>,
    done: watch::Sender<bool>,
    cancel: watch::Sender<bool>,
    sockets: Mutex<HashMap<String, oneshot::Sender<WebSocket>>>,
    events: Events,
}

fn uuid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("{:x}", std::process::id()))
}

impl Operation {
    /// The operation's URL.
    pub fn url(&self) -> String {
        format!("/1.0/operations/{}", self.id)
    }

    /// LXD's JSON of the operation.
    pub fn to_json(&self) -> Value {
        let s = self.state.lock().expect("op lock");
        let resources: Value = if self.resources.is_empty() {
            Value::Null
        } else {
            json!(self.resources)
        };
        let metadata = if s.metadata.is_empty() {
            Value::Null
        } else {
            Value::Object(s.metadata.clone())
        };
        json!({
            "id": self.id,
            "class": self.class.name(),
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": s.updated_at,
            "status": s.status.name(),
            "status_code": s.status.code(),
            "resources": resources,
            "metadata": metadata,
            "may_cancel": self.may_cancel,
            "err": s.err,
            "location": "none",
        })
    }

    fn emit(&self) {
        self.events.send("operation", &self.project, self.to_json());
    }

    fn set_status(&self, status: OpStatus, err: Option<String>) {
        {
            let mut s = self.state.lock().expect("op lock");
            s.status = status;
            s.updated_at = now_rfc3339();
            if let Some(e) = err {
                s.err = e;
            }
        }
        self.emit();
        if status.is_final() {
            self.done.send_replace(true);
        }
    }

    /// Sets one metadata key and announces the change.
    pub fn set_metadata(&self, key: &str, value: Value) {
        {
            let mut s = self.state.lock().expect("op lock");
            s.metadata.insert(key.to_string(), value);
            s.updated_at = now_rfc3339();
        }
        self.emit();
    }

    /// The current status.
    pub fn status(&self) -> OpStatus {
        self.state.lock().expect("op lock").status
    }

    /// Waits until the operation ends, or `timeout` passes (`None`: forever).
    pub async fn wait(&self, timeout: Option<Duration>) {
        let mut rx = self.done.subscribe();
        let fut = async {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        match timeout {
            Some(t) => {
                let _ = tokio::time::timeout(t, fut).await;
            }
            None => fut.await,
        }
    }

    /// Asks the operation to stop (only operations that may be cancelled listen).
    pub fn cancel(&self) -> Result<(), ApiError> {
        if !self.may_cancel {
            return Err(ApiError::bad_request("This operation can't be cancelled"));
        }
        self.cancel.send_replace(true);
        Ok(())
    }

    /// Resolves when someone cancels the operation.
    pub async fn cancelled(&self) {
        let mut rx = self.cancel.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Registers a websocket secret; the receiver gets the connection when the client
    /// connects with it.
    pub fn expect_socket(&self, secret: &str) -> oneshot::Receiver<WebSocket> {
        let (tx, rx) = oneshot::channel();
        self.sockets
            .lock()
            .expect("op lock")
            .insert(secret.to_string(), tx);
        rx
    }

    /// Hands a connected websocket to whoever expects `secret`.
    pub fn take_socket(&self, secret: &str) -> Option<oneshot::Sender<WebSocket>> {
        self.sockets.lock().expect("op lock").remove(secret)
    }

    /// Whether a secret is expected.
    pub fn has_socket(&self, secret: &str) -> bool {
        self.sockets.lock().expect("op lock").contains_key(secret)
    }
}

/// A fresh random secret for a websocket.
pub fn secret() -> String {
    let a = uuid().replace('-', "");
    let b = uuid().replace('-', "");
    format!("{a}{b}")
}

/// All operations of the daemon.
#[derive(Clone)]
pub struct Operations {
    ops: Arc<Mutex<HashMap<String, Arc<Operation>>>>,
    events: Events,
}

/// What creating an operation needs.
pub struct NewOp {
    /// Project.
    pub project: String,
    /// Class.
    pub class: OpClass,
    /// Description (LXD's wording: "Creating instance", ...).
    pub description: String,
    /// Affected objects: `{"instances": ["/1.0/instances/c1"]}`.
    pub resources: BTreeMap<String, Vec<String>>,
    /// Whether `DELETE /1.0/operations/ID` may cancel it.
    pub may_cancel: bool,
    /// Initial metadata.
    pub metadata: Map<String, Value>,
}

impl NewOp {
    /// A task operation about some resources.
    pub fn task(project: &str, description: &str, resources: &[(&str, String)]) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in resources {
            map.entry(k.to_string()).or_default().push(v.clone());
        }
        NewOp {
            project: project.to_string(),
            class: OpClass::Task,
            description: description.to_string(),
            resources: map,
            may_cancel: false,
            metadata: Map::new(),
        }
    }
}

impl Operations {
    /// An empty registry that reports to `events`.
    pub fn new(events: Events) -> Self {
        Operations {
            ops: Arc::new(Mutex::new(HashMap::new())),
            events,
        }
    }

    /// Creates an operation and runs `work` for it in the background; the operation succeeds
    /// or fails with the work's result.
    pub fn spawn<F, Fut>(&self, new: NewOp, work: F) -> Arc<Operation>
    where
        F: FnOnce(Arc<Operation>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
    {
        let now = now_rfc3339();
        let (done, _) = watch::channel(false);
        let (cancel, _) = watch::channel(false);
        let op = Arc::new(Operation {
            id: uuid(),
            project: new.project,
            class: new.class,
            description: new.description,
            created_at: now.clone(),
            resources: new.resources,
            may_cancel: new.may_cancel,
            state: Mutex::new(State {
                status: OpStatus::Running,
                updated_at: now,
                metadata: new.metadata,
                err: String::new(),
            }),
            done,
            cancel,
            sockets: Mutex::new(HashMap::new()),
            events: self.events.clone(),
        });
        self.ops
            .lock()
            .expect("ops lock")
            .insert(op.id.clone(), op.clone());
        op.emit();
        let (o, ops) = (op.clone(), self.ops.clone());
        tokio::spawn(async move {
            let result = work(o.clone()).await;
            match result {
                Ok(()) => o.set_status(OpStatus::Success, None),
                Err(e) if *o.cancel.borrow() => o.set_status(OpStatus::Cancelled, Some(e.message)),
                Err(e) => o.set_status(OpStatus::Failure, Some(e.message)),
            }
            tokio::time::sleep(KEEP_FINISHED).await;
            ops.lock().expect("ops lock").remove(&o.id);
        });
        op
    }

    /// One operation.
    pub fn get(&self, id: &str) -> Option<Arc<Operation>> {
        self.ops.lock().expect("ops lock").get(id).cloned()
    }

    /// Every operation (of a project, or all).
    pub fn list(&self, project: Option<&str>) -> Vec<Arc<Operation>> {
        let mut v: Vec<Arc<Operation>> = self
            .ops
            .lock()
            .expect("ops lock")
            .values()
            .filter(|o| project.is_none_or(|p| o.project == p))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        v
    }

    /// The operation an exec or console client connects to with `secret`.
    pub fn find_by_secret(&self, id: &str, secret: &str) -> Option<Arc<Operation>> {
        self.get(id).filter(|o| o.has_socket(secret))
    }
}
