//! The native JSON API under `/v1`: the same resources as the AWS protocol, addressed by
//! name in the path, with JSON values where AWS carries JSON text, RFC 3339 times, and a
//! bearer token. Errors are `{"error": {"code", "message"}}` with AWS's error names and
//! HTTP statuses that fit (404 for missing resources, 409 for conflicts). [`openapi`]
//! describes every route.

pub mod apps;
pub mod openapi;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use cirrus_asl::timestamp::Timestamp;
use cirrus_engine::EngineError;
use cirrus_engine::registry::{MachineUpdate, NewMachine, Route};
use cirrus_engine::run::StartRequest;
use cirrus_store::{Execution, ExecutionFilter, HistoryEvent, Machine};
use http::StatusCode;
use serde_json::{Value, json};

use crate::{Node, read_body};

/// An error of the native API.
pub struct NativeError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl NativeError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        NativeError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }
}

impl From<EngineError> for NativeError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::StateMachineDoesNotExist(_)
            | EngineError::ExecutionDoesNotExist(_)
            | EngineError::ActivityDoesNotExist(_)
            | EngineError::ResourceNotFound(_) => StatusCode::NOT_FOUND,
            EngineError::StateMachineAlreadyExists(_)
            | EngineError::ExecutionAlreadyExists(_)
            | EngineError::Conflict(_) => StatusCode::CONFLICT,
            e if e.is_client_error() => StatusCode::BAD_REQUEST,
            e => {
                tracing::error!(err = %e, "request failed inside the node");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        NativeError::new(status, e.aws_name(), e.to_string())
    }
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}

type Reply = Result<Response, NativeError>;

fn ok(v: Value) -> Reply {
    Ok(axum::Json(v).into_response())
}

fn created(v: Value) -> Reply {
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn no_content() -> Reply {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn time(ms: i64) -> Value {
    json!(Timestamp::from_unix_millis(ms).to_iso_millis())
}

/// JSON text as a JSON value (text that does not parse stays a string).
fn value_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

async fn json_body(node: &Node, body: Body) -> Result<serde_json::Map<String, Value>, NativeError> {
    let bytes = read_body(node, body)
        .await
        .map_err(|(s, m)| NativeError::new(s, "ValidationException", m))?;
    json_object(&bytes)
}

/// A request body as a JSON object (an empty body is an empty object).
pub(crate) fn json_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, NativeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(NativeError::bad("the request body must be a JSON object")),
        Err(e) => Err(NativeError::bad(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

fn field_str<'a>(
    b: &'a serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, NativeError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(NativeError::bad(format!("'{field}' must be a string"))),
    }
}

/// A definition given as a JSON object or as JSON text.
fn definition_text(b: &serde_json::Map<String, Value>) -> Result<Option<String>, NativeError> {
    match b.get("definition") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ Value::Object(_)) => Ok(Some(v.to_string())),
        Some(_) => Err(NativeError::bad(
            "'definition' must be an ASL object or its JSON text",
        )),
    }
}

fn machine_view(m: &Machine) -> Value {
    json!({
        "arn": m.arn,
        "name": m.name,
        "type": m.kind,
        "definition": value_of(&m.definition),
        "roleArn": m.role_arn,
        "revisionId": m.revision_id,
        "created": time(m.created_ms),
        "updated": time(m.updated_ms),
    })
}

pub(crate) fn execution_view(x: &Execution) -> Value {
    json!({
        "arn": x.arn,
        "stateMachineArn": x.machine_arn,
        "versionArn": x.version_arn,
        "aliasArn": x.alias_arn,
        "name": x.name,
        "status": x.status,
        "input": value_of(&x.input),
        "output": x.output.as_deref().map(value_of),
        "error": x.error,
        "cause": x.cause,
        "started": time(x.start_ms),
        "stopped": x.stop_ms.map(time),
        "redriveCount": x.redrive_count,
        "events": x.event_count,
    })
}

pub(crate) fn event_view(h: &HistoryEvent) -> Value {
    json!({
        "id": h.id,
        "previousId": h.previous_id,
        "time": time(h.timestamp_ms),
        "type": h.kind,
        "details": value_of(&h.details),
    })
}

