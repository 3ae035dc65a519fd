//! The delivery worker: performs stored deliveries, each the event of one rule for one of
//! its targets. A delivery that fails is tried again after a back-off (the node's base,
//! doubling, with jitter) until its target's `MaximumRetryAttempts` or
//! `MaximumEventAgeInSeconds`; one that cannot succeed (the target is gone, the input is
//! not what it takes) stops at once. Either way it goes to the dead letters with the
//! reason, and to the target's dead-letter queue if it has one, in the same commit. A
//! delivery leaves the store only when it was delivered or dead-lettered, so a crash
//! repeats it rather than losing it (at-least-once; a workflow target's execution is named
//! after the delivery, so a repeat does not start a second one).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cirrus_events::CloudEvent;
use cirrus_runtime::Payload;
use cirrus_store::{DeadEvent, Delivery};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::Events;
use super::rules::{Action, TargetDoc};
use crate::functions::FnError;

/// Deliveries in flight at once.
const PARALLEL: usize = 512;
/// Bus-to-bus hops an event may take (a loop of rules stops here).
const MAX_HOPS: u64 = 5;

/// Why an attempt failed.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Worth trying again (a throttle, a 5xx, a broker that is down).
    pub retry: bool,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    fn retry(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            retry: true,
            code,
            message: message.into(),
        }
    }

    fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            retry: false,
            code,
            message: message.into(),
        }
    }
}

/// What a stored delivery carries (see [`Events::delivery`]).
#[derive(serde::Deserialize)]
struct Carried {
    /// The rendered input; `None` when it is the event.
    input: Option<String>,
    target: TargetDoc,
    event: Value,
    rule_arn: String,
}

/// Which deliveries the loop must not start: those running, and those whose last change
/// (a reschedule, a dead letter, a removal) a read of the queue begun before it was
/// committed may not show yet. Without the second kind, a read that raced a retry's
/// reschedule would start the same attempt twice.
#[derive(Default)]
struct Tracker {
    /// Reads of the queue begun so far.
    reads: AtomicU64,
    /// `None`: running; `Some(r)`: settled when `r` reads had begun.
    ids: Mutex<HashMap<String, Option<u64>>>,
}

impl Tracker {
    fn begin_read(&self) -> u64 {
        self.reads.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The deliveries of read `read` that may start now, marked running.
    fn claim(&self, read: u64, due: Vec<Delivery>) -> Vec<Delivery> {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        // Changes settled before this read began are in what it returned.
        ids.retain(|_, settled| settled.is_none_or(|r| r >= read));
        due.into_iter()
            .filter(|d| match ids.entry(d.id.clone()) {
                Entry::Vacant(v) => {
                    v.insert(None);
                    true
                }
                Entry::Occupied(_) => false,
            })
            .collect()
    }

    /// A delivery's change is committed.
    fn settled(&self, id: String) {
        let r = self.reads.load(Ordering::SeqCst);
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Some(r));
    }
}

/// Performs deliveries until the node stops.
pub async fn run(events: Arc<Events>) {
    let tracker: Arc<Tracker> = Arc::default();
    let slots = Arc::new(Semaphore::new(PARALLEL));
    let done: Arc<Mutex<Vec<String>>> = Arc::default();
    loop {
        flush_done(&events, &done, &tracker).await;
        let now = cirrus_engine::now_ms();
        let read = tracker.begin_read();
        let due = match events.store.due_deliveries(now, PARALLEL * 2).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(err = %e, "cannot read the delivery queue; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let fresh = tracker.claim(read, due);
        if fresh.is_empty() {
            if !done.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                continue;
            }
            let next = match events.store.next_delivery_due().await {
                Ok(next) => next,
                Err(_) => Some(now + 1000),
            };
            let wait = match next {
                Some(at) if at > now => Duration::from_millis((at - now) as u64),
                // Due but running or just settled: look again shortly.
                Some(_) => Duration::from_millis(20),
                None => {
                    events.wake.notified().await;
                    continue;
                }
            };
            let _ = tokio::time::timeout(wait, events.wake.notified()).await;
            continue;
        }
        for delivery in fresh {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let events = events.clone();
            let tracker = tracker.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let id = delivery.id.clone();
                if attempt(&events, delivery).await {
                    // Stays running until its removal is committed.
                    done.lock().unwrap_or_else(|e| e.into_inner()).push(id);
                } else {
                    tracker.settled(id);
                }
                drop(permit);
                events.wake.notify_one();
            });
        }
    }
}

/// Removes delivered deliveries from the store, many per commit, and then marks them
/// settled.
async fn flush_done(events: &Events, done: &Mutex<Vec<String>>, tracker: &Tracker) {
    let ids = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
    if ids.is_empty() {
        return;
    }
    if let Err(e) = events.store.finish_deliveries(&ids).await {
        tracing::warn!(err = %e, n = ids.len(), "delivered, but cannot remove the deliveries; they will be repeated");
    }
    for id in ids {
        tracker.settled(id);
    }
}

