//! Asynchronous invocations. `Invoke` with `InvocationType: Event` stores the event in the
//! durable queue and answers 202; this worker delivers it. A delivery the function fails
//! is tried again after the function's back-off (`async_retry_base`, doubling) up to its
//! `MaximumRetryAttempts`; a throttled one is tried again (without counting) until the
//! event is older than `MaximumEventAgeInSeconds`. Then the event goes to the dead letters,
//! with the reason, and to the on-failure destination if there is one. Destinations are
//! functions, state machines, event buses and queues (`send_to`). An event leaves the
//! queue only when it was delivered or dead-lettered, so a crash delivers it again rather
//! than losing it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cirrus_events::CloudEvent;
use cirrus_runtime::Payload;
use cirrus_store::{DeadLetter, QueuedInvocation};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

use super::{FnError, Functions};

/// Deliveries in flight at once.
const PARALLEL: usize = 64;
/// A throttled or failing-to-start event waits at most this long between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Wakes the worker when an event is queued.
#[derive(Default)]
pub struct Signal(Notify);

impl Signal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Delivers queued events until the node stops.
pub async fn run(functions: Arc<Functions>) {
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(PARALLEL));
    loop {
        let now = cirrus_engine::now_ms();
        let due = match functions.store.due_invocations(now, PARALLEL * 2).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(err = %e, "cannot read the invocation queue; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let fresh: Vec<QueuedInvocation> = {
            let mut set = in_flight.lock().unwrap_or_else(|e| e.into_inner());
            due.into_iter()
                .filter(|i| set.insert(i.id.clone()))
                .collect()
        };
        if fresh.is_empty() {
            let next = match functions.store.next_invocation_due().await {
                Ok(next) => next,
                Err(_) => Some(now + 1000),
            };
            let wait = match next {
                Some(at) if at > now => Duration::from_millis((at - now) as u64),
                // Due now but all in flight: look again shortly.
                Some(_) => Duration::from_millis(20),
                // An empty queue: nothing to ask the store until an event is queued here
                // (this node is the queue's only writer), so an idle node makes no queries.
                None => {
                    functions.queue.0.notified().await;
                    continue;
                }
            };
            let _ = tokio::time::timeout(wait, functions.queue.0.notified()).await;
            continue;
        }
        for invocation in fresh {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let functions = functions.clone();
            let in_flight = in_flight.clone();
            tokio::spawn(async move {
                let id = invocation.id.clone();
                deliver(&functions, invocation).await;
                in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                drop(permit);
                functions.queue.wake();
            });
        }
    }
}

