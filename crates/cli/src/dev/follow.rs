//! Following the node as a client of its native API: function log records
//! (`GET /v1/logs`, long-polled) and workflow executions (`GET /v1/executions`, polled;
//! an execution's history is fetched only when its event count grew). Lines go to stdout,
//! formatted by [`super::show`].

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cirrus_asl::timestamp::Timestamp;
use serde_json::Value;

use super::show::{ExecutionLog, Style, log_record};

/// How often executions are looked at.
const EXECUTIONS_EVERY: Duration = Duration::from_millis(400);
/// The newest executions listed on each look.
const RECENT: usize = 50;

/// The node's native API, read with its bearer token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> Result<Value> {
        let resp = self
            .http
            .get(format!("{}/v1{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the node at {}", self.base))?;
        let status = resp.status();
        let value: Value = resp
            .json()
            .await
            .with_context(|| format!("the node answered {path} with something not JSON"))?;
        if !status.is_success() {
            bail!(
                "{}: {}",
                value["error"]["code"].as_str().unwrap_or("Error"),
                value["error"]["message"].as_str().unwrap_or("")
            );
        }
        Ok(value)
    }
}

fn print(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

/// Reports a failing poll once, until it works again.
struct Trouble(bool);

impl Trouble {
    fn report(&mut self, what: &str, e: &anyhow::Error) {
        if !self.0 {
            eprintln!("cirrus dev: cannot follow {what}: {e:#}");
        }
        self.0 = true;
    }
}

/// Prints function log records as they come, until the task is dropped.
pub async fn logs(api: Api, style: std::sync::Arc<Style>) {
    let mut after = 0u64;
    let mut trouble = Trouble(false);
    loop {
        // A short wait: the node's graceful stop waits for requests under way.
        match api
            .get(&format!("/logs?after={after}&limit=1000&wait=1"))
            .await
        {
            Ok(v) => {
                trouble.0 = false;
                let lines: Vec<String> = v["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|r| log_record(&style, r))
                    .collect();
                print(&lines);
                after = v["next"].as_u64().unwrap_or(after);
            }
            Err(e) => {
                trouble.report("function logs", &e);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One execution being followed.
struct Followed {
    workflow: String,
    name: String,
    /// Events shown (or passed over, for executions that ended before `cirrus dev` began).
    seen: u64,
    ended: bool,
    log: ExecutionLog,
}

/// Prints workflow executions' progress as it happens, until the task is dropped.
/// Executions that ended before this began are not shown; those running are, from now.
pub async fn executions(api: Api, style: std::sync::Arc<Style>) {
    let mut followed: HashMap<String, Followed> = HashMap::new();
    let mut first = true;
    let mut trouble = Trouble(false);
    loop {
        match look(&api, &style, &mut followed, first).await {
            Ok(()) => {
                trouble.0 = false;
                first = false;
            }
            Err(e) => trouble.report("workflow executions", &e),
        }
        tokio::time::sleep(EXECUTIONS_EVERY).await;
    }
}

/// One look: the newest executions, and those followed that are no longer among them.
async fn look(
    api: &Api,
    style: &Style,
    followed: &mut HashMap<String, Followed>,
    first: bool,
) -> Result<()> {
    let listed = api.get(&format!("/executions?limit={RECENT}")).await?;
    let listed: Vec<Value> = listed["executions"].as_array().cloned().unwrap_or_default();
    let mut fresh: Vec<(String, u64)> = Vec::new();
    for x in &listed {
        let Some(arn) = x["arn"].as_str() else {
            continue;
        };
        let events = x["events"].as_u64().unwrap_or(0);
        let running = x["status"].as_str() == Some("RUNNING");
        let f = followed.entry(arn.to_owned()).or_insert_with(|| Followed {
            workflow: workflow_name(x["stateMachineArn"].as_str().unwrap_or("")),
            name: x["name"].as_str().unwrap_or("").to_owned(),
            seen: if first { events } else { 0 },
            ended: first && !running,
            log: ExecutionLog::resumed(
                x["started"]
                    .as_str()
                    .and_then(Timestamp::parse_rfc3339)
                    .map(Timestamp::unix_millis),
            ),
        });
        if events > f.seen {
            fresh.push((arn.to_owned(), f.seen));
        }
    }
    // Followed executions that fell off the list and had not ended.
    for (arn, f) in followed.iter() {
        if !f.ended
            && !listed
                .iter()
                .any(|x| x["arn"].as_str() == Some(arn.as_str()))
        {
            fresh.push((arn.clone(), f.seen));
        }
    }
    for (arn, seen) in fresh {
        let mut from = seen + 1;
        loop {
            let page = match api
                .get(&format!("/executions/{arn}/history?from={from}&limit=1000"))
                .await
            {
                Ok(p) => p,
                // Deleted with its workflow: nothing more to show.
                Err(e) if e.to_string().contains("DoesNotExist") => {
                    followed.remove(&arn);
                    break;
                }
                Err(e) => return Err(e),
            };
            let Some(f) = followed.get_mut(&arn) else {
                break;
            };
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if let Some(last) = events.last().and_then(|e| e["id"].as_u64()) {
                f.seen = last;
            }
            print(&f.log.lines(style, &f.workflow, &f.name, &events));
            f.ended = page["execution"]["status"].as_str() != Some("RUNNING")
                && f.seen >= page["execution"]["events"].as_u64().unwrap_or(0);
            match page["next"].as_u64() {
                Some(n) => from = n,
                None => break,
            }
        }
    }
    // Forget ended executions that are no longer listed: they will not change again.
    followed.retain(|arn, f| {
        !f.ended
            || listed
                .iter()
                .any(|x| x["arn"].as_str() == Some(arn.as_str()))
    });
    Ok(())
}

/// `orders` of `arn:aws:states:REGION:ACCOUNT:stateMachine:orders[:QUALIFIER]`.
fn workflow_name(machine_arn: &str) -> String {
    machine_arn
        .split(':')
        .nth(6)
        .unwrap_or(machine_arn)
        .to_owned()
}
