//! The `States.*` intrinsic functions of JSONPath mode: `"x.$": "States.Format('{}', $.a)"`.
//!
//! A call is parsed once, when the definition is loaded ([`Intrinsic::parse`], in `parse`),
//! into a tree of arguments: literals, paths (`$.a`, `$$.Execution.Id`, `$var`) and nested
//! calls. Step Functions refuses a definition for an unknown function or a malformed
//! argument, and so does the parser. Everything else (argument counts, types, ranges) Step
//! Functions checks only when the call runs, and so do we: a failing call fails the state
//! with `States.Runtime` and AWS's cause,
//! `The function '<the call as written>' had the following error: <detail>`, where the
//! detail is `Invalid arguments in States.<Name>` or, for a path that selects nothing,
//! `The JsonPath argument for the field '<path>' could not be found in the input '<input>'`.
//!
//! One file per family: `format` (`States.Format`), `string` (`StringSplit`), `array`
//! (`Array*`), `json` (`StringToJson`, `JsonToString`, `JsonMerge`), `math` (`MathAdd`,
//! `MathRandom`), `hash`, `encoding` (`Base64*`) and `uuid`. Step Functions runs on
//! Java, and where that shows (how numbers print, `toString` of objects, `HashSet` order,
//! `java.util.Random`) `java` reproduces it.
//!
//! Evaluation borrows what it reads from the state input where it can, clones only what
//! ends up in the result, and counts what it builds against a budget so that a call such
//! as `States.Array($, $, $, ...)` cannot exhaust memory.

mod array;
mod encoding;
mod format;
mod hash;
mod java;
mod json;
mod math;
mod parse;
mod string;
mod uuid;

use std::borrow::Cow;
use std::fmt::Display;

use serde_json::Value;

use crate::error::{Failure, names};
use crate::path::{Reference, Scope, Source};
use crate::random::Rng;

pub(crate) use self::hash::hash;

/// Why an intrinsic call could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {at} of the intrinsic function)")]
pub struct IntrinsicSyntaxError {
    pub message: String,
    /// Byte offset into the call's text.
    pub at: usize,
}

/// Bytes of JSON (estimated) that one evaluation may build before it fails: far above
/// the 256 KiB that a state's data may hold, far below what would hurt the process.
const MAX_BUILT_BYTES: usize = 16 * 1024 * 1024;

/// A parsed intrinsic call.
#[derive(Debug)]
pub struct Intrinsic {
    text: String,
    call: Call,
    uses_context: bool,
}

/// Whether a `.$` string is an intrinsic call rather than a path.
pub fn is_intrinsic(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Intrinsic {
    /// Parses a call once, at definition-load time. Unknown functions, malformed literals
    /// and paths, bad escapes and nesting deeper than 32 calls are refused.
    pub fn parse(text: &str) -> Result<Intrinsic, IntrinsicSyntaxError> {
        let call = parse::parse(text)?;
        Ok(Intrinsic {
            text: text.to_owned(),
            uses_context: call.uses_context(),
            call,
        })
    }

    /// The call as written in the definition.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether any argument reads the context object `$$`.
    pub fn uses_context(&self) -> bool {
        self.uses_context
    }

    /// Evaluates the call. `rng` serves `States.UUID` and unseeded `States.MathRandom`.
    pub fn eval(&self, scope: &Scope<'_>, rng: &mut Rng) -> Result<Value, Failure> {
        let mut cx = Cx {
            scope,
            rng,
            text: &self.text,
            budget: MAX_BUILT_BYTES,
        };
        eval_call(&self.call, &mut cx)
    }
}

/// One intrinsic function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    const ALL: [(&'static str, Func); 18] = [
        ("States.Format", Func::Format),
        ("States.StringToJson", Func::StringToJson),
        ("States.JsonToString", Func::JsonToString),
        ("States.Array", Func::Array),
        ("States.ArrayPartition", Func::ArrayPartition),
        ("States.ArrayContains", Func::ArrayContains),
        ("States.ArrayRange", Func::ArrayRange),
        ("States.ArrayGetItem", Func::ArrayGetItem),
        ("States.ArrayLength", Func::ArrayLength),
        ("States.ArrayUnique", Func::ArrayUnique),
        ("States.Base64Encode", Func::Base64Encode),
        ("States.Base64Decode", Func::Base64Decode),
        ("States.Hash", Func::Hash),
        ("States.JsonMerge", Func::JsonMerge),
        ("States.MathRandom", Func::MathRandom),
        ("States.MathAdd", Func::MathAdd),
        ("States.StringSplit", Func::StringSplit),
        ("States.UUID", Func::Uuid),
    ];

    fn lookup(name: &str) -> Option<Func> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("States", |(n, _)| *n)
    }
}

