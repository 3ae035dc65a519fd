//! `cirrus serve` as a user runs it: the native API over HTTP, the client commands, and
//! clear errors for bad requests.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{NodeProcess, Service, cirrus, eventually, temp_dir};

#[test]
fn a_workflow_runs_through_the_native_api_and_the_cli() {
    let service = Service::start(Duration::from_millis(5));
    let node = NodeProcess::start(&temp_dir("native"), &[]);
    let definition = json!({
        "StartAt": "Price",
        "States": {
            "Price": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                      "Parameters": {"ApiEndpoint": format!("{}/price", service.url), "Method": "POST",
                                     "RequestBody": {"item.$": "$.item"}},
                      "ResultSelector": {"price.$": "$.ResponseBody.echo.item"},
                      "ResultPath": "$.quote", "Next": "Settle"},
            "Settle": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Done": {"Type": "Pass", "End": true}
        }
    });
    let (status, m) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "quotes", "definition": definition})),
    );
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["definition"]["StartAt"], "Price");
    let (status, x) = node.call(
        "POST",
        "/v1/state-machines/quotes/executions",
        Some(&json!({"name": "first", "input": {"item": "apple"}, "wait": 30})),
    );
    assert_eq!(status, 201, "{x}");
    assert_eq!(x["status"], "SUCCEEDED", "{x}");
    assert_eq!(
        x["output"],
        json!({"item": "apple", "quote": {"price": "apple"}})
    );
    assert_eq!(service.calls.lock().unwrap().len(), 1);
    let arn = x["arn"].as_str().unwrap().to_owned();
    let (_, h) = node.call("GET", &format!("/v1/executions/{arn}/history"), None);
    let types: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "WaitStateEntered",
            "WaitStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let (status, list) = node.call("GET", "/v1/executions?stateMachine=quotes", None);
    assert_eq!(status, 200);
    assert_eq!(list["executions"][0]["arn"], json!(arn));

    // The OpenAPI document describes the routes, without a token.
    let (status, doc) = node.call_with("GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/state-machines/{name}/executions"]["post"].is_object());

    // The client commands do the same from the shell.
    let file = node.data.join("wait.json");
    std::fs::write(
        &file,
        json!({"StartAt": "W", "States": {"W": {"Type": "Pass", "Result": "done", "End": true}}})
            .to_string(),
    )
    .unwrap();
    let out = cirrus(
        &node,
        &[
            "workflow",
            "create",
            "shell",
            "--definition",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cirrus(
        &node,
        &["start", "shell", "--input", r#"{"a":1}"#, "--wait"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!("done")
    );
    let out = cirrus(&node, &["history", &arn]);
    let timeline = String::from_utf8_lossy(&out.stdout);
    assert!(timeline.contains("SUCCEEDED"), "{timeline}");
    assert!(timeline.contains("TaskSucceeded"), "{timeline}");
    assert!(timeline.contains("Settle"), "{timeline}");
    // Creating it again with another definition updates it.
    std::fs::write(
        &file,
        json!({"StartAt": "W", "States": {"W": {"Type": "Pass", "Result": "v2", "End": true}}})
            .to_string(),
    )
    .unwrap();
    let out = cirrus(
        &node,
        &[
            "workflow",
            "create",
            "shell",
            "--definition",
            file.to_str().unwrap(),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("updated"));
}

#[test]
fn bad_requests_get_clear_errors() {
    let node = NodeProcess::start(
        &temp_dir("errors"),
        &[
            "--max-request-bytes",
            "20000",
            "--max-payload-bytes",
            "1000",
        ],
    );
    let (status, e) = node.call_with("GET", "/v1/state-machines", None, None);
    assert_eq!(status, 401, "no token: {e}");
    let (status, e) = node.call_with("GET", "/v1/state-machines", None, Some("wrong"));
    assert_eq!(status, 401, "a wrong token: {e}");
    let (status, e) = node.call("GET", "/v1/state-machines/nothing", None);
    assert_eq!(status, 404);
    assert_eq!(e["error"]["code"], "StateMachineDoesNotExist");
    let (status, e) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "bad", "definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}})),
    );
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "InvalidDefinition");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("MISSING_TRANSITION_TARGET") && message.contains("/States/A/Next"),
        "{message}"
    );
    let (status, e) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "bad name!", "definition": {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}})),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("InvalidName"))
    );
    let (status, raw) = support::http(
        &node.endpoint,
        "POST",
        "/v1/state-machines",
        Some(&node.token),
        Some(b"{not json"),
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&raw));
    let huge = vec![b' '; 30_000];
    let (status, raw) = support::http(
        &node.endpoint,
        "POST",
        "/v1/validate",
        Some(&node.token),
        Some(&huge),
    );
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&raw));
    // The AWS protocol answers in AWS's error shape.
    let (status, raw) = support::http(&node.endpoint, "POST", "/", None, Some(b"{}"));
    assert_eq!(status, 400);
    let e: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(e["__type"], "UnknownOperationException");

    let (status, _) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "tiny", "definition": {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}})),
    );
    assert_eq!(status, 201);
    let big = "x".repeat(2000);
    let (status, e) = node.call(
        "POST",
        "/v1/state-machines/tiny/executions",
        Some(&json!({"input": {"big": big}})),
    );
    assert_eq!(status, 400, "an input over --max-payload-bytes: {e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("1000"));
    let (status, e) = node.call(
        "POST",
        "/v1/state-machines/tiny/executions",
        Some(&json!({"name": "once"})),
    );
    assert_eq!(status, 201, "{e}");
    let (status, e) = node.call(
        "POST",
        "/v1/state-machines/tiny/executions",
        Some(&json!({"name": "once", "input": {"other": true}})),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("ExecutionAlreadyExists"))
    );
}

