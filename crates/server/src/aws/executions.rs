//! Executions over the AWS protocol.

use std::time::Duration;

use cirrus_engine::arn::{self, MachineRef};
use cirrus_engine::run::StartRequest;
use cirrus_engine::{Engine, EngineError};
use cirrus_store::{Execution, ExecutionFilter};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Body, epoch, invalid_token};

/// How long `StartSyncExecution` waits (EXPRESS executions last at most five minutes).
const SYNC_WAIT: Duration = Duration::from_secs(330);

const STATUSES: &[&str] = &[
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "TIMED_OUT",
    "ABORTED",
    "PENDING_REDRIVE",
];

pub(crate) fn redrive_status(x: &Execution) -> (&'static str, Option<&'static str>) {
    match x.status.as_str() {
        "RUNNING" => (
            "NOT_REDRIVABLE",
            Some("Execution is RUNNING and cannot be redriven"),
        ),
        "SUCCEEDED" => (
            "NOT_REDRIVABLE",
            Some("Execution is SUCCEEDED and cannot be redriven"),
        ),
        _ if arn::is_express(&x.arn) => (
            "NOT_REDRIVABLE",
            Some("Execution of an EXPRESS state machine cannot be redriven"),
        ),
        _ => ("REDRIVABLE", None),
    }
}

/// `output` (with `outputDetails`), `error` and `cause`, where the execution has them.
fn outcome_fields(v: &mut Value, x: &Execution) {
    if let Some(o) = &x.output {
        v["output"] = json!(o);
        v["outputDetails"] = json!({ "included": true });
    }
    if let Some(e) = &x.error {
        v["error"] = json!(e);
    }
    if let Some(c) = &x.cause {
        v["cause"] = json!(c);
    }
}

pub(super) fn describe_value(x: &Execution) -> Value {
    let mut v = json!({
        "executionArn": x.arn,
        "stateMachineArn": x.machine_arn,
        "name": x.name,
        "status": x.status,
        "startDate": epoch(x.start_ms),
        "input": x.input,
        "inputDetails": { "included": true },
        "redriveCount": x.redrive_count,
    });
    if let Some(s) = x.stop_ms {
        v["stopDate"] = epoch(s);
    }
    outcome_fields(&mut v, x);
    if let Some(a) = &x.version_arn {
        v["stateMachineVersionArn"] = json!(a);
    }
    if let Some(a) = &x.alias_arn {
        v["stateMachineAliasArn"] = json!(a);
    }
    if let Some(r) = x.redrive_ms {
        v["redriveDate"] = epoch(r);
    }
    let (status, reason) = redrive_status(x);
    v["redriveStatus"] = json!(status);
    if let Some(r) = reason {
        v["redriveStatusReason"] = json!(r);
    }
    v
}

fn start_request(b: &Body) -> Result<StartRequest, ApiError> {
    Ok(StartRequest::new(
        b.str("stateMachineArn")?,
        b.opt_str("name")?.map(str::to_owned),
        b.opt_str("input")?.map(str::to_owned),
    ))
}

pub(super) async fn start(e: &Engine, b: &Body) -> ApiResult {
    let x = e.start_execution(start_request(b)?).await?;
    Ok(json!({ "executionArn": x.arn, "startDate": epoch(x.start_ms) }))
}

pub(super) async fn start_sync(e: &Engine, b: &Body) -> ApiResult {
    let req = start_request(b)?;
    let resolved = e.resolve(&req.target).await?;
    if resolved.machine.kind != "EXPRESS" {
        return Err(EngineError::StateMachineTypeNotSupported(
            "This operation is not supported by this type of state machine".into(),
        )
        .into());
    }
    let started = e.start_execution(req).await?;
    let x = e.wait(&started.arn, SYNC_WAIT).await?;
    let mut v = json!({
        "executionArn": x.arn,
        "stateMachineArn": x.version_arn.as_deref().unwrap_or(&x.machine_arn),
        "name": x.name,
        "startDate": epoch(x.start_ms),
        "stopDate": epoch(x.stop_ms.unwrap_or(x.start_ms)),
        "status": x.status,
        "input": x.input,
        "inputDetails": { "included": true },
        "billingDetails": {
            "billedMemoryUsedInMB": 64,
            "billedDurationInMilliseconds": x.stop_ms.unwrap_or(x.start_ms) - x.start_ms,
        },
    });
    outcome_fields(&mut v, &x);
    Ok(v)
}

pub(super) async fn describe(e: &Engine, b: &Body) -> ApiResult {
    Ok(describe_value(&e.execution(b.str("executionArn")?).await?))
}

pub(super) async fn list(e: &Engine, b: &Body) -> ApiResult {
    let limit = b.max_results(100)?;
    let status = b.opt_str("statusFilter")?;
    if let Some(s) = status
        && !STATUSES.contains(&s)
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{s}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            STATUSES.join(", ")
        )));
    }
    let target = b.str("stateMachineArn")?;
    let (machine_arn, version_arn) = match arn::machine_ref(target) {
        Some(MachineRef::Machine { arn }) => (arn, None),
        Some(MachineRef::Version { machine_arn, .. }) => (machine_arn, Some(target)),
        Some(MachineRef::Alias { machine_arn, .. }) => (machine_arn, None),
        None => return Err(EngineError::InvalidArn(format!("Invalid Arn: '{target}'")).into()),
    };
    e.machine(&machine_arn).await?;
    let token = b.opt_str("nextToken")?;
    let before = match token {
        Some(t) => {
            let (ms, arn) = t.split_once('|').ok_or_else(|| invalid_token(t))?;
            Some((ms.parse::<i64>().map_err(|_| invalid_token(t))?, arn))
        }
        None => None,
    };
    let mut page = e
        .executions(ExecutionFilter {
            machine_arn: Some(&machine_arn),
            version_arn,
            status,
            before,
            limit: limit + 1,
        })
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let items: Vec<Value> = page
        .iter()
        .map(|x| {
            let mut v = json!({
                "executionArn": x.arn,
                "stateMachineArn": x.machine_arn,
                "name": x.name,
                "status": x.status,
                "startDate": epoch(x.start_ms),
                "redriveCount": x.redrive_count,
            });
            if let Some(s) = x.stop_ms {
                v["stopDate"] = epoch(s);
            }
            if let Some(a) = &x.version_arn {
                v["stateMachineVersionArn"] = json!(a);
            }
            if let Some(a) = &x.alias_arn {
                v["stateMachineAliasArn"] = json!(a);
            }
            v
        })
        .collect();
    let mut out = json!({ "executions": items });
    if more && let Some(last) = page.last() {
        out["nextToken"] = json!(format!("{}|{}", last.start_ms, last.arn));
    }
    Ok(out)
}

pub(super) async fn stop(e: &Engine, b: &Body) -> ApiResult {
    let x = e
        .stop_execution(
            b.str("executionArn")?,
            b.opt_str("error")?.map(str::to_owned),
            b.opt_str("cause")?.map(str::to_owned),
        )
        .await?;
    Ok(json!({ "stopDate": epoch(x.stop_ms.unwrap_or_else(cirrus_engine::now_ms)) }))
}

pub(super) async fn redrive(e: &Engine, b: &Body) -> ApiResult {
    let x = e.redrive_execution(b.str("executionArn")?).await?;
    Ok(json!({ "redriveDate": epoch(x.redrive_ms.unwrap_or_else(cirrus_engine::now_ms)) }))
}