/// An argument of a call.
#[derive(Debug)]
enum Arg {
    Literal(Value),
    Path(Reference),
    Call(Call),
    /// A string literal as the first argument of `States.Format`: its value, and the
    /// template compiled from it once (its escapes decide which braces are placeholders).
    Template(Box<(Value, Result<format::Template, format::TemplateError>)>),
}

#[derive(Debug)]
struct Call {
    func: Func,
    args: Vec<Arg>,
}

impl Call {
    fn uses_context(&self) -> bool {
        self.args.iter().any(|a| match a {
            Arg::Path(p) => matches!(p.source(), Source::Context),
            Arg::Call(c) => c.uses_context(),
            Arg::Literal(_) | Arg::Template(_) => false,
        })
    }
}

/// What an evaluation carries: where paths read, the generator, the call's text for
/// causes, and what is left of the byte budget.
struct Cx<'x, 'c> {
    scope: &'c Scope<'x>,
    rng: &'c mut Rng,
    text: &'c str,
    budget: usize,
}

impl<'x> Cx<'x, '_> {
    /// AWS's failure of this call with `detail`.
    fn fail(&self, detail: impl Display) -> Failure {
        Failure::runtime(format!(
            "The function '{}' had the following error: {detail}",
            self.text
        ))
    }

    /// The failure for arguments `f` does not accept (count, type or range).
    fn invalid(&self, f: Func) -> Failure {
        self.fail(format_args!("Invalid arguments in {}", f.name()))
    }

    /// The failure for a path argument that selects nothing. Like Step Functions, it
    /// names a `$$` path as rewritten against the context object (`$.Execution.Id`) and
    /// shows the state input either way.
    fn missing(&self, path: &Reference) -> Failure {
        let text = path.text().trim();
        let field = match path.source() {
            Source::Context => text.strip_prefix('$').unwrap_or(text),
            _ => text,
        };
        let mut input = String::new();
        java::write_json(self.scope.input, &mut input);
        self.fail(format_args!(
            "The JsonPath argument for the field '{field}' could not be found in the input '{input}'"
        ))
    }

    /// Counts `bytes` more built against the budget.
    fn charge(&mut self, bytes: usize) -> Result<(), Failure> {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(Failure::new(
                names::DATA_LIMIT_EXCEEDED,
                format!(
                    "The function '{}' built more than the maximum number of bytes service limit.",
                    self.text
                ),
            )),
        }
    }

    /// An argument value to keep in a result: a borrowed one is cloned, and counted.
    fn own(&mut self, v: Cow<'_, Value>) -> Result<Value, Failure> {
        match v {
            Cow::Owned(v) => Ok(v),
            Cow::Borrowed(v) => self.copy(v),
        }
    }

    /// A copy of `v` to keep in a result, counted.
    fn copy(&mut self, v: &Value) -> Result<Value, Failure> {
        self.charge(weigh(v, self.budget))?;
        Ok(v.clone())
    }
}

fn eval_call<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    match call.func {
        Func::Format => format::format(call, cx),
        Func::StringToJson => json::string_to_json(call, cx),
        Func::JsonToString => json::json_to_string(call, cx),
        Func::JsonMerge => json::json_merge(call, cx),
        Func::Array => array::array(call, cx),
        Func::ArrayPartition => array::partition(call, cx),
        Func::ArrayContains => array::contains(call, cx),
        Func::ArrayRange => array::range(call, cx),
        Func::ArrayGetItem => array::get_item(call, cx),
        Func::ArrayLength => array::length(call, cx),
        Func::ArrayUnique => array::unique(call, cx),
        Func::Base64Encode => encoding::encode(call, cx),
        Func::Base64Decode => encoding::decode(call, cx),
        Func::Hash => hash::eval(call, cx),
        Func::MathRandom => math::random(call, cx),
        Func::MathAdd => math::add(call, cx),
        Func::StringSplit => string::split(call, cx),
        Func::Uuid => uuid::uuid(call, cx),
    }
}

/// An evaluated argument: borrowed from the definition or the state's data where it can be.
type ArgValue<'x> = Cow<'x, Value>;

fn eval_arg<'x>(arg: &'x Arg, cx: &mut Cx<'x, '_>) -> Result<ArgValue<'x>, Failure> {
    match arg {
        Arg::Literal(v) => Ok(Cow::Borrowed(v)),
        Arg::Template(t) => Ok(Cow::Borrowed(&t.0)),
        Arg::Path(p) => p.eval(cx.scope).map_err(|_| cx.missing(p)),
        Arg::Call(c) => eval_call(c, cx).map(Cow::Owned),
    }
}