#[test]
fn activities_failures_and_redrive() {
    let node = NodeProcess::start(&temp_dir("activities"), &[]);
    let (status, a) = node.call("POST", "/v1/activities", Some(&json!({"name": "review"})));
    assert_eq!(status, 201, "{a}");
    let definition = json!({
        "StartAt": "Review",
        "States": {
            "Review": {"Type": "Task", "Resource": a["arn"], "TimeoutSeconds": 60, "Next": "Done"},
            "Done": {"Type": "Pass", "End": true}
        }
    });
    node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "reviews", "definition": definition})),
    );
    let (_, x) = node.call(
        "POST",
        "/v1/state-machines/reviews/executions",
        Some(&json!({"input": {"doc": 1}})),
    );
    let arn = x["arn"].as_str().unwrap().to_owned();
    let (status, task) = node.call("POST", "/v1/activities/review/poll?worker=w1", None);
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["input"], json!({"doc": 1}));
    let (status, _) = node.call(
        "POST",
        "/v1/tasks/failure",
        Some(&json!({"taskToken": task["taskToken"], "error": "Rejected", "cause": "typo"})),
    );
    assert_eq!(status, 204);
    let failed = eventually(Duration::from_secs(10), "the execution to fail", || {
        let (_, x) = node.call("GET", &format!("/v1/executions/{arn}"), None);
        (x["status"] == "FAILED").then_some(x)
    });
    assert_eq!(failed["error"], "Rejected");

    // Redrive: the failed state runs again, and this time the worker approves.
    let (status, x) = node.call("POST", &format!("/v1/executions/{arn}/redrive"), None);
    assert_eq!(status, 200, "{x}");
    assert_eq!(x["status"], "RUNNING");
    assert_eq!(x["redriveCount"], 1);
    let (_, task) = node.call("POST", "/v1/activities/review/poll?worker=w1", None);
    assert_eq!(task["input"], json!({"doc": 1}));
    let (status, _) = node.call(
        "POST",
        "/v1/tasks/success",
        Some(&json!({"taskToken": task["taskToken"], "output": {"approved": true}})),
    );
    assert_eq!(status, 204);
    let done = eventually(Duration::from_secs(10), "the redriven execution", || {
        let (_, x) = node.call("GET", &format!("/v1/executions/{arn}"), None);
        (x["status"] == "SUCCEEDED").then_some(x)
    });
    assert_eq!(done["output"], json!({"approved": true}));
    let (_, h) = node.call("GET", &format!("/v1/executions/{arn}/history"), None);
    let events = h["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["type"] == "ExecutionRedriven"));
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e["id"] == json!(i + 1)),
        "the history stays gapless across the redrive"
    );
    let (status, e) = node.call("POST", &format!("/v1/executions/{arn}/redrive"), None);
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("ExecutionNotRedrivable"))
    );

    // Stopping a running execution.
    let (_, x) = node.call("POST", "/v1/state-machines/reviews/executions", None);
    let arn = x["arn"].as_str().unwrap().to_owned();
    let (status, x) = node.call(
        "POST",
        &format!("/v1/executions/{arn}/stop"),
        Some(&json!({"error": "Cancelled", "cause": "by the test"})),
    );
    assert_eq!(status, 200);
    assert_eq!(x["status"], "ABORTED");
    let (status, _) = node.call("POST", "/v1/activities/review/poll?worker=w2&wait=1", None);
    // The stopped execution's task is gone; the poll waits and comes back empty.
    assert_eq!(status, 204);
}

#[test]
fn a_given_key_pair_replaces_the_node_s_own() {
    let data = temp_dir("keys");
    let mut node = NodeProcess::start(&data, &[]);
    let made = node.aws_env();
    node.keep_data = true;
    drop(node);
    let secret = "s3cr3t/s3cr3t/s3cr3t/s3cr3t/s3cr3t/abcd";
    let node = NodeProcess::start(
        &data,
        &[
            "--access-key-id",
            "AKIAGIVENGIVENGIVEN1",
            "--secret-access-key",
            secret,
        ],
    );
    let env: std::collections::HashMap<String, String> = node.aws_env().into_iter().collect();
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "AKIAGIVENGIVENGIVEN1");
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], secret);
    let made: std::collections::HashMap<String, String> = made.into_iter().collect();
    assert_eq!(env["CIRRUS_TOKEN"], made["CIRRUS_TOKEN"], "the token stays");
    assert_ne!(made["AWS_ACCESS_KEY_ID"], "AKIAGIVENGIVENGIVEN1");
}

#[test]
fn one_node_per_data_directory() {
    let data = temp_dir("busy");
    let _node = NodeProcess::start(&data, &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .output()
        .expect("cirrus runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another node is running"), "{err}");
}
