//! The client commands: create workflows, start and watch executions, read histories.
//! They talk to a node's native API with the bearer token from its data directory
//! (or `$CIRRUS_ENDPOINT` and `$CIRRUS_TOKEN`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cirrus_server::NodeCredentials;
use serde_json::{Value, json};

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    node: NodeInfo,
}

/// Where the node serves and what its ARNs say, for a deploy's built-in placeholders and
/// the ARNs it writes.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The control plane, `http://HOST:PORT`.
    pub api_url: String,
    /// The user-routes listener, from the data directory's `node.json`.
    pub routes_url: Option<String>,
    pub region: String,
    pub account: String,
}

/// The account in every ARN a Cirrus node makes (AWS's placeholder account).
const ACCOUNT: &str = "000000000000";

impl Client {
    /// Finds the node: `$CIRRUS_ENDPOINT`/`$CIRRUS_TOKEN`, else the data directory's
    /// `node.json` and `credentials.json`.
    pub fn discover(data: &Path) -> Result<Client> {
        let base = std::env::var("CIRRUS_ENDPOINT")
            .ok()
            .or_else(|| crate::serve::recorded_endpoint(data))
            .unwrap_or_else(|| "http://127.0.0.1:9070".into());
        let credentials = NodeCredentials::load(data).ok().flatten();
        let token = match std::env::var("CIRRUS_TOKEN") {
            Ok(t) => t,
            Err(_) => {
                NodeCredentials::load(data)?
                    .with_context(|| {
                        format!(
                            "no node credentials in {} (set CIRRUS_TOKEN, or pass --data DIR of a node started with `cirrus serve`)",
                            data.display()
                        )
                    })?
                    .token
            }
        };
        let region = credentials
            .map(|c| c.region)
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        Client::at(&base, &token, crate::serve::recorded_routes(data), region)
    }

