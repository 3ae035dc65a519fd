//! The WebAssembly runtime on real wasmtime with the real test guest (`tests/guest`, built
//! from source by `testing::build_guest`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cirrus_runtime::testing::build_guest;
use cirrus_runtime::wasm::{
    INSTANCE_LIMIT_ERROR_TYPE, WasmComponent, WasmConfig, WasmError, WasmRuntime,
};
use cirrus_runtime::{
    Code, FunctionError, FunctionSpec, HttpRequest, HttpResponse, Invocation, Outcome, Payload,
    Reply, Scaling,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Guest {
    digest: String,
    bytes: Arc<[u8]>,
}

fn guest() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        let bytes = std::fs::read(build_guest()).expect("the guest builds");
        Guest {
            digest: sha256(&bytes),
            bytes: bytes.into(),
        }
    })
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A cache directory kept across runs (so the guest compiles once), beside the guest build.
fn shared_cache_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("cirrus-wasm-test-cache")
}

/// An empty directory of its own, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> ScratchDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "cirrus-wasm-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        ScratchDir(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn small_config(cache_dir: PathBuf) -> WasmConfig {
    WasmConfig {
        max_instances: 16,
        ..WasmConfig::new(cache_dir)
    }
}

/// One runtime and the guest's component, shared by the tests of this binary.
fn component() -> &'static WasmComponent {
    static COMPONENT: OnceLock<WasmComponent> = OnceLock::new();
    COMPONENT.get_or_init(|| {
        let runtime = WasmRuntime::new(WasmConfig {
            max_instances: 256,
            ..WasmConfig::new(shared_cache_dir())
        })
        .expect("the runtime starts");
        runtime
            .load(&guest().digest, &guest().bytes)
            .expect("the guest loads")
    })
}

fn spec() -> FunctionSpec {
    FunctionSpec {
        name: "guest".into(),
        version: "$LATEST".into(),
        code: Code::Wasm {
            digest: guest().digest.clone(),
            bytes: guest().bytes.clone(),
        },
        memory_mb: 128,
        timeout: Duration::from_secs(10),
        environment: BTreeMap::new(),
        allowed_hosts: Vec::new(),
        scaling: Scaling {
            min_instances: 0,
            max_instances: 10,
            per_instance: 100,
            idle_timeout: Duration::from_secs(60),
        },
        region: "local".into(),
    }
}

fn get(path_and_query: &str) -> Invocation {
    request(
        http::Method::GET,
        path_and_query,
        http::HeaderMap::new(),
        "",
    )
}

fn request(
    method: http::Method,
    path_and_query: &str,
    headers: http::HeaderMap,
    body: &'static str,
) -> Invocation {
    Invocation {
        request_id: "req-1".into(),
        payload: Payload::Http(HttpRequest {
            method,
            uri: path_and_query.parse().unwrap(),
            headers,
            body: Bytes::from_static(body.as_bytes()),
            route_key: "ANY /{proxy+}".into(),
            path_parameters: BTreeMap::new(),
            source_ip: "127.0.0.1".into(),
        }),
        client_context: None,
        trace_id: None,
    }
}

fn event(event_type: &str, body: &'static str) -> Invocation {
    Invocation {
        request_id: "evt-42".into(),
        payload: Payload::Event {
            body: Bytes::from_static(body.as_bytes()),
            event_type: event_type.into(),
            source: "cirrus.tests".into(),
        },
        client_context: None,
        trace_id: None,
    }
}

#[track_caller]
fn http_reply(outcome: &Outcome) -> &HttpResponse {
    match &outcome.result {
        Ok(Reply::Http(response)) => response,
        other => panic!(
            "expected an HTTP reply, got {other:?}\nlogs:\n{}",
            outcome.logs
        ),
    }
}

