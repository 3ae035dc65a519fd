//! Any text as a JSONPath reference and a ResultPath, evaluated against a fixed document.
#![no_main]

use cirrus_asl::path::{Reference, ResultPath, Scope, Variables};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

struct One(Value);

impl Variables for One {
    fn get(&self, name: &str) -> Option<&Value> {
        (name == "v").then_some(&self.0)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Value)) {
        f("v", &self.0)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let doc = json!({"a": {"b": [1, 2, {"c": "x"}]}, "s": "t", "n": [3, 1, 2], "o": {"k": {"k": 1}}});
    let vars = One(doc.clone());
    let scope = Scope { input: &doc, context: &doc, variables: &vars };
    if let Ok(r) = Reference::parse(text) {
        let _ = r.eval(&scope);
    }
    if let Ok(p) = ResultPath::parse(text) {
        let _ = p.apply(doc.clone(), json!(1));
    }
});