async fn deliver(functions: &Functions, mut invocation: QueuedInvocation) {
    let name = invocation.function.clone();
    let qualifier = (invocation.qualifier != "$LATEST").then(|| invocation.qualifier.clone());
    let payload = Payload::Event {
        body: Bytes::from(invocation.payload.clone()),
        event_type: "cirrus.function.invoke".into(),
        source: "cirrus.async".into(),
    };
    let attempt = invocation.attempts + 1;
    let result = functions
        .invoke(
            &name,
            qualifier.as_deref(),
            payload,
            Some(invocation.id.clone()),
            None,
        )
        .await;
    let now = cirrus_engine::now_ms();
    let config = functions
        .resolve(&name, qualifier.as_deref())
        .await
        .map(|r| r.config);
    let (max_retries, max_age_ms, on_success, on_failure) = match &config {
        Ok(c) => (
            c.event_invoke.maximum_retry_attempts,
            i64::from(c.event_invoke.maximum_event_age_seconds) * 1000,
            c.event_invoke.on_success.clone(),
            c.event_invoke
                .on_failure
                .clone()
                .or(c.dead_letter_target.clone()),
        ),
        Err(_) => (0, 0, None, None),
    };
    let too_old = now - invocation.created_ms > max_age_ms;
    let store = &functions.store;
    let outcome = match result {
        Ok(invoked) => match &invoked.outcome.result {
            Ok(_) => {
                if let Err(e) = store.finish_invocation(&invocation.id).await {
                    tracing::warn!(id = %invocation.id, err = %e, "delivered, but cannot remove the event from the queue");
                    return;
                }
                if let Some(target) = on_success {
                    let (body, _) = Functions::reply_body(&invoked.outcome);
                    let record = destination_record(
                        functions,
                        &invocation,
                        attempt,
                        "Success",
                        &invoked.version,
                        None,
                        &body,
                    );
                    send_to(functions, &target, record).await;
                }
                return;
            }
            Err(e) => {
                let error = String::from_utf8_lossy(&e.body).into_owned();
                Failed::Function {
                    error,
                    version: invoked.version.clone(),
                }
            }
        },
        Err(FnError::NotFound(m)) => Failed::Fatal("FunctionNotFound", m),
        Err(FnError::Throttled(m)) | Err(FnError::Service(m)) => Failed::Transient(m),
        Err(e) => Failed::Fatal("InvalidEvent", e.to_string()),
    };
    match outcome {
        Failed::Function { error, version } => {
            invocation.attempts = attempt;
            invocation.last_error = Some(error.clone());
            if attempt > max_retries || too_old {
                let reason = if too_old {
                    "EventAgeExceeded"
                } else {
                    "RetriesExhausted"
                };
                let record = destination_record(
                    functions,
                    &invocation,
                    attempt,
                    reason,
                    &version,
                    Some("Unhandled"),
                    error.as_bytes(),
                );
                dead_letter(functions, invocation, reason, on_failure, record).await;
            } else {
                let delay = functions.async_retry_base * 2u32.saturating_pow(attempt - 1);
                invocation.due_ms = now + delay.min(MAX_BACKOFF).as_millis() as i64;
                reschedule(functions, &invocation).await;
            }
        }
        Failed::Transient(message) => {
            invocation.last_error = Some(
                json!({ "errorType": "TooManyRequestsException", "errorMessage": message })
                    .to_string(),
            );
            if too_old {
                let record = destination_record(
                    functions,
                    &invocation,
                    attempt,
                    "EventAgeExceeded",
                    &invocation.qualifier.clone(),
                    None,
                    b"",
                );
                dead_letter(
                    functions,
                    invocation,
                    "EventAgeExceeded",
                    on_failure,
                    record,
                )
                .await;
            } else {
                // Throttles are not attempts; back off by how long the event has waited.
                let waited = Duration::from_millis((now - invocation.created_ms).max(0) as u64);
                let delay = (waited / 2).clamp(functions.async_retry_base, MAX_BACKOFF);
                invocation.due_ms = now + delay.as_millis() as i64;
                reschedule(functions, &invocation).await;
            }
        }
        Failed::Fatal(reason, message) => {
            invocation.last_error =
                Some(json!({ "errorType": reason, "errorMessage": message }).to_string());
            dead_letter(functions, invocation, reason, None, Value::Null).await;
        }
    }
}

