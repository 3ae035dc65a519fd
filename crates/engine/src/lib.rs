//! Cirrus's durable executor. It drives `cirrus-asl` interpreters, persists what they do
//! through `cirrus-store`, and performs their effects.
//!
//! - [`registry`]: state machines, versions, aliases and activities (validated here, kept
//!   in the store).
//! - [`run`]: executions. A step loads an execution (from memory, or from its checkpoint),
//!   hands it its inputs (a task result, a fired timer, a stop), runs the interpreter, and
//!   commits everything the run changed as one [`cirrus_store::Step`]; only then are the
//!   effects performed: tasks dispatched, timers armed, waiters told. An execution waiting
//!   for a timer or a worker is not kept in memory.
//! - [`timers`]: one durable timer service for Wait states, retry back-off and timeouts.
//!   Only timers due soon are in memory.
//! - [`tasks`]: activities (workers poll with `GetActivityTask`) and task tokens
//!   (`SendTaskSuccess`, `SendTaskFailure`, `SendTaskHeartbeat`).
//! - [`dispatch`]: the [`Dispatcher`] the node implements for functions and HTTP tasks;
//!   nested executions (`states:startExecution`) are run here.
//! - [`status`]: every status change of an execution, as the event the router receives.
//!
//! STANDARD executions live in the node's store; EXPRESS executions run the same code on an
//! in-memory store, at-least-once, and are forgotten a while after they end.

pub mod arn;
pub mod dispatch;
pub mod error;
pub mod registry;
pub mod run;
pub mod status;
pub mod tasks;
pub mod timers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cirrus_asl::StateMachine;
use cirrus_store::Store;
use cirrus_store::memory::MemoryStore;
use tokio::sync::{Notify, broadcast, oneshot};

pub use arn::Partition;
pub use dispatch::{Dispatcher, NoTargets, TaskCall};
pub use error::{EngineError, Result};
pub use status::{StatusChange, StatusConsumer};

/// How a node's engine behaves.
#[derive(Debug, Clone)]
pub struct Config {
    pub partition: Partition,
    /// The largest execution input, state output or task result, in bytes (AWS: 256 KiB).
    pub max_payload_bytes: usize,
    /// The largest definition, in bytes (AWS: 1 MiB).
    pub max_definition_bytes: usize,
    /// Keep history events for EXPRESS executions (they cost memory).
    pub express_history: bool,
    /// How long an EXPRESS execution stays describable after it ends.
    pub express_retention: Duration,
    /// The longest a `GetActivityTask` call waits for a task (AWS: 60 s).
    pub activity_poll: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            partition: Partition::default(),
            max_payload_bytes: 256 * 1024,
            max_definition_bytes: 1024 * 1024,
            express_history: false,
            express_retention: Duration::from_secs(300),
            activity_poll: Duration::from_secs(60),
        }
    }
}

/// The engine: cheap to clone, one per node.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    express: Arc<MemoryStore>,
    dispatcher: Arc<dyn Dispatcher>,
    /// Executions with a step in progress or work in memory.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<run::Slot>>>>,
    /// Machine records recently read for starts, with when they were read.
    machine_cache: Mutex<HashMap<String, (cirrus_store::Machine, std::time::Instant)>>,
    /// Parsed definitions by digest.
    definitions: Mutex<HashMap<String, Arc<StateMachine>>>,
    /// Dispatched calls, to cancel when their task is cancelled.
    in_flight: Mutex<HashMap<(String, u64), tokio::task::AbortHandle>>,
    /// Callers waiting for executions to end.
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<cirrus_store::Execution>>>>,
    /// Wakes `GetActivityTask` pollers of an activity.
    activity_signals: Mutex<HashMap<String, Arc<Notify>>>,
    status: broadcast::Sender<StatusChange>,
    /// Wakes the outbox relay after a commit with status events.
    outbox: Arc<Notify>,
    timers: Arc<timers::TimerService>,
    express_timers: Arc<timers::TimerService>,
    retention: tokio::sync::mpsc::UnboundedSender<(tokio::time::Instant, String)>,
}

