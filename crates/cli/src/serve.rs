//! `cirrus serve` and `cirrus env`: run a node, and point AWS tools at it. [`start`]
//! opens a node and serves it until [`RunningNode::stop`]; `cirrus serve` and `cirrus dev`
//! both run their node with it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
        let node = start(&args).await?;
        let store = match &args.postgres {
            Some(_) => "PostgreSQL".to_owned(),
            None => format!("SQLite in {}", args.data.display()),
        };
        eprintln!(
            "cirrus: node listening on http://{} (state in {store})",
            node.api
        );
        eprintln!("cirrus: user routes on http://{}", node.routes);
        eprintln!(
            "cirrus: point the aws CLI and SDKs at it with: eval \"$(cirrus env --data {})\"",
            args.data.display()
        );
        shutdown_signal().await;
        node.stop().await?;
        eprintln!("cirrus: node stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// A node serving its control plane and user routes, started by [`start`].
pub struct RunningNode {
    pub node: Arc<Node>,
    /// Where the control plane listens.
    pub api: SocketAddr,
    /// Where user routes are served.
    pub routes: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    routes_server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Opens the node (store, engine, functions, events), binds both listeners and serves
/// them until [`RunningNode::stop`]. `node.json` in the data directory records where.
pub async fn start(args: &ServeArgs) -> Result<RunningNode> {
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
    let listener = bind(args.listen, "the control plane", "--listen").await?;
    let api = listener.local_addr()?;
    let routes = bind(args.routes_listen, "user routes", "--routes-listen").await?;
    let routes_addr = routes.local_addr()?;
    node.set_routes_addr(routes_addr);
    // Written here as well as by the server, so that it is there when this returns.
    node.write_endpoint(api)
        .with_context(|| format!("cannot write node.json in {}", args.data.display()))?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut stop_routes = stop_rx.clone();
    let routes_server = tokio::spawn(cirrus_server::functions::routes::serve(
        node.functions.clone(),
        routes,
        async move {
            let _ = stop_routes.wait_for(|s| *s).await;
        },
    ));
    let mut stop_api = stop_rx;
    let server = tokio::spawn(cirrus_server::serve(node.clone(), listener, async move {
        let _ = stop_api.wait_for(|s| *s).await;
    }));
    Ok(RunningNode {
        node,
        api,
        routes: routes_addr,
        stop,
        server,
        routes_server,
    })
}

impl RunningNode {
    /// Stops taking requests, lets those under way finish, stops the function instances,
    /// and closes the store once the writes already sent are done (work still running in
    /// the engine finds it closed, and resumes from its last commit when the node starts
    /// again).
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        let served = self.server.await;
        let _ = self.routes_server.await;
        self.node.functions.pools().shutdown().await;
        let store = self.node.engine.store().clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        match served {
            Ok(r) => r.context("the server failed"),
            Err(e) => Err(anyhow::anyhow!("the server failed: {e}")),
        }
    }
}

/// Binds `addr`; a port in use is an error that says which flag picks another.
async fn bind(addr: SocketAddr, what: &str, flag: &str) -> Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "cannot listen for {what} on {addr}: port {} is in use (another cirrus node?); \
             choose another with {flag} ADDR, e.g. {flag} {}:0 for any free port",
            addr.port(),
            addr.ip()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot listen for {what} on {addr}")),
    }
}

pub async fn shutdown_signal() {
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
