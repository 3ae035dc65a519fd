//! The engine end to end on real stores: executions, timers, tasks, activities, callbacks,
//! nested executions, versions, stops, and resuming after a restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cirrus_asl::Failure;
use cirrus_engine::registry::{MachineUpdate, NewMachine, Route};
use cirrus_engine::run::StartRequest;
use cirrus_engine::{Config, Dispatcher, Engine, TaskCall};
use cirrus_store::Store;
use cirrus_store::memory::MemoryStore;
use cirrus_store::sqlite::{Durability, SqliteStore};
use serde_json::{Value, json};

/// Functions answered in process: `echo` returns its payload, `fail` fails, and every
/// call is recorded (with its task token, if any).
#[derive(Default)]
struct Functions {
    calls: Mutex<Vec<TaskCall>>,
}

#[async_trait]
impl Dispatcher for Functions {
    async fn invoke_function(&self, call: &TaskCall) -> Result<Value, Failure> {
        self.calls.lock().unwrap().push(call.clone());
        let name = cirrus_engine::dispatch::function_name(call);
        if name.ends_with("fail") {
            return Err(Failure::new("Boom", "it failed"));
        }
        Ok(call
            .payload
            .get("Payload")
            .cloned()
            .unwrap_or(call.payload.clone()))
    }
}

async fn engine_on(store: Arc<dyn Store>, functions: Arc<Functions>) -> Engine {
    let config = Config {
        activity_poll: Duration::from_secs(2),
        ..Config::default()
    };
    Engine::start(store, functions, config)
        .await
        .expect("engine")
}

async fn machine(e: &Engine, name: &str, definition: Value) -> String {
    let (m, _) = e
        .create_machine(NewMachine {
            name: name.into(),
            definition: definition.to_string(),
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            ..Default::default()
        })
        .await
        .expect("create machine");
    m.arn
}

async fn run(e: &Engine, target: &str, input: Value) -> cirrus_store::Execution {
    let started = e
        .start_execution(StartRequest::new(target, None, Some(input.to_string())))
        .await
        .expect("start");
    e.wait(&started.arn, Duration::from_secs(20))
        .await
        .expect("wait")
}

