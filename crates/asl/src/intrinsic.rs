//! The `States.*` intrinsic functions of JSONPath mode: `"x.$": "States.Format('{}', $.a)"`.
//!
//! A call is parsed once, when the definition is loaded, into a tree of [`Arg`]s (literals,
//! paths and nested calls); unknown functions and wrong argument counts are refused then.
//! Evaluation checks argument types and fails with `States.IntrinsicFailure`, as Step
//! Functions does.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::Failure;
use crate::path::{Reference, Scope};
use crate::random::Rng;

/// Why an intrinsic call could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {at} of the intrinsic function)")]
pub struct IntrinsicSyntaxError {
    pub message: String,
    pub at: usize,
}

/// Calls nest at most this deep.
const MAX_DEPTH: usize = 32;
/// Longest call text accepted.
const MAX_LEN: usize = 64 * 1024;
/// Largest string States.Base64Encode/Decode and States.Hash accept.
const MAX_DATA_CHARS: usize = 10_000;
/// Most elements States.ArrayRange produces.
const MAX_RANGE: i64 = 1_000;

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
    const ALL: [(&'static str, Func, usize, usize); 18] = [
        ("States.Format", Func::Format, 1, usize::MAX),
        ("States.StringToJson", Func::StringToJson, 1, 1),
        ("States.JsonToString", Func::JsonToString, 1, 1),
        ("States.Array", Func::Array, 0, usize::MAX),
        ("States.ArrayPartition", Func::ArrayPartition, 2, 2),
        ("States.ArrayContains", Func::ArrayContains, 2, 2),
        ("States.ArrayRange", Func::ArrayRange, 3, 3),
        ("States.ArrayGetItem", Func::ArrayGetItem, 2, 2),
        ("States.ArrayLength", Func::ArrayLength, 1, 1),
        ("States.ArrayUnique", Func::ArrayUnique, 1, 1),
        ("States.Base64Encode", Func::Base64Encode, 1, 1),
        ("States.Base64Decode", Func::Base64Decode, 1, 1),
        ("States.Hash", Func::Hash, 2, 2),
        ("States.JsonMerge", Func::JsonMerge, 3, 3),
        ("States.MathRandom", Func::MathRandom, 2, 3),
        ("States.MathAdd", Func::MathAdd, 2, 2),
        ("States.StringSplit", Func::StringSplit, 2, 2),
        ("States.UUID", Func::Uuid, 0, 0),
    ];

    fn lookup(name: &str) -> Option<(&'static str, Func, usize, usize)> {
        Self::ALL.iter().copied().find(|(n, ..)| *n == name)
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f, ..)| *f == self)
            .map(|(n, ..)| *n)
            .unwrap_or("States")
    }
}

/// An argument of a call.
#[derive(Debug)]
enum Arg {
    Literal(Value),
    Path(Reference),
    Call(Call),
}

#[derive(Debug)]
struct Call {
    func: Func,
    args: Vec<Arg>,
}

/// A parsed intrinsic call.
#[derive(Debug)]
pub struct Intrinsic {
    text: String,
    call: Call,
}

