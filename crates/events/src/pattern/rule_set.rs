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
use std::hash::{BuildHasher, Hash, RandomState};

use serde_json::Value;

use super::leaf::{Exact, Leaf};
use super::{Field, Node, Pattern, any_element};

/// At most this many index groups (a path, or a pair of paths); a rule whose exact fields
/// fit no group goes to the fallback list.
const MAX_GROUPS: usize = 64;
/// A pair of fields is considered only when it expands to at most this many value pairs.
const MAX_PAIRS_PER_RULE: usize = 16;
/// When an event holds more value pairs than this at a group's two paths, the whole group
/// is checked instead of looked up.
const MAX_EVENT_PAIRS: usize = 4096;

/// Many compiled patterns under keys, matched together.
#[derive(Debug, Clone)]
pub struct RuleSet<K> {
    slots: Vec<Option<Entry<K>>>,
    free: Vec<u32>,
    by_key: HashMap<K, u32>,
    groups: Vec<Group>,
    fallback: Vec<u32>,
    /// Keyed per rule set, so that hostile values cannot be chosen to collide.
    hasher: RandomState,
}

#[derive(Debug, Clone)]
struct Entry<K> {
    key: K,
    pattern: Pattern,
    /// Where the rule is filed: `None` for the fallback list.
    home: Option<(usize, Vec<u64>)>,
}

/// Rules filed under the exact values they require at one path, or at a pair of paths.
/// Buckets are keyed by a fingerprint of the value (or pair); a collision only adds a
/// candidate, which the full check then rejects.
#[derive(Debug, Clone)]
struct Group {
    paths: Vec<Vec<String>>,
    buckets: HashMap<u64, Vec<u32>>,
    rules: usize,
}

/// A leaf value as it is fingerprinted (numbers by the bits of their canonical `f64`).
#[derive(Clone, Copy, Hash)]
enum LeafKey<'a> {
    String(&'a str),
    Number(u64),
    Bool(bool),
    Null,
}

fn number_key(n: f64) -> u64 {
    // 0.0 and -0.0 are equal numbers; give them one key.
    if n == 0.0 { 0 } else { n.to_bits() }
}