/// The one argument of a one-argument function.
fn args1<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<ArgValue<'x>, Failure> {
    let [a] = call.args.as_slice() else {
        return Err(cx.invalid(call.func));
    };
    eval_arg(a, cx)
}

/// The two arguments of a two-argument function, both evaluated before either is checked.
fn args2<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<(ArgValue<'x>, ArgValue<'x>), Failure> {
    let [a, b] = call.args.as_slice() else {
        return Err(cx.invalid(call.func));
    };
    Ok((eval_arg(a, cx)?, eval_arg(b, cx)?))
}

/// The three arguments of a three-argument function.
fn args3<'x>(
    call: &'x Call,
    cx: &mut Cx<'x, '_>,
) -> Result<(ArgValue<'x>, ArgValue<'x>, ArgValue<'x>), Failure> {
    let [a, b, c] = call.args.as_slice() else {
        return Err(cx.invalid(call.func));
    };
    Ok((eval_arg(a, cx)?, eval_arg(b, cx)?, eval_arg(c, cx)?))
}

/// An integer argument as Step Functions reads one (Java's `intValue()` of a number):
/// a fraction is cut off towards zero; a value outside the 32-bit range is refused.
fn java_int(v: &Value) -> Option<i32> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        return i32::try_from(i).ok();
    }
    let f = n.as_f64()?.trunc();
    (f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX)).then_some(f as i32)
}

/// Whether a string is longer than `max` characters as Java counts them (UTF-16 units).
fn longer_than(s: &str, max: usize) -> bool {
    // UTF-8 never takes fewer bytes than UTF-16 takes units: short strings need no count.
    s.len() > max && s.encode_utf16().count() > max
}

/// Roughly how many bytes `v` takes as JSON, counting no further than just past `limit`.
fn weigh(v: &Value, limit: usize) -> usize {
    let mut total = 0usize;
    let mut stack: Vec<&Value> = Vec::new();
    let mut next = Some(v);
    while let Some(v) = next {
        total = total.saturating_add(match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 8,
            Value::String(s) => s.len() + 2,
            Value::Array(items) => {
                stack.extend(items.iter());
                2 + items.len()
            }
            Value::Object(map) => {
                let mut keys = 2usize;
                for (k, x) in map {
                    keys = keys.saturating_add(k.len() + 4);
                    stack.push(x);
                }
                keys
            }
        });
        if total > limit {
            return total;
        }
        next = stack.pop();
    }
    total
}

#[cfg(test)]
pub(super) mod testing {
    //! Helpers for the tests of every family.

    use serde_json::{Value, json};

    use super::Intrinsic;
    use crate::error::Failure;
    use crate::path::{NoVariables, Scope};
    use crate::random::Rng;

    /// Evaluates `text` on `input`, with a small context object and a fixed generator.
    pub fn run(text: &str, input: Value) -> Result<Value, Failure> {
        let context = json!({"Execution": {"Id": "arn:x", "Input": {"k": "v"}}});
        let scope = Scope {
            input: &input,
            context: &context,
            variables: &NoVariables,
        };
        Intrinsic::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .eval(&scope, &mut Rng::from_seed(3))
    }

