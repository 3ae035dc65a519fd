//! JSONPath as Step Functions evaluates it, and what an expression reads.
//!
//! Step Functions runs an early Jayway JsonPath (the 2.0 line): its messages ("Missing
//! property in path ...", "Multi properties can only be used as path leafs: ...") and its
//! quirks show through (`$.a[-1]` fails, `$.a[(@.length-1)]` works, `&&` and `||` group
//! from the right). This module reproduces that engine in our own code:
//!
//! - [`compile`]: a path text into tokens (names, indices, slices, wildcards, `..`,
//!   filters), once, at definition time.
//! - [`eval`]: the tokens against a document. A *definite* path (names and single indices)
//!   yields its value, borrowed, without allocating; an indefinite one the array of its
//!   matches.
//! - [`filter`]: `[?(...)]` predicates and Jayway's loose comparisons (`'5' == 5`).
//! - [`result_path`]: `ResultPath`, placing a state's result into its input.
//!
//! Here: [`JsonPath`] (a compiled path from `$`), [`Reference`] (a path with its source:
//! `$...` the state input, `$$...` the context object, `$name...` a workflow variable),
//! [`Scope`] (the three sources as one evaluation sees them) and the error types, whose
//! texts are the ones AWS prints after `Invalid path '<path>' : `.

mod compile;
mod eval;
mod filter;
mod result_path;

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use compile::Token;
pub use result_path::ResultPath;

/// What an expression reads: `$` the state's effective input, `$$` the context object,
/// `$name` a workflow variable. In a JSONata state, `context` holds the `$states` object
/// (`input`, `context`, and `result` or `errorOutput` where they exist) instead, since
/// JSONata reads the context object through it.
pub struct Scope<'a> {
    pub input: &'a Value,
    pub context: &'a Value,
    pub variables: &'a dyn Variables,
}

/// Workflow variables visible to an evaluation.
pub trait Variables {
    fn get(&self, name: &str) -> Option<&Value>;
    /// Calls `f` once for every visible variable (an inner scope's first, shadowing).
    fn visit(&self, f: &mut dyn FnMut(&str, &Value));
}

/// No variables at all.
pub struct NoVariables;

impl Variables for NoVariables {
    fn get(&self, _: &str) -> Option<&Value> {
        None
    }
    fn visit(&self, _: &mut dyn FnMut(&str, &Value)) {}
}

impl Variables for Map<String, Value> {
    fn get(&self, name: &str) -> Option<&Value> {
        Map::get(self, name)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Value)) {
        self.iter().for_each(|(k, v)| f(k, v));
    }
}

impl Variables for HashMap<String, Value> {
    fn get(&self, name: &str) -> Option<&Value> {
        HashMap::get(self, name)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Value)) {
        self.iter().for_each(|(k, v)| f(k, v));
    }
}

/// The longest path text accepted.
pub const MAX_PATH_LEN: usize = 65_536;
/// The most tokens (names, indices, `..`, filters) a path may hold.
pub const MAX_SEGMENTS: usize = 256;

/// Why a path text is not a path. The texts follow Jayway's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathSyntaxError {
    #[error("a path must start with '$'")]
    NoRoot,
    #[error("the path is longer than {MAX_PATH_LEN} characters")]
    TooLong,
    #[error("the path has more than {MAX_SEGMENTS} segments")]
    TooManySegments,
    #[error("Space not allowed in path")]
    Space,
    #[error("A path can not end with a scan.")]
    EndsWithScan,
    /// A reference path (`ResultPath`) may only hold names and array indices.
    #[error("a reference path may only hold names and array indices")]
    NotDefinite,
    /// Anything else, with Jayway's text where it has one.
    #[error("{0}")]
    Invalid(String),
}

/// Why evaluating a path failed. `Display` is the text AWS prints after
/// `Invalid path '<path>' : `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The last name of a path is missing (the path as evaluated so far).
    #[error("No results for path: {0}")]
    NoResults(String),
    /// A name on the way is missing (the path up to it).
    #[error("Missing property in path {0}")]
    MissingProperty(String),
    /// A name was applied to something that is not an object.
    #[error("Property {property} not found in path {path}")]
    NotAnObject { property: String, path: String },
    /// An index past either end of an array (negative indices included).
    #[error("Index out of bounds when evaluating path {0}")]
    IndexOutOfBounds(String),
    /// An index or slice was applied to `null`.
    #[error("The path {0} is null")]
    Null(String),
    /// An index or slice was applied to something that is not an array.
    #[error("Filter: {segment} can only be applied to arrays. Current context is: {context}")]
    NotAnArray { segment: String, context: String },
    /// A filter was applied to a string, number or boolean.
    #[error("Filter: {segment} can not be applied to primitives. Current context is: {context}")]
    FilterOnPrimitive { segment: String, context: String },
    /// `['a', 'b']` followed by more segments.
    #[error("Multi properties can only be used as path leafs: {0}")]
    MultiPropertyNotLeaf(String),
    /// `$name` names no variable in scope.
    #[error("The variable '{0}' is not defined")]
    NoSuchVariable(String),
    /// A `ResultPath` goes through or into something that cannot hold the result.
    #[error("Unable to apply ReferencePath {path} to input {input}")]
    ResultPathMatch { path: String, input: String },
    /// The evaluation would visit or select more values than any payload can hold.
    #[error("The path {0} selects too many values")]
    TooComplex(String),
}

