//! Status changes of executions, shaped as the events EventBridge delivers for Step
//! Functions (`detail-type: Step Functions Execution Status Change`).
//!
//! A step that changes an execution's status writes the event into the store's outbox in
//! the same commit. The relay here reads the outbox after commits (and once at start, for
//! events committed before a crash), hands each event to the subscribers of
//! [`crate::Engine::subscribe`], and removes what it delivered. It sleeps while nothing is
//! committed.

use std::sync::Arc;

use cirrus_store::{Event, Execution, Store};
use serde_json::{Value, json};

use crate::WeakEngine;

pub const DETAIL_TYPE: &str = "Step Functions Execution Status Change";

/// An execution changed status (started, redriven, or ended one way or another).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub time_ms: i64,
    pub detail_type: String,
    /// The EventBridge `detail` object ([`detail`]).
    pub detail: Value,
}

impl StatusChange {
    /// The event a step writes to the outbox for `e`'s current status.
    pub(crate) fn outbox_event(e: &Execution, time_ms: i64) -> Event {
        Event {
            seq: 0,
            time_ms,
            detail_type: DETAIL_TYPE.into(),
            detail: detail(e).to_string(),
        }
    }
}

/// Takes status changes before they leave the outbox. Called by the relay with events in
/// commit order; the events are removed from the outbox only after it returns `Ok`, and
/// offered again (after a second) when it fails, so it must be idempotent enough for an
/// event to arrive twice after a crash.
#[async_trait::async_trait]
pub trait StatusConsumer: Send + Sync {
    async fn consume(&self, changes: &[StatusChange]) -> Result<(), String>;
}

/// Delivers outbox events to the consumer and subscribers, then removes them; see the
/// module doc. Removal is a write, so without a consumer it is batched: after 1,000
/// events, or once commits pause. With one, events are removed as soon as it took them.
pub(crate) async fn relay(
    engine: WeakEngine,
    stores: [Arc<dyn Store>; 2],
    wake: Arc<tokio::sync::Notify>,
    consumer: Option<Arc<dyn StatusConsumer>>,
) {
    const ACK_EVERY: u64 = 1000;
    const QUIET: std::time::Duration = std::time::Duration::from_millis(200);
    // Per store: the last event delivered, and how many since the last removal.
    let mut delivered = [(0u64, 0u64); 2];
    loop {
        for (store, (last, pending)) in stores.iter().zip(delivered.iter_mut()) {
            loop {
                let events = match store.events_after(*last, 1000).await {
                    Ok(e) => e,
                    Err(err) => {
                        tracing::warn!(%err, "cannot read the outbox; retrying in a second");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let Some(seq) = events.last().map(|e| e.seq) else {
                    break;
                };
                let changes: Vec<StatusChange> = events
                    .into_iter()
                    .map(|ev| StatusChange {
                        time_ms: ev.time_ms,
                        detail_type: ev.detail_type,
                        detail: serde_json::from_str(&ev.detail).unwrap_or(Value::Null),
                    })
                    .collect();
                if let Some(c) = &consumer
                    && let Err(err) = c.consume(&changes).await
                {
                    tracing::warn!(%err, "the event router cannot take status changes; retrying in a second");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                let Some(e) = engine.upgrade() else { return };
                *pending += changes.len() as u64;
                for change in changes {
                    let _ = e.inner.status.send(change);
                }
                *last = seq;
                if consumer.is_some() {
                    acknowledge(store, *last, pending).await;
                }
            }
            if *pending >= ACK_EVERY {
                acknowledge(store, *last, pending).await;
            }
        }
        if delivered.iter().any(|(_, p)| *p > 0) {
            if tokio::time::timeout(QUIET, wake.notified()).await.is_err() {
                for (store, (last, pending)) in stores.iter().zip(delivered.iter_mut()) {
                    if *pending > 0 {
                        acknowledge(store, *last, pending).await;
                    }
                }
            }
        } else {
            wake.notified().await;
        }
    }
}

async fn acknowledge(store: &Arc<dyn Store>, upto: u64, pending: &mut u64) {
    match store.acknowledge_events(upto).await {
        Ok(()) => *pending = 0,
        Err(err) => tracing::warn!(%err, "cannot trim the outbox"),
    }
}

/// The `detail` of a status-change event for `e`.
pub fn detail(e: &Execution) -> Value {
    json!({
        "executionArn": e.arn,
        "stateMachineArn": e.version_arn.as_deref().unwrap_or(&e.machine_arn),
        "name": e.name,
        "status": e.status,
        "startDate": e.start_ms,
        "stopDate": e.stop_ms,
        "input": e.input,
        "output": e.output,
        "inputDetails": { "included": true },
        "outputDetails": if e.output.is_some() { json!({ "included": true }) } else { Value::Null },
        "error": e.error,
        "cause": e.cause,
        "redriveCount": e.redrive_count,
    })
}
