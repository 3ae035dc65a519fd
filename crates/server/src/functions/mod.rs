//! Functions on the node: deploying them (code kept in the store by digest, configuration
//! validated), resolving a name and qualifier to an immutable version, and invoking it
//! through the pools of `cirrus-runtime`, synchronously or through the durable queue.
//!
//! - [`config`]: the stored configuration and Lambda's rendering of it;
//! - [`code`]: components, zips, digests, unpacking;
//! - [`queue`]: asynchronous invocations, retries, destinations and dead letters;
//! - [`logs`]: each invocation's record and output, for `cirrus logs -f`;
//! - [`lambda`]: the AWS Lambda REST API; [`native`]: the `/v1` routes;
//! - [`routes`]: the user-route listener; [`workflow_routes`]: its routes that start
//!   workflows.

pub mod code;
pub mod config;
pub mod lambda;
pub mod logs;
pub mod native;
pub mod queue;
pub mod routes;
pub mod secrets;
pub mod workflow_routes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use cirrus_engine::Engine;
use cirrus_engine::arn::Partition;
use cirrus_runtime::pool::{Overflow, Pools};
use cirrus_runtime::{
    Code, FunctionError, FunctionSpec, Invocation, InvokeError, Outcome, Payload, Reply,
};
use cirrus_store::{Function, FunctionAlias, FunctionVersion, Page, Store, StoreError};
use serde_json::{Value, json};

use config::{FunctionConfig, Kind};

/// Lambda's payload limits.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
pub const MAX_ASYNC_PAYLOAD: usize = 256 * 1024;

/// Why a function operation failed, with Lambda's error names.
#[derive(Debug, thiserror::Error)]
pub enum FnError {
    #[error("Function not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("The Revision Id provided does not match the latest Revision Id. {0}")]
    RevisionMismatch(String),
    #[error("{0}")]
    Throttled(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Service(String),
}

impl FnError {
    /// Lambda's exception name.
    pub fn aws_name(&self) -> &'static str {
        match self {
            FnError::NotFound(_) => "ResourceNotFoundException",
            FnError::Conflict(_) => "ResourceConflictException",
            FnError::Invalid(_) => "InvalidParameterValueException",
            FnError::RevisionMismatch(_) => "PreconditionFailedException",
            FnError::Throttled(_) => "TooManyRequestsException",
            FnError::TooLarge(_) => "RequestTooLargeException",
            FnError::Service(_) => "ServiceException",
        }
    }

    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            FnError::NotFound(_) => S::NOT_FOUND,
            FnError::Conflict(_) => S::CONFLICT,
            FnError::Invalid(_) => S::BAD_REQUEST,
            FnError::RevisionMismatch(_) => S::PRECONDITION_FAILED,
            FnError::Throttled(_) => S::TOO_MANY_REQUESTS,
            FnError::TooLarge(_) => S::PAYLOAD_TOO_LARGE,
            FnError::Service(_) => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for FnError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => FnError::Conflict(m),
            StoreError::NotFound(m) => FnError::NotFound(m),
            e => FnError::Service(e.to_string()),
        }
    }
}

impl From<config::ConfigError> for FnError {
    fn from(e: config::ConfigError) -> Self {
        FnError::Invalid(e.to_string())
    }
}

impl From<code::CodeError> for FnError {
    fn from(e: code::CodeError) -> Self {
        match e {
            code::CodeError::Io { .. } => FnError::Service(e.to_string()),
            e => FnError::Invalid(format!("Code: {e}")),
        }
    }
}

type Result<T, E = FnError> = std::result::Result<T, E>;

/// A function version resolved for one call.
#[derive(Clone)]
pub struct Resolved {
    pub spec: Arc<FunctionSpec>,
    /// `$LATEST` or the number.
    pub version: String,
    pub config: Arc<FunctionConfig>,
}

/// What a synchronous invocation returned.
pub struct Invoked {
    pub outcome: Outcome,
    pub version: String,
    pub request_id: String,
}

struct Built {
    revision: String,
    spec: Arc<FunctionSpec>,
    config: Arc<FunctionConfig>,
    secrets: Vec<String>,
}

/// What a name and qualifier point at.
enum Target {
    Latest(Function),
    Version(FunctionVersion),
    Alias(FunctionAlias),
}

