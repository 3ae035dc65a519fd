//! The Cirrus node: opens the store (SQLite in the data directory, or PostgreSQL), starts
//! the engine with the node's dispatcher and the event system, and serves the control
//! plane on one listener:
//!
//! - `POST /` with `X-Amz-Target`: the AWS JSON protocols, SigV4-signed with the node's
//!   key pair: Step Functions (`AWSStepFunctions.*`, [`aws`]), EventBridge (`AWSEvents.*`,
//!   [`events::eventbridge`]) and SQS (`AmazonSQS.*`, [`events::sqs`]);
//! - `/2015-03-31/functions/...` (and Lambda's other dated prefixes): the AWS Lambda API
//!   ([`functions::lambda`]), and `/2015-03-31/event-source-mappings/...`
//!   ([`events::mappings_api`]), SigV4-signed the same way;
//! - `/v1/...`: the native JSON API ([`native`]), with the node's bearer token;
//! - `GET /openapi.json` (the native API's description) and `GET /health`, open.
//!
//! User routes and webhooks are served on a second listener ([`functions::routes`],
//! [`events::webhooks`]). [`functions`] deploys and invokes functions through the pools of
//! `cirrus-runtime`; [`events`] routes events from every source to rules' targets, and
//! takes the engine's status changes as lifecycle events; [`credentials`] makes and keeps
//! the key pair and token; [`dispatcher`] performs HTTP Tasks ([`http_task`]), function
//! Tasks, and the `sqs:sendMessage` and `events:putEvents` integrations for the engine.

pub mod aws;
pub mod credentials;
pub mod dispatcher;
pub mod events;
pub mod functions;
pub mod http_task;
pub mod native;
pub mod sigv4;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use cirrus_engine::{Config, Engine};
use cirrus_store::Store;
use cirrus_store::postgres::PostgresStore;
use cirrus_store::sqlite::{Durability, SqliteStore};
use http::StatusCode;
use serde_json::json;

pub use credentials::NodeCredentials;

/// How to run a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Holds the SQLite database (unless `postgres` is set), the credentials and
    /// `node.json`.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL to keep state in instead of SQLite.
    pub postgres: Option<String>,
    pub engine: Config,
    /// The largest request body accepted, in bytes.
    pub max_request_bytes: usize,
    pub durability: Durability,
    /// A key pair to accept instead of the one the node made (it replaces the pair in
    /// `credentials.json`; the bearer token stays).
    pub given_keys: Option<(String, String)>,
    /// The wait before the first retry of a failed asynchronous invocation (doubling
    /// after); Lambda waits a minute.
    pub async_retry_base: std::time::Duration,
    /// How often idle function instances are looked for.
    pub reap_interval: std::time::Duration,
    /// Event delivery's retry timing.
    pub events: events::EventsOptions,
}

