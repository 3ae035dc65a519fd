//! Interpreter throughput: W1, a Pass/Choice loop (transitions/s), and W2, a Map over 10,000
//! items with a Pass processor (items/s). The workloads are the files under
//! `bench/workloads/`, shared with `bench/asl-vs-node`.

use std::sync::Arc;

use cirrus_asl::StateMachine;
use cirrus_asl::context::ExecutionInfo;
use cirrus_asl::interpreter::{Effect, Execution, Options, Outcome};
use cirrus_asl::timestamp::Timestamp;
use divan::counter::ItemsCount;
use serde_json::{Value, json};

fn main() {
    divan::main();
}

fn machine(file: &str) -> Arc<StateMachine> {
    let path = format!(
        "{}/../../bench/workloads/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("workload file");
    Arc::new(StateMachine::parse(&text).expect("workload parses"))
}

/// Runs one execution to its end; returns its output.
fn run(machine: &Arc<StateMachine>, input: Value) -> Value {
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let options = Options {
        transition_budget: u32::MAX,
        max_events: None,
        ..Options::default()
    };
    let mut exec = Execution::start(
        machine.clone(),
        input,
        ExecutionInfo::local("bench", "run", now),
        options,
        now,
    );
    loop {
        for effect in exec.run(now) {
            if let Effect::Finished(Outcome::Succeeded(v)) = effect {
                return v;
            }
        }
        assert!(
            exec.is_runnable(),
            "the workload finished without succeeding"
        );
    }
}

const W1_ROUNDS: u64 = 5_000;

#[divan::bench]
fn w1_pass_choice_loop(bencher: divan::Bencher) {
    let m = machine("w1-pass-choice-loop.json");
    // Check and Increment per round, then the last Check and Done.
    bencher
        .counter(ItemsCount::new(2 * W1_ROUNDS + 2))
        .bench(|| run(&m, json!({ "count": 0, "limit": W1_ROUNDS })));
}

const W2_ITEMS: usize = 10_000;

#[divan::bench]
fn w2_map_over_items(bencher: divan::Bencher) {
    let m = machine("w2-map-pass.json");
    let items: Vec<u64> = (0..W2_ITEMS as u64).collect();
    let input = json!({ "items": items });
    bencher
        .counter(ItemsCount::new(W2_ITEMS))
        .bench(|| run(&m, input.clone()));
}