/// Whether a `.$` string is an intrinsic call rather than a path.
pub fn is_intrinsic(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Intrinsic {
    pub fn parse(text: &str) -> Result<Intrinsic, IntrinsicSyntaxError> {
        if text.len() > MAX_LEN {
            return Err(IntrinsicSyntaxError {
                message: format!("the call is longer than {MAX_LEN} bytes"),
                at: 0,
            });
        }
        let mut p = Parser { s: text, i: 0 };
        p.ws();
        let call = p.call(0)?;
        p.ws();
        if p.i != text.len() {
            return Err(p.error("unexpected text after the call"));
        }
        Ok(Intrinsic {
            text: text.to_owned(),
            call,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether any argument reads the context object `$$`.
    pub fn uses_context(&self) -> bool {
        fn walk(c: &Call) -> bool {
            c.args.iter().any(|a| match a {
                Arg::Path(p) => p.text().trim_start().starts_with("$$"),
                Arg::Call(c) => walk(c),
                Arg::Literal(_) => false,
            })
        }
        walk(&self.call)
    }

    pub fn eval(&self, scope: &Scope<'_>, rng: &mut Rng) -> Result<Value, Failure> {
        eval_call(&self.call, scope, rng)
    }
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> IntrinsicSyntaxError {
        IntrinsicSyntaxError {
            message: message.to_owned(),
            at: self.i,
        }
    }

    fn rest(&self) -> &str {
        &self.s[self.i..]
    }

    fn ws(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\n', '\r']);
        self.i = self.s.len() - trimmed.len();
    }

    fn call(&mut self, depth: usize) -> Result<Call, IntrinsicSyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("intrinsic calls nest too deeply"));
        }
        let name_len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(self.rest().len());
        let name = &self.rest()[..name_len];
        let Some((canonical, func, min, max)) = Func::lookup(name) else {
            return Err(self.error(&format!("'{name}' is not an intrinsic function")));
        };
        self.i += name_len;
        self.ws();
        if !self.rest().starts_with('(') {
            return Err(self.error(&format!("'(' expected after {canonical}")));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.rest().starts_with(')') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                args.push(self.arg(depth)?);
                self.ws();
                match self.rest().chars().next() {
                    Some(',') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.error("',' or ')' expected")),
                }
            }
        }
        if args.len() < min || args.len() > max {
            let expected = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            return Err(self.error(&format!(
                "{canonical} takes {expected} arguments, not {}",
                args.len()
            )));
        }
        if func == Func::Format
            && !matches!(
                args.first(),
                Some(Arg::Literal(Value::String(_))) | Some(Arg::Path(_)) | Some(Arg::Call(_))
            )
        {
            return Err(self.error("the first argument of States.Format must be a string"));
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, IntrinsicSyntaxError> {
        let rest = self.rest();
        match rest.chars().next() {
            Some('\'') => self.string().map(|s| Arg::Literal(Value::String(s))),
            Some('$') => {
                let len = path_len(rest);
                let text = rest[..len].trim_end();
                let path = Reference::parse(text)
                    .map_err(|e| self.error(&format!("invalid path '{text}': {e}")))?;
                self.i += len;
                Ok(Arg::Path(path))
            }
            Some('S') if rest.starts_with("States.") => Ok(Arg::Call(self.call(depth + 1)?)),
            Some(_) => {
                let len = rest.find([',', ')', ' ', '\t', '\n']).unwrap_or(rest.len());
                let token = &rest[..len];
                let value = match token {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => match serde_json::from_str::<serde_json::Number>(token) {
                        Ok(n) => Value::Number(n),
                        Err(_) => {
                            return Err(self.error(&format!("'{token}' is not a valid argument")));
                        }
                    },
                };
                self.i += len;
                Ok(Arg::Literal(value))
            }
            None => Err(self.error("an argument is missing")),
        }
    }

    /// A single-quoted string; `\'`, `\\`, `\{` and `\}` are escapes, kept as written for
    /// `{`/`}` so that States.Format can tell literal braces from placeholders.
    fn string(&mut self) -> Result<String, IntrinsicSyntaxError> {
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '\'' => {
                    self.i += k + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('{' | '}'))) => {
                        out.push('\\');
                        out.push(e);
                    }
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.error("unterminated string"))
    }
}

/// Length of a path argument: up to a `,` or `)` outside brackets, parentheses and quotes.
fn path_len(s: &str) -> usize {
    let (mut depth, mut quote) = (0i32, None);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']') => depth -= 1,
            (None, ')') if depth == 0 => return i,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => return i,
            _ => {}
        }
    }
    s.len()
}

fn fail(func: Func, message: impl std::fmt::Display) -> Failure {
    Failure::intrinsic(format!("Invalid arguments in {}: {message}", func.name()))
}

fn eval_arg(arg: &Arg, scope: &Scope<'_>, rng: &mut Rng) -> Result<Value, Failure> {
    match arg {
        Arg::Literal(v) => Ok(v.clone()),
        Arg::Path(p) => match p.eval(scope) {
            Ok(v) => Ok(v.into_owned()),
            Err(e) => Err(Failure::runtime(format!(
                "Invalid path '{}' : {e}",
                p.text()
            ))),
        },
        Arg::Call(c) => eval_call(c, scope, rng),
    }
}

