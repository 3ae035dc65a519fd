//! Cirrus's own lifecycle events, on the default bus, in the shapes EventBridge uses:
//!
//! - `aws.states` / `Step Functions Execution Status Change` for every execution that
//!   starts, succeeds, fails, times out or is aborted (the engine's outbox is consumed
//!   here: a status change leaves the outbox only once the router stored its deliveries);
//! - `aws.lambda` / `Lambda Function Invocation Result - Failure` when an asynchronous
//!   invocation is dead-lettered, with Lambda's destination record as the detail.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use cirrus_engine::{StatusChange, StatusConsumer};
use cirrus_events::CloudEvent;
use serde_json::{Value, json};

use super::rules::DEFAULT_BUS;
use super::{Events, timestamp};

pub const STATES_SOURCE: &str = "aws.states";
pub const LAMBDA_SOURCE: &str = "aws.lambda";
pub const FUNCTION_FAILURE: &str = "Lambda Function Invocation Result - Failure";

/// Hands the engine's status changes to the router.
pub struct Consumer(pub Weak<Events>);

#[async_trait]
impl StatusConsumer for Consumer {
    async fn consume(&self, changes: &[StatusChange]) -> Result<(), String> {
        let Some(events) = self.0.upgrade() else {
            return Ok(());
        };
        let batch: Vec<CloudEvent> = changes.iter().map(status_event).collect();
        for chunk in batch.chunks(500) {
            events
                .accept(DEFAULT_BUS, chunk, None)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn status_event(change: &StatusChange) -> CloudEvent {
    let mut e = CloudEvent::new(
        cirrus_engine::uuid(),
        STATES_SOURCE,
        change.detail_type.clone(),
    );
    e.time = Some(timestamp(change.time_ms));
    e.datacontenttype = Some("application/json".into());
    if let Some(arn) = change.detail.get("executionArn").and_then(Value::as_str) {
        e.extensions.insert("resources".into(), json!([arn]));
        e.subject = Some(arn.to_owned());
    }
    e.data = Some(change.detail.clone());
    e
}

/// The event for a dead-lettered asynchronous invocation (`record`: Lambda's destination
/// record).
pub fn function_failure(function_arn: &str, record: Value) -> CloudEvent {
    let mut e = CloudEvent::new(cirrus_engine::uuid(), LAMBDA_SOURCE, FUNCTION_FAILURE);
    e.time = Some(timestamp(cirrus_engine::now_ms()));
    e.datacontenttype = Some("application/json".into());
    e.subject = Some(function_arn.to_owned());
    e.extensions
        .insert("resources".into(), json!([function_arn]));
    e.data = Some(record);
    e
}

/// Puts a lifecycle event on the default bus, logging (not failing) when it cannot.
pub async fn emit(events: &Arc<Events>, event: CloudEvent) {
    if let Err(e) = events.accept(DEFAULT_BUS, &[event], None).await {
        tracing::warn!(err = %e, "cannot put a lifecycle event on the default bus");
    }
}
