//! What a checked manifest asks the node to have, in the native API's own shapes:
//! functions built and packaged (their code and its digest), workflow definitions with
//! their placeholders replaced, target specs and destinations turned into target
//! documents and ARNs. [`Desired::of`] runs the builds; [`crate::plan`] compares the result
//! with the node and [`crate::apply`] sends it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::client::NodeInfo;
use crate::events::target_doc;
use crate::manifest::{Manifest, RouteTarget};
use crate::substitutions;

pub struct Desired {
    /// Dead-letter queues before the queues that name them: (name, attributes).
    pub queues: Vec<(String, Map<String, Value>)>,
    /// Buses other than `default` that rules and destinations name.
    pub buses: Vec<String>,
    pub functions: Vec<Function>,
    pub workflows: Vec<Workflow>,
    /// (route key, `PUT /v1/routes` body).
    pub routes: Vec<(String, Value)>,
    /// (bus, rule, `PUT /v1/buses/{bus}/rules/{rule}` body).
    pub rules: Vec<(String, String, Value)>,
    /// (name, `PUT /v1/schedules/{name}` body).
    pub schedules: Vec<(String, Value)>,
    /// (name, `PUT /v1/sources/{name}` body).
    pub sources: Vec<(String, Value)>,
}

pub struct Function {
    pub name: String,
    /// Every setting the manifest decides, as `PUT /v1/functions/{name}` takes them; a
    /// setting left out of the manifest is its default (memory 128, timeout 3, no
    /// environment, ...), except the instance counts, which the node sizes.
    pub settings: Map<String, Value>,
    pub code: Vec<u8>,
    /// The digest the node reports for this code (`config.code_sha256`).
    pub code_sha256: String,
}

pub struct Workflow {
    pub name: String,
    pub definition: Value,
    /// STANDARD or EXPRESS.
    pub kind: String,
    pub alias: Option<String>,
}

