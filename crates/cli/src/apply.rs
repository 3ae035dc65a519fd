//! `cirrus deploy` without a function name: applies `cirrus.toml` to a running node, after
//! [`crate::manifest`] checked it. Queues come first (targets and dead-letter queues name
//! them), then functions (built and uploaded; unchanged code and settings change nothing),
//! workflows, routes, buses and rules, schedules and sources. Applying the same manifest
//! again changes nothing. With `[app] name`, the node keeps what the manifest deployed
//! (`/v1/apps/{name}`), and the next apply deletes what the manifest no longer names:
//! rules, schedules, routes and sources first, then workflows, functions and queues.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::events::target_doc;
use crate::manifest::Manifest;

pub fn apply(client: &Client, manifest: &Manifest, dir: &Path) -> Result<ExitCode> {
    // Dead-letter queues before the queues that name them.
    let mut queues: Vec<(&String, &crate::manifest::Queue)> = manifest
        .queues
        .iter()
        .map(|(n, q)| (n, q.get_ref()))
        .collect();
    queues.sort_by_key(|(_, q)| q.dead_letter_queue.is_some());
    for (name, q) in queues {
        let mut attributes = serde_json::Map::new();
        if let Some(v) = q.visibility_timeout {
            attributes.insert("VisibilityTimeout".into(), json!(v.to_string()));
        }
        if let Some(d) = &q.dead_letter_queue {
            let arn = client.call(Method::GET, &format!("/queues/{}", d.get_ref()), None)?["arn"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let policy = json!({ "deadLetterTargetArn": arn, "maxReceiveCount": q.max_receives.unwrap_or(5) });
            attributes.insert("RedrivePolicy".into(), json!(policy.to_string()));
        }
        let created = client.call(
            Method::POST,
            "/queues",
            Some(json!({ "name": name, "attributes": attributes })),
        );
        match created {
            Ok(_) => eprintln!("queue {name}: ready"),
            // An existing queue with other settings is updated.
            Err(_) => {
                client.call(
                    Method::PATCH,
                    &format!("/queues/{name}"),
                    Some(json!({ "attributes": attributes })),
                )?;
                eprintln!("queue {name}: updated");
            }
        }
    }
    for (name, f) in &manifest.functions {
        let f = f.get_ref();
        let source = dir.join(f.source.get_ref());
        if let Some(cmd) = &f.build {
            eprintln!("function {name}: building ({cmd})");
            let status = std::process::Command::new("sh")
                .args(["-c", cmd])
                .current_dir(&source)
                .status()
                .with_context(|| format!("cannot run the build of {name}"))?;
            if !status.success() {
                bail!("the build of function {name} failed ({cmd})");
            }
        }
        crate::functions::deploy(
            client,
            crate::functions::Deploy {
                name: name.clone(),
                code: source,
                runtime: Some(f.runtime.get_ref().clone()),
                handler: f.handler.clone(),
                memory: f.memory.as_ref().map(|m| *m.get_ref()),
                timeout: f.timeout.as_ref().map(|t| *t.get_ref()),
                env: f
                    .environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
                allow_hosts: f.allowed_hosts.clone(),
                secrets: f.secrets.clone(),
                min_instances: f.min_instances,
                max_instances: f.max_instances.or(f.concurrency),
                idle_timeout: None,
                routes: Vec::new(),
                publish: false,
            },
        )?;
    }
    for (name, w) in &manifest.workflows {
        let w = w.get_ref();
        let text = std::fs::read_to_string(dir.join(w.definition.get_ref()))
            .with_context(|| format!("cannot read {}", w.definition.get_ref()))?;
        let definition: Value =
            serde_json::from_str(&text).context("the definition is not valid JSON")?;
        let mut body = json!({ "name": name, "definition": definition });
        if let Some(k) = &w.kind {
            body["type"] = json!(k.get_ref());
        }
        match client.call(Method::POST, "/state-machines", Some(body)) {
            Ok(_) => eprintln!("workflow {name}: created"),
            Err(e) if e.to_string().starts_with("StateMachineAlreadyExists") => {
                client.call(
                    Method::PUT,
                    &format!("/state-machines/{name}"),
                    Some(json!({ "definition": definition })),
                )?;
                eprintln!("workflow {name}: up to date");
            }
            Err(e) => return Err(e),
        }
    }
    for r in &manifest.routes {
        let r = r.get_ref();
        client.call(
            Method::PUT,
            "/routes",
            Some(json!({ "route": r.route.get_ref(), "function": r.function.get_ref() })),
        )?;
        eprintln!("route {} → {}", r.route.get_ref(), r.function.get_ref());
    }
    for (name, rule) in &manifest.rules {
        let rule = rule.get_ref();
        if rule.bus != "default" {
            client.call(
                Method::PUT,
                &format!("/buses/{}", rule.bus),
                Some(json!({})),
            )?;
        }
        let targets: Vec<Value> = rule
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut doc = target_doc(&format!("t{}", i + 1), t.get_ref())?;
                if let Some(p) = &rule.input_path {
                    doc["input"] = json!({ "type": "path", "path": p });
                }
                Ok(doc)
            })
            .collect::<Result<_>>()?;
        let mut body = json!({ "targets": targets });
        if let Some(p) = &rule.pattern {
            body["pattern"] = serde_json::to_value(p.get_ref())?;
        }
        if let Some(s) = &rule.schedule {
            body["schedule"] = json!(s.get_ref());
        }
        client.call(
            Method::PUT,
            &format!("/buses/{}/rules/{name}", rule.bus),
            Some(body),
        )?;
        eprintln!(
            "rule {name} on bus {}: {} target(s)",
            rule.bus,
            targets.len()
        );
    }
    for (name, s) in &manifest.schedules {
        let s = s.get_ref();
        let mut target = target_doc("target", s.target.get_ref())?;
        if let Some(input) = &s.input {
            target["input"] =
                json!({ "type": "constant", "value": serde_json::to_value(input)?.to_string() });
        }
        let body = json!({ "expression": s.expression.get_ref(), "timezone": s.timezone.get_ref(), "target": target });
        let v = client.call(Method::PUT, &format!("/schedules/{name}"), Some(body))?;
        eprintln!(
            "schedule {name}: next at {}",
            v["next"].as_str().unwrap_or("-")
        );
    }
    for (name, s) in &manifest.sources {
        let config = serde_json::to_value(s.get_ref())?;
        client.call(Method::PUT, &format!("/sources/{name}"), Some(config))?;
        eprintln!("source {name}: subscribed");
    }
    if let Some(app) = &manifest.app {
        prune(client, &app.name, manifest)?;
    }
    println!("applied {}", manifest.summary());
    Ok(ExitCode::SUCCESS)
}

