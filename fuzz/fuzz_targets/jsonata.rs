//! Any text as a JSONata expression, evaluated with tight limits against a fixed document.
#![no_main]

use cirrus_asl::jsonata::{Expression, Limits};
use cirrus_asl::random::Rng;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let doc = json!({"a": [1, 2, 3], "s": "a,b,c", "o": {"k": "v", "n": [{"x": 1}, {"x": 2}]}});
    if let Ok(e) = Expression::compile(text) {
        let limits = Limits { timeout_ms: 100, max_depth: 200 };
        let _ = e.eval(Some(&doc), &[], &mut Rng::from_seed(0), limits);
    }
});
