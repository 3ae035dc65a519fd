//! Status changes of executions, shaped as the events EventBridge delivers for Step
//! Functions (`detail-type: Step Functions Execution Status Change`).

use cirrus_store::{Event, Execution};
use serde_json::{Value, json};

pub const DETAIL_TYPE: &str = "Step Functions Execution Status Change";

/// An execution changed status (started, or ended one way or another).
#[derive(Debug, Clone)]
pub struct StatusChange {
    pub execution: Execution,
    pub time_ms: i64,
}

impl StatusChange {
    /// The event's `detail` object.
    pub fn detail(&self) -> Value {
        detail(&self.execution)
    }

    pub(crate) fn outbox_event(&self) -> Event {
        Event {
            seq: 0,
            time_ms: self.time_ms,
            detail_type: DETAIL_TYPE.into(),
            detail: self.detail().to_string(),
        }
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
