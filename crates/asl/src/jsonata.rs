//! JSONata (version 2.x, as Step Functions runs it), on the `jsonata-core` engine.
//!
//! An [`Expression`] is checked when a definition is loaded and keeps its text; the
//! compiled syntax tree is cached per thread (the engine's trees are not `Send`), so a
//! definition stays shareable across threads and each expression is parsed once per thread.
//! Evaluation is bounded: [`Limits`] turn deep recursion and long runs into error `U1001`
//! instead of a stack overflow or a hang. Errors carry JSONata's codes (`T2001`, `S0201`).
//!
//! Step Functions adds functions of its own, registered here: `$partition`, `$range`,
//! `$hash`, `$random` (with an optional seed), `$uuid` and `$parse`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use jsonata_core::ast::AstNode;
use jsonata_core::evaluator::{
    Context, Evaluator, EvaluatorError, EvaluatorOptions, error_code_prefix,
};
use jsonata_core::parser;
use jsonata_core::value::JValue;
use serde_json::Value;

use crate::random::Rng;

/// A JSONata error: its code (`T2001`, `S0201`, `D3030`, `U1001`) and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: String,
    pub message: String,
}

impl Error {
    fn from_message(message: &str) -> Error {
        let code = match find_code(message) {
            Some(code) => code,
            // The engine reports these two without their JSONata codes.
            None if message.contains("Unclosed comment") => "S0106",
            None if message.starts_with("Invalid number") => "S0102",
            None => "D3000",
        }
        .to_owned();
        // Runaway evaluation, whether caught by depth or by time, is U1001.
        let code = if code == "D1011" || code == "D1012" || code == "U1003" {
            "U1001".to_owned()
        } else {
            code
        };
        Error {
            code,
            message: strip_kind(message).to_owned(),
        }
    }
}

/// How far an evaluation may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Nesting of evaluation (recursive calls, deep expressions).
    pub max_depth: usize,
    /// Wall-clock time for one evaluation, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 1_000,
            timeout_ms: 5_000,
        }
    }
}

/// The code of an [`Error`] for a result that is a function or a regular expression, which
/// has no JSON form (JSONata itself has no code for it).
pub const FUNCTION_RESULT: &str = "Cirrus.FunctionResult";

/// The longest expression accepted, in bytes.
const MAX_TEXT: usize = 64 * 1024;
/// Cached syntax trees per thread before the cache starts over.
const CACHE_SIZE: usize = 4_096;

thread_local! {
    static CACHE: RefCell<HashMap<Arc<str>, Rc<AstNode>>> = RefCell::new(HashMap::new());
}

/// A checked JSONata expression.
#[derive(Debug, Clone)]
pub struct Expression {
    text: Arc<str>,
    /// Whether it calls one of Step Functions' own functions, which then get registered.
    uses_step_functions: bool,
}

/// A value converted once into the engine's form, for evaluating several expressions
/// against the same input.
pub struct Data(JValue);

impl Data {
    pub fn new(value: &Value) -> Data {
        Data(JValue::from(value.clone()))
    }

    /// No input at all (JSONata's `undefined`).
    pub fn undefined() -> Data {
        Data(JValue::Undefined)
    }
}

const STEP_FUNCTIONS: [&str; 6] = [
    "$partition",
    "$range",
    "$hash",
    "$random",
    "$uuid",
    "$parse",
];

