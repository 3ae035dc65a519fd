//! The vocabulary every runtime shares: what a function version is made of, what one
//! invocation carries, and what comes back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// One immutable function version, as the pools run it.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name (`orders`).
    pub name: String,
    /// `$LATEST` or a published version number.
    pub version: String,
    pub code: Code,
    /// The memory cap of one instance, in MiB.
    pub memory_mb: u32,
    /// How long one invocation may run.
    pub timeout: Duration,
    /// Environment variables the function sees (secrets already resolved). Nothing else
    /// from the node's environment reaches it.
    pub environment: BTreeMap<String, String>,
    /// Hosts a wasm function may call through `wasi:http/outgoing-handler`: `example.com`,
    /// `example.com:8080`, `*.example.com`, or `*` for any. Empty: no outbound calls.
    pub allowed_hosts: Vec<String>,
    pub scaling: Scaling,
    /// The region reported to process functions (`AWS_REGION`).
    pub region: String,
}

impl FunctionSpec {
    /// `name:version`, the pools' key.
    pub fn key(&self) -> String {
        format!("{}:{}", self.name, self.version)
    }
}

/// A version's code.
#[derive(Debug, Clone)]
pub enum Code {
    /// A WebAssembly component exporting `wasi:http/incoming-handler`, with the sha256 of
    /// its bytes (hex), which keys the compiled-artifact cache.
    Wasm { digest: String, bytes: Arc<[u8]> },
    /// An unpacked code directory run as a process speaking the Lambda Runtime API.
    Process {
        /// The code root (`LAMBDA_TASK_ROOT`); read-only by convention.
        root: PathBuf,
        runtime: ProcessRuntime,
        /// `app.handler` for the built-in runtimes; passed as `_HANDLER` to all.
        handler: String,
    },
}

/// How a process function starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRuntime {
    /// Cirrus's Python bootstrap loads `module.function` from the code root.
    Python3,
    /// Cirrus's Node.js bootstrap loads `file.export` from the code root.
    Nodejs,
    /// The code root's own `bootstrap` executable speaks the Runtime API (a Rust
    /// `lambda_runtime` binary, `python -m awslambdaric`, ...).
    Provided,
}

/// How many instances a version may have, and how many requests each takes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaling {
    /// Instances kept warm even when idle (processes); 0 scales to zero.
    pub min_instances: u32,
    /// The most instances at once.
    pub max_instances: u32,
    /// Requests one instance serves at once: 1 for processes, many for wasm.
    pub per_instance: u32,
    /// How long an idle instance lives before it is reaped.
    pub idle_timeout: Duration,
}

/// One call of a function.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Unique per delivery; the Lambda request id.
    pub request_id: String,
    pub payload: Payload,
    /// `X-Amz-Client-Context` (base64 JSON), passed through to process functions.
    pub client_context: Option<String>,
    /// A trace header to pass on (`Lambda-Runtime-Trace-Id`).
    pub trace_id: Option<String>,
}

/// What a function is called with.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "one payload per invocation, moved a few times; boxing would cost an allocation"
)]
pub enum Payload {
    /// A JSON event (an Invoke, a workflow Task, a rule target). Wasm functions receive it
    /// as a POST in CloudEvents binary mode; process functions as the event itself.
    Event {
        body: Bytes,
        /// CloudEvents attributes for wasm functions: `type` and `source`.
        event_type: String,
        source: String,
    },
    /// A request on a user route. Wasm functions receive it as it is; process functions
    /// receive the API Gateway HTTP API (v2) event.
    Http(HttpRequest),
}

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: http::Method,
    /// Path and query, as the client sent them (`/orders/42?x=1`).
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// The route that matched (`GET /orders/{id}`) and its path parameters.
    pub route_key: String,
    pub path_parameters: BTreeMap<String, String>,
    pub source_ip: String,
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// What one invocation produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: Result<Reply, FunctionError>,
    /// What the instance wrote to stdout and stderr during the invocation.
    pub logs: String,
    /// Whether this invocation waited for a new instance.
    pub cold_start: bool,
    /// Time from handing the request to the instance to its reply.
    pub duration: Duration,
}

/// A function's reply, in the shape the caller asked with.
#[derive(Debug, Clone)]
pub enum Reply {
    Event(Bytes),
    Http(HttpResponse),
}

/// The function (or its instance) failed: Lambda's `X-Amz-Function-Error` cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `Handled`-style type from the handler (`ValueError`, `OrderRejected`), or the
    /// platform's (`Sandbox.Timedout`, `Runtime.OutOfMemory`, `Runtime.ExitError`,
    /// `Runtime.Trap`).
    pub error_type: String,
    pub message: String,
    /// The error document as the runtime reported it, returned to the caller as the
    /// payload (`{"errorMessage","errorType","stackTrace"}`).
    pub body: Bytes,
}

impl FunctionError {
    /// A platform error, with the body Lambda's callers expect.
    pub fn platform(error_type: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
        FunctionError {
            error_type: error_type.to_owned(),
            message,
            body: Bytes::from(body.to_string()),
        }
    }
}

/// The platform could not run the invocation at all (nothing reached the function).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvokeError {
    /// Concurrency is exhausted and the pool does not queue.
    #[error("Rate exceeded: the function {function} is at its concurrency limit of {limit}")]
    Throttled { function: String, limit: u32 },
    /// The code cannot be loaded or the instance failed to initialise.
    #[error("{error_type}: {message}")]
    Init { error_type: String, message: String },
    /// Anything else on the platform's side.
    #[error("{0}")]
    Service(String),
}
