//! Payload templates: the JSON objects of `Parameters`, `ResultSelector`, `ItemSelector` and
//! `Assign`, where a key ending in `.$` takes its value from a path (`$.x`, `$$.Execution.Id`,
//! `$var`) or an intrinsic call (`States.Format(...)`), and every other value is literal.
//!
//! In a JSONata state the same fields (`Arguments`, `Output`, `Assign`, `ItemSelector`, ...)
//! are JSONata templates instead: any string of the form `{% expression %}` is evaluated,
//! everything else is literal.
//!
//! A template is compiled once when the definition is loaded; evaluating it only copies the
//! literal parts and resolves the dynamic ones.

use serde_json::{Map, Value};

use crate::definition::fields::Diagnostics;
use crate::error::Failure;
use crate::error::names;
use crate::intrinsic::{self, Intrinsic};
use crate::jsonata::{Data, Expression, Limits};
use crate::path::{Reference, Scope};
use crate::random::Rng;

/// A compiled template.
#[derive(Debug)]
pub enum Template {
    /// A subtree without any `.$` key: copied as it is.
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    /// The value of a `key.$` field that is a path; `field` is the key with its `.$`.
    Path {
        field: String,
        path: Reference,
    },
    /// The value of a `key.$` field that is an intrinsic call.
    Intrinsic {
        field: String,
        call: Box<Intrinsic>,
    },
    /// A `{% ... %}` string of a JSONata template; `field` is where it stands, as AWS names
    /// it in causes (`Output/result`).
    Jsonata {
        field: String,
        expr: Expression,
    },
}

/// Depth beyond which a template is refused (definitions are at most 128 deep as JSON text).
const MAX_DEPTH: usize = 128;

impl Template {
    /// Compiles `value` found at `loc`. `what` names the field for messages ("Parameters").
    pub fn compile(value: &Value, loc: &str, d: &mut Diagnostics) -> Option<Template> {
        let before = d.errors.len();
        let t = compile(value, loc, 0, d);
        (d.errors.len() == before).then_some(t)
    }

    /// Compiles an object-valued field such as `Parameters`, which must be a JSON object.
    pub fn compile_object(value: &Value, loc: &str, d: &mut Diagnostics) -> Option<Template> {
        if !value.is_object() {
            d.schema("The value must be a JSON object", loc);
            return None;
        }
        Template::compile(value, loc, d)
    }

    /// Compiles a JSONata template found at `loc`; `field` names it in causes (`Output`).
    pub fn compile_jsonata(
        value: &Value,
        field: &str,
        loc: &str,
        d: &mut Diagnostics,
    ) -> Option<Template> {
        let before = d.errors.len();
        let t = compile_jsonata(value, field, loc, 0, d);
        (d.errors.len() == before).then_some(t)
    }

    pub fn eval(&self, scope: &Scope<'_>, rng: &mut Rng) -> Result<Value, Failure> {
        self.eval_in(scope, rng, &mut None)
    }

    /// `env` is built by the first JSONata expression met and shared by the others, so that
    /// the input, the variables and `$states` are converted once per template, not per field.
    fn eval_in(
        &self,
        scope: &Scope<'_>,
        rng: &mut Rng,
        env: &mut Option<JsonataEnv>,
    ) -> Result<Value, Failure> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (key, t) in fields {
                    out.insert(key.clone(), t.eval_in(scope, rng, env)?);
                }
                Ok(Value::Object(out))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.eval_in(scope, rng, env))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Path { field, path } => match path.eval(scope) {
                Ok(v) => Ok(v.into_owned()),
                Err(_) => Err(missing_path(field, path, scope)),
            },
            Template::Intrinsic { call, .. } => call.eval(scope, rng),
            Template::Jsonata { field, expr } => {
                let env = env.get_or_insert_with(|| JsonataEnv::new(scope));
                eval_jsonata(expr, field, env, rng)
            }
        }
    }

    /// Whether any path or intrinsic here reads the context object `$$`.
    pub fn uses_context(&self) -> bool {
        match self {
            Template::Literal(_) => false,
            Template::Object(fields) => fields.iter().any(|(_, t)| t.uses_context()),
            Template::Array(items) => items.iter().any(Template::uses_context),
            Template::Path { path, .. } => path.text().starts_with("$$"),
            Template::Intrinsic { call, .. } => call.uses_context(),
            Template::Jsonata { expr, .. } => expr.text().contains("context"),
        }
    }
}

/// AWS's cause when a `.$` path selects nothing.
pub fn missing_path(field: &str, path: &Reference, scope: &Scope<'_>) -> Failure {
    let text = path.text();
    let doc = if text.starts_with("$$") {
        scope.context
    } else {
        scope.input
    };
    Failure::runtime(format!(
        "The JSONPath '{text}' specified for the field '{field}' could not be found in the input '{}'",
        serde_json::to_string(doc).unwrap_or_default()
    ))
}

/// The expression inside a `{% ... %}` string, if it is one.
pub fn jsonata_text(s: &str) -> Option<&str> {
    s.strip_prefix("{%")?.strip_suffix("%}").map(str::trim)
}

/// What a JSONata state's expressions read, converted once: `$` is the state input,
/// `$states` the scope's `context` slot, and the workflow variables are bound by name.
struct JsonataEnv {
    input: Data,
    bindings: Vec<(String, Data)>,
}

