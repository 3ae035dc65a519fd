//! What a target receives when it is not the whole event: EventBridge's `InputPath` (a
//! simple JSON path, [`check_path`] and [`select`]) and `InputTransformer` (named paths
//! into the event and a template with `<name>` placeholders, [`InputTransformer`]).
//!
//! Placeholders are filled as EventBridge fills them: inside a quoted string in the
//! template a value is inserted as text (a string's characters, anything else as its JSON,
//! escaped for the string either way); outside quotes it is inserted as JSON, so a string
//! keeps its quotes. This holds for plain-text templates too (`<state>` there yields
//! `"running"` with quotes; write `"<state>"` to get the bare text inside a JSON string).
//! A path that selects nothing yields `null` outside quotes and nothing inside quotes.
//! Placeholders that name no variable are left as written. Templates that start with `{`
//! or `[` must be JSON once filled, which [`InputTransformer::new`] checks.

use std::collections::BTreeMap;

use serde_json::Value;

/// At most this many variables (EventBridge's limit).
pub const MAX_VARIABLES: usize = 100;
/// The longest template, in bytes (EventBridge's limit).
pub const MAX_TEMPLATE_LEN: usize = 8192;
/// The longest path, in bytes.
pub const MAX_PATH_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("input transformer: {0}")]
pub struct TransformError(pub String);

/// The values of the reserved placeholders `<aws.events.rule-arn>`,
/// `<aws.events.rule-name>` and `<aws.events.event.ingestion-time>`.
#[derive(Debug, Clone, Copy)]
pub struct TransformContext<'a> {
    pub rule_arn: &'a str,
    pub rule_name: &'a str,
    /// RFC 3339.
    pub ingestion_time: &'a str,
}

