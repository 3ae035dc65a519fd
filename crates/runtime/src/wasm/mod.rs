//! WebAssembly functions: components exporting `wasi:http/incoming-handler`, run on
//! wasmtime. This module is the only one that knows wasmtime; what each of its objects costs
//! and how long it lives:
//!
//! - [`WasmRuntime`]: one per process. Owns the wasmtime `Engine` (Cranelift, epoch
//!   interruption, the pooling allocator: every instance slot, linear memory and fiber stack
//!   is reserved once, up front), the `Linker` with `wasi:cli` and `wasi:http`, the
//!   compiled-artifact cache (`artifact`) and a thread that advances the epoch every
//!   [`WasmConfig::epoch_tick`].
//! - [`WasmComponent`]: one per function version, from [`WasmRuntime::load`]: compiled once
//!   (~0.3 s for the 244 KiB test guest on two busy cores) or mapped from its cached
//!   artifact (~0.33 ms), checked and linked (`InstancePre`). Its first invocation costs
//!   ~0.1 ms more (the memory image). Cheap to clone; keeps the runtime alive.
//! - One `Store` and one instance per invocation ([`WasmComponent::invoke`], in `invoke`):
//!   a fresh instance from the pool (a hello invocation takes ~30 µs end to end, ~17 µs of
//!   it the host's: `benches/wasm.rs`), with the function's memory cap, deadline,
//!   environment, outbound hosts (`outbound`) and captured output (`logs`); an event
//!   payload becomes a CloudEvents request (`event`). Nothing survives the invocation, so
//!   a guest that loops, exhausts its memory or traps fails that invocation only.

mod artifact;
mod event;
mod invoke;
mod logs;
mod outbound;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::types::{FunctionSpec, Invocation, Outcome};

use self::artifact::ArtifactCache;
pub use self::event::ERROR_TYPE_HEADER;
use self::invoke::Host;
pub use self::invoke::{INSTANCE_LIMIT_ERROR_TYPE, MAX_RESPONSE_BYTES};
pub use self::logs::MAX_LOG_BYTES;
pub use self::outbound::AllowedHost;

/// The interface a component must export to be a Cirrus function.
const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";

/// How a [`WasmRuntime`] is set up.
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// Where compiled artifacts are kept, across restarts. Created if missing; must be
    /// writable by this process only (its files are run as machine code).
    pub cache_dir: PathBuf,
    /// Instances that can run at once across all components (the pool's slots); an
    /// invocation beyond this fails with [`INSTANCE_LIMIT_ERROR_TYPE`].
    pub max_instances: u32,
    /// The most linear memory one instance may have; the pool reserves address space for
    /// it in every slot. A function's `memory_mb` caps it lower.
    pub max_memory_bytes: u64,
    /// How often the epoch advances: the granularity of deadlines, and how often a running
    /// guest yields its thread to other tasks. 1 ms and 10 ms measured the same on latency
    /// and throughput, so the default is the finer one.
    pub epoch_tick: Duration,
}

impl WasmConfig {
    /// The defaults: 1,000 instances of up to 512 MiB, a 1 ms epoch.
    pub fn new(cache_dir: impl Into<PathBuf>) -> WasmConfig {
        WasmConfig {
            cache_dir: cache_dir.into(),
            max_instances: 1000,
            max_memory_bytes: 512 << 20,
            epoch_tick: Duration::from_millis(1),
        }
    }
}

/// Why a runtime could not start, or a component could not be loaded. The messages are
/// shown to whoever deployed the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WasmError {
    #[error("the WebAssembly runtime could not start: {0}")]
    Config(String),
    #[error("the compiled-artifact cache {path} is unusable: {reason}")]
    Cache { path: PathBuf, reason: String },
    #[error("{0:?} is not a sha256 digest in hex")]
    InvalidDigest(String),
    #[error("the code's sha256 is {actual}, not the digest {digest} it was deployed with")]
    DigestMismatch { digest: String, actual: String },
    #[error(
        "the code is not WebAssembly (it does not start with the `\\0asm` header); \
         upload a component built for wasm32-wasip2"
    )]
    NotWebAssembly,
    #[error(
        "the code is a core WebAssembly module, not a component; build it for the \
         wasm32-wasip2 target or wrap it with `wasm-tools component new`"
    )]
    NotAComponent,
    #[error("the component does not compile: {0}")]
    Compile(String),
    #[error(
        "the component does not export {INCOMING_HANDLER} (a Cirrus function must be a \
         wasi:http handler); it exports: {}",
        if .exports.is_empty() { "nothing".to_owned() } else { .exports.join(", ") }
    )]
    MissingHandler { exports: Vec<String> },
    #[error("the component cannot be linked: {0}")]
    Link(String),
}