impl Expression {
    /// Parses `text`, reporting syntax errors with their codes.
    pub fn compile(text: &str) -> Result<Expression, Error> {
        if text.len() > MAX_TEXT {
            return Err(Error {
                code: "S0201".into(),
                message: format!("The expression is longer than {MAX_TEXT} bytes"),
            });
        }
        let text: Arc<str> = Arc::from(text);
        let ast = parse_guarded(&text)?;
        cache_insert(text.clone(), Rc::new(ast));
        let uses_step_functions = STEP_FUNCTIONS.iter().any(|f| text.contains(f));
        Ok(Expression {
            text,
            uses_step_functions,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates against `input` (`None`: no input at all, JSONata's `undefined`) with the
    /// variables in `bindings` (names without `$`). `Ok(None)` is an undefined result.
    pub fn eval(
        &self,
        input: Option<&Value>,
        bindings: &[(&str, &Value)],
        rng: &mut Rng,
        limits: Limits,
    ) -> Result<Option<Value>, Error> {
        let data = match input {
            Some(v) => Data::new(v),
            None => Data::undefined(),
        };
        let bindings: Vec<(&str, Data)> =
            bindings.iter().map(|(k, v)| (*k, Data::new(v))).collect();
        let bindings: Vec<(&str, &Data)> = bindings.iter().map(|(k, v)| (*k, v)).collect();
        self.eval_data(&data, &bindings, rng, limits)
    }

    /// As [`Expression::eval`], on an input and variables already converted with
    /// [`Data::new`], for evaluating several expressions against the same values.
    pub fn eval_data(
        &self,
        data: &Data,
        bindings: &[(&str, &Data)],
        rng: &mut Rng,
        limits: Limits,
    ) -> Result<Option<Value>, Error> {
        let ast = self.ast()?;
        let mut context = Context::new();
        for (name, value) in bindings {
            // Engine values share their contents, so this clone is cheap.
            context.bind((*name).to_owned(), value.0.clone());
        }
        // The time limit is kept by the deadline watchdog rather than by the engine's own
        // timeout, which reads the clock at every step of the evaluation.
        let deadline = deadline::Guard::start(limits.timeout_ms);
        let options = EvaluatorOptions {
            cancel: Some(deadline.token()),
            max_stack_depth: Some(limits.max_depth),
            ..EvaluatorOptions::default()
        };
        let mut evaluator = Evaluator::with_options(context, options);
        let shared_rng = Rc::new(RefCell::new(rng.clone()));
        if self.uses_step_functions {
            register_step_functions(&mut evaluator, &shared_rng)
                .map_err(|e| Error::from_message(e.message()))?;
        }
        let result = guarded(|| evaluator.evaluate(&ast, &data.0));
        drop(deadline);
        if self.uses_step_functions {
            *rng = shared_rng.borrow().clone();
        }
        let value = result?.map_err(|e| Error::from_message(e.message()))?;
        if value.is_undefined() {
            return Ok(None);
        }
        if value.is_function() || value.is_regex() {
            return Err(Error {
                code: FUNCTION_RESULT.into(),
                message: "The expression evaluated to a function".into(),
            });
        }
        to_json(&value).map(Some)
    }

    fn ast(&self) -> Result<Rc<AstNode>, Error> {
        if let Some(ast) = CACHE.with(|c| c.borrow().get(&self.text).cloned()) {
            return Ok(ast);
        }
        let ast = Rc::new(parse_guarded(&self.text)?);
        cache_insert(self.text.clone(), ast.clone());
        Ok(ast)
    }
}

fn cache_insert(text: Arc<str>, ast: Rc<AstNode>) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_SIZE {
            c.clear();
        }
        c.insert(text, ast);
    });
}

fn parse_guarded(text: &str) -> Result<AstNode, Error> {
    guarded(|| parser::parse(text))?.map_err(|e| Error::from_message(&e.to_string()))
}

/// Runs `f`, turning a panic inside the JSONata engine into an error rather than letting
/// hostile input take the process down.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| Error {
        code: "D3000".into(),
        message: "The JSONata engine failed on this expression".into(),
    })
}

/// The JSONata value as JSON: functions have no JSON form and become `""`, as in
/// jsonata-js's `JSON.stringify` of a result.
fn to_json(v: &JValue) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error {
        code: "D3000".into(),
        message: format!("The result cannot be written as JSON: {e}"),
    })
}

/// The first `X0000:`-style code in a message.
fn find_code(message: &str) -> Option<&str> {
    (0..message.len().saturating_sub(5))
        .filter(|&i| message.is_char_boundary(i))
        .find_map(|i| error_code_prefix(&message[i..]))
}

/// Drops the engine's "Invalid syntax: " style prefixes before the code.
fn strip_kind(message: &str) -> &str {
    match find_code(message) {
        Some(code) => message.find(code).map_or(message, |i| &message[i..]),
        None => message,
    }
}