impl PathError {
    /// Jayway's `PathNotFoundException`s, which some constructs skip over (a wildcard over
    /// an array, a filter's comparison), as opposed to its other `InvalidPathException`s.
    fn is_not_found(&self) -> bool {
        matches!(
            self,
            PathError::NoResults(_)
                | PathError::MissingProperty(_)
                | PathError::NotAnObject { .. }
                | PathError::IndexOutOfBounds(_)
                | PathError::Null(_)
        )
    }
}

/// A compiled JSONPath starting at `$`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    tokens: Vec<Token>,
    /// The first token from which every token to the end is definite (`tokens.len()` if
    /// the last one is not). Jayway fails on a missing name only when the tokens before
    /// and after it are definite.
    definite_from: usize,
    /// Only names, single indices and `[(@.length-n)]`: evaluated without allocating.
    simple: bool,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, PathSyntaxError> {
        let tokens = compile::compile(text)?;
        let definite_from = tokens
            .iter()
            .rposition(|t| !t.is_definite())
            .map_or(0, |k| k + 1);
        let simple = tokens
            .iter()
            .all(|t| matches!(t, Token::Name(_) | Token::Index(_) | Token::FromEnd(_)));
        Ok(JsonPath {
            text: text.to_owned(),
            tokens,
            definite_from,
            simple,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Definite: names (a union of names too, which yields an object), single indices and
    /// `[(@.length-n)]`; no wildcard, slice, index list, `..` or filter. A definite path
    /// selects one value or fails; an indefinite one selects an array.
    pub fn is_definite(&self) -> bool {
        self.definite_from == 0
    }

    /// Definite path: the value (borrowed), or the error Jayway raises when it is absent.
    /// Indefinite path: an owned array of all matches (possibly empty).
    pub fn eval<'v>(&self, root: &'v Value) -> Result<Cow<'v, Value>, PathError> {
        if self.simple
            && let Some(v) = eval::simple(&self.tokens, root)
        {
            return Ok(Cow::Borrowed(v));
        }
        let found = eval::run(&self.tokens, self.definite_from, root, &self.text)?;
        if self.is_definite() {
            // A definite path yields exactly one result or fails on the way.
            let first = found.into_iter().next();
            return first
                .map(|v| Cow::Owned(v.into_owned()))
                .ok_or_else(|| PathError::NoResults(self.normalized()));
        }
        if !eval::affordable(&found) {
            return Err(PathError::TooComplex(self.text.clone()));
        }
        Ok(Cow::Owned(Value::Array(
            found.into_iter().map(Cow::into_owned).collect(),
        )))
    }

    /// Jayway's normalized form, as AWS prints it: `$['a']['b'][0]`.
    pub fn normalized(&self) -> String {
        let mut out = String::from("$");
        for t in &self.tokens {
            t.write_fragment(&mut out);
        }
        out
    }
}

/// Where a reference reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Input,
    Context,
    Variable(String),
}

/// A path with its source: `$.a` (input), `$$.Execution.Id` (context), `$var.a` (variable).
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    text: String,
    source: Source,
    path: JsonPath,
}

impl Reference {
    /// A variable name starts with a letter or `_` and goes on with letters, digits and
    /// `_`; what follows it must be a path (`.name`, `[...]`) or nothing.
    pub fn parse(text: &str) -> Result<Reference, PathSyntaxError> {
        if text.len() > MAX_PATH_LEN {
            return Err(PathSyntaxError::TooLong);
        }
        let (source, path) = if let Some(rest) = text.strip_prefix("$$") {
            (Source::Context, JsonPath::parse(&format!("${rest}"))?)
        } else if let Some(after) = text.strip_prefix('$') {
            let name_len = after
                .char_indices()
                .find(|&(i, c)| {
                    !(c == '_'
                        || if i == 0 {
                            c.is_alphabetic()
                        } else {
                            c.is_alphanumeric()
                        })
                })
                .map_or(after.len(), |(i, _)| i);
            if name_len == 0 {
                (Source::Input, JsonPath::parse(text)?)
            } else {
                let (name, rest) = after.split_at(name_len);
                (
                    Source::Variable(name.to_owned()),
                    JsonPath::parse(&format!("${rest}"))?,
                )
            }
        } else {
            return Err(PathSyntaxError::NoRoot);
        };
        Ok(Reference {
            text: text.to_owned(),
            source,
            path,
        })
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The part after the source, rooted at `$`.
    pub fn path(&self) -> &JsonPath {
        &self.path
    }

    /// The original text.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn eval<'v>(&self, scope: &Scope<'v>) -> Result<Cow<'v, Value>, PathError> {
        let root = match &self.source {
            Source::Input => scope.input,
            Source::Context => scope.context,
            Source::Variable(name) => scope
                .variables
                .get(name)
                .ok_or_else(|| PathError::NoSuchVariable(name.clone()))?,
        };
        self.path.eval(root)
    }
}

#[cfg(test)]
mod tests;
