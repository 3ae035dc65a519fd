//! Runs a state machine repeatedly in this process and prints its rate as one JSON line,
//! `{"runner": "cirrus", "transitions_per_second": ...}`; `bench/asl-vs-node` compares it
//! with the node interpreter on the same workload.
//!
//! Usage: `rate DEFINITION INPUT TRANSITIONS_PER_RUN SECONDS`

use std::sync::Arc;
use std::time::Instant;

use cirrus_asl::StateMachine;
use cirrus_asl::context::ExecutionInfo;
use cirrus_asl::interpreter::{Effect, Execution, Options, Outcome};
use cirrus_asl::timestamp::Timestamp;
use serde_json::Value;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [definition, input, per_run, seconds] = args.as_slice() else {
        return Err("usage: rate DEFINITION INPUT TRANSITIONS_PER_RUN SECONDS".into());
    };
    let text = std::fs::read_to_string(definition).map_err(|e| format!("{definition}: {e}"))?;
    let machine = Arc::new(StateMachine::parse(&text).map_err(|e| format!("{e:?}"))?);
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?)
            .map_err(|e| e.to_string())?;
    let per_run: f64 = per_run
        .parse()
        .map_err(|_| "TRANSITIONS_PER_RUN must be a number")?;
    let seconds: f64 = seconds.parse().map_err(|_| "SECONDS must be a number")?;

    let run_once = || -> Result<(), String> {
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let options = Options {
            transition_budget: u32::MAX,
            max_events: None,
            ..Options::default()
        };
        let mut exec = Execution::start(
            machine.clone(),
            input.clone(),
            ExecutionInfo::local("rate", "run", now),
            options,
            now,
        );
        loop {
            for effect in exec.run(now) {
                match effect {
                    Effect::Finished(Outcome::Succeeded(_)) => return Ok(()),
                    Effect::Finished(other) => {
                        return Err(format!("the workload did not succeed: {other:?}"));
                    }
                    _ => {}
                }
            }
            if !exec.is_runnable() {
                return Err(
                    "the workload waits for a task or a timer; use one that does not".into(),
                );
            }
        }
    };
    for _ in 0..3 {
        run_once()?;
    }
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        run_once()?;
        runs += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{{\"runner\":\"cirrus\",\"runs\":{runs},\"seconds\":{elapsed},\"transitions_per_second\":{}}}",
        runs as f64 * per_run / elapsed
    );
    Ok(())
}
