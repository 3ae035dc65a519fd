//! The APIs of event-source mappings ([`super::mappings`]):
//!
//! - Lambda's REST operations under `/2015-03-31/event-source-mappings/` (SigV4, Lambda's
//!   error shape): CreateEventSourceMapping, GetEventSourceMapping,
//!   UpdateEventSourceMapping, DeleteEventSourceMapping, ListEventSourceMappings;
//! - the native `/v1/mappings` routes (bearer token, the native error shape).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use super::mappings::{Mapping, MappingChange, MappingError, Mappings};
use crate::functions::routes::percent_decode;
use crate::native::{NativeError, json_object};
use crate::{Node, sigv4};

/// Lambda's name and status for each failure.
fn lambda_error(e: &MappingError) -> (StatusCode, &'static str) {
    match e {
        MappingError::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        MappingError::Invalid(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValueException"),
        MappingError::Conflict(_) => (StatusCode::CONFLICT, "ResourceConflictException"),
        MappingError::Function(f) => (f.status(), f.aws_name()),
        MappingError::Store(_) => {
            tracing::error!(err = %e, "mapping request failed inside the node");
            (StatusCode::INTERNAL_SERVER_ERROR, "ServiceException")
        }
    }
}

fn lambda_response(status: StatusCode, name: &'static str, message: String) -> Response {
    let mut r = (
        status,
        json!({ "Type": "User", "message": message }).to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(name));
    r
}

impl From<MappingError> for NativeError {
    fn from(e: MappingError) -> Self {
        let (status, name) = lambda_error(&e);
        NativeError::new(status, name, e.to_string())
    }
}

/// Lambda's `EventSourceMappingConfiguration`.
pub fn lambda_view(mappings: &Mappings, m: &Mapping) -> Value {
    let mut v = json!({
        "UUID": m.uuid,
        "EventSourceMappingArn": mappings.arn(&m.uuid),
        "BatchSize": m.batch_size,
        "MaximumBatchingWindowInSeconds": m.maximum_batching_window_in_seconds,
        "EventSourceArn": m.event_source_arn,
        "FunctionArn": mappings.function_arn(m),
        "LastModified": m.last_modified_ms as f64 / 1000.0,
        "State": if m.enabled { "Enabled" } else { "Disabled" },
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": if m.report_batch_item_failures { json!(["ReportBatchItemFailures"]) } else { json!([]) },
    });
    if let Some(n) = m.maximum_concurrency {
        v["ScalingConfig"] = json!({ "MaximumConcurrency": n });
    }
    v
}

/// Reads a create or update request (Lambda's field names; the native API uses them too).
pub fn change_of(b: &Map<String, Value>) -> Result<MappingChange, MappingError> {
    let bad = |m: String| MappingError::Invalid(m);
    let mut c = MappingChange::default();
    for (k, v) in b {
        if v.is_null() {
            continue;
        }
        let string = || {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("{k} must be a string")))
        };
        let number = || {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("{k} must be a whole number")))
        };
        match k.as_str() {
            "EventSourceArn" => c.event_source_arn = Some(string()?),
            "FunctionName" => c.function_name = Some(string()?),
            "BatchSize" => c.batch_size = Some(number()?),
            "MaximumBatchingWindowInSeconds" => {
                c.maximum_batching_window_in_seconds = Some(number()?);
            }
            "Enabled" => {
                c.enabled = Some(
                    v.as_bool()
                        .ok_or_else(|| bad("Enabled must be a boolean".into()))?,
                );
            }
            "FunctionResponseTypes" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| bad("FunctionResponseTypes must be a list".into()))?;
                let mut report = false;
                for t in list {
                    match t.as_str() {
                        Some("ReportBatchItemFailures") => report = true,
                        _ => {
                            return Err(bad(format!(
                                "FunctionResponseTypes: {t} is not valid; the one value is ReportBatchItemFailures"
                            )));
                        }
                    }
                }
                c.report_batch_item_failures = Some(report);
            }
            "ScalingConfig" => {
                let s = v
                    .as_object()
                    .ok_or_else(|| bad("ScalingConfig must be an object".into()))?;
                if let Some(other) = s.keys().find(|k| *k != "MaximumConcurrency") {
                    return Err(bad(format!("ScalingConfig.{other} is not supported")));
                }
                c.maximum_concurrency = Some(match s.get("MaximumConcurrency") {
                    None | Some(Value::Null) => None,
                    Some(n) => Some(
                        n.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| {
                                bad("ScalingConfig.MaximumConcurrency must be a whole number from 2 to 1000".into())
                            })?,
                    ),
                });
            }
            // Settings of stream sources that an SQS mapping ignores, as Lambda does.
            "StartingPosition" | "StartingPositionTimestamp" | "Tags" => {}
            other => {
                return Err(bad(format!(
                    "{other} is not supported by Cirrus's SQS event-source mappings"
                )));
            }
        }
    }
    Ok(c)
}