/// The node's functions.
pub struct Functions {
    store: Arc<dyn Store>,
    pools: Pools,
    code_dir: PathBuf,
    partition: Partition,
    /// Built specs by `name:version`, the revision they were built from, and the secrets
    /// they hold.
    specs: Mutex<HashMap<String, Built>>,
    /// Records by (name, qualifier), until the next write.
    targets: Mutex<HashMap<(String, String), Arc<Target>>>,
    pub secrets: secrets::Secrets,
    pub logs: logs::Logs,
    queue: queue::Signal,
    engine: OnceLock<Engine>,
    /// The event router, for lifecycle events (a dead-lettered invocation).
    events: OnceLock<std::sync::Weak<crate::events::Events>>,
    /// The first asynchronous retry waits this long; each next one twice as long.
    pub async_retry_base: Duration,
    pub routes: routes::Table,
    /// The routes listener's port, for function URLs.
    routes_port: OnceLock<u16>,
}

impl Functions {
    pub fn new(
        store: Arc<dyn Store>,
        pools: Pools,
        code_dir: PathBuf,
        partition: Partition,
        async_retry_base: Duration,
        secrets: secrets::Secrets,
    ) -> Arc<Functions> {
        Arc::new(Functions {
            store,
            pools,
            code_dir,
            partition,
            specs: Mutex::new(HashMap::new()),
            targets: Mutex::new(HashMap::new()),
            secrets,
            logs: logs::Logs::new(1000),
            queue: queue::Signal::default(),
            engine: OnceLock::new(),
            events: OnceLock::new(),
            async_retry_base,
            routes: routes::Table::default(),
            routes_port: OnceLock::new(),
        })
    }

    /// Completes the wiring once the engine runs (destinations may start executions).
    pub fn set_engine(&self, engine: Engine) {
        let _ = self.engine.set(engine);
    }

    /// Notes the routes listener's port (function URLs name it).
    pub fn set_routes_port(&self, port: u16) {
        let _ = self.routes_port.set(port);
    }

    /// A function's URL.
    pub fn function_url(&self, name: &str) -> String {
        let port = self.routes_port.get().copied().unwrap_or(9080);
        format!("http://{name}.lambda-url.localhost:{port}/")
    }

    /// Sets or removes a function's URL; `create` fails if it has one, an update if not.
    pub async fn put_url(
        &self,
        name: &str,
        auth_type: Option<&str>,
        create: bool,
    ) -> Result<config::UrlConfig> {
        let f = self.function(name).await?;
        let mut cfg = parse_config(&f.config)?;
        let now = lambda_time(cirrus_engine::now_ms());
        let auth = auth_type.unwrap_or("NONE");
        if auth != "NONE" {
            return Err(FnError::Invalid(format!(
                "AuthType {auth}: Cirrus serves function URLs publicly (NONE), as it serves routes"
            )));
        }
        let url = match (&cfg.url, create) {
            (Some(_), true) => {
                return Err(FnError::Conflict(format!(
                    "Function {name} already has a URL"
                )));
            }
            (None, false) => {
                return Err(FnError::NotFound(format!("The function {name} has no URL")));
            }
            (Some(u), false) => config::UrlConfig {
                auth_type: auth.to_owned(),
                modified: now,
                ..u.clone()
            },
            (None, true) => config::UrlConfig {
                auth_type: auth.to_owned(),
                created: now.clone(),
                modified: now,
            },
        };
        cfg.url = Some(url.clone());
        let digest = f.code_digest.clone();
        self.replace(&f, cfg, digest).await?;
        Ok(url)
    }

    /// Removes a function's URL; `false` if it had none.
    pub async fn delete_url(&self, name: &str) -> Result<bool> {
        let f = self.function(name).await?;
        let mut cfg = parse_config(&f.config)?;
        if cfg.url.take().is_none() {
            return Ok(false);
        }
        let digest = f.code_digest.clone();
        self.replace(&f, cfg, digest).await?;
        Ok(true)
    }

    pub fn engine(&self) -> Option<&Engine> {
        self.engine.get()
    }

    pub fn set_events(&self, events: &Arc<crate::events::Events>) {
        let _ = self.events.set(Arc::downgrade(events));
    }