fn machine_arn(node: &Node, name: &str) -> String {
    node.engine.config().partition.machine(name)
}

/// Requires `Authorization: Bearer <the node's token>`.
async fn authorize(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), node.credentials.token.as_bytes()) {
        return NativeError::new(
            StatusCode::UNAUTHORIZED,
            "UnrecognizedClientException",
            "a valid bearer token is required (see `cirrus env` or credentials.json in the node's data directory)",
        )
        .into_response();
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn routes(node: Arc<Node>) -> Router<Arc<Node>> {
    Router::new()
        .route("/state-machines", get(list_machines).post(create_machine))
        .route(
            "/state-machines/{name}",
            get(describe_machine)
                .put(update_machine)
                .delete(delete_machine),
        )
        .route(
            "/state-machines/{name}/versions",
            get(list_versions).post(publish_version),
        )
        .route("/state-machines/{name}/aliases", get(list_aliases))
        .route(
            "/state-machines/{name}/aliases/{alias}",
            put(put_alias).get(describe_alias).delete(delete_alias),
        )
        .route("/state-machines/{name}/executions", post(start_execution))
        .route("/executions", get(list_executions))
        .route("/executions/{arn}", get(describe_execution))
        .route("/executions/{arn}/stop", post(stop_execution))
        .route("/executions/{arn}/redrive", post(redrive_execution))
        .route("/executions/{arn}/history", get(history))
        .route("/activities", get(list_activities).post(create_activity))
        .route(
            "/activities/{name}",
            get(describe_activity).delete(delete_activity),
        )
        .route("/activities/{name}/poll", post(poll_activity))
        .route("/tasks/success", post(task_success))
        .route("/tasks/failure", post(task_failure))
        .route("/tasks/heartbeat", post(task_heartbeat))
        .route("/validate", post(validate))
        .route(
            "/events",
            get(events).post(crate::events::native::put_events),
        )
        .merge(crate::functions::native::routes())
        .merge(crate::events::native::routes())
        .merge(apps::routes())
        .merge(crate::events::queues_native::routes())
        .merge(crate::events::mappings_api::routes())
        .layer(middleware::from_fn_with_state(node, authorize))
}

type Params = Query<HashMap<String, String>>;

fn limit_of(q: &HashMap<String, String>, default: usize) -> Result<usize, NativeError> {
    match q.get("limit") {
        None => Ok(default),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| NativeError::bad("'limit' must be a number from 1 to 1000")),
    }
}

async fn list_machines(State(node): State<Arc<Node>>, Query(q): Params) -> Reply {
    let limit = limit_of(&q, 100)?;
    let mut page = node
        .engine
        .machines(q.get("after").map(String::as_str), limit + 1)
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more.then(|| page.last().map(|m| m.arn.clone())).flatten();
    let items: Vec<Value> = page
        .iter()
        .map(|m| json!({ "arn": m.arn, "name": m.name, "type": m.kind, "created": time(m.created_ms) }))
        .collect();
    ok(json!({ "stateMachines": items, "next": next }))
}

async fn create_machine(State(node): State<Arc<Node>>, body: Body) -> Reply {
    let b = json_body(&node, body).await?;
    let name = field_str(&b, "name")?.ok_or_else(|| NativeError::bad("'name' is required"))?;
    let definition =
        definition_text(&b)?.ok_or_else(|| NativeError::bad("'definition' is required"))?;
    let role = field_str(&b, "roleArn")?
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "arn:aws:iam::{}:role/cirrus",
                node.engine.config().partition.account
            )
        });
    let (m, version) = node
        .engine
        .create_machine(NewMachine {
            name: name.to_owned(),
            definition,
            role_arn: role,
            kind: field_str(&b, "type")?.map(str::to_owned),
            description: field_str(&b, "description")?.map(str::to_owned),
            logging: None,
            publish: b.get("publish").and_then(Value::as_bool).unwrap_or(false),
            version_description: None,
        })
        .await?;
    let mut v = machine_view(&m);
    v["versionArn"] = json!(version.map(|v| v.arn));
    created(v)
}

async fn describe_machine(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    ok(machine_view(
        &node.engine.machine(&machine_arn(&node, &name)).await?,
    ))
}