impl<'a> LeafKey<'a> {
    fn of_exact(e: &'a Exact) -> LeafKey<'a> {
        match e {
            Exact::String(s) => LeafKey::String(s),
            Exact::Number(n) => LeafKey::Number(number_key(*n)),
            Exact::Bool(b) => LeafKey::Bool(*b),
            Exact::Null => LeafKey::Null,
        }
    }

    fn of_value(v: &'a Value) -> Option<LeafKey<'a>> {
        Some(match v {
            Value::String(s) => LeafKey::String(s),
            Value::Number(n) => LeafKey::Number(number_key(n.as_f64()?)),
            Value::Bool(b) => LeafKey::Bool(*b),
            Value::Null => LeafKey::Null,
            _ => return None,
        })
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
    out: &mut Vec<(Vec<String>, Vec<&'p Exact>)>,
) {
    for (name, field) in &node.fields {
        prefix.push(name.clone());
        match field {
            Field::Leaf(leaves) => {
                let exact: Vec<&Exact> = leaves
                    .iter()
                    .filter_map(|l| match l {
                        Leaf::Exact(e) => Some(e),
                        _ => None,
                    })
                    .collect();
                if exact.len() == leaves.len() {
                    out.push((prefix.clone(), exact));
                }
            }
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
            groups: Vec::new(),
            fallback: Vec::new(),
            hasher: RandomState::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> RuleSet<K> {
    pub fn new() -> Self {
        Self::default()
    }

    fn fingerprint(&self, keys: &[LeafKey<'_>]) -> u64 {
        self.hasher.hash_one(keys)
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
            Some((g, fingerprints)) => {
                if let Some(group) = self.groups.get_mut(*g) {
                    group.rules += 1;
                    for f in fingerprints {
                        group.buckets.entry(*f).or_default().push(slot);
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

    /// The group (by index into `groups`, created if needed) and fingerprints to file
    /// `pattern` under, or `None` for the fallback list: of the single fields and pairs of
    /// fields the rule requires exact values on, the one whose buckets hold fewest rules
    /// (a new group counts one more, so that few groups serve small sets).
    fn choose_home(&mut self, pattern: &Pattern) -> Option<(usize, Vec<u64>)> {
        let mut fields = Vec::new();
        exact_fields(pattern.root(), &mut Vec::new(), &mut fields);
        let mut options: Vec<(Vec<Vec<String>>, Vec<u64>)> = Vec::new();
        for (i, (path, values)) in fields.iter().enumerate() {
            let mut prints: Vec<u64> = values
                .iter()
                .map(|e| self.fingerprint(&[LeafKey::of_exact(e)]))
                .collect();
            prints.sort_unstable();
            prints.dedup();
            options.push((vec![path.clone()], prints));
            for (other, other_values) in fields.iter().skip(i + 1) {
                if values.len() * other_values.len() > MAX_PAIRS_PER_RULE {
                    continue;
                }
                let mut prints = Vec::new();
                for a in values {
                    for b in other_values {
                        prints
                            .push(self.fingerprint(&[LeafKey::of_exact(a), LeafKey::of_exact(b)]));
                    }
                }
                prints.sort_unstable();
                prints.dedup();
                options.push((vec![path.clone(), other.clone()], prints));
            }
        }
        let mut best: Option<(usize, Option<usize>, usize)> = None;
        for (o, (paths, prints)) in options.iter().enumerate() {
            let existing = self.groups.iter().position(|g| &g.paths == paths);
            if existing.is_none() && self.groups.len() >= MAX_GROUPS {
                continue;
            }
            let cost: usize = match existing.and_then(|g| self.groups.get(g)) {
                Some(group) => prints
                    .iter()
                    .map(|p| 1 + group.buckets.get(p).map_or(0, Vec::len))
                    .sum(),
                None => prints.len() + 1,
            };
            if best.is_none_or(|(c, ..)| cost < c) {
                best = Some((cost, existing, o));
            }
        }
        let (_, existing, o) = best?;
        let (paths, prints) = options.swap_remove(o);
        let g = match existing {
            Some(g) => g,
            None => {
                self.groups.push(Group {
                    paths,
                    buckets: HashMap::new(),
                    rules: 0,
                });
                self.groups.len() - 1
            }
        };
        Some((g, prints))
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
            Some((g, prints)) => {
                if let Some(group) = self.groups.get_mut(g) {
                    group.rules -= 1;
                    for p in &prints {
                        if let Some(bucket) = group.buckets.get_mut(p) {
                            bucket.retain(|&s| s != slot);
                            if bucket.is_empty() {
                                group.buckets.remove(p);
                            }
                        }
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

    /// Adds to `out` the rules of `group` that `event` may match.
    fn candidates(&self, group: &Group, event: &Value, out: &mut Vec<u32>) {
        let mut take = |print: u64| {
            if let Some(rules) = group.buckets.get(&print) {
                out.extend_from_slice(rules);
            }
        };
        match group.paths.as_slice() {
            [path] => leaves_at(event, path, &mut |leaf| {
                if let Some(k) = LeafKey::of_value(leaf) {
                    take(self.fingerprint(&[k]));
                }
            }),
            [first, second] => {
                let mut a: Vec<&Value> = Vec::new();
                let mut b: Vec<&Value> = Vec::new();
                collect_leaves(event, first, &mut a);
                collect_leaves(event, second, &mut b);
                if a.len().saturating_mul(b.len()) > MAX_EVENT_PAIRS {
                    // Too many pairs to look up: every rule of the group is a candidate.
                    for rules in group.buckets.values() {
                        out.extend_from_slice(rules);
                    }
                    return;
                }
                for x in a.iter().filter_map(|v| LeafKey::of_value(v)) {
                    for y in b.iter().filter_map(|v| LeafKey::of_value(v)) {
                        take(self.fingerprint(&[x, y]));
                    }
                }
            }
            _ => {}
        }
    }

    /// The keys of every pattern `event` matches, each once, in no particular order.
    pub fn matching(&self, event: &Value) -> Vec<K> {
        let mut candidates: Vec<u32> = Vec::new();
        for group in &self.groups {
            if group.rules > 0 {
                self.candidates(group, event, &mut candidates);
            }
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

fn collect_leaves<'v>(event: &'v Value, path: &[String], out: &mut Vec<&'v Value>) {
    fn walk<'v>(value: &'v Value, path: &[String], out: &mut Vec<&'v Value>) {
        any_element(value, |v| {
            match path.split_first() {
                None => out.push(v),
                Some((name, rest)) => {
                    if let Some(child) = v.as_object().and_then(|o| o.get(name)) {
                        walk(child, rest, out);
                    }
                }
            }
            false
        });
    }
    walk(event, path, out);
}
