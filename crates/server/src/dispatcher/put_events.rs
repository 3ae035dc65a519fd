//! `arn:aws:states:::events:putEvents` (and `.waitForTaskToken`): a Task puts events on the
//! node's buses, as Step Functions' optimized EventBridge integration does.
//!
//! Parameters: `Entries`, 1 to 10 of `{Detail, DetailType, Source, EventBusName, Resources,
//! Time}`, where `Detail` is an object or its JSON text and `EventBusName` a name or a bus
//! ARN. The execution's ARN and its state machine's ARN are added to each entry's
//! `Resources`. The events go through [`Events::accept`], so rules fire. The result is
//! PutEvents' answer (`{"Entries": [{"EventId"}], "FailedEntryCount": 0}`); when an entry
//! fails, the accepted ones stay accepted and the Task fails with `EventBridge.FailedEntry`
//! and the answer as the cause.
//!
//! Each event's id is derived from the task attempt's idempotency key and the entry's
//! place, so a Task dispatched again after a crash puts events with the same ids, which
//! consumers can deduplicate.

use cirrus_asl::Failure;
use cirrus_engine::TaskCall;
use serde_json::{Value, json};

use crate::events::Events;
use crate::events::eventbridge::{EntryResult, entry_event, put_entries};

/// PutEvents' limit on entries.
const MAX_ENTRIES: usize = 10;

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new("EventBridge.AmazonEventBridgeException", message)
}

/// The state machine ARN of an execution ARN (`...:execution:MACHINE:NAME`).
fn machine_of(execution_arn: &str) -> Option<String> {
    let parts: Vec<&str> = execution_arn.split(':').collect();
    (parts.len() >= 8).then(|| format!("{}:stateMachine:{}", parts[..5].join(":"), parts[6]))
}

/// One entry as PutEvents reads it, with `Detail` as text and the execution's resources.
fn entry(call: &TaskCall, index: usize, e: &Value) -> EntryResult {
    let Some(fields) = e.as_object() else {
        return Err((
            "InvalidArgument",
            format!("Entries[{index}] is not an object"),
        ));
    };
    let mut fields = fields.clone();
    if let Some(unknown) = fields.keys().find(|k| {
        !matches!(
            k.as_str(),
            "Detail" | "DetailType" | "Source" | "EventBusName" | "Resources" | "Time"
        )
    }) {
        return Err((
            "InvalidArgument",
            format!(
                "Entries[{index}]: '{unknown}' is not a field of an entry (Detail, DetailType, Source, EventBusName, Resources, Time)"
            ),
        ));
    }
    match fields.get("Detail") {
        Some(d @ Value::Object(_)) => {
            let text = d.to_string();
            fields.insert("Detail".into(), Value::String(text));
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {}
        Some(_) => {
            return Err((
                "MalformedDetail",
                format!("Entries[{index}]: Detail must be an object or its JSON text"),
            ));
        }
    }
    let mut resources = match fields.get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(r)) => r.clone(),
        Some(_) => {
            return Err((
                "InvalidArgument",
                format!("Entries[{index}]: Resources must be a list of strings"),
            ));
        }
    };
    resources.push(json!(call.execution_arn));
    if let Some(machine) = machine_of(&call.execution_arn) {
        resources.push(json!(machine));
    }
    fields.insert("Resources".into(), Value::Array(resources));
    let (bus, mut event) = entry_event(&Value::Object(fields))?;
    event.id = super::request_id(&format!("{}#{index}", call.idempotency_key));
    Ok((bus, event))
}

/// Puts the entries; PutEvents' answer as the Task's result.
pub(super) async fn put_events(events: &Events, call: &TaskCall) -> Result<Value, Failure> {
    let Some(p) = call.payload.as_object() else {
        return Err(Failure::runtime(
            "The parameters of events:putEvents must be an object with Entries",
        ));
    };
    if let Some(unknown) = p.keys().find(|k| k.as_str() != "Entries") {
        return Err(Failure::runtime(format!(
            "'{unknown}' is not a parameter of events:putEvents (it takes Entries)"
        )));
    }
    let entries = match p.get("Entries") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => {
            return Err(invalid("The parameter Entries is required"));
        }
        Some(_) => return Err(invalid("Entries must be a list of entries")),
    };
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(invalid(format!(
            "Entries has {} entries; PutEvents takes 1 to {MAX_ENTRIES}",
            entries.len()
        )));
    }
    let results: Vec<EntryResult> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| entry(call, i, e))
        .collect();
    let answer = put_entries(events, &results).await;
    if answer["FailedEntryCount"].as_u64().unwrap_or(0) > 0 {
        return Err(Failure::new("EventBridge.FailedEntry", answer.to_string()));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cirrus_asl::states::task::Pattern;

    fn call(payload: Value) -> TaskCall {
        TaskCall {
            execution_arn: "arn:aws:states:us-east-1:000000000000:execution:orders:run-1".into(),
            state: "Notify".into(),
            resource: "arn:aws:states:::events:putEvents".into(),
            pattern: Pattern::RequestResponse,
            payload,
            timeout_seconds: None,
            task_token: None,
            attempt: 0,
            idempotency_key: "arn:x/Notify/3".into(),
        }
    }

    #[test]
    fn an_entry_gets_the_execution_and_its_machine_as_resources() {
        let c = call(Value::Null);
        let e = json!({ "Detail": { "n": 1 }, "DetailType": "t", "Source": "s", "EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/orders", "Resources": ["r"] });
        let (bus, event) = entry(&c, 0, &e).unwrap();
        assert_eq!(bus, "orders");
        assert_eq!(event.data, Some(json!({ "n": 1 })));
        assert_eq!(
            event.extensions["resources"],
            json!([
                "r",
                "arn:aws:states:us-east-1:000000000000:execution:orders:run-1",
                "arn:aws:states:us-east-1:000000000000:stateMachine:orders"
            ])
        );
        // The same attempt puts the same ids; the next entry another.
        assert_eq!(entry(&c, 0, &e).unwrap().1.id, event.id);
        assert_ne!(entry(&c, 1, &e).unwrap().1.id, event.id);
    }

    #[test]
    fn bad_entries_are_named() {
        let c = call(Value::Null);
        let code = |e: Value| entry(&c, 2, &e).unwrap_err();
        assert_eq!(code(json!(1)).0, "InvalidArgument");
        assert_eq!(
            code(json!({ "Detail": {}, "DetailType": "t" })).1,
            "Parameter Source is not valid. Reason: Source is a required argument."
        );
        assert_eq!(
            code(json!({ "Detail": [1], "DetailType": "t", "Source": "s" })).0,
            "MalformedDetail"
        );
        assert!(
            code(json!({ "Detail": {}, "DetailType": "t", "Source": "s", "Bus": "x" }))
                .1
                .contains("'Bus'")
        );
    }
}
