//! `cirrus.toml`, an application in one file: functions, workflows, routes, rules,
//! schedules, queues and sources, with the references between them. [`Manifest::load`]
//! reads and checks it before anything is deployed; every problem names the file, the
//! line and the field (`cirrus.toml:12: functions.greet.runtime: ...`). `cirrus check`
//! prints them.
//!
//! Beyond each resource's settings, the checks cover:
//! - `[[routes]]`: exactly one of `function = "NAME"` or `workflow = "NAME"` (the request
//!   body starts that workflow), naming one in the manifest;
//! - `[functions.X]`: `on_success` / `on_failure` (asynchronous-invocation destinations:
//!   `function:NAME`, `workflow:NAME`, `queue:NAME` of the manifest, or `bus:NAME`),
//!   `retries` (0 to 2) and `max_event_age` (60 to 21600 seconds);
//! - `[workflows.X]`: `alias` (a name deploy points at the version published from the
//!   definition) and `substitutions = { Key = "value" }`: every `${Name}` in the
//!   definition file must be one of them or a built-in
//!   ([`crate::substitutions::BUILT_INS`]), reported at the definition file's line, and a
//!   value may use only built-ins.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::substitutions::{self, BUILT_INS};

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.field,
            self.message
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub app: Option<App>,
    #[serde(default)]
    pub functions: BTreeMap<String, Spanned<Function>>,
    #[serde(default)]
    pub workflows: BTreeMap<String, Spanned<Workflow>>,
    #[serde(default)]
    pub routes: Vec<Spanned<Route>>,
    #[serde(default)]
    pub rules: BTreeMap<String, Spanned<Rule>>,
    #[serde(default)]
    pub schedules: BTreeMap<String, Spanned<ScheduleEntry>>,
    #[serde(default)]
    pub queues: BTreeMap<String, Spanned<Queue>>,
    #[serde(default)]
    pub sources: BTreeMap<String, Spanned<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub name: String,
    /// Commands to try the application with, shown by `cirrus dev` with `{routes}` and
    /// `{api}` replaced by the node's base URLs.
    #[serde(default, rename = "try")]
    pub try_commands: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    pub runtime: Spanned<String>,
    /// A directory, a Rust crate, a `.wasm` or a `.zip`, relative to the manifest.
    pub source: Spanned<String>,
    pub handler: Option<String>,
    pub memory: Option<Spanned<u32>>,
    pub timeout: Option<Spanned<u32>>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// A command run in `source` before deploying.
    pub build: Option<String>,
    pub min_instances: Option<u32>,
    pub max_instances: Option<u32>,
    pub concurrency: Option<u32>,
    /// Where an asynchronous invocation's result goes when it succeeds: a target spec
    /// (`function:NAME`, `workflow:NAME`, `bus:NAME`, `queue:NAME`).
    pub on_success: Option<Spanned<String>>,
    /// The same, for an event that failed every attempt or grew too old.
    pub on_failure: Option<Spanned<String>>,
    /// Retries of a failed asynchronous invocation, 0 to 2 (Lambda's default is 2).
    pub retries: Option<Spanned<u32>>,
    /// Seconds an asynchronous event is kept trying, 60 to 21600.
    pub max_event_age: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub definition: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// An alias that deploy points at a version published from the definition.
    pub alias: Option<Spanned<String>>,
    /// `${Key}` placeholders of the definition, replaced before it is uploaded; values may
    /// use the built-ins ([`crate::substitutions::BUILT_INS`]).
    #[serde(default)]
    pub substitutions: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub route: Spanned<String>,
    /// The function that answers the request; or
    pub function: Option<Spanned<String>>,
    /// the workflow the request's body starts.
    pub workflow: Option<Spanned<String>>,
}

/// What a route sends its requests to.
pub enum RouteTarget<'a> {
    Function(&'a str),
    Workflow(&'a str),
}

impl Route {
    /// The function or workflow; the check makes sure there is exactly one.
    pub fn target(&self) -> Option<RouteTarget<'_>> {
        match (&self.function, &self.workflow) {
            (Some(f), None) => Some(RouteTarget::Function(f.get_ref())),
            (None, Some(w)) => Some(RouteTarget::Workflow(w.get_ref())),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default = "default_bus")]
    pub bus: String,
    pub pattern: Option<Spanned<toml::Value>>,
    pub schedule: Option<Spanned<String>>,
    pub targets: Vec<Spanned<String>>,
    /// What the targets receive: the part of the event this JSON path selects.
    pub input_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    pub expression: Spanned<String>,
    #[serde(default = "utc")]
    pub timezone: Spanned<String>,
    pub target: Spanned<String>,
    pub input: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub visibility_timeout: Option<u32>,
    pub dead_letter_queue: Option<Spanned<String>>,
    pub max_receives: Option<u32>,
}

