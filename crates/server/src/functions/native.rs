//! The native `/v1` routes for functions and user routes (behind the node's bearer token):
//!
//! - `GET /v1/functions`; `PUT /v1/functions/{name}` deploys (creates, or updates code and
//!   configuration; unchanged deploys change nothing): `code` (base64), `publish`, and the
//!   fields of the stored configuration by their own names, among them `event_invoke`
//!   (`{"on_success", "on_failure", "maximum_retry_attempts",
//!   "maximum_event_age_seconds"}`, replaced as a whole); `GET`/`DELETE
//!   /v1/functions/{name}`;
//! - `POST /v1/functions/{name}/invoke` (`?qualifier=`, `?async=true`);
//! - `POST /v1/functions/{name}/versions`; `PUT /v1/functions/{name}/aliases/{alias}`;
//! - `GET /v1/functions/{name}/logs?after=SEQ&wait=SECONDS` (long-polls for new records);
//! - `GET /v1/functions/{name}/dead-letters`;
//! - `GET`/`PUT /v1/routes` (`{"route": "POST /orders", "function": NAME, "qualifier"}`
//!   or `{"route", "workflow": NAME}`), `DELETE /v1/routes?route=KEY`;
//! - `GET /v1/secrets` (names only), `PUT`/`DELETE /v1/secrets/{name}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use cirrus_runtime::{Payload, Reply};
use cirrus_store::{FunctionAlias, Page, Route, RouteTarget};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::config::FunctionConfig;
use super::{FnError, Functions, alias_json, parse_config};
use crate::native::NativeError;
use crate::{Node, read_body};

impl From<FnError> for NativeError {
    fn from(e: FnError) -> Self {
        if matches!(e, FnError::Service(_)) {
            tracing::error!(err = %e, "request failed inside the node");
        }
        NativeError::new(e.status(), e.aws_name(), e.to_string())
    }
}

type Handled = Result<Response, NativeError>;
type Params = Query<HashMap<String, String>>;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/functions", get(list))
        .route(
            "/functions/{name}",
            put(deploy).get(describe).delete(delete),
        )
        .route("/functions/{name}/invoke", post(invoke))
        .route("/functions/{name}/versions", post(publish))
        .route("/functions/{name}/aliases/{alias}", put(put_alias))
        .route("/functions/{name}/logs", get(logs))
        .route("/functions/{name}/dead-letters", get(dead_letters))
        .route("/functions/{name}/code", get(code))
        .route(
            "/routes",
            get(list_routes).put(put_route).delete(delete_route),
        )
        .route("/logs", get(all_logs))
        .route("/secrets", get(list_secrets))
        .route("/secrets/{name}", put(put_secret).delete(delete_secret))
}

fn ok(v: Value) -> Handled {
    Ok(axum::Json(v).into_response())
}

/// The body as a JSON object, up to `limit` bytes (deploys carry code, so the limit is
/// per route rather than the node's).
async fn body_map(body: Body, limit: usize) -> Result<Map<String, Value>, NativeError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        NativeError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            format!("the request body is larger than {limit} bytes"),
        )
    })?;
    crate::native::json_object(&bytes)
}

/// The view of a function: its configuration, versions, aliases and live pools.
async fn view(f: &Functions, name: &str) -> Result<Value, NativeError> {
    let func = f.function(name).await?;
    let cfg = parse_config(&func.config)?;
    let versions: Vec<Value> = f
        .store()
        .function_versions(name)
        .await
        .map_err(FnError::from)?
        .iter()
        .map(|v| json!({ "version": v.number.to_string(), "codeSha256": parse_config(&v.config).map(|c| c.code_sha256).unwrap_or_default() }))
        .collect();
    let aliases: Vec<Value> = f
        .store()
        .function_aliases(name)
        .await
        .map_err(FnError::from)?
        .iter()
        .map(|a| alias_json(f, a))
        .collect();
    let pools: Vec<Value> = f
        .pools()
        .stats()
        .into_iter()
        .filter(|s| s.function == name)
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
        .collect();
    Ok(json!({
        "name": name,
        "arn": f.function_arn(name),
        "revisionId": func.revision_id,
        "config": cfg,
        "versions": versions,
        "aliases": aliases,
        "pools": pools,
    }))
}

