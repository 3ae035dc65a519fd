//! Cirrus queues: SQS's semantics over the store's [`cirrus_store::Queues`], long polling,
//! and event-source mappings that feed functions in batches. (Being written.)

use std::sync::Arc;

use cirrus_store::{QueueMessage, Store};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue '{0}' does not exist")]
    NoSuchQueue(String),
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Store(#[from] cirrus_store::StoreError),
}

pub struct QueueService {
    store: Arc<dyn Store>,
    partition: cirrus_engine::arn::Partition,
}

impl QueueService {
    pub fn new(store: Arc<dyn Store>, partition: cirrus_engine::arn::Partition) -> Arc<Self> {
        Arc::new(QueueService { store, partition })
    }

    /// Sends one message to `queue` (durable when it returns); its id.
    pub async fn send(
        &self,
        queue: &str,
        body: String,
        attributes: Value,
    ) -> Result<String, QueueError> {
        let _ = (queue, body, attributes, &self.store, &self.partition);
        todo!()
    }

    /// The record of a message for `queue` (which must exist), to be stored by the caller
    /// in its own transaction (a dead-lettered delivery); call [`Self::sent`] after.
    pub async fn message_for(
        &self,
        queue: &str,
        body: String,
        attributes: Value,
    ) -> Result<QueueMessage, QueueError> {
        let _ = (queue, body, attributes);
        todo!()
    }

    /// Wakes receivers of `queue` after a message was stored elsewhere.
    pub fn sent(&self, queue: &str) {
        let _ = queue;
    }
}