impl NodeOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeOptions {
            data_dir: data_dir.into(),
            postgres: None,
            engine: Config::default(),
            max_request_bytes: 2 * 1024 * 1024,
            durability: Durability::Full,
            given_keys: None,
            async_retry_base: std::time::Duration::from_secs(60),
            reap_interval: std::time::Duration::from_secs(1),
            events: events::EventsOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another node is running with the data directory {0}")]
    Busy(PathBuf),
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error("cannot open the store: {0}")]
    Store(#[from] cirrus_store::StoreError),
    #[error("cannot start the engine: {0}")]
    Engine(#[from] cirrus_engine::EngineError),
    #[error("cannot start the function runtimes: {0}")]
    Runtime(#[from] cirrus_runtime::InvokeError),
    #[error("cannot restore the functions: {0}")]
    Functions(#[from] functions::FnError),
    #[error(transparent)]
    Secrets(#[from] functions::secrets::SecretsError),
    #[error("cannot start the event system: {0}")]
    Events(#[from] events::EventsError),
}

/// A running node's state, shared by its request handlers.
pub struct Node {
    pub engine: Engine,
    pub functions: Arc<functions::Functions>,
    pub events: Arc<events::Events>,
    /// Event-source mappings and their pollers.
    pub mappings: Arc<events::mappings::Mappings>,
    pub credentials: NodeCredentials,
    pub options: NodeOptions,
    /// Where user routes are served, once known.
    routes_addr: std::sync::OnceLock<SocketAddr>,
    /// Held for the node's lifetime: one node per data directory.
    _lock: std::fs::File,
}

impl Node {
    /// Opens the store, migrates it, and starts the engine (which resumes whatever was
    /// running when the node last stopped).
    pub async fn open(options: NodeOptions) -> Result<Arc<Node>, NodeError> {
        Self::open_with(options, None).await
    }

    /// [`Node::open`], keeping state in `store` when given instead of SQLite or
    /// PostgreSQL (tests run a node on `MemoryStore`).
    pub async fn open_with(
        options: NodeOptions,
        store: Option<Arc<dyn Store>>,
    ) -> Result<Arc<Node>, NodeError> {
        std::fs::create_dir_all(&options.data_dir).map_err(|source| NodeError::DataDir {
            path: options.data_dir.clone(),
            source,
        })?;
        let lock_path = options.data_dir.join("node.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| NodeError::DataDir {
                path: lock_path.clone(),
                source,
            })?;
        if lock.try_lock().is_err() {
            return Err(NodeError::Busy(options.data_dir.clone()));
        }
        let mut credentials =
            NodeCredentials::load_or_create(&options.data_dir, &options.engine.partition.region)?;
        if let Some((id, secret)) = &options.given_keys
            && (credentials.access_key_id != *id || credentials.secret_access_key != *secret)
        {
            credentials.access_key_id = id.clone();
            credentials.secret_access_key = secret.clone();
            credentials.save(&options.data_dir)?;
        }
        let store: Arc<dyn Store> = match (store, &options.postgres) {
            (Some(store), _) => store,
            (None, Some(url)) => Arc::new(PostgresStore::connect(url).await?),
            (None, None) => Arc::new(SqliteStore::open(
                &options.data_dir.join("cirrus.db"),
                options.durability,
            )?),
        };
        let pools = cirrus_runtime::pool::Pools::new(cirrus_runtime::pool::PoolsConfig {
            wasm: cirrus_runtime::wasm::WasmConfig::new(options.data_dir.join("compiled")),
            process: process_config(options.data_dir.join("instances")),
            reap_interval: options.reap_interval,
        })?;
        let functions = functions::Functions::new(
            store.clone(),
            pools,
            options.data_dir.join("code"),
            options.engine.partition.clone(),
            options.async_retry_base,
            functions::secrets::Secrets::open(&options.data_dir)?,
        );
        let events = events::Events::new(
            store.clone(),
            options.engine.partition.clone(),
            functions.clone(),
            options.events.clone(),
        );
        functions.set_events(&events);
        let dispatcher = Arc::new(dispatcher::NodeDispatcher::new(
            &options.engine.partition.region,
            options.engine.max_payload_bytes,
            functions.clone(),
            Arc::downgrade(&events),
        ));
        let consumer: Arc<dyn cirrus_engine::StatusConsumer> =
            Arc::new(events::lifecycle::Consumer(Arc::downgrade(&events)));
        let engine =
            Engine::start_with(store, dispatcher, options.engine.clone(), Some(consumer)).await?;
        functions.set_engine(engine.clone());
        functions.restore().await?;
        tokio::spawn(functions::queue::run(functions.clone()));
        let mappings = events::mappings::Mappings::new(events.queues.clone(), functions.clone());
        mappings.restore().await;
        tokio::spawn(events::queues::run_retention(
            events.queues.clone(),
            std::time::Duration::from_secs(60),
        ));
        events.start(engine.clone()).await?;
        Ok(Arc::new(Node {
            engine,
            functions,
            events,
            mappings,
            routes_addr: std::sync::OnceLock::new(),
            credentials,
            options,
            _lock: lock,
        }))
    }

    /// Checks an AWS-protocol request's SigV4 signature against the node's key pair.
    pub(crate) fn verify_signature(
        &self,
        request: &sigv4::Request<'_>,
    ) -> Result<sigv4::Verified, sigv4::SigV4Error> {
        let keys = [sigv4::Credentials {
            access_key_id: self.credentials.access_key_id.clone(),
            secret_access_key: self.credentials.secret_access_key.clone(),
        }];
        sigv4::verify(request, &keys, std::time::SystemTime::now())
    }

    /// Notes where user routes are served (recorded in `node.json` with the endpoint).
    pub fn set_routes_addr(&self, addr: SocketAddr) {
        let _ = self.routes_addr.set(addr);
        self.functions.set_routes_port(addr.port());
    }

    /// Records where the node listens, so that the CLI finds it.
    pub fn write_endpoint(&self, addr: SocketAddr) -> std::io::Result<()> {
        let mut text = json!({ "endpoint": format!("http://{addr}"), "pid": std::process::id() });
        if let Some(r) = self.routes_addr.get() {
            text["routes"] = json!(format!("http://{r}"));
        }
        let path = self.options.data_dir.join("node.json");
        let tmp = self.options.data_dir.join("node.json.tmp");
        std::fs::write(&tmp, text.to_string())?;
        std::fs::rename(tmp, path)
    }
}

/// Where process functions run, with `python3` and `node` resolved from the `PATH`. A node
/// without Python still starts; its `python3` functions fail to start, saying why.
fn process_config(dir: PathBuf) -> cirrus_runtime::process::ProcessConfig {
    match cirrus_runtime::process::ProcessConfig::detect(dir.clone()) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(err = %e, "python3 functions will not start");
            cirrus_runtime::process::ProcessConfig {
                work_dir: dir,
                python: "python3".into(),
                node: "node".into(),
                log_limit: 256 * 1024,
            }
        }
    }
}

/// The control plane's routes.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/", post(aws_protocol))
        .route("/health", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/openapi.json", get(|| async { axum::Json(native::openapi::document()) }))
        .route("/{version}/functions", any(lambda_protocol))
        .route("/{version}/functions/", any(lambda_protocol))
        .route("/{version}/functions/{*rest}", any(lambda_protocol))
        .route("/{version}/event-source-mappings", any(mappings_protocol))
        .route("/{version}/event-source-mappings/", any(mappings_protocol))
        .route("/{version}/event-source-mappings/{*rest}", any(mappings_protocol))
        .nest("/v1", native::routes(node.clone()))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({ "error": { "code": "NotFound", "message": "no such route; see /openapi.json" } })),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(node)
}

/// Reads a request body up to the node's limit.
pub(crate) async fn read_body(
    node: &Node,
    body: Body,
) -> Result<axum::body::Bytes, (StatusCode, String)> {
    let limit = node.options.max_request_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than the limit of {limit} bytes"),
        )
    })
}