async fn list(State(node): State<Arc<Node>>, Query(q): Params) -> Handled {
    let f = &node.functions;
    let page = f
        .store()
        .functions(Page {
            after: q.get("after").map(String::as_str),
            limit: 1000,
        })
        .await
        .map_err(FnError::from)?;
    let stats = f.pools().stats();
    let items: Vec<Value> = page
        .iter()
        .map(|func| {
            let cfg = parse_config(&func.config).unwrap_or_default();
            let instances: u32 = stats
                .iter()
                .filter(|s| s.function == func.name)
                .map(|s| s.instances)
                .sum();
            json!({
                "name": func.name,
                "runtime": cfg.runtime,
                "handler": cfg.handler,
                "memoryMb": cfg.memory_mb,
                "timeoutSeconds": cfg.timeout_seconds,
                "codeSize": cfg.code_size,
                "instances": instances,
                "lastModified": cfg.last_modified,
            })
        })
        .collect();
    ok(json!({ "functions": items }))
}

async fn describe(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Handled {
    ok(view(&node.functions, &name).await?)
}

async fn delete(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Handled {
    node.functions.delete(&name, None).await?;
    node.functions.logs.forget(&name);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Reads the deploy body's configuration fields onto `config`, checking its destinations
/// (`event_invoke.on_success`, `event_invoke.on_failure`, `dead_letter_target`).
fn apply(
    f: &Functions,
    config: &mut FunctionConfig,
    b: &Map<String, Value>,
) -> Result<(), NativeError> {
    let mut current =
        serde_json::to_value(&*config).map_err(|e| NativeError::bad(e.to_string()))?;
    for (k, v) in b {
        if matches!(k.as_str(), "code" | "publish" | "routes") {
            continue;
        }
        let known = current.get(k).is_some()
            || matches!(k.as_str(), "reserved_concurrency" | "dead_letter_target");
        if !known || matches!(k.as_str(), "code_size" | "code_sha256" | "last_modified") {
            return Err(NativeError::bad(format!("'{k}' is not a function setting")));
        }
        current[k] = v.clone();
    }
    *config = serde_json::from_value(current)
        .map_err(|e| NativeError::bad(format!("the function settings are invalid: {e}")))?;
    let e = &config.event_invoke;
    for target in [&e.on_success, &e.on_failure, &config.dead_letter_target]
        .into_iter()
        .flatten()
    {
        f.check_destination(target)?;
    }
    Ok(())
}

async fn deploy(State(node): State<Arc<Node>>, Path(name): Path<String>, body: Body) -> Handled {
    let f = &node.functions;
    // Code travels base64 in the body: allow a 50 MB package.
    let b = body_map(body, 70 * 1024 * 1024).await?;
    let code = match b.get("code") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            B64.decode(s.as_bytes())
                .map_err(|e| NativeError::bad(format!("'code' is not base64: {e}")))?,
        ),
        Some(_) => return Err(NativeError::bad("'code' must be base64 text")),
    };
    let publish = b.get("publish").and_then(Value::as_bool).unwrap_or(false);
    let existing = f.store().function(&name).await.map_err(FnError::from)?;
    let mut changed = false;
    match existing {
        None => {
            let Some(code) = code else {
                return Err(NativeError::bad(format!(
                    "'{name}' does not exist yet, so 'code' is required"
                )));
            };
            let mut cfg = FunctionConfig::default();
            apply(f, &mut cfg, &b)?;
            f.create(&name, cfg, &code, false).await?;
            changed = true;
        }
        Some(func) => {
            let current = parse_config(&func.config)?;
            if let Some(code) = code
                && super::code::digest_of_upload(&code, &current) != func.code_digest
            {
                let mut cfg = current.clone();
                apply(f, &mut cfg, &b)?;
                // The runtime may change with the code.
                f.update_code_and_config(&name, &code, cfg).await?;
                changed = true;
            } else {
                let mut cfg = current.clone();
                apply(f, &mut cfg, &b)?;
                let mut validated = cfg.clone();
                validated.validate().map_err(FnError::from)?;
                let mut normalised = current.clone();
                normalised.validate().map_err(FnError::from)?;
                if validated != normalised {
                    f.update_config(&name, cfg, None).await?;
                    changed = true;
                }
            }
        }
    }
    let mut v = view(f, &name).await?;
    if publish {
        let version = f.publish(&name, "", None).await?;
        v["publishedVersion"] = json!(version.number.to_string());
    }
    v["changed"] = json!(changed);
    ok(v)
}

async fn invoke(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    Query(q): Params,
    body: Body,
) -> Handled {
    let f = &node.functions;
    let payload = read_body(&node, body)
        .await
        .map_err(|(s, m)| NativeError::new(s, "RequestTooLargeException", m))?;
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        payload
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return Err(NativeError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "the payload is not valid JSON",
        ));
    }
    let qualifier = q.get("qualifier").map(String::as_str);
    if q.get("async").is_some_and(|v| v == "true" || v == "1") {
        let id = f.invoke_async(&name, qualifier, payload).await?;
        return Ok((StatusCode::ACCEPTED, axum::Json(json!({ "requestId": id }))).into_response());
    }
    let invoked = f
        .invoke(
            &name,
            qualifier,
            Payload::Event {
                body: payload,
                event_type: "cirrus.function.invoke".into(),
                source: "cirrus.cli".into(),
            },
            None,
            None,
        )
        .await?;
    let o = &invoked.outcome;
    let mut v = json!({
        "requestId": invoked.request_id,
        "version": invoked.version,
        "coldStart": o.cold_start,
        "durationMs": o.duration.as_secs_f64() * 1000.0,
        "logs": o.logs,
    });
    match &o.result {
        Ok(Reply::Event(b)) | Ok(Reply::Http(cirrus_runtime::HttpResponse { body: b, .. })) => {
            v["status"] = json!("ok");
            v["result"] = serde_json::from_slice(b)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()));
        }
        Err(e) => {
            v["status"] = json!("error");
            v["error"] = json!({
                "type": e.error_type,
                "message": e.message,
                "body": serde_json::from_slice::<Value>(&e.body).unwrap_or(Value::Null),
            });
        }
    }
    ok(v)
}