/// The WebAssembly runtime of a node. Cheap to clone; the epoch thread stops when the last
/// clone and the last [`WasmComponent`] are dropped.
#[derive(Clone)]
pub struct WasmRuntime {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    linker: Linker<Host>,
    cache: ArtifactCache,
    config: WasmConfig,
    _ticker: EpochTicker,
}

impl fmt::Debug for WasmRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmRuntime")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl WasmRuntime {
    /// Starts the engine (reserving the pool's address space) and the epoch thread, and
    /// creates the cache directory.
    pub fn new(config: WasmConfig) -> Result<WasmRuntime, WasmError> {
        let engine = Engine::new(&engine_config(&config))
            .map_err(|error| WasmError::Config(error_chain(&error)))?;
        let mut linker = Linker::<Host>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .map_err(|error| WasmError::Config(error_chain(&error)))?;
        let cache = ArtifactCache::new(config.cache_dir.clone(), &engine).map_err(|error| {
            WasmError::Cache {
                path: config.cache_dir.clone(),
                reason: error.to_string(),
            }
        })?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)
            .map_err(|error| WasmError::Config(format!("starting the epoch thread: {error}")))?;
        Ok(WasmRuntime {
            shared: Arc::new(Shared {
                engine,
                linker,
                cache,
                config,
                _ticker: ticker,
            }),
        })
    }

    /// The component of a function version, ready to invoke: mapped from its cached
    /// artifact, or compiled (checking `digest` against the bytes) and cached. Checks that
    /// it exports `wasi:http/incoming-handler` and imports nothing but WASI.
    pub fn load(&self, digest: &str, bytes: &[u8]) -> Result<WasmComponent, WasmError> {
        check_digest(digest)?;
        let shared = &self.shared;
        let cached = match shared.cache.load(&shared.engine, digest) {
            Ok(cached) => cached,
            Err(error) => {
                tracing::warn!(
                    digest,
                    error = %error_chain(&error),
                    "compiled artifact unusable; compiling again"
                );
                None
            }
        };
        let component = match cached {
            Some(component) => component,
            None => {
                let component = self.compile(digest, bytes)?;
                if let Err(error) = shared.cache.store(digest, &component) {
                    tracing::warn!(digest, error = %error_chain(&error), "artifact not cached");
                }
                component
            }
        };
        let pre = self.link(&component)?;
        Ok(WasmComponent {
            inner: Arc::new(Loaded {
                digest: digest.to_owned(),
                pre,
                runtime: Arc::clone(shared),
            }),
        })
    }

    /// Compiles, checks and caches a component without keeping it: a deploy calls this to
    /// refuse bad code with the reason before any invocation.
    pub fn precompile(&self, digest: &str, bytes: &[u8]) -> Result<(), WasmError> {
        check_digest(digest)?;
        let shared = &self.shared;
        let component = self.compile(digest, bytes)?;
        self.link(&component)?;
        shared
            .cache
            .store(digest, &component)
            .map_err(|error| WasmError::Cache {
                path: shared.cache.path(digest),
                reason: error_chain(&error),
            })
    }

    /// Instances that can run at once across all components.
    pub fn max_instances(&self) -> u32 {
        self.shared.config.max_instances
    }

    /// Where the compiled artifact of `digest` is (or would be) cached.
    pub fn artifact_path(&self, digest: &str) -> Result<PathBuf, WasmError> {
        check_digest(digest)?;
        Ok(self.shared.cache.path(digest))
    }

    fn compile(&self, digest: &str, bytes: &[u8]) -> Result<Component, WasmError> {
        let actual = hex(&Sha256::digest(bytes));
        if !actual.eq_ignore_ascii_case(digest) {
            return Err(WasmError::DigestMismatch {
                digest: digest.to_owned(),
                actual,
            });
        }
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', _, _, 1, 0]) => {}
            Some([0, b'a', b's', b'm', _, _, 0, 0]) => return Err(WasmError::NotAComponent),
            _ => return Err(WasmError::NotWebAssembly),
        }
        Component::new(&self.shared.engine, bytes)
            .map_err(|error| WasmError::Compile(error_chain(&error)))
    }

    fn link(&self, component: &Component) -> Result<ProxyPre<Host>, WasmError> {
        let engine = &self.shared.engine;
        let exports: Vec<String> = component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let handler_prefix = format!("{INCOMING_HANDLER}@");
        if !exports.iter().any(|name| name.starts_with(&handler_prefix)) {
            return Err(WasmError::MissingHandler { exports });
        }
        let instance_pre = self
            .shared
            .linker
            .instantiate_pre(component)
            .map_err(|error| WasmError::Link(error_chain(&error)))?;
        ProxyPre::new(instance_pre).map_err(|_| WasmError::MissingHandler { exports })
    }
}

