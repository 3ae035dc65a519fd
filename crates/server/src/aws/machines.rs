//! State machines, versions and aliases over the AWS protocol.

use cirrus_engine::arn::{self, MachineRef};
use cirrus_engine::registry::{MachineUpdate, NewMachine, Route};
use cirrus_engine::{Engine, EngineError};
use cirrus_store::{Alias, Machine, Version};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Body, epoch, invalid_token};

fn logging(m: Option<&str>) -> Value {
    m.and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| json!({ "level": "OFF", "includeExecutionData": false }))
}

fn machine_arn(b: &Body, field: &str) -> Result<String, ApiError> {
    let arn = b.str(field)?;
    match arn::machine_ref(arn) {
        Some(MachineRef::Machine { arn }) => Ok(arn),
        _ => Err(EngineError::InvalidArn(format!("Invalid Arn: '{arn}'")).into()),
    }
}

pub(super) fn describe_machine(m: &Machine) -> Value {
    let mut v = json!({
        "stateMachineArn": m.arn,
        "name": m.name,
        "status": "ACTIVE",
        "definition": m.definition,
        "roleArn": m.role_arn,
        "type": m.kind,
        "creationDate": epoch(m.created_ms),
        "loggingConfiguration": logging(m.logging.as_deref()),
        "tracingConfiguration": { "enabled": false },
        "revisionId": m.revision_id,
    });
    if !m.description.is_empty() {
        v["description"] = json!(m.description);
    }
    v
}

fn describe_version(m: &Machine, v: &Version) -> Value {
    let mut out = json!({
        "stateMachineArn": v.arn,
        "name": m.name,
        "status": "ACTIVE",
        "definition": v.definition,
        "roleArn": v.role_arn,
        "type": v.kind,
        "creationDate": epoch(v.created_ms),
        "loggingConfiguration": logging(m.logging.as_deref()),
        "tracingConfiguration": { "enabled": false },
        "revisionId": v.revision_id,
    });
    if !v.description.is_empty() {
        out["description"] = json!(v.description);
    }
    out
}

pub(super) async fn create(e: &Engine, b: &Body) -> ApiResult {
    let logging = b.get("loggingConfiguration").cloned();
    let (m, version) = e
        .create_machine(NewMachine {
            name: b.str("name")?.to_owned(),
            definition: b.str("definition")?.to_owned(),
            role_arn: b.str("roleArn")?.to_owned(),
            kind: b.opt_str("type")?.map(str::to_owned),
            description: None,
            logging,
            publish: b.opt_bool("publish")?,
            version_description: b.opt_str("versionDescription")?.map(str::to_owned),
        })
        .await?;
    let mut out = json!({ "stateMachineArn": m.arn, "creationDate": epoch(m.created_ms) });
    if let Some(v) = version {
        out["stateMachineVersionArn"] = json!(v.arn);
    }
    Ok(out)
}

pub(super) async fn update(e: &Engine, b: &Body) -> ApiResult {
    let arn = machine_arn(b, "stateMachineArn")?;
    let (m, version) = e
        .update_machine(
            &arn,
            MachineUpdate {
                definition: b.opt_str("definition")?.map(str::to_owned),
                role_arn: b.opt_str("roleArn")?.map(str::to_owned),
                logging: b.get("loggingConfiguration").cloned(),
                publish: b.opt_bool("publish")?,
                version_description: b.opt_str("versionDescription")?.map(str::to_owned),
            },
        )
        .await?;
    let mut out = json!({ "updateDate": epoch(m.updated_ms), "revisionId": m.revision_id });
    if let Some(v) = version {
        out["stateMachineVersionArn"] = json!(v.arn);
    }
    Ok(out)
}

