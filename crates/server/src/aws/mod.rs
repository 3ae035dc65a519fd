//! The AWS JSON protocols on `POST /`: `X-Amz-Target: AWSStepFunctions.<Operation>` (Step
//! Functions, JSON 1.0), `AWSEvents.<Operation>` (EventBridge, JSON 1.1, in
//! [`crate::events::eventbridge`]) and `AmazonSQS.<Operation>` (SQS, JSON 1.0, in
//! [`crate::events::sqs`]); a JSON body, SigV4-signed with the node's key pair.
//! Errors are `{"__type": name, "message": text}` with AWS's names (mapped in
//! [`ApiError`]). Operations live in one file per resource.

mod activities;
mod executions;
mod history;
mod machines;

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use cirrus_engine::EngineError;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use crate::Node;
use crate::sigv4;

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// An error in AWS's shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub name: &'static str,
    pub message: String,
    /// For SQS (a JSON service compatible with its former Query protocol): the Query
    /// protocol's error code and fault, sent as `x-amzn-query-error: CODE;Sender`.
    pub query_error: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            name,
            message: message.into(),
            query_error: None,
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = if e.is_client_error() {
            StatusCode::BAD_REQUEST
        } else {
            tracing::error!(err = %e, "request failed inside the node");
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError::new(status, e.aws_name(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "__type": self.name, "message": self.message }).to_string();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE),
        );
        if let Ok(v) = HeaderValue::from_str(self.name) {
            r.headers_mut().insert("x-amzn-errortype", v);
        }
        if let Some(q) = self.query_error {
            r.headers_mut()
                .insert("x-amzn-query-error", HeaderValue::from_static(q));
        }
        r
    }
}

pub(crate) type ApiResult = Result<Value, ApiError>;

/// The request body's fields, with typed accessors that name the bad field.
pub(crate) struct Body(Map<String, Value>);

impl Body {
    pub(crate) fn opt_str(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                format!("Expected a string for '{field}'"),
            )),
        }
    }

    pub(crate) fn str(&self, field: &str) -> Result<&str, ApiError> {
        self.opt_str(field)?.ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
            ))
        })
    }

    pub(crate) fn opt_bool(&self, field: &str) -> Result<bool, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                format!("Expected a boolean for '{field}'"),
            )),
        }
    }

    /// `maxResults`: 0 or absent means the default; AWS allows up to 1000.
    pub(crate) fn max_results(&self, default: usize) -> Result<usize, ApiError> {
        match self.0.get("maxResults") {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_u64() {
                Some(0) => Ok(default),
                Some(n) if n <= 1000 => Ok(n as usize),
                _ => Err(ApiError::validation(
                    "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000",
                )),
            },
        }
    }

    pub(crate) fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }
}

/// Seconds since the epoch, as the JSON protocols send timestamps.
pub(crate) fn epoch(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub(crate) fn invalid_token(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidToken",
        format!("Invalid Token: '{what}'"),
    )
}

/// Handles one AWS-protocol request.
pub(crate) async fn handle(
    node: &Node,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    match handle_inner(node, method, path, query, headers, &body).await {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(CONTENT_TYPE),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn handle_inner(
    node: &Node,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (service, operation) = match target.split_once('.') {
        Some((s @ ("AWSStepFunctions" | "AWSEvents" | "AmazonSQS"), op)) => (s, op),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!(
                    "X-Amz-Target '{target}' names no operation of Step Functions, EventBridge or SQS"
                ),
            ));
        }
    };
    let request = sigv4::Request {
        method,
        path,
        query,
        headers,
        body,
    };
    if let Err(e) = node.verify_signature(&request) {
        return Err(ApiError::new(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN),
            e.aws_code(),
            e.to_string(),
        ));
    }
    let fields = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    "The request body must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    format!("The request body is not valid JSON: {e}"),
                ));
            }
        }
    };
    let b = Body(fields);
    match service {
        "AWSEvents" => return crate::events::eventbridge::operation(node, operation, &b).await,
        "AmazonSQS" => return crate::events::sqs::operation(node, operation, &b).await,
        _ => {}
    }
    let e = &node.engine;
    match operation {
        "CreateStateMachine" => machines::create(e, &b).await,
        "UpdateStateMachine" => machines::update(e, &b).await,
        "DescribeStateMachine" => machines::describe(e, &b).await,
        "ListStateMachines" => machines::list(e, &b).await,
        "DeleteStateMachine" => machines::delete(e, &b).await,
        "ValidateStateMachineDefinition" => machines::validate(&b),
        "PublishStateMachineVersion" => machines::publish(e, &b).await,
        "ListStateMachineVersions" => machines::versions(e, &b).await,
        "DeleteStateMachineVersion" => machines::delete_version(e, &b).await,
        "CreateStateMachineAlias" => machines::create_alias(e, &b).await,
        "DescribeStateMachineAlias" => machines::describe_alias(e, &b).await,
        "UpdateStateMachineAlias" => machines::update_alias(e, &b).await,
        "DeleteStateMachineAlias" => machines::delete_alias(e, &b).await,
        "ListStateMachineAliases" => machines::aliases(e, &b).await,
        "DescribeStateMachineForExecution" => machines::for_execution(e, &b).await,
        "StartExecution" => executions::start(e, &b).await,
        "StartSyncExecution" => executions::start_sync(e, &b).await,
        "DescribeExecution" => executions::describe(e, &b).await,
        "ListExecutions" => executions::list(e, &b).await,
        "StopExecution" => executions::stop(e, &b).await,
        "RedriveExecution" => executions::redrive(e, &b).await,
        "GetExecutionHistory" => history::get(e, &b).await,
        "CreateActivity" => activities::create(e, &b).await,
        "DescribeActivity" => activities::describe(e, &b).await,
        "ListActivities" => activities::list(e, &b).await,
        "DeleteActivity" => activities::delete(e, &b).await,
        "GetActivityTask" => activities::get_task(e, &b).await,
        "SendTaskSuccess" => activities::success(e, &b).await,
        "SendTaskFailure" => activities::failure(e, &b).await,
        "SendTaskHeartbeat" => activities::heartbeat(e, &b).await,
        "ListTagsForResource" => Ok(json!({ "tags": [] })),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("Cirrus does not implement the operation '{operation}'"),
        )),
    }
}