    /// A client of the node at `base` (`http://HOST:PORT`) with its bearer token, whose
    /// user routes are served at `routes_url`.
    pub fn at(
        base: &str,
        token: &str,
        routes_url: Option<String>,
        region: String,
    ) -> Result<Client> {
        let base = base.trim_end_matches('/').to_owned();
        let node = NodeInfo {
            api_url: base.clone(),
            routes_url,
            region,
            account: ACCOUNT.into(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(Client {
            base,
            token: token.to_owned(),
            http: reqwest::Client::new(),
            runtime,
            node,
        })
    }

    /// Where the node serves and what its ARNs say.
    pub fn node(&self) -> &NodeInfo {
        &self.node
    }

    /// Calls the native API; a non-2xx answer becomes an error with the node's message.
    pub fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        match self.request(method, path, body)? {
            Answer::Found(v) => Ok(v),
            Answer::NotFound(e) => Err(e),
        }
    }

    /// Reads a resource: `None` when the node answers 404.
    pub fn get(&self, path: &str) -> Result<Option<Value>> {
        match self.request(reqwest::Method::GET, path, None)? {
            Answer::Found(v) => Ok(Some(v)),
            Answer::NotFound(_) => Ok(None),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Answer> {
        let url = format!("{}/v1{path}", self.base);
        self.runtime.block_on(async {
            let mut req = self.http.request(method, &url).bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.with_context(|| {
                format!(
                    "cannot reach the node at {} (is `cirrus serve` running?)",
                    self.base
                )
            })?;
            let status = resp.status();
            let text = resp.text().await.context("the node's answer broke off")?;
            let value: Value = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).with_context(|| {
                    format!("the node answered {status} with something not JSON")
                })?
            };
            if !status.is_success() {
                let code = value["error"]["code"].as_str().unwrap_or("Error");
                let message = value["error"]["message"].as_str().unwrap_or(&text);
                let e = anyhow::anyhow!("{code}: {message}");
                if status == reqwest::StatusCode::NOT_FOUND {
                    return Ok(Answer::NotFound(e));
                }
                return Err(e);
            }
            Ok(Answer::Found(value))
        })
    }
}

/// A 2xx answer's body, or a 404's error.
enum Answer {
    Found(Value),
    NotFound(anyhow::Error),
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `cirrus workflow create`: creates the state machine, or updates it if it exists.
pub fn create_workflow(
    client: &Client,
    name: &str,
    definition: &str,
    kind: Option<&str>,
    publish: bool,
) -> Result<ExitCode> {
    let definition: Value =
        serde_json::from_str(definition).context("the definition is not valid JSON")?;
    let mut body = json!({ "name": name, "definition": definition, "publish": publish });
    if let Some(k) = kind {
        body["type"] = json!(k);
    }
    let result = client.call(reqwest::Method::POST, "/state-machines", Some(body.clone()));
    let (verb, m) = match result {
        Ok(m) => ("created", m),
        Err(e) if e.to_string().starts_with("StateMachineAlreadyExists") => {
            let update = json!({ "definition": body["definition"], "publish": publish });
            (
                "updated",
                client.call(
                    reqwest::Method::PUT,
                    &format!("/state-machines/{name}"),
                    Some(update),
                )?,
            )
        }
        Err(e) => return Err(e),
    };
    eprintln!(
        "{verb} state machine {name}: {}",
        m["arn"].as_str().unwrap_or("")
    );
    if let Some(v) = m["versionArn"].as_str() {
        eprintln!("published version {v}");
    }
    print(&m);
    Ok(ExitCode::SUCCESS)
}

pub fn list_workflows(client: &Client) -> Result<ExitCode> {
    let v = client.call(reqwest::Method::GET, "/state-machines?limit=1000", None)?;
    for m in v["stateMachines"].as_array().into_iter().flatten() {
        println!(
            "{:<40} {:<9} {}",
            m["name"].as_str().unwrap_or(""),
            m["type"].as_str().unwrap_or(""),
            m["arn"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub struct Start<'a> {
    pub workflow: &'a str,
    pub input: Option<Value>,
    pub name: Option<&'a str>,
    pub version: Option<u64>,
    pub alias: Option<&'a str>,
    pub wait: bool,
}

/// `cirrus start`: starts an execution; with `--wait`, prints its output when it ends and
/// exits 1 unless it succeeded.
pub fn start(client: &Client, s: Start<'_>) -> Result<ExitCode> {
    let mut body = json!({});
    if let Some(i) = s.input {
        body["input"] = i;
    }
    if let Some(n) = s.name {
        body["name"] = json!(n);
    }
    if let Some(v) = s.version {
        body["version"] = json!(v);
    }
    if let Some(a) = s.alias {
        body["alias"] = json!(a);
    }
    if s.wait {
        body["wait"] = json!(true);
    }
    let x = client.call(
        reqwest::Method::POST,
        &format!("/state-machines/{}/executions", s.workflow),
        Some(body),
    )?;
    if !s.wait {
        print(&x);
        return Ok(ExitCode::SUCCESS);
    }
    let status = x["status"].as_str().unwrap_or("");
    eprintln!("{} {status}", x["arn"].as_str().unwrap_or(""));
    if status == "SUCCEEDED" {
        print(&x["output"]);
        Ok(ExitCode::SUCCESS)
    } else {
        print(&json!({ "status": status, "error": x["error"], "cause": x["cause"] }));
        Ok(ExitCode::FAILURE)
    }
}

pub fn describe(client: &Client, arn: &str) -> Result<ExitCode> {
    print(&client.call(reqwest::Method::GET, &format!("/executions/{arn}"), None)?);
    Ok(ExitCode::SUCCESS)
}

pub fn stop(
    client: &Client,
    arn: &str,
    error: Option<&str>,
    cause: Option<&str>,
) -> Result<ExitCode> {
    let body = json!({ "error": error, "cause": cause });
    print(&client.call(
        reqwest::Method::POST,
        &format!("/executions/{arn}/stop"),
        Some(body),
    )?);
    Ok(ExitCode::SUCCESS)
}

pub fn redrive(client: &Client, arn: &str) -> Result<ExitCode> {
    print(&client.call(
        reqwest::Method::POST,
        &format!("/executions/{arn}/redrive"),
        None,
    )?);
    Ok(ExitCode::SUCCESS)
}

/// `cirrus history`: the execution's events as a timeline, or as JSON lines.
pub fn history(client: &Client, arn: &str, as_json: bool) -> Result<ExitCode> {
    let mut events = Vec::new();
    let mut from = 1u64;
    let execution = loop {
        let page = client.call(
            reqwest::Method::GET,
            &format!("/executions/{arn}/history?from={from}&limit=1000"),
            None,
        )?;
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        match page["next"].as_u64() {
            Some(n) => from = n,
            None => break page["execution"].clone(),
        }
    };
    if as_json {
        for e in &events {
            println!("{e}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}  {}",
        execution["arn"].as_str().unwrap_or(arn),
        execution["status"].as_str().unwrap_or("")
    );
    print!("{}", timeline(&events));
    Ok(ExitCode::SUCCESS)
}

/// Renders events as aligned lines: id, time since the first event, type, state, and the
/// most telling detail (input, output, error).
pub fn timeline(events: &[Value]) -> String {
    let start = events
        .first()
        .and_then(|e| e["time"].as_str())
        .and_then(cirrus_asl::timestamp::Timestamp::parse_rfc3339);
    let mut out = String::new();
    for e in events {
        let at = e["time"]
            .as_str()
            .and_then(cirrus_asl::timestamp::Timestamp::parse_rfc3339);
        let offset = match (start, at) {
            (Some(s), Some(t)) => format!("+{:.3}s", t.millis_since(s) as f64 / 1000.0),
            _ => String::new(),
        };
        let d = &e["details"];
        let state = d["name"].as_str().unwrap_or("");
        let detail = if let Some(err) = d["error"].as_str() {
            match d["cause"].as_str() {
                Some(c) => format!("{err}: {c}"),
                None => err.to_owned(),
            }
        } else if let Some(o) = d.get("output").filter(|v| !v.is_null()) {
            format!("output {}", compact(o))
        } else if let Some(i) = d.get("input").filter(|v| !v.is_null()) {
            format!("input {}", compact(i))
        } else if let Some(r) = d["resource"].as_str() {
            r.to_owned()
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{:>5}  {:>10}  {:<26} {:<20} {}\n",
            format!("#{}", e["id"]),
            offset,
            e["type"].as_str().unwrap_or(""),
            state,
            shorten(&detail, 100)
        ));
    }
    out
}

/// A JSON value on one line; JSON text (as AWS keeps inputs) is shown as its value.
fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::from_str::<Value>(s)
            .map(|p| p.to_string())
            .unwrap_or_else(|_| s.clone()),
        other => other.to_string(),
    }
}

/// `s`, cut to `max` characters with an ellipsis.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_shows_states_offsets_and_details() {
        let events = vec![
            json!({"id": 1, "time": "2026-01-01T00:00:00.000Z", "type": "ExecutionStarted", "details": {"input": "{\"a\":1}"}}),
            json!({"id": 2, "time": "2026-01-01T00:00:01.500Z", "type": "TaskStateEntered", "details": {"name": "Charge", "input": "{}"}}),
            json!({"id": 3, "time": "2026-01-01T00:00:02.000Z", "type": "ExecutionFailed", "details": {"error": "Boom", "cause": "card declined"}}),
        ];
        let t = timeline(&events);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("+0.000s") && lines[0].contains("input {\"a\":1}"));
        assert!(lines[1].contains("+1.500s") && lines[1].contains("Charge"));
        assert!(lines[2].contains("Boom: card declined"));
    }
}
