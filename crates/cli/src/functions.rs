//! Function commands, clients of the node's native API:
//!
//! - `cirrus deploy NAME --code PATH ...`: PATH is a `.wasm` component, a `.zip`, a
//!   directory (zipped here), or a Rust crate (built for `wasm32-wasip2` first);
//! - `cirrus invoke NAME [--payload JSON|@FILE] [--async]`;
//! - `cirrus logs [NAME] [-f]`: invocation records and what the function printed;
//! - `cirrus functions`: each function with its live instances;
//! - `cirrus route add|list|delete`: user routes;
//! - `cirrus secret set|list|delete`: the node's secrets, granted to functions by name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::client::Client;

/// What `cirrus deploy` sends.
pub struct Deploy {
    pub name: String,
    pub code: PathBuf,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub memory: Option<u32>,
    pub timeout: Option<u32>,
    pub env: Vec<String>,
    pub allow_hosts: Vec<String>,
    pub secrets: Vec<String>,
    pub min_instances: Option<u32>,
    pub max_instances: Option<u32>,
    pub idle_timeout: Option<u32>,
    pub routes: Vec<String>,
    pub publish: bool,
}

pub fn deploy(client: &Client, d: Deploy) -> Result<ExitCode> {
    let wasm_wanted = d.runtime.as_deref().is_none_or(|r| r == "wasm");
    let code = package(&d.name, &d.code, wasm_wanted)?;
    let body = body(&d, Some(&code))?;
    let v = upload(client, &d.name, code.len(), body)?;
    let changed = v["changed"].as_bool().unwrap_or(true);
    println!(
        "{} {} ({}, {} MB, {} s){}",
        if changed { "deployed" } else { "unchanged" },
        d.name,
        v["config"]["runtime"].as_str().unwrap_or("?"),
        v["config"]["memory_mb"],
        v["config"]["timeout_seconds"],
        v["publishedVersion"]
            .as_str()
            .map(|n| format!(", version {n}"))
            .unwrap_or_default()
    );
    for route in &d.routes {
        client.call(
            reqwest::Method::PUT,
            "/routes",
            Some(json!({ "route": route, "function": d.name })),
        )?;
        println!("route {route} -> {}", d.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// `PUT /v1/functions/NAME` with `body`, shown as an upload of `size` bytes of code (a
/// settings-only body has none).
pub fn upload(client: &Client, name: &str, size: usize, body: Map<String, Value>) -> Result<Value> {
    let step = crate::progress::Step::start(if body.contains_key("code") {
        format!("uploading {name} ({})", crate::progress::size(size))
    } else {
        format!("updating {name}")
    });
    let result = client.call(
        reqwest::Method::PUT,
        &format!("/functions/{name}"),
        Some(Value::Object(body)),
    );
    step.finish(result.is_ok());
    result
}

/// The deploy request's body: the code (base64), when given, and the settings `d` names.
pub fn body(d: &Deploy, code: Option<&[u8]>) -> Result<Map<String, Value>> {
    let mut body = Map::new();
    if let Some(code) = code {
        body.insert(
            "code".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(code)),
        );
    }
    if let Some(r) = &d.runtime {
        body.insert("runtime".into(), json!(r));
    }
    if let Some(h) = &d.handler {
        body.insert("handler".into(), json!(h));
    }
    if let Some(m) = d.memory {
        body.insert("memory_mb".into(), json!(m));
    }
    if let Some(t) = d.timeout {
        body.insert("timeout_seconds".into(), json!(t));
    }
    if !d.env.is_empty() {
        let mut env = Map::new();
        for pair in &d.env {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--env '{pair}' is not NAME=VALUE"))?;
            env.insert(k.to_owned(), json!(v));
        }
        body.insert("environment".into(), Value::Object(env));
    }
    if !d.secrets.is_empty() {
        body.insert("secrets".into(), json!(d.secrets));
    }
    if !d.allow_hosts.is_empty() {
        body.insert("allowed_hosts".into(), json!(d.allow_hosts));
    }
    for (field, v) in [
        ("min_instances", d.min_instances),
        ("max_instances", d.max_instances),
        ("idle_timeout_seconds", d.idle_timeout),
    ] {
        if let Some(v) = v {
            body.insert(field.into(), json!(v));
        }
    }
    if d.publish {
        body.insert("publish".into(), json!(true));
    }
    Ok(body)
}

/// The bytes to upload for PATH: a file as it is, a Rust crate built into its component
/// (when a wasm function is wanted), or a directory zipped.
pub fn package(name: &str, path: &Path, wasm_wanted: bool) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    }
    if wasm_wanted && path.join("Cargo.toml").is_file() {
        let wasm = build_component(name, path)?;
        return std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()));
    }
    zip_dir(path)
}

