//! NATS and MQTT: sources that turn broker messages into events, and targets that publish
//! to a broker. (Being written.)

use std::sync::Arc;

pub struct Brokers {}

impl Brokers {
    pub fn new() -> Arc<Brokers> {
        Arc::new(Brokers {})
    }
}

// Interface placeholders (the broker module is being written).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BrokerError(pub String);

#[derive(Debug, Clone)]
pub struct PublishTarget;

impl PublishTarget {
    pub fn parse(v: &serde_json::Value) -> Result<PublishTarget, BrokerError> {
        let _ = v;
        Err(BrokerError("brokers are not available yet".into()))
    }
}

#[derive(Debug, Clone)]
pub struct SourceConfig;

impl SourceConfig {
    pub fn parse(v: &serde_json::Value) -> Result<SourceConfig, BrokerError> {
        let _ = v;
        Err(BrokerError("brokers are not available yet".into()))
    }
}

impl Brokers {
    pub async fn publish(
        &self,
        target: &PublishTarget,
        payload: bytes::Bytes,
    ) -> Result<(), BrokerError> {
        let _ = (target, payload);
        Err(BrokerError("brokers are not available yet".into()))
    }

    pub async fn apply_source(
        &self,
        name: &str,
        config: SourceConfig,
        sink: Arc<dyn super::EventSink>,
    ) -> Result<(), BrokerError> {
        let _ = (name, config, sink);
        Err(BrokerError("brokers are not available yet".into()))
    }

    pub async fn remove_source(&self, name: &str) {
        let _ = name;
    }

    pub fn source_status(&self, name: &str) -> Option<serde_json::Value> {
        let _ = name;
        None
    }
}
