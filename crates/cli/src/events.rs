//! The event commands: put events, and manage buses, rules, schedules, broker sources,
//! webhooks and dead-lettered events on a node (clients of its native API).
//!
//! A target is written `KIND:WHAT`: `function:NAME` (asynchronous, as EventBridge invokes
//! Lambda; `function:NAME?sync` waits for the result), `workflow:NAME`, `queue:NAME`,
//! `bus:NAME`, an `http://` or `https://` URL, `nats://HOST:PORT/SUBJECT` or
//! `mqtt://HOST:PORT/TOPIC`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::DataDir;
use crate::client::Client;

#[derive(Subcommand)]
pub enum EventCommand {
    /// Put an event on a bus; prints its id and how many deliveries it made.
    Put {
        /// The event's source (EventBridge's `source`).
        #[arg(long)]
        source: String,
        /// The event's type (EventBridge's `detail-type`).
        #[arg(long = "type")]
        ty: String,
        /// The event's data (EventBridge's `detail`), as JSON text or @FILE.
        #[arg(long, default_value = "{}")]
        detail: String,
        #[arg(long, default_value = "default")]
        bus: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Check whether an event (JSON text or @FILE) matches a pattern.
    Test {
        #[arg(long)]
        pattern: String,
        #[arg(long)]
        event: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Events that could not be delivered, newest first, with the reason.
    DeadLetters {
        #[arg(long, default_value = "default")]
        bus: String,
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Subcommand)]
// Parsed once per process; the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum RuleCommand {
    /// Create or replace a rule: a pattern or a schedule, and its targets.
    Put {
        name: String,
        /// An event pattern (JSON text or @FILE).
        #[arg(long, required_unless_present = "schedule")]
        pattern: Option<String>,
        /// rate(...) or cron(...).
        #[arg(long, conflicts_with = "pattern")]
        schedule: Option<String>,
        /// The time zone of a cron schedule.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// A target (repeatable): function:NAME[?sync], workflow:NAME, queue:NAME,
        /// bus:NAME, http(s)://URL, nats://HOST:PORT/SUBJECT, mqtt://HOST:PORT/TOPIC.
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
        /// What the targets receive instead of the event: constant JSON.
        #[arg(long, conflicts_with_all = ["input_path", "template"])]
        input: Option<String>,
        /// What the targets receive: the part of the event a JSON path selects.
        #[arg(long)]
        input_path: Option<String>,
        /// An input template with <placeholders> filled from --var NAME=PATH.
        #[arg(long)]
        template: Option<String>,
        /// A placeholder of --template: NAME=$.detail.x (repeatable).
        #[arg(long = "var", value_name = "NAME=PATH")]
        vars: Vec<String>,
        /// A Cirrus queue that receives the events that cannot be delivered.
        #[arg(long)]
        dead_letter_queue: Option<String>,
        /// Retries after the first attempt (0 to 185).
        #[arg(long)]
        max_retries: Option<u32>,
        /// Seconds an event is retried (60 to 86400).
        #[arg(long)]
        max_age: Option<u32>,
        #[arg(long)]
        disabled: bool,
        #[arg(long, default_value = "default")]
        bus: String,
        #[command(flatten)]
        dir: DataDir,
    },
    List {
        #[arg(long, default_value = "default")]
        bus: String,
        #[command(flatten)]
        dir: DataDir,
    },
    Delete {
        name: String,
        #[arg(long, default_value = "default")]
        bus: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Create or replace a schedule with one target.
    Put {
        name: String,
        /// rate(5 minutes), cron(0 9 ? * MON-FRI *), at(2026-12-24T18:00:00).
        expression: String,
        #[arg(long)]
        target: String,
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// What the target receives: constant JSON (the Scheduled Event otherwise).
        #[arg(long)]
        input: Option<String>,
        /// Ticks missed while the node was down: fire_once, skip or fire_all.
        #[arg(long, default_value = "fire_once")]
        missed: String,
        #[command(flatten)]
        dir: DataDir,
    },
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    Delete {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Subcommand)]
pub enum SourceCommand {
    /// Subscribe a bus to MQTT topics: every message becomes an event.
    Mqtt {
        name: String,
        /// mqtt://HOST:PORT
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        url: String,
        /// A topic filter (repeatable); + and # wildcards work.
        #[arg(long = "topic", required = true)]
        topics: Vec<String>,
        #[arg(long, default_value_t = 1)]
        qos: u8,
        #[arg(long, default_value = "default")]
        bus: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Subscribe a bus to a NATS subject (or a JetStream stream with --stream).
    Nats {
        name: String,
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        url: String,
        #[arg(long)]
        subject: String,
        /// Consume durably from this JetStream stream.
        #[arg(long)]
        stream: Option<String>,
        #[arg(long, default_value = "default")]
        bus: String,
        #[command(flatten)]
        dir: DataDir,
    },
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    Delete {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Accept signed requests at POST /webhooks/NAME on the routes listener.
    Put {
        name: String,
        /// The node secret that signs requests (`cirrus secret set NAME`).
        #[arg(long)]
        secret: String,
        /// github (X-Hub-Signature-256), stripe (Stripe-Signature) or generic.
        #[arg(long, default_value = "github")]
        scheme: String,
        /// generic: the header with the signature.
        #[arg(long)]
        header: Option<String>,
        #[arg(long, default_value = "default")]
        bus: String,
        #[command(flatten)]
        dir: DataDir,
    },
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    Delete {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

/// JSON text, or the contents of @FILE.
fn json_arg(text: &str, what: &str) -> Result<Value> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {what} from {path}: {e}"))?,
        None => text.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{what} is not valid JSON: {e}"))
}

/// A target spec as the native API's target document.
pub fn target_doc(id: &str, spec: &str) -> Result<Value> {
    let action = if let Some(rest) = spec.strip_prefix("function:") {
        let (name, sync) = match rest.strip_suffix("?sync") {
            Some(n) => (n, true),
            None => (rest, false),
        };
        let (name, qualifier) = match name.split_once(':') {
            Some((n, q)) => (n, Some(q)),
            None => (name, None),
        };
        json!({ "type": "function", "function": name, "qualifier": qualifier, "sync": sync })
    } else if let Some(name) = spec.strip_prefix("workflow:") {
        json!({ "type": "workflow", "state_machine": name })
    } else if let Some(name) = spec.strip_prefix("queue:") {
        json!({ "type": "queue", "queue": name })
    } else if let Some(name) = spec.strip_prefix("bus:") {
        json!({ "type": "bus", "bus": name })
    } else if spec.starts_with("http://") || spec.starts_with("https://") {
        json!({ "type": "http", "url": spec })
    } else if let Some((scheme, rest)) = spec
        .split_once("://")
        .filter(|(s, _)| matches!(*s, "nats" | "mqtt"))
    {
        let Some((host, path)) = rest.split_once('/') else {
            bail!("target '{spec}' needs a subject or topic after the host");
        };
        let key = if scheme == "nats" { "subject" } else { "topic" };
        json!({ "type": "publish", "broker": { "type": scheme, "url": format!("{scheme}://{host}"), key: path } })
    } else {
        bail!(
            "target '{spec}' is not function:NAME, workflow:NAME, queue:NAME, bus:NAME, an http(s) URL, nats://HOST/SUBJECT or mqtt://HOST/TOPIC"
        );
    };
    Ok(json!({ "id": id, "action": action }))
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub fn event(cmd: EventCommand) -> Result<ExitCode> {
    match cmd {
        EventCommand::Put {
            source,
            ty,
            detail,
            bus,
            dir,
        } => {
            let c = Client::discover(&dir.path())?;
            let data = json_arg(&detail, "--detail")?;
            let v = c.call(Method::POST, "/events", Some(json!({ "bus": bus, "events": [{ "source": source, "type": ty, "data": data, "datacontenttype": "application/json" }] })))?;
            println!(
                "{} ({} deliveries)",
                v["ids"][0].as_str().unwrap_or(""),
                v["deliveries"]
            );
        }
        EventCommand::Test {
            pattern,
            event,
            dir,
        } => {
            let c = Client::discover(&dir.path())?;
            let body = json!({ "pattern": json_arg(&pattern, "--pattern")?, "event": json_arg(&event, "--event")? });
            let v = c.call(Method::POST, "/patterns/test", Some(body))?;
            let matches = v["matches"].as_bool().unwrap_or(false);
            println!("{}", if matches { "matches" } else { "does not match" });
            return Ok(if matches {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        EventCommand::DeadLetters {
            bus,
            rule,
            limit,
            dir,
        } => {
            let c = Client::discover(&dir.path())?;
            let mut path = format!("/dead-events?bus={bus}&limit={limit}");
            if let Some(r) = rule {
                path.push_str(&format!("&rule={r}"));
            }
            let v = c.call(Method::GET, &path, None)?;
            for d in v["dead_events"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}/{} → {}  {} after {} attempts: {}",
                    d["failed"].as_str().unwrap_or(""),
                    d["bus"].as_str().unwrap_or(""),
                    d["rule"].as_str().unwrap_or(""),
                    d["target"].as_str().unwrap_or(""),
                    d["reason"].as_str().unwrap_or(""),
                    d["attempts"],
                    d["last_error"]["message"].as_str().unwrap_or(""),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rule(cmd: RuleCommand) -> Result<ExitCode> {
    match cmd {
        RuleCommand::Put {
            name,
            pattern,
            schedule,
            timezone,
            targets,
            input,
            input_path,
            template,
            vars,
            dead_letter_queue,
            max_retries,
            max_age,
            disabled,
            bus,
            dir,
        } => {
            let c = Client::discover(&dir.path())?;
            let input_doc = if let Some(i) = input {
                Some(json!({ "type": "constant", "value": json_arg(&i, "--input")?.to_string() }))
            } else if let Some(p) = input_path {
                Some(json!({ "type": "path", "path": p }))
            } else if let Some(t) = template {
                let mut paths = serde_json::Map::new();
                for v in &vars {
                    let Some((k, p)) = v.split_once('=') else {
                        bail!("--var '{v}' must be NAME=PATH");
                    };
                    paths.insert(k.into(), json!(p));
                }
                Some(json!({ "type": "transformer", "paths": paths, "template": t }))
            } else {
                None
            };
            let mut docs = Vec::new();
            for (i, spec) in targets.iter().enumerate() {
                let mut t = target_doc(&format!("t{}", i + 1), spec)?;
                if let Some(inp) = &input_doc {
                    t["input"] = inp.clone();
                }
                if let Some(q) = &dead_letter_queue {
                    t["dead_letter_queue"] = json!(q);
                }
                if max_retries.is_some() || max_age.is_some() {
                    t["retry"] = json!({
                        "maximum_retry_attempts": max_retries.unwrap_or(185),
                        "maximum_event_age_seconds": max_age.unwrap_or(86_400),
                    });
                }
                docs.push(t);
            }
            let mut body = json!({ "targets": docs, "enabled": !disabled, "timezone": timezone });
            if let Some(p) = pattern {
                body["pattern"] = json_arg(&p, "--pattern")?;
            }
            if let Some(s) = schedule {
                body["schedule"] = json!(s);
            }
            c.call(
                Method::PUT,
                &format!("/buses/{bus}/rules/{name}"),
                Some(body),
            )?;
            println!("rule {name} on bus {bus}: {} target(s)", targets.len());
        }
        RuleCommand::List { bus, dir } => {
            let c = Client::discover(&dir.path())?;
            let v = c.call(Method::GET, &format!("/buses/{bus}/rules"), None)?;
            for r in v["rules"].as_array().into_iter().flatten() {
                let when = match (&r["pattern"], &r["schedule"]) {
                    (p, _) if !p.is_null() => p.to_string(),
                    (_, s) => s.as_str().unwrap_or("").to_owned(),
                };
                let targets: Vec<String> = r["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| t["action"]["type"].as_str().unwrap_or("").to_owned())
                    .collect();
                let state = if r["enabled"].as_bool().unwrap_or(true) {
                    ""
                } else {
                    " (disabled)"
                };
                println!(
                    "{}{state}  {when}  → {}",
                    r["name"].as_str().unwrap_or(""),
                    targets.join(", ")
                );
            }
        }
        RuleCommand::Delete { name, bus, dir } => {
            let c = Client::discover(&dir.path())?;
            c.call(Method::DELETE, &format!("/buses/{bus}/rules/{name}"), None)?;
            println!("deleted rule {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn schedule(cmd: ScheduleCommand) -> Result<ExitCode> {
    match cmd {
        ScheduleCommand::Put {
            name,
            expression,
            target,
            timezone,
            input,
            missed,
            dir,
        } => {
            let c = Client::discover(&dir.path())?;
            let mut t = target_doc("target", &target)?;
            if let Some(i) = input {
                t["input"] =
                    json!({ "type": "constant", "value": json_arg(&i, "--input")?.to_string() });
            }
            let body = json!({ "expression": expression, "timezone": timezone, "target": t, "missed": missed });
            let v = c.call(Method::PUT, &format!("/schedules/{name}"), Some(body))?;
            match v["next"].as_str() {
                Some(next) => println!("schedule {name}: next at {next}"),
                None => println!("schedule {name}: no tick left"),
            }
        }
        ScheduleCommand::List { dir } => {
            let c = Client::discover(&dir.path())?;
            let v = c.call(Method::GET, "/schedules", None)?;
            for s in v["schedules"].as_array().into_iter().flatten() {
                println!(
                    "{}  {} ({})  next {}",
                    s["name"].as_str().unwrap_or(""),
                    s["expression"].as_str().unwrap_or(""),
                    s["timezone"].as_str().unwrap_or(""),
                    s["next"].as_str().unwrap_or("-"),
                );
            }
        }
        ScheduleCommand::Delete { name, dir } => {
            let c = Client::discover(&dir.path())?;
            c.call(Method::DELETE, &format!("/schedules/{name}"), None)?;
            println!("deleted schedule {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn source(cmd: SourceCommand) -> Result<ExitCode> {
    match cmd {
        SourceCommand::Mqtt {
            name,
            url,
            topics,
            qos,
            bus,
            dir,
        } => {
            let c = Client::discover(&dir.path())?;
            let body =
                json!({ "type": "mqtt", "url": url, "topics": topics, "qos": qos, "bus": bus });
            c.call(Method::PUT, &format!("/sources/{name}"), Some(body))?;
            println!("source {name}: MQTT {} → bus {bus}", topics.join(", "));
        }
        SourceCommand::Nats {
            name,
            url,
            subject,
            stream,
            bus,
            dir,
        } => {
            let c = Client::discover(&dir.path())?;
            let body = match stream {
                Some(s) => {
                    json!({ "type": "nats", "url": url, "bus": bus, "jetstream": { "stream": s, "consumer": format!("cirrus-{name}"), "subjects": [subject] } })
                }
                None => json!({ "type": "nats", "url": url, "subject": subject, "bus": bus }),
            };
            c.call(Method::PUT, &format!("/sources/{name}"), Some(body))?;
            println!("source {name}: NATS {subject} → bus {bus}");
        }
        SourceCommand::List { dir } => {
            let c = Client::discover(&dir.path())?;
            print(&c.call(Method::GET, "/sources", None)?);
        }
        SourceCommand::Delete { name, dir } => {
            let c = Client::discover(&dir.path())?;
            c.call(Method::DELETE, &format!("/sources/{name}"), None)?;
            println!("deleted source {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn webhook(cmd: WebhookCommand) -> Result<ExitCode> {
    match cmd {
        WebhookCommand::Put {
            name,
            secret,
            scheme,
            header,
            bus,
            dir,
        } => {
            let c = Client::discover(&dir.path())?;
            let mut body = json!({ "secret": secret, "scheme": scheme, "bus": bus });
            if let Some(h) = header {
                body["header"] = json!(h);
            }
            let v = c.call(Method::PUT, &format!("/webhooks/{name}"), Some(body))?;
            println!(
                "webhook {name}: POST {} on the routes listener → bus {bus}",
                v["path"].as_str().unwrap_or("")
            );
        }
        WebhookCommand::List { dir } => {
            let c = Client::discover(&dir.path())?;
            print(&c.call(Method::GET, "/webhooks", None)?);
        }
        WebhookCommand::Delete { name, dir } => {
            let c = Client::discover(&dir.path())?;
            c.call(Method::DELETE, &format!("/webhooks/{name}"), None)?;
            println!("deleted webhook {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_specs() {
        assert_eq!(
            target_doc("a", "function:f?sync").unwrap()["action"]["sync"],
            true
        );
        assert_eq!(
            target_doc("a", "function:f:live").unwrap()["action"]["qualifier"],
            "live"
        );
        assert_eq!(
            target_doc("a", "mqtt://h:1883/a/b").unwrap()["action"]["broker"]["topic"],
            "a/b"
        );
        assert!(target_doc("a", "sns:x").is_err());
        assert!(target_doc("a", "nats://h:4222").is_err());
    }
}
