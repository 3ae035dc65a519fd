//! `cirrus deploy` without a function name: applies a checked `cirrus.toml` to a running
//! node as a diff. [`crate::desired`] builds the functions and fills in the definitions,
//! [`crate::plan`] compares them with what the node has, the plan is printed (`+ create`,
//! `~ update: what changed`, `- delete`, and how many are unchanged), and only its changes
//! are applied: queues, buses, functions (code uploaded only when it changed), workflows
//! (with their alias pointed at a version published from the new definition), routes,
//! rules, schedules and sources; then the deletes, in the other order. `--dry-run` stops
//! after printing the plan (the builds still run, to know whether code changed).
//!
//! With `[app] name`, the node keeps what the manifest deployed (`/v1/apps/{name}`); what
//! a later manifest no longer names is deleted.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;
use crate::desired::Desired;
use crate::manifest::Manifest;
use crate::plan::{self, Action, Kind, Plan};

/// Applies the manifest (used by `cirrus deploy` and `cirrus dev`).
pub fn apply(client: &Client, manifest: &Manifest, dir: &Path) -> Result<ExitCode> {
    deploy(client, manifest, dir, false)
}

/// Plans the deploy, prints the plan and, unless `dry_run`, applies it.
pub fn deploy(client: &Client, manifest: &Manifest, dir: &Path, dry_run: bool) -> Result<ExitCode> {
    let desired = Desired::of(manifest, dir, client.node())?;
    let now = recorded(manifest);
    let before = match &manifest.app {
        Some(app) => client
            .get(&format!("/apps/{}", app.name))?
            .map(|v| v["deployed"].clone())
            .unwrap_or(Value::Null),
        None => Value::Null,
    };
    let plan = Plan::make(client, &desired, &before, &now)?;
    for c in &plan.changes {
        println!("{c}");
    }
    let (created, updated, deleted) = plan.counts();
    if plan.changes.is_empty() {
        println!("no changes ({} unchanged)", plan.unchanged);
    } else if dry_run {
        println!(
            "plan: {created} to create, {updated} to update, {deleted} to delete, {} unchanged (dry run: nothing changed)",
            plan.unchanged
        );
    }
    if dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    if !plan.changes.is_empty() {
        execute(client, &desired, &plan)?;
    }
    if let Some(app) = &manifest.app
        && before != now
    {
        client.call(Method::PUT, &format!("/apps/{}", app.name), Some(now))?;
    }
    if !plan.changes.is_empty() {
        println!(
            "deployed: {created} created, {updated} updated, {deleted} deleted, {} unchanged",
            plan.unchanged
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Applies the plan's creates and updates in dependency order, then its deletes.
fn execute(client: &Client, desired: &Desired, plan: &Plan) -> Result<()> {
    let wants = |kind: Kind, name: &str| plan.action(kind, name).filter(|a| **a != Action::Delete);
    for (name, attributes) in &desired.queues {
        match wants(Kind::Queue, name) {
            Some(Action::Create) => {
                client.call(
                    Method::POST,
                    "/queues",
                    Some(json!({ "name": name, "attributes": attributes })),
                )?;
            }
            Some(_) => {
                client.call(
                    Method::PATCH,
                    &format!("/queues/{name}"),
                    Some(json!({ "attributes": attributes })),
                )?;
            }
            None => {}
        }
    }
    for bus in &desired.buses {
        if wants(Kind::Bus, bus).is_some() {
            client.call(Method::PUT, &format!("/buses/{bus}"), Some(json!({})))?;
        }
    }
    for f in &desired.functions {
        let send_code = match wants(Kind::Function, &f.name) {
            None => continue,
            Some(Action::Update(why)) => why.iter().any(|w| w == plan::CODE),
            Some(_) => true,
        };
        let mut body = f.settings.clone();
        if send_code {
            use base64::Engine as _;
            body.insert(
                "code".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(&f.code)),
            );
        }
        crate::functions::upload(client, &f.name, f.code.len(), body)
            .with_context(|| format!("function {}", f.name))?;
    }
    for w in &desired.workflows {
        let write = match wants(Kind::Workflow, &w.name) {
            None => continue,
            Some(Action::Update(why)) => why.iter().any(|r| r == plan::DEFINITION),
            Some(_) => {
                client.call(
                    Method::POST,
                    "/state-machines",
                    Some(json!({ "name": w.name, "definition": w.definition, "type": w.kind })),
                )?;
                false
            }
        };
        if write {
            client.call(
                Method::PUT,
                &format!("/state-machines/{}", w.name),
                Some(json!({ "definition": w.definition })),
            )?;
        }
        if let Some(alias) = &w.alias {
            let v = client.call(
                Method::POST,
                &format!("/state-machines/{}/versions", w.name),
                Some(json!({ "description": "cirrus deploy" })),
            )?;
            let version = v["version"]
                .as_u64()
                .with_context(|| format!("workflow {}: the node published no version", w.name))?;
            client.call(
                Method::PUT,
                &format!("/state-machines/{}/aliases/{alias}", w.name),
                Some(json!({ "versions": [{ "version": version, "weight": 100 }] })),
            )?;
            eprintln!("workflow {}: alias {alias} → version {version}", w.name);
        }
    }
    for (key, body) in &desired.routes {
        if wants(Kind::Route, key).is_some() {
            client.call(Method::PUT, "/routes", Some(body.clone()))?;
        }
    }
    for (bus, rule, body) in &desired.rules {
        if wants(Kind::Rule, &format!("{bus}/{rule}")).is_some() {
            client.call(
                Method::PUT,
                &format!("/buses/{bus}/rules/{rule}"),
                Some(body.clone()),
            )?;
        }
    }
    for (name, body) in &desired.schedules {
        if wants(Kind::Schedule, name).is_some() {
            client.call(
                Method::PUT,
                &format!("/schedules/{name}"),
                Some(body.clone()),
            )?;
        }
    }
    for (name, body) in &desired.sources {
        if wants(Kind::Source, name).is_some() {
            client.call(Method::PUT, &format!("/sources/{name}"), Some(body.clone()))?;
        }
    }
    for (kind, _) in Kind::RECORDED {
        for c in plan
            .changes
            .iter()
            .filter(|c| c.kind == kind && c.action == Action::Delete)
        {
            client
                .call(Method::DELETE, &plan::path_of(kind, &c.name), None)
                .with_context(|| format!("cannot delete {} {}", kind.word(), c.name))?;
        }
    }
    Ok(())
}

/// What a manifest deploys, by kind, as the node records it for the app.
fn recorded(manifest: &Manifest) -> Value {
    json!({
        "rules": manifest.rules.iter().map(|(n, r)| format!("{}/{n}", r.get_ref().bus)).collect::<Vec<_>>(),
        "schedules": manifest.schedules.keys().collect::<Vec<_>>(),
        "routes": manifest.routes.iter().map(|r| r.get_ref().route.get_ref()).collect::<Vec<_>>(),
        "sources": manifest.sources.keys().collect::<Vec<_>>(),
        "workflows": manifest.workflows.keys().collect::<Vec<_>>(),
        "functions": manifest.functions.keys().collect::<Vec<_>>(),
        "queues": manifest.queues.keys().collect::<Vec<_>>(),
    })
}
