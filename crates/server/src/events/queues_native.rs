//! The native `/v1/queues` routes over [`super::queues`]: queues by name, SQS's attribute
//! names and values (numbers or strings), messages as JSON.
//!
//! - `GET/POST /v1/queues`: list (with counts) and create `{name, attributes, tags}`;
//! - `GET/PATCH/DELETE /v1/queues/{name}`: attributes with counts, change, delete;
//! - `POST /v1/queues/{name}/messages`: send `{body, attributes, delaySeconds}` or
//!   `{messages: [...]}` (up to 10);
//! - `POST /v1/queues/{name}/receive`: `{max, visibilityTimeout, waitSeconds}`;
//! - `POST /v1/queues/{name}/delete`: `{receipts: [...]}`;
//! - `POST /v1/queues/{name}/visibility`: `{receipt, timeout}`;
//! - `POST /v1/queues/{name}/purge`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::queues::{
    MAX_BATCH, MAX_RECEIVE, NewMessage, Queue, QueueError, QueueService, ReceiveOptions,
    attributes_of, md5_of_body,
};
use crate::Node;
use crate::native::{NativeError, json_object};

impl From<QueueError> for NativeError {
    fn from(e: QueueError) -> Self {
        let (status, code) = match &e {
            QueueError::NoSuchQueue(_) => (StatusCode::NOT_FOUND, "QueueDoesNotExist"),
            QueueError::Exists(_) => (StatusCode::CONFLICT, "QueueNameExists"),
            QueueError::UnknownAttribute(_) => (StatusCode::BAD_REQUEST, "InvalidAttributeName"),
            QueueError::BadAttribute(..) => (StatusCode::BAD_REQUEST, "InvalidAttributeValue"),
            QueueError::BadReceipt(_) => (StatusCode::BAD_REQUEST, "ReceiptHandleIsInvalid"),
            QueueError::NotInFlight(_) => (StatusCode::BAD_REQUEST, "MessageNotInflight"),
            QueueError::BadContents(_) => (StatusCode::BAD_REQUEST, "InvalidMessageContents"),
            QueueError::Invalid(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
            QueueError::Store(_) => {
                tracing::error!(err = %e, "queue request failed inside the node");
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
            }
        };
        NativeError::new(status, code, e.to_string())
    }
}

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/queues", get(list).post(create))
        .route("/queues/{name}", get(describe).patch(update).delete(delete))
        .route("/queues/{name}/messages", post(send))
        .route("/queues/{name}/receive", post(receive))
        .route("/queues/{name}/delete", post(delete_messages))
        .route("/queues/{name}/visibility", post(visibility))
        .route("/queues/{name}/purge", post(purge))
}

type Reply = Result<Response, NativeError>;
type Fields = Map<String, Value>;

async fn body_of(node: &Node, body: axum::body::Body) -> Result<Fields, NativeError> {
    let bytes = crate::read_body(node, body)
        .await
        .map_err(|(s, m)| NativeError::new(s, "ValidationException", m))?;
    json_object(&bytes)
}

fn strings(b: &Fields, field: &str) -> Result<Vec<(String, String)>, NativeError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                // A redrive policy may be given as an object.
                Value::Object(_) => Ok((k.clone(), v.to_string())),
                _ => Err(NativeError::bad(format!(
                    "'{field}.{k}' must be a string or a number"
                ))),
            })
            .collect(),
        Some(_) => Err(NativeError::bad(format!("'{field}' must be an object"))),
    }
}

fn seconds(b: &Fields, field: &str) -> Result<Option<u32>, NativeError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                NativeError::bad(format!("'{field}' must be a whole number of seconds"))
            }),
    }
}

fn view(q: &QueueService, queue: &Queue, counts: cirrus_store::QueueCounts) -> Value {
    json!({
        "name": queue.name,
        "arn": q.arn(&queue.name),
        "url": q.url(&queue.name),
        "attributes": queue.settings.attributes(),
        "tags": queue.settings.tags,
        "messages": { "visible": counts.visible, "inFlight": counts.in_flight, "delayed": counts.delayed },
        "created": queue.created_ms,
        "updated": queue.updated_ms,
    })
}