    pub(crate) fn events(&self) -> Option<Arc<crate::events::Events>> {
        self.events.get().and_then(std::sync::Weak::upgrade)
    }

    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Reserved concurrency and warm instances for every stored function, at start.
    pub async fn restore(&self) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .functions(Page {
                    after: after.as_deref(),
                    limit: 500,
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            for f in &page {
                let Ok(cfg) = parse_config(&f.config) else {
                    continue;
                };
                self.pools.set_reserved(&f.name, cfg.reserved_concurrency);
                if cfg.min_instances > 0
                    && let Ok(r) = self.resolve(&f.name, None).await
                {
                    self.pools.prewarm(&r.spec);
                }
            }
        }
        self.routes.reload(&*self.store).await?;
        Ok(())
    }

    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.partition.region, self.partition.account
        )
    }

    /// Accepts a name, a full or partial ARN, with an optional `:qualifier`; returns the
    /// name and qualifier.
    pub fn parse_name(&self, given: &str) -> Result<(String, Option<String>)> {
        let parts: Vec<&str> = given.split(':').collect();
        let (name, qualifier) = match parts.as_slice() {
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            ["arn", "aws", "lambda", _region, _acct, "function", name] => (*name, None),
            ["arn", "aws", "lambda", _region, _acct, "function", name, q] => (*name, Some(*q)),
            [_acct, "function", name] => (*name, None),
            [_acct, "function", name, q] => (*name, Some(*q)),
            _ => {
                return Err(FnError::Invalid(format!(
                    "'{given}' is not a function name or ARN"
                )));
            }
        };
        check_name(name)?;
        if let Some(q) = qualifier {
            check_qualifier(q)?;
        }
        Ok((name.to_owned(), qualifier.map(str::to_owned)))
    }

    /// Deploys a new function. Its code is checked now (a component is compiled, a zip
    /// unpacked and checked against the runtime), so a bad upload fails here, not at its
    /// first call.
    pub async fn create(
        &self,
        name: &str,
        mut config: FunctionConfig,
        code: &[u8],
        publish: bool,
    ) -> Result<(Function, Option<FunctionVersion>)> {
        check_name(name)?;
        if self.store.function(name).await?.is_some() {
            return Err(FnError::Conflict(format!("Function already exist: {name}")));
        }
        let code = self.accept_code(&mut config, code).await?;
        config.validate()?;
        config.last_modified = lambda_time(cirrus_engine::now_ms());
        let now = cirrus_engine::now_ms();
        let f = Function {
            name: name.to_owned(),
            config: serde_json::to_string(&config).map_err(|e| FnError::Service(e.to_string()))?,
            code_digest: code,
            revision_id: cirrus_engine::uuid(),
            next_version: 1,
            created_ms: now,
            updated_ms: now,
        };
        self.store.create_function(&f).await.map_err(|e| match e {
            StoreError::Conflict(_) => FnError::Conflict(format!("Function already exist: {name}")),
            e => e.into(),
        })?;
        self.invalidate();
        self.pools.set_reserved(name, config.reserved_concurrency);
        self.prewarm(name, &config).await;
        let version = if publish {
            Some(self.publish(name, "", None).await?)
        } else {
            None
        };
        Ok((f, version))
    }

    /// Checks and stores an upload; fills the code fields of `config`; returns the digest.
    async fn accept_code(&self, config: &mut FunctionConfig, upload: &[u8]) -> Result<String> {
        if upload.is_empty() {
            return Err(FnError::Invalid("Code: the upload is empty".into()));
        }
        let mut bytes = upload.to_vec();
        let package = code::package(&bytes)?;
        if config.runtime.is_empty() {
            config.runtime = match package {
                code::Package::Component => "wasm".into(),
                code::Package::Zip => {
                    return Err(FnError::Invalid(
                        "Runtime: a zip package needs a runtime (python3.12, nodejs20.x, provided.al2023)".into(),
                    ));
                }
            };
        }
        let kind = config.kind()?;
        match (kind, package) {
            (Kind::Wasm, code::Package::Zip) => match code::component_in_zip(&bytes)? {
                Some(c) => bytes = c,
                None => {
                    return Err(FnError::Invalid(
                        "Code: a wasm function's zip must hold its component (.wasm)".into(),
                    ));
                }
            },
            (Kind::Process(_), code::Package::Component) => {
                return Err(FnError::Invalid(format!(
                    "Code: the upload is a WebAssembly component, but the runtime is '{}'; use runtime wasm",
                    config.runtime
                )));
            }
            _ => {}
        }
        let digest = code::digest(&bytes);
        match kind {
            Kind::Wasm => {
                if code::package(&bytes)? != code::Package::Component {
                    return Err(FnError::Invalid(
                        "Code: the .wasm in the zip is not a component".into(),
                    ));
                }
                let runtime = self.pools.wasm().clone();
                let (d, b) = (digest.clone(), bytes.clone());
                tokio::task::spawn_blocking(move || runtime.precompile(&d, &b))
                    .await
                    .map_err(|e| FnError::Service(e.to_string()))?
                    .map_err(|e| FnError::Invalid(format!("Code: {e}")))?;
            }
            Kind::Process(runtime) => {
                let (d, b, root) = (digest.clone(), bytes.clone(), self.code_dir.clone());
                let dir = tokio::task::spawn_blocking(move || code::unpack(&b, &d, &root))
                    .await
                    .map_err(|e| FnError::Service(e.to_string()))??;
                code::check_package(&dir, runtime, &config.handler)?;
            }
        }
        config.code_size = bytes.len() as u64;
        config.code_sha256 = code::lambda_sha256(&bytes);
        self.store.put_code(&digest, &bytes).await?;
        Ok(digest)
    }

    /// Replaces `$LATEST`'s code.
    pub async fn update_code(
        &self,
        name: &str,
        code: &[u8],
        expected_revision: Option<&str>,
        publish: bool,
    ) -> Result<(Function, Option<FunctionVersion>)> {
        let f = self.function(name).await?;
        check_revision(&f, expected_revision)?;
        let mut config = parse_config(&f.config)?;
        let digest = self.accept_code(&mut config, code).await?;
        config.last_modified = lambda_time(cirrus_engine::now_ms());
        let updated = self.replace(&f, config, digest).await?;
        let version = if publish {
            Some(self.publish(name, "", None).await?)
        } else {
            None
        };
        Ok((updated, version))
    }

    /// Replaces `$LATEST`'s code and configuration together (a deploy that changes the
    /// runtime with the code).
    pub async fn update_code_and_config(
        &self,
        name: &str,
        code: &[u8],
        mut config: FunctionConfig,
    ) -> Result<Function> {
        let f = self.function(name).await?;
        let digest = self.accept_code(&mut config, code).await?;
        config.validate()?;
        config.last_modified = lambda_time(cirrus_engine::now_ms());
        self.replace(&f, config, digest).await
    }

    /// Replaces `$LATEST`'s configuration (the code stays).
    pub async fn update_config(
        &self,
        name: &str,
        mut config: FunctionConfig,
        expected_revision: Option<&str>,
    ) -> Result<Function> {
        let f = self.function(name).await?;
        check_revision(&f, expected_revision)?;
        let old = parse_config(&f.config)?;
        // The code fields belong to the code.
        config.code_size = old.code_size;
        config.code_sha256 = old.code_sha256.clone();
        if config.kind()? != old.kind()? {
            return Err(FnError::Invalid(format!(
                "Runtime: '{}' cannot run this function's code (deployed for '{}'); update the code with the runtime",
                config.runtime, old.runtime
            )));
        }
        config.validate()?;
        if let Kind::Process(runtime) = config.kind()? {
            let dir = self.code_dir.join(&f.code_digest);
            if dir.is_dir() {
                code::check_package(&dir, runtime, &config.handler)?;
            }
        }
        config.last_modified = lambda_time(cirrus_engine::now_ms());
        let digest = f.code_digest.clone();
        self.replace(&f, config, digest).await
    }

    async fn replace(
        &self,
        f: &Function,
        config: FunctionConfig,
        digest: String,
    ) -> Result<Function> {
        let updated = Function {
            config: serde_json::to_string(&config).map_err(|e| FnError::Service(e.to_string()))?,
            code_digest: digest,
            revision_id: cirrus_engine::uuid(),
            updated_ms: cirrus_engine::now_ms(),
            ..f.clone()
        };
        self.store
            .update_function(&updated, &f.revision_id)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => FnError::RevisionMismatch(
                    "The function changed while it was being updated; try again.".into(),
                ),
                e => e.into(),
            })?;
        self.invalidate();
        self.pools
            .set_reserved(&f.name, config.reserved_concurrency);
        self.forget(&f.name, "$LATEST");
        self.prewarm(&f.name, &config).await;
        Ok(updated)
    }

    /// Starts `$LATEST`'s minimum instances now rather than at its first call.
    async fn prewarm(&self, name: &str, config: &FunctionConfig) {
        if config.min_instances == 0 {
            return;
        }
        match self.resolve(name, None).await {
            Ok(r) => self.pools.prewarm(&r.spec),
            Err(e) => tracing::warn!(function = name, err = %e, "cannot start warm instances"),
        }
    }

    pub async fn function(&self, name: &str) -> Result<Function> {
        self.store
            .function(name)
            .await?
            .ok_or_else(|| FnError::NotFound(self.function_arn(name)))
    }

    /// Publishes `$LATEST` as a new version; publishing unchanged code and configuration
    /// again returns the latest version (as Lambda does).
    pub async fn publish(
        &self,
        name: &str,
        description: &str,
        expected_revision: Option<&str>,
    ) -> Result<FunctionVersion> {
        let f = self.function(name).await?;
        check_revision(&f, expected_revision)?;
        let mut config = parse_config(&f.config)?;
        let versions = self.store.function_versions(name).await?;
        if let Some(last) = versions.last()
            && last.code_digest == f.code_digest
            && parse_config(&last.config).is_ok_and(|c| same_settings(&c, &config))
        {
            return Ok(last.clone());
        }
        if !description.is_empty() {
            config.description = description.to_owned();
        }
        let version = FunctionVersion {
            function: name.to_owned(),
            number: 0,
            config: serde_json::to_string(&config).map_err(|e| FnError::Service(e.to_string()))?,
            code_digest: f.code_digest.clone(),
            revision_id: cirrus_engine::uuid(),
            created_ms: cirrus_engine::now_ms(),
        };
        self.store
            .publish_function_version(&version, Some(&f.revision_id))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => FnError::RevisionMismatch(
                    "The function changed while the version was being published.".into(),
                ),
                e => e.into(),
            })
            .inspect(|_| self.invalidate())
    }

    /// Deletes a function (all of it) or one version.
    pub async fn delete(&self, name: &str, qualifier: Option<&str>) -> Result<()> {
        match qualifier {
            None => {
                let deleted = self.store.delete_function(name).await?;
                self.invalidate();
                if !deleted {
                    return Err(FnError::NotFound(self.function_arn(name)));
                }
                self.pools.retire_function(name);
                let prefix = format!("{name}:");
                lock(&self.specs).retain(|k, _| !k.starts_with(&prefix));
                self.routes.reload(&*self.store).await?;
                Ok(())
            }
            Some("$LATEST") => Err(FnError::Invalid(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            )),
            Some(q) => {
                let number: u64 = q.parse().map_err(|_| {
                    FnError::Invalid(format!(
                        "'{q}' is not a version number; delete aliases with DeleteAlias"
                    ))
                })?;
                let aliases = self.store.function_aliases(name).await?;
                if let Some(a) = aliases.iter().find(|a| {
                    a.version == q || routing_versions(&a.routing).contains(&q.to_owned())
                }) {
                    return Err(FnError::Conflict(format!(
                        "Unable to delete version because the following aliases reference it: [{}]",
                        a.name
                    )));
                }
                let deleted = self.store.delete_function_version(name, number).await?;
                self.invalidate();
                if !deleted {
                    return Err(FnError::NotFound(format!(
                        "{}:{q}",
                        self.function_arn(name)
                    )));
                }
                self.forget(name, q);
                Ok(())
            }
        }
    }

    fn forget(&self, name: &str, version: &str) {
        lock(&self.specs).remove(&format!("{name}:{version}"));
        self.pools.retire(name, version);
    }

    /// The record a qualifier names, from the cache or the store. Every write through
    /// this type clears the cache; the node is the store's only writer.
    async fn target(&self, name: &str, q: &str) -> Result<Arc<Target>> {
        let key = (name.to_owned(), q.to_owned());
        if let Some(t) = lock(&self.targets).get(&key) {
            return Ok(t.clone());
        }
        let missing = || FnError::NotFound(format!("{}:{q}", self.function_arn(name)));
        let target = if q == "$LATEST" {
            Target::Latest(self.function(name).await?)
        } else if let Ok(n) = q.parse::<u64>() {
            Target::Version(
                self.store
                    .function_version(name, n)
                    .await?
                    .ok_or_else(missing)?,
            )
        } else {
            Target::Alias(
                self.store
                    .function_alias(name, q)
                    .await?
                    .ok_or_else(missing)?,
            )
        };
        let target = Arc::new(target);
        lock(&self.targets).insert(key, target.clone());
        Ok(target)
    }

    /// Forgets cached records after a write.
    fn invalidate(&self) {
        lock(&self.targets).clear();
    }

    /// The version a qualifier names now: `$LATEST` (or none), a number, or an alias
    /// (whose routing picks one of its versions by weight).
    pub async fn resolve(&self, name: &str, qualifier: Option<&str>) -> Result<Resolved> {
        let q = qualifier.unwrap_or("$LATEST");
        let target = self.target(name, q).await?;
        let (version, config, digest, revision) = match &*target {
            Target::Latest(f) => (
                "$LATEST".to_owned(),
                &f.config,
                &f.code_digest,
                &f.revision_id,
            ),
            Target::Version(v) => (
                v.number.to_string(),
                &v.config,
                &v.code_digest,
                &v.revision_id,
            ),
            Target::Alias(alias) => {
                let picked = pick_version(alias);
                if picked.parse::<u64>().is_err() && picked != "$LATEST" {
                    return Err(FnError::Service(format!("alias {q} names '{picked}'")));
                }
                return Box::pin(self.resolve(name, Some(&picked))).await;
            }
        };
        let key = format!("{name}:{version}");
        if let Some(built) = lock(&self.specs).get(&key)
            && built.revision == *revision
        {
            return Ok(Resolved {
                spec: built.spec.clone(),
                version,
                config: built.config.clone(),
            });
        }
        let cfg = Arc::new(parse_config(config)?);
        let spec = Arc::new(self.build_spec(name, &version, &cfg, digest).await?);
        let mut specs = lock(&self.specs);
        if specs.get(&key).is_some_and(|b| b.revision != *revision) {
            // The version's code changed: its instances run the old code.
            self.pools.retire(name, &version);
        }
        specs.insert(
            key,
            Built {
                revision: revision.clone(),
                spec: spec.clone(),
                config: cfg.clone(),
                secrets: cfg.secrets.clone(),
            },
        );
        Ok(Resolved {
            spec,
            version,
            config: cfg,
        })
    }

    async fn build_spec(
        &self,
        name: &str,
        version: &str,
        config: &FunctionConfig,
        digest: &str,
    ) -> Result<FunctionSpec> {
        let bytes = || async {
            self.store.code(digest).await?.ok_or_else(|| {
                FnError::Service(format!(
                    "the code of {name}:{version} ({digest}) is missing from the store"
                ))
            })
        };
        let code = match config.kind()? {
            Kind::Wasm => Code::Wasm {
                digest: digest.to_owned(),
                bytes: Arc::from(bytes().await?),
            },
            Kind::Process(runtime) => {
                let dir = self.code_dir.join(digest);
                let root = if dir.is_dir() {
                    dir
                } else {
                    let b = bytes().await?;
                    let (d, root) = (digest.to_owned(), self.code_dir.clone());
                    tokio::task::spawn_blocking(move || code::unpack(&b, &d, &root))
                        .await
                        .map_err(|e| FnError::Service(e.to_string()))??
                };
                Code::Process {
                    root,
                    runtime,
                    handler: config.handler.clone(),
                }
            }
        };
        let mut environment = config.environment.clone();
        for secret in &config.secrets {
            let value = self.secrets.get(secret).ok_or_else(|| {
                FnError::Invalid(format!(
                    "the secret '{secret}' that {name} is granted is not set (cirrus secret set {secret})"
                ))
            })?;
            environment.insert(secret.clone(), value);
        }
        Ok(FunctionSpec {
            name: name.to_owned(),
            version: version.to_owned(),
            code,
            memory_mb: config.memory_mb,
            timeout: Duration::from_secs(u64::from(config.timeout_seconds)),
            environment,
            allowed_hosts: config.allowed_hosts.clone(),
            scaling: config.scaling(),
            region: self.partition.region.clone(),
        })
    }

    /// Runs one synchronous invocation and records it in the logs.
    pub async fn invoke(
        &self,
        name: &str,
        qualifier: Option<&str>,
        payload: Payload,
        request_id: Option<String>,
        client_context: Option<String>,
    ) -> Result<Invoked> {
        if let Payload::Event { body, .. } = &payload
            && body.len() > MAX_SYNC_PAYLOAD
        {
            return Err(FnError::TooLarge(format!(
                "Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"
            )));
        }
        let resolved = self.resolve(name, qualifier).await?;
        let request_id = request_id.unwrap_or_else(cirrus_engine::uuid);
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            client_context,
            trace_id: None,
        };
        let overflow = if resolved.config.queue_when_throttled {
            Overflow::Wait(resolved.spec.timeout)
        } else {
            Overflow::Throttle
        };
        let started = cirrus_engine::now_ms();
        let result = self
            .pools
            .invoke(&resolved.spec, invocation, overflow)
            .await;
        let outcome = match result {
            Ok(o) => o,
            Err(InvokeError::Throttled { .. }) => {
                self.logs
                    .throttled(name, &resolved.version, &request_id, started);
                return Err(FnError::Throttled("Rate Exceeded.".into()));
            }
            // The code could not start: Lambda reports that as the function's error.
            Err(InvokeError::Init {
                error_type,
                message,
            }) => Outcome {
                result: Err(FunctionError::platform(&error_type, message)),
                logs: String::new(),
                cold_start: true,
                duration: Duration::ZERO,
            },
            Err(InvokeError::Service(m)) => return Err(FnError::Service(m)),
        };
        self.logs
            .record(name, &resolved.version, &request_id, started, &outcome);
        Ok(Invoked {
            outcome,
            version: resolved.version,
            request_id,
        })
    }

    /// Accepts an asynchronous invocation: durable when this returns.
    pub async fn invoke_async(
        &self,
        name: &str,
        qualifier: Option<&str>,
        payload: Bytes,
    ) -> Result<String> {
        if payload.len() > MAX_ASYNC_PAYLOAD {
            return Err(FnError::TooLarge(format!(
                "Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the Invoke operation with the Event invocation type"
            )));
        }
        // The function must exist now; it is resolved again when the event is delivered.
        self.resolve(name, qualifier).await?;
        let id = cirrus_engine::uuid();
        let now = cirrus_engine::now_ms();
        self.store
            .enqueue_invocation(&cirrus_store::QueuedInvocation {
                id: id.clone(),
                function: name.to_owned(),
                qualifier: qualifier.unwrap_or("$LATEST").to_owned(),
                payload: payload.to_vec(),
                attempts: 0,
                due_ms: now,
                created_ms: now,
                last_error: None,
            })
            .await?;
        self.queue.wake();
        Ok(id)
    }

    /// Creates or replaces an alias; checks its versions exist.
    pub async fn put_alias(&self, alias: FunctionAlias, create: bool) -> Result<FunctionAlias> {
        check_name(&alias.name)?;
        if alias.name.parse::<u64>().is_ok() || alias.name == "$LATEST" {
            return Err(FnError::Invalid(format!(
                "Name: '{}' would shadow a version; an alias name must not be a number",
                alias.name
            )));
        }
        self.function(&alias.function).await?;
        let mut versions = vec![alias.version.clone()];
        versions.extend(routing_versions(&alias.routing));
        for v in &versions {
            if v == "$LATEST" {
                continue;
            }
            let n: u64 = v.parse().map_err(|_| {
                FnError::Invalid(format!("FunctionVersion: '{v}' is not a version number"))
            })?;
            if self
                .store
                .function_version(&alias.function, n)
                .await?
                .is_none()
            {
                return Err(FnError::NotFound(format!(
                    "{}:{v}",
                    self.function_arn(&alias.function)
                )));
            }
        }
        let weights: f64 = serde_json::from_str::<HashMap<String, f64>>(&alias.routing)
            .map_err(|_| FnError::Invalid("RoutingConfig: weights must be numbers".into()))?
            .values()
            .sum();
        if !(0.0..1.0).contains(&weights) {
            return Err(FnError::Invalid(
                "RoutingConfig: the additional versions' weights must sum to less than 1".into(),
            ));
        }
        if create {
            self.store
                .create_function_alias(&alias)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => FnError::Conflict(format!(
                        "Alias already exists: {}:{}",
                        self.function_arn(&alias.function),
                        alias.name
                    )),
                    e => e.into(),
                })?;
        } else {
            self.store.update_function_alias(&alias).await?;
        }
        self.invalidate();
        Ok(alias)
    }

    /// Deletes an alias; `false` if there was none.
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<bool> {
        let deleted = self.store.delete_function_alias(name, alias).await?;
        self.invalidate();
        Ok(deleted)
    }

    /// Sets or clears reserved concurrency.
    pub async fn set_concurrency(&self, name: &str, reserved: Option<u32>) -> Result<()> {
        let f = self.function(name).await?;
        let mut config = parse_config(&f.config)?;
        config.reserved_concurrency = reserved;
        let digest = f.code_digest.clone();
        self.replace(&f, config, digest).await?;
        Ok(())
    }

    /// Sets or deletes a secret and restarts the instances of the versions that use it.
    pub fn change_secret(&self, name: &str, value: Option<&str>) -> Result<bool> {
        let changed = match value {
            Some(v) => {
                self.secrets
                    .set(name, v, cirrus_engine::now_ms())
                    .map_err(|e| match e {
                        secrets::SecretsError::Write { .. }
                        | secrets::SecretsError::Read { .. } => FnError::Service(e.to_string()),
                        e => FnError::Invalid(e.to_string()),
                    })?;
                true
            }
            None => self
                .secrets
                .delete(name)
                .map_err(|e| FnError::Service(e.to_string()))?,
        };
        let stale: Vec<String> = lock(&self.specs)
            .iter()
            .filter(|(_, b)| b.secrets.iter().any(|s| s == name))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some((f, v)) = key.split_once(':') {
                self.forget(f, v);
            }
        }
        Ok(changed)
    }

    /// A destination or dead-letter target: a function (name or ARN), a state machine, an
    /// event bus (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`) or a queue
    /// (`arn:aws:sqs:REGION:ACCOUNT:NAME`). Only the shape is checked, as Lambda does: a
    /// target missing when a record is delivered is logged.
    pub fn check_destination(&self, target: &str) -> Result<()> {
        if target.starts_with("arn:aws:states:") && target.contains(":stateMachine:") {
            return Ok(());
        }
        if destination_bus(target).is_some()
            || crate::events::queues::queue_of_arn(target).is_some()
        {
            return Ok(());
        }
        if target.starts_with("arn:aws:events:") || target.starts_with("arn:aws:sqs:") {
            return Err(FnError::Invalid(format!(
                "Destination '{target}' is not an event bus ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME) or a queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)"
            )));
        }
        self.parse_name(target).map(|_| ()).map_err(|_| {
            FnError::Invalid(format!(
                "Destination '{target}' is not a function, state machine, event bus or queue ARN; Cirrus delivers to those"
            ))
        })
    }

    /// A sync invocation's reply as an event: the body, or the function's error.
    pub fn reply_body(outcome: &Outcome) -> (Bytes, Option<&FunctionError>) {
        match &outcome.result {
            Ok(Reply::Event(b)) => (b.clone(), None),
            Ok(Reply::Http(r)) => (r.body.clone(), None),
            Err(e) => (e.body.clone(), Some(e)),
        }
    }
}