/// Step Functions' own JSONata functions.
fn register_step_functions(
    ev: &mut Evaluator,
    rng: &Rc<RefCell<Rng>>,
) -> Result<(), EvaluatorError> {
    ev.register_fn("partition", |args: &[JValue]| {
        let (items, size) = (
            array(args, 0, "$partition")?,
            integer(args, 1, "$partition")?,
        );
        if size <= 0 {
            return Err(arg_error(
                "$partition",
                "the chunk size must be a positive integer",
            ));
        }
        Ok(JValue::array(
            items
                .chunks(size as usize)
                .map(|c| JValue::array(c.to_vec()))
                .collect(),
        ))
    })?;
    ev.register_fn("range", |args: &[JValue]| {
        let (start, end, step) = (
            integer(args, 0, "$range")?,
            integer(args, 1, "$range")?,
            integer(args, 2, "$range")?,
        );
        if step == 0 {
            return Err(arg_error("$range", "the step must not be 0"));
        }
        let count = if (step > 0 && end < start) || (step < 0 && end > start) {
            0
        } else {
            (i128::from(end) - i128::from(start)) / i128::from(step) + 1
        };
        if count > 1_000 {
            return Err(arg_error(
                "$range",
                "the range would have more than 1000 elements",
            ));
        }
        // A JSONata sequence of one value is that value.
        if count == 1 {
            return Ok(JValue::from(start));
        }
        Ok(JValue::array(
            (0..count as i64)
                .map(|k| JValue::from(start + k * step))
                .collect(),
        ))
    })?;
    ev.register_fn("hash", |args: &[JValue]| {
        let data = string(args, 0, "$hash")?;
        let algorithm = string(args, 1, "$hash")?;
        crate::intrinsic::hash(&algorithm, data.as_bytes())
            .map(JValue::from)
            .ok_or_else(|| {
                arg_error(
                    "$hash",
                    "the algorithm must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512",
                )
            })
    })?;
    ev.register_fn("parse", |args: &[JValue]| {
        let text = string(args, 0, "$parse")?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| arg_error("$parse", format!("the string is not valid JSON: {e}")))?;
        Ok(JValue::from(v))
    })?;
    let r = rng.clone();
    ev.register_fn("uuid", move |_: &[JValue]| {
        Ok(JValue::from(r.borrow_mut().uuid_v4()))
    })?;
    let r = rng.clone();
    ev.register_fn_override("random", move |args: &[JValue]| match args.first() {
        None => Ok(JValue::from(r.borrow_mut().next_f64())),
        Some(seed) => {
            let seed = seed
                .as_f64()
                .ok_or_else(|| arg_error("$random", "the seed must be a number"))?;
            Ok(JValue::from(Rng::from_seed(seed.to_bits()).next_f64()))
        }
    })?;
    Ok(())
}

fn arg_error(func: &str, message: impl std::fmt::Display) -> EvaluatorError {
    EvaluatorError::TypeError(format!("T0410: Argument of {func} is not valid: {message}"))
}

fn array<'a>(args: &'a [JValue], i: usize, func: &str) -> Result<&'a [JValue], EvaluatorError> {
    args.get(i)
        .and_then(JValue::as_array)
        .map(|a| a.as_slice())
        .ok_or_else(|| arg_error(func, format!("argument {} must be an array", i + 1)))
}

fn integer(args: &[JValue], i: usize, func: &str) -> Result<i64, EvaluatorError> {
    args.get(i)
        .and_then(JValue::as_f64)
        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
        .map(|f| f as i64)
        .ok_or_else(|| arg_error(func, format!("argument {} must be an integer", i + 1)))
}

fn string(args: &[JValue], i: usize, func: &str) -> Result<String, EvaluatorError> {
    args.get(i)
        .and_then(JValue::as_str)
        .map(str::to_owned)
        .ok_or_else(|| arg_error(func, format!("argument {} must be a string", i + 1)))
}

/// Deadlines for evaluations, kept by one background thread that cancels the evaluations
/// whose time is up (about every 5 ms), so that an evaluation pays two uncontended lock
/// operations instead of reading the clock at every step.
mod deadline {
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use jsonata_core::evaluator::CancelToken;

    type Pending = Vec<(u64, Instant, CancelToken)>;