async fn publish(State(node): State<Arc<Node>>, Path(name): Path<String>, body: Body) -> Handled {
    let b = body_map(body, 64 * 1024).await?;
    let description = b.get("description").and_then(Value::as_str).unwrap_or("");
    let v = node.functions.publish(&name, description, None).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "version": v.number.to_string(), "revisionId": v.revision_id })),
    )
        .into_response())
}

async fn put_alias(
    State(node): State<Arc<Node>>,
    Path((name, alias)): Path<(String, String)>,
    body: Body,
) -> Handled {
    let f = &node.functions;
    let b = body_map(body, 64 * 1024).await?;
    let version = b
        .get("version")
        .and_then(Value::as_str)
        .ok_or_else(|| NativeError::bad("'version' is required"))?;
    let routing = match b.get("routing") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(v @ Value::Object(_)) => v.to_string(),
        Some(_) => return Err(NativeError::bad("'routing' must map versions to weights")),
    };
    let now = cirrus_engine::now_ms();
    let existing = f
        .store()
        .function_alias(&name, &alias)
        .await
        .map_err(FnError::from)?;
    let a = FunctionAlias {
        function: name.clone(),
        name: alias.clone(),
        version: version.to_owned(),
        routing,
        description: b
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        revision_id: cirrus_engine::uuid(),
        created_ms: existing.as_ref().map_or(now, |e| e.created_ms),
        updated_ms: now,
    };
    let a = f.put_alias(a, existing.is_none()).await?;
    ok(alias_json(f, &a))
}

