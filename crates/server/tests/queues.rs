//! Cirrus queues on a node: SQS's semantics (visibility, delay, redrive, long polling),
//! the SQS JSON protocol's errors and limits, and an event-source mapping feeding a
//! Python function with partial batch failures.
//!
//! The node's store is `MemoryStore` unless `CIRRUS_TEST_STORE=sqlite` (then the node's
//! own SQLite file, with durable commits).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cirrus_server::events::queues::{NewMessage, ReceiveOptions};
use cirrus_server::sigv4::{self, Credentials};
use cirrus_server::{Node, NodeOptions};
use cirrus_store::Store;
use serde_json::{Value, json};

/// The store the test node keeps its state in.
fn test_store() -> Option<Arc<dyn Store>> {
    match std::env::var("CIRRUS_TEST_STORE").as_deref() {
        Ok("sqlite") => None,
        _ => Some(Arc::new(cirrus_store::memory::MemoryStore::new())),
    }
}

async fn start(name: &str) -> (Arc<Node>, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("cirrus-queues-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = NodeOptions::new(&dir);
    let node = Node::open_with(options, test_store()).await.expect("node");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let serving = node.clone();
    tokio::spawn(async move {
        let _ = cirrus_server::serve(serving, listener, std::future::pending()).await;
    });
    (node, endpoint, dir)
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn text(body: &str) -> NewMessage {
    NewMessage {
        body: body.into(),
        ..Default::default()
    }
}

fn opts(max: usize, visibility: Option<u32>, wait: u32) -> ReceiveOptions {
    ReceiveOptions {
        max,
        visibility_timeout: visibility,
        wait_seconds: Some(wait),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_timeout_hides_a_received_message_until_it_passes() {
    let (node, _, _) = start("visibility").await;
    let q = &node.events.queues;
    q.create(
        "jobs",
        &attrs(&[("VisibilityTimeout", "1")]),
        Default::default(),
    )
    .await
    .unwrap();
    let id = q.send("jobs", "hello".into(), Value::Null).await.unwrap();
    let got = q.receive("jobs", opts(10, None, 0)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].receive_count, 1);
    assert!(
        q.receive("jobs", opts(10, None, 0))
            .await
            .unwrap()
            .is_empty()
    );
    let c = q.counts("jobs").await.unwrap();
    assert_eq!((c.visible, c.in_flight, c.delayed), (0, 1, 0));
    // Long polling wakes when the message becomes visible again (no send happens).
    let t = Instant::now();
    let again = q.receive("jobs", opts(10, None, 5)).await.unwrap();
    assert_eq!(again.len(), 1, "visible again after the timeout");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(again[0].receive_count, 2);
    // The first receipt is stale: it deletes nothing; the latest one deletes.
    let stale = got[0].receipt.clone().unwrap();
    q.delete_messages("jobs", &[stale]).await.unwrap();
    assert_eq!(q.counts("jobs").await.unwrap().in_flight, 1);
    let latest = again[0].receipt.clone().unwrap();
    q.delete_messages("jobs", &[latest]).await.unwrap();
    let c = q.counts("jobs").await.unwrap();
    assert_eq!((c.visible, c.in_flight, c.delayed), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_visibility_releases_and_extends() {
    let (node, _, _) = start("change").await;
    let q = &node.events.queues;
    q.create("work", &[], Default::default()).await.unwrap();
    q.send("work", "x".into(), Value::Null).await.unwrap();
    let got = q.receive("work", opts(1, Some(600), 0)).await.unwrap();
    let receipt = got[0].receipt.clone().unwrap();
    q.change_visibility("work", &receipt, 0).await.unwrap();
    let got = q.receive("work", opts(1, None, 0)).await.unwrap();
    assert_eq!(got.len(), 1, "released at once");
    // The old receipt no longer names an in-flight message.
    assert!(q.change_visibility("work", &receipt, 10).await.is_err());
    assert!(q.change_visibility("work", "junk", 10).await.is_err());
    assert!(
        q.change_visibility("work", got[0].receipt.as_deref().unwrap(), 43_201)
            .await
            .is_err()
    );
    assert_eq!(q.purge("work").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue() {
    let (node, _, _) = start("redrive").await;
    let q = &node.events.queues;
    q.create("dlq", &[], Default::default()).await.unwrap();
    let policy = json!({ "deadLetterTargetArn": q.arn("dlq"), "maxReceiveCount": 2 }).to_string();
    q.create(
        "main",
        &attrs(&[("RedrivePolicy", &policy)]),
        Default::default(),
    )
    .await
    .unwrap();
    let id = q.send("main", "poison".into(), Value::Null).await.unwrap();
    for n in 1..=2 {
        let got = q.receive("main", opts(1, Some(0), 0)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].receive_count, n);
    }
    assert!(
        q.receive("main", opts(1, Some(0), 0))
            .await
            .unwrap()
            .is_empty()
    );
    let dead = q.receive("dlq", opts(10, None, 0)).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].body, "poison");
    // A policy naming a missing queue, or a bad count, is refused.
    let missing = json!({ "deadLetterTargetArn": q.arn("nope"), "maxReceiveCount": 2 }).to_string();
    assert!(
        q.update("main", &attrs(&[("RedrivePolicy", &missing)]), &[])
            .await
            .is_err()
    );
    let zero = json!({ "deadLetterTargetArn": q.arn("dlq"), "maxReceiveCount": 0 }).to_string();
    assert!(
        q.update("main", &attrs(&[("RedrivePolicy", &zero)]), &[])
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_messages_wait_and_a_long_poll_wakes_for_them() {
    let (node, _, _) = start("delay").await;
    let q = &node.events.queues;
    q.create("later", &[], Default::default()).await.unwrap();
    let queue = q.queue("later").await.unwrap();
    let m = q
        .prepare(
            &queue,
            NewMessage {
                delay_seconds: Some(1),
                ..text("soon")
            },
        )
        .unwrap();
    q.store_messages("later", &[m]).await.unwrap();
    assert!(
        q.receive("later", opts(1, None, 0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(q.counts("later").await.unwrap().delayed, 1);
    let t = Instant::now();
    let got = q.receive("later", opts(1, None, 5)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        t.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let too_long = NewMessage {
        delay_seconds: Some(901),
        ..text("x")
    };
    assert!(q.prepare(&queue, too_long).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_on_a_send_and_times_out_when_none_comes() {
    let (node, _, _) = start("longpoll").await;
    let q = node.events.queues.clone();
    q.create("waits", &[], Default::default()).await.unwrap();
    let t = Instant::now();
    assert!(
        q.receive("waits", opts(1, None, 1))
            .await
            .unwrap()
            .is_empty()
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let receiver = {
        let q = q.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let got = q.receive("waits", opts(1, None, 10)).await.unwrap();
            (got, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    q.send("waits", "wake".into(), Value::Null).await.unwrap();
    let (got, waited) = receiver.await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(waited < Duration::from_secs(2), "woke late: {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_are_validated_like_sqs() {
    let (node, _, _) = start("attributes").await;
    let q = &node.events.queues;
    for (name, value) in [
        ("VisibilityTimeout", "43201"),
        ("VisibilityTimeout", "-1"),
        ("MessageRetentionPeriod", "59"),
        ("MessageRetentionPeriod", "1209601"),
        ("DelaySeconds", "901"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
        ("MaximumMessageSize", "1023"),
        ("MaximumMessageSize", "262145"),
        ("RedrivePolicy", "{"),
        ("FifoQueue", "true"),
        ("NoSuchAttribute", "1"),
    ] {
        let e = q
            .create("bad", &attrs(&[(name, value)]), Default::default())
            .await
            .expect_err(name);
        assert!(e.to_string().contains(name), "{name}={value}: {e}");
    }
    assert!(q.create("bad.fifo", &[], Default::default()).await.is_err());
    assert!(q.create("", &[], Default::default()).await.is_err());
    assert!(
        q.create(&"n".repeat(81), &[], Default::default())
            .await
            .is_err()
    );
    // Same attributes again: fine; different: QueueNameExists.
    let a = attrs(&[("DelaySeconds", "5")]);
    assert!(q.create("same", &a, Default::default()).await.unwrap().1);
    assert!(!q.create("same", &a, Default::default()).await.unwrap().1);
    assert!(
        q.create("same", &attrs(&[("DelaySeconds", "6")]), Default::default())
            .await
            .is_err()
    );
    // Message size and contents.
    let queue = q.queue("same").await.unwrap();
    assert!(q.prepare(&queue, text(&"x".repeat(262_144))).is_ok());
    assert!(q.prepare(&queue, text(&"x".repeat(262_145))).is_err());
    assert!(q.prepare(&queue, text("")).is_err());
    assert!(q.prepare(&queue, text("bad \u{1} char")).is_err());
}

/// Sends one signed SQS request; the status, the `x-amzn-query-error` header and the body.
async fn sqs(node: &Node, endpoint: &str, operation: &str, body: Value) -> (u16, String, Value) {
    let host = endpoint.trim_start_matches("http://");
    let bytes = body.to_string().into_bytes();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", host.parse().unwrap());
    headers.insert(
        "x-amz-target",
        format!("AmazonSQS.{operation}").parse().unwrap(),
    );
    headers.insert(
        "content-type",
        "application/x-amz-json-1.0".parse().unwrap(),
    );
    let creds = Credentials {
        access_key_id: node.credentials.access_key_id.clone(),
        secret_access_key: node.credentials.secret_access_key.clone(),
    };
    sigv4::sign(
        "POST",
        "/",
        None,
        &mut headers,
        &bytes,
        &creds,
        "us-east-1",
        "sqs",
        SystemTime::now(),
    );
    headers.remove("host");
    let resp = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .headers(headers)
        .body(bytes)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{operation}: no answer ({e})"));
    let status = resp.status().as_u16();
    let query = resp
        .headers()
        .get("x-amzn-query-error")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        query,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqs_protocol_answers_in_sqs_shape() {
    let (node, endpoint, _) = start("protocol").await;
    let (s, _, v) = sqs(
        &node,
        &endpoint,
        "CreateQueue",
        json!({"QueueName": "orders"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let url = v["QueueUrl"].as_str().unwrap().to_owned();
    let host = endpoint.trim_start_matches("http://");
    assert_eq!(url, format!("http://{host}/000000000000/orders"));
    let (s, q, v) = sqs(
        &node,
        &endpoint,
        "GetQueueUrl",
        json!({"QueueName": "missing"}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
    assert_eq!(q, "AWS.SimpleQueueService.NonExistentQueue;Sender");
    // MD5s as SQS computes them (the attribute digest checked against SQS's documented
    // encoding in tests/aws/sqs_clients.py as well).
    let (s, _, v) = sqs(
        &node,
        &endpoint,
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "hello",
               "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["MD5OfMessageBody"], "5d41402abc4b2a76b9719d911017c592");
    assert!(v["MD5OfMessageAttributes"].is_string());
    // Batch limits.
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"Id": format!("m{i}"), "MessageBody": "x"}))
        .collect();
    let (s, q, v) = sqs(
        &node,
        &endpoint,
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": eleven}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["__type"],
        "com.amazonaws.sqs#TooManyEntriesInBatchRequest"
    );
    assert_eq!(
        q,
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender"
    );
    let (s, _, v) = sqs(
        &node,
        &endpoint,
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]}),
    )
    .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("com.amazonaws.sqs#BatchEntryIdsNotDistinct"))
    );
    let (s, _, v) = sqs(
        &node,
        &endpoint,
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [{"Id": "ok", "MessageBody": "x"}, {"Id": "late", "MessageBody": "y", "DelaySeconds": 1000}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["Successful"].as_array().unwrap().len(), 1);
    assert_eq!(v["Failed"][0]["Id"], "late");
    let (s, _, v) = sqs(
        &node,
        &endpoint,
        "ReceiveMessage",
        json!({"QueueUrl": url, "MaxNumberOfMessages": 11}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, _, v) = sqs(
        &node,
        &endpoint,
        "ReceiveMessage",
        json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let messages = v["Messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    let with_attrs = messages.iter().find(|m| m["Body"] == "hello").unwrap();
    assert_eq!(with_attrs["MessageAttributes"]["k"]["StringValue"], "v");
    assert_eq!(with_attrs["Attributes"]["ApproximateReceiveCount"], "1");
    let (s, q, v) = sqs(
        &node,
        &endpoint,
        "SetQueueAttributes",
        json!({"QueueUrl": url, "Attributes": {"VisibilityTimeout": "99999"}}),
    )
    .await;
    assert_eq!(
        (s, q.as_str()),
        (400, "InvalidAttributeValue;Sender"),
        "{v}"
    );
    let (s, _, v) = sqs(
        &node,
        &endpoint,
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": ["All"]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["Attributes"]["ApproximateNumberOfMessagesNotVisible"],
        "2"
    );
    assert_eq!(
        v["Attributes"]["QueueArn"],
        "arn:aws:sqs:us-east-1:000000000000:orders"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sqs_requests_get_4xx() {
    let (node, endpoint, _) = start("hostile").await;
    sqs(&node, &endpoint, "CreateQueue", json!({"QueueName": "h"})).await;
    let url = format!("{endpoint}/000000000000/h");
    let operations = [
        "CreateQueue",
        "GetQueueUrl",
        "ListQueues",
        "DeleteQueue",
        "GetQueueAttributes",
        "SetQueueAttributes",
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "PurgeQueue",
        "TagQueue",
        "UntagQueue",
        "ListQueueTags",
        "NoSuchOperation",
    ];
    let bodies = [
        json!({}),
        json!({"QueueUrl": 5}),
        json!({"QueueUrl": url, "QueueName": ["x"], "Attributes": "x"}),
        json!({"QueueUrl": url, "QueueName": "a/b", "Attributes": {"VisibilityTimeout": {"a": 1}}}),
        json!({"QueueUrl": url, "MessageBody": null, "Entries": [1, 2]}),
        json!({"QueueUrl": url, "Entries": [{"Id": "x"}], "ReceiptHandle": "#"}),
        json!({"QueueUrl": url, "MaxNumberOfMessages": -1, "WaitTimeSeconds": 99, "VisibilityTimeout": 1e40}),
        json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": {"": {"DataType": "Nope"}}}),
        json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "!!"}}}),
        json!({"QueueUrl": url, "ReceiptHandle": "zz#1", "VisibilityTimeout": "x", "Tags": [1], "TagKeys": {}}),
        json!({"QueueUrl": "http://h/000000000000/", "QueueName": "x".repeat(100)}),
    ];
    for op in operations {
        for body in &bodies {
            let (s, _, v) = sqs(&node, &endpoint, op, body.clone()).await;
            assert!(s < 500, "{op} answered {s} to {body}: {v}");
            if s >= 400 {
                assert!(
                    v["__type"].is_string() && v["message"].is_string(),
                    "{op}: {v}"
                );
            }
        }
    }
}

/// A Python function that fails the messages whose body starts with `fail` (reporting
/// them in `batchItemFailures`) and logs every message id it handled to `LOG`.
const HANDLER: &str = r#"
import json, os

def handler(event, context):
    failures = []
    with open(os.environ["LOG"], "a") as log:
        for r in event["Records"]:
            log.write(json.dumps({"id": r["messageId"], "body": r["body"], "record": r}) + "\n")
            if r["body"].startswith("fail"):
                failures.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failures}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_feeds_a_function_and_keeps_only_reported_failures() {
    let (node, _, dir) = start("mapping").await;
    let log = dir.join("handled.jsonl");
    let q = &node.events.queues;
    q.create("dead", &[], Default::default()).await.unwrap();
    let policy = json!({ "deadLetterTargetArn": q.arn("dead"), "maxReceiveCount": 2 }).to_string();
    q.create(
        "in",
        &attrs(&[("VisibilityTimeout", "1"), ("RedrivePolicy", &policy)]),
        Default::default(),
    )
    .await
    .unwrap();
    let mut config = cirrus_server::functions::config::FunctionConfig {
        runtime: "python3.12".into(),
        handler: "app.handler".into(),
        ..Default::default()
    };
    config
        .environment
        .insert("LOG".into(), log.to_string_lossy().into_owned());
    node.functions
        .create(
            "consumer",
            config,
            &support::zip_of(&[("app.py", HANDLER)]),
            false,
        )
        .await
        .expect("function deploys");
    let mut ok_ids = Vec::new();
    let mut failing = Vec::new();
    for i in 0..6 {
        let body = if i % 3 == 0 {
            format!("fail-{i}")
        } else {
            format!("ok-{i}")
        };
        let attributes = json!({"n": {"DataType": "Number", "StringValue": i.to_string()}});
        let id = q.send("in", body.clone(), attributes).await.unwrap();
        if body.starts_with("fail") {
            failing.push(id);
        } else {
            ok_ids.push(id);
        }
    }
    let mapping = node
        .mappings
        .create(cirrus_server::events::mappings::MappingChange {
            event_source_arn: Some(q.arn("in")),
            function_name: Some("consumer".into()),
            batch_size: Some(10),
            report_batch_item_failures: Some(true),
            ..Default::default()
        })
        .await
        .expect("mapping");
    // Wait for the failing ones to reach the dead-letter queue.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = q.counts("dead").await.unwrap();
        let main = q.counts("in").await.unwrap();
        if c.visible == failing.len() as u64 && main.visible + main.in_flight + main.delayed == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dead {c:?}, in {main:?}; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.mappings.delete(&mapping.uuid).await.unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |id: &str| lines.iter().filter(|l| l["id"] == id).count();
    for id in &ok_ids {
        assert_eq!(count(id), 1, "handled once and deleted: {id}");
    }
    for id in &failing {
        assert_eq!(count(id), 2, "delivered maxReceiveCount times: {id}");
    }
    let dead: Vec<String> = q
        .receive("dead", opts(10, None, 0))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let mut expected = failing.clone();
    expected.sort();
    let mut dead_sorted = dead;
    dead_sorted.sort();
    assert_eq!(dead_sorted, expected);
    // The event is Lambda's SQS event.
    let r = &lines[0]["record"];
    for key in [
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    ] {
        assert!(r.get(key).is_some(), "{key} missing from {r}");
    }
    assert_eq!(r["eventSource"], "aws:sqs");
    assert_eq!(r["eventSourceARN"], q.arn("in"));
    assert_eq!(r["messageAttributes"]["n"]["dataType"], "Number");
    for key in [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ] {
        assert!(r["attributes"][key].is_string(), "{key} in {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_are_validated() {
    let (node, _, _) = start("mapping-checks").await;
    let q = &node.events.queues;
    q.create("src", &[], Default::default()).await.unwrap();
    let change = |f: &dyn Fn(&mut cirrus_server::events::mappings::MappingChange)| {
        let mut c = cirrus_server::events::mappings::MappingChange {
            event_source_arn: Some(q.arn("src")),
            function_name: Some("missing".into()),
            ..Default::default()
        };
        f(&mut c);
        c
    };
    let m = &node.mappings;
    assert!(m.create(change(&|_| {})).await.is_err(), "no such function");
    assert!(m.create(change(&|c| c.batch_size = Some(0))).await.is_err());
    assert!(
        m.create(change(&|c| c.batch_size = Some(10_001)))
            .await
            .is_err()
    );
    assert!(
        m.create(change(&|c| c.batch_size = Some(100)))
            .await
            .is_err(),
        "window needed"
    );
    assert!(
        m.create(change(&|c| c.maximum_batching_window_in_seconds = Some(301)))
            .await
            .is_err()
    );
    assert!(
        m.create(change(&|c| c.maximum_concurrency = Some(Some(1))))
            .await
            .is_err()
    );
    assert!(
        m.create(change(
            &|c| c.event_source_arn = Some("arn:aws:kinesis:x".into())
        ))
        .await
        .is_err()
    );
}

/// The boto3 and aws CLI script of `crates/cli/tests/aws/sqs_clients.py` against this
/// test's node (on `MemoryStore` by default, so it runs before SQLite keeps queues). Runs
/// when the test venv exists (`crates/cli/tests/aws_clients.rs` makes it, or set
/// `CIRRUS_VENV`); says so and passes otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_the_aws_cli_drive_queues_on_this_node() {
    let venv = match std::env::var_os("CIRRUS_VENV") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/cirrus/venv"),
    };
    if !venv.join("bin/aws").exists() {
        eprintln!(
            "skipped: no venv with boto3 and awscli at {}",
            venv.display()
        );
        return;
    }
    let (node, endpoint, _) = start("boto3").await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/aws/sqs_clients.py");
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = std::process::Command::new(venv.join("bin/python"));
    command
        .arg(&script)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", &node.credentials.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &node.credentials.secret_access_key)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("PATH", path);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("python runs");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sqs_clients.py failed:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_routes_serve_queues_and_mappings() {
    let (node, endpoint, _) = start("native").await;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = http
            .request(method, format!("{endpoint}/v1{path}"))
            .bearer_auth(&node.credentials.token);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    use reqwest::Method as M;
    let (s, v) = call(
        M::POST,
        "/queues",
        Some(json!({"name": "n", "attributes": {"VisibilityTimeout": 5}})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["attributes"]["VisibilityTimeout"], "5");
    let (s, v) = call(
        M::POST,
        "/queues",
        Some(json!({"name": "bad", "attributes": {"DelaySeconds": 901}})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("InvalidAttributeValue")),
        "{v}"
    );
    let (s, v) = call(
        M::POST,
        "/queues/n/messages",
        Some(json!({"messages": [{"body": "a"}, {"body": {"json": true}}]})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(M::POST, "/queues/n/receive", Some(json!({"max": 10}))).await;
    assert_eq!(s, 200, "{v}");
    let receipts: Vec<Value> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["receipt"].clone())
        .collect();
    assert_eq!(receipts.len(), 2);
    let (s, v) = call(
        M::POST,
        "/queues/n/delete",
        Some(json!({"receipts": receipts})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = call(M::GET, "/queues/n", None).await;
    assert_eq!(
        (s, v["messages"]["inFlight"].as_u64()),
        (200, Some(0)),
        "{v}"
    );
    let (s, _) = call(M::GET, "/queues/missing", None).await;
    assert_eq!(s, 404);
    let (s, v) = call(
        M::POST,
        "/mappings",
        Some(json!({"EventSourceArn": node.events.queues.arn("n"), "FunctionName": "nope"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("ResourceNotFoundException")),
        "{v}"
    );
    let (s, v) = call(M::GET, "/mappings", None).await;
    assert_eq!((s, v["mappings"].as_array().map(Vec::len)), (200, Some(0)));
    let (s, _) = call(M::DELETE, "/queues/n", None).await;
    assert_eq!(s, 204);
    let doc = reqwest::get(format!("{endpoint}/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(doc.contains("/v1/queues/{name}/receive") && doc.contains("/v1/mappings/{uuid}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_past_their_retention_are_swept() {
    let (node, _, _) = start("retention").await;
    let q = &node.events.queues;
    q.create(
        "short",
        &attrs(&[("MessageRetentionPeriod", "60")]),
        Default::default(),
    )
    .await
    .unwrap();
    let queue = q.queue("short").await.unwrap();
    let mut old = q.prepare(&queue, text("old")).unwrap();
    old.sent_ms -= 61_000;
    old.visible_ms = old.sent_ms;
    let fresh = q.prepare(&queue, text("fresh")).unwrap();
    q.store_messages("short", &[old, fresh]).await.unwrap();
    assert_eq!(q.expire().await.unwrap(), 1);
    let left = q.receive("short", opts(10, None, 0)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, "fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mapping_requests_get_4xx() {
    let (node, endpoint, _) = start("hostile-mappings").await;
    node.events
        .queues
        .create("src", &[], Default::default())
        .await
        .unwrap();
    let host = endpoint.trim_start_matches("http://").to_owned();
    let creds = Credentials {
        access_key_id: node.credentials.access_key_id.clone(),
        secret_access_key: node.credentials.secret_access_key.clone(),
    };
    let arn = node.events.queues.arn("src");
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"\xff\xfe".to_vec(),
        br#"{"EventSourceArn": 5, "FunctionName": []}"#.to_vec(),
        format!(r#"{{"EventSourceArn": "{arn}", "FunctionName": "f", "BatchSize": -1}}"#).into_bytes(),
        format!(r#"{{"EventSourceArn": "{arn}", "FunctionName": "../x", "ScalingConfig": {{"MaximumConcurrency": "x"}}}}"#).into_bytes(),
        format!(r#"{{"EventSourceArn": "{arn}", "FunctionName": "f", "FunctionResponseTypes": ["Nope"]}}"#).into_bytes(),
        br#"{"EventSourceArn": "arn:aws:kinesis:us-east-1:0:stream/s", "FunctionName": "f", "FilterCriteria": {}}"#.to_vec(),
        br#"{"Enabled": "yes", "MaximumBatchingWindowInSeconds": 1e99}"#.to_vec(),
    ];
    let paths = [
        ("POST", "/2015-03-31/event-source-mappings/"),
        ("GET", "/2015-03-31/event-source-mappings/"),
        (
            "GET",
            "/2015-03-31/event-source-mappings/?MaxItems=0&FunctionName=%2F%2F",
        ),
        ("GET", "/2015-03-31/event-source-mappings/nope"),
        ("PUT", "/2015-03-31/event-source-mappings/nope"),
        ("DELETE", "/2015-03-31/event-source-mappings/nope"),
        ("PATCH", "/2015-03-31/event-source-mappings/a/b"),
    ];
    let http = reqwest::Client::new();
    for (method, path) in paths {
        for body in &bodies {
            let (p, query) = path.split_once('?').unwrap_or((path, ""));
            let mut headers = http::HeaderMap::new();
            headers.insert("host", host.parse().unwrap());
            sigv4::sign(
                method,
                p,
                (!query.is_empty()).then_some(query),
                &mut headers,
                body,
                &creds,
                "us-east-1",
                "lambda",
                SystemTime::now(),
            );
            headers.remove("host");
            let resp = http
                .request(method.parse().unwrap(), format!("{endpoint}{path}"))
                .headers(headers)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let errortype = resp.headers().get("x-amzn-errortype").is_some();
            let text = resp.text().await.unwrap_or_default();
            assert!(status < 500, "{method} {path} answered {status}: {text}");
            if status >= 400 {
                assert!(errortype, "{method} {path}: no x-amzn-errortype ({text})");
            }
        }
    }
}
