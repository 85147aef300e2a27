//! `/1.0/instances/NAME/files`.

use std::sync::Arc;

use crate::server::{ApiError, ApiState, Reply, Req};

/// File push, pull and delete.
pub async fn handle(
    _st: Arc<ApiState>,
    _req: Req,
    _project: &str,
    _name: &str,
) -> Result<Reply, ApiError> {
    Err(ApiError::not_implemented("files is being written"))
}