fn eval_call(call: &Call, scope: &Scope<'_>, rng: &mut Rng) -> Result<Value, Failure> {
    let f = call.func;
    let args = call
        .args
        .iter()
        .map(|a| eval_arg(a, scope, rng))
        .collect::<Result<Vec<_>, _>>()?;
    let string = |i: usize| -> Result<&str, Failure> {
        args.get(i)
            .and_then(Value::as_str)
            .ok_or_else(|| fail(f, format!("argument {} must be a string", i + 1)))
    };
    let array = |i: usize| -> Result<&Vec<Value>, Failure> {
        args.get(i)
            .and_then(Value::as_array)
            .ok_or_else(|| fail(f, format!("argument {} must be an array", i + 1)))
    };
    let integer = |i: usize| -> Result<i64, Failure> {
        let v = args
            .get(i)
            .ok_or_else(|| fail(f, "an argument is missing"))?;
        as_integer(v)
            .ok_or_else(|| fail(f, format!("argument {} must be an integer, not {v}", i + 1)))
    };
    Ok(match f {
        Func::Format => format(string(0)?, &args[1..])
            .map(Value::String)
            .map_err(|m| fail(f, m))?,
        Func::StringToJson => {
            let text = string(0)?;
            if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(text)
                    .map_err(|e| fail(f, format!("the string is not valid JSON: {e}")))?
            }
        }
        Func::JsonToString => {
            Value::String(serde_json::to_string(&args[0]).map_err(|e| fail(f, e))?)
        }
        Func::Array => Value::Array(args),
        Func::ArrayPartition => {
            let items = array(0)?;
            let size = integer(1)?;
            if size <= 0 {
                return Err(fail(f, "the chunk size must be a positive integer"));
            }
            Value::Array(
                items
                    .chunks(size.min(i64::from(u32::MAX)) as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            )
        }
        Func::ArrayContains => Value::Bool(array(0)?.iter().any(|x| json_equal(x, &args[1]))),
        Func::ArrayRange => {
            let (start, end, step) = (integer(0)?, integer(1)?, integer(2)?);
            if step == 0 {
                return Err(fail(f, "the step must not be 0"));
            }
            let count = if (step > 0 && end < start) || (step < 0 && end > start) {
                0
            } else {
                (i128::from(end) - i128::from(start)) / i128::from(step) + 1
            };
            if count > i128::from(MAX_RANGE) {
                return Err(fail(
                    f,
                    format!("the range would have more than {MAX_RANGE} elements"),
                ));
            }
            Value::Array(
                (0..count as i64)
                    .map(|k| Value::from(start + k * step))
                    .collect(),
            )
        }
        Func::ArrayGetItem => {
            let items = array(0)?;
            let index = integer(1)?;
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| {
                    fail(
                        f,
                        format!(
                            "the index {index} is out of bounds for an array of {}",
                            items.len()
                        ),
                    )
                })?
        }
        Func::ArrayLength => Value::from(array(0)?.len()),
        Func::ArrayUnique => {
            let mut out: Vec<Value> = Vec::new();
            for x in array(0)? {
                if !out.iter().any(|y| json_equal(x, y)) {
                    out.push(x.clone());
                }
            }
            Value::Array(out)
        }
        Func::Base64Encode => {
            let s = string(0)?;
            if s.chars().count() > MAX_DATA_CHARS {
                return Err(fail(
                    f,
                    format!("the input string must be at most {MAX_DATA_CHARS} characters"),
                ));
            }
            Value::String(base64::engine::general_purpose::STANDARD.encode(s))
        }
        Func::Base64Decode => {
            let s = string(0)?;
            if s.chars().count() > MAX_DATA_CHARS {
                return Err(fail(
                    f,
                    format!("the input string must be at most {MAX_DATA_CHARS} characters"),
                ));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| fail(f, format!("the input is not valid base64: {e}")))?;
            Value::String(
                String::from_utf8(bytes)
                    .map_err(|_| fail(f, "the decoded data is not UTF-8 text"))?,
            )
        }
        Func::Hash => {
            let data = match &args[0] {
                Value::String(s) => s.clone(),
                other => serde_json::to_string(other).map_err(|e| fail(f, e))?,
            };
            if data.chars().count() > MAX_DATA_CHARS {
                return Err(fail(
                    f,
                    format!("the input data must be at most {MAX_DATA_CHARS} characters"),
                ));
            }
            Value::String(hash(string(1)?, data.as_bytes()).ok_or_else(|| {
                fail(
                    f,
                    "the algorithm must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512",
                )
            })?)
        }
        Func::JsonMerge => {
            let (Some(Value::Object(a)), Some(Value::Object(b))) = (args.first(), args.get(1))
            else {
                return Err(fail(f, "the first two arguments must be JSON objects"));
            };
            match args.get(2) {
                Some(Value::Bool(false)) => {}
                Some(Value::Bool(true)) => {
                    return Err(fail(
                        f,
                        "deep merging is not supported; the third argument must be false",
                    ));
                }
                _ => return Err(fail(f, "the third argument must be a boolean")),
            }
            let mut out: Map<String, Value> = a.clone();
            for (k, v) in b {
                out.insert(k.clone(), v.clone());
            }
            Value::Object(out)
        }
        Func::MathRandom => {
            let (start, end) = (integer(0)?, integer(1)?);
            if end <= start {
                return Err(fail(
                    f,
                    "the end of the range must be greater than its start",
                ));
            }
            let value = match args.get(2) {
                Some(seed) => {
                    let seed =
                        as_integer(seed).ok_or_else(|| fail(f, "the seed must be an integer"))?;
                    Rng::from_seed(seed as u64).int_in(start, end - 1)
                }
                None => rng.int_in(start, end - 1),
            };
            Value::from(value)
        }
        Func::MathAdd => {
            let (a, b) = (java_round(&args[0], f)?, java_round(&args[1], f)?);
            Value::from(
                a.checked_add(b)
                    .ok_or_else(|| fail(f, "the sum is out of range"))?,
            )
        }
        Func::StringSplit => {
            let (text, delimiters) = (string(0)?, string(1)?);
            let parts: Vec<Value> = text
                .split(|c| delimiters.contains(c))
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect();
            Value::Array(parts)
        }
        Func::Uuid => Value::String(rng.uuid_v4()),
    })
}

