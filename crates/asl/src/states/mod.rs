//! The states of a state machine: the typed model each state's JSON becomes, one file per
//! state type, and the input/output fields they share (`InputPath`, `OutputPath`,
//! `ResultPath`, `Assign`).

pub mod choice;
pub mod fail;
pub mod map;
pub mod parallel;
pub mod pass;
pub mod task;
pub mod wait;

use serde_json::Value;

use crate::definition::fields::{Diagnostics, Fields};
use crate::definition::{GraphBuilder, QueryLanguage};
use crate::path::{Reference, ResultPath};
use crate::payload::Template;

/// Index of a state within its graph.
pub type StateId = u32;

/// One state of a graph.
#[derive(Debug)]
pub struct State {
    pub name: String,
    pub kind: StateKind,
    pub input_path: PathSpec,
    pub output_path: PathSpec,
    pub assign: Option<Template>,
    /// Whether the state is written in JSONata (else JSONPath).
    pub jsonata: bool,
    /// JSONata's `Output`: the state output, from `$states.input` (and `$states.result`).
    pub output: Option<Template>,
    /// The state to go to next; `None` for an `End` state and for states that choose
    /// (Choice) or stop (Succeed, Fail).
    pub next: Option<StateId>,
    /// Whether any expression of this state reads the context object `$$`, so that the
    /// interpreter builds it only for the states that need it.
    pub uses_context: bool,
}

#[derive(Debug)]
pub enum StateKind {
    Pass(pass::Pass),
    Task(Box<task::Task>),
    Choice(choice::Choice),
    Wait(wait::Wait),
    Succeed,
    Fail(fail::Fail),
    Parallel(Box<parallel::Parallel>),
    Map(Box<map::Map>),
}

impl StateKind {
    /// The prefix of this state's history event types (`Pass` in `PassStateEntered`).
    pub fn event_prefix(&self) -> &'static str {
        match self {
            StateKind::Pass(_) => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice(_) => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail(_) => "Fail",
            StateKind::Parallel(_) => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }
}

/// `InputPath` or `OutputPath`.
#[derive(Debug)]
pub enum PathSpec {
    /// Absent or `"$"`: the whole value.
    Whole,
    /// `null`: an empty object.
    Null,
    Path(Reference),
}

impl PathSpec {
    pub fn parse(f: &Fields<'_>, key: &str, d: &mut Diagnostics) -> PathSpec {
        match f.get(key) {
            None => PathSpec::Whole,
            Some(Value::Null) => PathSpec::Null,
            Some(Value::String(s)) if s == "$" => PathSpec::Whole,
            Some(Value::String(s)) => match Reference::parse(s) {
                Ok(r) => PathSpec::Path(r),
                Err(e) => {
                    d.schema(
                        format!("The value for the field '{key}' must be a valid JSONPath: {e}"),
                        f.at(key),
                    );
                    PathSpec::Whole
                }
            },
            Some(_) => {
                d.schema(
                    format!("The value for the field '{key}' must be a JSONPath string or null"),
                    f.at(key),
                );
                PathSpec::Whole
            }
        }
    }
}

/// `ResultPath`.
#[derive(Debug)]
pub enum ResultSpec {
    /// Absent or `"$"`: the result replaces the input.
    Whole,
    /// `null`: the result is discarded and the input passes through.
    Discard,
    Path(ResultPath),
}

impl ResultSpec {
    pub fn parse(f: &Fields<'_>, d: &mut Diagnostics) -> ResultSpec {
        match f.get("ResultPath") {
            None => ResultSpec::Whole,
            Some(Value::Null) => ResultSpec::Discard,
            Some(Value::String(s)) if s == "$" => ResultSpec::Whole,
            Some(Value::String(s)) => match ResultPath::parse(s) {
                Ok(p) => ResultSpec::Path(p),
                Err(e) => {
                    d.schema(format!("The value for the field 'ResultPath' must be a valid reference path: {e}"), f.at("ResultPath"));
                    ResultSpec::Whole
                }
            },
            Some(_) => {
                d.schema(
                    "The value for the field 'ResultPath' must be a reference path string or null",
                    f.at("ResultPath"),
                );
                ResultSpec::Whole
            }
        }
    }
}

