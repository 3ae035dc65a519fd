//! One invocation: a `Store` with the function's limits and WASI context, a fresh instance
//! from the pool, the request handed to `wasi:http/incoming-handler`, the response read
//! back, and whatever went wrong turned into the function's error.
//!
//! The guest runs beside the reading of its response, in the caller's task: the
//! invocation reads the body while the guest writes it, and ends when both the body and
//! the handler have. Two clocks bound it: the epoch callback traps the guest at the deadline while it
//! computes (and yields its thread every tick meanwhile), and a timer on the whole wait
//! covers a guest blocked on I/O.

use std::pin::pin;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline, WasmBacktrace};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::event;
use super::logs::{LogSink, MAX_LOG_BYTES};
use super::outbound::OutboundPolicy;
use crate::types::{
    FunctionError, FunctionSpec, HttpResponse, Invocation, Outcome, Payload, Reply,
};

/// The error type of an invocation that found every instance slot of the pool in use
/// ([`super::WasmConfig::max_instances`]): nothing ran, and a retry may succeed.
pub const INSTANCE_LIMIT_ERROR_TYPE: &str = "Sandbox.InstanceLimitExceeded";

/// The largest response body a function may return (Lambda's synchronous payload limit).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// What a store holds for one invocation.
pub(crate) struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outbound: OutboundPolicy,
    memory: MemoryCap,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// The function's memory cap over all of an instance's linear memories. Growth past it
/// fails (the guest sees `memory.grow` return -1) and is remembered, so that the trap that
/// usually follows is reported as running out of memory.
struct MemoryCap {
    limit: usize,
    used: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|maximum| desired <= maximum))
    }
}

/// The error the epoch callback stops a guest with at its deadline.
#[derive(Debug)]
struct DeadlineReached;

impl std::fmt::Display for DeadlineReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the invocation's deadline was reached")
    }
}

impl std::error::Error for DeadlineReached {}

/// How the guest task ended.
enum GuestEnd {
    Returned,
    /// Instantiation failed: the pool is full, or the component's start trapped.
    InitFailed(wasmtime::Error),
    Trapped(wasmtime::Error),
}

/// What the response channel delivered.
enum Response {
    Complete(HttpResponse),
    /// The guest returned (or trapped) without setting a response.
    Missing,
    /// The guest set an error code instead of a response.
    ErrorCode(ErrorCode),
    /// The body could not be read to its end.
    BodyFailed(String),
    TooLarge,
}

/// Runs `invocation` on a new instance of `pre`. `memory_ceiling` is the pool's limit per
/// instance, which caps the function's own.
pub(crate) async fn invoke(
    engine: &Engine,
    pre: &ProxyPre<Host>,
    memory_ceiling: u64,
    spec: &FunctionSpec,
    invocation: Invocation,
) -> Outcome {
    let logs = LogSink::new(MAX_LOG_BYTES);
    let memory_limit = (u64::from(spec.memory_mb) << 20).min(memory_ceiling);
    let mut store = new_store(engine, spec, memory_limit, &logs);

    let (request, is_event) = match &invocation.payload {
        Payload::Http(request) => (event::http_request(request), false),
        Payload::Event {
            body,
            event_type,
            source,
        } => (
            event::event_request(
                &invocation.request_id,
                body,
                event_type,
                source,
                SystemTime::now(),
            ),
            true,
        ),
    };
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let resources = {
        let mut http = store.data_mut().http();
        http.new_incoming_request(Scheme::Http, request.map(Full::new))
            .and_then(|request| Ok((request, http.new_response_outparam(sender)?)))
    };
    let (request, outparam) = match resources {
        Ok(resources) => resources,
        Err(error) => {
            return outcome(
                Err(FunctionError::platform(
                    "Runtime.InvalidRequest",
                    format!("the request cannot be given to the function: {error}"),
                )),
                &logs,
                Duration::ZERO,
            );
        }
    };

    let started = Instant::now();
    // A timeout too long to add is as good as none.
    let deadline = started.checked_add(spec.timeout);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            Err(wasmtime::Error::new(DeadlineReached))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });

    // The guest and the reading of its response run side by side in this task (no spawn:
    // no hand-offs between threads). The guest future owns the store and drops it when the
    // handler ends, which closes the response channel and body of a guest that trapped.
    let guest = async move {
        // The invocation's duration counts from the handler's call (or from the start, if
        // there is no instance to call).
        let mut called = started;
        let end = match pre.instantiate_async(&mut store).await {
            Err(error) => GuestEnd::InitFailed(error),
            Ok(proxy) => {
                called = Instant::now();
                match proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, request, outparam)
                    .await
                {
                    Ok(()) => GuestEnd::Returned,
                    Err(error) => GuestEnd::Trapped(error),
                }
            }
        };
        let out_of_memory = store.data().memory.exceeded;
        drop(store);
        (end, out_of_memory, called.elapsed())
    };
    let response = async move {
        match receiver.await {
            Ok(Ok(response)) => read_response(response).await,
            Ok(Err(code)) => Response::ErrorCode(code),
            Err(_) => Response::Missing,
        }
    };
    let both = async move {
        let (mut guest, mut response) = (pin!(guest), pin!(response));
        tokio::select! {
            biased;
            ended = &mut guest => (response.await, ended),
            answered = &mut response => (answered, guest.await),
        }
    };

    match tokio::time::timeout(spec.timeout, both).await {
        Err(_elapsed) => outcome(Err(timed_out(spec.timeout)), &logs, started.elapsed()),
        Ok((response, (end, out_of_memory, duration))) => {
            let out_of_memory = out_of_memory.then_some(memory_limit);
            let result = result(spec, end, out_of_memory, response, is_event, &logs);
            outcome(result, &logs, duration)
        }
    }
}

