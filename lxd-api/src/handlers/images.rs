//! `/1.0/images`.

use std::sync::Arc;

use crate::server::{ApiError, ApiState, Reply, Req};

fn todo() -> Result<Reply, ApiError> {
    Err(ApiError::not_implemented("images are being written"))
}

/// `/1.0/images`.
pub async fn collection(_st: Arc<ApiState>, _req: Req) -> Result<Reply, ApiError> {
    todo()
}
/// `/1.0/images/aliases`.
pub async fn aliases(_st: Arc<ApiState>, _req: Req) -> Result<Reply, ApiError> {
    todo()
}
/// `/1.0/images/aliases/NAME`.
pub async fn alias(_st: Arc<ApiState>, _req: Req, _name: &str) -> Result<Reply, ApiError> {
    todo()
}
/// `/1.0/images/FP`.
pub async fn entity(_st: Arc<ApiState>, _req: Req, _fp: &str) -> Result<Reply, ApiError> {
    todo()
}
/// `/1.0/images/FP/export`.
pub async fn export(_st: Arc<ApiState>, _req: Req, _fp: &str) -> Result<Reply, ApiError> {
    todo()
}
/// `/1.0/images/FP/refresh`.
pub async fn refresh(_st: Arc<ApiState>, _req: Req, _fp: &str) -> Result<Reply, ApiError> {
    todo()
}