pub(super) async fn describe(e: &Engine, b: &Body) -> ApiResult {
    let target = b.str("stateMachineArn")?;
    match arn::machine_ref(target) {
        Some(MachineRef::Machine { arn }) => Ok(describe_machine(&e.machine(&arn).await?)),
        Some(MachineRef::Version { machine_arn, .. }) => {
            let m = e.machine(&machine_arn).await?;
            let v = e
                .version(target)
                .await
                .map_err(|_| EngineError::StateMachineDoesNotExist(target.to_owned()))?;
            Ok(describe_version(&m, &v))
        }
        _ => Err(EngineError::InvalidArn(format!("Invalid Arn: '{target}'")).into()),
    }
}

pub(super) async fn list(e: &Engine, b: &Body) -> ApiResult {
    let limit = b.max_results(100)?;
    let after = b.opt_str("nextToken")?;
    if let Some(t) = after
        && !matches!(arn::machine_ref(t), Some(MachineRef::Machine { .. }))
    {
        return Err(invalid_token(t));
    }
    let mut page = e.machines(after, limit + 1).await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let items: Vec<Value> = page
        .iter()
        .map(|m| {
            json!({
                "stateMachineArn": m.arn,
                "name": m.name,
                "type": m.kind,
                "creationDate": epoch(m.created_ms),
            })
        })
        .collect();
    let mut out = json!({ "stateMachines": items });
    if more && let Some(last) = page.last() {
        out["nextToken"] = json!(last.arn);
    }
    Ok(out)
}

pub(super) async fn delete(e: &Engine, b: &Body) -> ApiResult {
    let target = b.str("stateMachineArn")?;
    match arn::machine_ref(target) {
        Some(MachineRef::Machine { arn }) => e.delete_machine(&arn).await?,
        Some(MachineRef::Version { .. }) => e.delete_version(target).await?,
        Some(MachineRef::Alias { .. }) => e.delete_alias(target).await?,
        None => return Err(EngineError::InvalidArn(format!("Invalid Arn: '{target}'")).into()),
    }
    Ok(json!({}))
}

pub(super) fn validate(b: &Body) -> ApiResult {
    let definition = b.str("definition")?;
    let max = b.max_results(100)?;
    let diagnostics: Vec<Value> = match cirrus_asl::StateMachine::parse(definition) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|d| {
                json!({
                    "severity": "ERROR",
                    "code": d.code,
                    "message": d.message,
                    "location": d.location,
                })
            })
            .collect(),
    };
    let truncated = diagnostics.len() > max;
    let result = if diagnostics.is_empty() { "OK" } else { "FAIL" };
    let diagnostics: Vec<Value> = diagnostics.into_iter().take(max).collect();
    Ok(json!({ "result": result, "diagnostics": diagnostics, "truncated": truncated }))
}

pub(super) async fn publish(e: &Engine, b: &Body) -> ApiResult {
    let arn = machine_arn(b, "stateMachineArn")?;
    let v = e
        .publish_version(
            &arn,
            b.opt_str("description")?.map(str::to_owned),
            b.opt_str("revisionId")?.map(str::to_owned),
        )
        .await?;
    Ok(json!({ "creationDate": epoch(v.created_ms), "stateMachineVersionArn": v.arn }))
}

pub(super) async fn versions(e: &Engine, b: &Body) -> ApiResult {
    let arn = machine_arn(b, "stateMachineArn")?;
    let limit = b.max_results(100)?;
    let skip = match b.opt_str("nextToken")? {
        Some(t) => t.parse::<usize>().map_err(|_| invalid_token(t))?,
        None => 0,
    };
    let all = e.versions(&arn).await?;
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(limit)
        .map(|v| json!({ "stateMachineVersionArn": v.arn, "creationDate": epoch(v.created_ms) }))
        .collect();
    let mut out = json!({ "stateMachineVersions": page });
    if skip + limit < all.len() {
        out["nextToken"] = json!((skip + limit).to_string());
    }
    Ok(out)
}

pub(super) async fn delete_version(e: &Engine, b: &Body) -> ApiResult {
    e.delete_version(b.str("stateMachineVersionArn")?).await?;
    Ok(json!({}))
}