async fn list(State(node): State<Arc<Node>>) -> Reply {
    let q = &node.events.queues;
    let mut items = Vec::new();
    for queue in q.queues().await? {
        let counts = q.counts(&queue.name).await?;
        items.push(view(q, &queue, counts));
    }
    Ok(axum::Json(json!({ "queues": items })).into_response())
}

async fn create(State(node): State<Arc<Node>>, body: axum::body::Body) -> Reply {
    let b = body_of(&node, body).await?;
    let name = match b.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(NativeError::bad("'name' is required: the queue's name")),
    };
    let attributes = strings(&b, "attributes")?;
    let tags: BTreeMap<String, String> = strings(&b, "tags")?.into_iter().collect();
    let q = &node.events.queues;
    let (queue, created) = q.create(&name, &attributes, tags).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view(q, &queue, Default::default()))).into_response())
}

async fn describe(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    let q = &node.events.queues;
    let queue = q.queue(&name).await?;
    let counts = q.counts(&name).await?;
    Ok(axum::Json(view(q, &queue, counts)).into_response())
}

async fn update(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Reply {
    let b = body_of(&node, body).await?;
    let attributes = strings(&b, "attributes")?;
    let tags: Vec<(String, Option<String>)> = match b.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::Null => Ok((k.clone(), None)),
                Value::String(s) => Ok((k.clone(), Some(s.clone()))),
                _ => Err(NativeError::bad(format!(
                    "'tags.{k}' must be a string, or null to remove it"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(NativeError::bad("'tags' must be an object")),
    };
    let q = &node.events.queues;
    let queue = q.update(&name, &attributes, &tags).await?;
    let counts = q.counts(&name).await?;
    Ok(axum::Json(view(q, &queue, counts)).into_response())
}

async fn delete(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    node.events.queues.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn new_message(b: &Fields) -> Result<NewMessage, NativeError> {
    let body = match b.get("body") {
        Some(Value::String(s)) => s.clone(),
        // Any other JSON value is sent as its text.
        Some(v) if !v.is_null() => v.to_string(),
        _ => {
            return Err(NativeError::bad(
                "'body' is required: the message (text or JSON)",
            ));
        }
    };
    let attributes = match b.get("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(NativeError::bad(
                "'attributes' must be an object of SQS message attributes",
            ));
        }
    };
    Ok(NewMessage {
        body,
        attributes,
        delay_seconds: seconds(b, "delaySeconds")?,
    })
}

async fn send(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Reply {
    let b = body_of(&node, body).await?;
    let messages = match b.get("messages") {
        Some(Value::Array(list)) => {
            if list.is_empty() || list.len() > MAX_BATCH {
                return Err(NativeError::bad(format!(
                    "'messages' must hold 1 to {MAX_BATCH} messages"
                )));
            }
            list.iter()
                .map(|m| {
                    m.as_object()
                        .ok_or_else(|| NativeError::bad("each of 'messages' must be an object"))
                        .and_then(new_message)
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err(NativeError::bad("'messages' must be a list")),
        None => vec![new_message(&b)?],
    };
    let q = &node.events.queues;
    let queue = q.queue(&name).await?;
    let records = messages
        .into_iter()
        .map(|m| q.prepare(&queue, m))
        .collect::<Result<Vec<_>, _>>()?;
    q.store_messages(&name, &records).await?;
    let ids: Vec<Value> = records
        .iter()
        .map(|r| json!({ "id": r.id, "md5OfBody": md5_of_body(&r.body) }))
        .collect();
    Ok((StatusCode::CREATED, axum::Json(json!({ "messages": ids }))).into_response())
}

async fn receive(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Reply {
    let b = body_of(&node, body).await?;
    let max = match seconds(&b, "max")? {
        None => 1,
        Some(n) if (1..=MAX_RECEIVE as u32).contains(&n) => n as usize,
        Some(_) => return Err(NativeError::bad("'max' must be a number from 1 to 10")),
    };
    let got = node
        .events
        .queues
        .receive(
            &name,
            ReceiveOptions {
                max,
                visibility_timeout: seconds(&b, "visibilityTimeout")?,
                wait_seconds: seconds(&b, "waitSeconds")?,
            },
        )
        .await?;
    let items: Vec<Value> = got
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "receipt": m.receipt,
                "body": m.body,
                "attributes": attributes_of(m),
                "receiveCount": m.receive_count,
                "sent": m.sent_ms,
                "firstReceived": m.first_receive_ms,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "messages": items })).into_response())
}

async fn delete_messages(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Reply {
    let b = body_of(&node, body).await?;
    let receipts: Vec<String> = match b.get("receipts") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|r| {
                r.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| NativeError::bad("'receipts' must be strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(NativeError::bad(
                "'receipts' is required: a list of receipt handles",
            ));
        }
    };
    let ok = node.events.queues.delete_messages(&name, &receipts).await?;
    Ok(axum::Json(json!({ "deleted": ok })).into_response())
}

async fn visibility(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Reply {
    let b = body_of(&node, body).await?;
    let receipt = match b.get("receipt") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(NativeError::bad("'receipt' is required: a receipt handle")),
    };
    let timeout = seconds(&b, "timeout")?
        .ok_or_else(|| NativeError::bad("'timeout' is required: 0 to 43200 seconds"))?;
    node.events
        .queues
        .change_visibility(&name, &receipt, timeout)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn purge(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    let n = node.events.queues.purge(&name).await?;
    Ok(axum::Json(json!({ "purged": n })).into_response())
}

/// The OpenAPI paths of `/v1/queues` and `/v1/mappings`, for [`crate::native::openapi`].
pub(crate) fn openapi_paths(m: &mut Map<String, Value>) {
    let op = |summary: &str, tag: &str, params: &[&str], body: bool, status: &str| {
        let params: Vec<Value> = params
            .iter()
            .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut o = json!({
            "summary": summary,
            "tags": [tag],
            "parameters": params,
            "responses": {
                status: { "description": "OK", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/AnyJson" } } } },
                "4XX": { "$ref": "#/components/responses/Error" }
            }
        });
        if body {
            o["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/AnyJson" } } } });
        }
        o
    };
    let q = &["name"];
    m.insert("/v1/queues".into(), json!({
        "get": op("List queues with their attributes and message counts", "queues", &[], false, "200"),
        "post": op("Create a queue: {name, attributes (SQS names: VisibilityTimeout, MessageRetentionPeriod, DelaySeconds, ReceiveMessageWaitTimeSeconds, MaximumMessageSize, RedrivePolicy), tags}", "queues", &[], true, "201"),
    }));
    m.insert("/v1/queues/{name}".into(), json!({
        "get": op("A queue's attributes and message counts", "queues", q, false, "200"),
        "patch": op("Change attributes and tags (a null tag removes it)", "queues", q, true, "200"),
        "delete": op("Delete a queue and its messages", "queues", q, false, "204"),
    }));
    m.insert("/v1/queues/{name}/messages".into(), json!({
        "post": op("Send {body, attributes, delaySeconds}, or {messages: [...]} (up to 10)", "queues", q, true, "201"),
    }));
    m.insert("/v1/queues/{name}/receive".into(), json!({
        "post": op("Receive {max (1-10), visibilityTimeout, waitSeconds (long poll, up to 20)}", "queues", q, true, "200"),
    }));
    m.insert(
        "/v1/queues/{name}/delete".into(),
        json!({
            "post": op("Delete received messages {receipts: [...]}", "queues", q, true, "200"),
        }),
    );
    m.insert("/v1/queues/{name}/visibility".into(), json!({
        "post": op("Change a received message's visibility {receipt, timeout}", "queues", q, true, "204"),
    }));
    m.insert(
        "/v1/queues/{name}/purge".into(),
        json!({
            "post": op("Delete every message of the queue", "queues", q, false, "200"),
        }),
    );
    m.insert("/v1/mappings".into(), json!({
        "get": op("Event-source mappings (query: function, source)", "mappings", &[], false, "200"),
        "post": op("Create a mapping with Lambda's fields: EventSourceArn, FunctionName, BatchSize, MaximumBatchingWindowInSeconds, Enabled, FunctionResponseTypes, ScalingConfig", "mappings", &[], true, "201"),
    }));
    m.insert("/v1/mappings/{uuid}".into(), json!({
        "get": op("A mapping", "mappings", &["uuid"], false, "200"),
        "put": op("Change a mapping (Lambda's fields)", "mappings", &["uuid"], true, "200"),
        "delete": op("Delete a mapping and stop its poller", "mappings", &["uuid"], false, "204"),
    }));
}
