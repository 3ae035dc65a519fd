//! The Lambda Runtime API (version `2018-06-01`) that one instance talks to.
//!
//! Each instance gets its own server on `127.0.0.1:0`, so a request id never has to say
//! which instance it is for, and one hostile process can only confuse its own server. The
//! server and the instance meet at two channels: [`Delivery`]s go in (one at a time; a
//! runtime waiting on `/next` takes the next one), and [`RuntimeEvent`]s come out (the
//! runtime asked for work, answered, failed, or failed to start).
//!
//! The runtime's input is not trusted: an unknown path or method, a request id that is not
//! the one handed out, a second answer, or a body that is not what it should be is answered
//! with a 4xx and changes nothing. A response over [`MAX_RESPONSE_BYTES`] fails the
//! invocation with `Function.ResponseSizeTooLarge`, as Lambda does.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::FunctionError;

/// The largest response (and error document) a runtime may post: Lambda's 6 MB limit for
/// synchronous invocations.
pub(super) const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

const PREFIX: &str = "/2018-06-01/runtime/";

/// Connections one runtime may hold open at once; more are closed as they come.
const MAX_CONNECTIONS: usize = 16;

/// An invocation waiting to be handed out on `/next`.
#[derive(Debug)]
pub(super) struct Delivery {
    pub request_id: String,
    /// When the invocation times out, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    pub function_arn: String,
    pub trace_id: Option<String>,
    /// The client context as JSON (already decoded from the Invoke API's base64).
    pub client_context: Option<String>,
    pub event: Bytes,
}

/// What the runtime did.
#[derive(Debug)]
pub(super) enum RuntimeEvent {
    /// It asked for an invocation for the first time: the cold start is over.
    Ready,
    /// It answered the invocation handed out.
    Response { request_id: String, body: Bytes },
    /// It reported the invocation handed out as failed (or sent an oversized answer).
    Error {
        request_id: String,
        error: FunctionError,
    },
    /// It reported that it could not start.
    InitError(FunctionError),
}

/// One instance's Runtime API server; dropping it stops the server and closes its
/// connections.
pub(super) struct RuntimeApi {
    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    /// Invocations to hand out. Capacity 1: the instance runs one at a time.
    pub deliveries: mpsc::Sender<Delivery>,
    pub events: mpsc::UnboundedReceiver<RuntimeEvent>,
    server: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Binds a fresh port on the loopback interface and starts serving.
    pub async fn bind() -> io::Result<RuntimeApi> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let address = listener.local_addr()?.to_string();
        let (deliveries, delivery_rx) = mpsc::channel(1);
        let (event_tx, events) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            deliveries: tokio::sync::Mutex::new(delivery_rx),
            handed_out: Mutex::new(None),
            asked: AtomicBool::new(false),
            events: event_tx,
        });
        let server = tokio::spawn(serve(listener, state));
        Ok(RuntimeApi {
            address,
            deliveries,
            events,
            server,
        })
    }
}

struct State {
    deliveries: tokio::sync::Mutex<mpsc::Receiver<Delivery>>,
    /// The request id handed out and not yet answered.
    handed_out: Mutex<Option<String>>,
    /// Whether the runtime has called `/next` yet.
    asked: AtomicBool,
    events: mpsc::UnboundedSender<RuntimeEvent>,
}

impl State {
    fn handed_out(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.handed_out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn report(&self, event: RuntimeEvent) {
        // The instance may be gone already; then nobody is listening, and that is fine.
        let _ = self.events.send(event);
    }
}

/// Accepts connections until aborted; the connections live in a `JoinSet` so they end with
/// the server.
async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors, most likely: give them a moment to come back.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                if connections.len() >= MAX_CONNECTIONS {
                    continue; // dropped: a runtime needs one or two
                }
                // Without TCP_NODELAY a runtime that writes headers and body separately
                // waits for a delayed ACK on every answer (awslambdaric: ~11 calls/s).
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(route(&state, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type Reply = Response<Full<Bytes>>;

async fn route(state: &State, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return refuse(StatusCode::NOT_FOUND, "NotFound", "unknown path");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let method = request.method().clone();
    match (segments.as_slice(), method) {
        (["invocation", "next"], Method::GET) => next(state).await,
        (["invocation", id, "response"], Method::POST) => response(state, id, request).await,
        (["invocation", id, "error"], Method::POST) => error(state, id, request).await,
        (["init", "error"], Method::POST) => init_error(state, request).await,
        (
            ["invocation", "next"] | ["invocation", _, "response" | "error"] | ["init", "error"],
            _,
        ) => refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "wrong method",
        ),
        _ => refuse(StatusCode::NOT_FOUND, "NotFound", "unknown path"),
    }
}

/// `GET /invocation/next`: waits for the next invocation and hands it out.
async fn next(state: &State) -> Reply {
    if !state.asked.swap(true, Ordering::Relaxed) {
        state.report(RuntimeEvent::Ready);
    }
    // One waiter at a time; a second concurrent `/next` queues behind the first.
    let mut deliveries = state.deliveries.lock().await;
    let Some(delivery) = deliveries.recv().await else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InstanceStopped",
            "the instance is stopping",
        );
    };
    *state.handed_out() = Some(delivery.request_id.clone());
    let mut response = Response::new(Full::new(delivery.event));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let values = [
        ("lambda-runtime-aws-request-id", Some(delivery.request_id)),
        (
            "lambda-runtime-deadline-ms",
            Some(delivery.deadline_ms.to_string()),
        ),
        (
            "lambda-runtime-invoked-function-arn",
            Some(delivery.function_arn),
        ),
        ("lambda-runtime-trace-id", delivery.trace_id),
        ("lambda-runtime-client-context", delivery.client_context),
    ];
    for (name, value) in values {
        // A value a caller supplied (trace id, client context) that cannot be a header is
        // left out rather than failing the invocation.
        if let Some(value) = value.and_then(|v| HeaderValue::try_from(v).ok()) {
            headers.insert(name, value);
        }
    }
    response
}

