//! A state machine definition: parsing the JSON text into a typed [`StateMachine`] and
//! validating it as strictly as Step Functions does. Every problem found is reported with
//! AWS's diagnostic code and the location in the definition; a definition that parses is
//! one the interpreter can run without re-checking anything.

pub mod fields;

use std::collections::HashMap;

use serde_json::Value;

use crate::error::ValidationError;
use crate::states::{State, StateId, StateKind, parse_state};
use fields::{Diagnostics, Fields, codes};

/// Index of a graph (the top level, a Parallel branch or a Map processor) in its machine.
pub type GraphId = u32;

/// The query language of a definition or state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    JsonPath,
    Jsonata,
}

/// A `StartAt` + `States` block: the top level, a Parallel branch or a Map item processor.
#[derive(Debug)]
pub struct Graph {
    pub start_at: StateId,
    pub states: Vec<State>,
}

impl Graph {
    pub fn state(&self, id: StateId) -> &State {
        &self.states[id as usize]
    }
}

/// A parsed, valid state machine.
#[derive(Debug)]
pub struct StateMachine {
    pub comment: Option<String>,
    /// The execution's time limit (`TimeoutSeconds` at the top level).
    pub timeout_seconds: Option<u64>,
    graphs: Vec<Graph>,
}

/// The largest definition accepted, in bytes (AWS's limit is 1 MB).
pub const MAX_DEFINITION_BYTES: usize = 1024 * 1024;

/// The graph id of the top level.
pub const ROOT: GraphId = 0;

impl StateMachine {
    /// Parses and validates a definition given as JSON text.
    pub fn parse(text: &str) -> Result<StateMachine, Vec<ValidationError>> {
        if text.len() > MAX_DEFINITION_BYTES {
            return Err(vec![ValidationError::new(
                codes::SCHEMA,
                format!(
                    "The definition is {} bytes, more than the limit of {MAX_DEFINITION_BYTES}",
                    text.len()
                ),
                "/",
            )]);
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            vec![ValidationError::new(
                codes::INVALID_JSON,
                format!("The definition is not valid JSON: {e}"),
                format!("line {}, column {}", e.line(), e.column()),
            )]
        })?;
        StateMachine::from_value(&value)
    }

    /// Parses and validates a definition given as a JSON value.
    pub fn from_value(value: &Value) -> Result<StateMachine, Vec<ValidationError>> {
        let mut d = Diagnostics::default();
        let Value::Object(map) = value else {
            d.schema("The definition must be a JSON object", "/");
            return Err(d.errors);
        };
        let f = Fields::new(map, "");
        f.only(
            &[
                "Comment",
                "StartAt",
                "States",
                "TimeoutSeconds",
                "Version",
                "QueryLanguage",
            ],
            "a state machine",
            &mut d,
        );
        let comment = f.str("Comment", &mut d).map(str::to_owned);
        let timeout_seconds = f.uint("TimeoutSeconds", 99_999_999, &mut d);
        if timeout_seconds == Some(0) {
            d.schema(
                "TimeoutSeconds must be a positive integer",
                "/TimeoutSeconds",
            );
        }
        if let Some(v) = f.str("Version", &mut d)
            && v != "1.0"
        {
            d.schema(
                format!("The version '{v}' is not supported; use \"1.0\""),
                "/Version",
            );
        }
        let mut graphs = Vec::new();
        let mut b = GraphBuilder {
            graphs: &mut graphs,
            d: &mut d,
            names: HashMap::new(),
            language: QueryLanguage::JsonPath,
        };
        if let Some(ql) = f.str("QueryLanguage", b.d) {
            b.language = b
                .check_query_language(ql, "/QueryLanguage")
                .unwrap_or(QueryLanguage::JsonPath);
        }
        b.graph(map, "", None);
        if d.errors.is_empty() {
            Ok(StateMachine {
                comment,
                timeout_seconds,
                graphs,
            })
        } else {
            Err(d.errors)
        }
    }

    pub fn graph(&self, id: GraphId) -> &Graph {
        &self.graphs[id as usize]
    }

    pub fn root(&self) -> &Graph {
        self.graph(ROOT)
    }
}