impl JsonataEnv {
    fn new(scope: &Scope<'_>) -> JsonataEnv {
        let mut bindings = Vec::new();
        scope
            .variables
            .visit(&mut |k, v| bindings.push((k.to_owned(), Data::new(v))));
        bindings.push(("states".to_owned(), Data::new(scope.context)));
        JsonataEnv {
            input: Data::new(scope.input),
            bindings,
        }
    }
}

/// Evaluates one JSONata expression of a state, with AWS's causes for its failures.
fn eval_jsonata(
    expr: &Expression,
    field: &str,
    env: &JsonataEnv,
    rng: &mut Rng,
) -> Result<Value, Failure> {
    let bindings: Vec<(&str, &Data)> = env.bindings.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let text = expr.text();
    match expr.eval_data(&env.input, &bindings, rng, Limits::default()) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(Failure::new(
            names::QUERY_EVALUATION_ERROR,
            format!(
                "The JSONata expression '{text}' specified for the field '{field}' returned nothing (undefined)."
            ),
        )),
        Err(e) if e.code == crate::jsonata::FUNCTION_RESULT => Err(Failure::new(
            names::QUERY_EVALUATION_ERROR,
            format!(
                "The JSONata expression '{text}' specified for the field '{field}' returned an unsupported result type."
            ),
        )),
        Err(e) => Err(Failure::new(
            names::QUERY_EVALUATION_ERROR,
            format!(
                "The JSONata expression '{text}' specified for the field '{field}' threw an error during evaluation. {}",
                if e.message.starts_with(&e.code) {
                    e.message
                } else {
                    format!("{}: {}", e.code, e.message)
                }
            ),
        )),
    }
}

fn compile_jsonata(
    value: &Value,
    field: &str,
    loc: &str,
    depth: usize,
    d: &mut Diagnostics,
) -> Template {
    if depth > MAX_DEPTH {
        d.schema("The template is nested too deeply", loc);
        return Template::Literal(Value::Null);
    }
    match value {
        Value::String(s) => match jsonata_text(s) {
            Some(text) => match Expression::compile(text) {
                Ok(expr) => Template::Jsonata {
                    field: field.to_owned(),
                    expr,
                },
                Err(e) => {
                    d.schema(
                        format!(
                            "The JSONata expression '{text}' in '{field}' is not valid: {}",
                            e.message
                        ),
                        loc,
                    );
                    Template::Literal(Value::Null)
                }
            },
            None => Template::Literal(value.clone()),
        },
        Value::Object(map) if has_jsonata(value, 0) => Template::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        compile_jsonata(
                            v,
                            &format!("{field}/{k}"),
                            &format!("{loc}/{k}"),
                            depth + 1,
                            d,
                        ),
                    )
                })
                .collect(),
        ),
        Value::Array(items) if has_jsonata(value, 0) => Template::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    compile_jsonata(
                        v,
                        &format!("{field}[{i}]"),
                        &format!("{loc}[{i}]"),
                        depth + 1,
                        d,
                    )
                })
                .collect(),
        ),
        other => Template::Literal(other.clone()),
    }
}

fn has_jsonata(value: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match value {
        Value::String(s) => jsonata_text(s).is_some(),
        Value::Object(map) => map.values().any(|v| has_jsonata(v, depth + 1)),
        Value::Array(items) => items.iter().any(|v| has_jsonata(v, depth + 1)),
        _ => false,
    }
}

fn compile(value: &Value, loc: &str, depth: usize, d: &mut Diagnostics) -> Template {
    if depth > MAX_DEPTH {
        d.schema("The template is nested too deeply", loc);
        return Template::Literal(Value::Null);
    }
    if !has_dynamic(value, 0) {
        return Template::Literal(value.clone());
    }
    match value {
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (key, v) in map {
                let at = format!("{loc}/{key}");
                if let Some(name) = key.strip_suffix(".$") {
                    fields.push((name.to_owned(), compile_dynamic(key, v, &at, d)));
                } else {
                    fields.push((key.clone(), compile(v, &at, depth + 1, d)));
                }
            }
            Template::Object(fields)
        }
        Value::Array(items) => Template::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| compile(v, &format!("{loc}[{i}]"), depth + 1, d))
                .collect(),
        ),
        other => Template::Literal(other.clone()),
    }
}

fn compile_dynamic(key: &str, v: &Value, loc: &str, d: &mut Diagnostics) -> Template {
    let Value::String(text) = v else {
        d.schema(format!("The value for the field '{key}' must be a STRING that contains a JSONPath or an intrinsic function call"), loc);
        return Template::Literal(Value::Null);
    };
    if intrinsic::is_intrinsic(text) {
        match Intrinsic::parse(text) {
            Ok(call) => Template::Intrinsic {
                field: key.to_owned(),
                call: Box::new(call),
            },
            Err(e) => {
                d.schema(format!("The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call: {e}"), loc);
                Template::Literal(Value::Null)
            }
        }
    } else {
        match Reference::parse(text) {
            Ok(path) => Template::Path {
                field: key.to_owned(),
                path,
            },
            Err(e) => {
                d.schema(format!("The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call: {e}"), loc);
                Template::Literal(Value::Null)
            }
        }
    }
}

fn has_dynamic(value: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true; // let `compile` report it
    }
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.ends_with(".$") || has_dynamic(v, depth + 1)),
        Value::Array(items) => items.iter().any(|v| has_dynamic(v, depth + 1)),
        _ => false,
    }
}