/// Records after `after`, waiting up to `wait` seconds for the first new one.
async fn logs_of(node: &Node, function: Option<&str>, q: &HashMap<String, String>) -> Handled {
    let f = &node.functions;
    if let Some(name) = function {
        f.function(name).await?;
    }
    let after: u64 = q.get("after").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|s| s.parse().ok())
        .filter(|n| (1..=1000).contains(n))
        .unwrap_or(100);
    let wait: u64 = q
        .get("wait")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        .min(60);
    let mut rx = f.logs.follow();
    let fresh = |limit: usize| -> Vec<super::logs::LogRecord> {
        f.logs
            .recent(function, 1000)
            .into_iter()
            .filter(|r| r.seq > after)
            .take(limit)
            .collect()
    };
    let mut records = fresh(limit);
    if records.is_empty() && wait > 0 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(r)) if function.is_none_or(|n| r.function == n) => break,
                Ok(Ok(_)) => continue,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => break,
                _ => break,
            }
        }
        records = fresh(limit);
    }
    let next = records.last().map_or(after, |r| r.seq);
    ok(json!({ "records": records, "next": next }))
}

async fn logs(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Handled {
    logs_of(&node, Some(&name), &q).await
}

async fn all_logs(State(node): State<Arc<Node>>, Query(q): Params) -> Handled {
    logs_of(&node, None, &q).await
}

async fn dead_letters(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Handled {
    let limit = q
        .get("limit")
        .and_then(|s| s.parse().ok())
        .filter(|n| (1..=1000).contains(n))
        .unwrap_or(100);
    let letters = node
        .functions
        .store()
        .dead_letters(Some(&name), limit)
        .await
        .map_err(FnError::from)?;
    let items: Vec<Value> = letters
        .iter()
        .map(|d| {
            let i = &d.invocation;
            json!({
                "requestId": i.id,
                "function": i.function,
                "qualifier": i.qualifier,
                "reason": d.reason,
                "attempts": i.attempts,
                "payload": serde_json::from_slice::<Value>(&i.payload)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&i.payload).into_owned())),
                "lastError": i.last_error.as_deref().map(|e| serde_json::from_str::<Value>(e).unwrap_or(Value::String(e.to_owned()))),
                "failedMs": d.failed_ms,
                "createdMs": i.created_ms,
            })
        })
        .collect();
    ok(json!({ "deadLetters": items }))
}

