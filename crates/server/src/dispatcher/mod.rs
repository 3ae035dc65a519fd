//! The node's dispatcher: HTTP Tasks through the shared HTTP client, function Tasks
//! (a Lambda ARN, `arn:aws:states:::lambda:invoke`, or a Cirrus function name) through the
//! function pools, and the service integrations of the node's own services:
//! `sqs:sendMessage` ([`send_message`]) and `events:putEvents` ([`put_events`]), each also
//! as `.waitForTaskToken` (the engine then waits for the token it put in the parameters).
//! Any other service integration fails with `States.Runtime`, naming the resource.
//!
//! Dispatch is at-least-once: a Task dispatched before a crash and not yet recorded is
//! dispatched again when the node restarts, so a message may be sent, or an event put,
//! twice. Functions get the attempt's request id to deduplicate with; events put by
//! `putEvents` get ids derived from it; queue messages do not (SQS has no such key).

mod put_events;
mod send_message;

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use cirrus_asl::Failure;
use cirrus_engine::{Dispatcher, TaskCall};
use cirrus_runtime::Payload;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::events::Events;
use crate::functions::{FnError, Functions};
use crate::http_task::HttpTasks;

pub struct NodeDispatcher {
    http: HttpTasks,
    functions: Arc<Functions>,
    /// The event system owns the engine that owns this dispatcher: a weak reference, so
    /// that neither keeps the other alive.
    events: Weak<Events>,
}

impl NodeDispatcher {
    pub fn new(
        region: &str,
        max_response_bytes: usize,
        functions: Arc<Functions>,
        events: Weak<Events>,
    ) -> Self {
        NodeDispatcher {
            http: HttpTasks::new(max_response_bytes).with_region(region),
            functions,
            events,
        }
    }

    fn events(&self) -> Result<Arc<Events>, Failure> {
        self.events
            .upgrade()
            .ok_or_else(|| Failure::new("States.Runtime", "The node is shutting down"))
    }
}

/// The request id a task attempt's deliveries share, so a function can recognise a
/// delivery repeated after a crash: the idempotency key's digest, in UUID form.
fn request_id(idempotency_key: &str) -> String {
    let d = Sha256::digest(idempotency_key.as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// How Step Functions names a Lambda API failure.
fn failure_of(e: FnError) -> Failure {
    let error = match &e {
        FnError::NotFound(_) => "Lambda.ResourceNotFoundException",
        FnError::Throttled(_) => "Lambda.TooManyRequestsException",
        FnError::TooLarge(_) => "Lambda.RequestTooLargeException",
        FnError::Invalid(_) => "Lambda.InvalidParameterValueException",
        FnError::Conflict(_) | FnError::RevisionMismatch(_) => "Lambda.ResourceConflictException",
        FnError::Service(_) => "Lambda.ServiceException",
    };
    Failure::new(error, e.to_string())
}

#[async_trait]
impl Dispatcher for NodeDispatcher {
    async fn invoke_function(&self, call: &TaskCall) -> Result<Value, Failure> {
        let integration = call.resource.starts_with("arn:aws:states:::lambda:invoke");
        let (target, payload, kind) = if integration {
            let p = &call.payload;
            let Some(name) = p.get("FunctionName").and_then(Value::as_str) else {
                return Err(Failure::new(
                    "States.Runtime",
                    "The field 'FunctionName' is required by lambda:invoke",
                ));
            };
            let payload = match p.get("Payload") {
                None | Some(Value::Null) => "{}".to_owned(),
                Some(v) => v.to_string(),
            };
            let kind = p
                .get("InvocationType")
                .and_then(Value::as_str)
                .unwrap_or("RequestResponse");
            (name.to_owned(), payload, kind.to_owned())
        } else {
            (
                call.resource.clone(),
                call.payload.to_string(),
                "RequestResponse".to_owned(),
            )
        };
        let f = &self.functions;
        let (name, mut qualifier) = f.parse_name(&target).map_err(failure_of)?;
        if integration && let Some(q) = call.payload.get("Qualifier").and_then(Value::as_str) {
            qualifier = Some(q.to_owned());
        }
        let body = Bytes::from(payload);
        match kind.as_str() {
            "Event" => {
                let id = f
                    .invoke_async(&name, qualifier.as_deref(), body)
                    .await
                    .map_err(failure_of)?;
                return Ok(
                    json!({ "StatusCode": 202, "Payload": "", "SdkResponseMetadata": { "RequestId": id } }),
                );
            }
            "DryRun" => {
                f.resolve(&name, qualifier.as_deref())
                    .await
                    .map_err(failure_of)?;
                return Ok(json!({ "StatusCode": 204, "Payload": "" }));
            }
            "RequestResponse" => {}
            other => {
                return Err(Failure::new(
                    "Lambda.InvalidParameterValueException",
                    format!("InvocationType '{other}' is not RequestResponse, Event or DryRun"),
                ));
            }
        }
        let context = json!({ "custom": { "cirrus-idempotency-key": call.idempotency_key } });
        let context = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            context.to_string(),
        );
        let invoked = f
            .invoke(
                &name,
                qualifier.as_deref(),
                Payload::Event {
                    body,
                    event_type: "cirrus.workflow.task".into(),
                    source: call.execution_arn.clone(),
                },
                Some(request_id(&call.idempotency_key)),
                Some(context),
            )
            .await
            .map_err(failure_of)?;
        let (reply, error) = Functions::reply_body(&invoked.outcome);
        if let Some(e) = error {
            return Err(Failure::new(
                e.error_type.clone(),
                String::from_utf8_lossy(&e.body).into_owned(),
            ));
        }
        let result: Value = if reply.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&reply)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reply).into_owned()))
        };
        if !integration {
            return Ok(result);
        }
        Ok(json!({
            "ExecutedVersion": invoked.version,
            "Payload": result,
            "SdkHttpMetadata": {
                "HttpHeaders": {
                    "Content-Type": "application/json",
                    "X-Amz-Executed-Version": invoked.version,
                    "x-amzn-RequestId": invoked.request_id,
                },
                "HttpStatusCode": 200,
            },
            "SdkResponseMetadata": { "RequestId": invoked.request_id },
            "StatusCode": 200,
        }))
    }

    async fn call_service(&self, call: &TaskCall) -> Result<Value, Failure> {
        let resource = call.resource.as_str();
        let service = resource
            .strip_suffix(".waitForTaskToken")
            .unwrap_or(resource);
        match service {
            "arn:aws:states:::sqs:sendMessage" => {
                let events = self.events()?;
                send_message::send_message(&events.queues, &call.payload).await
            }
            "arn:aws:states:::events:putEvents" => {
                let events = self.events()?;
                put_events::put_events(&events, call).await
            }
            _ => Err(Failure::new(
                "States.Runtime",
                format!(
                    "Cirrus does not integrate with the service of '{resource}' (it integrates with lambda:invoke, http:invoke, states:startExecution, sqs:sendMessage and events:putEvents)."
                ),
            )),
        }
    }

    async fn call_http(&self, call: &TaskCall) -> Result<Value, Failure> {
        let timeout = call.timeout_seconds.map(std::time::Duration::from_secs);
        self.http
            .invoke(&call.payload, timeout)
            .await
            .map_err(|f| Failure {
                error: f.error,
                cause: f.cause,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_attempt_has_one_request_id() {
        let a = request_id("arn:x/State/3");
        assert_eq!(a, request_id("arn:x/State/3"));
        assert_ne!(a, request_id("arn:x/State/4"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
