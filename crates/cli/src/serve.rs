//! `cirrus serve` and `cirrus env`: run a node, and point AWS tools at it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use cirrus_server::{Node, NodeCredentials, NodeOptions};
use cirrus_store::sqlite::Durability;

/// Where the node keeps its data unless told: `$CIRRUS_DATA`, else
/// `$XDG_DATA_HOME/cirrus`, else `~/.local/share/cirrus`, else `./.cirrus`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CIRRUS_DATA") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("cirrus");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".local/share/cirrus");
    }
    PathBuf::from(".cirrus")
}

pub struct ServeArgs {
    pub data: PathBuf,
    pub postgres: Option<String>,
    pub listen: SocketAddr,
    pub region: String,
    pub max_payload_bytes: usize,
    pub max_definition_bytes: usize,
    pub max_request_bytes: usize,
    pub fast_commits: bool,
    pub express_history: bool,
    pub routes_listen: SocketAddr,
    pub async_retry_base: std::time::Duration,
    pub event_retry_base: std::time::Duration,
    pub given_keys: Option<(String, String)>,
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut options = NodeOptions::new(&args.data);
        options.postgres = args.postgres.clone();
        options.engine.partition.region = args.region.clone();
        options.engine.max_payload_bytes = args.max_payload_bytes;
        options.engine.max_definition_bytes = args.max_definition_bytes;
        options.max_request_bytes = args.max_request_bytes;
        options.engine.express_history = args.express_history;
        options.given_keys = args.given_keys.clone();
        options.async_retry_base = args.async_retry_base;
        options.events.retry_base = args.event_retry_base;
        options.durability = if args.fast_commits {
            Durability::Normal
        } else {
            Durability::Full
        };
        let node = Node::open(options)
            .await
            .with_context(|| format!("cannot start the node in {}", args.data.display()))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let store = match &args.postgres {
            Some(_) => "PostgreSQL".to_owned(),
            None => format!("SQLite in {}", args.data.display()),
        };
        let routes = tokio::net::TcpListener::bind(args.routes_listen)
            .await
            .with_context(|| format!("cannot listen for user routes on {}", args.routes_listen))?;
        let routes_addr = routes.local_addr()?;
        node.set_routes_addr(routes_addr);
        eprintln!("cirrus: node listening on http://{addr} (state in {store})");
        eprintln!("cirrus: user routes on http://{routes_addr}");
        eprintln!(
            "cirrus: point the aws CLI and SDKs at it with: eval \"$(cirrus env --data {})\"",
            args.data.display()
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut stop_routes = stop_rx.clone();
        let routes_task = tokio::spawn(cirrus_server::functions::routes::serve(
            node.functions.clone(),
            routes,
            async move {
                let _ = stop_routes.wait_for(|s| *s).await;
            },
        ));
        let functions = node.functions.clone();
        cirrus_server::serve(node, listener, async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        })
        .await
        .context("the server failed")?;
        drop(stop_rx);
        let _ = routes_task.await;
        functions.pools().shutdown().await;
        eprintln!("cirrus: node stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut t), Ok(mut i)) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = i.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The node's endpoint as recorded in its data directory.
pub fn recorded_endpoint(data: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data.join("node.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("endpoint")?.as_str().map(str::to_owned)
}

/// Where the node in `data` serves user routes, as its `node.json` says.
pub fn recorded_routes(data: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data.join("node.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("routes")?.as_str().map(str::to_owned)
}

/// `cirrus env`: the `export` lines that point the aws CLI, the SDKs and cirrus at a node.
pub fn env(data: &Path) -> Result<ExitCode> {
    let creds = NodeCredentials::load(data)?.with_context(|| {
        format!(
            "no credentials in {}: start the node once with `cirrus serve --data {}`",
            data.display(),
            data.display()
        )
    })?;
    let endpoint = std::env::var("CIRRUS_ENDPOINT")
        .ok()
        .or_else(|| recorded_endpoint(data))
        .unwrap_or_else(|| "http://127.0.0.1:9070".into());
    println!("export AWS_ENDPOINT_URL={endpoint}");
    println!("export AWS_ACCESS_KEY_ID={}", creds.access_key_id);
    println!("export AWS_SECRET_ACCESS_KEY={}", creds.secret_access_key);
    println!("export AWS_REGION={}", creds.region);
    println!("export AWS_DEFAULT_REGION={}", creds.region);
    // StartSyncExecution's endpoint carries a `sync-` host prefix on AWS; a local node has
    // one host for everything.
    println!("export AWS_DISABLE_HOST_PREFIX_INJECTION=true");
    println!("export CIRRUS_ENDPOINT={endpoint}");
    println!("export CIRRUS_TOKEN={}", creds.token);
    Ok(ExitCode::SUCCESS)
}
