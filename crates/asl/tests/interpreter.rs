//! The interpreter as its callers see it: feed a definition and results, expect effects.

use std::sync::Arc;

use cirrus_asl::context::ExecutionInfo;
use cirrus_asl::interpreter::{
    Effect, Execution, ExecutionState, Invocation, Options, Outcome, TaskId, TimerId,
};
use cirrus_asl::timestamp::Timestamp;
use cirrus_asl::{Failure, StateMachine};
use serde_json::{Value, json};

const T0: i64 = 1_700_000_000_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + ms)
}

fn start(definition: Value, input: Value) -> Execution {
    start_with(definition, input, Options::default())
}

fn start_with(definition: Value, input: Value, options: Options) -> Execution {
    let machine = Arc::new(StateMachine::from_value(&definition).expect("valid definition"));
    Execution::start(
        machine,
        input,
        ExecutionInfo::local("sm", "ex", at(0)),
        options,
        at(0),
    )
}

fn invocations(effects: &[Effect]) -> Vec<&Invocation> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Invoke(i) = e {
                Some(i)
            } else {
                None
            }
        })
        .collect()
}

fn sleeps(effects: &[Effect]) -> Vec<(TimerId, Timestamp)> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Sleep { timer, until } = e {
                Some((*timer, *until))
            } else {
                None
            }
        })
        .collect()
}

fn finished(effects: &[Effect]) -> Option<&Outcome> {
    effects.iter().find_map(|e| {
        if let Effect::Finished(o) = e {
            Some(o)
        } else {
            None
        }
    })
}

fn task(resource_name: &str) -> Value {
    json!({ "Type": "Task", "Resource": format!("arn:aws:lambda:us-east-1:111111111111:function:{resource_name}"), "End": true })
}

#[test]
fn pass_states_run_to_the_end_in_one_call() {
    let mut exec = start(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a.x, 41)"}, "End": true}
        }}),
        json!({"in": true}),
    );
    let effects = exec.run(at(0));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::Succeeded(json!({"sum": 42})))
    );
    assert_eq!(
        exec.event_count(),
        6,
        "ExecutionStarted, 2 x (entered, exited), ExecutionSucceeded"
    );
}

#[test]
fn a_task_hands_out_an_invocation_and_takes_its_result() {
    let mut def = task("f");
    def["ResultSelector"] = json!({"got.$": "$.v"});
    def["ResultPath"] = json!("$.result");
    let mut exec = start(
        json!({"StartAt": "T", "States": {"T": def}}),
        json!({"v0": 1}),
    );
    let effects = exec.run(at(0));
    let inv = invocations(&effects);
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].payload, json!({"v0": 1}));
    assert_eq!(inv[0].state, "T");
    assert!(finished(&effects).is_none());
    assert!(!exec.is_runnable());
    exec.task_succeeded(inv[0].task, json!({"v": "done"}));
    let effects = exec.run(at(10));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::Succeeded(
            json!({"v0": 1, "result": {"got": "done"}})
        ))
    );
}

#[test]
fn retries_back_off_then_the_catcher_takes_over() {
    let mut def = task("f");
    def["Retry"] = json!([{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "MaxAttempts": 2, "BackoffRate": 3}]);
    def["Catch"] =
        json!([{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}]);
    def.as_object_mut().unwrap().remove("End");
    def["Next"] = json!("Done");
    let mut exec = start(
        json!({"StartAt": "T", "States": {
            "T": def, "Done": {"Type": "Succeed"}, "Handled": {"Type": "Pass", "End": true}
        }}),
        json!({}),
    );
    let mut now = 0;
    let mut task = invocations(&exec.run(at(now)))[0].task;
    for (attempt, delay) in [(1u32, 2_000i64), (2, 6_000)] {
        exec.task_failed(task, Failure::new("Boom", "bad"));
        let effects = exec.run(at(now));
        let s = sleeps(&effects);
        assert_eq!(s.len(), 1, "a back-off timer");
        assert_eq!(s[0].1, at(now + delay));
        now += delay;
        exec.timer_fired(s[0].0);
        let effects = exec.run(at(now));
        let inv = invocations(&effects);
        assert_eq!(inv[0].attempt, attempt);
        task = inv[0].task;
    }
    exec.task_failed(task, Failure::new("Boom", "still bad"));
    let effects = exec.run(at(now));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::Succeeded(
            json!({"error": {"Error": "Boom", "Cause": "still bad"}})
        ))
    );
}

