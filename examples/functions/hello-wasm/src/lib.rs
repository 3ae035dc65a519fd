//! A Cirrus function written in Rust and compiled to a WebAssembly component.
//!
//! It is an ordinary `wasi:http/incoming-handler`, so it runs on any host of that world:
//!
//! - on a route (`GET /hello?name=Ada`) it answers `Hello, Ada!` as text;
//! - called with an event (an Invoke, a workflow Task) it receives a `POST /` whose body
//!   is the event and whose `ce-type` header says what kind, and answers
//!   `{"greeting": "Hello, Ada!", "from": "wasm"}`;
//! - an event without a usable `name` gets a 400 whose JSON names the error type
//!   (`InvalidName`), which a workflow can Retry or Catch.

use serde_json::{Value, json};
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

wasi::http::proxy::export!(Hello);

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        if matches!(request.method(), Method::Post) {
            let body = read_body(&request);
            let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match event.get("name").and_then(Value::as_str) {
                Some(name) if !name.trim().is_empty() => {
                    println!("greeting {name}");
                    let reply = json!({ "greeting": format!("Hello, {name}!"), "from": "wasm" });
                    respond(out, 200, "application/json", reply.to_string().as_bytes());
                }
                _ => {
                    let error = json!({
                        "errorType": "InvalidName",
                        "errorMessage": "the event needs a non-empty \"name\"",
                    });
                    respond(out, 400, "application/json", error.to_string().as_bytes());
                }
            }
            return;
        }
        let name = path
            .split_once('?')
            .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("name=")))
            .filter(|n| !n.is_empty())
            .unwrap_or("world");
        respond(out, 200, "text/plain", format!("Hello, {name}!\n").as_bytes());
    }
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut body = Vec::new();
    let Ok(incoming) = request.consume() else {
        return body;
    };
    let Ok(stream) = incoming.stream() else {
        return body;
    };
    // Events are small; stop at 1 MiB.
    while body.len() < 1 << 20 {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) if !chunk.is_empty() => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::new();
    let _ = headers.set("content-type", &[content_type.as_bytes().to_vec()]);
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        for chunk in body.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