/// Builds the graphs of one machine, depth first; each graph's id is its index.
pub(crate) struct GraphBuilder<'a> {
    pub graphs: &'a mut Vec<Graph>,
    pub d: &'a mut Diagnostics,
    /// The state names of the graph being built, to resolve `Next`, `Default` and catchers.
    pub names: HashMap<String, StateId>,
    /// The machine's `QueryLanguage`, which states without their own use.
    pub language: QueryLanguage,
}

/// The longest state name AWS accepts.
const MAX_STATE_NAME: usize = 80;
/// Graphs nest (Parallel in Map in Parallel ...) at most this deep.
const MAX_NESTING: usize = 32;

impl GraphBuilder<'_> {
    /// Reads a `QueryLanguage` value.
    pub fn check_query_language(&mut self, ql: &str, loc: &str) -> Option<QueryLanguage> {
        match ql {
            "JSONPath" => Some(QueryLanguage::JsonPath),
            "JSONata" => Some(QueryLanguage::Jsonata),
            other => {
                self.d.schema(
                    format!(
                        "The value '{other}' is not a valid QueryLanguage; use JSONPath or JSONata"
                    ),
                    loc,
                );
                None
            }
        }
    }

    pub fn resolve(&mut self, name: &str, loc: String) -> Option<StateId> {
        resolve_name(&self.names, name, loc, self.d)
    }

    /// Parses a nested graph (a Parallel branch or a Map processor) found at `loc`.
    /// `processor` names the Map field (`ItemProcessor`/`Iterator`), which may carry a
    /// `ProcessorConfig`.
    pub fn nested_graph(
        &mut self,
        value: &Value,
        loc: &str,
        processor: Option<&str>,
    ) -> Option<GraphId> {
        if loc.matches("/States/").count() > MAX_NESTING {
            self.d
                .schema("Branches and item processors are nested too deeply", loc);
            return None;
        }
        let Value::Object(map) = value else {
            self.d.schema(
                "The value must be a JSON object with StartAt and States",
                loc,
            );
            return None;
        };
        let saved = std::mem::take(&mut self.names);
        let id = self.graph(map, loc, processor);
        self.names = saved;
        id
    }

    /// Parses `StartAt` and `States` of `map` into a new graph.
    fn graph(
        &mut self,
        map: &serde_json::Map<String, Value>,
        loc: &str,
        processor: Option<&str>,
    ) -> Option<GraphId> {
        let f = Fields::new(map, loc);
        if !loc.is_empty() {
            let allowed: &[&str] = if processor.is_some() {
                &[
                    "StartAt",
                    "States",
                    "Comment",
                    "ProcessorConfig",
                    "QueryLanguage",
                ]
            } else {
                &["StartAt", "States", "Comment", "QueryLanguage"]
            };
            f.only(
                allowed,
                if processor.is_some() {
                    "an item processor"
                } else {
                    "a branch"
                },
                self.d,
            );
            let _ = f.str("Comment", self.d);
            if f.has("QueryLanguage") {
                self.d.schema(
                    "QueryLanguage belongs at the top of the definition or on a state",
                    f.at("QueryLanguage"),
                );
            }
            if let Some(config) = f.object("ProcessorConfig", self.d) {
                check_processor_config(config, &f.at("ProcessorConfig"), self.d);
            }
        }
        let start_at = f.required_str("StartAt", self.d);
        if !f.has("States") {
            self.d.schema(
                "These fields are required: [States]",
                if loc.is_empty() { "/" } else { loc },
            );
            return None;
        }
        let states_map = f.object("States", self.d)?;
        let states_loc = f.at("States");
        if states_map.is_empty() {
            self.d
                .schema("States must contain at least one state", states_loc.clone());
        }
        self.names = states_map
            .keys()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as StateId))
            .collect();
        for name in states_map.keys() {
            if name.is_empty() || name.chars().count() > MAX_STATE_NAME {
                self.d.schema(
                    format!("State names must be 1 to {MAX_STATE_NAME} characters long"),
                    format!("{states_loc}/{name}"),
                );
            }
        }
        // Reserve this graph's slot before nested graphs take theirs.
        let id = self.graphs.len() as GraphId;
        self.graphs.push(Graph {
            start_at: 0,
            states: Vec::new(),
        });
        let mut states = Vec::with_capacity(states_map.len());
        let mut complete = true;
        for (name, value) in states_map {
            match parse_state(name, value, &format!("{states_loc}/{name}"), self) {
                Some(s) => states.push(s),
                None => complete = false,
            }
        }
        let start = start_at.and_then(|s| {
            let found = self.names.get(s).copied();
            if found.is_none() {
                self.d.push(
                    codes::MISSING_TARGET,
                    format!("Missing 'StartAt' target: {s}"),
                    f.at("StartAt"),
                );
            }
            found
        });
        if !complete {
            return None;
        }
        let start = start?;
        check_reachability(&states, start, &states_loc, self.d);
        self.graphs[id as usize] = Graph {
            start_at: start,
            states,
        };
        Some(id)
    }
}

