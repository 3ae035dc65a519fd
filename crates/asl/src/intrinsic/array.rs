//! The array functions: `States.Array`, `ArrayPartition`, `ArrayContains`, `ArrayRange`,
//! `ArrayGetItem`, `ArrayLength` and `ArrayUnique`.
//!
//! What AWS does that one might not expect, and we do too:
//! - integer arguments (chunk size, range bounds and step, index) lose their fraction
//!   towards zero (`2.6` is `2`) and must fit 32 bits;
//! - `ArrayContains` compares the `toString()` texts of values, so `true` is found in
//!   `["true"]`, `1` in `["1"]`, and `{"b":2,"a":1}` is not found in `[{"a":1,"b":2}]`;
//! - `ArrayGetItem` of an empty array is `null` whatever the index;
//! - `ArrayUnique` keeps one of each value in the order of a Java `HashSet` built from the
//!   array, not in the order of first appearance: `[true, false]` gives `[false, true]`;
//! - `ArrayRange` makes at most 1,000 values, and an empty array when the step points away
//!   from the end.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;

use super::{Call, Cx, Func, args1, args2, args3, eval_arg, java, java_int};
use crate::error::Failure;

/// Most values `States.ArrayRange` makes.
const MAX_RANGE: i64 = 1_000;

pub(super) fn array<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let mut out = Vec::with_capacity(call.args.len());
    for a in &call.args {
        let v = eval_arg(a, cx)?;
        out.push(cx.own(v)?);
    }
    Ok(Value::Array(out))
}

pub(super) fn partition<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (items, size) = args2(call, cx)?;
    let (Value::Array(items), Some(size)) = (items.as_ref(), java_int(&size)) else {
        return Err(cx.invalid(Func::ArrayPartition));
    };
    let Ok(size @ 1..) = usize::try_from(size) else {
        return Err(cx.invalid(Func::ArrayPartition));
    };
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    for chunk in items.chunks(size) {
        let mut part = Vec::with_capacity(chunk.len());
        for x in chunk {
            part.push(cx.copy(x)?);
        }
        out.push(Value::Array(part));
    }
    Ok(Value::Array(out))
}

pub(super) fn contains<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (items, wanted) = args2(call, cx)?;
    let Value::Array(items) = items.as_ref() else {
        return Err(cx.invalid(Func::ArrayContains));
    };
    let key = java::TextKey::new(&wanted);
    let mut buf = String::new();
    let found = items.iter().any(|x| key.matches(x, &mut buf));
    Ok(Value::Bool(found))
}

pub(super) fn range<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (start, end, step) = args3(call, cx)?;
    let (Some(start), Some(end), Some(step)) = (java_int(&start), java_int(&end), java_int(&step))
    else {
        return Err(cx.invalid(Func::ArrayRange));
    };
    let (start, end, step) = (i64::from(start), i64::from(end), i64::from(step));
    if step == 0 {
        return Err(cx.invalid(Func::ArrayRange));
    }
    let count = if (step > 0 && end < start) || (step < 0 && end > start) {
        0
    } else {
        (end - start) / step + 1
    };
    if count > MAX_RANGE {
        return Err(cx.invalid(Func::ArrayRange));
    }
    Ok(Value::Array(
        (0..count).map(|k| Value::from(start + k * step)).collect(),
    ))
}

pub(super) fn get_item<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (items, index) = args2(call, cx)?;
    let Some(index) = java_int(&index) else {
        return Err(cx.invalid(Func::ArrayGetItem));
    };
    let item = match items {
        Cow::Borrowed(Value::Array(items)) => match items.is_empty() {
            true => return Ok(Value::Null),
            false => usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .map(Cow::Borrowed),
        },
        Cow::Owned(Value::Array(mut items)) => match items.is_empty() {
            true => return Ok(Value::Null),
            false => usize::try_from(index)
                .ok()
                .filter(|&i| i < items.len())
                .map(|i| Cow::Owned(items.swap_remove(i))),
        },
        _ => None,
    };
    match item {
        Some(item) => cx.own(item),
        None => Err(cx.invalid(Func::ArrayGetItem)),
    }
}

pub(super) fn length<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    match args1(call, cx)?.as_ref() {
        Value::Array(items) => Ok(Value::from(items.len())),
        _ => Err(cx.invalid(Func::ArrayLength)),
    }
}

pub(super) fn unique<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let items = args1(call, cx)?;
    let Value::Array(items) = items.as_ref() else {
        return Err(cx.invalid(Func::ArrayUnique));
    };
    let order = hash_set_order(items);
    let mut out = Vec::with_capacity(order.len());
    for i in order {
        if let Some(x) = items.get(i) {
            out.push(cx.copy(x)?);
        }
    }
    Ok(Value::Array(out))
}