#[test]
fn parallel_branches_are_outstanding_together() {
    let mut exec = start(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": task("a")}},
            {"StartAt": "B", "States": {"B": task("b")}}
        ]}}}),
        json!({"n": 1}),
    );
    let effects = exec.run(at(0));
    let inv = invocations(&effects);
    assert_eq!(inv.len(), 2);
    let (a, b) = (inv[0].task, inv[1].task);
    exec.task_succeeded(b, json!("B"));
    assert!(finished(&exec.run(at(1))).is_none());
    exec.task_succeeded(a, json!("A"));
    assert_eq!(
        finished(&exec.run(at(2))),
        Some(&Outcome::Succeeded(json!(["A", "B"])))
    );
}

#[test]
fn a_failed_branch_cancels_its_siblings() {
    let mut exec = start(
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "A", "States": {"A": task("a")}},
            {"StartAt": "B", "States": {"B": task("b")}}
        ]}}}),
        json!({}),
    );
    let effects = exec.run(at(0));
    let inv = invocations(&effects);
    let (a, b) = (inv[0].task, inv[1].task);
    exec.task_failed(a, Failure::new("Nope", "x"));
    let effects = exec.run(at(1));
    assert!(effects.contains(&Effect::CancelTask(b)));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::Failed {
            error: Some("Nope".into()),
            cause: Some("x".into())
        })
    );
}

#[test]
fn map_respects_max_concurrency() {
    let mut exec = start(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 2, "End": true,
            "ItemProcessor": {"StartAt": "T", "States": {"T": task("f")}}}}}),
        json!([1, 2, 3, 4, 5]),
    );
    let mut outstanding: Vec<(TaskId, Value)> = invocations(&exec.run(at(0)))
        .iter()
        .map(|i| (i.task, i.payload.clone()))
        .collect();
    assert_eq!(outstanding.len(), 2);
    let mut done = 0;
    while let Some((task, payload)) = outstanding.pop() {
        exec.task_succeeded(task, json!({"seen": payload}));
        let effects = exec.run(at(done));
        done += 1;
        for i in invocations(&effects) {
            outstanding.push((i.task, i.payload.clone()));
        }
        assert!(outstanding.len() <= 2);
        if let Some(o) = finished(&effects) {
            assert_eq!(
                o,
                &Outcome::Succeeded(
                    json!([{"seen": 1}, {"seen": 2}, {"seen": 3}, {"seen": 4}, {"seen": 5}])
                )
            );
            assert_eq!(done, 5);
            return;
        }
    }
    panic!("the map never finished");
}

#[test]
fn a_checkpoint_resumes_in_a_new_execution() {
    let definition = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 30, "Next": "T"},
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:f", "ResultPath": "$.r", "End": true}
    }});
    let machine = Arc::new(StateMachine::from_value(&definition).unwrap());
    let mut exec = Execution::start(
        machine.clone(),
        json!({"k": "v"}),
        ExecutionInfo::local("sm", "ex", at(0)),
        Options::default(),
        at(0),
    );
    let timer = sleeps(&exec.run(at(0)))[0];
    assert_eq!(timer.1, at(30_000));

    // Save, drop, and restore as another process would.
    let saved = serde_json::to_string(exec.checkpoint()).unwrap();
    drop(exec);
    let state: ExecutionState = serde_json::from_str(&saved).unwrap();
    let mut exec = Execution::restore(machine, state);
    exec.timer_fired(timer.0);
    let inv = invocations(&exec.run(at(30_000)))
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(inv.len(), 1);
    exec.task_succeeded(inv[0].task, json!(7));
    assert_eq!(
        finished(&exec.run(at(30_001))),
        Some(&Outcome::Succeeded(json!({"k": "v", "r": 7})))
    );
}

#[test]
fn the_execution_times_out() {
    let mut exec = start(
        json!({"TimeoutSeconds": 5, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}),
        json!({}),
    );
    let s = sleeps(&exec.run(at(0)));
    let deadline = s
        .iter()
        .find(|(_, until)| *until == at(5_000))
        .expect("an execution timer");
    exec.timer_fired(deadline.0);
    let effects = exec.run(at(5_000));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::TimedOut {
            error: None,
            cause: None
        })
    );
    assert!(
        effects.iter().any(|e| matches!(e, Effect::CancelTimer(_))),
        "the Wait's timer is cancelled"
    );
}

