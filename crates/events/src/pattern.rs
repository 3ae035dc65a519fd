//! EventBridge event patterns. (Interface; the implementation is being written.)

use serde_json::Value;

/// A pattern that cannot be compiled, with where in it the problem is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("event pattern: at {path}: {message}")]
pub struct PatternError {
    /// Dotted path into the pattern (`detail.price`), or `$` for the whole.
    pub path: String,
    pub message: String,
}

/// A compiled event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    _private: (),
}

impl Pattern {
    /// Compiles a pattern from its JSON text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let _ = text;
        todo!()
    }

    /// Compiles a pattern from JSON.
    pub fn from_value(pattern: &Value) -> Result<Pattern, PatternError> {
        let _ = pattern;
        todo!()
    }

    /// Whether `event` (an EventBridge-shaped event, [`crate::CloudEvent::to_eventbridge`])
    /// matches.
    pub fn matches(&self, event: &Value) -> bool {
        let _ = event;
        todo!()
    }
}

/// Many compiled patterns under keys, matched together.
#[derive(Debug, Clone)]
pub struct RuleSet<K> {
    rules: Vec<(K, Pattern)>,
}

impl<K> Default for RuleSet<K> {
    fn default() -> Self {
        RuleSet { rules: Vec::new() }
    }
}

impl<K: Clone + Eq + std::hash::Hash> RuleSet<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the pattern under `key`.
    pub fn insert(&mut self, key: K, pattern: Pattern) {
        self.remove(&key);
        self.rules.push((key, pattern));
    }

    /// Removes the pattern under `key`; whether there was one.
    pub fn remove(&mut self, key: &K) -> bool {
        let before = self.rules.len();
        self.rules.retain(|(k, _)| k != key);
        before != self.rules.len()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The keys of every pattern `event` matches, each once, in no particular order.
    pub fn matching(&self, event: &Value) -> Vec<K> {
        self.rules
            .iter()
            .filter(|(_, p)| p.matches(event))
            .map(|(k, _)| k.clone())
            .collect()
    }
}