async fn update_machine(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Body,
) -> Reply {
    let b = json_body(&node, body).await?;
    let (m, version) = node
        .engine
        .update_machine(
            &machine_arn(&node, &name),
            MachineUpdate {
                definition: definition_text(&b)?,
                role_arn: field_str(&b, "roleArn")?.map(str::to_owned),
                logging: None,
                publish: b.get("publish").and_then(Value::as_bool).unwrap_or(false),
                version_description: None,
            },
        )
        .await?;
    let mut v = machine_view(&m);
    v["versionArn"] = json!(version.map(|v| v.arn));
    ok(v)
}

async fn delete_machine(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    node.engine
        .delete_machine(&machine_arn(&node, &name))
        .await?;
    no_content()
}

async fn publish_version(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Body,
) -> Reply {
    let b = json_body(&node, body).await?;
    let v = node
        .engine
        .publish_version(
            &machine_arn(&node, &name),
            field_str(&b, "description")?.map(str::to_owned),
            field_str(&b, "revisionId")?.map(str::to_owned),
        )
        .await?;
    created(
        json!({ "arn": v.arn, "version": v.number, "revisionId": v.revision_id, "created": time(v.created_ms) }),
    )
}

async fn list_versions(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    let items: Vec<Value> = node
        .engine
        .versions(&machine_arn(&node, &name))
        .await?
        .iter()
        .map(|v| json!({ "arn": v.arn, "version": v.number, "revisionId": v.revision_id, "description": v.description, "created": time(v.created_ms) }))
        .collect();
    ok(json!({ "versions": items }))
}

fn alias_view(a: &cirrus_store::Alias) -> Value {
    json!({
        "arn": a.arn,
        "name": a.name,
        "description": a.description,
        "routing": value_of(&a.routing),
        "created": time(a.created_ms),
        "updated": time(a.updated_ms),
    })
}

async fn put_alias(
    State(node): State<Arc<Node>>,
    Path((name, alias)): Path<(String, String)>,
    body: Body,
) -> Reply {
    let b = json_body(&node, body).await?;
    let m = machine_arn(&node, &name);
    let routes = b
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            NativeError::bad("'versions' is required: [{\"version\": 1, \"weight\": 100}]")
        })?
        .iter()
        .map(|r| {
            let n = r.get("version").and_then(Value::as_u64).ok_or_else(|| {
                NativeError::bad("each entry of 'versions' needs a 'version' number")
            })?;
            let weight = r.get("weight").and_then(Value::as_u64).unwrap_or(100);
            Ok(Route {
                version_arn: format!("{m}:{n}"),
                weight: u32::try_from(weight).unwrap_or(u32::MAX),
            })
        })
        .collect::<Result<Vec<_>, NativeError>>()?;
    let alias_arn = format!("{m}:{alias}");
    let description = field_str(&b, "description")?.map(str::to_owned);
    let a = match node.engine.alias(&alias_arn).await {
        Ok(_) => {
            node.engine
                .update_alias(&alias_arn, description, Some(&routes))
                .await?
        }
        Err(_) => {
            node.engine
                .create_alias(&alias, description, &routes)
                .await?
        }
    };
    ok(alias_view(&a))
}

async fn describe_alias(
    State(node): State<Arc<Node>>,
    Path((name, alias)): Path<(String, String)>,
) -> Reply {
    let arn = format!("{}:{alias}", machine_arn(&node, &name));
    ok(alias_view(&node.engine.alias(&arn).await?))
}

async fn list_aliases(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    let items: Vec<Value> = node
        .engine
        .aliases(&machine_arn(&node, &name))
        .await?
        .iter()
        .map(alias_view)
        .collect();
    ok(json!({ "aliases": items }))
}

async fn delete_alias(
    State(node): State<Arc<Node>>,
    Path((name, alias)): Path<(String, String)>,
) -> Reply {
    let arn = format!("{}:{alias}", machine_arn(&node, &name));
    node.engine.delete_alias(&arn).await?;
    no_content()
}