impl Desired {
    /// Builds and packages the functions (showing progress), reads the definitions and
    /// fills in their placeholders from `node`.
    pub fn of(manifest: &Manifest, dir: &Path, node: &NodeInfo) -> Result<Desired> {
        let arn = |service: &str, rest: &str| {
            format!("arn:aws:{service}:{}:{}:{rest}", node.region, node.account)
        };
        let mut queues: Vec<(String, Map<String, Value>)> = Vec::new();
        for (name, q) in &manifest.queues {
            let q = q.get_ref();
            let mut attributes = Map::new();
            if let Some(v) = q.visibility_timeout {
                attributes.insert("VisibilityTimeout".into(), json!(v.to_string()));
            }
            if let Some(d) = &q.dead_letter_queue {
                let policy = json!({ "deadLetterTargetArn": arn("sqs", d.get_ref()), "maxReceiveCount": q.max_receives.unwrap_or(5) });
                attributes.insert("RedrivePolicy".into(), json!(policy.to_string()));
            }
            queues.push((name.clone(), attributes));
        }
        queues.sort_by_key(|(_, a)| a.contains_key("RedrivePolicy"));

        let mut buses: Vec<String> = Vec::new();
        let mut need_bus = |bus: &str| {
            if bus != "default" && !buses.iter().any(|b| b == bus) {
                buses.push(bus.to_owned());
            }
        };

        let mut functions = Vec::new();
        for (name, f) in &manifest.functions {
            let f = f.get_ref();
            let source = dir.join(f.source.get_ref());
            if let Some(cmd) = &f.build {
                let mut sh = std::process::Command::new("sh");
                sh.args(["-c", cmd]).current_dir(&source);
                let out = crate::progress::build(&format!("building {name}"), sh, false)?;
                if !out.status.success() {
                    bail!(
                        "the build of function {name} failed ({cmd}): {}",
                        out.last_line()
                    );
                }
            }
            let runtime = f.runtime.get_ref();
            let wasm = runtime == "wasm";
            let code = crate::functions::package(name, &source, wasm)?;
            let code_sha256 = crate::functions::code_sha256(&code, wasm);
            let destination = |spec: &Option<toml::Spanned<String>>| -> Result<Value> {
                let Some(spec) = spec else {
                    return Ok(Value::Null);
                };
                let spec = spec.get_ref();
                let (kind, target) = spec
                    .split_once(':')
                    .with_context(|| format!("functions.{name}: '{spec}' is not KIND:NAME"))?;
                Ok(json!(match kind {
                    "function" => arn("lambda", &format!("function:{target}")),
                    "workflow" => arn("states", &format!("stateMachine:{target}")),
                    "bus" => arn("events", &format!("event-bus/{target}")),
                    "queue" => arn("sqs", target),
                    other => bail!("functions.{name}: '{other}' is not a destination kind"),
                }))
            };
            for spec in [&f.on_success, &f.on_failure].into_iter().flatten() {
                if let Some(bus) = spec.get_ref().strip_prefix("bus:") {
                    need_bus(bus);
                }
            }
            let mut settings = Map::new();
            settings.insert("runtime".into(), json!(runtime));
            if let Some(h) = &f.handler {
                settings.insert("handler".into(), json!(h));
            }
            settings.insert(
                "memory_mb".into(),
                json!(f.memory.as_ref().map_or(128, |m| *m.get_ref())),
            );
            settings.insert(
                "timeout_seconds".into(),
                json!(f.timeout.as_ref().map_or(3, |t| *t.get_ref())),
            );
            settings.insert("environment".into(), json!(f.environment));
            settings.insert("secrets".into(), json!(f.secrets));
            settings.insert("allowed_hosts".into(), json!(f.allowed_hosts));
            if let Some(n) = f.min_instances {
                settings.insert("min_instances".into(), json!(n));
            }
            if let Some(n) = f.max_instances.or(f.concurrency) {
                settings.insert("max_instances".into(), json!(n));
            }
            settings.insert(
                "event_invoke".into(),
                json!({
                    "maximum_retry_attempts": f.retries.as_ref().map_or(2, |r| *r.get_ref()),
                    "maximum_event_age_seconds": f.max_event_age.as_ref().map_or(21_600, |a| *a.get_ref()),
                    "on_success": destination(&f.on_success)?,
                    "on_failure": destination(&f.on_failure)?,
                }),
            );
            functions.push(Function {
                name: name.clone(),
                settings,
                code,
                code_sha256,
            });
        }

        let mut built_ins = BTreeMap::new();
        built_ins.insert("ApiUrl".to_owned(), node.api_url.clone());
        built_ins.insert("Region".to_owned(), node.region.clone());
        built_ins.insert("AccountId".to_owned(), node.account.clone());
        if let Some(r) = &node.routes_url {
            built_ins.insert("RoutesUrl".to_owned(), r.clone());
        }
        let mut workflows = Vec::new();
        for (name, w) in &manifest.workflows {
            let w = w.get_ref();
            let file = dir.join(w.definition.get_ref());
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut definition: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", file.display()))?;
            let own: BTreeMap<String, String> = w
                .substitutions
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect();
            let values =
                substitutions::resolve(&own, &built_ins).map_err(|e| unknown(name, &e, node))?;
            let missing = substitutions::substitute(&mut definition, &values);
            if let Some(m) = missing.first() {
                return Err(unknown(
                    name,
                    &format!("{}: ${{{m}}} has no value", file.display()),
                    node,
                ));
            }
            workflows.push(Workflow {
                name: name.clone(),
                definition,
                kind: w
                    .kind
                    .as_ref()
                    .map_or_else(|| "STANDARD".to_owned(), |k| k.get_ref().clone()),
                alias: w.alias.as_ref().map(|a| a.get_ref().clone()),
            });
        }

        let mut routes = Vec::new();
        for r in &manifest.routes {
            let r = r.get_ref();
            let key = r.route.get_ref().clone();
            let body = match r.target() {
                Some(RouteTarget::Function(f)) => json!({ "route": key, "function": f }),
                Some(RouteTarget::Workflow(w)) => json!({ "route": key, "workflow": w }),
                None => bail!("route {key} has no function or workflow"),
            };
            routes.push((key, body));
        }

        let mut rules = Vec::new();
        for (name, rule) in &manifest.rules {
            let rule = rule.get_ref();
            need_bus(&rule.bus);
            let targets: Vec<Value> = rule
                .targets
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut doc = target_doc(&format!("t{}", i + 1), t.get_ref())?;
                    doc["input"] = match &rule.input_path {
                        Some(p) => json!({ "type": "path", "path": p }),
                        None => json!({ "type": "event" }),
                    };
                    Ok(doc)
                })
                .collect::<Result<_>>()?;
            let mut body = json!({ "targets": targets, "pattern": null, "schedule": null });
            if let Some(p) = &rule.pattern {
                body["pattern"] = serde_json::to_value(p.get_ref())?;
            }
            if let Some(s) = &rule.schedule {
                body["schedule"] = json!(s.get_ref());
            }
            rules.push((rule.bus.clone(), name.clone(), body));
        }

        let mut schedules = Vec::new();
        for (name, s) in &manifest.schedules {
            let s = s.get_ref();
            let mut target = target_doc("target", s.target.get_ref())?;
            target["input"] = match &s.input {
                Some(input) => {
                    json!({ "type": "constant", "value": serde_json::to_value(input)?.to_string() })
                }
                None => json!({ "type": "event" }),
            };
            let body = json!({ "expression": s.expression.get_ref(), "timezone": s.timezone.get_ref(), "target": target });
            schedules.push((name.clone(), body));
        }

        let mut sources = Vec::new();
        for (name, s) in &manifest.sources {
            sources.push((name.clone(), serde_json::to_value(s.get_ref())?));
        }

        Ok(Desired {
            queues,
            buses,
            functions,
            workflows,
            routes,
            rules,
            schedules,
            sources,
        })
    }
}

/// A placeholder without a value at deploy time (the check passed, so it is a built-in the
/// node does not know, such as `RoutesUrl` of a node without a routes listener).
fn unknown(workflow: &str, problem: &str, node: &NodeInfo) -> anyhow::Error {
    let hint = if node.routes_url.is_none() {
        " (the node's node.json names no routes listener, so ${RoutesUrl} has no value)"
    } else {
        ""
    };
    anyhow::anyhow!("workflows.{workflow}: {problem}{hint}")
}