fn new_store(
    engine: &Engine,
    spec: &FunctionSpec,
    memory_limit: u64,
    logs: &LogSink,
) -> Store<Host> {
    let mut wasi = WasiCtx::builder();
    wasi.arg(&spec.name)
        .stdout(logs.clone())
        .stderr(logs.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    for (name, value) in &spec.environment {
        wasi.env(name, value);
    }
    let limit = usize::try_from(memory_limit).unwrap_or(usize::MAX);
    let host = Host {
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        outbound: OutboundPolicy::new(&spec.allowed_hosts),
        memory: MemoryCap {
            limit,
            used: 0,
            exceeded: false,
        },
    };
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.memory);
    store
}

/// Reads the body as the guest writes it, up to [`MAX_RESPONSE_BYTES`].
async fn read_response(response: http::Response<HyperOutgoingBody>) -> Response {
    let (parts, body) = response.into_parts();
    match Limited::new(body, MAX_RESPONSE_BYTES).collect().await {
        Ok(collected) => Response::Complete(HttpResponse {
            status: parts.status,
            headers: parts.headers,
            body: collected.to_bytes(),
        }),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Response::TooLarge,
        Err(error) => Response::BodyFailed(error.to_string()),
    }
}

/// The invocation's result, from how the guest ended and what it answered. A failure of
/// the guest explains a missing or broken response, so it is looked at first.
/// `out_of_memory` is the memory limit, if the guest tried to grow past it.
fn result(
    spec: &FunctionSpec,
    end: GuestEnd,
    out_of_memory: Option<u64>,
    response: Response,
    is_event: bool,
    logs: &LogSink,
) -> Result<Reply, FunctionError> {
    if let (Some(limit), GuestEnd::InitFailed(_) | GuestEnd::Trapped(_)) = (out_of_memory, &end) {
        return Err(out_of_memory_error(limit));
    }
    match end {
        GuestEnd::Returned => {}
        GuestEnd::InitFailed(error)
            if error
                .chain()
                .any(|cause| cause.is::<wasmtime::PoolConcurrencyLimitError>()) =>
        {
            return Err(FunctionError::platform(
                INSTANCE_LIMIT_ERROR_TYPE,
                format!(
                    "no instance could be started: all of the node's WebAssembly instance slots \
                     are in use ({})",
                    chain(&error)
                ),
            ));
        }
        GuestEnd::InitFailed(error) => {
            return Err(FunctionError::platform(
                "Runtime.InitError",
                format!("the function's instance could not start: {}", chain(&error)),
            ));
        }
        GuestEnd::Trapped(error) => return Err(trap_error(spec, &error, logs)),
    }
    let response = match response {
        Response::Complete(response) => response,
        Response::Missing => {
            return Err(FunctionError::platform(
                "Runtime.NoResponse",
                "the function returned without setting a response",
            ));
        }
        Response::ErrorCode(code) => {
            return Err(FunctionError::platform(
                "Runtime.ErrorResponse",
                format!("the function answered with the error code {code:?}"),
            ));
        }
        Response::BodyFailed(reason) => {
            return Err(FunctionError::platform(
                "Runtime.InvalidResponse",
                format!("the function's response body could not be read: {reason}"),
            ));
        }
        Response::TooLarge => {
            return Err(FunctionError::platform(
                "Function.ResponseSizeTooLarge",
                format!(
                    "Response payload size exceeded maximum allowed payload size \
                     ({MAX_RESPONSE_BYTES} bytes)."
                ),
            ));
        }
    };
    if is_event {
        event::event_reply(response)
    } else {
        Ok(Reply::Http(response))
    }
}