/// Locks a std mutex, ignoring poison: every critical section here leaves its map
/// consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Starts an engine on `store`: arms the timer services, dispatches again the tasks
    /// whose results were never recorded, and steps the executions that had work left.
    /// Must be called inside a tokio runtime.
    pub async fn start(
        store: Arc<dyn Store>,
        dispatcher: Arc<dyn Dispatcher>,
        config: Config,
    ) -> Result<Engine> {
        Self::start_with(store, dispatcher, config, None).await
    }

    /// [`Engine::start`], with a consumer that takes every status change before it leaves
    /// the outbox (the node's event router): an event is removed only after the consumer
    /// took it, so none is lost to a crash.
    pub async fn start_with(
        store: Arc<dyn Store>,
        dispatcher: Arc<dyn Dispatcher>,
        config: Config,
        consumer: Option<Arc<dyn status::StatusConsumer>>,
    ) -> Result<Engine> {
        let express = Arc::new(MemoryStore::new());
        let (status, _) = broadcast::channel(4096);
        let (retention, retention_rx) = tokio::sync::mpsc::unbounded_channel();
        let engine = Engine {
            inner: Arc::new(Inner {
                timers: Arc::new(timers::TimerService::new(store.clone())),
                express_timers: Arc::new(timers::TimerService::new(express.clone())),
                config,
                store,
                express,
                dispatcher,
                slots: Mutex::default(),
                definitions: Mutex::default(),
                machine_cache: Mutex::default(),
                in_flight: Mutex::default(),
                waiters: Mutex::default(),
                activity_signals: Mutex::default(),
                status,
                outbox: Arc::new(Notify::new()),
                retention,
            }),
        };
        engine.inner.timers.spawn(engine.downgrade());
        engine.inner.express_timers.spawn(engine.downgrade());
        tokio::spawn(run::forget_express(engine.downgrade(), retention_rx));
        tokio::spawn(status::relay(
            engine.downgrade(),
            [engine.inner.store.clone(), engine.inner.express.clone()],
            engine.inner.outbox.clone(),
            consumer,
        ));
        engine.recover().await?;
        Ok(engine)
    }

    fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Timers held in memory (those due within the timer horizon), durable and express.
    pub fn timers_in_memory(&self) -> usize {
        self.inner.timers.in_memory() + self.inner.express_timers.in_memory()
    }

    /// Executions held in memory (those with a step running or calls in flight).
    pub fn executions_in_memory(&self) -> usize {
        lock(&self.inner.slots).len()
    }

    /// Status changes of every execution, after they are committed, in commit order per
    /// store. Events committed before a crash are delivered after the restart.
    pub fn subscribe(&self) -> broadcast::Receiver<StatusChange> {
        self.inner.status.subscribe()
    }

    /// Resumes after a restart: tasks dispatched but not recorded are dispatched again
    /// (at-least-once; a callback task only until its delivery is recorded, see [`run`]),
    /// and executions that stopped with work left continue.
    async fn recover(&self) -> Result<()> {
        for task in self.inner.store.dispatch_tasks().await? {
            self.redispatch(task);
        }
        for arn in self.inner.store.ready_executions().await? {
            self.spawn_step(arn, Vec::new());
        }
        Ok(())
    }
}

/// A handle that does not keep the engine alive, for its background tasks.
#[derive(Clone)]
pub(crate) struct WeakEngine(std::sync::Weak<Inner>);

impl WeakEngine {
    pub(crate) fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh random 64-bit value from the operating system.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock and the process id, unique enough for
        // names and seeds (tokens then rely on API authentication alone).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return t ^ u64::from(std::process::id()).rotate_left(40);
    }
    u64::from_le_bytes(bytes)
}

/// A random UUID (version 4), for execution names.
pub fn uuid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}