async fn start_execution(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Body,
) -> Reply {
    let b = json_body(&node, body).await?;
    let mut target = machine_arn(&node, &name);
    match (b.get("version"), field_str(&b, "alias")?) {
        (Some(_), Some(_)) => return Err(NativeError::bad("give 'version' or 'alias', not both")),
        (Some(v), None) => {
            let n = v
                .as_u64()
                .ok_or_else(|| NativeError::bad("'version' must be a version number"))?;
            target = format!("{target}:{n}");
        }
        (None, Some(a)) => target = format!("{target}:{a}"),
        (None, None) => {}
    }
    let input = b.get("input").map(Value::to_string);
    let wait = match b.get("wait") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(Duration::from_secs(3600)),
        Some(v) => Some(Duration::from_secs_f64(
            v.as_f64()
                .filter(|s| *s >= 0.0 && *s <= 86_400.0)
                .ok_or_else(|| {
                    NativeError::bad("'wait' must be true or a number of seconds up to 86400")
                })?,
        )),
    };
    let x = node
        .engine
        .start_execution(StartRequest::new(
            target,
            field_str(&b, "name")?.map(str::to_owned),
            input,
        ))
        .await?;
    let x = match wait {
        Some(d) => node.engine.wait(&x.arn, d).await?,
        None => x,
    };
    created(execution_view(&x))
}

async fn list_executions(State(node): State<Arc<Node>>, Query(q): Params) -> Reply {
    let limit = limit_of(&q, 100)?;
    let machine = q.get("stateMachine").map(|n| {
        if n.starts_with("arn:") {
            n.clone()
        } else {
            machine_arn(&node, n)
        }
    });
    let before = match q.get("after") {
        Some(t) => {
            let (ms, arn) = t
                .split_once('|')
                .and_then(|(ms, a)| ms.parse::<i64>().ok().map(|m| (m, a)))
                .ok_or_else(|| NativeError::bad("'after' is not a token this API gave"))?;
            Some((ms, arn))
        }
        None => None,
    };
    let mut page = node
        .engine
        .executions(ExecutionFilter {
            machine_arn: machine.as_deref(),
            version_arn: None,
            status: q.get("status").map(String::as_str),
            before,
            limit: limit + 1,
        })
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more
        .then(|| page.last().map(|x| format!("{}|{}", x.start_ms, x.arn)))
        .flatten();
    let items: Vec<Value> = page.iter().map(execution_view).collect();
    ok(json!({ "executions": items, "next": next }))
}

async fn describe_execution(State(node): State<Arc<Node>>, Path(arn): Path<String>) -> Reply {
    ok(execution_view(&node.engine.execution(&arn).await?))
}

async fn stop_execution(
    State(node): State<Arc<Node>>,
    Path(arn): Path<String>,
    body: Body,
) -> Reply {
    let b = json_body(&node, body).await?;
    let x = node
        .engine
        .stop_execution(
            &arn,
            field_str(&b, "error")?.map(str::to_owned),
            field_str(&b, "cause")?.map(str::to_owned),
        )
        .await?;
    ok(execution_view(&x))
}

async fn redrive_execution(State(node): State<Arc<Node>>, Path(arn): Path<String>) -> Reply {
    ok(execution_view(&node.engine.redrive_execution(&arn).await?))
}

async fn history(
    State(node): State<Arc<Node>>,
    Path(arn): Path<String>,
    Query(q): Params,
) -> Reply {
    let limit = limit_of(&q, 1000)? as u64;
    let from = match q.get("from") {
        Some(f) => f
            .parse::<u64>()
            .map_err(|_| NativeError::bad("'from' must be an event id"))?,
        None => 1,
    };
    let x = node.engine.execution(&arn).await?;
    let to = from.saturating_add(limit - 1);
    let events = node.engine.history(&arn, from, to).await?;
    let next = (to < x.event_count).then_some(to + 1);
    let items: Vec<Value> = events.iter().map(event_view).collect();
    ok(json!({ "execution": execution_view(&x), "events": items, "next": next }))
}

async fn create_activity(State(node): State<Arc<Node>>, body: Body) -> Reply {
    let b = json_body(&node, body).await?;
    let name = field_str(&b, "name")?.ok_or_else(|| NativeError::bad("'name' is required"))?;
    let a = node.engine.create_activity(name).await?;
    created(json!({ "arn": a.arn, "name": a.name, "created": time(a.created_ms) }))
}

