//! `States.StringToJson`, `States.JsonToString` and `States.JsonMerge`.
//!
//! - `StringToJson` parses like Jackson's `readTree`: an empty or blank string is `null`,
//!   and text after the first value is ignored. Nesting is bounded by serde_json's limit.
//! - `JsonToString` writes Jackson's compact JSON ([`java::write_json`]): `2.0`, `1.0E21`.
//! - `JsonMerge(a, b, false)` is `a` with `b`'s members put over it, nested objects
//!   replaced rather than merged. A third argument of `true` fails (Step Functions merges
//!   shallowly only); anything else is taken as `false`, as AWS takes the string `"false"`.

use serde::Deserialize as _;
use serde_json::Value;

use super::{Call, Cx, Func, args1, args3, java};
use crate::error::Failure;

pub(super) fn string_to_json<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let text = args1(call, cx)?;
    let Value::String(text) = text.as_ref() else {
        return Err(cx.invalid(Func::StringToJson));
    };
    if text.trim_start_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Ok(Value::Null);
    }
    cx.charge(text.len())?;
    let mut de = serde_json::Deserializer::from_str(text);
    Value::deserialize(&mut de).map_err(|_| cx.invalid(Func::StringToJson))
}

pub(super) fn json_to_string<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let v = args1(call, cx)?;
    let mut out = String::new();
    java::write_json(&v, &mut out);
    cx.charge(out.len())?;
    Ok(Value::String(out))
}

pub(super) fn json_merge<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (a, b, deep) = args3(call, cx)?;
    if !a.is_object() || !b.is_object() || *deep == Value::Bool(true) {
        return Err(cx.invalid(Func::JsonMerge));
    }
    let (Value::Object(mut out), Value::Object(b)) = (cx.own(a)?, b.as_ref()) else {
        return Err(cx.invalid(Func::JsonMerge));
    };
    for (k, v) in b {
        cx.charge(k.len())?;
        let v = cx.copy(v)?;
        out.insert(k.clone(), v);
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{invalid, ok};

    #[test]
    fn string_to_json_parses() {
        let p = |s: &str| ok("States.StringToJson($.s)", json!({ "s": s }));
        // Recorded on AWS.
        assert_eq!(p(""), json!(null));
        assert_eq!(p(" "), json!(null));
        assert_eq!(p("null"), json!(null));
        // serde_json reads `-0` as the double -0.0 (Jackson as the integer 0): equal values.
        assert_eq!(p("-0").as_f64(), Some(0.0));
        assert_eq!(p("1.1"), json!(1.1));
        assert_eq!(p("true"), json!(true));
        assert_eq!(p("\"HelloWorld\""), json!("HelloWorld"));
        assert_eq!(p("[1, 2, \"HelloWorld\"]"), json!([1, 2, "HelloWorld"]));
        assert_eq!(
            p("{\"Arg1\": 1, \"Arg2\": []}"),
            json!({"Arg1": 1, "Arg2": []})
        );
        assert_eq!(p(" {\"a\":1} "), json!({"a": 1}));
        // Jackson stops after the first value.
        assert_eq!(p("{\"a\":1} trailing"), json!({"a": 1}));
        assert_eq!(
            ok(
                "States.StringToJson('{\"constant_in_literal\": \"false\"}')",
                json!({})
            ),
            json!({"constant_in_literal": "false"})
        );
        for bad in [
            json!("{bad json}"),
            json!("{\"a\":1"),
            json!("undefined"),
            json!(123),
            json!({"a": 1}),
        ] {
            invalid(
                "States.StringToJson($.s)",
                json!({ "s": bad }),
                "States.StringToJson",
            );
        }
        // Nesting past serde_json's limit fails instead of overflowing the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        invalid(
            "States.StringToJson($.s)",
            json!({ "s": deep }),
            "States.StringToJson",
        );
    }

    #[test]
    fn json_to_string_writes_compact_json() {
        let w = |v: serde_json::Value| ok("States.JsonToString($.v)", json!({ "v": v }));
        // Recorded on AWS.
        assert_eq!(w(json!(null)), json!("null"));
        assert_eq!(w(json!(0)), json!("0"));
        assert_eq!(w(json!(1.1)), json!("1.1"));
        assert_eq!(w(json!(true)), json!("true"));
        assert_eq!(w(json!("HelloWorld")), json!("\"HelloWorld\""));
        assert_eq!(
            w(json!([1, 2, "HelloWorld"])),
            json!("[1,2,\"HelloWorld\"]")
        );
        assert_eq!(
            w(json!({"Arg1": 1, "Arg2": []})),
            json!("{\"Arg1\":1,\"Arg2\":[]}")
        );
        // Java's doubles.
        assert_eq!(w(json!([2.0, 1e21])), json!("[2.0,1.0E21]"));
        assert_eq!(
            ok("States.JsonToString($)", json!({"other": 1})),
            json!("{\"other\":1}")
        );
    }

    #[test]
    fn json_merge_is_shallow() {
        let m = |a: serde_json::Value, b: serde_json::Value| {
            ok(
                "States.JsonMerge($.a, $.b, false)",
                json!({ "a": a, "b": b }),
            )
        };
        // Recorded on AWS.
        assert_eq!(
            m(
                json!({"a": {"a1": 1, "a2": 2}, "b": 2, "d": 3}),
                json!({"a": {"a3": 1, "a4": 2}, "c": 3, "d": 4})
            ),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3, "d": 4})
        );
        assert_eq!(m(json!({}), json!({"x": 1})), json!({"x": 1}));
        assert_eq!(
            m(json!({"n": {"l": true}, "k": 1}), json!({"n": null})),
            json!({"n": null, "k": 1})
        );
        // A deep flag that is not `true` merges shallowly (AWS takes "false" so).
        assert_eq!(
            ok(
                "States.JsonMerge($.a, $.b, $.d)",
                json!({"a": {"x": 1}, "b": {"y": 2}, "d": "false"})
            ),
            json!({"x": 1, "y": 2})
        );
        for (a, b, d) in [
            (json!({}), json!({}), json!(true)),
            (json!(null), json!({}), json!(false)),
            (json!({}), json!([]), json!(false)),
            (json!({}), json!("x"), json!(false)),
        ] {
            invalid(
                "States.JsonMerge($.a, $.b, $.d)",
                json!({ "a": a, "b": b, "d": d }),
                "States.JsonMerge",
            );
        }
    }
}
