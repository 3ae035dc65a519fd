//! The documents of buses, rules and targets, as the node stores them (a
//! [`cirrus_store::Resource`] of kind `bus` named after the bus, and of kind `rule` named
//! `<bus>/<rule>`), their validation, and their translation to and from EventBridge's
//! shapes (a target's `Arn` says what it is).

use std::collections::BTreeMap;

use cirrus_events::{InputTransformer, Pattern, ScheduleExpression, TimeZone};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const RESOURCE_BUS: &str = "bus";
pub const RESOURCE_RULE: &str = "rule";
pub const DEFAULT_BUS: &str = "default";
/// EventBridge's limit of targets per rule.
pub const MAX_TARGETS: usize = 5;

/// A bad bus, rule or target, with what is wrong and where.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// Checks a bus, rule, archive or target name: 1–64 of letters, digits, `.`, `-`, `_`.
pub fn check_name(name: &str, what: &str) -> Result<(), Invalid> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} name '{name}' is not valid: use 1 to 64 letters, digits, '.', '-' or '_'"
        )))
    }
}

/// An event bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BusDoc {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// A rule: a pattern or a schedule, and its targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleDoc {
    pub name: String,
    pub bus: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Value>,
    /// `rate(...)`, `cron(...)` (only on the default bus, as on EventBridge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default = "utc")]
    pub timezone: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub targets: Vec<TargetDoc>,
}

fn utc() -> String {
    "UTC".into()
}

fn enabled() -> bool {
    true
}

impl RuleDoc {
    pub fn key(&self) -> String {
        format!("{}/{}", self.bus, self.name)
    }

    /// Checks the rule and its targets; compiles its pattern.
    pub fn validate(&self) -> Result<Option<Pattern>, Invalid> {
        check_name(&self.name, "rule")?;
        check_name(&self.bus, "event bus")?;
        let pattern = match (&self.pattern, &self.schedule) {
            (None, None) => {
                return Err(invalid(format!(
                    "rule '{}' needs an event pattern or a schedule expression",
                    self.name
                )));
            }
            (Some(p), _) => Some(Pattern::from_value(p).map_err(|e| invalid(e.to_string()))?),
            (None, Some(_)) => None,
        };
        if let Some(s) = &self.schedule {
            let expr = ScheduleExpression::parse(s).map_err(|e| invalid(e.to_string()))?;
            if !expr.is_recurring() {
                return Err(invalid(format!(
                    "rule '{}': a rule's schedule must be rate(...) or cron(...); use a schedule for at(...)",
                    self.name
                )));
            }
            TimeZone::parse(&self.timezone).map_err(|e| invalid(e.to_string()))?;
        }
        check_targets(&self.targets)?;
        Ok(pattern)
    }
}

pub fn check_targets(targets: &[TargetDoc]) -> Result<(), Invalid> {
    if targets.len() > MAX_TARGETS {
        return Err(invalid(format!(
            "a rule has at most {MAX_TARGETS} targets, not {}",
            targets.len()
        )));
    }
    let mut ids = std::collections::HashSet::new();
    for t in targets {
        t.validate()?;
        if !ids.insert(t.id.as_str()) {
            return Err(invalid(format!("target id '{}' appears twice", t.id)));
        }
    }
    Ok(())
}

/// Where a target delivers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Invoke a function: asynchronously (its own retries and destinations apply, as
    /// EventBridge invokes Lambda) or synchronously (the delivery retries on its error).
    Function {
        function: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qualifier: Option<String>,
        #[serde(default)]
        sync: bool,
    },
    /// Start an execution of a state machine (an ARN of a machine, version or alias, or a
    /// machine's name).
    Workflow { state_machine: String },
    /// Send a message to a Cirrus queue.
    Queue { queue: String },
    /// POST (or another method) to an HTTP endpoint; 2xx is delivered, 429 and 5xx are
    /// retried, other statuses fail at once.
    Http {
        url: String,
        #[serde(default = "post")]
        method: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// Publish to a NATS subject or an MQTT topic (`{"type": "nats", ...}` as the broker
    /// module parses it).
    Publish { broker: Value },
    /// Put the event on another bus.
    Bus { bus: String },
}

fn post() -> String {
    "POST".into()
}

/// What a target receives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputDoc {
    /// The whole event, EventBridge-shaped.
    #[default]
    Event,
    /// The event as a CloudEvent (structured JSON).
    CloudEvent,
    /// This JSON text.
    Constant { value: String },
    /// The part of the event a JSON path selects.
    Path { path: String },
    /// An input transformer.
    Transformer {
        paths: BTreeMap<String, String>,
        template: String,
    },
}

