//! [`RuleSet`]: many patterns under keys, matched together.
//!
//! Most rules require an exact value somewhere (`"source": ["aws.ec2"]`). At insert, each
//! rule is filed under one such field (a path of object keys outside any `$or`, whose leaf
//! array holds only exact values): under each of its values, in a hash map for that path.
//! Of a rule's candidate fields, the one whose buckets are emptiest is chosen, so rules that
//! all share `source` spread over `detail-type` or a detail field instead. Matching an
//! event looks up the event's values at each indexed path, gathers those rules, and checks
//! each fully; rules with no exact constraint sit in a fallback list that is always checked.
//! A rule is a candidate only if the event has one of its required values, so the index
//! never hides a match.

use std::collections::HashMap;
use std::hash::Hash;

use serde_json::Value;

use super::leaf::{Exact, Leaf};
use super::{Field, Node, Pattern, any_element};

/// At most this many distinct paths are indexed; a rule whose only exact fields are on
/// other paths goes to the fallback list.
const MAX_INDEXED_PATHS: usize = 256;

/// Many compiled patterns under keys, matched together.
#[derive(Debug, Clone)]
pub struct RuleSet<K> {
    slots: Vec<Option<Entry<K>>>,
    free: Vec<u32>,
    by_key: HashMap<K, u32>,
    paths: Vec<PathIndex>,
    fallback: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Entry<K> {
    key: K,
    pattern: Pattern,
    /// Where the rule is filed: `None` for the fallback list.
    home: Option<(usize, Vec<ValueKey>)>,
}

/// An exact value as a hash key (numbers by the bits of their canonical `f64`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    String(String),
    Number(u64),
    Bool(bool),
    Null,
}

fn number_key(n: f64) -> u64 {
    // 0.0 and -0.0 are equal numbers; give them one key.
    if n == 0.0 { 0 } else { n.to_bits() }
}

