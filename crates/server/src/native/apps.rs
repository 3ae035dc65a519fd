//! `/v1/apps/{name}`: what an application's manifest last deployed (its functions,
//! workflows, routes, rules, schedules, queues and sources, by name), so that the next
//! `cirrus deploy` removes what the manifest no longer names. A JSON document kept as a
//! [`cirrus_store::Resource`] of kind `app`; the node does not interpret it.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cirrus_store::{Expect, Resource};
use http::StatusCode;
use serde_json::{Value, json};

use super::NativeError;
use crate::Node;

const KIND: &str = "app";

type Reply = Result<Response, NativeError>;

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/apps/{name}", get(get_app).put(put_app).delete(delete_app))
}

fn store_error(e: cirrus_store::StoreError) -> NativeError {
    NativeError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalException",
        e.to_string(),
    )
}

fn check(name: &str) -> Result<(), NativeError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(NativeError::bad(format!(
            "app name '{name}' is not valid: use 1 to 64 letters, digits, '.', '-' or '_'"
        )))
    }
}

async fn get_app(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    check(&name)?;
    match node
        .events
        .store
        .resource(KIND, &name)
        .await
        .map_err(store_error)?
    {
        Some(r) => {
            let doc: Value = serde_json::from_str(&r.document).unwrap_or(Value::Null);
            Ok(
                axum::Json(json!({ "name": name, "deployed": doc, "revision": r.revision }))
                    .into_response(),
            )
        }
        None => Err(NativeError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("App {name} was never deployed."),
        )),
    }
}

async fn put_app(State(node): State<Arc<Node>>, Path(name): Path<String>, body: Body) -> Reply {
    check(&name)?;
    let bytes = crate::read_body(&node, body)
        .await
        .map_err(|(s, m)| NativeError::new(s, "ValidationException", m))?;
    let doc = super::json_object(&bytes)?;
    let r = Resource {
        kind: KIND.into(),
        name: name.clone(),
        document: Value::Object(doc).to_string(),
        revision: 0,
        created_ms: 0,
        updated_ms: 0,
    };
    let stored = node
        .events
        .store
        .put_resource(&r, Expect::Any)
        .await
        .map_err(store_error)?;
    Ok(axum::Json(json!({ "name": name, "revision": stored.revision })).into_response())
}

async fn delete_app(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    check(&name)?;
    node.events
        .store
        .delete_resource(KIND, &name)
        .await
        .map_err(store_error)?;
    Ok(axum::Json(json!({ "deleted": name })).into_response())
}
