//! `POST /1.0/instances/NAME/exec`.

use std::sync::Arc;

use crate::server::{ApiError, ApiState, Reply, Req};

/// Starts a command in an instance.
pub async fn post(
    _st: Arc<ApiState>,
    _req: Req,
    _project: &str,
    _name: &str,
) -> Result<Reply, ApiError> {
    Err(ApiError::not_implemented("exec is being written"))
}
