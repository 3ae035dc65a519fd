//! Hostile input: whatever a definition, a path, an intrinsic call or an execution input
//! holds, parsing and evaluation end with a value or an error — never a panic, a stack
//! overflow or a hang. (The same entry points are fuzzed with cargo-fuzz under `fuzz/`.)

use std::sync::Arc;

use cirrus_asl::StateMachine;
use cirrus_asl::context::ExecutionInfo;
use cirrus_asl::interpreter::{Effect, Execution, Options, Outcome};
use cirrus_asl::intrinsic::Intrinsic;
use cirrus_asl::jsonata::{Expression, Limits};
use cirrus_asl::path::{Reference, ResultPath, Scope, Variables};
use cirrus_asl::random::Rng;
use cirrus_asl::timestamp::Timestamp;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

struct Vars(Map<String, Value>);

impl Variables for Vars {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Value)) {
        self.0.visit(f)
    }
}

fn doc() -> Value {
    json!({"a": {"b": [1, 2, {"c": "x"}], "d": null}, "s": "text", "n": -3.5, "arr": [[1], [2, [3]]], "e": {}})
}

/// JSON values up to a small depth, biased towards ASL-looking keys and strings.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[$.a-zA-Z0-9_()',{}\\[\\]*@?=<>! ]{0,24}".prop_map(Value::String),
        prop_oneof![
            Just("Pass"),
            Just("Task"),
            Just("Choice"),
            Just("Map"),
            Just("Parallel"),
            Just("Wait"),
            Just("End")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("Type".to_string()),
                        Just("Next".to_string()),
                        Just("End".to_string()),
                        Just("States".to_string()),
                        Just("StartAt".to_string()),
                        Just("Parameters".to_string()),
                        Just("x.$".to_string()),
                        Just("Choices".to_string()),
                        Just("Branches".to_string()),
                        Just("ItemProcessor".to_string()),
                        "[a-zA-Z.$]{1,8}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_a_definition_or_an_error(text in ".{0,200}") {
        let _ = StateMachine::parse(&text);
    }

    #[test]
    fn any_json_is_a_definition_or_an_error(v in json_value()) {
        let _ = StateMachine::from_value(&v);
        let wrapped = json!({"StartAt": "A", "States": {"A": v}});
        let _ = StateMachine::from_value(&wrapped);
    }

    #[test]
    fn any_path_text_evaluates_or_errs(text in "\\$[$.a-z0-9_\\[\\]*:?@()'=<>!, -]{0,30}") {
        let d = doc();
        let vars = Vars(Map::from_iter([("v".to_string(), d.clone())]));
        let scope = Scope { input: &d, context: &d, variables: &vars };
        if let Ok(r) = Reference::parse(&text) {
            let _ = r.eval(&scope);
        }
        if let Ok(p) = ResultPath::parse(&text) {
            let _ = p.apply(d.clone(), json!(1));
        }
    }

    #[test]
    fn any_intrinsic_text_evaluates_or_errs(text in "States\\.[A-Za-z]{0,14}\\([$.a-z0-9_ ,'{}\\\\()-]{0,40}\\)?") {
        let d = doc();
        let vars = Vars(Map::new());
        let scope = Scope { input: &d, context: &d, variables: &vars };
        if let Ok(call) = Intrinsic::parse(&text) {
            let _ = call.eval(&scope, &mut Rng::from_seed(1));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn any_jsonata_text_evaluates_or_errs(text in "[$a-z0-9.()\\[\\]{}:,;'\"*+&|<>=!?~^%#@ -]{0,40}") {
        if let Ok(e) = Expression::compile(&text) {
            let limits = Limits { timeout_ms: 200, max_depth: 200 };
            let _ = e.eval(Some(&doc()), &[], &mut Rng::from_seed(1), limits);
        }
    }
}

#[test]
fn runaway_jsonata_is_stopped() {
    let limits = Limits {
        timeout_ms: 100,
        max_depth: 500,
    };
    for text in [
        "($f := function($n) { $f($n + 1) }; $f(0))",
        "($f := function($n) { 1 + $f($n + 1) }; $f(0))",
        "$count($map([1..1000000], function($x) { [1..100] }))",
        &format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000)),
    ] {
        match Expression::compile(text) {
            Ok(e) => {
                let err = e
                    .eval(None, &[], &mut Rng::from_seed(1), limits)
                    .unwrap_err();
                assert!(
                    matches!(err.code.as_str(), "U1001" | "U1002" | "D2015"),
                    "{text:.60}: {err:?}"
                );
            }
            Err(e) => assert_eq!(e.code, "U1002", "{text:.60}"),
        }
    }
}

#[test]
fn deeply_nested_json_is_refused_not_overflowed() {
    let depth = 100_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(StateMachine::parse(&text).is_err());
    let params = format!(
        r#"{{"StartAt":"A","States":{{"A":{{"Type":"Pass","Parameters":{}1{},"End":true}}}}}}"#,
        r#"{"a":"#.repeat(depth),
        "}".repeat(depth)
    );
    assert!(StateMachine::parse(&params).is_err());
}

#[test]
fn deeply_nested_intrinsics_are_refused() {
    let depth = 50_000;
    let text = format!("{}1{}", "States.Array(".repeat(depth), ")".repeat(depth));
    assert!(Intrinsic::parse(&text).is_err());
}

#[test]
fn an_execution_that_doubles_its_data_fails_instead_of_exhausting_memory() {
    // Every round nests the whole input twice: without a payload limit it would need 2^n bytes.
    let definition = json!({"StartAt": "Grow", "States": {
        "Grow": {"Type": "Pass", "Parameters": {"l.$": "$", "r.$": "$"}, "Next": "Grow2"},
        "Grow2": {"Type": "Pass", "Parameters": {"l.$": "$", "r.$": "$"}, "Next": "Grow"}
    }});
    let machine = match StateMachine::from_value(&definition) {
        Ok(m) => Arc::new(m),
        // Refusing the endless loop outright is also fine.
        Err(_) => return,
    };
    let now = Timestamp::from_unix_millis(0);
    let mut exec = Execution::start(
        machine,
        json!({"seed": "x"}),
        ExecutionInfo::local("sm", "ex", now),
        Options::default(),
        now,
    );
    for _ in 0..1_000 {
        for e in exec.run(now) {
            if let Effect::Finished(Outcome::Failed { error, .. }) = e {
                assert_eq!(error.as_deref(), Some("States.DataLimitExceeded"));
                return;
            }
        }
    }
    panic!("the execution kept growing");
}

#[test]
fn a_huge_map_input_is_refused() {
    let definition = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}});
    let machine = Arc::new(StateMachine::from_value(&definition).expect("valid"));
    let items: Vec<u32> = (0..1_000_000).collect();
    let now = Timestamp::from_unix_millis(0);
    let mut exec = Execution::start(
        machine,
        json!(items),
        ExecutionInfo::local("sm", "ex", now),
        Options::default(),
        now,
    );
    let effects = exec.run(now);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Finished(Outcome::Failed { error: Some(e), .. }) if e == "States.DataLimitExceeded")),
        "{effects:?}"
    );
}
