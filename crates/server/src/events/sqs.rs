//! The AWS SQS protocol (JSON 1.0, `X-Amz-Target: AmazonSQS.<Operation>`) over Cirrus
//! queues. (Being written.)

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