/// A number of seconds given literally or by a reference path (`TimeoutSeconds` /
/// `TimeoutSecondsPath`, `HeartbeatSeconds`, `MaxConcurrency`, ...).
#[derive(Debug)]
pub enum Amount {
    Fixed(u64),
    Path(Reference),
    /// JSONata: a `{% %}` expression that must evaluate to a whole number.
    Expr(Template),
}

impl Amount {
    /// Reads `key` of a JSONata state: a whole number in range, or a `{% %}` expression.
    pub fn parse_jsonata(
        f: &Fields<'_>,
        key: &str,
        max: u64,
        allow_zero: bool,
        d: &mut Diagnostics,
    ) -> Option<Amount> {
        match f.get(key)? {
            Value::String(s) if crate::payload::jsonata_text(s).is_some() => {
                jsonata_value(f, key, d).map(Amount::Expr)
            }
            _ => Amount::literal(f, key, max, allow_zero, d),
        }
    }

    /// A literal whole number in `1..=max` (or `0..=max` when `allow_zero`).
    fn literal(
        f: &Fields<'_>,
        key: &str,
        max: u64,
        allow_zero: bool,
        d: &mut Diagnostics,
    ) -> Option<Amount> {
        let n = f.uint(key, max, d)?;
        if n == 0 && !allow_zero {
            d.schema(
                format!("The value of '{key}' must be a positive integer"),
                f.at(key),
            );
            return None;
        }
        Some(Amount::Fixed(n))
    }

    /// Reads `key` or `key_path` (at most one of them), with literal values in `1..=max`
    /// (or `0..=max` when `allow_zero`).
    pub fn parse(
        f: &Fields<'_>,
        key: &str,
        key_path: &str,
        max: u64,
        allow_zero: bool,
        d: &mut Diagnostics,
    ) -> Option<Amount> {
        if !f.exclusive(key, key_path, d) {
            return None;
        }
        if f.has(key) {
            return Amount::literal(f, key, max, allow_zero, d);
        }
        let text = f.str(key_path, d)?;
        match Reference::parse(text) {
            Ok(r) => Some(Amount::Path(r)),
            Err(e) => {
                d.schema(
                    format!(
                        "The value for the field '{key_path}' must be a valid reference path: {e}"
                    ),
                    f.at(key_path),
                );
                None
            }
        }
    }
}

/// The fields every JSONPath-mode state may carry, by state type.
const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];

/// The fields a JSONata-mode state may carry, by state type.
pub(crate) fn allowed_jsonata_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pass" => &["Next", "End", "Output", "Assign"],
        "Task" => &[
            "Next",
            "End",
            "Arguments",
            "Output",
            "Assign",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "HeartbeatSeconds",
            "Credentials",
        ],
        "Choice" => &["Choices", "Default", "Output", "Assign"],
        "Wait" => &["Next", "End", "Seconds", "Timestamp", "Output", "Assign"],
        "Succeed" => &["Output"],
        "Fail" => &["Error", "Cause"],
        "Parallel" => &[
            "Next",
            "End",
            "Arguments",
            "Output",
            "Assign",
            "Retry",
            "Catch",
            "Branches",
        ],
        "Map" => &[
            "Next",
            "End",
            "Items",
            "ItemSelector",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "ToleratedFailureCount",
            "ToleratedFailurePercentage",
            "Output",
            "Assign",
            "Retry",
            "Catch",
            "ItemReader",
            "ResultWriter",
            "ItemBatcher",
            "Label",
        ],
        _ => return None,
    })
}

pub(crate) fn allowed_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pass" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "Result",
            "ResultPath",
            "Assign",
        ],
        "Task" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
            "Assign",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default", "Assign"],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
            "Assign",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Branches",
            "Assign",
        ],
        "Map" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            "ItemReader",
            "ResultWriter",
            "ItemBatcher",
            "Label",
            "Assign",
        ],
        _ => return None,
    })
}