fn routes(b: &Body) -> Result<Option<Vec<Route>>, ApiError> {
    let Some(v) = b.get("routingConfiguration") else {
        return Ok(None);
    };
    let list = v
        .as_array()
        .ok_or_else(|| ApiError::validation("routingConfiguration must be a list"))?;
    list.iter()
        .map(|r| {
            let version_arn = r
                .get("stateMachineVersionArn")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::validation("each route needs a stateMachineVersionArn"))?;
            let weight = r
                .get("weight")
                .and_then(Value::as_u64)
                .filter(|w| *w <= 100)
                .ok_or_else(|| ApiError::validation("each route needs a weight from 0 to 100"))?;
            Ok(Route {
                version_arn: version_arn.to_owned(),
                weight: weight as u32,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn describe_alias_value(a: &Alias) -> Value {
    let routing: Value = serde_json::from_str(&a.routing).unwrap_or(json!([]));
    let mut v = json!({
        "stateMachineAliasArn": a.arn,
        "name": a.name,
        "routingConfiguration": routing,
        "creationDate": epoch(a.created_ms),
        "updateDate": epoch(a.updated_ms),
    });
    if !a.description.is_empty() {
        v["description"] = json!(a.description);
    }
    v
}

pub(super) async fn create_alias(e: &Engine, b: &Body) -> ApiResult {
    let routing =
        routes(b)?.ok_or_else(|| ApiError::validation("routingConfiguration is required"))?;
    let a = e
        .create_alias(
            b.str("name")?,
            b.opt_str("description")?.map(str::to_owned),
            &routing,
        )
        .await?;
    Ok(json!({ "stateMachineAliasArn": a.arn, "creationDate": epoch(a.created_ms) }))
}

pub(super) async fn describe_alias(e: &Engine, b: &Body) -> ApiResult {
    Ok(describe_alias_value(
        &e.alias(b.str("stateMachineAliasArn")?).await?,
    ))
}

pub(super) async fn update_alias(e: &Engine, b: &Body) -> ApiResult {
    let routing = routes(b)?;
    let a = e
        .update_alias(
            b.str("stateMachineAliasArn")?,
            b.opt_str("description")?.map(str::to_owned),
            routing.as_deref(),
        )
        .await?;
    Ok(json!({ "updateDate": epoch(a.updated_ms) }))
}

pub(super) async fn delete_alias(e: &Engine, b: &Body) -> ApiResult {
    e.delete_alias(b.str("stateMachineAliasArn")?).await?;
    Ok(json!({}))
}

pub(super) async fn aliases(e: &Engine, b: &Body) -> ApiResult {
    let arn = machine_arn(b, "stateMachineArn")?;
    let list: Vec<Value> = e
        .aliases(&arn)
        .await?
        .iter()
        .map(|a| json!({ "stateMachineAliasArn": a.arn, "creationDate": epoch(a.created_ms) }))
        .collect();
    Ok(json!({ "stateMachineAliases": list }))
}

pub(super) async fn for_execution(e: &Engine, b: &Body) -> ApiResult {
    let x = e.execution(b.str("executionArn")?).await?;
    let definition = e.definition_text(&x.definition_digest).await?;
    let m = e.machine(&x.machine_arn).await.ok();
    let mut out = json!({
        "stateMachineArn": x.version_arn.as_deref().unwrap_or(&x.machine_arn),
        "name": arn::machine_name(&x.machine_arn),
        "definition": definition,
        "roleArn": m.as_ref().map(|m| m.role_arn.clone()).unwrap_or_default(),
        "updateDate": epoch(m.as_ref().map_or(x.start_ms, |m| m.updated_ms)),
        "loggingConfiguration": logging(m.as_ref().and_then(|m| m.logging.as_deref())),
        "tracingConfiguration": { "enabled": false },
    });
    if let Some(a) = &x.alias_arn {
        out["stateMachineAliasArn"] = json!(a);
    }
    if let Some(v) = &x.version_arn {
        out["stateMachineVersionArn"] = json!(v);
    }
    Ok(out)
}
