//! `GetExecutionHistory`: events in AWS's shape (`{timestamp, type, id, previousEventId,
//! <kind>EventDetails}`), paged forwards or backwards.

use cirrus_engine::Engine;
use cirrus_store::HistoryEvent;
use serde_json::{Map, Value, json};

use super::{ApiResult, Body, epoch, invalid_token};

/// The key AWS puts an event's details under: `stateEnteredEventDetails` for every
/// `…StateEntered`, `stateExitedEventDetails` for every `…StateExited`, otherwise the
/// type in lower camel case followed by `EventDetails`.
pub(crate) fn details_key(kind: &str) -> String {
    if kind.ends_with("StateEntered") {
        return "stateEnteredEventDetails".into();
    }
    if kind.ends_with("StateExited") {
        return "stateExitedEventDetails".into();
    }
    let mut chars = kind.chars();
    let first = chars.next().map(|c| c.to_ascii_lowercase());
    format!(
        "{}{}EventDetails",
        first.map(String::from).unwrap_or_default(),
        chars.as_str()
    )
}

/// Shapes an event's details as AWS does for its kind: service tasks name their
/// `resourceType` (`lambda`), `resource` (`invoke`) and `region`; Lambda and activity
/// events carry `input` rather than `parameters`, and no resource once scheduled.
fn aws_details(kind: &str, d: &mut Map<String, Value>, region: &str) {
    if kind.starts_with("Task") && !kind.contains("State") {
        if let Some(Value::String(r)) = d.get("resource")
            && let Some(rest) = r.strip_prefix("arn:aws:states:::")
            && let Some((service, action)) = rest.split_once(':')
        {
            let (service, action) = (service.to_owned(), action.to_owned());
            d.insert("resourceType".into(), json!(service));
            d.insert("resource".into(), json!(action));
            if kind == "TaskScheduled" {
                d.insert("region".into(), json!(region));
            }
        }
        return;
    }
    if kind.starts_with("LambdaFunction") || kind.starts_with("Activity") {
        if let Some(p) = d.remove("parameters") {
            d.insert("input".into(), p);
        }
        if !kind.ends_with("Scheduled") {
            d.remove("resource");
        }
    }
}

/// One event as `GetExecutionHistory` returns it.
pub(crate) fn event_value(h: &HistoryEvent, include_data: bool, region: &str) -> Value {
    let mut v = json!({
        "timestamp": epoch(h.timestamp_ms),
        "type": h.kind,
        "id": h.id,
        "previousEventId": h.previous_id,
    });
    if let Ok(Value::Object(mut d)) = serde_json::from_str::<Value>(&h.details) {
        d.retain(|_, v| !v.is_null());
        if d.get("roleArn").is_some_and(|r| r == "") {
            d.remove("roleArn");
        }
        aws_details(&h.kind, &mut d, region);
        for (field, details) in [("input", "inputDetails"), ("output", "outputDetails")] {
            if d.contains_key(field) {
                if include_data {
                    d.insert(details.into(), json!({ "truncated": false }));
                } else {
                    d.remove(field);
                }
            }
        }
        if !d.is_empty() {
            v[details_key(&h.kind)] = Value::Object(d);
        }
    } else if !h.details.is_empty() {
        let mut d = Map::new();
        d.insert("raw".into(), json!(h.details));
        v[details_key(&h.kind)] = Value::Object(d);
    }
    v
}

pub(super) async fn get(e: &Engine, b: &Body) -> ApiResult {
    let arn = b.str("executionArn")?;
    let limit = b.max_results(100)? as u64;
    let reverse = b.opt_bool("reverseOrder")?;
    let include = match b.get("includeExecutionData") {
        Some(v) => v.as_bool().unwrap_or(true),
        None => true,
    };
    let x = e.execution(arn).await?;
    let count = x.event_count;
    let token = match b.opt_str("nextToken")? {
        Some(t) => Some(
            t.parse::<u64>()
                .ok()
                .filter(|n| *n >= 1 && *n <= count.max(1))
                .ok_or_else(|| invalid_token(t))?,
        ),
        None => None,
    };
    let (from, to, next) = if reverse {
        let hi = token.unwrap_or(count);
        let lo = hi.saturating_sub(limit - 1).max(1);
        (lo, hi, (lo > 1).then(|| lo - 1))
    } else {
        let lo = token.unwrap_or(1);
        let hi = lo.saturating_add(limit - 1);
        (lo, hi, (hi < count).then(|| hi + 1))
    };
    let mut events = e.history(arn, from, to).await?;
    if reverse {
        events.reverse();
    }
    let region = &e.config().partition.region;
    let list: Vec<Value> = events
        .iter()
        .map(|h| event_value(h, include, region))
        .collect();
    let mut out = json!({ "events": list });
    if let Some(n) = next {
        out["nextToken"] = json!(n.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_tasks_name_their_type_resource_and_region() {
        let h = HistoryEvent {
            id: 5,
            previous_id: 4,
            timestamp_ms: 0,
            kind: "TaskScheduled".into(),
            details: json!({"resource": "arn:aws:states:::lambda:invoke", "parameters": "{}"})
                .to_string(),
        };
        let v = event_value(&h, true, "eu-west-1");
        let d = &v["taskScheduledEventDetails"];
        assert_eq!(
            (&d["resourceType"], &d["resource"], &d["region"]),
            (&json!("lambda"), &json!("invoke"), &json!("eu-west-1"))
        );
        let h = HistoryEvent {
            kind: "ActivityScheduled".into(),
            details: json!({"resource": "arn:aws:states:r:1:activity:a", "parameters": "{}"})
                .to_string(),
            ..h
        };
        let v = event_value(&h, true, "eu-west-1");
        assert_eq!(v["activityScheduledEventDetails"]["input"], "{}");
        assert!(v["activityScheduledEventDetails"]["parameters"].is_null());
        // A callback task's delivery, as AWS shows it: the service's response as output.
        let submitted = HistoryEvent {
            kind: "TaskSubmitted".into(),
            details: json!({"resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "output": r#"{"MessageId":"m"}"#})
                .to_string(),
            ..h
        };
        let v = event_value(&submitted, true, "eu-west-1");
        assert_eq!(
            v["taskSubmittedEventDetails"],
            json!({
                "resourceType": "sqs",
                "resource": "sendMessage.waitForTaskToken",
                "output": r#"{"MessageId":"m"}"#,
                "outputDetails": {"truncated": false}
            })
        );
    }

    #[test]
    fn details_keys_follow_aws() {
        assert_eq!(details_key("TaskStateEntered"), "stateEnteredEventDetails");
        assert_eq!(details_key("PassStateExited"), "stateExitedEventDetails");
        assert_eq!(
            details_key("ExecutionStarted"),
            "executionStartedEventDetails"
        );
        assert_eq!(
            details_key("LambdaFunctionScheduled"),
            "lambdaFunctionScheduledEventDetails"
        );
        assert_eq!(
            details_key("MapIterationStarted"),
            "mapIterationStartedEventDetails"
        );
    }
}