#[test]
fn a_task_timeout_fails_the_task() {
    let mut def = task("slow");
    def["TimeoutSeconds"] = json!(3);
    let mut exec = start(json!({"StartAt": "T", "States": {"T": def}}), json!({}));
    let effects = exec.run(at(0));
    let inv = invocations(&effects)[0].clone();
    assert_eq!(inv.timeout_seconds, Some(3));
    let (timer, until) = sleeps(&effects)[0];
    assert_eq!(until, at(3_000));
    exec.timer_fired(timer);
    let effects = exec.run(at(3_000));
    assert!(effects.contains(&Effect::CancelTask(inv.task)));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::Failed {
            error: Some("States.Timeout".into()),
            cause: None
        })
    );
    // A late result changes nothing.
    exec.task_succeeded(inv.task, json!(1));
    assert!(exec.run(at(4_000)).is_empty());
}

#[test]
fn an_endless_loop_yields_instead_of_hanging() {
    let mut exec = start_with(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "End"}], "Default": "A"},
            "End": {"Type": "Succeed"}
        }}),
        json!({}),
        Options {
            transition_budget: 1_000,
            ..Options::default()
        },
    );
    assert!(exec.run(at(0)).is_empty());
    assert!(exec.is_runnable());
    let events = exec.event_count();
    assert!(exec.run(at(0)).is_empty());
    assert!(exec.event_count() > events);
    let effects = exec.stop(Some("Stopped".into()), None, at(1));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::Aborted {
            error: Some("Stopped".into()),
            cause: None
        })
    );
}

#[test]
fn runtime_errors_name_the_state_and_its_entered_event() {
    let mut exec = start(
        json!({"StartAt": "First", "States": {
            "First": {"Type": "Pass", "Next": "Second"},
            "Second": {"Type": "Pass", "InputPath": "$.missing", "End": true}
        }}),
        json!({"present": 1}),
    );
    let effects = exec.run(at(0));
    let Some(Outcome::Failed { error, cause }) = finished(&effects) else {
        panic!("expected a failure")
    };
    assert_eq!(error.as_deref(), Some("States.Runtime"));
    let cause = cause.as_deref().unwrap_or_default();
    assert!(
        cause.starts_with("An error occurred while executing the state 'Second' (entered at the event id #4). Invalid path '$.missing'"),
        "{cause}"
    );
}

#[test]
fn variables_are_visible_in_later_states_and_nested_scopes() {
    let mut exec = start(
        json!({"StartAt": "Set", "States": {
            "Set": {"Type": "Pass", "Assign": {"factor": 10, "name.$": "$.name"}, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.xs", "End": true, "ItemProcessor": {"StartAt": "Mul", "States": {
                "Mul": {"Type": "Pass", "Parameters": {"x.$": "$", "f.$": "$factor", "who.$": "$name"}, "End": true}
            }}}
        }}),
        json!({"name": "n", "xs": [1, 2]}),
    );
    assert_eq!(
        finished(&exec.run(at(0))),
        Some(&Outcome::Succeeded(
            json!([{"x": 1, "f": 10, "who": "n"}, {"x": 2, "f": 10, "who": "n"}])
        ))
    );
}

#[test]
fn history_is_recorded_when_asked() {
    let mut exec = start_with(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}),
        json!({}),
        Options {
            record_history: true,
            ..Options::default()
        },
    );
    exec.run(at(0));
    let types: Vec<&str> = exec
        .take_history()
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
}

