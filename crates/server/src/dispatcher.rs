//! The node's dispatcher: HTTP Tasks through the shared HTTP client; functions come with
//! the function runtimes.

use async_trait::async_trait;
use cirrus_asl::Failure;
use cirrus_engine::{Dispatcher, TaskCall};
use serde_json::Value;

use crate::http_task::HttpTasks;

pub struct NodeDispatcher {
    http: HttpTasks,
}

impl NodeDispatcher {
    pub fn new(region: &str, max_response_bytes: usize) -> Self {
        NodeDispatcher {
            http: HttpTasks::new(max_response_bytes).with_region(region),
        }
    }
}

#[async_trait]
impl Dispatcher for NodeDispatcher {
    async fn call_http(&self, call: &TaskCall) -> Result<Value, Failure> {
        let timeout = call.timeout_seconds.map(std::time::Duration::from_secs);
        self.http
            .invoke(&call.payload, timeout)
            .await
            .map_err(|f| Failure {
                error: f.error,
                cause: f.cause,
            })
    }
}
