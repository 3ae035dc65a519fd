//! The AWS EventBridge protocol (JSON 1.1, `X-Amz-Target: AWSEvents.<Operation>`).
//! (Being written.)

use crate::Node;
use crate::aws::{ApiError, ApiResult, Body};

pub(crate) async fn operation(node: &Node, operation: &str, body: &Body) -> ApiResult {
    let _ = (node, body);
    Err(ApiError::new(
        http::StatusCode::BAD_REQUEST,
        "UnknownOperationException",
        format!("Cirrus does not implement the operation '{operation}'"),
    ))
}
