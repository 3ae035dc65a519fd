//! Functions as a user runs them: `cirrus deploy` of the Rust component and the Python
//! handler in `examples/functions`, calls over user routes, `cirrus invoke`, a workflow
//! calling both, logs, asynchronous retries into the dead letters, and scaling to zero.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use support::{NodeProcess, eventually, http, temp_dir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cirrus(node: &NodeProcess, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(args)
        .arg("--data")
        .arg(&node.data)
        // Guests build in their own target directory, beside this test's.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests"),
        )
        .output()
        .expect("cirrus runs")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get(base: &str, path: &str) -> (u16, String) {
    let (status, body) = http(base, "GET", path, None, None);
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn a_rust_component_and_a_python_handler_serve_routes_workflows_and_the_cli() {
    let node = NodeProcess::start(&temp_dir("functions"), &["--async-retry-base-ms", "100"]);
    let examples = repo().join("examples/functions");

    // The Rust crate is built for wasm32-wasip2 by `cirrus deploy`.
    let out = cirrus(
        &node,
        &[
            "deploy",
            "hello",
            "--code",
            examples.join("hello-wasm").to_str().unwrap(),
            "--route",
            "GET /hello",
        ],
    );
    let text = ok(&out, "deploying the component");
    assert!(text.contains("deployed hello (wasm"), "{text}");
    assert_eq!(
        get(&node.routes, "/hello?name=Ada"),
        (200, "Hello, Ada!\n".to_owned())
    );
    let out = cirrus(
        &node,
        &["invoke", "hello", "--payload", r#"{"name":"Ada"}"#],
    );
    let result: Value = serde_json::from_str(&ok(&out, "invoking hello")).unwrap();
    assert_eq!(result, json!({"greeting": "Hello, Ada!", "from": "wasm"}));
    // Deploying the same code again changes nothing.
    let out = cirrus(
        &node,
        &[
            "deploy",
            "hello",
            "--code",
            examples.join("hello-wasm").to_str().unwrap(),
        ],
    );
    assert!(ok(&out, "redeploying").contains("unchanged hello"));

    // The Python handler, with Lambda's runtime name, on a route with a parameter.
    let out = cirrus(
        &node,
        &[
            "deploy",
            "greet",
            "--runtime",
            "python3.12",
            "--handler",
            "app.handler",
            "--code",
            examples.join("greet-python").to_str().unwrap(),
            "--route",
            "GET /greet/{name}",
            "--idle-timeout",
            "2",
        ],
    );
    ok(&out, "deploying the Python handler");
    let (status, body) = get(&node.routes, "/greet/Bob");
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body, json!({"greeting": "Hello, Bob!", "from": "python"}));
    assert_eq!(get(&node.routes, "/nowhere").0, 404);

    // A handler's exception reaches the caller with its type.
    let out = cirrus(&node, &["invoke", "greet", "--payload", "{}"]);
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["errorType"], "ValueError", "{err}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ValueError"));

    // A workflow calls both: the Python function by its Lambda ARN, the component through
    // lambda:invoke; the handler's ValueError is caught by its type.
    let definition: Value =
        serde_json::from_str(&std::fs::read_to_string(examples.join("workflow.json")).unwrap())
            .unwrap();
    let (status, _) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "greetings", "definition": definition})),
    );
    assert_eq!(status, 201);
    let run = |input: Value| {
        let (status, x) = node.call(
            "POST",
            "/v1/state-machines/greetings/executions",
            Some(&json!({"input": input, "wait": 30})),
        );
        assert!(status == 200 || status == 201, "{x}");
        x
    };
    let x = run(json!({"name": "Cy"}));
    assert_eq!(x["status"], "SUCCEEDED", "{x}");
    assert_eq!(x["output"]["python"]["greeting"], "Hello, Cy!");
    assert_eq!(x["output"]["wasm"]["greeting"], "Hello, Cy!");
    let x = run(json!({}));
    assert_eq!(x["status"], "FAILED", "{x}");
    assert_eq!(x["error"], "NoName");

    // Logs: each invocation with what the function printed.
    let logs = ok(&cirrus(&node, &["logs", "greet", "--limit", "100"]), "logs");
    assert!(logs.contains("greeting Cy"), "{logs}");
    assert!(logs.contains("route GET /greet/{name} for Bob"), "{logs}");
    assert!(logs.contains("error ValueError"), "{logs}");

    // An asynchronous event the function fails is tried three times, then dead-lettered.
    let out = cirrus(
        &node,
        &["invoke", "greet", "--async", "--payload", r#"{"bad": 1}"#],
    );
    ok(&out, "async invoke");
    let letters = eventually(Duration::from_secs(20), "a dead letter", || {
        let (_, v) = node.call("GET", "/v1/functions/greet/dead-letters", None);
        let l = v["deadLetters"].as_array()?.first()?.clone();
        Some(l)
    });
    assert_eq!(letters["reason"], "RetriesExhausted", "{letters}");
    assert_eq!(letters["attempts"], 3);
    assert_eq!(letters["payload"], json!({"bad": 1}));
    assert_eq!(letters["lastError"]["errorType"], "ValueError");

    // Idle for longer than its idle timeout, the Python function scales to zero.
    let instances = |name: &str| -> Option<u64> {
        let (_, v) = node.call("GET", &format!("/v1/functions/{name}"), None);
        Some(
            v["pools"]
                .as_array()?
                .iter()
                .map(|p| p["instances"].as_u64().unwrap_or(0))
                .sum(),
        )
    };
    assert!(instances("greet").unwrap() >= 1);
    eventually(Duration::from_secs(10), "greet to scale to zero", || {
        (instances("greet")? == 0).then_some(())
    });
    let listing = ok(&cirrus(&node, &["functions"]), "functions");
    assert!(listing.contains("greet"), "{listing}");
    // The next call starts a new instance: a cold start, and it works.
    assert_eq!(get(&node.routes, "/greet/Dee").0, 200);
    let (_, v) = node.call("GET", "/v1/functions/greet", None);
    assert!(v["pools"][0]["cold_starts"].as_u64().unwrap() >= 2, "{v}");
}