async fn list_activities(State(node): State<Arc<Node>>, Query(q): Params) -> Reply {
    let limit = limit_of(&q, 100)?;
    let items: Vec<Value> = node
        .engine
        .activities(q.get("after").map(String::as_str), limit)
        .await?
        .iter()
        .map(|a| json!({ "arn": a.arn, "name": a.name, "created": time(a.created_ms) }))
        .collect();
    ok(json!({ "activities": items }))
}

async fn describe_activity(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    let a = node
        .engine
        .activity(&node.engine.config().partition.activity(&name))
        .await?;
    ok(json!({ "arn": a.arn, "name": a.name, "created": time(a.created_ms) }))
}

async fn delete_activity(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    node.engine
        .delete_activity(&node.engine.config().partition.activity(&name))
        .await?;
    no_content()
}

async fn poll_activity(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    Query(q): Params,
) -> Reply {
    let worker = q.get("worker").map(String::as_str).unwrap_or("");
    let arn = node.engine.config().partition.activity(&name);
    let wait = match q.get("wait") {
        Some(w) => Duration::from_secs(
            w.parse::<u64>()
                .ok()
                .filter(|s| *s <= 60)
                .ok_or_else(|| NativeError::bad("'wait' must be 0 to 60 seconds"))?,
        ),
        None => Duration::from_secs(60),
    };
    match node.engine.poll_activity(&arn, worker, wait).await? {
        Some(t) => ok(json!({ "taskToken": t.token, "input": value_of(&t.input) })),
        None => no_content(),
    }
}

async fn task_success(State(node): State<Arc<Node>>, body: Body) -> Reply {
    let b = json_body(&node, body).await?;
    let token =
        field_str(&b, "taskToken")?.ok_or_else(|| NativeError::bad("'taskToken' is required"))?;
    let output = b
        .get("output")
        .map_or_else(|| "{}".to_owned(), Value::to_string);
    node.engine.send_task_success(token, &output).await?;
    no_content()
}

async fn task_failure(State(node): State<Arc<Node>>, body: Body) -> Reply {
    let b = json_body(&node, body).await?;
    let token =
        field_str(&b, "taskToken")?.ok_or_else(|| NativeError::bad("'taskToken' is required"))?;
    node.engine
        .send_task_failure(
            token,
            field_str(&b, "error")?.map(str::to_owned),
            field_str(&b, "cause")?.map(str::to_owned),
        )
        .await?;
    no_content()
}

async fn task_heartbeat(State(node): State<Arc<Node>>, body: Body) -> Reply {
    let b = json_body(&node, body).await?;
    let token =
        field_str(&b, "taskToken")?.ok_or_else(|| NativeError::bad("'taskToken' is required"))?;
    node.engine.send_task_heartbeat(token).await?;
    no_content()
}

async fn validate(State(node): State<Arc<Node>>, body: Body) -> Reply {
    let b = json_body(&node, body).await?;
    let text = definition_text(&b)?.ok_or_else(|| NativeError::bad("'definition' is required"))?;
    let diagnostics: Vec<Value> = match cirrus_asl::StateMachine::parse(&text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| json!({ "code": e.code, "message": e.message, "location": e.location }))
            .collect(),
    };
    let result = if diagnostics.is_empty() { "OK" } else { "FAIL" };
    ok(json!({ "result": result, "diagnostics": diagnostics }))
}

/// Status-change events from the outbox, after a sequence number.
async fn events(State(node): State<Arc<Node>>, Query(q): Params) -> Reply {
    let after = match q.get("after") {
        Some(a) => a
            .parse::<u64>()
            .map_err(|_| NativeError::bad("'after' must be a sequence number"))?,
        None => 0,
    };
    let limit = limit_of(&q, 100)?;
    let items: Vec<Value> = cirrus_store::Outbox::events_after(&**node.engine.store(), after, limit)
        .await
        .map_err(EngineError::from)?
        .iter()
        .map(|e| json!({ "seq": e.seq, "time": time(e.time_ms), "detailType": e.detail_type, "detail": value_of(&e.detail) }))
        .collect();
    ok(json!({ "events": items }))
}