/// A function version's component, checked and linked. Cheap to clone; every invocation
/// gets its own instance.
#[derive(Clone)]
pub struct WasmComponent {
    inner: Arc<Loaded>,
}

struct Loaded {
    digest: String,
    pre: ProxyPre<Host>,
    runtime: Arc<Shared>,
}

impl fmt::Debug for WasmComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmComponent")
            .field("digest", &self.inner.digest)
            .finish_non_exhaustive()
    }
}

impl WasmComponent {
    /// The sha256 of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// One invocation on a fresh instance from the pool, within `spec`'s memory cap and
    /// timeout, with `spec.environment` as its only environment and `spec.allowed_hosts` as
    /// its only outbound destinations. Never fails as a call: whatever went wrong is the
    /// outcome's `FunctionError`. `cold_start` is left false for the pool to set.
    pub async fn invoke(&self, spec: &FunctionSpec, invocation: Invocation) -> Outcome {
        let runtime = &self.inner.runtime;
        invoke::invoke(
            &runtime.engine,
            &self.inner.pre,
            runtime.config.max_memory_bytes,
            spec,
            invocation,
        )
        .await
    }
}

/// The engine for `config`: Cranelift, epoch interruption, and the pooling allocator.
fn engine_config(config: &WasmConfig) -> Config {
    let instances = config.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        // A Rust component is its main module plus small shim modules: a handful of core
        // instances and tables, one memory.
        .total_core_instances(instances.saturating_mul(8))
        .max_core_instances_per_component(32)
        .total_memories(instances)
        .max_memories_per_component(2)
        .total_tables(instances.saturating_mul(8))
        .max_tables_per_component(16)
        .total_stacks(instances)
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        // Reusing a slot resets the pages a guest dirtied; memset the first MiB instead of
        // returning it to the kernel (it is touched again by the next instance anyway), and
        // let the kernel say which pages were dirtied (PAGEMAP_SCAN, Linux 6.7+). Measured
        // on the bench's hello: a warm invocation takes 30 µs with both, 48 µs without
        // keep-resident, 58 µs without the scan (which also halves throughput); 4 or 16 MiB
        // resident measured no better than 1 MiB.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    let mut engine = Config::new();
    engine
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    engine
}

/// A digest names a file in the cache, so it must be plain hex.
fn check_digest(digest: &str) -> Result<(), WasmError> {
    if (1..=128).contains(&digest.len()) && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(WasmError::InvalidDigest(digest.to_owned()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An error and its causes, outermost first: `a: b: c`.
fn error_chain(error: &wasmtime::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
    }
    text
}

/// The thread that advances the engine's epoch every tick, until dropped.
struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> std::io::Result<EpochTicker> {
        let (stop, stopped) = mpsc::channel::<()>();
        let tick = tick.max(Duration::from_micros(100));
        let thread = std::thread::Builder::new()
            .name("cirrus-wasm-epoch".into())
            .spawn(move || {
                // Advances until the sender is dropped.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_must_be_hex() {
        assert!(check_digest("00ff").is_ok());
        assert!(check_digest(&"a".repeat(64)).is_ok());
        for bad in ["", "../etc/passwd", "abc/def", "zz", &"a".repeat(129)] {
            assert_eq!(
                check_digest(bad),
                Err(WasmError::InvalidDigest(bad.to_owned()))
            );
        }
    }

    #[test]
    fn a_missing_handler_names_what_the_component_exports() {
        let error = WasmError::MissingHandler {
            exports: vec!["wasi:cli/run@0.2.0".into()],
        };
        assert_eq!(
            error.to_string(),
            "the component does not export wasi:http/incoming-handler (a Cirrus function must \
             be a wasi:http handler); it exports: wasi:cli/run@0.2.0"
        );
        let none = WasmError::MissingHandler { exports: vec![] };
        assert!(none.to_string().ends_with("it exports: nothing"));
    }
}