/// The indices of the values a `java.util.HashSet` built from `items` keeps (the first of
/// equal ones), in the order it iterates them: by bucket of the spread hash code in a
/// table sized for the collection, and in insertion order within a bucket.
fn hash_set_order(items: &[Value]) -> Vec<usize> {
    // new HashSet<>(c): capacity max((int) (c.size() / .75f) + 1, 16), a power of two.
    let wanted = ((items.len() as f32 / 0.75f32) as usize).saturating_add(1);
    let table = wanted.max(16).next_power_of_two().min(1 << 30);
    // The first kept index of each hash code, and for each kept index the next one with
    // the same hash code (usize::MAX ends a chain).
    let mut first: HashMap<i32, usize> = HashMap::with_capacity(items.len());
    let mut next = vec![usize::MAX; items.len()];
    let mut kept: Vec<(usize, usize)> = Vec::new();
    for (i, x) in items.iter().enumerate() {
        let h = java::hash_code(x);
        match first.get(&h) {
            None => {
                first.insert(h, i);
            }
            Some(&head) => {
                let (mut j, mut last) = (head, head);
                let mut duplicate = false;
                while j != usize::MAX {
                    if items.get(j).is_some_and(|y| java::equals(x, y)) {
                        duplicate = true;
                        break;
                    }
                    last = j;
                    j = next.get(j).copied().unwrap_or(usize::MAX);
                }
                if duplicate {
                    continue;
                }
                if let Some(link) = next.get_mut(last) {
                    *link = i;
                }
            }
        }
        let h = h as u32;
        kept.push((((h ^ (h >> 16)) as usize) & (table - 1), i));
    }
    kept.sort_by_key(|&(bucket, i)| (bucket, i));
    kept.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{invalid, ok};

    #[test]
    fn array_collects_its_arguments() {
        assert_eq!(
            ok(
                "States.Array(1, 'a', $.x, States.Array(), $$.Execution.Id)",
                json!({"x": {"k": [true]}})
            ),
            json!([1, "a", {"k": [true]}, [], "arn:x"])
        );
    }

    #[test]
    fn partition_cuts_chunks() {
        let p = |a: serde_json::Value, n: serde_json::Value| {
            ok("States.ArrayPartition($.a, $.n)", json!({ "a": a, "n": n }))
        };
        assert_eq!(p(json!([]), json!(1)), json!([]));
        assert_eq!(p(json!([0, 1, 2]), json!(2)), json!([[0, 1], [2]]));
        assert_eq!(p(json!([0, 1, 2, 3]), json!(4)), json!([[0, 1, 2, 3]]));
        assert_eq!(p(json!([1, 2, 3]), json!(2147483647)), json!([[1, 2, 3]]));
        // A fraction is cut off: 2.6 is 2.
        assert_eq!(
            p(json!([1, 2, 3, 4, 5]), json!(2.6)),
            json!([[1, 2], [3, 4], [5]])
        );
        for bad in [
            json!(0),
            json!(-1),
            json!(0.6),
            json!(-0.4),
            json!("2"),
            json!(null),
        ] {
            invalid(
                "States.ArrayPartition($.a, $.n)",
                json!({"a": [1, 2, 3], "n": bad}),
                "States.ArrayPartition",
            );
        }
        invalid(
            "States.ArrayPartition('not-array', 2)",
            json!({}),
            "States.ArrayPartition",
        );
    }

    #[test]
    fn contains_compares_texts() {
        let c = |a: serde_json::Value, v: serde_json::Value| {
            ok("States.ArrayContains($.a, $.v)", json!({ "a": a, "v": v }))
        };
        // Recorded on AWS.
        assert_eq!(c(json!([]), json!(null)), json!(false));
        assert_eq!(c(json!([]), json!([])), json!(false));
        assert_eq!(c(json!([[1, 2, 3], 2]), json!(null)), json!(false));
        assert_eq!(c(json!([[1, 2, 3], 2]), json!([1, 2, 3])), json!(true));
        assert_eq!(
            c(json!([{"1": 2, "2": []}]), json!({"1": 2, "2": []})),
            json!(true)
        );
        assert_eq!(c(json!([true, false]), json!(false)), json!(true));
        // Observed on AWS: texts are compared, so types blur and key order matters.
        assert_eq!(c(json!(["true", "x"]), json!(true)), json!(true));
        assert_eq!(
            c(json!(["9007199254740991"]), json!(9007199254740991i64)),
            json!(true)
        );
        assert_eq!(
            c(json!([{"a": 1, "b": 2}]), json!({"b": 2, "a": 1})),
            json!(false)
        );
        assert_eq!(
            c(json!([{"a": 1}]), json!({"a": 1, "x": null})),
            json!(false)
        );
        assert_eq!(c(json!([0, 1, -1, -1.5]), json!(false)), json!(false));
        assert_eq!(c(json!([1, null, 3]), json!(null)), json!(true));
        invalid(
            "States.ArrayContains('not-array', 'x')",
            json!({}),
            "States.ArrayContains",
        );
    }

    #[test]
    fn range_counts_with_a_step() {
        let r =
            |a: i64, b: i64, s: i64| ok(&format!("States.ArrayRange({a}, {b}, {s})"), json!({}));
        assert_eq!(r(0, 9, 3), json!([0, 3, 6, 9]));
        assert_eq!(r(0, 10, 3), json!([0, 3, 6, 9]));
        assert_eq!(r(1, 9, 9), json!([1]));
        assert_eq!(r(5, 1, -2), json!([5, 3, 1]));
        assert_eq!(r(3, 3, -1), json!([3]));
        assert_eq!(r(5, 1, 1), json!([]));
        assert_eq!(r(1, 5, -1), json!([]));
        assert_eq!(r(1, 1000, 1).as_array().map(Vec::len), Some(1000));
        assert_eq!(r(1000, 1, -1).as_array().map(Vec::len), Some(1000));
        // Fractions are cut off towards zero.
        assert_eq!(
            ok("States.ArrayRange(1.4, 5.6, 2.2)", json!({})),
            json!([1, 3, 5])
        );
        assert_eq!(ok("States.ArrayRange(1.6, 1.4, 1)", json!({})), json!([1]));
        assert_eq!(
            ok("States.ArrayRange(5.4, -0.6, -2.4)", json!({})),
            json!([5, 3, 1])
        );
        for bad in [
            "States.ArrayRange(1, 1001, 1)",
            "States.ArrayRange(1001, 1, -1)",
            "States.ArrayRange(1, 10, 0)",
            "States.ArrayRange(1, 10, 0.49)",
            "States.ArrayRange('a', 5, 1)",
            "States.ArrayRange(-2147483648, 2147483647, 1)",
            "States.ArrayRange(1, 3000000000, 1)",
        ] {
            invalid(bad, json!({}), "States.ArrayRange");
        }
    }

    #[test]
    fn get_item_indexes_from_zero() {
        let g = |a: serde_json::Value, i: serde_json::Value| {
            ok("States.ArrayGetItem($.a, $.i)", json!({ "a": a, "i": i }))
        };
        assert_eq!(g(json!([1, 2, 3, 4, 5, 6, 7, 8, 9]), json!(5)), json!(6));
        assert_eq!(g(json!([{"a": 1}, {"b": 2}]), json!(1)), json!({"b": 2}));
        assert_eq!(g(json!([10, 20, 30]), json!(1.2)), json!(20));
        assert_eq!(g(json!([]), json!(999)), json!(null));
        assert_eq!(
            ok(
                "States.ArrayGetItem(States.StringSplit('a-b-c', '-'), 2)",
                json!({})
            ),
            json!("c")
        );
        for (a, i) in [
            (json!([10, 20, 30]), json!(3)),
            (json!([10, 20, 30]), json!(-1)),
            (json!([10, 20, 30]), json!("1")),
            (json!("not-array"), json!(0)),
        ] {
            invalid(
                "States.ArrayGetItem($.a, $.i)",
                json!({ "a": a, "i": i }),
                "States.ArrayGetItem",
            );
        }
    }

    #[test]
    fn length_counts_the_top_level() {
        assert_eq!(
            ok("States.ArrayLength($)", json!([1, [2, 3], {}])),
            json!(3)
        );
        assert_eq!(
            ok("States.ArrayLength(States.Array())", json!({})),
            json!(0)
        );
        invalid("States.ArrayLength('x')", json!({}), "States.ArrayLength");
        invalid(
            "States.ArrayLength($)",
            json!({"k": 1}),
            "States.ArrayLength",
        );
    }

    #[test]
    fn unique_keeps_a_hash_set_order() {
        let u = |a: serde_json::Value| ok("States.ArrayUnique($.a)", json!({ "a": a }));
        // Observed on AWS.
        assert_eq!(u(json!([1, 2, 3, 3, 3, 4])), json!([1, 2, 3, 4]));
        assert_eq!(u(json!(["a", "b", "a", "c", "b"])), json!(["a", "b", "c"]));
        assert_eq!(u(json!([true, false, true, false])), json!([false, true]));
        assert_eq!(u(json!([null, null, 1, null])), json!([null, 1]));
        assert_eq!(u(json!([1, "1", 1, "01"])), json!([1, "1", "01"]));
        assert_eq!(u(json!([[1, 2], [1, 2], [2, 1]])), json!([[2, 1], [1, 2]]));
        assert_eq!(
            u(json!([{"a": 1, "b": 2}, {"b": 2, "a": 1}])),
            json!([{"a": 1, "b": 2}])
        );
        assert_eq!(u(json!([])), json!([]));
        // 1 and 1.0 are different Java values, and Double 1.0 hashes to bucket 0.
        assert_eq!(u(json!([1, 1.0])), json!([1.0, 1]));
        // A longer array gets a larger table: 20 values use 32 buckets.
        let a: Vec<i64> = (0..20).map(|i| 31 - i).collect();
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(u(json!(a)), json!(sorted));
        invalid("States.ArrayUnique('x')", json!({}), "States.ArrayUnique");
    }
}