impl InputDoc {
    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            InputDoc::Event | InputDoc::CloudEvent => Ok(()),
            InputDoc::Constant { value } => serde_json::from_str::<Value>(value)
                .map(|_| ())
                .map_err(|e| invalid(format!("Input is not valid JSON: {e}"))),
            InputDoc::Path { path } => {
                cirrus_events::transform::check_path(path).map_err(|e| invalid(e.to_string()))
            }
            InputDoc::Transformer { paths, template } => {
                InputTransformer::new(paths.clone(), template)
                    .map(|_| ())
                    .map_err(|e| invalid(e.to_string()))
            }
        }
    }
}

/// How long and how often a delivery is tried.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryDoc {
    /// Retries after the first attempt (EventBridge: 0–185, default 185).
    pub maximum_retry_attempts: u32,
    /// EventBridge: 60–86,400 s, default 86,400.
    pub maximum_event_age_seconds: u32,
}

impl Default for RetryDoc {
    fn default() -> Self {
        RetryDoc {
            maximum_retry_attempts: 185,
            maximum_event_age_seconds: 86_400,
        }
    }
}

/// One target of a rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetDoc {
    pub id: String,
    pub action: Action,
    #[serde(default)]
    pub input: InputDoc,
    #[serde(default)]
    pub retry: RetryDoc,
    /// A Cirrus queue that receives what cannot be delivered (the dead letters are kept
    /// by the node either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue: Option<String>,
    /// The ARN EventBridge's API was given, reported back by `ListTargetsByRule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

impl TargetDoc {
    pub fn validate(&self) -> Result<(), Invalid> {
        let id_ok = (1..=64).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !id_ok {
            return Err(invalid(format!(
                "target id '{}' is not valid: use 1 to 64 letters, digits, '.', '-' or '_'",
                self.id
            )));
        }
        let ctx = |m: String| invalid(format!("target '{}': {m}", self.id));
        match &self.action {
            Action::Function { function, .. } if function.is_empty() => {
                return Err(ctx("names no function".into()));
            }
            Action::Workflow { state_machine } if state_machine.is_empty() => {
                return Err(ctx("names no state machine".into()));
            }
            Action::Queue { queue } => check_name(queue, "queue").map_err(|e| ctx(e.0))?,
            Action::Bus { bus } => check_name(bus, "event bus").map_err(|e| ctx(e.0))?,
            Action::Http { url, method, .. } => {
                let u = url
                    .parse::<http::Uri>()
                    .map_err(|e| ctx(format!("url '{url}': {e}")))?;
                if !matches!(u.scheme_str(), Some("http" | "https")) || u.host().is_none() {
                    return Err(ctx(format!(
                        "url '{url}' must be an http:// or https:// URL"
                    )));
                }
                if method.parse::<http::Method>().is_err() {
                    return Err(ctx(format!("'{method}' is not an HTTP method")));
                }
            }
            Action::Publish { broker } => {
                super::brokers::PublishTarget::parse(broker).map_err(|e| ctx(e.to_string()))?;
            }
            _ => {}
        }
        self.input.validate().map_err(|e| ctx(e.0))?;
        let r = self.retry;
        if r.maximum_retry_attempts > 185 {
            return Err(ctx(format!(
                "MaximumRetryAttempts is {}; it must be 0 to 185",
                r.maximum_retry_attempts
            )));
        }
        if !(60..=86_400).contains(&r.maximum_event_age_seconds) {
            return Err(ctx(format!(
                "MaximumEventAgeInSeconds is {}; it must be 60 to 86400",
                r.maximum_event_age_seconds
            )));
        }
        if let Some(q) = &self.dead_letter_queue {
            check_name(q, "dead-letter queue").map_err(|e| ctx(e.0))?;
        }
        Ok(())
    }
}

/// The partition's ARNs of buses and rules.
pub fn bus_arn(p: &cirrus_engine::Partition, bus: &str) -> String {
    format!("arn:aws:events:{}:{}:event-bus/{bus}", p.region, p.account)
}

pub fn rule_arn(p: &cirrus_engine::Partition, bus: &str, rule: &str) -> String {
    if bus == DEFAULT_BUS {
        format!("arn:aws:events:{}:{}:rule/{rule}", p.region, p.account)
    } else {
        format!(
            "arn:aws:events:{}:{}:rule/{bus}/{rule}",
            p.region, p.account
        )
    }
}

/// The bus a name or ARN (`EventBusName` accepts both) names.
pub fn bus_name(given: &str) -> &str {
    match given.rsplit_once(":event-bus/") {
        Some((_, name)) => name,
        None => given,
    }
}

