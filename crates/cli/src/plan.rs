//! What a deploy would change: [`Plan::make`] reads what the node has for every resource
//! the manifest names (and for what the app's previous deploy made, `/v1/apps/{name}`)
//! and compares it with [`Desired`]. A resource the node lacks is a create, one that
//! differs an update that says what changed (`code`, `memory 128 → 256`, `definition`,
//! `targets`), one the app made and the manifest no longer names a delete. Nothing is
//! written here.

use std::fmt;

use anyhow::{Result, bail};
use serde_json::{Map, Value};

use crate::client::Client;
use crate::desired::{Desired, Function, Workflow};

/// The kinds of resource, in the order a deploy creates them (deletes go the other way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Queue,
    Bus,
    Function,
    Workflow,
    Route,
    Rule,
    Schedule,
    Source,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Queue => "queue",
            Kind::Bus => "bus",
            Kind::Function => "function",
            Kind::Workflow => "workflow",
            Kind::Route => "route",
            Kind::Rule => "rule",
            Kind::Schedule => "schedule",
            Kind::Source => "source",
        }
    }

    /// The kinds an app record lists, under its key.
    pub const RECORDED: [(Kind, &'static str); 7] = [
        (Kind::Rule, "rules"),
        (Kind::Schedule, "schedules"),
        (Kind::Route, "routes"),
        (Kind::Source, "sources"),
        (Kind::Workflow, "workflows"),
        (Kind::Function, "functions"),
        (Kind::Queue, "queues"),
    ];
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create,
    /// What changed, as people say it.
    Update(Vec<String>),
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: Kind,
    /// As the app record keeps it: a rule is `bus/rule`, a route its key.
    pub name: String,
    pub action: Action,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sign, what) = match &self.action {
            Action::Create => ('+', String::new()),
            Action::Update(why) => ('~', format!(": {}", why.join(", "))),
            Action::Delete => ('-', String::new()),
        };
        write!(f, "{sign} {} {}{what}", self.kind.word(), self.name)
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub unchanged: usize,
}

/// One update reason a deploy acts on: a function's code changed.
pub const CODE: &str = "code";
/// A workflow's definition changed.
pub const DEFINITION: &str = "definition";

impl Plan {
    /// Compares `desired` with the node. `before` is the app's record of its previous
    /// deploy and `now` the record of this one (`{"rules": [...], ...}`); what `before`
    /// lists, `now` does not and the node still has is deleted.
    pub fn make(client: &Client, desired: &Desired, before: &Value, now: &Value) -> Result<Plan> {
        let mut plan = Plan::default();
        for (name, attributes) in &desired.queues {
            let have = client.get(&format!("/queues/{name}"))?;
            plan.note(
                Kind::Queue,
                name,
                have.map(|h| queue_changes(attributes, &h)),
            );
        }
        for bus in &desired.buses {
            let have = client.get(&format!("/buses/{bus}"))?;
            plan.note(Kind::Bus, bus, have.map(|_| Vec::new()));
        }
        for f in &desired.functions {
            let have = client.get(&format!("/functions/{}", f.name))?;
            plan.note(
                Kind::Function,
                &f.name,
                have.map(|h| function_changes(f, &h["config"])),
            );
        }
        for w in &desired.workflows {
            let changes = match client.get(&format!("/state-machines/{}", w.name))? {
                None => None,
                Some(have) => Some(workflow_changes(client, w, &have)?),
            };
            plan.note(Kind::Workflow, &w.name, changes);
        }
        let routes = client.call(reqwest::Method::GET, "/routes", None)?;
        let routes: Vec<Value> = routes["routes"].as_array().cloned().unwrap_or_default();
        let route_of = |key: &str| routes.iter().find(|r| r["route"] == key).cloned();
        for (key, body) in &desired.routes {
            let changes = route_of(key).map(|have| {
                let mut why = Vec::new();
                for field in ["function", "workflow"] {
                    if !same(&have[field], &body[field]) {
                        why.push(format!(
                            "{field} {} → {}",
                            shown(&have[field]),
                            shown(&body[field])
                        ));
                    }
                }
                // Routes to a function reach `$LATEST` unless they name a qualifier.
                if !(have["qualifier"].is_null() || have["qualifier"] == "$LATEST") {
                    why.push(format!("qualifier {} → none", shown(&have["qualifier"])));
                }
                why
            });
            plan.note(Kind::Route, key, changes);
        }
        for (bus, rule, body) in &desired.rules {
            let have = client.get(&format!("/buses/{bus}/rules/{rule}"))?;
            let changes =
                have.map(|h| fields_changed(body, &h, &["pattern", "schedule", "targets"]));
            plan.note(Kind::Rule, &format!("{bus}/{rule}"), changes);
        }
        for (name, body) in &desired.schedules {
            let have = client.get(&format!("/schedules/{name}"))?;
            let changes =
                have.map(|h| fields_changed(body, &h, &["expression", "timezone", "target"]));
            plan.note(Kind::Schedule, name, changes);
        }
        for (name, body) in &desired.sources {
            let have = client.get(&format!("/sources/{name}"))?;
            let changes = have.map(|h| {
                if h["config"] == *body {
                    Vec::new()
                } else {
                    vec!["config".to_owned()]
                }
            });
            plan.note(Kind::Source, name, changes);
        }
        for (kind, key) in Kind::RECORDED {
            let keep = names(&now[key]);
            for gone in names(&before[key]) {
                if keep.contains(&gone) {
                    continue;
                }
                let exists = match kind {
                    Kind::Route => route_of(&gone).is_some(),
                    _ => client.get(&path_of(kind, &gone))?.is_some(),
                };
                if exists {
                    plan.changes.push(Change {
                        kind,
                        name: gone,
                        action: Action::Delete,
                    });
                }
            }
        }
        Ok(plan)
    }