#[track_caller]
fn function_error(outcome: &Outcome) -> &FunctionError {
    match &outcome.result {
        Err(error) => error,
        Ok(reply) => panic!("expected an error, got {reply:?}\nlogs:\n{}", outcome.logs),
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn hello_over_http() {
    let outcome = component().invoke(&spec(), get("/")).await;
    let response = http_reply(&outcome);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "hello from wasm");
    assert_eq!(response.headers["content-type"], "text/plain");
    assert!(
        outcome.logs.contains("hello on stdout\n"),
        "{}",
        outcome.logs
    );
    assert!(
        outcome.logs.contains("hello on stderr\n"),
        "{}",
        outcome.logs
    );
    assert!(!outcome.cold_start);
    assert!(outcome.duration > Duration::ZERO);
}

#[tokio::test]
async fn a_request_reaches_the_guest_as_it_was_sent() {
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "api.example.com".parse().unwrap());
    headers.insert("x-custom", "yes".parse().unwrap());
    let invocation = request(http::Method::PUT, "/echo?a=1&b=two", headers, "the body");
    let outcome = component().invoke(&spec(), invocation).await;
    let echoed = json(&http_reply(&outcome).body);
    assert_eq!(echoed["method"], "PUT");
    assert_eq!(echoed["path"], "/echo");
    assert_eq!(echoed["query"], "a=1&b=two");
    assert_eq!(echoed["headers"]["x-custom"], "yes");
    assert_eq!(echoed["body"], "the body");
}

