//! Activities and task tokens over the AWS protocol.

use cirrus_engine::{Engine, EngineError, arn};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Body, epoch, invalid_token};

fn activity_arn(b: &Body) -> Result<&str, ApiError> {
    let a = b.str("activityArn")?;
    if !arn::is_activity_arn(a) {
        return Err(EngineError::InvalidArn(format!("Invalid Arn: '{a}'")).into());
    }
    Ok(a)
}

pub(super) async fn create(e: &Engine, b: &Body) -> ApiResult {
    let a = e.create_activity(b.str("name")?).await?;
    Ok(json!({ "activityArn": a.arn, "creationDate": epoch(a.created_ms) }))
}

pub(super) async fn describe(e: &Engine, b: &Body) -> ApiResult {
    let a = e.activity(activity_arn(b)?).await?;
    Ok(json!({ "activityArn": a.arn, "name": a.name, "creationDate": epoch(a.created_ms) }))
}

pub(super) async fn list(e: &Engine, b: &Body) -> ApiResult {
    let limit = b.max_results(100)?;
    let after = b.opt_str("nextToken")?;
    if let Some(t) = after
        && !arn::is_activity_arn(t)
    {
        return Err(invalid_token(t));
    }
    let mut page = e.activities(after, limit + 1).await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let items: Vec<Value> = page
        .iter()
        .map(|a| json!({ "activityArn": a.arn, "name": a.name, "creationDate": epoch(a.created_ms) }))
        .collect();
    let mut out = json!({ "activities": items });
    if more && let Some(last) = page.last() {
        out["nextToken"] = json!(last.arn);
    }
    Ok(out)
}

pub(super) async fn delete(e: &Engine, b: &Body) -> ApiResult {
    e.delete_activity(activity_arn(b)?).await?;
    Ok(json!({}))
}

pub(super) async fn get_task(e: &Engine, b: &Body) -> ApiResult {
    let worker = b.opt_str("workerName")?.unwrap_or("");
    match e.get_activity_task(activity_arn(b)?, worker).await? {
        Some(t) => Ok(json!({ "taskToken": t.token, "input": t.input })),
        // AWS answers an empty poll with no token.
        None => Ok(json!({})),
    }
}

pub(super) async fn success(e: &Engine, b: &Body) -> ApiResult {
    e.send_task_success(b.str("taskToken")?, b.str("output")?)
        .await?;
    Ok(json!({}))
}

pub(super) async fn failure(e: &Engine, b: &Body) -> ApiResult {
    e.send_task_failure(
        b.str("taskToken")?,
        b.opt_str("error")?.map(str::to_owned),
        b.opt_str("cause")?.map(str::to_owned),
    )
    .await?;
    Ok(json!({}))
}

pub(super) async fn heartbeat(e: &Engine, b: &Body) -> ApiResult {
    e.send_task_heartbeat(b.str("taskToken")?).await?;
    Ok(json!({}))
}