enum Failed {
    Function { error: String, version: String },
    Transient(String),
    Fatal(&'static str, String),
}

async fn reschedule(functions: &Functions, invocation: &QueuedInvocation) {
    if let Err(e) = functions.store.reschedule_invocation(invocation).await {
        tracing::warn!(id = %invocation.id, err = %e, "cannot reschedule the event; it stays due");
    }
}

async fn dead_letter(
    functions: &Functions,
    invocation: QueuedInvocation,
    reason: &str,
    destination: Option<String>,
    record: Value,
) {
    tracing::info!(id = %invocation.id, function = %invocation.function, reason, "event dead-lettered");
    let letter = DeadLetter {
        invocation,
        reason: reason.to_owned(),
        failed_ms: cirrus_engine::now_ms(),
    };
    if let Err(e) = functions.store.dead_letter_invocation(&letter).await {
        tracing::warn!(id = %letter.invocation.id, err = %e, "cannot dead-letter the event; it stays queued");
        return;
    }
    if let Some(events) = functions.events()
        && !record.is_null()
    {
        let arn = functions.function_arn(&letter.invocation.function);
        crate::events::lifecycle::emit(
            &events,
            crate::events::lifecycle::function_failure(&arn, record.clone()),
        )
        .await;
    }
    if let Some(target) = destination
        && !record.is_null()
    {
        send_to(functions, &target, record).await;
    }
}

/// Lambda's destination record.
fn destination_record(
    functions: &Functions,
    invocation: &QueuedInvocation,
    attempts: u32,
    condition: &str,
    version: &str,
    function_error: Option<&str>,
    response: &[u8],
) -> Value {
    let request: Value = serde_json::from_slice(&invocation.payload).unwrap_or_else(|_| {
        Value::String(String::from_utf8_lossy(&invocation.payload).into_owned())
    });
    let response: Value = serde_json::from_slice(response).unwrap_or(Value::Null);
    let mut context = json!({ "statusCode": 200, "executedVersion": version });
    if let Some(fe) = function_error {
        context["functionError"] = json!(fe);
    }
    json!({
        "version": "1.0",
        "timestamp": cirrus_asl::timestamp::Timestamp::from_unix_millis(cirrus_engine::now_ms()).to_iso_millis(),
        "requestContext": {
            "requestId": invocation.id,
            "functionArn": format!("{}:{}", functions.function_arn(&invocation.function), invocation.qualifier),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": request,
        "responseContext": context,
        "responsePayload": response,
    })
}

/// Delivers a destination record: a state machine starts an execution with it; a function
/// gets it as an asynchronous event; an event bus gets it as the `detail` of an event from
/// `lambda` (`Lambda Function Invocation Result - Success` or `- Failure`, with the bus and
/// the function version as `resources`, as Lambda sends it); a queue gets it as a message.
async fn send_to(functions: &Functions, target: &str, record: Value) {
    let result = if target.starts_with("arn:aws:states:") {
        match functions.engine() {
            Some(engine) => engine
                .start_execution(cirrus_engine::run::StartRequest::new(
                    target,
                    None,
                    Some(record.to_string()),
                ))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Err("the engine is not running".into()),
        }
    } else if let Some(bus) = super::destination_bus(target) {
        match functions.events() {
            Some(events) => events
                .accept(bus, &[result_event(target, &record)], None)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Err("the event system is not running".into()),
        }
    } else if let Some(queue) = crate::events::queues::queue_of_arn(target) {
        match functions.events() {
            Some(events) => events
                .queues
                .send(queue, record.to_string(), Value::Null)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Err("the event system is not running".into()),
        }
    } else {
        match functions.parse_name(target) {
            Ok((name, q)) => functions
                .invoke_async(&name, q.as_deref(), Bytes::from(record.to_string()))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    if let Err(e) = result {
        tracing::warn!(target, err = %e, "cannot deliver to the destination");
    }
}

/// The event a bus destination receives for a destination record.
fn result_event(bus_arn: &str, record: &Value) -> CloudEvent {
    let outcome = if record["requestContext"]["condition"] == "Success" {
        "Success"
    } else {
        "Failure"
    };
    let mut e = CloudEvent::new(
        cirrus_engine::uuid(),
        "lambda",
        format!("Lambda Function Invocation Result - {outcome}"),
    );
    e.datacontenttype = Some("application/json".into());
    e.data = Some(record.clone());
    let function = record["requestContext"]["functionArn"].clone();
    e.extensions
        .insert("resources".into(), json!([bus_arn, function]));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_event_is_from_lambda_and_names_the_outcome() {
        let record = json!({
            "requestContext": { "condition": "Success", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST" },
            "responsePayload": { "alert": true },
        });
        let bus = "arn:aws:events:us-east-1:000000000000:event-bus/default";
        let e = result_event(bus, &record);
        let eb = e.to_eventbridge("000000000000", "us-east-1");
        assert_eq!(eb["source"], "lambda");
        assert_eq!(
            eb["detail-type"],
            "Lambda Function Invocation Result - Success"
        );
        assert_eq!(eb["detail"], record);
        assert_eq!(eb["resources"][1], record["requestContext"]["functionArn"]);
        let mut failed = record;
        failed["requestContext"]["condition"] = json!("RetriesExhausted");
        assert_eq!(
            result_event(bus, &failed).ty,
            "Lambda Function Invocation Result - Failure"
        );
    }
}