#[tokio::test]
async fn an_event_arrives_in_cloudevents_binary_mode() {
    let outcome = component()
        .invoke(&spec(), event("orders.created", r#"{"order":42}"#))
        .await;
    let Ok(Reply::Event(body)) = &outcome.result else {
        panic!("expected an event reply, got {:?}", outcome.result);
    };
    assert_eq!(
        json(body),
        serde_json::json!({ "received": { "order": 42 }, "ce_type": "orders.created" })
    );
}

#[tokio::test]
async fn an_event_answered_with_an_error_document_is_the_functions_error() {
    let outcome = component().invoke(&spec(), event("test.fail", "{}")).await;
    let error = function_error(&outcome);
    assert_eq!(error.error_type, "OrderRejected");
    assert_eq!(error.message, "no stock");
    assert_eq!(
        json(&error.body),
        serde_json::json!({ "errorType": "OrderRejected", "errorMessage": "no stock" })
    );
}

#[tokio::test]
async fn an_http_error_status_is_passed_through_to_http_callers() {
    let outcome = component().invoke(&spec(), get("/fail")).await;
    let response = http_reply(&outcome);
    assert_eq!(response.status, 500);
    assert_eq!(json(&response.body)["errorType"], "OrderRejected");
}

#[tokio::test]
async fn the_guest_sees_only_its_configured_environment() {
    assert!(std::env::var_os("PATH").is_some(), "the host has a PATH");
    let mut spec = spec();
    spec.environment
        .insert("GREETING".into(), "hi there".into());

    let configured = component().invoke(&spec, get("/env?name=GREETING")).await;
    assert_eq!(http_reply(&configured).body, "hi there");

    for host_only in ["PATH", "HOME", "CARGO_TARGET_DIR"] {
        let outcome = component()
            .invoke(&spec, get(&format!("/env?name={host_only}")))
            .await;
        assert_eq!(http_reply(&outcome).status, 404, "{host_only} leaked");
    }
}

/// A local HTTP/1.1 server answering every request with `pong`; its port.
async fn pong_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let response =
                    "HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong";
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_calls_reach_allowed_hosts_only() {
    let port = pong_server().await;
    let fetch = get(&format!("/fetch?url=http://127.0.0.1:{port}/ping"));

    let mut allowed = spec();
    allowed.allowed_hosts = vec![format!("127.0.0.1:{port}")];
    let outcome = component().invoke(&allowed, fetch.clone()).await;
    let fetched = json(&http_reply(&outcome).body);
    assert_eq!(
        fetched,
        serde_json::json!({ "status": 200, "body": "pong" })
    );

    for hosts in [
        vec![],
        vec!["127.0.0.1".to_owned()],
        vec!["*.0.0.1".to_owned()],
    ] {
        let mut denied = spec();
        denied.allowed_hosts = hosts.clone();
        let outcome = component().invoke(&denied, fetch.clone()).await;
        let fetched = json(&http_reply(&outcome).body);
        assert_eq!(
            fetched["error"], "ErrorCode::HttpRequestDenied",
            "allowed {hosts:?}"
        );
    }

    let mut any = spec();
    any.allowed_hosts = vec!["*".into()];
    let outcome = component().invoke(&any, fetch).await;
    assert_eq!(json(&http_reply(&outcome).body)["body"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_times_out_and_the_next_invocation_runs() {
    let component = component(); // Loaded before the clock starts.
    let mut spec = spec();
    spec.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let outcome = component.invoke(&spec, get("/loop")).await;
    let elapsed = started.elapsed();
    let error = function_error(&outcome);
    assert_eq!(error.error_type, "Sandbox.Timedout");
    assert_eq!(error.message, "Task timed out after 0.30 seconds");
    assert!(elapsed >= spec.timeout, "stopped early: {elapsed:?}");
    assert!(
        elapsed < spec.timeout + Duration::from_secs(1),
        "stopped late: {elapsed:?}"
    );

    let next = component.invoke(&spec, get("/")).await;
    assert_eq!(http_reply(&next).body, "hello from wasm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_blocked_on_io_times_out_on_the_wall_clock() {
    // A server that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut spec = spec();
    spec.timeout = Duration::from_millis(300);
    spec.allowed_hosts = vec![format!("127.0.0.1:{port}")];
    let component = component(); // Loaded before the clock starts.
    let started = Instant::now();
    let outcome = component
        .invoke(&spec, get(&format!("/fetch?url=http://127.0.0.1:{port}/")))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(function_error(&outcome).error_type, "Sandbox.Timedout");
    assert!(
        elapsed < spec.timeout + Duration::from_secs(1),
        "stopped late: {elapsed:?}"
    );
    silent.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allocation_bomb_runs_out_of_memory_and_the_next_invocation_runs() {
    let mut spec = spec();
    spec.memory_mb = 32;
    let outcome = component().invoke(&spec, get("/alloc")).await;
    let error = function_error(&outcome);
    assert_eq!(error.error_type, "Runtime.OutOfMemory", "{error:?}");
    assert!(error.message.contains("32 MB"), "{}", error.message);

    let next = component().invoke(&spec, get("/")).await;
    assert_eq!(http_reply(&next).body, "hello from wasm");
}

#[tokio::test]
async fn a_panic_is_a_trap_with_the_panic_message() {
    let outcome = component().invoke(&spec(), get("/trap")).await;
    let error = function_error(&outcome);
    assert_eq!(error.error_type, "Runtime.Trap");
    assert!(
        error.message.starts_with("wasm trap: "),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("the guest panicked on purpose"),
        "{}",
        error.message
    );
    let body = json(&error.body);
    assert_eq!(body["errorType"], "Runtime.Trap");
    assert!(body["stackTrace"].is_array());
    assert!(outcome.logs.contains("panicked"), "{}", outcome.logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_invocations_all_succeed() {
    let component = component().clone();
    let spec = Arc::new(spec());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (component, spec) = (component.clone(), spec.clone());
            tokio::spawn(async move { component.invoke(&spec, get("/")).await })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap();
        assert_eq!(http_reply(&outcome).body, "hello from wasm");
    }
}

#[test]
fn code_that_is_not_a_component_is_refused_with_the_reason() {
    let cache = ScratchDir::new("refused");
    let runtime = WasmRuntime::new(small_config(cache.0.clone())).unwrap();
    let load = |bytes: &[u8]| runtime.load(&sha256(bytes), bytes).unwrap_err();

    assert_eq!(load(b"#!/bin/sh\necho hi\n"), WasmError::NotWebAssembly);
    assert_eq!(load(b""), WasmError::NotWebAssembly);
    assert_eq!(load(b"\0asm\x01\0\0\0"), WasmError::NotAComponent);
    let garbled = load(b"\0asm\x0d\0\x01\0\xff\xff\xff\xff");
    assert!(matches!(garbled, WasmError::Compile(_)), "{garbled:?}");
    assert_eq!(
        load(b"\0asm\x0d\0\x01\0"),
        WasmError::MissingHandler { exports: vec![] }
    );
    let missing = runtime.precompile(&sha256(b"\0asm\x0d\0\x01\0"), b"\0asm\x0d\0\x01\0");
    assert!(matches!(missing, Err(WasmError::MissingHandler { .. })));

    let wrong_digest = runtime.load(&sha256(b"other"), &guest().bytes).unwrap_err();
    assert!(matches!(wrong_digest, WasmError::DigestMismatch { .. }));
    let not_hex = runtime
        .load("../../etc/passwd", &guest().bytes)
        .unwrap_err();
    assert!(matches!(not_hex, WasmError::InvalidDigest(_)));
}

#[tokio::test]
async fn a_second_load_maps_the_cached_artifact_and_a_corrupt_one_is_recompiled() {
    let cache = ScratchDir::new("cache");
    let Guest { digest, bytes } = guest();

    let runtime = WasmRuntime::new(small_config(cache.0.clone())).unwrap();
    let artifact = runtime.artifact_path(digest).unwrap();
    assert!(!artifact.exists());
    let started = Instant::now();
    runtime.load(digest, bytes).unwrap();
    let compiled_in = started.elapsed();
    assert!(artifact.is_file(), "no artifact at {}", artifact.display());
    drop(runtime);

    // A new runtime (as after a restart) maps the artifact instead of compiling.
    let runtime = WasmRuntime::new(small_config(cache.0.clone())).unwrap();
    let started = Instant::now();
    let component = runtime.load(digest, bytes).unwrap();
    let loaded_in = started.elapsed();
    assert!(
        loaded_in * 5 < compiled_in,
        "loading took {loaded_in:?}, compiling {compiled_in:?}"
    );
    let outcome = component.invoke(&spec(), get("/")).await;
    assert_eq!(http_reply(&outcome).body, "hello from wasm");

    // A corrupt artifact is compiled again and replaced. (A new file, as a crash would leave
    // it: artifacts are mapped, so nothing may change one in place.)
    std::fs::remove_file(&artifact).unwrap();
    std::fs::write(&artifact, b"\x7fELF but not really").unwrap();
    let component = runtime.load(digest, bytes).unwrap();
    let outcome = component.invoke(&spec(), get("/")).await;
    assert_eq!(http_reply(&outcome).body, "hello from wasm");
    let rewritten = std::fs::read(&artifact).unwrap();
    assert!(rewritten.len() > 1000, "the artifact was not rewritten");

    // Precompiling (at deploy) writes the artifact too.
    std::fs::remove_file(&artifact).unwrap();
    runtime.precompile(digest, bytes).unwrap();
    assert!(artifact.is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_has_no_sockets_and_no_files() {
    let port = pong_server().await;
    let mut spec = spec();
    spec.allowed_hosts = vec!["*".into()]; // Outbound HTTP is allowed; raw sockets are not.
    let outcome = component()
        .invoke(&spec, get(&format!("/connect?addr=127.0.0.1:{port}")))
        .await;
    let connected = json(&http_reply(&outcome).body);
    assert!(connected["error"].is_string(), "{connected}");

    for path in ["/etc/passwd", "Cargo.toml", "."] {
        let outcome = component()
            .invoke(&spec, get(&format!("/read?path={path}")))
            .await;
        let read = json(&http_reply(&outcome).body);
        assert!(read["error"].is_string(), "{path}: {read}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_beyond_the_pools_slots_fails_without_harming_the_others() {
    let runtime = WasmRuntime::new(WasmConfig {
        max_instances: 1,
        ..WasmConfig::new(shared_cache_dir())
    })
    .unwrap();
    let component = runtime.load(&guest().digest, &guest().bytes).unwrap();
    let mut slow = spec();
    slow.timeout = Duration::from_millis(500);
    let looping = tokio::spawn({
        let (component, slow) = (component.clone(), slow.clone());
        async move { component.invoke(&slow, get("/loop")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let refused = component.invoke(&spec(), get("/")).await;
    let error = function_error(&refused);
    assert_eq!(error.error_type, INSTANCE_LIMIT_ERROR_TYPE, "{error:?}");
    assert!(
        error.message.contains("slots are in use"),
        "{}",
        error.message
    );

    let looped = looping.await.unwrap();
    assert_eq!(function_error(&looped).error_type, "Sandbox.Timedout");
    let next = component.invoke(&spec(), get("/")).await;
    assert_eq!(http_reply(&next).body, "hello from wasm");
}