/// `POST /invocation/{id}/response`.
async fn response(state: &State, id: &str, request: Request<Incoming>) -> Reply {
    if !is_handed_out(state, id) {
        return wrong_id();
    }
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(state, id),
        Err(BodyError::Broken) => {
            return refuse(StatusCode::BAD_REQUEST, "InvalidRequest", "unreadable body");
        }
    };
    if !take_handed_out(state, id) {
        return wrong_id();
    }
    state.report(RuntimeEvent::Response {
        request_id: id.to_owned(),
        body,
    });
    accepted()
}

/// `POST /invocation/{id}/error`.
async fn error(state: &State, id: &str, request: Request<Incoming>) -> Reply {
    if !is_handed_out(state, id) {
        return wrong_id();
    }
    let header_type = error_type_header(request.headers());
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(state, id),
        Err(BodyError::Broken) => {
            return refuse(StatusCode::BAD_REQUEST, "InvalidRequest", "unreadable body");
        }
    };
    if !take_handed_out(state, id) {
        return wrong_id();
    }
    state.report(RuntimeEvent::Error {
        request_id: id.to_owned(),
        error: function_error(header_type.as_deref(), &body),
    });
    accepted()
}

/// `POST /init/error`.
async fn init_error(state: &State, request: Request<Incoming>) -> Reply {
    let header_type = error_type_header(request.headers());
    match read_body(request).await {
        Ok(body) => {
            state.report(RuntimeEvent::InitError(function_error(
                header_type.as_deref(),
                &body,
            )));
            accepted()
        }
        Err(_) => refuse(StatusCode::BAD_REQUEST, "InvalidRequest", "unreadable body"),
    }
}

fn is_handed_out(state: &State, id: &str) -> bool {
    state.handed_out().as_deref() == Some(id)
}

/// Marks the invocation answered; false if it was not (or no longer) the one handed out.
fn take_handed_out(state: &State, id: &str) -> bool {
    let mut handed_out = state.handed_out();
    if handed_out.as_deref() == Some(id) {
        *handed_out = None;
        true
    } else {
        false
    }
}

fn too_large(state: &State, id: &str) -> Reply {
    if take_handed_out(state, id) {
        let message = format!(
            "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        );
        state.report(RuntimeEvent::Error {
            request_id: id.to_owned(),
            error: FunctionError::platform("Function.ResponseSizeTooLarge", message),
        });
    }
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        "the response is larger than 6 MB",
    )
}

enum BodyError {
    TooLarge,
    Broken,
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, BodyError> {
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(request.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Broken),
    }
}

fn error_type_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The error a runtime reported: its type from the `Lambda-Runtime-Function-Error-Type`
/// header, else from the document's `errorType` (awslambdaric sends no header), else
/// `Unhandled`. A body that is not a JSON object is wrapped in one.
pub(super) fn function_error(header_type: Option<&str>, body: &Bytes) -> FunctionError {
    let document = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .filter(serde_json::Value::is_object);
    let field = |name: &str| {
        document
            .as_ref()
            .and_then(|d| d.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let error_type = header_type
        .map(str::to_owned)
        .or_else(|| field("errorType"))
        .unwrap_or_else(|| "Unhandled".to_owned());
    match document {
        Some(_) => FunctionError {
            message: field("errorMessage").unwrap_or_default(),
            error_type,
            body: body.clone(),
        },
        None => FunctionError::platform(&error_type, String::from_utf8_lossy(body)),
    }
}

fn accepted() -> Reply {
    json_reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_owned())
}

fn wrong_id() -> Reply {
    refuse(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "no invocation with this request id is waiting for an answer",
    )
}

fn refuse(status: StatusCode, error_type: &str, message: &str) -> Reply {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    json_reply(status, body.to_string())
}

fn json_reply(status: StatusCode, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_comes_from_the_header_then_the_body() {
        let body = Bytes::from_static(br#"{"errorMessage":"bad","errorType":"ValueError"}"#);
        let e = function_error(None, &body);
        assert_eq!(
            (e.error_type.as_str(), e.message.as_str()),
            ("ValueError", "bad")
        );
        assert_eq!(e.body, body);
        let e = function_error(Some("Custom"), &body);
        assert_eq!(e.error_type, "Custom");
    }

    #[test]
    fn a_body_that_is_not_an_error_document_is_wrapped() {
        let e = function_error(None, &Bytes::from_static(b"segfault\xff"));
        assert_eq!(e.error_type, "Unhandled");
        assert_eq!(e.message, "segfault\u{fffd}");
        let doc: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(doc["errorType"], "Unhandled");
    }
}