/// Reads an EventBridge `Target` (as `PutTargets` takes it).
pub fn target_from_aws(t: &Value) -> Result<TargetDoc, Invalid> {
    let id = t
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a target has no Id"))?
        .to_owned();
    let arn = t
        .get("Arn")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("target '{id}' has no Arn")))?
        .to_owned();
    let action = action_from_arn(&arn).map_err(|e| invalid(format!("target '{id}': {}", e.0)))?;
    let input = if let Some(text) = t.get("Input").and_then(Value::as_str) {
        InputDoc::Constant { value: text.into() }
    } else if let Some(path) = t.get("InputPath").and_then(Value::as_str) {
        InputDoc::Path { path: path.into() }
    } else if let Some(tr) = t.get("InputTransformer") {
        let template = tr
            .get("InputTemplate")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(format!(
                    "target '{id}': InputTransformer needs an InputTemplate"
                ))
            })?
            .to_owned();
        let mut paths = BTreeMap::new();
        if let Some(map) = tr.get("InputPathsMap") {
            let Some(map) = map.as_object() else {
                return Err(invalid(format!(
                    "target '{id}': InputPathsMap must be an object"
                )));
            };
            for (k, v) in map {
                let Some(v) = v.as_str() else {
                    return Err(invalid(format!(
                        "target '{id}': InputPathsMap.{k} must be a string"
                    )));
                };
                paths.insert(k.clone(), v.to_owned());
            }
        }
        InputDoc::Transformer { paths, template }
    } else {
        InputDoc::Event
    };
    let mut retry = RetryDoc::default();
    if let Some(r) = t.get("RetryPolicy") {
        if let Some(n) = r.get("MaximumRetryAttempts") {
            retry.maximum_retry_attempts = n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "target '{id}': MaximumRetryAttempts must be a number"
                    ))
                })?;
        }
        if let Some(n) = r.get("MaximumEventAgeInSeconds") {
            retry.maximum_event_age_seconds = n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "target '{id}': MaximumEventAgeInSeconds must be a number"
                    ))
                })?;
        }
    }
    let dead_letter_queue = match t.get("DeadLetterConfig").and_then(|d| d.get("Arn")) {
        Some(Value::String(a)) => Some(
            sqs_queue_name(a)
                .ok_or_else(|| {
                    invalid(format!(
                        "target '{id}': DeadLetterConfig.Arn '{a}' is not an SQS queue ARN"
                    ))
                })?
                .to_owned(),
        ),
        Some(_) => {
            return Err(invalid(format!(
                "target '{id}': DeadLetterConfig.Arn must be a string"
            )));
        }
        None => None,
    };
    let doc = TargetDoc {
        id,
        action,
        input,
        retry,
        dead_letter_queue,
        arn: Some(arn),
    };
    doc.validate()?;
    Ok(doc)
}

fn sqs_queue_name(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:sqs:")?;
    let name = rest.rsplit(':').next()?;
    (!name.is_empty()).then_some(name)
}

/// What an ARN (or a Cirrus URL) names as a target:
/// - `arn:aws:lambda:…:function:NAME[:QUALIFIER]`: a function, invoked asynchronously;
/// - `arn:aws:states:…:stateMachine:NAME[...]`: a workflow execution;
/// - `arn:aws:sqs:…:NAME`: a Cirrus queue;
/// - `arn:aws:events:…:event-bus/NAME`: another bus;
/// - `http://…`, `https://…`: an HTTP endpoint (POST);
/// - `nats://HOST:PORT/SUBJECT`, `mqtt://HOST:PORT/TOPIC`: a broker.
pub fn action_from_arn(arn: &str) -> Result<Action, Invalid> {
    if let Some(rest) = arn.strip_prefix("arn:aws:lambda:") {
        let parts: Vec<&str> = rest.split(':').collect();
        return match parts.as_slice() {
            [_, _, "function", name] => Ok(Action::Function {
                function: (*name).into(),
                qualifier: None,
                sync: false,
            }),
            [_, _, "function", name, q] => Ok(Action::Function {
                function: (*name).into(),
                qualifier: Some((*q).into()),
                sync: false,
            }),
            _ => Err(invalid(format!("'{arn}' is not a Lambda function ARN"))),
        };
    }
    if arn.starts_with("arn:aws:states:") {
        return Ok(Action::Workflow {
            state_machine: arn.into(),
        });
    }
    if let Some(name) = sqs_queue_name(arn) {
        return Ok(Action::Queue { queue: name.into() });
    }
    if arn.starts_with("arn:aws:events:") {
        return match arn.rsplit_once(":event-bus/") {
            Some((_, bus)) => Ok(Action::Bus { bus: bus.into() }),
            None => Err(invalid(format!("'{arn}' is not an event bus ARN"))),
        };
    }
    if arn.starts_with("http://") || arn.starts_with("https://") {
        return Ok(Action::Http {
            url: arn.into(),
            method: post(),
            headers: BTreeMap::new(),
        });
    }
    for (scheme, key) in [("nats://", "subject"), ("mqtt://", "topic")] {
        if let Some(rest) = arn.strip_prefix(scheme) {
            let Some((host, path)) = rest.split_once('/') else {
                return Err(invalid(format!(
                    "'{arn}' needs a {key} after the host: {scheme}HOST:PORT/{}",
                    key.to_uppercase()
                )));
            };
            let broker = json!({
                "type": scheme.trim_end_matches("://"),
                "url": format!("{scheme}{host}"),
                key: path,
            });
            return Ok(Action::Publish { broker });
        }
    }
    Err(invalid(format!(
        "Cirrus cannot deliver to '{arn}': use a Lambda function, state machine, SQS queue or event bus ARN, an http(s):// URL, or a nats:// or mqtt:// address"
    )))
}

