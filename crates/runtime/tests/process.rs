//! Process functions with real processes: the built-in Python and Node.js runtimes, the
//! real clients (awslambdaric from PyPI, Rust's `lambda_runtime`), and runtimes that
//! misbehave. Every test stops its instances; a failing one drops them, which kills them.

mod support;

#[path = "process/clients.rs"]
mod clients;
#[path = "process/hostile.rs"]
mod hostile;
#[path = "process/node.rs"]
mod node;
#[path = "process/python.rs"]
mod python;

use std::time::Duration;

use bytes::Bytes;
use cirrus_runtime::process::{ProcessHost, ProcessInstance};
use cirrus_runtime::{
    FunctionError, FunctionSpec, HttpRequest, Invocation, InvokeError, Outcome, Payload,
    ProcessRuntime, Reply,
};
use serde_json::{Value, json};
use support::{Scratch, code, event, host, lambda_rust_code, process_exists, spec, venv_with};

/// The pool runs instances on a multi-threaded runtime, so the futures must be `Send`.
#[allow(dead_code)]
fn futures_are_send(host: ProcessHost, spec: FunctionSpec, mut instance: ProcessInstance) {
    fn send<T: Send>(_: T) {}
    send(host.start(&spec));
    send(instance.invoke(&spec, event("{}")));
    send(instance.stop());
}

fn reply_json(outcome: &Outcome) -> Value {
    match &outcome.result {
        Ok(Reply::Event(body)) => serde_json::from_slice(body).expect("JSON reply"),
        other => panic!("expected a reply, got {other:?}\nlogs: {}", outcome.logs),
    }
}

fn error(outcome: &Outcome) -> &FunctionError {
    match &outcome.result {
        Err(e) => e,
        Ok(r) => panic!("expected an error, got {r:?}"),
    }
}

async fn start(spec: &FunctionSpec) -> (ProcessInstance, Scratch) {
    let (host, work) = host();
    let instance = host.start(spec).await.expect("instance starts");
    (instance, work)
}

async fn init_error(spec: &FunctionSpec) -> (String, String) {
    let (host, _work) = host();
    match host.start(spec).await {
        Err(InvokeError::Init {
            error_type,
            message,
        }) => (error_type, message),
        other => panic!("expected an init error, got {other:?}"),
    }
}
