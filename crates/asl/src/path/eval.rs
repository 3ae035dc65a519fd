//! Evaluating compiled tokens against a document, as Jayway JsonPath 2.0 does.
//!
//! What decides the outcome, token by token (the path so far is always known, for the
//! messages):
//!
//! - A name on an object that lacks it: the last token fails with "No results for path";
//!   a token on the way fails with "Missing property in path" when the tokens before and
//!   after it are definite, and otherwise selects nothing. A name on anything but an
//!   object fails ("Property ['x'] not found in path ...").
//! - An index or slice on `null` or a non-array fails; an index out of bounds (negative
//!   included) fails, even inside an indefinite path, unless a wildcard over an array is
//!   above it: that wildcard skips elements that fail to match.
//! - `..` visits every object and array, pre-order; at each it applies the next token
//!   where that token can apply (a name on objects holding it, an index on arrays, a
//!   filter where it holds).
//! - A filter on an object tests the object; on an array each element; on anything else
//!   it fails.
//!
//! Recursive descent walks with an explicit stack, and every evaluation has a budget of
//! steps, so neither deep nor hostile documents exhaust the stack or the clock.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::PathError;
use super::compile::{Token, write_names};
use super::filter::Filter;

/// Steps (nodes visited plus values selected) one evaluation may take.
const BUDGET: usize = 1 << 22;