#[test]
fn bad_deployments_are_refused_with_the_reason() {
    let node = NodeProcess::start(&temp_dir("functions-bad"), &[]);
    let dir = temp_dir("functions-bad-code");
    std::fs::create_dir_all(&dir).unwrap();
    let not_wasm = dir.join("x.wasm");
    std::fs::write(&not_wasm, b"\0asm\x01\x00\x00\x00").unwrap();
    let out = cirrus(
        &node,
        &["deploy", "x", "--code", not_wasm.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("core WebAssembly module"), "{err}");

    let py = dir.join("py");
    std::fs::create_dir_all(&py).unwrap();
    std::fs::write(py.join("main.py"), "def handler(e, c):\n    return e\n").unwrap();
    let out = cirrus(
        &node,
        &[
            "deploy",
            "p",
            "--runtime",
            "python3.12",
            "--handler",
            "app.handler",
            "--code",
            py.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("app.py"));
    let out = cirrus(
        &node,
        &[
            "deploy",
            "p",
            "--runtime",
            "java21",
            "--handler",
            "x",
            "--code",
            py.to_str().unwrap(),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("java21"));
    let out = cirrus(
        &node,
        &[
            "deploy",
            "bad/name",
            "--code",
            py.to_str().unwrap(),
            "--runtime",
            "python3",
        ],
    );
    assert!(!out.status.success());

    // Hostile native requests get 4xx with a reason.
    for body in [
        json!({"code": "not base64!!"}),
        json!({"code": 5}),
        json!({"memory_mb": "lots"}),
        json!({"surprise": true, "code": ""}),
    ] {
        let (status, v) = node.call("PUT", "/v1/functions/h", Some(&body));
        assert!((400..500).contains(&status), "{body} -> {status} {v}");
        assert!(v["error"]["message"].as_str().is_some(), "{v}");
    }
    let (status, _) = node.call("POST", "/v1/functions/nobody/invoke", Some(&json!({})));
    assert_eq!(status, 404);
    let (status, _) = node.call(
        "PUT",
        "/v1/routes",
        Some(&json!({"route": "GET /{a+}/b", "function": "x"})),
    );
    assert_eq!(status, 400);
    let _ = std::fs::remove_dir_all(&dir);
}