/// Parses one state named `name` from its JSON object at `loc`.
pub(crate) fn parse_state(
    name: &str,
    value: &Value,
    loc: &str,
    b: &mut GraphBuilder<'_>,
) -> Option<State> {
    let Value::Object(map) = value else {
        b.d.schema("A state must be a JSON object", loc);
        return None;
    };
    let f = Fields::new(map, loc);
    let kind_name = f.required_str("Type", b.d)?;
    let language = match f.str("QueryLanguage", b.d) {
        Some(ql) => b.check_query_language(ql, &f.at("QueryLanguage"))?,
        None => b.language,
    };
    let jsonata = language == QueryLanguage::Jsonata;
    let allowed = if jsonata {
        allowed_jsonata_fields(kind_name)
    } else {
        allowed_fields(kind_name)
    };
    let Some(allowed) = allowed else {
        b.d.schema(
            format!("The value '{kind_name}' is not a valid state type"),
            f.at("Type"),
        );
        return None;
    };
    let all: Vec<&str> = COMMON.iter().chain(allowed.iter()).copied().collect();
    let what = format!(
        "a {kind_name} state in {}",
        if jsonata { "JSONata" } else { "JSONPath" }
    );
    f.only(&all, &what, b.d);
    let _ = f.str("Comment", b.d);

    let has_transition = allowed.contains(&"Next");
    let next = if has_transition {
        parse_transition(&f, b)
    } else {
        None
    };
    let kind = match kind_name {
        "Pass" => StateKind::Pass(pass::Pass::parse(&f, b.d)),
        "Task" => StateKind::Task(Box::new(task::Task::parse(&f, b, jsonata)?)),
        "Choice" => StateKind::Choice(choice::Choice::parse(&f, b, jsonata)?),
        "Wait" => StateKind::Wait(wait::Wait::parse(&f, b.d, jsonata)?),
        "Succeed" => StateKind::Succeed,
        "Fail" => StateKind::Fail(fail::Fail::parse(&f, b.d, jsonata)),
        "Parallel" => StateKind::Parallel(Box::new(parallel::Parallel::parse(&f, b, jsonata)?)),
        "Map" => StateKind::Map(Box::new(map::Map::parse(&f, b, jsonata)?)),
        _ => return None,
    };
    let assign = f
        .get("Assign")
        .and_then(|v| compile_assign(v, &f.at("Assign"), jsonata, b.d));
    let output = f
        .get("Output")
        .and_then(|v| Template::compile_jsonata(v, "Output", &f.at("Output"), b.d));
    Some(State {
        name: name.to_owned(),
        input_path: PathSpec::parse(&f, "InputPath", b.d),
        output_path: PathSpec::parse(&f, "OutputPath", b.d),
        assign,
        jsonata,
        output,
        next,
        uses_context: if jsonata {
            value.to_string().contains("context")
        } else {
            reads_context(value)
        },
        kind,
    })
}

/// `Assign`: an object whose values are templates of the state's language.
pub(crate) fn compile_assign(
    v: &Value,
    loc: &str,
    jsonata: bool,
    d: &mut Diagnostics,
) -> Option<Template> {
    if !jsonata {
        return Template::compile_object(v, loc, d);
    }
    if !v.is_object() {
        d.schema("The value must be a JSON object", loc);
        return None;
    }
    Template::compile_jsonata(v, "Assign", loc, d)
}

/// A value of a JSONata state's field that is either literal or a `{% %}` expression.
pub(crate) fn jsonata_value(f: &Fields<'_>, key: &str, d: &mut Diagnostics) -> Option<Template> {
    f.get(key)
        .and_then(|v| Template::compile_jsonata(v, key, &f.at(key), d))
}

/// `Next` or `End: true`, exactly one of them.
fn parse_transition(f: &Fields<'_>, b: &mut GraphBuilder<'_>) -> Option<StateId> {
    let end = f.bool("End", b.d).unwrap_or(false);
    match (f.get("Next"), end) {
        (Some(_), true) => {
            b.d.schema(
                "The fields 'Next' and 'End' are mutually exclusive",
                f.loc.clone(),
            );
            None
        }
        (Some(_), false) => {
            let name = f.str("Next", b.d)?;
            b.resolve(name, f.at("Next"))
        }
        (None, true) => None,
        (None, false) => {
            b.d.schema(
                "This state must have either 'Next' or 'End': true",
                f.loc.clone(),
            );
            None
        }
    }
}

/// Whether any string in this state (outside nested graphs) mentions `$$`.
fn reads_context(value: &Value) -> bool {
    fn walk(v: &Value, depth: usize) -> bool {
        if depth > 256 {
            return true;
        }
        match v {
            Value::String(s) => s.contains("$$"),
            Value::Array(a) => a.iter().any(|x| walk(x, depth + 1)),
            Value::Object(o) => o.iter().any(|(k, x)| {
                !matches!(k.as_str(), "Branches" | "ItemProcessor" | "Iterator")
                    && walk(x, depth + 1)
            }),
            _ => false,
        }
    }
    walk(value, 0)
}