    /// Records one resource: `None` when the node lacks it, else what differs.
    fn note(&mut self, kind: Kind, name: &str, changes: Option<Vec<String>>) {
        let action = match changes {
            None => Action::Create,
            Some(why) if why.is_empty() => {
                self.unchanged += 1;
                return;
            }
            Some(why) => Action::Update(why),
        };
        self.changes.push(Change {
            kind,
            name: name.to_owned(),
            action,
        });
    }

    /// What the plan does to one resource, if anything.
    pub fn action(&self, kind: Kind, name: &str) -> Option<&Action> {
        self.changes
            .iter()
            .find(|c| c.kind == kind && c.name == name)
            .map(|c| &c.action)
    }

    /// (created, updated, deleted).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |f: fn(&Action) -> bool| self.changes.iter().filter(|c| f(&c.action)).count();
        (
            n(|a| *a == Action::Create),
            n(|a| matches!(a, Action::Update(_))),
            n(|a| *a == Action::Delete),
        )
    }
}

/// Where the native API keeps a recorded resource (a rule's name is `bus/rule`).
pub fn path_of(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Rule => match name.split_once('/') {
            Some((bus, rule)) => format!("/buses/{bus}/rules/{rule}"),
            None => format!("/buses/default/rules/{name}"),
        },
        Kind::Workflow => format!("/state-machines/{name}"),
        Kind::Route => format!("/routes?route={}", encode(name)),
        Kind::Bus => format!("/buses/{name}"),
        other => format!("/{}s/{name}", other.word()),
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn queue_changes(want: &Map<String, Value>, have: &Value) -> Vec<String> {
    let mut why = Vec::new();
    for (k, w) in want {
        let h = &have["attributes"][k];
        // RedrivePolicy is JSON text: compare what it says.
        let parsed = |v: &Value| {
            v.as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
        };
        let equal = match (parsed(h), parsed(w)) {
            (Some(a), Some(b)) if k == "RedrivePolicy" => covers(&a, &b),
            _ => same(h, w),
        };
        if !equal {
            why.push(if k == "RedrivePolicy" {
                k.clone()
            } else {
                format!("{k} {} → {}", shown(h), shown(w))
            });
        }
    }
    why
}

/// A function's differences: its code (by digest) and each setting the manifest decides.
pub fn function_changes(want: &Function, have: &Value) -> Vec<String> {
    let mut why = Vec::new();
    if have["code_sha256"].as_str() != Some(want.code_sha256.as_str()) {
        why.push(CODE.to_owned());
    }
    settings_changed(&want.settings, have, &mut why);
    why
}

fn settings_changed(want: &Map<String, Value>, have: &Value, why: &mut Vec<String>) {
    for (k, w) in want {
        let h = &have[k];
        if k == "event_invoke"
            && let Value::Object(inner) = w
        {
            settings_changed(inner, h, why);
            continue;
        }
        if same(h, w) {
            continue;
        }
        let label = match k.as_str() {
            "memory_mb" => "memory",
            "timeout_seconds" => "timeout",
            "maximum_retry_attempts" => "retries",
            "maximum_event_age_seconds" => "max_event_age",
            other => other,
        };
        why.push(match (h, w) {
            (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
                label.to_owned()
            }
            _ => format!("{label} {} → {}", shown(h), shown(w)),
        });
    }
}

fn workflow_changes(client: &Client, want: &Workflow, have: &Value) -> Result<Vec<String>> {
    let mut why = Vec::new();
    let kind = have["type"].as_str().unwrap_or("STANDARD");
    if kind != want.kind {
        bail!(
            "workflow {}: the node's is {kind} and the manifest's {}; a workflow's type cannot change (delete it first: the next deploy creates it)",
            want.name,
            want.kind
        );
    }
    let changed = have["definition"] != want.definition;
    if changed {
        why.push(DEFINITION.to_owned());
    }
    if let Some(alias) = &want.alias {
        let routing = client
            .get(&format!("/state-machines/{}/aliases/{alias}", want.name))?
            .map(|a| a["routing"].clone());
        let versions = client.call(
            reqwest::Method::GET,
            &format!("/state-machines/{}/versions", want.name),
            None,
        )?;
        let latest = versions["versions"].get(0).cloned().unwrap_or(Value::Null);
        let current = !latest.is_null() && latest["revisionId"] == have["revisionId"];
        let points_at_latest = routing.as_ref().is_some_and(|r| {
            r.as_array().is_some_and(|routes| {
                routes.len() == 1 && routes[0]["stateMachineVersionArn"] == latest["arn"]
            })
        });
        match routing {
            None => why.push(format!("alias {alias} (new)")),
            Some(_) if changed => {}
            Some(_) if !(current && points_at_latest) => {
                why.push(format!("alias {alias} → a new version"));
            }
            Some(_) => {}
        }
    }
    Ok(why)
}

/// The fields of `want` (among `fields`) the node's document does not say.
fn fields_changed(want: &Value, have: &Value, fields: &[&str]) -> Vec<String> {
    fields
        .iter()
        .filter(|f| !covers(&have[**f], &want[**f]))
        .map(|f| (*f).to_owned())
        .collect()
}

/// Whether `have` says everything `want` says: objects may carry more fields (the node's
/// defaults), arrays match item by item, numbers by value; a `null` in `want` matches a
/// missing or `null` field.
pub fn covers(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (_, Value::Object(w)) => {
            let Value::Object(h) = have else {
                return false;
            };
            w.iter()
                .all(|(k, wv)| covers(h.get(k).unwrap_or(&Value::Null), wv))
        }
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(a, b)| covers(a, b))
        }
        _ => same(have, want),
    }
}

