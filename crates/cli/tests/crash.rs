//! The crash test: hundreds of STANDARD executions with Waits and HTTP Tasks, and the node
//! killed with SIGKILL several times at random moments. Every execution must finish with
//! the right output, with a gapless history, and no task whose result was recorded may
//! be called again. Run on SQLite and on PostgreSQL.
//!
//! Also: a callback task's message (`.waitForTaskToken`) is sent once, not again each time
//! the node stops and starts.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::{NodeProcess, Service, eventually, now_ms, postgres_schema, temp_dir};

const EXECUTIONS: usize = 240;
const KILLS: usize = 4;

/// A small generator for the kill moments; the seed is printed so a failure can be
/// replayed with CIRRUS_CRASH_SEED.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn definition(service: &str) -> Value {
    let call = |step: &str| {
        json!({
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {
                "ApiEndpoint": format!("{service}/{step}"),
                "Method": "POST",
                "RequestBody": {"execution.$": "$$.Execution.Name", "step": step, "n.$": "$.n"}
            },
            "ResultSelector": {"r.$": "$.ResponseBody.echo.n"},
            "ResultPath": format!("$.{step}"),
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5}]
        })
    };
    let mut first = call("first");
    first["Next"] = json!("Pause");
    let mut second = call("second");
    second["Next"] = json!("Sum");
    json!({
        "StartAt": "Nap",
        "States": {
            "Nap": {"Type": "Wait", "SecondsPath": "$.nap", "Next": "First"},
            "First": first,
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Second"},
            "Second": second,
            "Sum": {"Type": "Pass", "Parameters": {"n.$": "$.n", "first.$": "$.first.r", "second.$": "$.second.r"}, "End": true}
        }
    })
}

