//! Routes that start workflows, like API Gateway's `StepFunctions-StartExecution`
//! integration. The request body is the execution's input: it must be JSON (an empty body
//! is `{}`). A STANDARD state machine starts an execution and the route answers 202
//! `{"executionArn", "startDate"}` at once; an EXPRESS one runs to its end first (as
//! `StartSyncExecution`) and the route answers 200 with the output as the body, or 500
//! `{"error", "cause"}` when the execution did not succeed. The header
//! `X-Cirrus-Execution-Name` names the execution (the same name twice is a 409 for a
//! STANDARD machine while the first exists).

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use cirrus_engine::EngineError;
use cirrus_engine::run::StartRequest;
use http::StatusCode;
use serde_json::json;

use super::Functions;
use super::routes::message;

/// The header that names the execution.
pub const EXECUTION_NAME_HEADER: &str = "x-cirrus-execution-name";
/// How long a route waits for an EXPRESS execution (they last at most five minutes).
const SYNC_WAIT: Duration = Duration::from_secs(330);

/// The input an execution gets from a request body: the JSON text, `{}` for an empty
/// body, or why it is not JSON.
fn input_of(body: &[u8]) -> Result<String, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok("{}".into());
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Ok(_) => Ok(String::from_utf8_lossy(body).into_owned()),
        Err(e) => Err(format!(
            "The request body must be JSON (it is the workflow's input): {e}"
        )),
    }
}

fn engine_error(route: &str, e: EngineError) -> Response {
    let status = match &e {
        EngineError::InvalidName(_)
        | EngineError::InvalidExecutionInput(_)
        | EngineError::Validation(_) => StatusCode::BAD_REQUEST,
        EngineError::StateMachineDoesNotExist(_) => StatusCode::NOT_FOUND,
        EngineError::ExecutionAlreadyExists(_) => StatusCode::CONFLICT,
        _ => {
            tracing::warn!(route, err = %e, "a route cannot start its workflow");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    message(status, &e.to_string())
}

/// Serves a request on a route to the state machine `workflow`.
pub(super) async fn handle(
    functions: &Functions,
    route: &str,
    workflow: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Response {
    let Some(engine) = functions.engine() else {
        return message(StatusCode::SERVICE_UNAVAILABLE, "The engine is not running");
    };
    let input = match input_of(body) {
        Ok(i) => i,
        Err(m) => return message(StatusCode::BAD_REQUEST, &m),
    };
    let name = match headers.get(EXECUTION_NAME_HEADER).map(|v| v.to_str()) {
        None => None,
        Some(Ok(n)) => Some(n.to_owned()),
        Some(Err(_)) => {
            return message(
                StatusCode::BAD_REQUEST,
                "The header X-Cirrus-Execution-Name must be visible ASCII text",
            );
        }
    };
    let machine_arn = engine.config().partition.machine(workflow);
    let resolved = match engine.resolve(&machine_arn).await {
        Ok(r) => r,
        Err(EngineError::StateMachineDoesNotExist(_)) => {
            return message(
                StatusCode::NOT_FOUND,
                &format!("The workflow '{workflow}' of route '{route}' does not exist"),
            );
        }
        Err(e) => return engine_error(route, e),
    };
    let express = resolved.machine.kind == "EXPRESS";
    let started = match engine
        .start_execution(StartRequest::new(&machine_arn, name, Some(input)))
        .await
    {
        Ok(x) => x,
        Err(e) => return engine_error(route, e),
    };
    if !express {
        return (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "executionArn": started.arn,
                "startDate": crate::aws::epoch(started.start_ms),
            })),
        )
            .into_response();
    }
    let x = match engine.wait(&started.arn, SYNC_WAIT).await {
        Ok(x) => x,
        Err(e) => return engine_error(route, e),
    };
    if x.status == "SUCCEEDED" {
        let output = x.output.unwrap_or_else(|| "null".into());
        return ([(http::header::CONTENT_TYPE, "application/json")], output).into_response();
    }
    let error = x.error.unwrap_or_else(|| format!("States.{}", x.status));
    let cause = x.cause.unwrap_or_default();
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "error": error, "cause": cause })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_json_or_named_as_not_json() {
        assert_eq!(input_of(b"").unwrap(), "{}");
        assert_eq!(input_of(b" \n").unwrap(), "{}");
        assert_eq!(input_of(br#"{"a": 1}"#).unwrap(), r#"{"a": 1}"#);
        assert_eq!(input_of(b"[1]").unwrap(), "[1]");
        let e = input_of(b"{nope").unwrap_err();
        assert!(e.contains("must be JSON"), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }
}
