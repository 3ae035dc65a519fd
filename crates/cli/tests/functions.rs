//! Functions as a user runs them: `cirrus deploy` of the Rust component and the Python
//! handler in `examples/functions`, calls over user routes, `cirrus invoke`, a workflow
//! calling both, logs, asynchronous retries into the dead letters, and scaling to zero.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use support::{NodeProcess, eventually, http, ok, temp_dir};

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

    // `cirrus logs -f` shows new invocations as they happen.
    let mut follower = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["logs", "hello", "-f", "--limit", "1", "--data"])
        .arg(&node.data)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cirrus logs -f");
    let stdout = follower.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    ok(
        &cirrus(
            &node,
            &["invoke", "hello", "--payload", r#"{"name":"Follower"}"#],
        ),
        "invoke while following",
    );
    let followed = eventually(Duration::from_secs(20), "the followed record", || {
        rx.try_iter().find(|l| l.contains("greeting Follower"))
    });
    assert!(followed.contains("greeting Follower"));
    let _ = follower.kill();
    let _ = follower.wait();

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

#[test]
fn an_accepted_event_survives_a_crash_of_the_node() {
    let mut node = NodeProcess::start(
        &temp_dir("functions-crash"),
        &["--async-retry-base-ms", "100"],
    );
    node.keep_data = true;
    let code = repo().join("examples/functions/greet-python");
    let deploy = |node: &NodeProcess, reserved: Value| {
        let zip = zip_of(&code);
        let (status, v) = node.call(
            "PUT",
            "/v1/functions/greet",
            Some(&json!({
                "runtime": "python3.12", "handler": "app.handler",
                "code": zip, "reserved_concurrency": reserved,
            })),
        );
        assert_eq!(status, 200, "{v}");
    };
    // With no concurrency the event cannot run: it stays queued, retried as a throttle.
    deploy(&node, json!(0));
    let (status, v) = node.call(
        "POST",
        "/v1/functions/greet/invoke?async=true",
        Some(&json!({"name": "Crash"})),
    );
    assert_eq!(status, 202, "{v}");
    std::thread::sleep(Duration::from_millis(500));
    node.restart();
    // Given concurrency again, the event runs once.
    deploy(&node, Value::Null);
    let record = eventually(Duration::from_secs(20), "the delivered event", || {
        let (_, v) = node.call("GET", "/v1/functions/greet/logs?limit=100", None);
        v["records"]
            .as_array()?
            .iter()
            .find(|r| {
                r["status"] == "ok"
                    && r["output"]
                        .as_str()
                        .is_some_and(|o| o.contains("greeting Crash"))
            })
            .cloned()
    });
    assert_eq!(record["function"], "greet");
    let (_, v) = node.call("GET", "/v1/functions/greet/dead-letters", None);
    assert_eq!(v["deadLetters"], json!([]));
    node.keep_data = false;
}

/// The base64 zip of a directory, as `cirrus deploy` makes it.
fn zip_of(dir: &Path) -> String {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                w.start_file(
                    p.file_name().unwrap().to_string_lossy(),
                    zip::write::SimpleFileOptions::default(),
                )
                .unwrap();
                w.write_all(&std::fs::read(&p).unwrap()).unwrap();
            }
        }
        w.finish().unwrap();
    }
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(buf.into_inner())
}

#[test]
fn secrets_reach_granted_functions_and_nothing_shows_them() {
    let node = NodeProcess::start(&temp_dir("functions-secrets"), &[]);
    let dir = temp_dir("functions-secrets-code");
    std::fs::write(
        dir.join("app.py"),
        "import os\n\ndef handler(event, context):\n    return {'key': os.environ.get('API_KEY')}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["secret", "set", "API_KEY", "--data"])
        .arg(&node.data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(b"first-value\n")?;
            c.wait_with_output()
        })
        .expect("cirrus secret set");
    ok(&out, "secret set");
    let out = cirrus(
        &node,
        &[
            "deploy",
            "keyed",
            "--runtime",
            "python3",
            "--handler",
            "app.handler",
            "--secret",
            "API_KEY",
            "--code",
            dir.to_str().unwrap(),
        ],
    );
    ok(&out, "deploy with a secret");
    let invoke = || -> Value {
        let out = cirrus(&node, &["invoke", "keyed"]);
        serde_json::from_str(&ok(&out, "invoke keyed")).unwrap()
    };
    assert_eq!(invoke(), json!({"key": "first-value"}));
    // A new value restarts the function's instances.
    ok(
        &cirrus(
            &node,
            &["secret", "set", "API_KEY", "--value", "second-value"],
        ),
        "secret set again",
    );
    assert_eq!(invoke()["key"], "second-value");
    // No API shows a value.
    for path in ["/v1/functions/keyed", "/v1/secrets", "/v1/functions"] {
        let (_, v) = node.call("GET", path, None);
        assert!(!v.to_string().contains("second-value"), "{path}: {v}");
    }
    // New code runs from the next call on.
    std::fs::write(
        dir.join("app.py"),
        "def handler(event, context):\n    return 'v2'\n",
    )
    .unwrap();
    let out = cirrus(
        &node,
        &[
            "deploy",
            "keyed",
            "--runtime",
            "python3",
            "--handler",
            "app.handler",
            "--secret",
            "API_KEY",
            "--code",
            dir.to_str().unwrap(),
        ],
    );
    assert!(ok(&out, "redeploy").contains("deployed keyed"));
    assert_eq!(invoke(), json!("v2"));
    let listed = ok(&cirrus(&node, &["secret", "list"]), "secret list");
    assert_eq!(listed.trim(), "API_KEY");
    ok(
        &cirrus(&node, &["secret", "delete", "API_KEY"]),
        "secret delete",
    );
    let out = cirrus(&node, &["invoke", "keyed"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("API_KEY"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn minimum_instances_are_started_ahead_and_kept_when_idle() {
    let node = NodeProcess::start(&temp_dir("functions-min"), &[]);
    let code = repo().join("examples/functions/greet-python");
    let out = cirrus(
        &node,
        &[
            "deploy",
            "warm",
            "--runtime",
            "python3.12",
            "--handler",
            "app.handler",
            "--min-instances",
            "1",
            "--idle-timeout",
            "1",
            "--code",
            code.to_str().unwrap(),
        ],
    );
    ok(&out, "deploy with a minimum");
    let pools = || {
        let (_, v) = node.call("GET", "/v1/functions/warm", None);
        v["pools"].as_array().cloned().unwrap_or_default()
    };
    // Started before any call (a start counts once it is ready)...
    eventually(Duration::from_secs(20), "a warm instance", || {
        pools()
            .first()
            .filter(|p| p["instances"] == 1 && p["cold_starts"] == 1)
            .map(|_| ())
    });
    // ...so the first call is warm, and idling past the timeout keeps the minimum.
    let out = cirrus(&node, &["invoke", "warm", "--payload", r#"{"name":"W"}"#]);
    ok(&out, "invoke");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("cold start"));
    std::thread::sleep(Duration::from_secs(3));
    let p = pools();
    assert_eq!(p[0]["instances"], 1, "{p:?}");
    assert_eq!(p[0]["cold_starts"], 1, "{p:?}");
}