fn timed_out(timeout: Duration) -> FunctionError {
    FunctionError::platform(
        "Sandbox.Timedout",
        format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
    )
}

fn out_of_memory_error(limit: u64) -> FunctionError {
    FunctionError::platform(
        "Runtime.OutOfMemory",
        format!(
            "the function ran out of memory: it tried to grow past its limit of {} MB",
            limit >> 20
        ),
    )
}

/// A trap as the function's error: the trap's description, the panic message the guest
/// printed if it panicked, and the wasm stack as `stackTrace`.
fn trap_error(spec: &FunctionSpec, error: &wasmtime::Error, logs: &LogSink) -> FunctionError {
    if error.is::<DeadlineReached>()
        || matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt))
    {
        return timed_out(spec.timeout);
    }
    let mut message = match error.downcast_ref::<Trap>() {
        Some(trap) => format!("wasm trap: {trap}"),
        None => chain(error),
    };
    if let Some(panic) = panic_message(&logs.text()) {
        message.push_str(": ");
        message.push_str(&panic);
    }
    let stack: Vec<String> = error
        .downcast_ref::<WasmBacktrace>()
        .map(|backtrace| {
            backtrace
                .frames()
                .iter()
                .map(|frame| frame.func_name().unwrap_or("<unknown>").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let body = serde_json::json!({
        "errorMessage": message,
        "errorType": "Runtime.Trap",
        "stackTrace": stack,
    });
    FunctionError {
        error_type: "Runtime.Trap".to_owned(),
        message,
        body: Bytes::from(body.to_string()),
    }
}

/// The last Rust panic in the guest's output: `panicked at src/lib.rs:1:2: message`.
fn panic_message(logs: &str) -> Option<String> {
    let start = logs.rfind("panicked at ")?;
    let mut lines = logs[start..].lines();
    let location = lines.next()?.trim_end_matches(':');
    let text = lines.next().unwrap_or("").trim();
    let message = if text.is_empty() {
        location.to_owned()
    } else {
        format!("{location}: {text}")
    };
    Some(event::truncate(&message, 1024).to_owned())
}

fn chain(error: &wasmtime::Error) -> String {
    super::error_chain(error)
}

fn outcome(result: Result<Reply, FunctionError>, logs: &LogSink, duration: Duration) -> Outcome {
    Outcome {
        result,
        logs: logs.text(),
        cold_start: false,
        duration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_growth_past_the_cap_fails_and_is_remembered() {
        let mut cap = MemoryCap {
            limit: 100,
            used: 0,
            exceeded: false,
        };
        assert!(cap.memory_growing(0, 60, None).unwrap());
        assert!(cap.memory_growing(60, 90, None).unwrap());
        assert!(!cap.exceeded);
        assert!(!cap.memory_growing(90, 101, None).unwrap());
        assert!(cap.exceeded);
        assert_eq!(cap.used, 90);
        assert!(!cap.memory_growing(90, 95, Some(92)).unwrap());
    }

    #[test]
    fn a_panic_message_is_found_in_the_guest_output() {
        let logs =
            "hello\nthread '<unnamed>' panicked at src/lib.rs:84:25:\nout of stock\nnote: x\n";
        assert_eq!(
            panic_message(logs).as_deref(),
            Some("panicked at src/lib.rs:84:25: out of stock")
        );
        assert_eq!(panic_message("nothing to see"), None);
    }

    #[test]
    fn a_timeout_reads_like_lambdas() {
        let error = timed_out(Duration::from_millis(1500));
        assert_eq!(error.error_type, "Sandbox.Timedout");
        assert_eq!(error.message, "Task timed out after 1.50 seconds");
    }
}