/// The digest the node reports for code it stored from `upload` (its `code_sha256`,
/// Lambda's `CodeSha256`: the sha256 in base64). A wasm function's zip is stored as the
/// component inside it.
pub fn code_sha256(upload: &[u8], wasm: bool) -> String {
    let stored = if wasm && upload.starts_with(b"PK") {
        component_in_zip(upload).unwrap_or_else(|| upload.to_vec())
    } else {
        upload.to_vec()
    };
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&stored))
}

/// The one `.wasm` a zip carries.
fn component_in_zip(upload: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(upload)).ok()?;
    let mut found = None;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).ok()?;
        if entry.name().is_ok_and(|n| n.ends_with(".wasm")) {
            if found.is_some() {
                return None;
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).ok()?;
            found = Some(bytes);
        }
    }
    found
}

/// Builds a Rust crate for `wasm32-wasip2` and returns its component.
pub fn build_component(name: &str, dir: &Path) -> Result<PathBuf> {
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
        .unwrap_or(true);
    if !installed {
        eprintln!("cirrus: installing the wasm32-wasip2 target (rustup target add wasm32-wasip2)");
        let ok = std::process::Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            bail!("cannot install the wasm32-wasip2 target; run `rustup target add wasm32-wasip2`");
        }
    }
    let mut cargo = std::process::Command::new("cargo");
    cargo
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir);
    let out = crate::progress::build(&format!("building {name}"), cargo, true)?;
    if !out.status.success() {
        bail!(
            "building {name} ({}) failed: {}",
            dir.display(),
            out.last_line()
        );
    }
    let mut found = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact"
            && let Some(files) = msg["filenames"].as_array()
        {
            for f in files.iter().filter_map(Value::as_str) {
                if f.ends_with(".wasm") {
                    found = Some(PathBuf::from(f));
                }
            }
        }
    }
    found.with_context(|| {
        format!(
            "building {} made no .wasm (is it a cdylib crate?)",
            dir.display()
        )
    })
}

/// Zips a directory (without `.git`, `target`, `__pycache__` and `node_modules/.cache`),
/// keeping execute bits.
pub fn zip_dir(dir: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let mut stack = vec![dir.to_path_buf()];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            for entry in
                std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
            {
                let entry = entry?;
                let p = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if matches!(name.as_ref(), ".git" | "target" | "__pycache__" | ".cache") {
                    continue;
                }
                let ft = entry.file_type()?;
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() {
                    files.push(p);
                }
            }
        }
        files.sort();
        for p in files {
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            let mode = std::fs::metadata(&p)?.permissions().mode();
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(if mode & 0o100 != 0 { 0o755 } else { 0o644 });
            w.start_file(rel, opts)?;
            let data = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            w.write_all(&data)?;
        }
        w.finish()?;
    }
    Ok(buf.into_inner())
}