impl ValueKey {
    fn of_exact(e: &Exact) -> ValueKey {
        match e {
            Exact::String(s) => ValueKey::String(s.clone()),
            Exact::Number(n) => ValueKey::Number(number_key(*n)),
            Exact::Bool(b) => ValueKey::Bool(*b),
            Exact::Null => ValueKey::Null,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct PathIndex {
    path: Vec<String>,
    strings: HashMap<String, Vec<u32>>,
    numbers: HashMap<u64, Vec<u32>>,
    trues: Vec<u32>,
    falses: Vec<u32>,
    nulls: Vec<u32>,
    rules: usize,
}

impl PathIndex {
    fn bucket(&self, key: &ValueKey) -> Option<&Vec<u32>> {
        match key {
            ValueKey::String(s) => self.strings.get(s),
            ValueKey::Number(n) => self.numbers.get(n),
            ValueKey::Bool(true) => Some(&self.trues),
            ValueKey::Bool(false) => Some(&self.falses),
            ValueKey::Null => Some(&self.nulls),
        }
    }

    fn bucket_mut(&mut self, key: &ValueKey) -> &mut Vec<u32> {
        match key {
            ValueKey::String(s) => self.strings.entry(s.clone()).or_default(),
            ValueKey::Number(n) => self.numbers.entry(*n).or_default(),
            ValueKey::Bool(true) => &mut self.trues,
            ValueKey::Bool(false) => &mut self.falses,
            ValueKey::Null => &mut self.nulls,
        }
    }

    fn remove(&mut self, key: &ValueKey, slot: u32) {
        let bucket = self.bucket_mut(key);
        bucket.retain(|&s| s != slot);
        if bucket.is_empty() {
            match key {
                ValueKey::String(s) => {
                    self.strings.remove(s);
                }
                ValueKey::Number(n) => {
                    self.numbers.remove(n);
                }
                _ => {}
            }
        }
    }

    /// Calls `f` with the rules filed under a leaf value of the event.
    fn rules_for(&self, value: &Value, f: &mut impl FnMut(&[u32])) {
        let bucket = match value {
            Value::String(s) => self.strings.get(s.as_str()),
            Value::Number(n) => n.as_f64().and_then(|n| self.numbers.get(&number_key(n))),
            Value::Bool(true) => Some(&self.trues),
            Value::Bool(false) => Some(&self.falses),
            Value::Null => Some(&self.nulls),
            _ => None,
        };
        if let Some(b) = bucket {
            f(b);
        }
    }
}

/// Calls `f` on every leaf of `value` at `path`, looking through arrays on the way.
fn leaves_at(value: &Value, path: &[String], f: &mut impl FnMut(&Value)) {
    any_element(value, |v| {
        match path.split_first() {
            None => f(v),
            Some((name, rest)) => {
                if let Some(child) = v.as_object().and_then(|o| o.get(name)) {
                    leaves_at(child, rest, f);
                }
            }
        }
        false
    });
}

/// The fields of `node` (not under `$or`) whose leaf arrays hold only exact values.
fn exact_fields<'p>(
    node: &'p Node,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'p [Leaf])>,
) {
    for (name, field) in &node.fields {
        prefix.push(name.clone());
        match field {
            Field::Leaf(leaves) if leaves.iter().all(|l| matches!(l, Leaf::Exact(_))) => {
                out.push((prefix.clone(), leaves));
            }
            Field::Leaf(_) => {}
            Field::Object(inner) => exact_fields(inner, prefix, out),
        }
        prefix.pop();
    }
}

impl<K> Default for RuleSet<K> {
    fn default() -> Self {
        RuleSet {
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            paths: Vec::new(),
            fallback: Vec::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> RuleSet<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the pattern under `key`.
    pub fn insert(&mut self, key: K, pattern: Pattern) {
        self.remove(&key);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let home = self.choose_home(&pattern);
        match &home {
            Some((p, values)) => {
                if let Some(index) = self.paths.get_mut(*p) {
                    index.rules += 1;
                    for v in values {
                        index.bucket_mut(v).push(slot);
                    }
                }
            }
            None => self.fallback.push(slot),
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(Entry {
                key: key.clone(),
                pattern,
                home,
            });
        }
        self.by_key.insert(key, slot);
    }

    /// The path (by index into `paths`, created if needed) and values to file `pattern`
    /// under, or `None` for the fallback list.
    fn choose_home(&mut self, pattern: &Pattern) -> Option<(usize, Vec<ValueKey>)> {
        let mut fields = Vec::new();
        exact_fields(pattern.root(), &mut Vec::new(), &mut fields);
        let mut best: Option<(usize, Option<usize>, &[String], Vec<ValueKey>)> = None;
        for (path, leaves) in &fields {
            let existing = self.paths.iter().position(|p| &p.path == path);
            if existing.is_none() && self.paths.len() >= MAX_INDEXED_PATHS {
                continue;
            }
            let mut keys: Vec<ValueKey> = leaves
                .iter()
                .filter_map(|l| match l {
                    Leaf::Exact(e) => Some(ValueKey::of_exact(e)),
                    _ => None,
                })
                .collect();
            keys.dedup();
            let cost: usize = keys
                .iter()
                .map(|k| {
                    1 + existing
                        .and_then(|p| self.paths.get(p))
                        .and_then(|p| p.bucket(k))
                        .map_or(0, Vec::len)
                })
                .sum();
            if best.as_ref().is_none_or(|(c, ..)| cost < *c) {
                best = Some((cost, existing, path, keys));
            }
        }
        let (_, existing, path, keys) = best?;
        let p = match existing {
            Some(p) => p,
            None => {
                self.paths.push(PathIndex {
                    path: path.to_vec(),
                    ..PathIndex::default()
                });
                self.paths.len() - 1
            }
        };
        Some((p, keys))
    }

    /// Removes the pattern under `key`; whether there was one.
    pub fn remove(&mut self, key: &K) -> bool {
        let Some(slot) = self.by_key.remove(key) else {
            return false;
        };
        let Some(entry) = self.slots.get_mut(slot as usize).and_then(Option::take) else {
            return false;
        };
        match entry.home {
            Some((p, values)) => {
                if let Some(index) = self.paths.get_mut(p) {
                    index.rules -= 1;
                    for v in &values {
                        index.remove(v, slot);
                    }
                }
            }
            None => self.fallback.retain(|&s| s != slot),
        }
        self.free.push(slot);
        true
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The pattern under `key`.
    pub fn get(&self, key: &K) -> Option<&Pattern> {
        let slot = self.by_key.get(key)?;
        self.slots.get(*slot as usize)?.as_ref().map(|e| &e.pattern)
    }

    /// The keys of every pattern `event` matches, each once, in no particular order.
    pub fn matching(&self, event: &Value) -> Vec<K> {
        let mut candidates: Vec<u32> = Vec::new();
        for index in &self.paths {
            if index.rules == 0 {
                continue;
            }
            leaves_at(event, &index.path, &mut |leaf| {
                index.rules_for(leaf, &mut |rules| candidates.extend_from_slice(rules));
            });
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .iter()
            .chain(self.fallback.iter())
            .filter_map(|&slot| self.slots.get(slot as usize)?.as_ref())
            .filter(|entry| entry.pattern.matches(event))
            .map(|entry| entry.key.clone())
            .collect()
    }
}
