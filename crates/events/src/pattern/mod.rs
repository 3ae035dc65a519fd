//! EventBridge event patterns: compiling a pattern's JSON into a [`Pattern`] (all the
//! validation, with errors that name the path), and matching one event against it.
//!
//! - this file: the compiled tree ([`Pattern`], its object nodes and fields) and the
//!   compiler from JSON, which checks every operator and the size limits;
//! - [`leaf`]: the comparisons on one leaf value of the event (exact values, `prefix`,
//!   `suffix`, `equals-ignore-case`, `wildcard`, `anything-but`, `numeric`, `cidr`);
//! - [`rule_set`]: [`RuleSet`], many patterns matched together through an index of the
//!   exact values they require.
//!
//! Semantics (EventBridge's, as documented for event buses and by Event Ruler):
//! - fields in an object are ANDed; the values in a leaf array are ORed;
//! - when the event's value is an array, a leaf matches if any element matches, and an
//!   object pattern matches if any one element matches all of it (array-consistent
//!   matching: fields from different elements are never combined);
//! - exact values are typed: the string `"5"` never matches the number `5`; numbers compare
//!   by value, so `5` matches `5.0` and `5e0`;
//! - `exists` looks at leaves only: an object is not a leaf, so `{"exists": false}` matches
//!   a field that is absent or holds an object;
//! - `$or` takes an array of two or more patterns, at any level;
//! - empty arrays, empty objects and an empty pattern are errors, as in EventBridge.
//!
//! One deviation: Event Ruler flattens a key containing a dot (`"a.b"`) into a path; here
//! keys are matched as written, by structure.

mod leaf;
pub(crate) mod rule_set;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use leaf::Leaf;
pub use rule_set::RuleSet;

/// How deep objects may nest in a pattern (`$or` alternatives count as a level).
pub const MAX_DEPTH: usize = 32;
/// How many fields, values and operators a pattern may hold in all.
pub const MAX_ITEMS: usize = 10_000;
/// The longest pattern text [`Pattern::parse`] accepts, in bytes.
pub const MAX_TEXT_LEN: usize = 1 << 20;

/// A pattern that cannot be compiled, with where in it the problem is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("event pattern: at {path}: {message}")]
pub struct PatternError {
    /// Dotted path into the pattern (`detail.price`), or `$` for the whole.
    pub path: String,
    pub message: String,
}

impl PatternError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> PatternError {
        PatternError {
            path: if path.is_empty() {
                "$".into()
            } else {
                path.into()
            },
            message: message.into(),
        }
    }
}

/// A compiled event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    root: Node,
}

/// An object level of a pattern: every field must match, and in each `$or` group at least
/// one alternative must.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) fields: Vec<(String, Field)>,
    pub(crate) ors: Vec<Vec<Node>>,
}

/// What a pattern says about one field of the event.
#[derive(Debug, Clone)]
pub(crate) enum Field {
    /// A nested object pattern.
    Object(Node),
    /// A leaf array: the field matches when any of these does.
    Leaf(Vec<Leaf>),
}

impl Pattern {
    /// Compiles a pattern from its JSON text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(PatternError::new(
                "",
                format!("the pattern is longer than {MAX_TEXT_LEN} bytes"),
            ));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PatternError::new("", format!("not valid JSON: {e}")))?;
        Pattern::from_value(&value)
    }

    /// Compiles a pattern from JSON.
    pub fn from_value(pattern: &Value) -> Result<Pattern, PatternError> {
        let Value::Object(object) = pattern else {
            return Err(PatternError::new("", "the pattern must be a JSON object"));
        };
        let mut compiler = Compiler { items: 0 };
        let root = compiler.node(object, "", 1)?;
        Ok(Pattern { root })
    }

    /// Whether `event` (an EventBridge-shaped event, [`crate::CloudEvent::to_eventbridge`])
    /// matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(Some(event))
    }

    pub(crate) fn root(&self) -> &Node {
        &self.root
    }
}

/// How many levels of arrays nested in arrays the matcher looks into; deeper elements are
/// ignored (no recursion on event input beyond this).
const MAX_EVENT_ARRAY_DEPTH: usize = 16;

