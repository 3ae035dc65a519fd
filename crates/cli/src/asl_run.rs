//! `cirrus asl run`: one execution, in this process, in real time. The interpreter's effects
//! are performed here: stand-in functions answer invocations (after their delay), timers
//! really wait, and the outcome is printed as one JSON object.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use cirrus_asl::context::ExecutionInfo;
use cirrus_asl::interpreter::{Effect, Execution, Options, Outcome, TaskId, TimerId};
use cirrus_asl::timestamp::Timestamp;
use cirrus_asl::{Failure, StateMachine};
use serde_json::{Value, json};

use crate::standin::Functions;

/// Something due at a time: a stand-in's reply or a timer.
enum Due {
    Reply(TaskId, Result<Value, Failure>),
    Timer(TimerId),
}

pub fn run(
    definition: &str,
    input: Value,
    functions: Functions,
    history: bool,
) -> Result<ExitCode> {
    let machine = match StateMachine::parse(definition) {
        Ok(m) => Arc::new(m),
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {} at {}", e.code, e.message, e.location);
            }
            let errors: Vec<Value> = errors
                .iter()
                .map(|e| json!({"code": e.code, "message": e.message, "location": e.location}))
                .collect();
            println!(
                "{}",
                json!({ "status": "INVALID_DEFINITION", "errors": errors })
            );
            return Ok(ExitCode::from(2));
        }
    };
    let start = clock();
    let seed = start.unix_millis() as u64 ^ u64::from(std::process::id()).rotate_left(32);
    let name = format!("local-{:016x}", seed);
    let options = Options {
        record_history: history,
        seed,
        ..Options::default()
    };
    let mut exec = Execution::start(
        machine,
        input,
        ExecutionInfo::local("cirrus-local", &name, start),
        options,
        start,
    );
    let mut pending: BTreeMap<(Timestamp, u64), Due> = BTreeMap::new();
    let mut sequence = 0u64;
    let mut request = 0u64;
    loop {
        let now = clock();
        let effects = exec.run(now);
        if history {
            for event in exec.take_history() {
                let line = json!({
                    "id": event.id,
                    "previousEventId": event.previous_event_id,
                    "timestamp": event.timestamp.to_iso_millis(),
                    "type": event.event_type.as_str(),
                    "details": event.details,
                });
                println!("{line}");
            }
        }
        for effect in effects {
            match effect {
                Effect::Invoke(inv) => {
                    request += 1;
                    let request_id = format!("{:08x}-0000-4000-8000-{:012x}", seed as u32, request);
                    let reply = functions.invoke(&inv, &request_id);
                    let due = now
                        .checked_add_millis(reply.delay.as_millis().min(i64::MAX as u128) as i64)
                        .unwrap_or(now);
                    sequence += 1;
                    pending.insert((due, sequence), Due::Reply(inv.task, reply.result));
                }
                Effect::Sleep { timer, until } => {
                    sequence += 1;
                    pending.insert((until, sequence), Due::Timer(timer));
                }
                Effect::CancelTask(task) => {
                    pending.retain(|_, d| !matches!(d, Due::Reply(t, _) if *t == task))
                }
                Effect::CancelTimer(timer) => {
                    pending.retain(|_, d| !matches!(d, Due::Timer(t) if *t == timer))
                }
                Effect::Finished(outcome) => {
                    println!("{}", result_object(&outcome));
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        if exec.is_runnable() {
            continue;
        }
        let Some((&(due, _), _)) = pending.iter().next() else {
            println!(
                "{}",
                json!({"status": "FAILED", "error": "Cirrus.Stuck", "cause": "the execution waits for nothing that will happen"})
            );
            return Ok(ExitCode::FAILURE);
        };
        let now = clock();
        if due > now {
            std::thread::sleep(Duration::from_millis(
                (due.unix_millis() - now.unix_millis()).max(0) as u64,
            ));
        }
        let now = clock();
        while let Some(entry) = pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Due::Reply(task, Ok(output)) => exec.task_succeeded(task, output),
                Due::Reply(task, Err(failure)) => exec.task_failed(task, failure),
                Due::Timer(timer) => exec.timer_fired(timer),
            }
        }
    }
}

/// The result object of the conformance runner.
fn result_object(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Succeeded(output) => json!({ "status": "SUCCEEDED", "output": output }),
        Outcome::Failed { error, cause }
        | Outcome::TimedOut { error, cause }
        | Outcome::Aborted { error, cause } => {
            json!({ "status": outcome.status(), "error": error, "cause": cause })
        }
    }
}

fn clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp::from_unix_millis(ms)
}