/// Equality, with numbers compared by value (`5` and `5.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A value in a change's description: strings without quotes, nothing as `none`.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn covers_allows_the_nodes_defaults_but_not_other_values() {
        let have =
            json!({"id": "t1", "action": {"type": "queue", "queue": "q"}, "retry": {"max": 185}});
        assert!(covers(
            &have,
            &json!({"id": "t1", "action": {"type": "queue", "queue": "q", "qualifier": null}})
        ));
        assert!(!covers(
            &have,
            &json!({"id": "t1", "action": {"type": "queue", "queue": "r"}})
        ));
        assert!(!covers(&json!([1, 2]), &json!([1])));
        assert!(covers(&json!(5.0), &json!(5)));
    }

    #[test]
    fn function_changes_say_what_changed() {
        let want = Function {
            name: "f".into(),
            settings: json!({"memory_mb": 256, "timeout_seconds": 3, "environment": {"A": "1"}, "event_invoke": {"maximum_retry_attempts": 0, "on_failure": null}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            code: Vec::new(),
            code_sha256: "abc".into(),
        };
        let have = json!({"code_sha256": "abc", "memory_mb": 128, "timeout_seconds": 3, "environment": {"A": "1", "B": "2"}, "event_invoke": {"maximum_retry_attempts": 2, "on_failure": null}});
        assert_eq!(
            function_changes(&want, &have),
            vec!["memory 128 → 256", "environment", "retries 2 → 0"]
        );
        let have = json!({"code_sha256": "old", "memory_mb": 256, "timeout_seconds": 3, "environment": {"A": "1"}, "event_invoke": {"maximum_retry_attempts": 0}});
        assert_eq!(function_changes(&want, &have), vec!["code"]);
    }

    #[test]
    fn changes_print_as_a_plan() {
        let c = |kind, name: &str, action| Change {
            kind,
            name: name.into(),
            action,
        };
        assert_eq!(
            c(Kind::Function, "f", Action::Create).to_string(),
            "+ function f"
        );
        assert_eq!(
            c(
                Kind::Function,
                "f",
                Action::Update(vec!["code".into(), "memory 128 → 256".into()])
            )
            .to_string(),
            "~ function f: code, memory 128 → 256"
        );
        assert_eq!(
            c(Kind::Schedule, "tick", Action::Delete).to_string(),
            "- schedule tick"
        );
        assert_eq!(path_of(Kind::Rule, "b/r"), "/buses/b/rules/r");
        assert_eq!(path_of(Kind::Route, "POST /x"), "/routes?route=POST%20%2Fx");
        assert_eq!(path_of(Kind::Queue, "q"), "/queues/q");
    }
}