/// The fast path for names, single indices and `[(@.length-n)]`: the value, or `None`
/// when anything is off (the full evaluation then says why).
pub(super) fn simple<'v>(tokens: &[Token], root: &'v Value) -> Option<&'v Value> {
    let mut cur = root;
    for t in tokens {
        cur = match (t, cur) {
            (Token::Name(n), Value::Object(m)) => m.get(&**n)?,
            (Token::Index(i), Value::Array(a)) => a.get(usize::try_from(*i).ok()?)?,
            (Token::FromEnd(n), Value::Array(a)) => {
                let i = a.len() as i64 + i64::from(*n);
                a.get(usize::try_from(i).ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

/// Every match of `tokens` from `root`, in Jayway's order.
pub(super) fn run<'a>(
    tokens: &'a [Token],
    definite_from: usize,
    root: &'a Value,
    text: &str,
) -> Result<Vec<Cow<'a, Value>>, PathError> {
    let mut engine = Engine::new(tokens, definite_from, root);
    match engine.next(0, root) {
        Ok(()) => Ok(engine.out),
        Err(PathError::TooComplex(_)) => Err(PathError::TooComplex(text.to_owned())),
        Err(e) => Err(e),
    }
}

/// Whether copying `found` out stays within the budget (counting every value inside).
pub(super) fn affordable(found: &[Cow<'_, Value>]) -> bool {
    let mut left = BUDGET;
    let mut stack: Vec<&Value> = found.iter().map(|v| v.as_ref()).collect();
    while let Some(v) = stack.pop() {
        left = match left.checked_sub(1) {
            Some(l) => l,
            None => return false,
        };
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(m) => stack.extend(m.values()),
            _ => {}
        }
    }
    true
}

/// A definite path inside a filter (`@.a`, `$.b`): its value, `None` when Jayway would
/// raise "path not found" (which a filter treats as false), or an error that aborts the
/// whole evaluation.
pub(super) fn definite<'a>(
    tokens: &'a [Token],
    start: &'a Value,
) -> Result<Option<Cow<'a, Value>>, PathError> {
    if let Some(v) = simple(tokens, start) {
        return Ok(Some(Cow::Borrowed(v)));
    }
    let mut engine = Engine::new(tokens, 0, start);
    match engine.next(0, start) {
        Ok(()) => Ok(engine.out.into_iter().next()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// One step of the path to the current value.
#[derive(Clone, Copy)]
enum Crumb<'a> {
    Key(&'a str),
    Index(i64),
    Keys(&'a [Box<str>]),
}

struct Engine<'a> {
    tokens: &'a [Token],
    definite_from: usize,
    root: &'a Value,
    crumbs: Vec<Crumb<'a>>,
    out: Vec<Cow<'a, Value>>,
    budget: usize,
}

type Step = Result<(), PathError>;

impl<'a> Engine<'a> {
    fn new(tokens: &'a [Token], definite_from: usize, root: &'a Value) -> Engine<'a> {
        Engine {
            tokens,
            definite_from,
            root,
            crumbs: Vec::new(),
            out: Vec::new(),
            budget: BUDGET,
        }
    }

    fn spend(&mut self) -> Step {
        self.budget = self.budget.saturating_sub(1);
        if self.budget == 0 {
            return Err(PathError::TooComplex(String::new()));
        }
        Ok(())
    }

    /// Applies token `k` to `m`, or selects `m` past the last token.
    fn next(&mut self, k: usize, m: &'a Value) -> Step {
        self.spend()?;
        if k >= self.tokens.len() {
            self.out.push(Cow::Borrowed(m));
            return Ok(());
        }
        self.token(k, m)
    }

    /// `next(k, m)` with `crumb` appended to the path meanwhile.
    fn descend(&mut self, crumb: Crumb<'a>, k: usize, m: &'a Value) -> Step {
        let level = self.crumbs.len();
        self.crumbs.push(crumb);
        let r = self.next(k, m);
        self.crumbs.truncate(level);
        r
    }

    fn token(&mut self, k: usize, m: &'a Value) -> Step {
        let tokens = self.tokens;
        match &tokens[k] {
            Token::Name(n) => self.name(k, n, m),
            Token::Names(ns) => self.names(k, ns, m),
            Token::Index(i) => {
                let a = self.array(k, m)?;
                self.index(k, a, i64::from(*i))
            }
            Token::Indices(is) => {
                let a = self.array(k, m)?;
                is.iter().try_for_each(|i| self.index(k, a, i64::from(*i)))
            }
            Token::FromEnd(n) => {
                let a = self.array(k, m)?;
                self.index(k, a, a.len() as i64 + i64::from(*n))
            }
            Token::SliceFrom(from) => {
                let a = self.array(k, m)?;
                let len = a.len() as i64;
                let from = i64::from(*from);
                let from = if from < 0 { len + from } else { from }.max(0);
                (from..len).try_for_each(|i| self.index(k, a, i))
            }
            Token::SliceTo(to) => {
                let a = self.array(k, m)?;
                let len = a.len() as i64;
                let to = i64::from(*to);
                let to = if to < 0 { len + to } else { to }.min(len);
                (0..to).try_for_each(|i| self.index(k, a, i))
            }
            Token::SliceBetween(from, to) => {
                let a = self.array(k, m)?;
                let to = i64::from(*to).min(a.len() as i64);
                // Jayway does not count a negative start from the end here.
                (i64::from(*from)..to).try_for_each(|i| self.index(k, a, i))
            }
            Token::Wildcard => self.wildcard(k, m),
            Token::Scan => self.scan(k, m),
            Token::Filter(f) => self.filter(k, f, m),
        }
    }

    fn name(&mut self, k: usize, n: &'a str, m: &'a Value) -> Step {
        let Value::Object(map) = m else {
            return Err(self.not_an_object(k));
        };
        match map.get(n) {
            Some(v) => self.descend(Crumb::Key(n), k + 1, v),
            None if k + 1 == self.tokens.len() => {
                Err(PathError::NoResults(self.here_and(Crumb::Key(n))))
            }
            // Jayway's "upstream definite": this token, the one before it and every one
            // after it are definite.
            None if k.saturating_sub(1) >= self.definite_from => {
                Err(PathError::MissingProperty(self.here_and(Crumb::Key(n))))
            }
            None => Ok(()),
        }
    }

    /// `['a', 'b']`: an object of the members present, and only as the last token.
    fn names(&mut self, k: usize, ns: &'a [Box<str>], m: &'a Value) -> Step {
        let Value::Object(map) = m else {
            return Err(self.not_an_object(k));
        };
        if k + 1 < self.tokens.len() {
            return Err(PathError::MultiPropertyNotLeaf(
                self.here_and(Crumb::Keys(ns)),
            ));
        }
        let mut merged = Map::new();
        for n in ns {
            if let Some(v) = map.get(&**n) {
                merged.insert(n.to_string(), v.clone());
            }
        }
        self.spend()?;
        self.out.push(Cow::Owned(Value::Object(merged)));
        Ok(())
    }

    fn array(&self, k: usize, m: &'a Value) -> Result<&'a Vec<Value>, PathError> {
        match m {
            Value::Array(a) => Ok(a),
            Value::Null => Err(PathError::Null(self.here())),
            other => Err(PathError::NotAnArray {
                segment: self.tail(k),
                context: java_display(other),
            }),
        }
    }

    fn index(&mut self, k: usize, a: &'a [Value], i: i64) -> Step {
        match usize::try_from(i).ok().and_then(|u| a.get(u)) {
            Some(v) => self.descend(Crumb::Index(i), k + 1, v),
            None => Err(PathError::IndexOutOfBounds(self.here_and(Crumb::Index(i)))),
        }
    }

    fn wildcard(&mut self, k: usize, m: &'a Value) -> Step {
        match m {
            Value::Object(map) => map
                .iter()
                .try_for_each(|(key, v)| self.descend(Crumb::Key(key), k + 1, v)),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    match self.descend(Crumb::Index(i as i64), k + 1, v) {
                        Err(e) if e.is_not_found() => {}
                        other => other?,
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `..` then token `k + 1`, at `m` and every object and array below it.
    fn scan(&mut self, k: usize, m: &'a Value) -> Step {
        let pt = k + 1;
        if pt >= self.tokens.len() {
            return Ok(());
        }
        let leaf = pt + 1 == self.tokens.len();
        let base = self.crumbs.len();
        let mut stack: Vec<(&'a Value, usize, Option<Crumb<'a>>)> = vec![(m, base, None)];
        while let Some((node, level, crumb)) = stack.pop() {
            self.crumbs.truncate(level);
            if let Some(c) = crumb {
                self.crumbs.push(c);
            }
            self.spend()?;
            let here = self.crumbs.len();
            match node {
                Value::Object(map) => {
                    if self.scan_matches(pt, node)? {
                        self.token(pt, node)?;
                        self.crumbs.truncate(here);
                    }
                    for (key, child) in map.iter().rev() {
                        if child.is_object() || child.is_array() {
                            stack.push((child, here, Some(Crumb::Key(key))));
                        }
                    }
                }
                Value::Array(items) => {
                    if self.scan_matches(pt, node)? {
                        if leaf {
                            self.token(pt, node)?;
                        } else {
                            // Jayway applies the token *after* the scanned one to each
                            // element here.
                            for (i, item) in items.iter().enumerate() {
                                self.crumbs.push(Crumb::Index(i as i64));
                                let r = self.token(pt + 1, item);
                                self.crumbs.truncate(here);
                                r?;
                            }
                        }
                        self.crumbs.truncate(here);
                    }
                    for (i, child) in items.iter().enumerate().rev() {
                        if child.is_object() || child.is_array() {
                            stack.push((child, here, Some(Crumb::Index(i as i64))));
                        }
                    }
                }
                _ => {}
            }
        }
        self.crumbs.truncate(base);
        Ok(())
    }

    /// Whether `..` applies token `pt` at `node`.
    fn scan_matches(&self, pt: usize, node: &'a Value) -> Result<bool, PathError> {
        Ok(match &self.tokens[pt] {
            Token::Name(n) => node.as_object().is_some_and(|m| m.contains_key(&**n)),
            Token::Names(ns) => node
                .as_object()
                .is_some_and(|m| ns.iter().all(|n| m.contains_key(&**n))),
            Token::Index(_)
            | Token::Indices(_)
            | Token::FromEnd(_)
            | Token::SliceFrom(_)
            | Token::SliceTo(_)
            | Token::SliceBetween(..) => node.is_array(),
            Token::Wildcard => true,
            Token::Filter(f) => f.accept(node, self.root)?,
            Token::Scan => false,
        })
    }

    fn filter(&mut self, k: usize, f: &'a Filter, m: &'a Value) -> Step {
        match m {
            Value::Object(_) => {
                if f.accept(m, self.root)? {
                    self.next(k + 1, m)?;
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if f.accept(item, self.root)? {
                        self.index(k, items, i as i64)?;
                    }
                }
                Ok(())
            }
            other => Err(PathError::FilterOnPrimitive {
                segment: self.tail(k),
                context: java_display(other),
            }),
        }
    }

    fn not_an_object(&self, k: usize) -> PathError {
        let mut property = String::new();
        self.tokens[k].write_fragment(&mut property);
        PathError::NotAnObject {
            property,
            path: self.here(),
        }
    }

    /// The path evaluated so far, as Jayway prints it: `$['a'][0]`.
    fn here(&self) -> String {
        let mut out = String::from("$");
        for c in &self.crumbs {
            write_crumb(*c, &mut out);
        }
        out
    }

    fn here_and(&self, last: Crumb<'_>) -> String {
        let mut out = self.here();
        write_crumb(last, &mut out);
        out
    }

    /// Tokens `k..` as Jayway prints a token in messages (itself and what follows).
    fn tail(&self, k: usize) -> String {
        let mut out = String::new();
        for t in &self.tokens[k..] {
            t.write_fragment(&mut out);
        }
        out
    }
}

fn write_crumb(c: Crumb<'_>, out: &mut String) {
    match c {
        Crumb::Key(k) => {
            out.push_str("['");
            out.push_str(k);
            out.push_str("']");
        }
        Crumb::Index(i) => {
            out.push('[');
            out.push_str(&i.to_string());
            out.push(']');
        }
        Crumb::Keys(ks) => {
            out.push('[');
            write_names(ks, out);
            out.push(']');
        }
    }
}

/// A value as Java's `toString` shows it in Jayway's messages: strings bare, the rest as
/// compact JSON.
fn java_display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