/// What a manifest deploys, by kind, as the node records it for the app.
fn deployed(manifest: &Manifest) -> Value {
    let names = |keys: Vec<String>| Value::from(keys);
    json!({
        "rules": names(manifest.rules.iter().map(|(n, r)| format!("{}/{n}", r.get_ref().bus)).collect()),
        "schedules": names(manifest.schedules.keys().cloned().collect()),
        "routes": names(manifest.routes.iter().map(|r| r.get_ref().route.get_ref().clone()).collect()),
        "sources": names(manifest.sources.keys().cloned().collect()),
        "workflows": names(manifest.workflows.keys().cloned().collect()),
        "functions": names(manifest.functions.keys().cloned().collect()),
        "queues": names(manifest.queues.keys().cloned().collect()),
    })
}

/// Deletes what the app's previous deploy made and this manifest no longer names, then
/// records this deploy.
fn prune(client: &Client, app: &str, manifest: &Manifest) -> Result<()> {
    let now = deployed(manifest);
    let before = match client.call(Method::GET, &format!("/apps/{app}"), None) {
        Ok(v) => v["deployed"].clone(),
        Err(e) if e.to_string().starts_with("ResourceNotFoundException") => Value::Null,
        Err(e) => return Err(e),
    };
    for kind in [
        "rules",
        "schedules",
        "routes",
        "sources",
        "workflows",
        "functions",
        "queues",
    ] {
        let keep: Vec<&str> = now[kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for gone in before[kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if keep.contains(&gone) {
                continue;
            }
            let path = match kind {
                "rules" => match gone.split_once('/') {
                    Some((bus, rule)) => format!("/buses/{bus}/rules/{rule}"),
                    None => continue,
                },
                "routes" => format!("/routes?route={}", encode(gone)),
                "workflows" => format!("/state-machines/{gone}"),
                other => format!("/{other}/{gone}"),
            };
            match client.call(Method::DELETE, &path, None) {
                Ok(_) => eprintln!(
                    "{} {gone}: deleted (no longer in the manifest)",
                    kind.trim_end_matches('s')
                ),
                Err(e)
                    if e.to_string().contains("NotFound")
                        || e.to_string().contains("does not exist") => {}
                Err(e) => return Err(e.context(format!("cannot delete {kind} {gone}"))),
            }
        }
    }
    client.call(Method::PUT, &format!("/apps/{app}"), Some(now))?;
    Ok(())
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
