//! Workflows that call the node's own services (`sqs:sendMessage`, `events:putEvents`,
//! with and without `.waitForTaskToken`), and asynchronous invocations whose destinations
//! are an event bus and a queue. Everything is set up and driven over the native `/v1`
//! API, as a user would; queues are read through the node's queue service.
//!
//! The node's store is `MemoryStore` unless `CIRRUS_TEST_STORE=sqlite`.

mod support;
use support::encode;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cirrus_server::events::queues::ReceiveOptions;
use cirrus_server::{Node, NodeOptions};
use cirrus_store::{QueueMessage, Store};
use serde_json::{Value, json};

fn test_store() -> Option<Arc<dyn Store>> {
    match std::env::var("CIRRUS_TEST_STORE").as_deref() {
        Ok("sqlite") => None,
        _ => Some(Arc::new(cirrus_store::memory::MemoryStore::new())),
    }
}

struct Api {
    node: Arc<Node>,
    endpoint: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(name: &str) -> Api {
        let dir =
            std::env::temp_dir().join(format!("cirrus-integrations-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let node = Node::open_with(NodeOptions::new(&dir), test_store())
            .await
            .expect("node");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let serving = node.clone();
        tokio::spawn(async move {
            let _ = cirrus_server::serve(serving, listener, std::future::pending()).await;
        });
        Api {
            node,
            endpoint,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/v1{path}", self.endpoint),
            )
            .bearer_auth(&self.node.credentials.token);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (s, v) = self.call(method, path, Some(body)).await;
        assert!((200..300).contains(&s), "{method} {path}: {s} {v}");
        v
    }

    async fn machine(&self, name: &str, definition: Value) {
        self.ok(
            "POST",
            "/state-machines",
            json!({ "name": name, "definition": definition }),
        )
        .await;
    }

    async fn queue(&self, name: &str) {
        self.node
            .events
            .queues
            .create(name, &[], Default::default())
            .await
            .expect("queue");
    }

    /// Starts an execution; its view (when `wait`, once it ended).
    async fn run(&self, machine: &str, input: Value, wait: bool) -> Value {
        self.ok(
            "POST",
            &format!("/state-machines/{machine}/executions"),
            json!({ "input": input, "wait": if wait { json!(30) } else { json!(false) } }),
        )
        .await
    }

    async fn execution(&self, arn: &str) -> Value {
        let (s, v) = self
            .call("GET", &format!("/executions/{}", encode(arn)), None)
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Waits up to `within` for `n` messages on a queue.
    async fn receive(&self, queue: &str, n: usize, within: Duration) -> Vec<QueueMessage> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            let batch = self
                .node
                .events
                .queues
                .receive(
                    queue,
                    ReceiveOptions {
                        max: 10,
                        visibility_timeout: Some(600),
                        wait_seconds: Some(1),
                    },
                )
                .await
                .expect("receive");
            got.extend(batch);
        }
        got
    }
}

fn output(x: &Value) -> Value {
    match &x["output"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_message_puts_the_body_on_the_queue() {
    let api = Api::start("send").await;
    api.queue("jobs").await;
    api.machine(
        "send",
        json!({
            "StartAt": "Send",
            "States": { "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {
                    "QueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/jobs",
                    "MessageBody.$": "$.order",
                    "MessageAttributes": { "kind": { "DataType": "String", "StringValue": "order" } }
                },
                "End": true
            } }
        }),
    )
    .await;
    let x = api.run("send", json!({ "order": { "id": 7 } }), true).await;
    assert_eq!(x["status"], "SUCCEEDED", "{x}");
    let out = output(&x);
    let got = api.receive("jobs", 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, r#"{"id":7}"#, "an object body is sent as JSON");
    assert_eq!(out["MessageId"], got[0].id);
    assert_eq!(
        out["MD5OfMessageBody"],
        cirrus_server::events::queues::md5_of_body(r#"{"id":7}"#)
    );
    assert!(out["MD5OfMessageAttributes"].is_string(), "{out}");
    assert_eq!(
        cirrus_server::events::queues::attributes_of(&got[0])["kind"]["StringValue"],
        "order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_message_wait_for_task_token_waits_for_the_token_it_sent() {
    let api = Api::start("token").await;
    api.queue("approvals").await;
    api.machine(
        "approve",
        json!({
            "StartAt": "Ask",
            "States": { "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": "arn:aws:sqs:us-east-1:000000000000:approvals",
                    "MessageBody": { "token.$": "$$.Task.Token", "order.$": "$.order" }
                },
                "ResultPath": "$.approval",
                "End": true
            } }
        }),
    )
    .await;
    let x = api.run("approve", json!({ "order": 42 }), false).await;
    let arn = x["arn"].as_str().unwrap().to_owned();
    let got = api.receive("approvals", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "the task sends its message");
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["order"], 42);
    let token = body["token"].as_str().expect("the token is in the message");
    assert_eq!(api.execution(&arn).await["status"], "RUNNING");
    let (s, v) = api
        .call(
            "POST",
            "/tasks/success",
            Some(json!({ "taskToken": token, "output": { "approved": true } })),
        )
        .await;
    assert!((200..300).contains(&s), "{s} {v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let x = api.execution(&arn).await;
        if x["status"] != "RUNNING" || Instant::now() > deadline {
            break x;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        output(&done),
        json!({ "order": 42, "approval": { "approved": true } })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_fires_rules() {
    let api = Api::start("put").await;
    api.queue("placed").await;
    api.ok(
        "PUT",
        "/buses/default/rules/placed",
        json!({
            "pattern": { "source": ["shop"], "detail-type": ["OrderPlaced"] },
            "targets": [{ "id": "q", "action": { "type": "queue", "queue": "placed" } }]
        }),
    )
    .await;
    api.machine(
        "announce",
        json!({
            "StartAt": "Put",
            "States": { "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents",
                "Parameters": { "Entries": [{
                    "Source": "shop",
                    "DetailType": "OrderPlaced",
                    "EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/default",
                    "Detail": { "id.$": "$.id" }
                }] },
                "End": true
            } }
        }),
    )
    .await;
    let x = api.run("announce", json!({ "id": "o-1" }), true).await;
    assert_eq!(x["status"], "SUCCEEDED", "{x}");
    let out = output(&x);
    assert_eq!(out["FailedEntryCount"], 0);
    let event_id = out["Entries"][0]["EventId"].as_str().expect("an event id");
    let got = api.receive("placed", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "the rule's queue target gets the event");
    let event: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(event["id"], event_id);
    assert_eq!(event["detail"], json!({ "id": "o-1" }));
    let resources = event["resources"].as_array().unwrap();
    assert!(resources.contains(&x["arn"]), "{event}");
    assert!(
        resources.contains(&json!(
            "arn:aws:states:us-east-1:000000000000:stateMachine:announce"
        )),
        "{event}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_errors_are_caught_by_name() {
    let api = Api::start("errors").await;
    api.machine(
        "careful",
        json!({
            "StartAt": "Send",
            "States": {
                "Send": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage",
                    "Parameters": { "QueueUrl": "no-such-queue", "MessageBody": "x" },
                    "Catch": [{ "ErrorEquals": ["SQS.QueueDoesNotExistException"], "ResultPath": "$.send", "Next": "Put" }],
                    "End": true
                },
                "Put": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::events:putEvents",
                    "Parameters": { "Entries": [{ "Source": "s", "DetailType": "t", "Detail": {}, "EventBusName": "nowhere" }] },
                    "Catch": [{ "ErrorEquals": ["EventBridge.FailedEntry"], "ResultPath": "$.put", "Next": "Done" }],
                    "End": true
                },
                "Done": { "Type": "Succeed" }
            }
        }),
    )
    .await;
    let x = api.run("careful", json!({}), true).await;
    assert_eq!(x["status"], "SUCCEEDED", "{x}");
    let out = output(&x);
    assert_eq!(out["send"]["Error"], "SQS.QueueDoesNotExistException");
    assert!(
        out["send"]["Cause"]
            .as_str()
            .unwrap()
            .contains("no-such-queue"),
        "{out}"
    );
    assert_eq!(out["put"]["Error"], "EventBridge.FailedEntry");
    let answer: Value = serde_json::from_str(out["put"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(answer["FailedEntryCount"], 1);
    assert_eq!(
        answer["Entries"][0]["ErrorCode"],
        "ResourceNotFoundException"
    );

    // Other services are refused, naming the resource.
    api.machine(
        "other",
        json!({ "StartAt": "T", "States": { "T": { "Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Parameters": {}, "End": true } } }),
    )
    .await;
    let x = api.run("other", json!({}), true).await;
    assert_eq!(x["status"], "FAILED");
    assert_eq!(x["error"], "States.Runtime");
    assert!(x["cause"].as_str().unwrap().contains("sns:publish"), "{x}");
}

const CLASSIFY: &str = r#"
def handler(event, context):
    level = event["detail"]["level"]
    if level < 0:
        raise ValueError("a negative level")
    return {"id": event["detail"]["id"], "alert": level > 5}
"#;

/// An event → a rule → a function invoked asynchronously → its OnSuccess destination, the
/// default bus → a rule on the function's result → a queue. Its OnFailure destination is
/// a queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_results_reach_a_bus_and_a_queue() {
    use base64::Engine as _;
    let api = Api::start("destinations").await;
    for q in ["alerts", "results", "failures"] {
        api.queue(q).await;
    }
    let bus_arn = "arn:aws:events:us-east-1:000000000000:event-bus/default";
    let code =
        base64::engine::general_purpose::STANDARD.encode(support::zip_of(&[("app.py", CLASSIFY)]));
    // Destinations are checked when deployed.
    let (s, v) = api
        .call(
            "PUT",
            "/functions/classify",
            Some(json!({
                "code": code, "runtime": "python3.12", "handler": "app.handler",
                "event_invoke": { "on_success": "arn:aws:events:us-east-1:000000000000:bus/x" }
            })),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("event bus ARN"), "{v}");
    api.ok(
        "PUT",
        "/functions/classify",
        json!({
            "code": code, "runtime": "python3.12", "handler": "app.handler",
            "event_invoke": {
                "on_success": bus_arn,
                "on_failure": "arn:aws:sqs:us-east-1:000000000000:failures",
                "maximum_retry_attempts": 0
            }
        }),
    )
    .await;
    let (_, f) = api.call("GET", "/functions/classify", None).await;
    assert_eq!(f["config"]["event_invoke"]["on_success"], bus_arn);
    api.ok(
        "PUT",
        "/buses/default/rules/readings",
        json!({
            "pattern": { "source": ["sensor"] },
            "targets": [{ "id": "f", "action": { "type": "function", "function": "classify" } }]
        }),
    )
    .await;
    api.ok(
        "PUT",
        "/buses/default/rules/alerts",
        json!({
            "pattern": { "source": ["lambda"], "detail": { "responsePayload": { "alert": [true] } } },
            "targets": [{ "id": "q", "action": { "type": "queue", "queue": "alerts" } }]
        }),
    )
    .await;
    api.ok(
        "PUT",
        "/buses/default/rules/results",
        json!({
            "pattern": { "source": ["lambda"], "detail-type": ["Lambda Function Invocation Result - Success"] },
            "targets": [{ "id": "q", "action": { "type": "queue", "queue": "results" } }]
        }),
    )
    .await;
    for (id, level) in [("calm", 2), ("hot", 9), ("broken", -1)] {
        api.ok(
            "POST",
            "/events",
            json!({ "source": "sensor", "type": "reading", "data": { "id": id, "level": level } }),
        )
        .await;
    }
    let results = api.receive("results", 2, Duration::from_secs(60)).await;
    assert_eq!(results.len(), 2, "both successes reach the bus");
    let alerts = api.receive("alerts", 1, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1, "only the alert matches the second rule");
    let event: Value = serde_json::from_str(&alerts[0].body).unwrap();
    assert_eq!(event["source"], "lambda");
    assert_eq!(
        event["detail-type"],
        "Lambda Function Invocation Result - Success"
    );
    assert_eq!(
        event["detail"]["responsePayload"],
        json!({ "id": "hot", "alert": true })
    );
    assert_eq!(event["detail"]["requestPayload"]["detail"]["id"], "hot");
    assert!(
        event["resources"].to_string().contains("function:classify"),
        "{event}"
    );
    let failures = api.receive("failures", 1, Duration::from_secs(30)).await;
    assert_eq!(failures.len(), 1, "the failure reaches the queue");
    let record: Value = serde_json::from_str(&failures[0].body).unwrap();
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestPayload"]["detail"]["id"], "broken");
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert!(
        api.receive("alerts", 1, Duration::from_secs(1))
            .await
            .is_empty(),
        "no second alert"
    );
}