async fn code(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Handled {
    let f = &node.functions;
    let func = f.function(&name).await?;
    let bytes = f
        .store()
        .code(&func.code_digest)
        .await
        .map_err(FnError::from)?
        .ok_or_else(|| FnError::Service(format!("the code of {name} is missing")))?;
    Ok((
        [(http::header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response())
}

async fn list_routes(State(node): State<Arc<Node>>) -> Handled {
    let routes = node
        .functions
        .store()
        .routes()
        .await
        .map_err(FnError::from)?;
    let items: Vec<Value> = routes.iter().map(route_json).collect();
    ok(json!({ "routes": items }))
}

/// A route as the API shows it: `{"route", "function", "qualifier"}` or
/// `{"route", "workflow"}`.
fn route_json(r: &Route) -> Value {
    match &r.target {
        RouteTarget::Function { name, qualifier } => {
            json!({ "route": r.route_key, "function": name, "qualifier": qualifier })
        }
        RouteTarget::Workflow { name } => json!({ "route": r.route_key, "workflow": name }),
    }
}

async fn put_route(State(node): State<Arc<Node>>, body: Body) -> Handled {
    let f = &node.functions;
    let b = body_map(body, 64 * 1024).await?;
    let key = b.get("route").and_then(Value::as_str).ok_or_else(|| {
        NativeError::bad("'route' is required (for example \"GET /orders/{id}\")")
    })?;
    super::routes::parse_route_key(key).map_err(NativeError::bad)?;
    if let Some(unknown) = b
        .keys()
        .find(|k| !matches!(k.as_str(), "route" | "function" | "qualifier" | "workflow"))
    {
        return Err(NativeError::bad(format!(
            "'{unknown}' is not a field of a route (route, function, qualifier, workflow)"
        )));
    }
    let name_of = |field: &str| match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.as_str())),
        Some(_) => Err(NativeError::bad(format!(
            "'{field}' must be a name (a non-empty string)"
        ))),
    };
    let target = match (name_of("function")?, name_of("workflow")?) {
        (Some(function), None) => {
            let (name, q) = f.parse_name(function)?;
            let qualifier = match name_of("qualifier")? {
                Some(q) => q.to_owned(),
                None => q.unwrap_or_else(|| "$LATEST".into()),
            };
            f.function(&name).await?;
            RouteTarget::Function { name, qualifier }
        }
        (None, Some(workflow)) => {
            if b.get("qualifier").is_some_and(|q| !q.is_null()) {
                return Err(NativeError::bad(
                    "'qualifier' is for function routes; a workflow route runs the state machine",
                ));
            }
            RouteTarget::Workflow {
                name: workflow_name(&node, workflow).await?,
            }
        }
        (Some(_), Some(_)) => {
            return Err(NativeError::bad(
                "a route runs either a 'function' or a 'workflow', not both",
            ));
        }
        (None, None) => {
            return Err(NativeError::bad(
                "'function' or 'workflow' is required (what the route runs)",
            ));
        }
    };
    let route = Route {
        route_key: key.to_owned(),
        target,
        created_ms: cirrus_engine::now_ms(),
    };
    f.store().put_route(&route).await.map_err(FnError::from)?;
    f.routes.reload(&**f.store()).await?;
    ok(route_json(&route))
}

/// The state machine a route names (by name or ARN), which must exist.
async fn workflow_name(node: &Node, given: &str) -> Result<String, NativeError> {
    let partition = &node.engine.config().partition;
    let arn = if given.starts_with("arn:") {
        match cirrus_engine::arn::machine_ref(given) {
            Some(cirrus_engine::arn::MachineRef::Machine { arn }) => arn,
            _ => {
                return Err(NativeError::bad(format!(
                    "'{given}' is not a state machine ARN (a route runs the state machine, not a version or alias)"
                )));
            }
        }
    } else {
        partition.machine(given)
    };
    match node.engine.machine(&arn).await {
        Ok(m) => Ok(m.name),
        Err(cirrus_engine::EngineError::StateMachineDoesNotExist(_)) => Err(NativeError::new(
            StatusCode::NOT_FOUND,
            "StateMachineDoesNotExist",
            format!("the workflow '{given}' does not exist"),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn delete_route(State(node): State<Arc<Node>>, Query(q): Params) -> Handled {
    let f = &node.functions;
    let key = q
        .get("route")
        .ok_or_else(|| NativeError::bad("'route' is required"))?;
    if !f.store().delete_route(key).await.map_err(FnError::from)? {
        return Err(NativeError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("no route '{key}'"),
        ));
    }
    f.routes.reload(&**f.store()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_secrets(State(node): State<Arc<Node>>) -> Handled {
    let items: Vec<Value> = node
        .functions
        .secrets
        .list()
        .into_iter()
        .map(|(name, ms)| json!({ "name": name, "updatedMs": ms }))
        .collect();
    ok(json!({ "secrets": items }))
}

async fn put_secret(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Body,
) -> Handled {
    let b = body_map(body, 128 * 1024).await?;
    let value = b
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| NativeError::bad("'value' is required, as a string"))?;
    node.functions.change_secret(&name, Some(value))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_secret(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Handled {
    if !node.functions.change_secret(&name, None)? {
        return Err(NativeError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("no secret '{name}'"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
