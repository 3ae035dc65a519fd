//! Any bytes as a definition: parse and validate; when valid, run it a bounded number of
//! transitions on a fixed input.
#![no_main]

use std::sync::Arc;

use cirrus_asl::context::ExecutionInfo;
use cirrus_asl::interpreter::{Execution, Options};
use cirrus_asl::timestamp::Timestamp;
use cirrus_asl::StateMachine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(machine) = StateMachine::parse(text) else { return };
    let now = Timestamp::from_unix_millis(0);
    let input = serde_json::json!({"a": [1, 2, 3], "s": "x", "n": 1});
    let options = Options { transition_budget: 1_000, ..Options::default() };
    let mut exec = Execution::start(Arc::new(machine), input, ExecutionInfo::local("f", "f", now), options, now);
    let _ = exec.run(now);
});