/// The ARN a target is reported with.
pub fn target_arn(p: &cirrus_engine::Partition, t: &TargetDoc) -> String {
    if let Some(a) = &t.arn {
        return a.clone();
    }
    match &t.action {
        Action::Function {
            function,
            qualifier,
            ..
        } => {
            let base = format!(
                "arn:aws:lambda:{}:{}:function:{function}",
                p.region, p.account
            );
            match qualifier {
                Some(q) => format!("{base}:{q}"),
                None => base,
            }
        }
        Action::Workflow { state_machine } => state_machine.clone(),
        Action::Queue { queue } => format!("arn:aws:sqs:{}:{}:{queue}", p.region, p.account),
        Action::Bus { bus } => bus_arn(p, bus),
        Action::Http { url, .. } => url.clone(),
        Action::Publish { broker } => {
            let url = broker.get("url").and_then(Value::as_str).unwrap_or("");
            let path = broker
                .get("subject")
                .or_else(|| broker.get("topic"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("{url}/{path}")
        }
    }
}

/// A target in EventBridge's shape, for `ListTargetsByRule`.
pub fn target_to_aws(p: &cirrus_engine::Partition, t: &TargetDoc) -> Value {
    let mut v = json!({ "Id": t.id, "Arn": target_arn(p, t) });
    match &t.input {
        InputDoc::Event | InputDoc::CloudEvent => {}
        InputDoc::Constant { value } => v["Input"] = json!(value),
        InputDoc::Path { path } => v["InputPath"] = json!(path),
        InputDoc::Transformer { paths, template } => {
            v["InputTransformer"] = json!({ "InputPathsMap": paths, "InputTemplate": template });
        }
    }
    if t.retry != RetryDoc::default() {
        v["RetryPolicy"] = json!({
            "MaximumRetryAttempts": t.retry.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": t.retry.maximum_event_age_seconds,
        });
    }
    if let Some(q) = &t.dead_letter_queue {
        v["DeadLetterConfig"] =
            json!({ "Arn": format!("arn:aws:sqs:{}:{}:{q}", p.region, p.account) });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_map_to_actions() {
        assert_eq!(
            action_from_arn("arn:aws:lambda:us-east-1:1:function:f:live").unwrap(),
            Action::Function {
                function: "f".into(),
                qualifier: Some("live".into()),
                sync: false
            }
        );
        assert_eq!(
            action_from_arn("arn:aws:sqs:us-east-1:1:q").unwrap(),
            Action::Queue { queue: "q".into() }
        );
        assert_eq!(
            action_from_arn("arn:aws:events:us-east-1:1:event-bus/b").unwrap(),
            Action::Bus { bus: "b".into() }
        );
        assert!(matches!(
            action_from_arn("mqtt://127.0.0.1:1883/alerts/x").unwrap(),
            Action::Publish { broker } if broker["topic"] == "alerts/x"
        ));
        let err = action_from_arn("arn:aws:sns:us-east-1:1:t").unwrap_err();
        assert!(err.0.contains("cannot deliver"), "{err}");
    }

    #[test]
    fn targets_are_checked() {
        let t = json!({"Id": "a", "Arn": "arn:aws:sqs:r:1:q", "RetryPolicy": {"MaximumRetryAttempts": 500}});
        assert!(
            target_from_aws(&t)
                .unwrap_err()
                .0
                .contains("MaximumRetryAttempts")
        );
        let t = json!({"Id": "bad id", "Arn": "arn:aws:sqs:r:1:q"});
        assert!(target_from_aws(&t).unwrap_err().0.contains("target id"));
        let t = json!({"Id": "a", "Arn": "arn:aws:sqs:r:1:q", "Input": "{nope"});
        assert!(
            target_from_aws(&t)
                .unwrap_err()
                .0
                .contains("Input is not valid JSON")
        );
    }
}