/// An integer argument: a JSON number without a fractional part.
fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

/// Java's `Math.round`: half-way cases round up.
fn java_round(v: &Value, f: Func) -> Result<i64, Failure> {
    let Value::Number(n) = v else {
        return Err(fail(f, format!("the arguments must be numbers, not {v}")));
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    let x = n
        .as_f64()
        .ok_or_else(|| fail(f, "the number is out of range"))?;
    let r = (x + 0.5).floor();
    if !r.is_finite() || r.abs() > 9.0e18 {
        return Err(fail(f, "the number is out of range"));
    }
    Ok(r as i64)
}

/// Equality of JSON values, numbers by value.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// States.Format: `{}` placeholders filled in order; `\{` and `\}` are literal braces.
fn format(template: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut next = 0;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('{' | '}' | '\\')) => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let arg = args
                    .get(next)
                    .ok_or("the template has more {} placeholders than arguments")?;
                format_value(arg, true, &mut out);
                next += 1;
            }
            c => out.push(c),
        }
    }
    if next != args.len() {
        return Err(format!(
            "the template has {next} placeholders but {} arguments were given",
            args.len()
        ));
    }
    Ok(out)
}

/// A value as Step Functions' Java runtime prints it in States.Format: strings bare,
/// objects as `{key=value, ...}`, arrays as `[a, b]`.
fn format_value(v: &Value, top: bool, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                format_value(x, false, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                format_value(x, false, out);
            }
            out.push('}');
        }
    }
    let _ = top;
}