fn default_bus() -> String {
    "default".into()
}

fn utc() -> Spanned<String> {
    Spanned::new(0..0, "UTC".into())
}

const RUNTIMES: &[&str] = &["wasm", "python3", "nodejs", "provided"];

impl Manifest {
    /// One line per kind of resource, for `cirrus check`.
    pub fn summary(&self) -> String {
        format!(
            "{} function(s), {} workflow(s), {} route(s), {} rule(s), {} schedule(s), {} queue(s), {} source(s)",
            self.functions.len(),
            self.workflows.len(),
            self.routes.len(),
            self.rules.len(),
            self.schedules.len(),
            self.queues.len(),
            self.sources.len()
        )
    }
}

/// Where checks report.
struct Report<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Report<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// A problem in another file than the manifest (a workflow's definition).
    fn in_file(
        &mut self,
        file: &Path,
        line: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            file: file.to_owned(),
            line,
            field: field.into(),
            message: message.into(),
        });
    }

    fn at(
        &mut self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let line = self.line_of(span.start);
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line,
            field: field.into(),
            message: message.into(),
        });
    }
}

impl Manifest {
    /// Reads and checks `path`; every problem found, or the manifest.
    pub fn load(path: &Path) -> Result<Manifest, Vec<Problem>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Problem {
                file: path.to_owned(),
                line: 0,
                field: String::new(),
                message: format!("cannot read it: {e}"),
            }]
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, dir)
    }

    /// Parses and checks manifest text; paths in it are relative to `dir`.
    pub fn parse(text: &str, file: &Path, dir: &Path) -> Result<Manifest, Vec<Problem>> {
        let mut report = Report {
            file,
            text,
            problems: Vec::new(),
        };
        let manifest: Manifest = match toml::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().to_owned();
                report.at(span, "", message);
                return Err(report.problems);
            }
        };
        manifest.check(dir, &mut report);
        if report.problems.is_empty() {
            Ok(manifest)
        } else {
            Err(report.problems)
        }
    }

    fn check(&self, dir: &Path, r: &mut Report<'_>) {
        let valid_name = |n: &str| {
            (1..=64).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        for (name, f) in &self.functions {
            let field = format!("functions.{name}");
            if !valid_name(name) {
                r.at(
                    f.span(),
                    &field,
                    "a function name is 1 to 64 letters, digits, '-' or '_'",
                );
            }
            let f = f.get_ref();
            let runtime = f.runtime.get_ref();
            let family = RUNTIMES.iter().copied().find(|r| {
                runtime.strip_prefix(r).is_some_and(|rest| {
                    rest.is_empty()
                        || (*r != "wasm"
                            && rest
                                .trim_start_matches('.')
                                .bytes()
                                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'x'))
                        || (*r == "provided" && rest.starts_with('.'))
                })
            });
            let family = family.unwrap_or("");
            if family.is_empty() {
                r.at(f.runtime.span(), format!("{field}.runtime"), format!("'{runtime}' is not a runtime: use wasm, python3[.N], nodejs[NN.x] or provided"));
            }
            if matches!(family, "python3" | "nodejs") && f.handler.is_none() {
                r.at(
                    f.runtime.span(),
                    format!("{field}.handler"),
                    format!("a {runtime} function needs a handler (MODULE.FUNCTION)"),
                );
            }
            if !dir.join(f.source.get_ref()).exists() {
                r.at(
                    f.source.span(),
                    format!("{field}.source"),
                    format!(
                        "'{}' does not exist (paths are relative to the manifest)",
                        f.source.get_ref()
                    ),
                );
            }
            if let Some(m) = &f.memory
                && !(128..=10_240).contains(m.get_ref())
            {
                r.at(
                    m.span(),
                    format!("{field}.memory"),
                    format!("{} MB is outside 128 to 10240", m.get_ref()),
                );
            }
            if let Some(t) = &f.timeout
                && !(1..=900).contains(t.get_ref())
            {
                r.at(
                    t.span(),
                    format!("{field}.timeout"),
                    format!("{} s is outside 1 to 900", t.get_ref()),
                );
            }
            if let Some(n) = &f.retries
                && *n.get_ref() > 2
            {
                r.at(
                    n.span(),
                    format!("{field}.retries"),
                    format!("{} is outside 0 to 2", n.get_ref()),
                );
            }
            if let Some(a) = &f.max_event_age
                && !(60..=21_600).contains(a.get_ref())
            {
                r.at(
                    a.span(),
                    format!("{field}.max_event_age"),
                    format!("{} s is outside 60 to 21600", a.get_ref()),
                );
            }
            for (key, d) in [("on_success", &f.on_success), ("on_failure", &f.on_failure)] {
                if let Some(d) = d {
                    self.check_destination(d, &format!("{field}.{key}"), r);
                }
            }
        }
        for (name, w) in &self.workflows {
            let field = format!("workflows.{name}");
            let w = w.get_ref();
            let path = dir.join(w.definition.get_ref());
            match std::fs::read_to_string(&path) {
                Err(_) => r.at(
                    w.definition.span(),
                    format!("{field}.definition"),
                    format!("'{}' does not exist", w.definition.get_ref()),
                ),
                Ok(text) => {
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                        r.at(
                            w.definition.span(),
                            format!("{field}.definition"),
                            format!("'{}' is not JSON: {e}", w.definition.get_ref()),
                        );
                    }
                    for p in substitutions::placeholders(&text) {
                        if !BUILT_INS.contains(&p.name.as_str())
                            && !w.substitutions.contains_key(&p.name)
                        {
                            r.in_file(
                                &path,
                                p.line,
                                format!("{field}.definition"),
                                format!(
                                    "${{{}}} is not defined: add it to [workflows.{name}.substitutions] or use a built-in ({})",
                                    p.name,
                                    BUILT_INS.join(", ")
                                ),
                            );
                        }
                    }
                }
            }
            for (key, value) in &w.substitutions {
                let at = format!("{field}.substitutions.{key}");
                if !substitutions::valid_name(key) {
                    r.at(
                        value.span(),
                        &at,
                        "a substitution's name is letters, digits and '_'",
                    );
                } else if BUILT_INS.contains(&key.as_str()) {
                    r.at(
                        value.span(),
                        &at,
                        format!("{key} is built in and cannot be redefined"),
                    );
                }
                for p in substitutions::placeholders(value.get_ref()) {
                    if !BUILT_INS.contains(&p.name.as_str()) {
                        r.at(
                            value.span(),
                            &at,
                            format!(
                                "${{{}}} is not a built-in ({}); a value may only use those",
                                p.name,
                                BUILT_INS.join(", ")
                            ),
                        );
                    }
                }
            }
            if let Some(a) = &w.alias {
                let alias = a.get_ref();
                let ok = (1..=80).contains(&alias.len())
                    && alias
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    && !alias.bytes().all(|b| b.is_ascii_digit());
                if !ok {
                    r.at(
                        a.span(),
                        format!("{field}.alias"),
                        format!("'{alias}' is not an alias name: 1 to 80 letters, digits, '-' or '_', not only digits"),
                    );
                }
            }
            if let Some(k) = &w.kind
                && !matches!(k.get_ref().as_str(), "STANDARD" | "EXPRESS")
            {
                r.at(
                    k.span(),
                    format!("{field}.type"),
                    format!("'{}' is not STANDARD or EXPRESS", k.get_ref()),
                );
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            let route = route.get_ref();
            let key = route.route.get_ref();
            let ok = key
                .split_once(' ')
                .is_some_and(|(m, p)| !m.is_empty() && p.starts_with('/'));
            if !ok {
                r.at(
                    route.route.span(),
                    format!("routes[{i}].route"),
                    format!("'{key}' is not METHOD /path"),
                );
            }
            match (&route.function, &route.workflow) {
                (Some(f), None) => {
                    if !self.functions.contains_key(f.get_ref()) {
                        r.at(
                            f.span(),
                            format!("routes[{i}].function"),
                            format!("no function '{}' in this manifest", f.get_ref()),
                        );
                    }
                }
                (None, Some(w)) => {
                    if !self.workflows.contains_key(w.get_ref()) {
                        r.at(
                            w.span(),
                            format!("routes[{i}].workflow"),
                            format!("no workflow '{}' in this manifest", w.get_ref()),
                        );
                    }
                }
                (Some(_), Some(w)) => r.at(
                    w.span(),
                    format!("routes[{i}]"),
                    "a route has a function or a workflow, not both",
                ),
                (None, None) => r.at(
                    route.route.span(),
                    format!("routes[{i}]"),
                    "a route needs a function = \"NAME\" or a workflow = \"NAME\"",
                ),
            }
        }
        for (name, rule) in &self.rules {
            let field = format!("rules.{name}");
            let rule_ref = rule.get_ref();
            match (&rule_ref.pattern, &rule_ref.schedule) {
                (None, None) => r.at(rule.span(), &field, "a rule needs a pattern or a schedule"),
                (Some(_), Some(s)) => r.at(
                    s.span(),
                    format!("{field}.schedule"),
                    "a rule has a pattern or a schedule, not both",
                ),
                (Some(p), None) => {
                    let json = serde_json::to_value(p.get_ref()).unwrap_or(serde_json::Value::Null);
                    if let Err(e) = cirrus_events::Pattern::from_value(&json) {
                        r.at(p.span(), format!("{field}.pattern"), e.to_string());
                    }
                }
                (None, Some(s)) => {
                    if let Err(e) = cirrus_events::ScheduleExpression::parse(s.get_ref()) {
                        r.at(s.span(), format!("{field}.schedule"), e.to_string());
                    }
                }
            }
            if rule_ref.targets.is_empty() || rule_ref.targets.len() > 5 {
                r.at(
                    rule.span(),
                    format!("{field}.targets"),
                    "a rule has 1 to 5 targets",
                );
            }
            for (i, t) in rule_ref.targets.iter().enumerate() {
                self.check_target(t, &format!("{field}.targets[{i}]"), r);
            }
        }
        for (name, s) in &self.schedules {
            let field = format!("schedules.{name}");
            let s = s.get_ref();
            if let Err(e) = cirrus_events::ScheduleExpression::parse(s.expression.get_ref()) {
                r.at(
                    s.expression.span(),
                    format!("{field}.expression"),
                    e.to_string(),
                );
            }
            if let Err(e) = cirrus_events::TimeZone::parse(s.timezone.get_ref()) {
                r.at(
                    s.timezone.span(),
                    format!("{field}.timezone"),
                    e.to_string(),
                );
            }
            self.check_target(&s.target, &format!("{field}.target"), r);
        }
        for (name, q) in &self.queues {
            if let Some(d) = &q.get_ref().dead_letter_queue
                && (!self.queues.contains_key(d.get_ref()) || d.get_ref() == name)
            {
                r.at(
                    d.span(),
                    format!("queues.{name}.dead_letter_queue"),
                    format!("no other queue '{}' in this manifest", d.get_ref()),
                );
            }
        }
        for (name, s) in &self.sources {
            match s.get_ref().get("type").and_then(toml::Value::as_str) {
                Some("mqtt" | "nats") => {}
                _ => r.at(
                    s.span(),
                    format!("sources.{name}.type"),
                    "a source's type is mqtt or nats",
                ),
            }
        }
    }

    /// An asynchronous invocation's destination: `function:NAME`, `workflow:NAME`,
    /// `queue:NAME` (in the manifest) or `bus:NAME`.
    fn check_destination(&self, d: &Spanned<String>, field: &str, r: &mut Report<'_>) {
        let spec = d.get_ref();
        let known = ["function:", "workflow:", "queue:", "bus:"]
            .iter()
            .any(|p| {
                spec.strip_prefix(p)
                    .is_some_and(|n| !n.is_empty() && !n.contains(['?', ':']))
            });
        if known {
            self.check_target(d, field, r);
        } else {
            r.at(
                d.span(),
                field,
                format!("'{spec}' is not function:NAME, workflow:NAME, queue:NAME or bus:NAME"),
            );
        }
    }

    /// A target spec (`function:NAME[?sync]`, `workflow:NAME`, `queue:NAME`, a URL, ...)
    /// whose function, workflow or queue must be in the manifest.
    fn check_target(&self, t: &Spanned<String>, field: &str, r: &mut Report<'_>) {
        let spec = t.get_ref();
        let missing = |kind: &str, name: &str| format!("no {kind} '{name}' in this manifest");
        if let Some(f) = spec.strip_prefix("function:") {
            let name = f.trim_end_matches("?sync").split(':').next().unwrap_or("");
            if !self.functions.contains_key(name) {
                r.at(t.span(), field, missing("function", name));
            }
        } else if let Some(w) = spec.strip_prefix("workflow:") {
            if !self.workflows.contains_key(w) {
                r.at(t.span(), field, missing("workflow", w));
            }
        } else if let Some(q) = spec.strip_prefix("queue:") {
            if !self.queues.contains_key(q) {
                r.at(t.span(), field, missing("queue", q));
            }
        } else if !(spec.starts_with("bus:")
            || spec.starts_with("http://")
            || spec.starts_with("https://")
            || spec.starts_with("nats://")
            || spec.starts_with("mqtt://"))
        {
            r.at(t.span(), field, format!("'{spec}' is not function:NAME, workflow:NAME, queue:NAME, bus:NAME, a URL, nats:// or mqtt://"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        // A directory per call: tests run in parallel and each writes its files.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("cirrus-manifest-{}-{n}", std::process::id()));
        std::fs::create_dir_all(dir.join("fn")).unwrap();
        std::fs::write(
            dir.join("flow.json"),
            r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#,
        )
        .unwrap();
        match Manifest::parse(text, Path::new("cirrus.toml"), &dir) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    const GOOD: &str = r#"
[app]
name = "orders"

[functions.accept]
runtime = "python3.12"
source = "fn"
handler = "app.handler"
memory = 256

[workflows.order]
definition = "flow.json"

[[routes]]
route = "POST /orders"
function = "accept"

[queues.dead]

[queues.work]
dead_letter_queue = "dead"

[rules.placed]
pattern = { source = ["shop"], detail = { total = [{ numeric = [">", 0] }] } }
targets = ["workflow:order", "queue:work"]

[schedules.report]
expression = "cron(0 9 ? * MON-FRI *)"
timezone = "Europe/Paris"
target = "function:accept?sync"
"#;

    #[test]
    fn a_good_manifest_has_no_problems() {
        assert_eq!(problems(GOOD), Vec::<String>::new());
    }

    #[test]
    fn problems_name_the_line_and_the_field() {
        let bad = GOOD
            .replace("runtime = \"python3.12\"", "runtime = \"java21\"")
            .replace("function = \"accept\"", "function = \"nope\"")
            .replace("\"queue:work\"", "\"queue:missing\"")
            .replace("cron(0 9 ? * MON-FRI *)", "cron(0 9 * * *)")
            .replace("memory = 256", "memory = 50");
        let p = problems(&bad);
        let find = |needle: &str| {
            p.iter()
                .find(|l| l.contains(needle))
                .cloned()
                .unwrap_or_else(|| panic!("no '{needle}' in {p:#?}"))
        };
        assert!(
            find("functions.accept.runtime").starts_with("cirrus.toml:6:"),
            "{p:#?}"
        );
        assert!(find("functions.accept.memory").contains("50 MB"), "{p:#?}");
        assert!(
            find("routes[0].function").contains("no function 'nope'"),
            "{p:#?}"
        );
        assert!(
            find("rules.placed.targets[1]").contains("no queue 'missing'"),
            "{p:#?}"
        );
        assert!(
            find("schedules.report.expression").contains("cron(0 9 * * *)"),
            "{p:#?}"
        );
    }

    #[test]
    fn runtimes_are_lambda_names_or_wasm() {
        let with = |rt: &str| {
            problems(&format!(
                "[functions.a]\nruntime = \"{rt}\"\nsource = \"fn\"\nhandler = \"app.handler\"\n"
            ))
        };
        for ok in [
            "wasm",
            "python3",
            "python3.12",
            "nodejs20.x",
            "nodejs",
            "provided",
            "provided.al2023",
        ] {
            assert_eq!(with(ok), Vec::<String>::new(), "{ok}");
        }
        for bad in ["python", "java21", "wasm2", "nodejs.x.y!", ""] {
            assert!(
                with(bad).iter().any(|p| p.contains("is not a runtime")),
                "{bad}"
            );
        }
    }

    /// The problems of GOOD with `extra` appended.
    fn with(extra: &str) -> Vec<String> {
        problems(&format!("{GOOD}\n{extra}"))
    }

    fn one(p: &[String], needle: &str) -> String {
        p.iter()
            .find(|l| l.contains(needle))
            .cloned()
            .unwrap_or_else(|| panic!("no '{needle}' in {p:#?}"))
    }

    #[test]
    fn a_route_starts_a_workflow_or_calls_a_function() {
        assert_eq!(
            with("[[routes]]\nroute = \"POST /start\"\nworkflow = \"order\"\n"),
            Vec::<String>::new()
        );
        let p = with("[[routes]]\nroute = \"POST /a\"\nworkflow = \"nope\"\n");
        assert!(
            one(&p, "routes[1].workflow").contains("no workflow 'nope'"),
            "{p:#?}"
        );
        let p =
            with("[[routes]]\nroute = \"POST /b\"\nworkflow = \"order\"\nfunction = \"accept\"\n");
        assert!(one(&p, "routes[1]").contains("not both"), "{p:#?}");
        let p = with("[[routes]]\nroute = \"POST /c\"\n");
        let line = GOOD.lines().count() + 3;
        assert!(
            one(&p, "routes[1]").starts_with(&format!("cirrus.toml:{line}:"))
                && one(&p, "routes[1]").contains("needs a function"),
            "{p:#?}"
        );
    }

    #[test]
    fn destinations_retries_and_event_age_are_checked() {
        let ok = GOOD.replace(
            "memory = 256",
            "memory = 256\non_success = \"workflow:order\"\non_failure = \"queue:dead\"\nretries = 0\nmax_event_age = 60",
        );
        assert_eq!(problems(&ok), Vec::<String>::new());
        let ok = GOOD.replace(
            "memory = 256",
            "on_success = \"bus:audit\"\non_failure = \"function:accept\"",
        );
        assert_eq!(problems(&ok), Vec::<String>::new());
        let bad = GOOD.replace(
            "memory = 256",
            "on_success = \"sns:topic\"\non_failure = \"queue:missing\"\nretries = 3\nmax_event_age = 59",
        );
        let p = problems(&bad);
        assert!(
            one(&p, "functions.accept.on_success").starts_with("cirrus.toml:9:")
                && one(&p, "functions.accept.on_success").contains("'sns:topic' is not"),
            "{p:#?}"
        );
        assert!(
            one(&p, "functions.accept.on_failure").contains("no queue 'missing'"),
            "{p:#?}"
        );
        assert!(one(&p, "functions.accept.retries").contains("3 is outside 0 to 2"));
        assert!(one(&p, "functions.accept.max_event_age").contains("59 s is outside 60 to 21600"));
        let p = problems(&GOOD.replace("memory = 256", "on_success = \"function:a?sync\""));
        assert!(
            one(&p, "functions.accept.on_success").contains("is not"),
            "{p:#?}"
        );
    }

    #[test]
    fn substitutions_and_aliases_are_checked() {
        let dir =
            std::env::temp_dir().join(format!("cirrus-manifest-subst-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("pay.json"),
            "{\n  \"StartAt\": \"A\",\n  \"States\": {\"A\": {\"Type\": \"Pass\", \"Result\": \"${PayUrl} ${Region} ${Missing}\", \"End\": true}}\n}\n",
        )
        .unwrap();
        let check = |workflow: &str| -> Vec<String> {
            let text = format!("[workflows.pay]\ndefinition = \"pay.json\"\n{workflow}");
            match Manifest::parse(&text, Path::new("cirrus.toml"), &dir) {
                Ok(_) => Vec::new(),
                Err(p) => p.iter().map(ToString::to_string).collect(),
            }
        };
        let p = check(
            "alias = \"live\"\nsubstitutions = { PayUrl = \"${RoutesUrl}/payments\", Missing = \"x\" }\n",
        );
        assert_eq!(p, Vec::<String>::new());
        // ${Missing} is defined by nothing: reported at its line of the definition file.
        let p = check("substitutions = { PayUrl = \"${RoutesUrl}/payments\" }\n");
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].ends_with(
                "pay.json:3: workflows.pay.definition: ${Missing} is not defined: add it to [workflows.pay.substitutions] or use a built-in (RoutesUrl, ApiUrl, Region, AccountId)"
            ),
            "{p:#?}"
        );
        let p = check(
            "alias = \"42\"\nsubstitutions = { PayUrl = \"${Other}/p\", Missing = \"x\", Region = \"eu\" }\n",
        );
        assert!(
            one(&p, "workflows.pay.alias").starts_with("cirrus.toml:3:"),
            "{p:#?}"
        );
        assert!(
            one(&p, "substitutions.PayUrl").contains("${Other} is not a built-in"),
            "{p:#?}"
        );
        assert!(
            one(&p, "substitutions.Region").contains("built in"),
            "{p:#?}"
        );
    }

    #[test]
    fn syntax_and_unknown_fields_are_reported_with_their_line() {
        let p = problems("[functions.a]\nruntime = \"wasm\"\nsource = \"fn\"\ncolour = \"red\"\n");
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].starts_with("cirrus.toml:4:") && p[0].contains("colour"),
            "{p:#?}"
        );
        let p = problems("[functions.a\n");
        assert!(p[0].starts_with("cirrus.toml:1:"), "{p:#?}");
    }
}