fn crash_test(label: &str, args: &[&str]) {
    let seed = std::env::var("CIRRUS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| (now_ms() as u64) | 1);
    eprintln!("{label}: seed {seed} (set CIRRUS_CRASH_SEED to replay)");
    let mut random = Random(seed);
    let service = Service::start(Duration::from_millis(10));
    let mut node = NodeProcess::start(&temp_dir(label), args);
    let (status, m) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "crash", "definition": definition(&service.url)})),
    );
    assert_eq!(status, 201, "{m}");

    // Start the executions in two halves, with a kill between them and more kills while
    // they run.
    let start = |node: &NodeProcess, range: std::ops::Range<usize>| {
        for i in range {
            let (status, x) = node.call(
                "POST",
                "/v1/state-machines/crash/executions",
                Some(&json!({"name": format!("e{i}"), "input": {"n": i, "nap": i % 3}})),
            );
            assert_eq!(status, 201, "starting e{i}: {x}");
        }
    };
    start(&node, 0..EXECUTIONS / 2);
    let mut kills = Vec::new();
    std::thread::sleep(Duration::from_millis(random.between(100, 900)));
    kills.push(now_ms());
    node.restart();
    start(&node, EXECUTIONS / 2..EXECUTIONS);
    for _ in 1..KILLS {
        std::thread::sleep(Duration::from_millis(random.between(200, 2000)));
        kills.push(now_ms());
        node.restart();
    }

    eventually(Duration::from_secs(180), "every execution to end", || {
        let (_, list) = node.call(
            "GET",
            "/v1/executions?stateMachine=crash&status=RUNNING&limit=1000",
            None,
        );
        list["executions"]
            .as_array()
            .is_some_and(Vec::is_empty)
            .then_some(())
    });

    let calls = service.calls.lock().unwrap().clone();
    let mut by_step: HashMap<(String, String), Vec<i64>> = HashMap::new();
    for c in &calls {
        let key = (
            c.body["execution"].as_str().unwrap_or("").to_owned(),
            c.body["step"].as_str().unwrap_or("").to_owned(),
        );
        by_step.entry(key).or_default().push(c.at_ms);
    }
    let mut repeated = 0;
    for i in 0..EXECUTIONS {
        let name = format!("e{i}");
        let arn = format!("arn:aws:states:us-east-1:000000000000:execution:crash:{name}");
        let (status, x) = node.call("GET", &format!("/v1/executions/{arn}"), None);
        assert_eq!(status, 200, "{name}: {x}");
        assert_eq!(x["status"], "SUCCEEDED", "{name}: {x}");
        assert_eq!(
            x["output"],
            json!({"n": i, "first": i, "second": i}),
            "{name}'s output"
        );
        let (_, h) = node.call(
            "GET",
            &format!("/v1/executions/{arn}/history?limit=1000"),
            None,
        );
        let events = h["events"].as_array().expect("events");
        assert_eq!(
            events.len() as u64,
            x["events"].as_u64().unwrap(),
            "{name}: every event stored"
        );
        for (k, e) in events.iter().enumerate() {
            assert_eq!(
                e["id"],
                json!(k + 1),
                "{name}: the history has a gap or a repeat at {k}"
            );
            assert!(
                e["previousId"].as_u64().unwrap() <= k as u64,
                "{name}: previous event ids point back"
            );
        }
        let count = |t: &str| events.iter().filter(|e| e["type"] == t).count();
        assert_eq!(count("ExecutionStarted"), 1, "{name}");
        assert_eq!(count("ExecutionSucceeded"), 1, "{name}");
        assert_eq!(
            count("TaskSucceeded"),
            2,
            "{name}: each task's result is recorded once"
        );
        assert_eq!(count("WaitStateExited"), 2, "{name}: each wait ends once");
        // When each task's result was recorded: no call of that task may come after it.
        let mut current = "";
        for e in events {
            if e["type"] == "TaskStateEntered" {
                current = e["details"]["name"].as_str().unwrap_or("");
            }
            if e["type"] == "TaskSucceeded" {
                let recorded =
                    cirrus_asl::timestamp::Timestamp::parse_rfc3339(e["time"].as_str().unwrap())
                        .unwrap()
                        .unix_millis();
                let step = current.to_ascii_lowercase();
                let times = by_step
                    .get(&(name.clone(), step.clone()))
                    .cloned()
                    .unwrap_or_default();
                assert!(!times.is_empty(), "{name}/{step} was never called");
                assert!(
                    times.iter().all(|t| *t <= recorded),
                    "{name}/{step} ran again after its result was recorded at {recorded}: {times:?}"
                );
                assert!(
                    times.len() <= 1 + KILLS,
                    "{name}/{step} ran {} times with {KILLS} kills",
                    times.len()
                );
                repeated += times.len() - 1;
            }
        }
    }
    eprintln!(
        "{label}: {EXECUTIONS} executions survived {KILLS} SIGKILLs at {:?}; {} calls, {repeated} of them again after a kill (at-least-once)",
        kills,
        calls.len()
    );
}

#[test]
fn executions_survive_sigkill_on_sqlite() {
    crash_test("crash-sqlite", &[]);
}

#[test]
fn executions_survive_sigkill_on_postgres() {
    let schema = postgres_schema("crash");
    crash_test("crash-postgres", &["--postgres", &schema.url]);
}