/// Calls `f` on each value in `value` that is not an array: `value` itself, or the
/// elements of an array (and of arrays in it, to [`MAX_EVENT_ARRAY_DEPTH`]); stops when `f`
/// returns true, and returns whether it did.
pub(crate) fn any_element<'v>(value: &'v Value, mut f: impl FnMut(&'v Value) -> bool) -> bool {
    let Value::Array(top) = value else {
        return f(value);
    };
    let mut stack: Vec<std::slice::Iter<'v, Value>> = vec![top.iter()];
    while let Some(iter) = stack.last_mut() {
        match iter.next() {
            None => {
                stack.pop();
            }
            Some(Value::Array(inner)) => {
                if stack.len() < MAX_EVENT_ARRAY_DEPTH {
                    stack.push(inner.iter());
                }
            }
            Some(v) => {
                if f(v) {
                    return true;
                }
            }
        }
    }
    false
}

impl Node {
    /// Whether the event value at this level (`None`: absent) matches.
    pub(crate) fn matches(&self, value: Option<&Value>) -> bool {
        match value {
            Some(v @ Value::Array(_)) => any_element(v, |e| self.matches_one(e.as_object())),
            Some(Value::Object(o)) => self.matches_one(Some(o)),
            // A leaf or nothing: every field is absent.
            _ => self.matches_one(None),
        }
    }

    fn matches_one(&self, object: Option<&Map<String, Value>>) -> bool {
        self.fields.iter().all(|(name, field)| {
            let child = object.and_then(|o| o.get(name));
            field.matches(child)
        }) && self
            .ors
            .iter()
            .all(|alternatives| alternatives.iter().any(|n| n.matches_one(object)))
    }
}

impl Field {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Field::Object(node) => node.matches(value),
            Field::Leaf(leaves) => leaves.iter().any(|leaf| leaf.matches_field(value)),
        }
    }
}

/// Whether `value` is a leaf (not an object, not an array).
pub(crate) fn is_leaf(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

struct Compiler {
    items: usize,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

impl Compiler {
    fn count(&mut self, path: &str) -> Result<(), PatternError> {
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(PatternError::new(
                path,
                format!("the pattern is too large (more than {MAX_ITEMS} fields and values)"),
            ));
        }
        Ok(())
    }

    fn node(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Result<Node, PatternError> {
        if depth > MAX_DEPTH {
            return Err(PatternError::new(
                path,
                format!("the pattern nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        if object.is_empty() {
            return Err(PatternError::new(
                path,
                "empty objects are not allowed: name at least one field",
            ));
        }
        let mut node = Node {
            fields: Vec::new(),
            ors: Vec::new(),
        };
        for (name, value) in object {
            self.count(path)?;
            let here = join(path, name);
            if name == "$or"
                && let Value::Array(alternatives) = value
            {
                node.ors.push(self.or(alternatives, &here, depth)?);
                continue;
            }
            let field = match value {
                Value::Object(inner) => Field::Object(self.node(inner, &here, depth + 1)?),
                Value::Array(values) => Field::Leaf(self.leaves(values, &here)?),
                _ => {
                    return Err(PatternError::new(
                        &here,
                        "must be an object or an array of values (write [\"x\"], not \"x\")",
                    ));
                }
            };
            node.fields.push((name.clone(), field));
        }
        Ok(node)
    }

    fn or(
        &mut self,
        alternatives: &[Value],
        path: &str,
        depth: usize,
    ) -> Result<Vec<Node>, PatternError> {
        if alternatives.len() < 2 {
            return Err(PatternError::new(
                path,
                "$or needs an array of at least two patterns",
            ));
        }
        alternatives
            .iter()
            .enumerate()
            .map(|(i, alternative)| {
                let here = format!("{path}[{i}]");
                match alternative {
                    Value::Object(o) => self.node(o, &here, depth + 1),
                    _ => Err(PatternError::new(
                        &here,
                        "each alternative of $or must be an object (a pattern)",
                    )),
                }
            })
            .collect()
    }

    fn leaves(&mut self, values: &[Value], path: &str) -> Result<Vec<Leaf>, PatternError> {
        if values.is_empty() {
            return Err(PatternError::new(
                path,
                "empty arrays are not allowed: list at least one value",
            ));
        }
        values
            .iter()
            .map(|v| {
                self.count(path)?;
                Leaf::compile(v, path)
            })
            .collect()
    }
}
