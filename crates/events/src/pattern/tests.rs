//! Pattern tables drawn from AWS's documentation examples (EventBridge user guide and the
//! Event Ruler README), the validation messages, and a randomized comparison of
//! [`RuleSet::matching`] with checking each pattern alone.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{Pattern, RuleSet};

/// The Event Ruler README's sample event.
fn ec2_event() -> Value {
    json!({
        "version": "0",
        "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "012345679012",
        "time": "2017-10-02T16:24:49Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
        "detail": {
            "c-count": 5,
            "d-count": 3,
            "x-limit": 301.8,
            "source-ip": "10.0.0.33",
            "instance-id": "i-000000aaaaaa00000",
            "state": "running",
            "FileName": "image.PNG",
            "FilePath": "/usr/lib/libc.so",
            "eventVersion": "",
            "responseElements": null,
            "enabled": true,
            "ipv6": "2001:db8::1",
            "tags": ["blue", "green"],
            "employees": [
                { "firstName": "John", "lastName": "Doe" },
                { "firstName": "Anna", "lastName": "Smith" },
                { "firstName": "Peter", "lastName": "Jones" }
            ],
            "nested": { "level": { "deep": "yes" } }
        }
    })
}

fn check(pattern: Value, expected: bool) {
    let compiled = Pattern::from_value(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    assert_eq!(
        compiled.matches(&ec2_event()),
        expected,
        "pattern {pattern}"
    );
}

fn detail(field: &str, values: Value) -> Value {
    json!({ "detail": { field: values } })
}

#[test]
fn exact_values() {
    check(
        json!({
            "detail-type": ["EC2 Instance State-change Notification"],
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
            "detail": { "state": ["initializing", "running"] }
        }),
        true,
    );
    check(json!({ "source": ["aws.s3"] }), false);
    check(json!({ "source": ["aws.s3", "aws.ec2"] }), true);
    check(detail("c-count", json!([5])), true);
    check(detail("c-count", json!([5.0])), true);
    check(detail("c-count", json!([5e0])), true);
    check(detail("c-count", json!(["5"])), false);
    check(detail("x-limit", json!([301.8])), true);
    check(detail("enabled", json!([true])), true);
    check(detail("enabled", json!(["true"])), false);
    check(detail("responseElements", json!([null])), true);
    check(detail("responseElements", json!([""])), false);
    check(detail("eventVersion", json!([""])), true);
    check(detail("eventVersion", json!([null])), false);
    check(detail("missing", json!(["x"])), false);
    // The value in the event is an array: any element.
    check(detail("tags", json!(["green", "red"])), true);
    check(detail("tags", json!(["red"])), false);
    check(
        json!({ "detail": { "nested": { "level": { "deep": ["yes"] } } } }),
        true,
    );
    check(
        json!({ "detail": { "nested": { "level": { "deep": ["no"] } } } }),
        false,
    );
    // An object pattern on a leaf, or a leaf pattern on an object, does not match.
    check(json!({ "source": { "x": ["aws.ec2"] } }), false);
    check(detail("nested", json!(["yes"])), false);
}

#[test]
fn arrays_of_objects_match_consistently() {
    check(
        json!({ "detail": { "employees": { "firstName": ["Anna"] } } }),
        true,
    );
    check(
        json!({ "detail": { "employees": { "firstName": ["Anna"], "lastName": ["Smith"] } } }),
        true,
    );
    // Fields from different elements of one array are never combined.
    check(
        json!({ "detail": { "employees": { "firstName": ["Anna"], "lastName": ["Jones"] } } }),
        false,
    );
}

#[test]
fn prefix_and_suffix() {
    check(json!({ "time": [{ "prefix": "2017-10-02" }] }), true);
    check(json!({ "time": [{ "prefix": "2018" }] }), false);
    check(json!({ "source": [{ "suffix": "ec2" }] }), true);
    check(detail("FileName", json!([{ "suffix": ".png" }])), false);
    check(
        detail(
            "FileName",
            json!([{ "suffix": { "equals-ignore-case": ".png" } }]),
        ),
        true,
    );
    check(
        detail(
            "state",
            json!([{ "prefix": { "equals-ignore-case": "RUN" } }]),
        ),
        true,
    );
    check(
        detail(
            "state",
            json!([{ "prefix": { "equals-ignore-case": "STOP" } }]),
        ),
        false,
    );
    // Only on strings.
    check(detail("c-count", json!([{ "prefix": "5" }])), false);
}

#[test]
fn equals_ignore_case_and_wildcard() {
    check(
        json!({ "source": [{ "equals-ignore-case": "AWS.EC2" }] }),
        true,
    );
    check(
        json!({ "source": [{ "equals-ignore-case": "aws.ec" }] }),
        false,
    );
    check(detail("FilePath", json!([{ "wildcard": "*/lib/*" }])), true);
    check(
        detail("FilePath", json!([{ "wildcard": "/usr/*.so" }])),
        true,
    );
    check(
        detail("FilePath", json!([{ "wildcard": "/usr/*.dll" }])),
        false,
    );
    check(json!({ "source": [{ "wildcard": "aws.*" }] }), true);
    check(json!({ "source": [{ "wildcard": "aws.ec2" }] }), true);
    check(json!({ "source": [{ "wildcard": "*" }] }), true);
    let star = Pattern::from_value(&json!({ "a": [{ "wildcard": "x\\*y*" }] })).unwrap();
    assert!(star.matches(&json!({ "a": "x*yz" })));
    assert!(!star.matches(&json!({ "a": "xzyz" })));
    let slash = Pattern::from_value(&json!({ "a": [{ "wildcard": "a\\\\b" }] })).unwrap();
    assert!(slash.matches(&json!({ "a": "a\\b" })));
    let overlap = Pattern::from_value(&json!({ "a": [{ "wildcard": "ab*ba" }] })).unwrap();
    assert!(!overlap.matches(&json!({ "a": "aba" })));
    assert!(overlap.matches(&json!({ "a": "abba" })));
}

#[test]
fn anything_but() {
    check(
        detail("state", json!([{ "anything-but": "initializing" }])),
        true,
    );
    check(
        detail("state", json!([{ "anything-but": "running" }])),
        false,
    );
    check(detail("x-limit", json!([{ "anything-but": 123 }])), true);
    check(detail("x-limit", json!([{ "anything-but": 301.8 }])), false);
    check(
        detail(
            "state",
            json!([{ "anything-but": ["stopped", "overloaded"] }]),
        ),
        true,
    );
    check(
        detail("state", json!([{ "anything-but": ["stopped", "running"] }])),
        false,
    );
    check(
        detail("c-count", json!([{ "anything-but": [100, 200, 5] }])),
        false,
    );
    check(
        detail("c-count", json!([{ "anything-but": [100, 200, 300] }])),
        true,
    );
    check(
        detail("state", json!([{ "anything-but": { "prefix": "init" } }])),
        true,
    );
    check(
        detail("state", json!([{ "anything-but": { "prefix": "run" } }])),
        false,
    );
    check(
        detail(
            "FileName",
            json!([{ "anything-but": { "suffix": ".PNG" } }]),
        ),
        false,
    );
    check(
        detail(
            "FileName",
            json!([{ "anything-but": { "suffix": ".png" } }]),
        ),
        true,
    );
    check(
        detail(
            "FilePath",
            json!([{ "anything-but": { "wildcard": "*/lib/*" } }]),
        ),
        false,
    );
    check(
        detail(
            "FilePath",
            json!([{ "anything-but": { "wildcard": "*/bin/*" } }]),
        ),
        true,
    );
    check(
        detail(
            "state",
            json!([{ "anything-but": { "equals-ignore-case": "RUNNING" } }]),
        ),
        false,
    );
    check(
        detail(
            "state",
            json!([{ "anything-but": { "equals-ignore-case": ["Stopped", "X"] } }]),
        ),
        true,
    );
    // Needs the field.
    check(detail("missing", json!([{ "anything-but": "x" }])), false);
    // In an array, any element other than the excluded ones.
    check(detail("tags", json!([{ "anything-but": "blue" }])), true);
}

#[test]
fn numeric() {
    check(
        json!({ "detail": {
            "c-count": [{ "numeric": [">", 0, "<=", 5] }],
            "d-count": [{ "numeric": ["<", 10] }],
            "x-limit": [{ "numeric": ["=", 3.018e2] }]
        }}),
        true,
    );
    check(detail("c-count", json!([{ "numeric": [">", 5] }])), false);
    check(detail("c-count", json!([{ "numeric": [">=", 5] }])), true);
    check(detail("c-count", json!([{ "numeric": ["<", 5] }])), false);
    check(
        detail("c-count", json!([{ "numeric": [">=", 0, "<", 5] }])),
        false,
    );
    check(detail("c-count", json!([{ "numeric": ["=", 5.0] }])), true);
    check(detail("state", json!([{ "numeric": [">", 0] }])), false);
}

#[test]
fn exists_and_cidr() {
    check(detail("c-count", json!([{ "exists": true }])), true);
    check(detail("c-count", json!([{ "exists": false }])), false);
    check(detail("missing", json!([{ "exists": false }])), true);
    check(detail("missing", json!([{ "exists": true }])), false);
    // Only leaves exist: an object does not.
    check(detail("nested", json!([{ "exists": false }])), true);
    check(
        detail("responseElements", json!([{ "exists": true }])),
        true,
    );
    check(
        json!({ "detail": { "nothing": { "below": [{ "exists": false }] } } }),
        true,
    );
    check(
        detail("source-ip", json!([{ "cidr": "10.0.0.0/24" }])),
        true,
    );
    check(
        detail("source-ip", json!([{ "cidr": "10.0.1.0/24" }])),
        false,
    );
    check(detail("source-ip", json!([{ "cidr": "10.0.0.33" }])), true);
    check(detail("source-ip", json!([{ "cidr": "0.0.0.0/0" }])), true);
    check(detail("ipv6", json!([{ "cidr": "2001:db8::/32" }])), true);
    check(detail("ipv6", json!([{ "cidr": "2001:db9::/32" }])), false);
    check(detail("source-ip", json!([{ "cidr": "::/0" }])), false);
    let empty = Pattern::from_value(&json!({ "a": [{ "exists": false }] })).unwrap();
    assert!(empty.matches(&json!({ "a": [] })));
}

#[test]
fn or() {
    check(
        json!({
            "source": ["aws.ec2"],
            "$or": [{ "detail": { "c-count": [{ "numeric": [">", 100] }] } }, { "region": ["us-east-1"] }]
        }),
        true,
    );
    check(
        json!({ "$or": [{ "source": ["x"] }, { "region": ["y"] }] }),
        false,
    );
    check(
        json!({ "detail": { "$or": [
            { "state": ["stopped"] },
            { "c-count": [5], "$or": [{ "d-count": [4] }, { "d-count": [3] }] }
        ] } }),
        true,
    );
    // Two parallel $or groups at different levels.
    check(
        json!({
            "$or": [{ "source": ["aws.ec2"] }, { "source": ["aws.s3"] }],
            "detail": { "$or": [{ "state": ["x"] }, { "d-count": [4] }] }
        }),
        false,
    );
    // "$or" with an object value is a plain field name (as in Event Ruler).
    check(json!({ "$or": { "x": ["y"] } }), false);
}

fn error(pattern: Value) -> String {
    match Pattern::from_value(&pattern) {
        Ok(_) => panic!("{pattern} compiled"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn invalid_patterns_say_where_and_what() {
    let cases = [
        (
            json!([]),
            "event pattern: at $: the pattern must be a JSON object",
        ),
        (
            json!({}),
            "event pattern: at $: empty objects are not allowed: name at least one field",
        ),
        (
            json!({ "source": "aws.ec2" }),
            "event pattern: at source: must be an object or an array",
        ),
        (
            json!({ "source": [] }),
            "event pattern: at source: empty arrays are not allowed",
        ),
        (
            json!({ "detail": {} }),
            "event pattern: at detail: empty objects are not allowed",
        ),
        (
            json!({ "detail": { "price": [{ "numeric": [">"] }] } }),
            "event pattern: at detail.price: numeric needs an operator and a number",
        ),
        (
            json!({ "detail": { "price": [{ "numeric": ["!", 3] }] } }),
            "event pattern: at detail.price: unknown numeric operator '!'",
        ),
        (
            json!({ "detail": { "price": [{ "numeric": [">", 5, ">", 6] }] } }),
            "at most one lower bound",
        ),
        (
            json!({ "a": [{ "numeric": ["=", 1, "<", 6] }] }),
            "'=' cannot be combined",
        ),
        (
            json!({ "a": [{ "numeric": [">", 9, "<", 6] }] }),
            "range is empty",
        ),
        (
            json!({ "a": [{ "numeric": [">", 6e9] }] }),
            "between -5e9 and 5e9",
        ),
        (
            json!({ "a": [{ "nope": 1 }] }),
            "at a: unknown operator 'nope'",
        ),
        (json!({ "a": [{ "prefix": 1 }] }), "prefix needs a string"),
        (
            json!({ "a": [{ "prefix": "x", "suffix": "y" }] }),
            "exactly one key",
        ),
        (
            json!({ "a": [{ "exists": "yes" }] }),
            "exists needs true or false",
        ),
        (
            json!({ "a": [{ "cidr": "10.0.0.0/33" }] }),
            "cidr: '10.0.0.0/33' is not",
        ),
        (json!({ "a": [{ "wildcard": "a**b" }] }), "consecutive '*'"),
        (
            json!({ "a": [{ "wildcard": "a\\b" }] }),
            "backslash may only escape",
        ),
        (json!({ "a": [{ "anything-but": [] }] }), "non-empty list"),
        (
            json!({ "a": [{ "anything-but": ["x", 1] }] }),
            "only strings or only numbers",
        ),
        (
            json!({ "a": [{ "anything-but": { "numeric": [">", 1] } }] }),
            "not 'numeric'",
        ),
        (json!({ "a": [["x"]] }), "arrays inside a value array"),
        (
            json!({ "$or": [{ "a": ["x"] }] }),
            "at $or: $or needs an array of at least two",
        ),
        (
            json!({ "d": { "$or": [{ "a": ["x"] }, "b"] } }),
            "at d.$or[1]: each alternative",
        ),
    ];
    for (pattern, expected) in cases {
        let message = error(pattern.clone());
        assert!(message.contains(expected), "{pattern}: {message}");
    }
    assert!(
        Pattern::parse("{")
            .unwrap_err()
            .message
            .starts_with("not valid JSON")
    );
}

#[test]
fn deep_and_large_patterns_are_refused() {
    let mut deep = json!(["x"]);
    for _ in 0..40 {
        deep = json!({ "a": deep });
    }
    assert!(error(deep).contains("deeper than 32"));
    let values: Vec<Value> = (0..20_000).map(Value::from).collect();
    assert!(error(json!({ "a": values })).contains("too large"));
    // Deep text is refused by the JSON parser, not by a stack overflow.
    let text = "{\"a\":".repeat(100_000);
    assert!(Pattern::parse(&text).is_err());
}

#[test]
fn deep_events_do_not_overflow() {
    let mut event = json!("x");
    for _ in 0..100_000 {
        event = Value::Array(vec![event]);
    }
    let p = Pattern::from_value(&json!({ "a": ["x"], "b": [{ "exists": false }] })).unwrap();
    let event = Value::Object(std::iter::once(("a".to_owned(), event)).collect());
    assert!(!p.matches(&event));
    // Dropping a very deep serde_json value recurses inside serde_json; leak it instead.
    std::mem::forget(event);
}

#[test]
fn rule_set_basics() {
    let mut rules = RuleSet::new();
    rules.insert("ec2", Pattern::parse(r#"{"source":["aws.ec2"]}"#).unwrap());
    rules.insert("s3", Pattern::parse(r#"{"source":["aws.s3"]}"#).unwrap());
    rules.insert(
        "any",
        Pattern::parse(r#"{"source":[{"prefix":"aws."}]}"#).unwrap(),
    );
    rules.insert(
        "both",
        Pattern::parse(r#"{"detail":{"tags":["blue","green"]}}"#).unwrap(),
    );
    assert_eq!(rules.len(), 4);
    let mut got = rules.matching(&ec2_event());
    got.sort_unstable();
    assert_eq!(got, vec!["any", "both", "ec2"]);
    assert!(rules.remove(&"ec2"));
    assert!(!rules.remove(&"ec2"));
    rules.insert("any", Pattern::parse(r#"{"source":["aws.ec2"]}"#).unwrap());
    let mut got = rules.matching(&ec2_event());
    got.sort_unstable();
    assert_eq!(got, vec!["any", "both"]);
    assert_eq!(rules.len(), 3);
}

// Randomized comparison: small alphabets so that rules and events collide often.

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "ab", "A", ""]).prop_map(Value::from),
        (0i64..4).prop_map(Value::from),
        Just(json!(1.0)),
        Just(json!(true)),
        Just(Value::Null),
    ]
}

fn arb_operator() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => arb_leaf(),
        1 => prop::sample::select(vec!["a", "b", ""]).prop_map(|s| json!({ "prefix": s })),
        1 => prop::sample::select(vec!["a", "b"]).prop_map(|s| json!({ "anything-but": s })),
        1 => (0i64..4).prop_map(|n| json!({ "numeric": [">=", n] })),
        1 => any::<bool>().prop_map(|b| json!({ "exists": b })),
        1 => prop::sample::select(vec!["a*", "*b"]).prop_map(|s| json!({ "wildcard": s })),
    ]
}

fn arb_pattern() -> impl Strategy<Value = Value> {
    let names = || prop::sample::select(vec!["x", "y", "z"]);
    let leaf_field = || prop::collection::vec(arb_operator(), 1..3).prop_map(Value::Array);
    let level = || prop::collection::btree_map(names(), leaf_field(), 1..3);
    let nested = prop::collection::btree_map(
        names(),
        prop_oneof![3 => leaf_field(), 1 => level().prop_map(|m| json!(m))],
        1..3,
    );
    (
        nested,
        prop::option::of(prop::collection::vec(level(), 2..3)),
    )
        .prop_map(|(mut m, or)| {
            if let Some(alternatives) = or {
                m.insert("$or", json!(alternatives));
            }
            json!(m)
        })
}

fn arb_event() -> impl Strategy<Value = Value> {
    let names = || prop::sample::select(vec!["x", "y", "z"]);
    let leafish = || {
        prop_oneof![
            3 => arb_leaf(),
            1 => prop::collection::vec(arb_leaf(), 0..3).prop_map(Value::Array),
        ]
    };
    let inner = || prop::collection::btree_map(names(), leafish(), 0..3);
    prop::collection::btree_map(
        names(),
        prop_oneof![
            3 => leafish(),
            1 => inner().prop_map(|m| json!(m)),
            1 => prop::collection::vec(inner(), 0..3).prop_map(|v| json!(v)),
        ],
        0..4,
    )
    .prop_map(|m| json!(m))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn rule_set_agrees_with_each_pattern(
        patterns in prop::collection::vec(arb_pattern(), 1..40),
        removed in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        events in prop::collection::vec(arb_event(), 1..10),
    ) {
        let compiled: Vec<Pattern> = patterns
            .iter()
            .map(|p| Pattern::from_value(p).expect("generated patterns are valid"))
            .collect();
        let mut rules = RuleSet::new();
        for (i, p) in compiled.iter().enumerate() {
            rules.insert(i, p.clone());
        }
        let mut live: Vec<bool> = vec![true; compiled.len()];
        for r in &removed {
            let i = r.index(compiled.len());
            prop_assert_eq!(rules.remove(&i), live[i]);
            live[i] = false;
        }
        for event in &events {
            let mut got = rules.matching(event);
            got.sort_unstable();
            let want: Vec<usize> = (0..compiled.len())
                .filter(|&i| live[i] && compiled[i].matches(event))
                .collect();
            prop_assert_eq!(got, want, "event {}", event);
        }
    }

    #[test]
    fn matching_never_panics(pattern in arb_pattern(), event in arb_event()) {
        let p = Pattern::from_value(&pattern).expect("valid");
        let _ = p.matches(&event);
    }
}