    static PENDING: OnceLock<Mutex<Pending>> = OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    fn pending() -> &'static Mutex<Pending> {
        PENDING.get_or_init(|| {
            let spawned = std::thread::Builder::new()
                .name("jsonata-deadlines".into())
                .spawn(|| {
                    loop {
                        std::thread::sleep(Duration::from_millis(5));
                        let now = Instant::now();
                        if let Some(list) = PENDING.get() {
                            let list = list.lock().unwrap_or_else(|e| e.into_inner());
                            list.iter()
                                .filter(|(_, due, _)| *due <= now)
                                .for_each(|(_, _, t)| t.cancel());
                        }
                    }
                });
            // Without the thread, depth limits still hold; only the time limit is lost.
            drop(spawned);
            Mutex::new(Vec::new())
        })
    }

    /// One evaluation's deadline; dropping it forgets the deadline.
    pub struct Guard {
        id: u64,
        token: CancelToken,
    }

    impl Guard {
        pub fn start(timeout_ms: u64) -> Guard {
            let token = CancelToken::new();
            let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let due = Instant::now() + Duration::from_millis(timeout_ms.min(86_400_000));
            pending()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((id, due, token.clone()));
            Guard { id, token }
        }

        pub fn token(&self) -> CancelToken {
            self.token.clone()
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let mut list = pending().lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = list.iter().position(|(id, _, _)| *id == self.id) {
                list.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, input: Value) -> Result<Option<Value>, Error> {
        Expression::compile(expr)?.eval(
            Some(&input),
            &[],
            &mut Rng::from_seed(1),
            Limits::default(),
        )
    }

    #[test]
    fn evaluates_and_reports_undefined() {
        assert_eq!(
            eval("$sum(a) + 1", json!({"a": [1, 2]})).unwrap(),
            Some(json!(4))
        );
        assert_eq!(eval("nothing", json!({})).unwrap(), None);
        assert_eq!(
            eval("a.b", json!({"a": [{"b": 1}, {"b": 2}]})).unwrap(),
            Some(json!([1, 2]))
        );
    }

    #[test]
    fn errors_carry_codes() {
        assert_eq!(Expression::compile("1 +").unwrap_err().code, "S0207");
        assert_eq!(eval("1 + 'a'", json!({})).unwrap_err().code, "T2002");
        let runaway = "($f := function($n){$n + $f($n + 1)}; $f(0))";
        assert_eq!(eval(runaway, json!({})).unwrap_err().code, "U1001");
    }

    #[test]
    fn a_long_evaluation_stops_at_its_time_limit() {
        let e = Expression::compile("$count($map([1..3000000], function($x) { $x * 2 }))").unwrap();
        let limits = Limits {
            timeout_ms: 30,
            ..Limits::default()
        };
        let started = std::time::Instant::now();
        let err = e
            .eval(None, &[], &mut Rng::from_seed(1), limits)
            .unwrap_err();
        assert_eq!(err.code, "U1001", "{err:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn bindings_are_variables() {
        let e = Expression::compile("$x * 2").unwrap();
        let x = json!(21);
        assert_eq!(
            e.eval(
                None,
                &[("x", &x)],
                &mut Rng::from_seed(1),
                Limits::default()
            )
            .unwrap(),
            Some(json!(42))
        );
    }

    #[test]
    fn step_functions_functions() {
        assert_eq!(
            eval("$partition([1,2,3], 2)", json!({})).unwrap(),
            Some(json!([[1, 2], [3]]))
        );
        assert_eq!(
            eval("$range(0, 10, 5)", json!({})).unwrap(),
            Some(json!([0, 5, 10]))
        );
        assert_eq!(
            eval("$hash('input data', 'MD5')", json!({})).unwrap(),
            Some(json!("812f45842bc6d66ee14572ce20db8e86"))
        );
        assert_eq!(
            eval("$parse('{\"a\": 1}')", json!({})).unwrap(),
            Some(json!({"a": 1}))
        );
        assert_eq!(
            eval("$length($uuid())", json!({})).unwrap(),
            Some(json!(36))
        );
        let r = eval("$random()", json!({}))
            .unwrap()
            .and_then(|v| v.as_f64())
            .unwrap();
        assert!((0.0..1.0).contains(&r));
        assert_eq!(
            eval("$random(7)", json!({})).unwrap(),
            eval("$random(7)", json!({})).unwrap()
        );
    }
}