/// A callback task records `TaskSubmitted` once its token is delivered and keeps waiting;
/// a delivery reported after the token was answered records nothing.
#[test]
fn a_callback_task_is_submitted_then_waits_for_its_token() {
    let definition = json!({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
        "End": true
    }}});
    let options = Options {
        record_history: true,
        ..Options::default()
    };
    let types = |exec: &mut Execution| -> Vec<String> {
        exec.take_history()
            .iter()
            .map(|e| e.event_type.as_str().to_owned())
            .collect()
    };
    let mut exec = start_with(definition.clone(), json!({}), options.clone());
    let effects = exec.run(at(0));
    let task = invocations(&effects)[0].task;
    types(&mut exec);
    exec.task_submitted(task, json!({"MessageId": "m-1"}));
    let effects = exec.run(at(5));
    assert!(finished(&effects).is_none(), "it still waits for the token");
    let submitted = exec.take_history();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].event_type.as_str(), "TaskSubmitted");
    assert_eq!(
        submitted[0].details["output"],
        json!(r#"{"MessageId":"m-1"}"#)
    );
    exec.task_succeeded(task, json!({"ok": true}));
    let effects = exec.run(at(10));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::Succeeded(json!({"ok": true})))
    );
    assert_eq!(
        types(&mut exec),
        ["TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    );

    // Answered before the delivery was reported: nothing more is recorded.
    let mut exec = start_with(definition, json!({}), options);
    let effects = exec.run(at(0));
    let task = invocations(&effects)[0].task;
    exec.task_succeeded(task, json!({}));
    exec.run(at(5));
    types(&mut exec);
    exec.task_submitted(task, json!({}));
    assert!(exec.run(at(10)).is_empty());
    assert!(types(&mut exec).is_empty());
}

#[test]
fn an_endless_loop_fails_at_the_history_limit() {
    let mut exec = start(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "End"}], "Default": "A"},
            "End": {"Type": "Succeed"}
        }}),
        json!({}),
    );
    let mut rounds = 0;
    loop {
        let effects = exec.run(at(0));
        if let Some(outcome) = finished(&effects) {
            let Outcome::Failed { error, cause } = outcome else {
                panic!("{outcome:?}")
            };
            assert_eq!(error.as_deref(), Some("States.Runtime"));
            assert!(
                cause
                    .as_deref()
                    .unwrap_or_default()
                    .contains("25000 history events")
            );
            break;
        }
        rounds += 1;
        assert!(rounds < 100, "the loop never ended");
    }
    assert!(exec.event_count() <= 25_003, "{}", exec.event_count());
}

#[test]
fn a_jsonata_task_takes_arguments_and_shapes_its_output() {
    let mut exec = start(
        json!({"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
            "Set": {"Type": "Pass", "Assign": {"factor": 3}, "Next": "T"},
            "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:f",
                  "Arguments": {"n": "{% $states.input.n * $factor %}"},
                  "Assign": {"seen": "{% $states.result.v %}"},
                  "Output": {"v": "{% $states.result.v %}", "in": "{% $states.input.n %}"},
                  "Next": "Done"},
            "Done": {"Type": "Pass", "Output": "{% $seen & '!' %}", "End": true}
        }}),
        json!({"n": 2}),
    );
    let effects = exec.run(at(0));
    let inv = invocations(&effects)[0].clone();
    assert_eq!(inv.payload, json!({"n": 6}));
    exec.task_succeeded(inv.task, json!({"v": "ok"}));
    assert_eq!(
        finished(&exec.run(at(1))),
        Some(&Outcome::Succeeded(json!("ok!")))
    );
}

#[test]
fn a_jsonata_catcher_sees_the_error_output() {
    let mut def = task("f");
    def["QueryLanguage"] = json!("JSONata");
    def.as_object_mut().unwrap().remove("End");
    def["Next"] = json!("Done");
    def["Catch"] = json!([{"ErrorEquals": ["States.ALL"], "Next": "Done",
        "Output": {"caught": "{% $states.errorOutput.Error %}"}}]);
    let mut exec = start(
        json!({"StartAt": "T", "States": {"T": def, "Done": {"Type": "Succeed"}}}),
        json!({}),
    );
    let inv = invocations(&exec.run(at(0)))[0].clone();
    exec.task_failed(inv.task, Failure::new("Boom", "bad"));
    assert_eq!(
        finished(&exec.run(at(1))),
        Some(&Outcome::Succeeded(json!({"caught": "Boom"})))
    );
}

#[test]
fn an_undefined_jsonata_result_fails_with_aws_cause() {
    let mut exec = start(
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "QueryLanguage": "JSONata",
            "Output": {"r": "{% $nope %}"}, "End": true}}}),
        json!({}),
    );
    let effects = exec.run(at(0));
    assert_eq!(
        finished(&effects),
        Some(&Outcome::Failed {
            error: Some("States.QueryEvaluationError".into()),
            cause: Some("An error occurred while executing the state 'P' (entered at the event id #2). The JSONata expression '$nope' specified for the field 'Output/r' returned nothing (undefined).".into()),
        })
    );
}
