//! The component the runtime's tests run: one `wasi:http/incoming-handler` with a route per
//! behaviour under test.
//!
//! - `GET /` answers `hello from wasm` (and writes a line to stdout and one to stderr);
//! - `POST /` (an event in CloudEvents binary mode) answers
//!   `{"received": <body>, "ce_type": <ce-type>}` (or, for the type `test.fail`, what
//!   `/fail` answers);
//! - `/echo` answers the method, path, query, headers and body it got, as JSON;
//! - `/env?name=X` answers the value of the environment variable `X`, or 404;
//! - `/loop` never returns; `/alloc` allocates until memory runs out; `/trap` panics;
//! - `/connect?addr=host:port` opens a TCP socket with `std::net`; `/read?path=p` reads a
//!   file with `std::fs`; each answers what happened;
//! - `/fetch?url=http://host:port/path` makes an outbound GET and answers its status and body,
//!   or the error;
//! - `/fail` answers 500 with `{"errorType":"OrderRejected","errorMessage":"no stock"}`.

use std::hint::black_box;

use serde_json::{Map, Value, json};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

struct Guest;

wasi::http::proxy::export!(Guest);

impl wasi::exports::http::incoming_handler::Guest for Guest {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_default();
        let (path, query) = match path_with_query.split_once('?') {
            Some((path, query)) => (path.to_owned(), query.to_owned()),
            None => (path_with_query.clone(), String::new()),
        };
        let method = request.method();
        match (&method, path.as_str()) {
            (Method::Get, "/") => {
                println!("hello on stdout");
                eprintln!("hello on stderr");
                respond(out, 200, "text/plain", b"hello from wasm");
            }
            (Method::Post, "/") => {
                let ce_type = header(&request, "ce-type");
                if ce_type.as_deref() == Some("test.fail") {
                    return fail(out);
                }
                let body = read_body(request);
                let received: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let reply = json!({ "received": received, "ce_type": ce_type });
                respond_json(out, 200, &reply);
            }
            (_, "/echo") => {
                let mut headers = Map::new();
                for (name, value) in request.headers().entries() {
                    let value = String::from_utf8_lossy(&value).into_owned();
                    headers.insert(name, Value::String(value));
                }
                let body = read_body(request);
                let reply = json!({
                    "method": method_name(&method),
                    "path": path,
                    "query": query,
                    "headers": headers,
                    "body": String::from_utf8_lossy(&body),
                });
                respond_json(out, 200, &reply);
            }
            (_, "/env") => match param(&query, "name").and_then(|name| std::env::var(name).ok()) {
                Some(value) => respond(out, 200, "text/plain", value.as_bytes()),
                None => respond(out, 404, "text/plain", b"not set"),
            },
            (_, "/loop") => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            (_, "/alloc") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1u8; 1 << 20]));
                }
            }
            (_, "/trap") => panic!("the guest panicked on purpose"),
            (_, "/connect") => {
                let address = param(&query, "addr").unwrap_or_default();
                let reply = match std::net::TcpStream::connect(address) {
                    Ok(_) => json!({ "connected": address }),
                    Err(error) => json!({ "error": error.to_string() }),
                };
                respond_json(out, 200, &reply);
            }
            (_, "/read") => {
                let path = param(&query, "path").unwrap_or_default();
                let reply = match std::fs::read_to_string(path) {
                    Ok(text) => json!({ "read": text.len() }),
                    Err(error) => json!({ "error": error.to_string() }),
                };
                respond_json(out, 200, &reply);
            }
            (_, "/fail") => fail(out),
            (_, "/fetch") => {
                let url = param(&query, "url").unwrap_or_default();
                let reply = match fetch(url) {
                    Ok((status, body)) => json!({ "status": status, "body": body }),
                    Err(error) => json!({ "error": error }),
                };
                respond_json(out, 200, &reply);
            }
            _ => respond(out, 404, "text/plain", b"no such route"),
        }
    }
}

fn fail(out: ResponseOutparam) {
    let reply = json!({ "errorType": "OrderRejected", "errorMessage": "no stock" });
    respond_json(out, 500, &reply);
}

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.clone(),
    }
}

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    let values = request.headers().get(&name.to_owned());
    values
        .first()
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// The first value of `name` in a query string (no percent-decoding: tests pass plain values).
fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn read_body(request: IncomingRequest) -> Vec<u8> {
    let body = request.consume().expect("the body is consumed once");
    let mut bytes = Vec::new();
    {
        let stream = body.stream().expect("the body stream is taken once");
        read_all(&stream, &mut bytes);
    }
    bytes
}

fn read_all(stream: &wasi::io::streams::InputStream, into: &mut Vec<u8>) {
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => into.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return,
            Err(StreamError::LastOperationFailed(error)) => {
                panic!("reading a body failed: {}", error.to_debug_string())
            }
        }
    }
}

fn respond_json(out: ResponseOutparam, status: u16, body: &Value) {
    respond(out, status, "application/json", body.to_string().as_bytes());
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers =
        Fields::from_list(&[("content-type".to_owned(), content_type.as_bytes().to_vec())])
            .expect("content-type is a valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let outgoing = response.body().expect("the body is taken once");
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = outgoing.write().expect("the body stream is taken once");
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .expect("the host takes the body");
        }
    }
    OutgoingBody::finish(outgoing, None).expect("the body finishes");
}

/// An outbound GET of `url` (`http://authority/path`): its status and body, or the error.
fn fetch(url: &str) -> Result<(u16, String), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!("not an http(s) url: {url:?}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(error))) => return Err(format!("{error:?}")),
        Some(Err(())) => return Err("the response was already taken".into()),
        None => return Err("the response is not ready".into()),
    };
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let mut bytes = Vec::new();
    {
        let stream = body.stream().map_err(|()| "no body stream")?;
        read_all(&stream, &mut bytes);
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
