//! `States.MathAdd` and `States.MathRandom`.
//!
//! - `MathAdd(a, b)` rounds each number as Java's `Math.round` does (halves up: `-1.5` is
//!   `-1`, `2.5` is `3`), and operands and sum must fit 32 bits.
//! - `MathRandom(start, end)` is an integer in `[start, end)`; fractions are cut off
//!   towards zero first, and `start` must be below `end`. Unseeded, it draws from the
//!   execution's generator; with a seed it is `new java.util.Random(seed).nextInt(end -
//!   start) + start`, the number AWS returns for that seed.

use serde_json::Value;

use super::{Call, Cx, Func, args2, eval_arg, java_int};
use crate::error::Failure;

pub(super) fn add<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (a, b) = args2(call, cx)?;
    match (round(&a), round(&b)) {
        (Some(a), Some(b)) => match a.checked_add(b) {
            Some(sum) => Ok(Value::from(sum)),
            None => Err(cx.invalid(Func::MathAdd)),
        },
        _ => Err(cx.invalid(Func::MathAdd)),
    }
}

/// Java's `Math.toIntExact(Math.round(x))`: the nearest integer, halves up.
fn round(v: &Value) -> Option<i32> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        return i32::try_from(i).ok();
    }
    let x = n.as_f64()?;
    let floor = x.floor();
    let r = if x - floor >= 0.5 { floor + 1.0 } else { floor };
    (r >= f64::from(i32::MIN) && r <= f64::from(i32::MAX)).then_some(r as i32)
}

pub(super) fn random<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (start, end, seed) = match call.args.as_slice() {
        [a, b] => (eval_arg(a, cx)?, eval_arg(b, cx)?, None),
        [a, b, s] => (eval_arg(a, cx)?, eval_arg(b, cx)?, Some(eval_arg(s, cx)?)),
        _ => return Err(cx.invalid(Func::MathRandom)),
    };
    let (Some(start), Some(end)) = (java_int(&start), java_int(&end)) else {
        return Err(cx.invalid(Func::MathRandom));
    };
    // Java's `end - start` in `int`: a span past 2^31 wraps negative and is refused.
    let span = end.wrapping_sub(start);
    if span <= 0 {
        return Err(cx.invalid(Func::MathRandom));
    }
    let value = match seed {
        None => cx.rng.int_in(i64::from(start), i64::from(end) - 1),
        Some(seed) => {
            let Some(seed) = java_long(&seed) else {
                return Err(cx.invalid(Func::MathRandom));
            };
            i64::from(JavaRandom::new(seed).next_int(span)) + i64::from(start)
        }
    };
    Ok(Value::from(value))
}

/// A seed as Java's `longValue()` of a number: a fraction cut off towards zero.
fn java_long(v: &Value) -> Option<i64> {
    let Value::Number(n) = v else { return None };
    n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
}

/// `java.util.Random`: a 48-bit linear congruential generator.
struct JavaRandom(u64);

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        Self((seed as u64 ^ Self::MULTIPLIER) & Self::MASK)
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.0 = self.0.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB) & Self::MASK;
        (self.0 >> (48 - bits)) as u32 as i32
    }

    /// `nextInt(bound)` for a positive `bound`.
    fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound.wrapping_sub(1);
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{invalid, ok};
    use super::JavaRandom;

    #[test]
    fn add_rounds_half_up() {
        let a = |x: serde_json::Value, y: serde_json::Value| {
            ok("States.MathAdd($.x, $.y)", json!({ "x": x, "y": y }))
        };
        // Recorded on AWS.
        for (x, y, sum) in [
            (json!(-9), json!(3), -6),
            (json!(1.49), json!(1.5), 3),
            (json!(1.5), json!(1.51), 4),
            (json!(-1.49), json!(-1.5), -2),
            (json!(-1.5), json!(-1.51), -3),
            (json!(1.49), json!(-1.49), 0),
            (json!(-1.5), json!(0), -1),
            (json!(0.5), json!(0), 1),
            (json!(2.5), json!(0), 3),
            (json!(-0.5), json!(0.5), 1),
            (json!(-0.5), json!(0), 0),
            (json!(-2.5), json!(0), -2),
            (json!(-3.5), json!(0), -3),
            (json!(0.49999999999999994), json!(0), 0),
        ] {
            assert_eq!(a(x.clone(), y.clone()), json!(sum), "{x} + {y}");
        }
        assert_eq!(a(json!(2147483646), json!(1)), json!(2147483647));
        assert_eq!(a(json!(-2147483647), json!(-1)), json!(-2147483648i64));
        assert_eq!(
            ok("States.MathAdd(States.MathAdd($.x, 1), 2)", json!({"x": 5})),
            json!(8)
        );
        for (x, y) in [
            (json!(2147483647), json!(1)),
            (json!(-2147483648i64), json!(-1)),
            (json!(3000000000i64), json!(1)),
            (json!("1"), json!(1)),
            (json!(null), json!(1)),
            (json!(true), json!(1)),
            (json!([1]), json!(1)),
        ] {
            invalid(
                "States.MathAdd($.x, $.y)",
                json!({ "x": x, "y": y }),
                "States.MathAdd",
            );
        }
    }

    #[test]
    fn random_stays_in_range() {
        for (text, low, high) in [
            ("States.MathRandom(1, 10)", 1, 9),
            ("States.MathRandom(-99999, -9999)", -99999, -10000),
            ("States.MathRandom(12.5, 44.51)", 12, 43),
            ("States.MathRandom(1.6, 5.4)", 1, 4),
            (
                "States.MathRandom(2147483640, 2147483647, 1)",
                2147483640,
                2147483646,
            ),
        ] {
            for _ in 0..20 {
                let v = ok(text, json!({})).as_i64().unwrap_or(i64::MIN);
                assert!((low..=high).contains(&v), "{text} gave {v}");
            }
        }
        for bad in [
            "States.MathRandom(1, 1)",
            "States.MathRandom(10, 5)",
            "States.MathRandom(1.49, 1.49)",
            "States.MathRandom(1.4, 1.6)",
            "States.MathRandom('a', 10)",
            "States.MathRandom(1, 10, 'seed')",
            "States.MathRandom(1, 10, null)",
            "States.MathRandom(-2000000000, 2000000000)",
        ] {
            invalid(bad, json!({}), "States.MathRandom");
        }
    }

    #[test]
    fn a_seed_gives_javas_number() {
        // Observed on AWS: seed 42 over [-5, 5) gives -5.
        assert_eq!(ok("States.MathRandom(-5, 5, 42)", json!({})), json!(-5));
        assert_eq!(ok("States.MathRandom(0, 100, 42)", json!({})), json!(30));
        assert_eq!(
            ok("States.MathRandom(1, 1000, 7)", json!({})),
            ok("States.MathRandom(1, 1000, 7)", json!({}))
        );
        // java.util.Random reference values.
        assert_eq!(JavaRandom::new(42).next(32), -1_170_105_035);
        assert_eq!(JavaRandom::new(0).next_int(100), 60);
        assert_eq!(JavaRandom::new(3).next_int(999), 239);
        assert_eq!(JavaRandom::new(-10).next_int(9), 0);
        // A power-of-two bound takes the high bits.
        let mut r = JavaRandom::new(42);
        assert!((0..16).contains(&r.next_int(16)));
    }
}
