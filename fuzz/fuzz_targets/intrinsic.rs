//! Any text as an intrinsic function call, evaluated against a fixed document.
#![no_main]

use cirrus_asl::intrinsic::Intrinsic;
use cirrus_asl::path::{Scope, Variables};
use cirrus_asl::random::Rng;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

struct None_;

impl Variables for None_ {
    fn get(&self, _: &str) -> Option<&Value> {
        None
    }
    fn visit(&self, _: &mut dyn FnMut(&str, &Value)) {}
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let doc = json!({"a": [1, 2, 3], "s": "a,b,c", "n": 5, "o": {"k": "v"}, "j": "{\"x\": [1]}"});
    let scope = Scope { input: &doc, context: &doc, variables: &None_ };
    if let Ok(call) = Intrinsic::parse(text) {
        let _ = call.eval(&scope, &mut Rng::from_seed(0));
    }
});