/// Tries a delivery once; `true` when it was delivered (and should be removed).
async fn attempt(events: &Events, mut delivery: Delivery) -> bool {
    let carried: Carried = match serde_json::from_str(&delivery.payload) {
        Ok(c) => c,
        Err(e) => {
            let failure = Failure::fatal(
                "InvalidDelivery",
                format!("the stored delivery is corrupt: {e}"),
            );
            dead_letter(events, delivery, None, &failure, "InvalidDelivery").await;
            return false;
        }
    };
    let result = perform(events, &delivery, &carried).await;
    let Err(failure) = result else {
        return true;
    };
    let now = cirrus_engine::now_ms();
    delivery.attempts += 1;
    delivery.last_error =
        Some(json!({ "code": failure.code, "message": failure.message }).to_string());
    let retry = carried.target.retry;
    let age_ms = now - delivery.created_ms;
    let reason = if !failure.retry {
        failure.code
    } else if delivery.attempts > retry.maximum_retry_attempts {
        "RetriesExhausted"
    } else if age_ms >= i64::from(retry.maximum_event_age_seconds) * 1000 {
        "EventAgeExceeded"
    } else {
        let base = events.options.retry_base;
        let exp =
            base.saturating_mul(2u32.saturating_pow(delivery.attempts.saturating_sub(1).min(20)));
        let capped = exp.min(events.options.max_backoff);
        // Full jitter over the upper half, so retries of many events spread out.
        let half = capped.as_millis() as u64 / 2;
        let jitter = random_u64() % (half + 1);
        delivery.due_ms = now + (half + jitter) as i64;
        tracing::debug!(id = %delivery.id, attempts = delivery.attempts, code = failure.code, "delivery failed; retrying");
        if let Err(e) = events.store.reschedule_delivery(&delivery).await {
            tracing::warn!(id = %delivery.id, err = %e, "cannot reschedule the delivery; it stays due");
        }
        return false;
    };
    dead_letter(events, delivery, Some(&carried), &failure, reason).await;
    false
}

async fn dead_letter(
    events: &Events,
    delivery: Delivery,
    carried: Option<&Carried>,
    failure: &Failure,
    reason: &str,
) {
    tracing::info!(id = %delivery.id, bus = %delivery.bus, rule = %delivery.rule, target = %delivery.target, reason, error = %failure.message, "event dead-lettered");
    let message = match carried.and_then(|c| c.target.dead_letter_queue.as_ref().map(|q| (c, q))) {
        Some((c, queue)) => {
            let target_arn = super::rules::target_arn(&events.partition, &c.target);
            let attributes = json!({
                "RULE_ARN": { "DataType": "String", "StringValue": c.rule_arn },
                "TARGET_ARN": { "DataType": "String", "StringValue": target_arn },
                "ERROR_CODE": { "DataType": "String", "StringValue": failure.code },
                "ERROR_MESSAGE": { "DataType": "String", "StringValue": failure.message },
                "RETRY_ATTEMPTS": { "DataType": "Number", "StringValue": delivery.attempts.saturating_sub(1).to_string() },
            });
            match events
                .queues
                .message_for(queue, c.event.to_string(), attributes)
                .await
            {
                Ok(m) => Some((queue.clone(), m)),
                Err(e) => {
                    tracing::warn!(queue = %queue, err = %e, "the dead-letter queue cannot take the event; it is kept in the node's dead letters only");
                    None
                }
            }
        }
        None => None,
    };
    let dead = DeadEvent {
        delivery,
        reason: reason.to_owned(),
        failed_ms: cirrus_engine::now_ms(),
    };
    match events
        .store
        .dead_letter_delivery(&dead, message.as_ref().map(|(_, m)| m))
        .await
    {
        Ok(()) => {
            if let Some((queue, _)) = message {
                events.queues.sent(&queue);
            }
        }
        Err(e) => {
            tracing::warn!(id = %dead.delivery.id, err = %e, "cannot dead-letter the delivery; it stays queued")
        }
    }
}