/// EventBridge's `InputTransformer`: `InputPathsMap` (name → JSON path into the event) and
/// `InputTemplate` with `<name>` placeholders.
#[derive(Debug, Clone)]
pub struct InputTransformer {
    paths: Vec<Path>,
    template: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Placeholder { var: Var, quoted: bool },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Var {
    /// Index into `paths`.
    Path(usize),
    RuleArn,
    RuleName,
    IngestionTime,
    /// The event without `detail`.
    Event,
    /// The whole event.
    EventJson,
}

fn reserved(name: &str) -> Option<Var> {
    Some(match name {
        "aws.events.rule-arn" => Var::RuleArn,
        "aws.events.rule-name" => Var::RuleName,
        "aws.events.event.ingestion-time" => Var::IngestionTime,
        "aws.events.event" => Var::Event,
        "aws.events.event.json" => Var::EventJson,
        _ => return None,
    })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

impl InputTransformer {
    /// Validates the paths (at most 100, simple JSON paths) and the template.
    pub fn new(
        paths: BTreeMap<String, String>,
        template: &str,
    ) -> Result<InputTransformer, TransformError> {
        if paths.len() > MAX_VARIABLES {
            return Err(TransformError(format!(
                "InputPathsMap has {} entries; at most {MAX_VARIABLES} are allowed",
                paths.len()
            )));
        }
        if template.len() > MAX_TEMPLATE_LEN {
            return Err(TransformError(format!(
                "InputTemplate is longer than {MAX_TEMPLATE_LEN} bytes"
            )));
        }
        let mut names = Vec::with_capacity(paths.len());
        let mut compiled = Vec::with_capacity(paths.len());
        for (name, path) in &paths {
            if name.is_empty() || name.len() > 256 || !name.chars().all(is_name_char) {
                return Err(TransformError(format!(
                    "InputPathsMap: the variable name '{name}' must be 1 to 256 letters, digits, \
                     '_', '-' or '.'"
                )));
            }
            if name.to_ascii_lowercase().starts_with("aws.") {
                return Err(TransformError(format!(
                    "InputPathsMap: '{name}' is reserved (names starting with 'aws.' belong to \
                     EventBridge's predefined variables)"
                )));
            }
            let parsed = Path::parse(path).map_err(|m| {
                TransformError(format!("InputPathsMap: '{name}': the path '{path}' {m}"))
            })?;
            names.push(name.as_str());
            compiled.push(parsed);
        }
        let pieces = parse_template(template, &names);
        let transformer = InputTransformer {
            paths: compiled,
            template: pieces,
        };
        let trimmed = template.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let sample = transformer.fill(|_| None);
            if let Err(e) = serde_json::from_str::<Value>(&sample) {
                return Err(TransformError(format!(
                    "InputTemplate is not valid JSON once its placeholders are filled ({e}); \
                     put a placeholder inside quotes to insert its text, outside quotes to \
                     insert its JSON value"
                )));
            }
        }
        Ok(transformer)
    }

    /// The template with the placeholders filled from `event` (EventBridge-shaped); the
    /// result is text, often but not always JSON.
    pub fn apply(&self, event: &Value, ctx: &TransformContext<'_>) -> String {
        self.fill(|var| match var {
            Var::Path(i) => self.paths.get(i).and_then(|p| p.select(event)),
            Var::RuleArn => Some(Value::String(ctx.rule_arn.to_owned())),
            Var::RuleName => Some(Value::String(ctx.rule_name.to_owned())),
            Var::IngestionTime => Some(Value::String(ctx.ingestion_time.to_owned())),
            Var::Event => Some(match event {
                Value::Object(o) => Value::Object(
                    o.iter()
                        .filter(|(k, _)| k.as_str() != "detail")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => other.clone(),
            }),
            Var::EventJson => Some(event.clone()),
        })
    }

    fn fill(&self, mut value_of: impl FnMut(Var) -> Option<Value>) -> String {
        let mut out = String::new();
        for piece in &self.template {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Placeholder { var, quoted } => {
                    let value = value_of(*var);
                    match (value, quoted) {
                        (None, true) => {}
                        (None, false) => out.push_str("null"),
                        (Some(v), false) => out.push_str(&v.to_string()),
                        (Some(Value::String(s)), true) => push_escaped(&mut out, &s),
                        (Some(v), true) => push_escaped(&mut out, &v.to_string()),
                    }
                }
            }
        }
        out
    }
}

/// Appends `s` escaped as the inside of a JSON string.
fn push_escaped(out: &mut String, s: &str) {
    let quoted = Value::String(s.to_owned()).to_string();
    out.push_str(
        quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or_default(),
    );
}

/// Splits a template into text and placeholders (for `names` and the reserved variables),
/// noting for each placeholder whether it stands inside a JSON string.
fn parse_template(template: &str, names: &[&str]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let after = rest.get(1..).unwrap_or_default();
            let name_len = after
                .find(|c: char| !is_name_char(c))
                .unwrap_or(after.len());
            let name = after.get(..name_len).unwrap_or_default();
            if after.get(name_len..).is_some_and(|r| r.starts_with('>')) {
                let var = names
                    .iter()
                    .position(|n| *n == name)
                    .map(Var::Path)
                    .or_else(|| reserved(name));
                if let Some(var) = var {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Placeholder {
                        var,
                        quoted: in_string,
                    });
                    rest = after.get(name_len + 1..).unwrap_or_default();
                    escaped = false;
                    continue;
                }
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        text.push(c);
        rest = rest.get(c.len_utf8()..).unwrap_or_default();
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// A parsed simple JSON path: `$`, `.name`, `[n]`, `.*` / `[*]`.
#[derive(Debug, Clone)]
struct Path {
    steps: Vec<Step>,
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
    Wildcard,
}

impl Path {
    fn parse(path: &str) -> Result<Path, String> {
        if path.len() > MAX_PATH_LEN {
            return Err(format!("is longer than {MAX_PATH_LEN} characters"));
        }
        let Some(mut rest) = path.strip_prefix('$') else {
            return Err("must start with '$' (e.g. $.detail.id)".into());
        };
        let is_key_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | ':' | '@');
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix(".*") {
                steps.push(Step::Wildcard);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('.') {
                let len = r.find(|c: char| !is_key_char(c)).unwrap_or(r.len());
                if len == 0 {
                    return Err("has an empty or invalid name after '.' (names may hold \
                                letters, digits, '_', '-', '/', ':' and '@')"
                        .into());
                }
                steps.push(Step::Key(r.get(..len).unwrap_or_default().to_owned()));
                rest = r.get(len..).unwrap_or_default();
            } else if let Some(r) = rest.strip_prefix("[*]") {
                steps.push(Step::Wildcard);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('[') {
                let len = r.find(']').ok_or("has a '[' without ']'")?;
                let digits = r.get(..len).unwrap_or_default();
                if digits.is_empty()
                    || digits.len() > 9
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(
                        "has an array index that is not a whole number ([0], [1], …)".into(),
                    );
                }
                steps.push(Step::Index(digits.parse().map_err(|_| "has a bad index")?));
                rest = r.get(len + 1..).unwrap_or_default();
            } else {
                return Err("is not a simple JSON path: use $.name, [index] or *".into());
            }
            if steps.len() > 32 {
                return Err("has more than 32 steps".into());
            }
        }
        Ok(Path { steps })
    }

    /// The selected value; with wildcards, an array of every match (`None` when empty).
    fn select(&self, event: &Value) -> Option<Value> {
        if !self.steps.iter().any(|s| matches!(s, Step::Wildcard)) {
            let mut v = event;
            for step in &self.steps {
                v = match step {
                    Step::Key(k) => v.as_object()?.get(k)?,
                    Step::Index(i) => v.as_array()?.get(*i)?,
                    Step::Wildcard => return None,
                };
            }
            return Some(v.clone());
        }
        let mut current: Vec<&Value> = vec![event];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                match step {
                    Step::Key(k) => next.extend(v.as_object().and_then(|o| o.get(k))),
                    Step::Index(i) => next.extend(v.as_array().and_then(|a| a.get(*i))),
                    Step::Wildcard => match v {
                        Value::Object(o) => next.extend(o.values()),
                        Value::Array(a) => next.extend(a.iter()),
                        _ => {}
                    },
                }
            }
            current = next;
        }
        (!current.is_empty()).then(|| Value::Array(current.into_iter().cloned().collect()))
    }
}