    /// The value of `text` on `input`; panics on a failure.
    pub fn ok(text: &str, input: Value) -> Value {
        run(text, input).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The detail of the failure of `text` on `input` (its cause after AWS's prefix),
    /// checking that the error is `States.Runtime` and the prefix names the call.
    pub fn detail(text: &str, input: Value) -> String {
        let f = match run(text, input) {
            Ok(v) => panic!("{text} gave {v}"),
            Err(f) => f,
        };
        assert_eq!(f.error, "States.Runtime", "{text}");
        let cause = f.cause.unwrap_or_default();
        let prefix = format!("The function '{text}' had the following error: ");
        match cause.strip_prefix(&prefix) {
            Some(d) => d.to_owned(),
            None => panic!("{text}: unexpected cause {cause}"),
        }
    }

    /// Asserts that `text` fails on `input` with `Invalid arguments in <name>`.
    pub fn invalid(text: &str, input: Value, name: &str) {
        assert_eq!(
            detail(text, input),
            format!("Invalid arguments in {name}"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testing::{detail, invalid, ok, run};
    use super::*;
    use crate::path::NoVariables;

    #[test]
    fn is_intrinsic_tells_calls_from_paths() {
        assert!(is_intrinsic("States.Format('x')"));
        assert!(!is_intrinsic("$.States"));
        assert!(!is_intrinsic("$$.Execution.Id"));
    }

    #[test]
    fn a_missing_path_fails_with_aws_cause() {
        // The cause names the whole call as written, the path, and the state input.
        assert_eq!(
            detail("States.Format('{}',  $.nope)", json!({"other": 1})),
            "The JsonPath argument for the field '$.nope' could not be found in the input '{\"other\":1}'"
        );
        // A nested call's argument is reported against the whole call.
        assert_eq!(
            detail(
                "States.Format('{}', States.Format('{}', $.a.b))",
                json!({"a": {}})
            ),
            "The JsonPath argument for the field '$.a.b' could not be found in the input '{\"a\":{}}'"
        );
        // An index past the end is a miss here (a plain `x.$` path would give null).
        assert!(
            detail("States.ArrayLength($.items[5])", json!({"items": [1]}))
                .starts_with("The JsonPath argument for the field '$.items[5]'")
        );
        // A `$$` path is named as rewritten against the context, with the state input.
        assert_eq!(
            detail("States.Array($$.Nope.Deep)", json!({"other": 1})),
            "The JsonPath argument for the field '$.Nope.Deep' could not be found in the input '{\"other\":1}'"
        );
        // Present but null is a value; a wildcard that matches nothing is an empty array.
        assert_eq!(ok("States.Array($.n)", json!({"n": null})), json!([null]));
        assert_eq!(
            ok(
                "States.ArrayLength($.items[*].nope)",
                json!({"items": [1, 2]})
            ),
            json!(0)
        );
    }

    #[test]
    fn arity_is_checked_when_the_call_runs() {
        for (text, name) in [
            ("States.ArrayLength()", "States.ArrayLength"),
            ("States.ArrayLength($.a, 1)", "States.ArrayLength"),
            ("States.UUID(1)", "States.UUID"),
            ("States.Format()", "States.Format"),
            ("States.JsonMerge($.a, $.a)", "States.JsonMerge"),
            ("States.MathRandom(1)", "States.MathRandom"),
            ("States.MathRandom(1, 2, 3, 4)", "States.MathRandom"),
            ("States.Hash('a')", "States.Hash"),
        ] {
            invalid(text, json!({"a": []}), name);
        }
    }

    #[test]
    fn context_use_is_known_after_parsing() {
        let p = |t: &str| Intrinsic::parse(t).map(|i| i.uses_context());
        assert_eq!(p("States.Array($.a)"), Ok(false));
        assert_eq!(
            p("States.Array(1, States.Array($$.Execution.Id))"),
            Ok(true)
        );
        assert_eq!(p("States.Format('$$')"), Ok(false));
        assert_eq!(
            Intrinsic::parse("States.Array( 1 )").map(|i| i.text().to_owned()),
            Ok("States.Array( 1 )".to_owned())
        );
    }

    #[test]
    fn variables_are_read() {
        let mut vars = serde_json::Map::new();
        vars.insert("v".to_owned(), json!({"a": [1, 2]}));
        let input = json!({});
        let scope = Scope {
            input: &input,
            context: &input,
            variables: &vars,
        };
        let call = Intrinsic::parse("States.ArrayLength($v.a)").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(call.eval(&scope, &mut Rng::from_seed(1)), Ok(json!(2)));
        let none = Scope {
            input: &input,
            context: &input,
            variables: &NoVariables,
        };
        assert_eq!(
            call.eval(&none, &mut Rng::from_seed(1))
                .map_err(|f| f.error),
            Err("States.Runtime".to_owned())
        );
    }

    #[test]
    fn what_a_call_builds_is_bounded() {
        // 4,000 copies of a 10 KB input would need 40 MB: the budget stops it.
        let big = json!({"s": "x".repeat(10_000)});
        let text = format!("States.Array({})", vec!["$"; 4_000].join(", "));
        let f = run(&text, big.clone()).unwrap_err();
        assert_eq!(f.error, "States.DataLimitExceeded");
        // A few copies are fine.
        assert_eq!(
            ok("States.ArrayLength(States.Array($, $, $))", big),
            json!(3)
        );
    }

    #[test]
    fn integer_arguments_truncate_like_java() {
        assert_eq!(java_int(&json!(2.9)), Some(2));
        assert_eq!(java_int(&json!(-2.9)), Some(-2));
        assert_eq!(java_int(&json!(2147483647)), Some(i32::MAX));
        assert_eq!(java_int(&json!(2147483648u64)), None);
        assert_eq!(java_int(&json!(-3e9)), None);
        assert_eq!(java_int(&json!("1")), None);
        assert!(!longer_than(&"é".repeat(10_000), 10_000));
        assert!(longer_than(&"a".repeat(10_001), 10_000));
    }
}