/// Answers one Lambda `event-source-mappings` request (already routed by prefix).
pub async fn lambda_handle(
    node: &Node,
    method: &http::Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let request = sigv4::Request {
        method: method.as_str(),
        path,
        query,
        headers,
        body: &body,
    };
    if let Err(e) = node.verify_signature(&request) {
        return lambda_response(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN),
            e.aws_code(),
            e.to_string(),
        );
    }
    let query = crate::functions::lambda::parse_query(query.unwrap_or(""));
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let m = &node.mappings;
    let result = async {
        let fields = || -> Result<Map<String, Value>, MappingError> {
            json_object(&body)
                .map_err(|_| MappingError::Invalid("the request body must be a JSON object".into()))
        };
        match (method.as_str(), segs.as_slice()) {
            ("POST", [_, "event-source-mappings"]) => {
                let created = m.create(change_of(&fields()?)?).await?;
                Ok((StatusCode::ACCEPTED, lambda_view(m, &created)))
            }
            ("GET", [_, "event-source-mappings"]) => {
                let all = m
                    .list(
                        query.get("FunctionName").map(String::as_str),
                        query.get("EventSourceArn").map(String::as_str),
                    )
                    .await?;
                let max = match query.get("MaxItems") {
                    None => 100,
                    Some(n) => n
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| {
                            MappingError::Invalid(
                                "MaxItems must be a number from 1 to 10000".into(),
                            )
                        })?,
                };
                let after = query.get("Marker").cloned().unwrap_or_default();
                let rest: Vec<&Mapping> = all.iter().filter(|x| x.uuid > after).collect();
                let page: Vec<Value> = rest.iter().take(max).map(|x| lambda_view(m, x)).collect();
                let mut out = json!({ "EventSourceMappings": page });
                if rest.len() > max {
                    out["NextMarker"] = json!(rest[max - 1].uuid);
                }
                Ok((StatusCode::OK, out))
            }
            ("GET", [_, "event-source-mappings", uuid]) => {
                Ok((StatusCode::OK, lambda_view(m, &m.get(uuid).await?)))
            }
            ("PUT", [_, "event-source-mappings", uuid]) => {
                let updated = m.update(uuid, change_of(&fields()?)?).await?;
                Ok((StatusCode::ACCEPTED, lambda_view(m, &updated)))
            }
            ("DELETE", [_, "event-source-mappings", uuid]) => {
                let gone = m.delete(uuid).await?;
                let mut v = lambda_view(m, &gone);
                v["State"] = json!("Deleting");
                Ok((StatusCode::ACCEPTED, v))
            }
            _ => Err(MappingError::NotFound(format!("{method} {path}"))),
        }
    }
    .await;
    match result {
        Ok((status, v)) => {
            let mut r = (status, v.to_string()).into_response();
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => {
            let (status, name) = lambda_error(&e);
            lambda_response(status, name, e.to_string())
        }
    }
}

/// The native `/v1/mappings` routes.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/mappings", get(list).post(create))
        .route("/mappings/{uuid}", get(describe).put(update).delete(delete))
}

type Reply = Result<Response, NativeError>;

async fn body_of(node: &Node, body: axum::body::Body) -> Result<Map<String, Value>, NativeError> {
    let bytes = crate::read_body(node, body)
        .await
        .map_err(|(s, m)| NativeError::new(s, "ValidationException", m))?;
    json_object(&bytes)
}

async fn list(State(node): State<Arc<Node>>, Query(q): Query<HashMap<String, String>>) -> Reply {
    let m = &node.mappings;
    let all = m
        .list(
            q.get("function").map(String::as_str),
            q.get("source").map(String::as_str),
        )
        .await?;
    let items: Vec<Value> = all.iter().map(|x| lambda_view(m, x)).collect();
    Ok(axum::Json(json!({ "mappings": items })).into_response())
}

async fn create(State(node): State<Arc<Node>>, body: axum::body::Body) -> Reply {
    let b = body_of(&node, body).await?;
    let created = node.mappings.create(change_of(&b)?).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(lambda_view(&node.mappings, &created)),
    )
        .into_response())
}

async fn describe(State(node): State<Arc<Node>>, Path(uuid): Path<String>) -> Reply {
    let m = node.mappings.get(&uuid).await?;
    Ok(axum::Json(lambda_view(&node.mappings, &m)).into_response())
}

async fn update(
    State(node): State<Arc<Node>>,
    Path(uuid): Path<String>,
    body: axum::body::Body,
) -> Reply {
    let b = body_of(&node, body).await?;
    let m = node.mappings.update(&uuid, change_of(&b)?).await?;
    Ok(axum::Json(lambda_view(&node.mappings, &m)).into_response())
}

async fn delete(State(node): State<Arc<Node>>, Path(uuid): Path<String>) -> Reply {
    node.mappings.delete(&uuid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
