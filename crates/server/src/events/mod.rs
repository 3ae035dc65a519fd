//! The event system of a node: buses, rules and their targets, the durable delivery of
//! matched events, archives and replays, schedules, queues, broker sources and sinks, and
//! webhooks. Sources hand events to an [`EventSink`]; the router ([`Events`]) matches them
//! against the bus's rules and stores one delivery per target before the source is told
//! the event is accepted.

pub mod brokers;
pub mod eventbridge;
pub mod mappings;
pub mod mappings_api;
pub mod queue_messages;
pub mod queues;
pub mod queues_native;
pub mod sqs;

use std::sync::Arc;

use async_trait::async_trait;
use cirrus_events::CloudEvent;
use cirrus_store::Store;

/// Where sources put events.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Accepts events onto `bus`: they are matched against its rules, and what must be
    /// delivered is stored durably before this returns. An error means nothing of the
    /// batch was accepted and the source should not acknowledge it.
    async fn put_events(&self, bus: &str, events: Vec<CloudEvent>) -> Result<(), SinkError>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    #[error("event bus '{0}' does not exist")]
    NoSuchBus(String),
    #[error("invalid event: {0}")]
    Invalid(String),
    #[error("cannot store the events: {0}")]
    Store(String),
}

/// The node's event system.
pub struct Events {
    pub store: Arc<dyn Store>,
    pub queues: Arc<queues::QueueService>,
    pub brokers: Arc<brokers::Brokers>,
}

impl Events {
    pub fn new(store: Arc<dyn Store>, partition: cirrus_engine::arn::Partition) -> Arc<Events> {
        Arc::new(Events {
            queues: queues::QueueService::new(store.clone(), partition),
            brokers: brokers::Brokers::new(),
            store,
        })
    }
}

#[async_trait]
impl EventSink for Events {
    async fn put_events(&self, bus: &str, events: Vec<CloudEvent>) -> Result<(), SinkError> {
        let _ = (bus, events);
        todo!()
    }
}