async fn perform(events: &Events, delivery: &Delivery, c: &Carried) -> Result<(), Failure> {
    let input = c.input.clone().unwrap_or_else(|| c.event.to_string());
    match &c.target.action {
        Action::Function {
            function,
            qualifier,
            sync,
        } => {
            let f = &events.functions;
            if *sync {
                let detail_type = c
                    .event
                    .get("detail-type")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let source = c.event.get("source").and_then(Value::as_str).unwrap_or("");
                let payload = Payload::Event {
                    body: Bytes::from(input),
                    event_type: detail_type.into(),
                    source: source.into(),
                };
                let request_id = format!("{}-{}", delivery.id, delivery.attempts + 1);
                match f
                    .invoke(
                        function,
                        qualifier.as_deref(),
                        payload,
                        Some(request_id),
                        None,
                    )
                    .await
                {
                    Ok(invoked) => match invoked.outcome.result {
                        Ok(_) => Ok(()),
                        Err(e) => Err(Failure::retry(
                            "FunctionError",
                            String::from_utf8_lossy(&e.body).into_owned(),
                        )),
                    },
                    Err(e) => Err(function_failure(e)),
                }
            } else {
                f.invoke_async(function, qualifier.as_deref(), Bytes::from(input))
                    .await
                    .map(|_| ())
                    .map_err(function_failure)
            }
        }
        Action::Workflow { state_machine } => {
            let Some(engine) = events.engine() else {
                return Err(Failure::retry(
                    "ServiceUnavailable",
                    "the engine is not running",
                ));
            };
            let input = if serde_json::from_str::<Value>(&input).is_ok() {
                input
            } else {
                Value::String(input).to_string()
            };
            let target = resolve_machine(events, state_machine);
            let req = cirrus_engine::run::StartRequest::new(
                target,
                Some(delivery.id.clone()),
                Some(input),
            );
            match engine.start_execution(req).await {
                Ok(_) | Err(cirrus_engine::EngineError::ExecutionAlreadyExists(_)) => Ok(()),
                Err(e) if e.is_client_error() => Err(Failure::fatal(e.aws_name(), e.to_string())),
                Err(e) => Err(Failure::retry(e.aws_name(), e.to_string())),
            }
        }
        Action::Queue { queue } => match events.queues.send(queue, input, json!({})).await {
            Ok(_) => Ok(()),
            Err(super::queues::QueueError::NoSuchQueue(q)) => Err(Failure::fatal(
                "QueueNotFound",
                format!("queue '{q}' does not exist"),
            )),
            Err(super::queues::QueueError::Invalid(m)) => Err(Failure::fatal("InvalidInput", m)),
            Err(e) => Err(Failure::retry("QueueError", e.to_string())),
        },
        Action::Http {
            url,
            method,
            headers,
        } => {
            let method = method
                .parse::<reqwest::Method>()
                .unwrap_or(reqwest::Method::POST);
            let mut req = events
                .http
                .request(method, url)
                .header("content-type", "application/json")
                .header(
                    "x-cirrus-event-id",
                    c.event.get("id").and_then(Value::as_str).unwrap_or(""),
                )
                .body(input);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => Err(
                    Failure::retry("HttpError", format!("{url} answered {}", r.status())),
                ),
                Ok(r) => Err(Failure::fatal(
                    "HttpError",
                    format!("{url} answered {}", r.status()),
                )),
                Err(e) => Err(Failure::retry("HttpError", format!("{url}: {e}"))),
            }
        }
        Action::Publish { broker } => {
            let target = super::brokers::PublishTarget::parse(broker)
                .map_err(|e| Failure::fatal("InvalidTarget", e.to_string()))?;
            events
                .brokers
                .publish(&target, Bytes::from(input))
                .await
                .map_err(|e| Failure::retry("BrokerError", e.to_string()))
        }
        Action::Bus { bus } => {
            let mut event = CloudEvent::from_eventbridge(&c.event)
                .map_err(|e| Failure::fatal("InvalidEvent", e.to_string()))?;
            let hops = event
                .extensions
                .get("cirrushops")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                + 1;
            if hops > MAX_HOPS {
                return Err(Failure::fatal(
                    "TooManyHops",
                    format!("the event crossed {MAX_HOPS} buses; a loop of rules?"),
                ));
            }
            event.extensions.insert("cirrushops".into(), json!(hops));
            // The target's input becomes the event's detail when it was transformed.
            if let Ok(v) = serde_json::from_str::<Value>(&input)
                && v.get("detail-type").is_none()
            {
                event.data = Some(v);
            }
            match Box::pin(events.accept(bus, &[event], None)).await {
                Ok(_) => Ok(()),
                Err(super::SinkError::NoSuchBus(b)) => Err(Failure::fatal(
                    "BusNotFound",
                    format!("event bus '{b}' does not exist"),
                )),
                Err(e) => Err(Failure::retry("StoreError", e.to_string())),
            }
        }
    }
}

fn function_failure(e: FnError) -> Failure {
    match e {
        FnError::NotFound(m) => Failure::fatal("FunctionNotFound", m),
        FnError::Throttled(m) => Failure::retry("TooManyRequestsException", m),
        FnError::Service(m) => Failure::retry("ServiceException", m),
        FnError::TooLarge(m) => Failure::fatal("RequestTooLarge", m),
        other => Failure::fatal(other.aws_name(), other.to_string()),
    }
}

/// A state machine's ARN for a name or ARN.
pub(crate) fn resolve_machine(events: &Events, given: &str) -> String {
    if given.starts_with("arn:") {
        given.to_owned()
    } else {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{given}",
            events.partition.region, events.partition.account
        )
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}