/// Validates an `InputPath` (a simple JSON path such as `$.detail.order`).
pub fn check_path(path: &str) -> Result<(), TransformError> {
    Path::parse(path)
        .map(|_| ())
        .map_err(|m| TransformError(format!("InputPath '{path}' {m}")))
}

/// The part of `event` an `InputPath` selects (`None` when absent).
pub fn select(event: &Value, path: &str) -> Option<Value> {
    Path::parse(path).ok()?.select(event)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The EC2 event of AWS's input transformation examples.
    fn ec2() -> Value {
        json!({
            "version": "0",
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2015-11-11T21:29:54Z",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
            "detail": {
                "instance-id": "i-0123456789",
                "state": "RUNNING",
                "count": 3,
                "note": "say \"hi\"\n",
                "items": [{ "id": "a" }, { "id": "b" }],
                "meta": { "x": 1 }
            }
        })
    }

    const CTX: TransformContext<'static> = TransformContext {
        rule_arn: "arn:aws:events:us-east-1:123456789012:rule/r",
        rule_name: "r",
        ingestion_time: "2015-11-11T21:29:55Z",
    };

    fn apply(paths: &[(&str, &str)], template: &str) -> String {
        let paths = paths
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        InputTransformer::new(paths, template)
            .unwrap_or_else(|e| panic!("{template}: {e}"))
            .apply(&ec2(), &CTX)
    }

    const VARS: [(&str, &str); 2] = [
        ("instance", "$.detail.instance-id"),
        ("state", "$.detail.state"),
    ];

    #[test]
    fn documented_examples() {
        // A JSON template: values outside quotes are JSON.
        assert_eq!(
            apply(&VARS, r#"{"instance": <instance>, "state": <state>}"#),
            r#"{"instance": "i-0123456789", "state": "RUNNING"}"#
        );
        // A string template: the text goes inside the quotes.
        assert_eq!(
            apply(&VARS, r#""<instance> is in state <state>""#),
            r#""i-0123456789 is in state RUNNING""#
        );
        // Placeholders inside strings in a JSON template.
        assert_eq!(
            apply(&VARS, r#"{"message": "instance <instance> is <state>"}"#),
            r#"{"message": "instance i-0123456789 is RUNNING"}"#
        );
        // Plain text: outside quotes, so strings keep their quotes.
        assert_eq!(
            apply(&VARS, "Instance <instance> is <state>"),
            r#"Instance "i-0123456789" is "RUNNING""#
        );
    }

    #[test]
    fn values_of_every_kind() {
        let vars = [
            ("count", "$.detail.count"),
            ("note", "$.detail.note"),
            ("meta", "$.detail.meta"),
            ("first", "$.detail.items[0].id"),
            ("ids", "$.detail.items[*].id"),
            ("missing", "$.detail.nope"),
            ("resource", "$.resources[0]"),
        ];
        assert_eq!(
            apply(
                &vars,
                r#"{"c": <count>, "m": <meta>, "f": <first>, "ids": <ids>, "x": <missing>}"#
            ),
            r#"{"c": 3, "m": {"x":1}, "f": "a", "ids": ["a","b"], "x": null}"#
        );
        assert_eq!(
            apply(
                &vars,
                r#"{"n": "<note>", "m": "<meta>", "x": "<missing>", "c": "<count>"}"#
            ),
            r#"{"n": "say \"hi\"\n", "m": "{\"x\":1}", "x": "", "c": "3"}"#
        );
        // Quotes escaped inside a string do not end it.
        assert_eq!(apply(&vars, r#""a \"q\" <count>""#), r#""a \"q\" 3""#);
        // Unknown placeholders and stray '<' are text.
        assert_eq!(apply(&vars, "a < b <unknown> <count>"), "a < b <unknown> 3");
    }

    #[test]
    fn reserved_variables() {
        let out = apply(
            &[],
            r#"{"arn": <aws.events.rule-arn>, "name": "<aws.events.rule-name>", "t": <aws.events.event.ingestion-time>, "e": <aws.events.event>, "j": <aws.events.event.json>}"#,
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["arn"], CTX.rule_arn);
        assert_eq!(v["name"], "r");
        assert_eq!(v["t"], CTX.ingestion_time);
        assert_eq!(v["e"]["source"], "aws.ec2");
        assert!(v["e"].get("detail").is_none());
        assert_eq!(v["j"], ec2());
    }

    #[test]
    fn invalid_transformers() {
        let make = |paths: &[(&str, &str)], template: &str| {
            let paths = paths
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            InputTransformer::new(paths, template)
                .unwrap_err()
                .to_string()
        };
        assert!(make(&[("aws.events.rule-arn", "$.id")], "x").contains("is reserved"));
        assert!(make(&[("AWS.mine", "$.id")], "x").contains("is reserved"));
        assert!(make(&[("a b", "$.id")], "x").contains("variable name 'a b'"));
        assert!(make(&[("a", "detail.id")], "x").contains("must start with '$'"));
        assert!(make(&[("a", "$.detail[x]")], "x").contains("not a whole number"));
        assert!(make(&[("a", "$.detail..x")], "x").contains("empty or invalid name"));
        assert!(make(&[("a", "$.a")], r#"{"x": <a>"#).contains("not valid JSON"));
        let many: Vec<(String, String)> = (0..101)
            .map(|i| (format!("v{i}"), "$.id".to_owned()))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert!(make(&many, "x").contains("at most 100"));
        assert!(make(&[], &"x".repeat(9000)).contains("longer than 8192"));
    }

    #[test]
    fn input_path() {
        assert!(check_path("$").is_ok());
        assert!(check_path("$.detail.items[1].id").is_ok());
        assert!(
            check_path("detail")
                .unwrap_err()
                .to_string()
                .contains("InputPath 'detail'")
        );
        assert_eq!(select(&ec2(), "$.detail.state"), Some(json!("RUNNING")));
        assert_eq!(
            select(&ec2(), "$.detail.items[1]"),
            Some(json!({ "id": "b" }))
        );
        assert_eq!(select(&ec2(), "$.detail.items[9]"), None);
        assert_eq!(select(&ec2(), "$.detail.nope"), None);
        assert_eq!(select(&ec2(), "$"), Some(ec2()));
        assert_eq!(select(&ec2(), "$.detail.meta.*"), Some(json!([1])));
        assert_eq!(select(&ec2(), "nonsense"), None);
    }
}