/// The bus an event-bus destination names: `arn:aws:events:REGION:ACCOUNT:event-bus/NAME`.
pub(crate) fn destination_bus(target: &str) -> Option<&str> {
    let rest = target.strip_prefix("arn:aws:events:")?;
    let parts: Vec<&str> = rest.splitn(3, ':').collect();
    let name = parts.get(2)?.strip_prefix("event-bus/")?;
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
    ok.then_some(name)
}

pub(crate) fn parse_config(text: &str) -> Result<FunctionConfig> {
    serde_json::from_str(text)
        .map_err(|e| FnError::Service(format!("stored configuration is corrupt: {e}")))
}

/// Whether two configurations would run the same (for publishing unchanged functions).
fn same_settings(a: &FunctionConfig, b: &FunctionConfig) -> bool {
    let strip = |c: &FunctionConfig| FunctionConfig {
        last_modified: String::new(),
        description: String::new(),
        ..c.clone()
    };
    strip(a) == strip(b)
}

fn check_revision(f: &Function, expected: Option<&str>) -> Result<()> {
    match expected {
        Some(r) if !r.is_empty() && r != f.revision_id => Err(FnError::RevisionMismatch(format!(
            "Expected {r}, the function is at {}",
            f.revision_id
        ))),
        _ => Ok(()),
    }
}