/// Resolves a transition target by name, reporting a missing one at `loc`.
pub(crate) fn resolve_name(
    names: &HashMap<String, StateId>,
    name: &str,
    loc: String,
    d: &mut Diagnostics,
) -> Option<StateId> {
    let found = names.get(name).copied();
    if found.is_none() {
        d.push(
            codes::MISSING_TARGET,
            format!("Missing 'Next' target: {name}"),
            loc,
        );
    }
    found
}

fn check_processor_config(config: &serde_json::Map<String, Value>, loc: &str, d: &mut Diagnostics) {
    let f = Fields::new(config, loc);
    f.only(&["Mode", "ExecutionType"], "a ProcessorConfig", d);
    match f.str("Mode", d) {
        None | Some("INLINE") | Some("DISTRIBUTED") => {}
        Some(other) => d.schema(
            format!("The value '{other}' is not a valid Mode; use INLINE or DISTRIBUTED"),
            f.at("Mode"),
        ),
    }
    match f.str("ExecutionType", d) {
        None | Some("STANDARD") | Some("EXPRESS") => {}
        Some(other) => d.schema(
            format!("The value '{other}' is not a valid ExecutionType; use STANDARD or EXPRESS"),
            f.at("ExecutionType"),
        ),
    }
}

/// Every state must be reachable from `StartAt`, and some state must end the graph.
fn check_reachability(states: &[State], start: StateId, loc: &str, d: &mut Diagnostics) {
    let mut seen = vec![false; states.len()];
    let mut stack = vec![start];
    let mut terminal = false;
    while let Some(id) = stack.pop() {
        let Some(s) = states.get(id as usize) else {
            continue;
        };
        if std::mem::replace(&mut seen[id as usize], true) {
            continue;
        }
        let mut targets: Vec<StateId> = s.next.into_iter().collect();
        match &s.kind {
            StateKind::Choice(c) => {
                targets.extend(c.rules.iter().map(|r| r.next));
                targets.extend(c.default);
            }
            StateKind::Succeed | StateKind::Fail(_) => terminal = true,
            StateKind::Task(t) => targets.extend(t.catch.iter().map(|c| c.next)),
            StateKind::Parallel(p) => targets.extend(p.catch.iter().map(|c| c.next)),
            StateKind::Map(m) => targets.extend(m.catch.iter().map(|c| c.next)),
            StateKind::Pass(_) | StateKind::Wait(_) => {}
        }
        if s.next.is_none() && !matches!(s.kind, StateKind::Choice(_)) {
            terminal = true;
        }
        stack.extend(targets);
    }
    for (s, reached) in states.iter().zip(&seen) {
        if !reached {
            d.push(
                codes::UNREACHABLE,
                format!("State '{}' is not reachable", s.name),
                format!("{loc}/{}", s.name),
            );
        }
    }
    if !terminal {
        d.push(
            codes::MISSING_END,
            "No state ends the workflow: add a state with End, Succeed or Fail",
            loc,
        );
    }
}
