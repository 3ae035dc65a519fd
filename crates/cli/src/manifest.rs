//! `cirrus.toml`, an application in one file: functions, workflows, routes, rules,
//! schedules, queues and sources, with the references between them. [`Manifest::load`]
//! reads and checks it before anything is deployed; every problem names the file, the
//! line and the field (`cirrus.toml:12: functions.greet.runtime: ...`). `cirrus check`
//! prints them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub definition: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub route: Spanned<String>,
    pub function: Spanned<String>,
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
            if !self.functions.contains_key(route.function.get_ref()) {
                r.at(
                    route.function.span(),
                    format!("routes[{i}].function"),
                    format!(
                        "no function '{}' in this manifest",
                        route.function.get_ref()
                    ),
                );
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