/// A `sqs:sendMessage.waitForTaskToken` task sends its message, which is recorded
/// (`TaskSubmitted`); the node is stopped with SIGINT and started, then killed and started:
/// the queue still holds one message, and its token completes the execution.
#[test]
fn a_callback_message_is_sent_once_across_restarts() {
    let mut node = NodeProcess::start(&temp_dir("callback-once"), &[]);
    let (status, q) = node.call("POST", "/v1/queues", Some(&json!({"name": "approvals"})));
    assert!(status < 300, "{q}");
    let definition = json!({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {
            "QueueUrl": q["url"],
            "MessageBody": {"token.$": "$$.Task.Token", "order.$": "$.order"}
        },
        "ResultPath": "$.approval",
        "End": true
    }}});
    let (status, m) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "approve", "definition": definition})),
    );
    assert_eq!(status, 201, "{m}");
    let (_, x) = node.call(
        "POST",
        "/v1/state-machines/approve/executions",
        Some(&json!({"input": {"order": 42}})),
    );
    let arn = x["arn"].as_str().expect("an execution").to_owned();
    let history = |node: &NodeProcess| -> Vec<Value> {
        let (_, h) = node.call("GET", &format!("/v1/executions/{arn}/history"), None);
        h["events"].as_array().cloned().unwrap_or_default()
    };
    let count = |events: &[Value], kind: &str| events.iter().filter(|e| e["type"] == kind).count();
    eventually(Duration::from_secs(20), "TaskSubmitted", || {
        (count(&history(&node), "TaskSubmitted") == 1).then_some(())
    });
    let visible = |node: &NodeProcess| {
        let (_, v) = node.call("GET", "/v1/queues/approvals", None);
        v["messages"]["visible"].as_u64()
    };
    assert_eq!(visible(&node), Some(1));

    node.stop();
    node.restart();
    // The engine dispatches what it recovers as it starts: a second copy would be on the
    // queue within moments.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(visible(&node), Some(1), "sent again after a clean stop");
    node.restart();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(visible(&node), Some(1), "sent again after SIGKILL");

    let (status, v) = node.call(
        "POST",
        "/v1/queues/approvals/receive",
        Some(&json!({"max": 10, "waitSeconds": 1})),
    );
    assert_eq!(status, 200, "{v}");
    let messages = v["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{v}");
    let body: Value = serde_json::from_str(messages[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["order"], 42);
    let (status, v) = node.call(
        "POST",
        "/v1/tasks/success",
        Some(&json!({"taskToken": body["token"], "output": {"approved": true}})),
    );
    assert_eq!(status, 204, "{v}");
    let done = eventually(Duration::from_secs(10), "the execution to succeed", || {
        let (_, x) = node.call("GET", &format!("/v1/executions/{arn}"), None);
        (x["status"] != "RUNNING").then_some(x)
    });
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        done["output"],
        json!({"order": 42, "approval": {"approved": true}})
    );
    let events = history(&node);
    assert_eq!(count(&events, "TaskScheduled"), 1);
    assert_eq!(count(&events, "TaskSubmitted"), 1);
    assert_eq!(count(&events, "TaskSucceeded"), 1);
}

/// PostgreSQL drops every connection of the node (as a server restart or a network cut
/// would): the node connects again, and executions carry on.
#[test]
fn the_node_reconnects_when_postgres_drops_it() {
    let app = format!("cirrus_reconnect_{}", std::process::id());
    let schema = postgres_schema("reconnect");
    let url = format!("{}&application_name={app}", schema.url);
    let node = NodeProcess::start(&temp_dir("reconnect"), &["--postgres", &url]);
    let definition = json!({"StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "Seconds": 2, "Next": "Done"},
        "Done": {"Type": "Pass", "End": true}}});
    let (status, _) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "naps", "definition": definition})),
    );
    assert_eq!(status, 201);
    let (_, x) = node.call(
        "POST",
        "/v1/state-machines/naps/executions",
        Some(&json!({"input": {"k": 1}})),
    );
    let arn = x["arn"].as_str().unwrap().to_owned();
    let base = std::env::var("CIRRUS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let killed = std::process::Command::new("psql")
        .arg(&base)
        .args(["-qtAc"])
        .arg(format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{app}'"
        ))
        .output()
        .expect("psql");
    let count: u32 = String::from_utf8_lossy(&killed.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        count >= 2,
        "the node's connections were not found: {killed:?}"
    );
    // The Wait ends after the connections died: its step needs a writer that reconnected.
    let done = eventually(Duration::from_secs(30), "the execution to end", || {
        let (status, x) = node.call("GET", &format!("/v1/executions/{arn}"), None);
        (status == 200 && x["status"] != "RUNNING").then_some(x)
    });
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"], json!({"k": 1}));
    let (status, _) = node.call("POST", "/v1/state-machines/naps/executions", None);
    assert_eq!(status, 201, "new work after the reconnect");
}