pub fn invoke(
    client: &Client,
    name: &str,
    payload: Option<Value>,
    qualifier: Option<&str>,
    asynchronous: bool,
) -> Result<ExitCode> {
    let mut path = format!("/functions/{name}/invoke");
    let mut q = Vec::new();
    if let Some(qual) = qualifier {
        q.push(format!("qualifier={qual}"));
    }
    if asynchronous {
        q.push("async=true".into());
    }
    if !q.is_empty() {
        path = format!("{path}?{}", q.join("&"));
    }
    let v = client.call(
        reqwest::Method::POST,
        &path,
        Some(payload.unwrap_or_else(|| json!({}))),
    )?;
    if asynchronous {
        println!("accepted {}", v["requestId"].as_str().unwrap_or(""));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(logs) = v["logs"].as_str()
        && !logs.is_empty()
    {
        eprint!("{logs}");
        if !logs.ends_with('\n') {
            eprintln!();
        }
    }
    eprintln!(
        "cirrus: {} {} in {:.2} ms{}",
        name,
        v["version"].as_str().unwrap_or(""),
        v["durationMs"].as_f64().unwrap_or(0.0),
        if v["coldStart"].as_bool() == Some(true) {
            " (cold start)"
        } else {
            ""
        }
    );
    if v["status"] == "ok" {
        println!("{}", serde_json::to_string_pretty(&v["result"])?);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{}", serde_json::to_string_pretty(&v["error"]["body"])?);
        eprintln!(
            "cirrus: the function failed: {}: {}",
            v["error"]["type"].as_str().unwrap_or("?"),
            v["error"]["message"].as_str().unwrap_or("")
        );
        Ok(ExitCode::from(1))
    }
}

/// Prints invocation records; with `follow`, keeps printing new ones until interrupted.
pub fn logs(client: &Client, name: Option<&str>, follow: bool, limit: usize) -> Result<ExitCode> {
    let base = match name {
        Some(n) => format!("/functions/{n}/logs"),
        None => "/logs".to_owned(),
    };
    let mut after = 0u64;
    let mut first = true;
    loop {
        let wait = if follow && !first { 25 } else { 0 };
        let v = client.call(
            reqwest::Method::GET,
            &format!("{base}?after={after}&limit={limit}&wait={wait}"),
            None,
        )?;
        first = false;
        if let Some(records) = v["records"].as_array() {
            let mut out = std::io::stdout().lock();
            for r in records {
                writeln!(out, "{}", format_record(r))?;
            }
            out.flush()?;
        }
        after = v["next"].as_u64().unwrap_or(after);
        if !follow {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// `12:04:05.123 hello $LATEST 1a2b3c4d ok 1.21 ms cold` and the output, indented.
pub fn format_record(r: &Value) -> String {
    let ms = r["time_ms"].as_i64().unwrap_or(0);
    let clock = {
        let s = ms.rem_euclid(86_400_000);
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            s / 3_600_000,
            s / 60_000 % 60,
            s / 1000 % 60,
            s % 1000
        )
    };
    let status = r["status"].as_str().unwrap_or("?");
    let status = match r["error_type"].as_str() {
        Some(t) => format!("{status} {t}"),
        None => status.to_owned(),
    };
    let mut line = format!(
        "{clock} {} {} {} {status} {:.2} ms{}",
        r["function"].as_str().unwrap_or(""),
        r["version"].as_str().unwrap_or(""),
        r["request_id"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(8)
            .collect::<String>(),
        r["duration_ms"].as_f64().unwrap_or(0.0),
        if r["cold_start"].as_bool() == Some(true) {
            " cold"
        } else {
            ""
        }
    );
    for l in r["output"].as_str().unwrap_or("").lines() {
        line.push_str("\n    ");
        line.push_str(l);
    }
    line
}

pub fn list(client: &Client) -> Result<ExitCode> {
    let v = client.call(reqwest::Method::GET, "/functions", None)?;
    let items = v["functions"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no functions; deploy one with `cirrus deploy NAME --code PATH`");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<18} {:>8} {:>9}  LAST MODIFIED",
        "NAME", "RUNTIME", "MEMORY", "INSTANCES"
    );
    for f in items {
        println!(
            "{:<24} {:<18} {:>5} MB {:>9}  {}",
            f["name"].as_str().unwrap_or(""),
            f["runtime"].as_str().unwrap_or(""),
            f["memoryMb"],
            f["instances"],
            f["lastModified"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What a route runs.
pub enum RouteTo {
    Function(String),
    Workflow(String),
}

pub fn add_route(client: &Client, route: &str, target: &RouteTo) -> Result<ExitCode> {
    let (body, shown) = match target {
        RouteTo::Function(f) => (json!({ "route": route, "function": f }), f.clone()),
        RouteTo::Workflow(w) => (
            json!({ "route": route, "workflow": w }),
            format!("workflow {w}"),
        ),
    };
    client.call(reqwest::Method::PUT, "/routes", Some(body))?;
    println!("route {route} -> {shown}");
    Ok(ExitCode::SUCCESS)
}

pub fn list_routes(client: &Client) -> Result<ExitCode> {
    let v = client.call(reqwest::Method::GET, "/routes", None)?;
    for r in v["routes"].as_array().cloned().unwrap_or_default() {
        let route = r["route"].as_str().unwrap_or("");
        match r["workflow"].as_str() {
            Some(w) => println!("{route:<32} -> workflow {w}"),
            None => println!(
                "{route:<32} -> {}:{}",
                r["function"].as_str().unwrap_or(""),
                r["qualifier"].as_str().unwrap_or("")
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn delete_route(client: &Client, route: &str) -> Result<ExitCode> {
    let encoded: String = route
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    client.call(
        reqwest::Method::DELETE,
        &format!("/routes?route={encoded}"),
        None,
    )?;
    println!("deleted route {route}");
    Ok(ExitCode::SUCCESS)
}

pub fn set_secret(client: &Client, name: &str, value: Option<String>) -> Result<ExitCode> {
    let value = match value {
        Some(v) => v,
        None => {
            let mut v = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut v)
                .context("cannot read the secret from stdin")?;
            v.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    client.call(
        reqwest::Method::PUT,
        &format!("/secrets/{name}"),
        Some(json!({ "value": value })),
    )?;
    println!("secret {name} set");
    Ok(ExitCode::SUCCESS)
}

pub fn list_secrets(client: &Client) -> Result<ExitCode> {
    let v = client.call(reqwest::Method::GET, "/secrets", None)?;
    for s in v["secrets"].as_array().cloned().unwrap_or_default() {
        println!("{}", s["name"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn delete_secret(client: &Client, name: &str) -> Result<ExitCode> {
    client.call(reqwest::Method::DELETE, &format!("/secrets/{name}"), None)?;
    println!("secret {name} deleted");
    Ok(ExitCode::SUCCESS)
}