/// Executions in memory once the steps in flight have settled: an execution that just
/// told its waiters it ended leaves memory a moment later, when its step returns.
async fn in_memory_after_settling(e: &Engine) -> usize {
    // Up to 10 s: on a loaded CI machine the step that parks an execution can take a while.
    for _ in 0..1000 {
        if e.executions_in_memory() == 0 {
            return 0;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    e.executions_in_memory()
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cirrus-engine-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("cirrus.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_waits_and_history_on_sqlite() {
    let store = Arc::new(SqliteStore::open(&temp_db("basic"), Durability::Normal).unwrap());
    let functions = Arc::new(Functions::default());
    let e = engine_on(store.clone(), functions.clone()).await;
    let mut status = e.subscribe();
    let arn = machine(
        &e,
        "basic",
        json!({"StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:echo",
                     "ResultPath": "$.echoed", "Next": "Nap"},
            "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Done": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let done = run(&e, &arn, json!({"x": 1})).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let output: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(output, json!({"x": 1, "echoed": {"x": 1}}));
    assert!(
        done.stop_ms.unwrap() - done.start_ms >= 1000,
        "the Wait waited"
    );
    let history = e.history(&done.arn, 1, u64::MAX).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|h| h.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"ExecutionStarted"));
    assert_eq!(kinds.last(), Some(&"ExecutionSucceeded"));
    assert!(kinds.contains(&"LambdaFunctionSucceeded"));
    assert!(kinds.contains(&"WaitStateExited"));
    assert!(
        history
            .iter()
            .enumerate()
            .all(|(i, h)| h.id == i as u64 + 1),
        "history is gapless"
    );
    assert_eq!(done.event_count as usize, history.len());
    let first = status.recv().await.unwrap();
    assert_eq!(first.detail["status"], "RUNNING");
    let last = status.recv().await.unwrap();
    assert_eq!(last.detail["status"], "SUCCEEDED");
    assert_eq!(last.detail["executionArn"], json!(done.arn));
    assert_eq!(last.detail_type, "Step Functions Execution Status Change");
    // Delivered events leave the outbox (right after they are handed out).
    let mut left = Vec::new();
    for _ in 0..100 {
        left = cirrus_store::Outbox::events_after(&*store, 0, 10)
            .await
            .unwrap();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        in_memory_after_settling(&e).await,
        0,
        "ended executions leave memory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_caught_and_stops_abort() {
    let e = engine_on(Arc::new(MemoryStore::new()), Arc::default()).await;
    let arn = machine(
        &e,
        "caught",
        json!({"StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:fail",
                     "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.err", "Next": "Handled"}], "End": true},
            "Handled": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let done = run(&e, &arn, json!({})).await;
    let output: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    assert_eq!(output["err"]["Error"], json!("Boom"));

    let sleepy = machine(
        &e,
        "sleepy",
        json!({"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "End": true}}}),
    )
    .await;
    let started = e
        .start_execution(StartRequest::new(&sleepy, Some("nap".into()), None))
        .await
        .unwrap();
    assert_eq!(
        in_memory_after_settling(&e).await,
        0,
        "a sleeping execution is not in memory"
    );
    let stopped = e
        .stop_execution(
            &started.arn,
            Some("Enough".into()),
            Some("stopped by test".into()),
        )
        .await
        .unwrap();
    assert_eq!(stopped.status, "ABORTED");
    assert_eq!(stopped.error.as_deref(), Some("Enough"));
    // The same name and input while running is idempotent; after it ended, a conflict.
    let again = e
        .start_execution(StartRequest::new(&sleepy, Some("nap".into()), None))
        .await;
    assert!(matches!(
        again,
        Err(cirrus_engine::EngineError::ExecutionAlreadyExists(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_and_task_tokens() {
    let functions = Arc::new(Functions::default());
    let e = engine_on(Arc::new(MemoryStore::new()), functions.clone()).await;
    let activity = e.create_activity("approve").await.unwrap();
    let arn = machine(
        &e,
        "approvals",
        json!({"StartAt": "Ask", "States": {
            "Ask": {"Type": "Task", "Resource": activity.arn, "HeartbeatSeconds": 30, "Next": "Callback"},
            "Callback": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                         "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
                         "End": true}}}),
    )
    .await;
    let started = e
        .start_execution(StartRequest::new(&arn, None, Some(r#"{"order":7}"#.into())))
        .await
        .unwrap();
    let task = e
        .get_activity_task(&activity.arn, "worker-1")
        .await
        .unwrap()
        .expect("a task");
    assert_eq!(task.input, r#"{"order":7}"#);
    assert!(
        e.get_activity_task(&activity.arn, "worker-2")
            .await
            .unwrap()
            .is_none(),
        "one task goes to one worker; the second poll times out empty"
    );
    e.send_task_heartbeat(&task.token).await.unwrap();
    e.send_task_success(&task.token, r#"{"approved":true}"#)
        .await
        .unwrap();
    assert!(matches!(
        e.send_task_success(&task.token, "{}").await,
        Err(cirrus_engine::EngineError::TaskTimedOut(_))
    ));
    // The callback's function got the token; answer it.
    let token = loop {
        let calls = functions.calls.lock().unwrap().clone();
        if let Some(c) = calls.iter().find(|c| c.task_token.is_some()) {
            break c.task_token.clone().unwrap();
        }
        drop(calls);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(matches!(
        e.send_task_success(&token, "not json").await,
        Err(cirrus_engine::EngineError::InvalidOutput(_))
    ));
    e.send_task_success(&token, r#"{"notified":1}"#)
        .await
        .unwrap();
    let done = e.wait(&started.arn, Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
    assert_eq!(done.output.as_deref(), Some(r#"{"notified":1}"#));
    // The activity started when the worker took it, under the worker's name.
    let history = e.history(&done.arn, 1, u64::MAX).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|h| h.kind.as_str()).collect();
    let scheduled = kinds
        .iter()
        .position(|k| *k == "ActivityScheduled")
        .unwrap();
    assert_eq!(kinds[scheduled + 1], "ActivityStarted");
    assert!(history[scheduled + 1].details.contains("worker-1"));
    assert_eq!(kinds[scheduled + 2], "ActivitySucceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_executions_and_versions() {
    let e = engine_on(Arc::new(MemoryStore::new()), Arc::default()).await;
    let child = machine(
        &e,
        "child",
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": 1}, "End": true}}}),
    )
    .await;
    let v1 = e.publish_version(&child, None, None).await.unwrap();
    e.update_machine(
        &child,
        MachineUpdate {
            definition: Some(
                json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": 2}, "End": true}}})
                    .to_string(),
            ),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let live = e
        .create_alias(
            "live",
            None,
            &[Route {
                version_arn: v1.arn.clone(),
                weight: 100,
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        run(&e, &live.arn, json!({})).await.output.as_deref(),
        Some(r#"{"v":1}"#),
        "an alias runs its version"
    );
    assert_eq!(
        run(&e, &child, json!({})).await.output.as_deref(),
        Some(r#"{"v":2}"#),
        "the machine runs its current definition"
    );
    let parent = machine(
        &e,
        "parent",
        json!({"StartAt": "Child", "States": {"Child": {"Type": "Task",
            "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Parameters": {"StateMachineArn": v1.arn, "Input": {"from": "parent"}},
            "OutputPath": "$.Output", "End": true}}}),
    )
    .await;
    let done = run(&e, &parent, json!({})).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    assert_eq!(done.output.as_deref(), Some(r#"{"v":1}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_finishes_what_it_started() {
    let path = temp_db("restart");
    let arn;
    let started;
    {
        let store = Arc::new(SqliteStore::open(&path, Durability::Normal).unwrap());
        let e = engine_on(store, Arc::default()).await;
        arn = machine(
            &e,
            "restart",
            json!({"StartAt": "Nap", "States": {
                "Nap": {"Type": "Wait", "Seconds": 2, "Next": "Call"},
                "Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:echo", "End": true}}}),
        )
        .await;
        started = e
            .start_execution(StartRequest::new(&arn, None, Some(r#"{"k":"v"}"#.into())))
            .await
            .unwrap();
        // The engine goes away while the execution sleeps.
    }
    let store = Arc::new(SqliteStore::open(&path, Durability::Normal).unwrap());
    let e = engine_on(store, Arc::default()).await;
    let done = e.wait(&started.arn, Duration::from_secs(20)).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    assert_eq!(done.output.as_deref(), Some(r#"{"k":"v"}"#));
}

/// A callback task's invocation carries its token once: its delivery is recorded
/// (`TaskSubmitted`), so neither a clean stop nor an engine dropped without one sends the
/// token again when the engine starts on the same database. The token then completes the
/// execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_is_not_delivered_again_after_a_restart() {
    let path = temp_db("callback-once");
    let definition = json!({"StartAt": "Notify", "States": {
        "Notify": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                   "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
                   "End": true}}});
    let submitted = |history: &[cirrus_store::HistoryEvent]| {
        history.iter().filter(|h| h.kind == "TaskSubmitted").count()
    };
    let (arn, token) = {
        let store = Arc::new(SqliteStore::open(&path, Durability::Normal).unwrap());
        let functions = Arc::new(Functions::default());
        let e = engine_on(store.clone(), functions.clone()).await;
        let machine = machine(&e, "notify", definition).await;
        let started = e
            .start_execution(StartRequest::new(&machine, None, None))
            .await
            .unwrap();
        let mut history = Vec::new();
        for _ in 0..500 {
            history = e.history(&started.arn, 1, u64::MAX).await.unwrap();
            if submitted(&history) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(submitted(&history), 1, "{history:?}");
        let calls = functions.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1);
        // A clean stop: the store finishes its writes and closes.
        cirrus_store::Store::close(&*store);
        (started.arn, calls[0].task_token.clone().expect("a token"))
    };
    // Started again twice: after the clean stop, then after being dropped without one.
    for _ in 0..2 {
        let store = Arc::new(SqliteStore::open(&path, Durability::Normal).unwrap());
        let functions = Arc::new(Functions::default());
        let e = engine_on(store, functions.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            functions.calls.lock().unwrap().is_empty(),
            "the delivered callback was sent again"
        );
        assert_eq!(e.execution(&arn).await.unwrap().status, "RUNNING");
    }
    let store = Arc::new(SqliteStore::open(&path, Durability::Normal).unwrap());
    let functions = Arc::new(Functions::default());
    let e = engine_on(store, functions.clone()).await;
    e.send_task_success(&token, r#"{"done":true}"#)
        .await
        .unwrap();
    let done = e.wait(&arn, Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    assert_eq!(done.output.as_deref(), Some(r#"{"done":true}"#));
    let history = e.history(&arn, 1, u64::MAX).await.unwrap();
    assert_eq!(submitted(&history), 1);
    assert!(functions.calls.lock().unwrap().is_empty());
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_and_execution_timeouts_then_redrive() {
    let e = engine_on(Arc::new(MemoryStore::new()), Arc::default()).await;
    let activity = e.create_activity("slow").await.unwrap();
    let arn = machine(
        &e,
        "heartbeats",
        json!({"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": activity.arn, "HeartbeatSeconds": 1, "End": true}}}),
    )
    .await;
    let started = e
        .start_execution(StartRequest::new(&arn, None, None))
        .await
        .unwrap();
    // A worker takes the task and then goes silent.
    let task = e
        .get_activity_task(&activity.arn, "w")
        .await
        .unwrap()
        .unwrap();
    let failed = e.wait(&started.arn, Duration::from_secs(10)).await.unwrap();
    assert_eq!(failed.status, "FAILED");
    assert_eq!(failed.error.as_deref(), Some("States.HeartbeatTimeout"));
    assert!(matches!(
        e.send_task_success(&task.token, "{}").await,
        Err(cirrus_engine::EngineError::TaskTimedOut(_))
    ));

    let timed = machine(
        &e,
        "timed",
        json!({"TimeoutSeconds": 1, "StartAt": "Nap", "States": {
            "Nap": {"Type": "Wait", "Seconds": 2, "Next": "After"},
            "After": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let started = e
        .start_execution(StartRequest::new(&timed, None, Some(r#"{"k":1}"#.into())))
        .await
        .unwrap();
    let out = e.wait(&started.arn, Duration::from_secs(10)).await.unwrap();
    assert_eq!(out.status, "TIMED_OUT");
    // Redriven, it waits again from the Wait state, and times out again after a second.
    let again = e.redrive_execution(&started.arn).await.unwrap();
    assert_eq!((again.status.as_str(), again.redrive_count), ("RUNNING", 1));
    let out = e.wait(&started.arn, Duration::from_secs(10)).await.unwrap();
    assert_eq!(out.status, "TIMED_OUT");
    let kinds: Vec<String> = e
        .history(&started.arn, 1, u64::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.kind)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "ExecutionRedriven").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("ExecutionTimedOut"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_child_fails_its_parent_task_and_express_runs_in_memory() {
    let store = Arc::new(MemoryStore::new());
    let e = engine_on(store.clone(), Arc::default()).await;
    let child = machine(
        &e,
        "failing-child",
        json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "child said no"}}}),
    )
    .await;
    let parent = machine(
        &e,
        "careful-parent",
        json!({"StartAt": "Child", "States": {
            "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync",
                      "Parameters": {"StateMachineArn": child},
                      "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "Caught"}],
                      "End": true},
            "Caught": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let done = run(&e, &parent, json!({})).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let output: Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
    let cause: Value = serde_json::from_str(output["err"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["Status"], "FAILED");
    assert_eq!(cause["Error"], "Nope");

    let (express, _) = e
        .create_machine(NewMachine {
            name: "fast".into(),
            definition: json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})
                .to_string(),
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            kind: Some("EXPRESS".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let x = run(&e, &express.arn, json!({"fast": true})).await;
    assert!(x.arn.contains(":express:fast:"), "{}", x.arn);
    assert_eq!(x.output.as_deref(), Some(r#"{"fast":true}"#));
    assert!(
        cirrus_store::Executions::execution(&*store, &x.arn)
            .await
            .unwrap()
            .is_none(),
        "EXPRESS executions stay out of the durable store"
    );
}