async fn aws_protocol(State(node): State<Arc<Node>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&node, body).await {
        Ok(b) => b,
        Err((status, message)) => {
            return aws::ApiError::new(status, "ValidationException", message).into_response();
        }
    };
    aws::handle(
        &node,
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        bytes,
    )
    .await
}

/// The AWS Lambda API, under its dated path prefixes.
async fn lambda_protocol(State(node): State<Arc<Node>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Code uploads travel base64 in the body: 50 MB zips, as Lambda allows.
    let bytes = match axum::body::to_bytes(body, node.options.max_request_bytes.max(70 << 20)).await
    {
        Ok(b) => b,
        Err(_) => {
            return functions::lambda::too_large().into_response();
        }
    };
    functions::lambda::handle(
        &node,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        bytes,
    )
    .await
}

/// Lambda's event-source-mapping operations.
async fn mappings_protocol(State(node): State<Arc<Node>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&node, body).await {
        Ok(b) => b,
        Err(_) => return functions::lambda::too_large().into_response(),
    };
    events::mappings_api::lambda_handle(
        &node,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        bytes,
    )
    .await
}

/// Serves `router(node)` on `listener` until `shutdown` completes.
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    node.events.queues.set_endpoint(addr);
    node.write_endpoint(addr)?;
    axum::serve(listener, router(node))
        .with_graceful_shutdown(shutdown)
        .await
}