pub(crate) fn hash(algorithm: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest;
    let bytes: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(
        bytes
            .iter()
            .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::NoVariables;
    use serde_json::json;

    fn run(text: &str, input: Value) -> Result<Value, Failure> {
        let ctx = json!({"Execution": {"Id": "arn:x"}});
        let scope = Scope {
            input: &input,
            context: &ctx,
            variables: &NoVariables,
        };
        Intrinsic::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .eval(&scope, &mut Rng::from_seed(3))
    }

    fn ok(text: &str, input: Value) -> Value {
        run(text, input).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn format_prints_like_aws() {
        assert_eq!(
            ok(
                "States.Format('a {} b {}', $.x, $.y)",
                json!({"x": null, "y": 1.1})
            ),
            json!("a null b 1.1")
        );
        assert_eq!(
            ok(
                "States.Format('v={}', $.o)",
                json!({"o": {"Arg1": 1, "Arg2": [], "s": "t"}})
            ),
            json!("v={Arg1=1, Arg2=[], s=t}")
        );
        assert_eq!(
            ok("States.Format('\\{{}\\}', 'x')", json!({})),
            json!("{x}")
        );
        assert_eq!(
            ok("States.Format('it\\'s {}', $$.Execution.Id)", json!({})),
            json!("it's arn:x")
        );
        assert!(run("States.Format('{} {}', 1)", json!({})).is_err());
    }

    #[test]
    fn json_functions() {
        assert_eq!(
            ok("States.StringToJson($.s)", json!({"s": "{\"a\": [1]}"})),
            json!({"a": [1]})
        );
        assert_eq!(
            ok("States.StringToJson($.s)", json!({"s": " "})),
            json!(null)
        );
        assert_eq!(
            ok("States.JsonToString($.o)", json!({"o": {"a": [1, "x"]}})),
            json!("{\"a\":[1,\"x\"]}")
        );
        assert_eq!(
            ok(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}})
            ),
            json!({"x": 1, "y": 2})
        );
        assert_eq!(
            run(
                "States.JsonMerge($.a, $.b, true)",
                json!({"a": {}, "b": {}})
            )
            .unwrap_err()
            .error,
            "States.IntrinsicFailure"
        );
    }

    #[test]
    fn array_functions() {
        assert_eq!(
            ok(
                "States.Array(1, 'a', $.x, States.Array())",
                json!({"x": true})
            ),
            json!([1, "a", true, []])
        );
        assert_eq!(
            ok("States.ArrayPartition($.a, 2)", json!({"a": [1, 2, 3]})),
            json!([[1, 2], [3]])
        );
        assert_eq!(
            ok(
                "States.ArrayContains($.a, $.v)",
                json!({"a": [[1], {"k": 1.0}], "v": {"k": 1}})
            ),
            json!(true)
        );
        assert_eq!(
            ok("States.ArrayRange(0, 9, 3)", json!({})),
            json!([0, 3, 6, 9])
        );
        assert_eq!(
            ok("States.ArrayRange(5, 1, -2)", json!({})),
            json!([5, 3, 1])
        );
        assert!(run("States.ArrayRange(0, 5000, 1)", json!({})).is_err());
        assert_eq!(
            ok("States.ArrayGetItem($.a, 1)", json!({"a": [1, 2]})),
            json!(2)
        );
        assert!(run("States.ArrayGetItem($.a, 5)", json!({"a": [1, 2]})).is_err());
        assert_eq!(
            ok("States.ArrayLength($.a)", json!({"a": [1, 2]})),
            json!(2)
        );
        assert_eq!(
            ok("States.ArrayUnique($.a)", json!({"a": [1, 2, 1, "1", 2.0]})),
            json!([1, 2, "1"])
        );
    }

    #[test]
    fn encoding_hashing_math_strings() {
        assert_eq!(
            ok("States.Base64Encode('Data to encode')", json!({})),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            ok("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})),
            json!("Data to encode")
        );
        assert_eq!(
            ok("States.Hash('input data', 'MD5')", json!({})),
            json!("812f45842bc6d66ee14572ce20db8e86")
        );
        assert!(run("States.Hash('x', 'CRC32')", json!({})).is_err());
        assert_eq!(
            ok("States.MathAdd($.a, $.b)", json!({"a": -1.5, "b": -1.51})),
            json!(-3)
        );
        assert_eq!(ok("States.MathAdd(2.5, 0)", json!({})), json!(3));
        let r = ok("States.MathRandom(1, 10)", json!({}));
        assert!((1..10).contains(&r.as_i64().unwrap()));
        assert_eq!(
            ok("States.MathRandom(1, 1000, 7)", json!({})),
            ok("States.MathRandom(1, 1000, 7)", json!({}))
        );
        assert_eq!(
            ok(
                "States.StringSplit($.s, '.+,=')",
                json!({"s": "This.is+a,test=string"})
            ),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(ok("States.StringSplit(',,,', ',')", json!({})), json!([]));
        assert_eq!(
            ok("States.UUID()", json!({})).as_str().map(str::len),
            Some(36)
        );
    }

    #[test]
    fn parse_errors_are_reported() {
        for bad in [
            "States.Nope()",
            "States.Format(",
            "States.ArrayLength()",
            "States.UUID(1)",
            "States.Array(1,)",
            "States.Array('unterminated)",
            "States.Array(foo)",
            "States.Array(1) trailing",
            "States.Array($.a[)",
        ] {
            assert!(Intrinsic::parse(bad).is_err(), "{bad}");
        }
        assert!(Intrinsic::parse("States.Array($.a[?(@.b == 1)], $.c)").is_ok());
        let deep = format!("{}1{}", "States.Array(".repeat(100), ")".repeat(100));
        assert!(Intrinsic::parse(&deep).is_err());
    }

    #[test]
    fn missing_paths_fail_the_state() {
        let e = run("States.Array($.nope)", json!({})).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
    }
}