/// Lambda's function names: letters, digits, hyphens and underscores, up to 64.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(FnError::Invalid(format!(
            "FunctionName: '{}' must be 1 to 64 letters, digits, hyphens or underscores",
            name.chars().take(80).collect::<String>()
        )))
    }
}

fn check_qualifier(q: &str) -> Result<()> {
    let ok = q == "$LATEST"
        || (!q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if ok {
        Ok(())
    } else {
        Err(FnError::Invalid(format!(
            "Qualifier: '{}' is not a version or alias name",
            q.chars().take(80).collect::<String>()
        )))
    }
}

/// The extra versions an alias's routing names.
fn routing_versions(routing: &str) -> Vec<String> {
    serde_json::from_str::<HashMap<String, f64>>(routing)
        .map(|m| m.into_keys().collect())
        .unwrap_or_default()
}

/// Picks an alias's version: each extra version with its weight, the main one otherwise.
fn pick_version(alias: &FunctionAlias) -> String {
    let weights: Vec<(String, f64)> = serde_json::from_str::<HashMap<String, f64>>(&alias.routing)
        .map(|m| {
            let mut v: Vec<(String, f64)> = m.into_iter().collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        })
        .unwrap_or_default();
    let roll = (cirrus_engine::random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut acc = 0.0;
    for (version, weight) in weights {
        acc += weight;
        if roll < acc {
            return version;
        }
    }
    alias.version.clone()
}

/// Lambda's `LastModified` format: `2024-01-02T03:04:05.678+0000`.
pub fn lambda_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = cirrus_asl::timestamp::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}+0000",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// A function's version or alias as the APIs show it.
pub fn alias_json(f: &Functions, a: &FunctionAlias) -> Value {
    let weights: HashMap<String, f64> = serde_json::from_str(&a.routing).unwrap_or_default();
    let mut v = json!({
        "AliasArn": format!("{}:{}", f.function_arn(&a.function), a.name),
        "Name": a.name,
        "FunctionVersion": a.version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    });
    if !weights.is_empty() {
        v["RoutingConfig"] = json!({ "AdditionalVersionWeights": weights });
    }
    v
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_times_have_milliseconds_and_offset() {
        assert_eq!(lambda_time(0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(
            lambda_time(1_700_000_000_123),
            "2023-11-14T22:13:20.123+0000"
        );
    }

    #[test]
    fn alias_routing_picks_by_weight() {
        let a = FunctionAlias {
            function: "f".into(),
            name: "live".into(),
            version: "1".into(),
            routing: r#"{"2": 0.3}"#.into(),
            description: String::new(),
            revision_id: String::new(),
            created_ms: 0,
            updated_ms: 0,
        };
        let n = 4000;
        let twos = (0..n).filter(|_| pick_version(&a) == "2").count();
        let share = twos as f64 / n as f64;
        assert!((0.25..0.35).contains(&share), "{share}");
    }

    #[test]
    fn names_and_qualifiers_are_checked() {
        assert!(check_name("orders-v2_x").is_ok());
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_qualifier("$LATEST").is_ok());
        assert!(check_qualifier("$X").is_err());
    }
}
