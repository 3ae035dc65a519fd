//! Cirrus's storage. The engine and the API ask for the narrow trait they use; every backend
//! implements all of them and passes the one contract suite in [`contract`].
//!
//! - [`Machines`]: state machines, their published versions and aliases.
//! - [`Activities`]: activity definitions.
//! - [`Executions`]: execution records, their checkpoints and history, read side.
//! - [`Steps`]: the write side of executions. One [`Step`] is everything one engine step
//!   changes (the execution's record and checkpoint, new history events, timers set and
//!   cleared, tasks added and finished, outbox events), applied atomically. Backends batch
//!   concurrent steps into one commit (group commit), so durable throughput is not one
//!   fsync per transition.
//! - [`Timers`] and [`Tasks`]: what the timer service and the dispatcher read back after a
//!   restart (a callback task's call, once recorded as delivered, is not among them), and
//!   the activity queue.
//! - [`Outbox`]: execution status events, in order, for the event router.
//! - [`Functions`]: functions, their code (by digest), versions, aliases and user routes.
//! - [`Invocations`]: the durable queue of asynchronous invocations and their dead letters.
//! - [`Resources`]: configuration documents of the event system (buses, rules, queues'
//!   settings, sources, ...).
//! - [`EventLog`]: accepted events on their way to targets (the durable delivery queue and
//!   its dead letters) and archives.
//! - [`Schedules`]: durable schedules, each tick fired once.
//! - [`Queues`]: the messages of Cirrus queues, with SQS's visibility and redrive rules.
//!
//! Backends: [`memory::MemoryStore`] (tests and EXPRESS executions), [`sqlite::SqliteStore`]
//! (the default: one file in the data directory; a writer thread does group commit) and
//! [`postgres::PostgresStore`] (clusters: a few pipelined connections, each committing a
//! batch of steps per transaction). Each runs its schema migrations when opened.

pub mod contract;
pub mod memory;
mod memory_events;
pub mod model;
pub mod postgres;
mod sql;
pub mod sqlite;

use async_trait::async_trait;

pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with this key exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The record a call names does not exist (for a step: the execution it updates).
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("the store is closed")]
    Closed,
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, _) = &e
            && f.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return StoreError::Conflict(e.to_string());
        }
        StoreError::Database(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            return StoreError::Conflict(e.to_string());
        }
        StoreError::Database(match e.as_db_error() {
            Some(db) => db.to_string(),
            None => e.to_string(),
        })
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch, for migration records.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One page of a listing: items after the key `after` (exclusive), in key order.
#[derive(Debug, Clone, Default)]
pub struct Page<'a> {
    pub after: Option<&'a str>,
    pub limit: usize,
}

/// State machines, versions and aliases. Written by the API, read by the engine when it
/// starts or resumes an execution. Calls are short; none blocks on anything but the
/// database.
#[async_trait]
pub trait Machines: Send + Sync {
    /// Fails with `Conflict` if the ARN exists.
    async fn create_machine(&self, machine: &Machine) -> Result<()>;
    /// Replaces a machine's current definition and settings; `NotFound` if it is absent.
    async fn update_machine(&self, machine: &Machine) -> Result<()>;
    async fn machine(&self, arn: &str) -> Result<Option<Machine>>;
    async fn machines(&self, page: Page<'_>) -> Result<Vec<Machine>>;
    /// Deletes the machine with its versions and aliases; executions stay readable.
    async fn delete_machine(&self, arn: &str) -> Result<bool>;
    /// Publishes a version; its number must be new for the machine (`Conflict` otherwise).
    async fn create_version(&self, version: &Version) -> Result<()>;
    async fn version(&self, arn: &str) -> Result<Option<Version>>;
    /// Versions of a machine, newest first.
    async fn versions(&self, machine_arn: &str) -> Result<Vec<Version>>;
    async fn delete_version(&self, arn: &str) -> Result<bool>;
    /// Creates or replaces an alias.
    async fn put_alias(&self, alias: &Alias) -> Result<()>;
    async fn alias(&self, arn: &str) -> Result<Option<Alias>>;
    async fn aliases(&self, machine_arn: &str) -> Result<Vec<Alias>>;
    async fn delete_alias(&self, arn: &str) -> Result<bool>;
    /// Keeps a definition text under its content digest; executions name the definition
    /// they run by digest, so updating a machine never changes a running execution.
    async fn put_definition(&self, digest: &str, definition: &str) -> Result<()>;
    async fn definition(&self, digest: &str) -> Result<Option<String>>;
}

/// Activity definitions.
#[async_trait]
pub trait Activities: Send + Sync {
    /// Creating an existing activity again is not an error (AWS is idempotent here).
    async fn create_activity(&self, activity: &Activity) -> Result<()>;
    async fn activity(&self, arn: &str) -> Result<Option<Activity>>;
    async fn activities(&self, page: Page<'_>) -> Result<Vec<Activity>>;
    async fn delete_activity(&self, arn: &str) -> Result<bool>;
}

/// Which executions to list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter<'a> {
    pub machine_arn: Option<&'a str>,
    pub version_arn: Option<&'a str>,
    pub status: Option<&'a str>,
    /// List executions started before this one (start time then ARN, newest first).
    pub before: Option<(i64, &'a str)>,
    pub limit: usize,
}

/// Executions, read side.
#[async_trait]
pub trait Executions: Send + Sync {
    async fn execution(&self, arn: &str) -> Result<Option<Execution>>;
    /// Newest first.
    async fn executions(&self, filter: ExecutionFilter<'_>) -> Result<Vec<Execution>>;
    /// The interpreter state saved with the execution's last step.
    async fn checkpoint(&self, arn: &str) -> Result<Option<Vec<u8>>>;
    /// Events with ids in `from..=to` (inclusive), ascending.
    async fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>>;
    /// Running executions whose last step left work to do (`ready`).
    async fn ready_executions(&self) -> Result<Vec<String>>;
    /// Finished executions (any status but RUNNING) that stopped before `before_ms`,
    /// oldest first, for retention.
    async fn finished_before(&self, before_ms: i64, limit: usize) -> Result<Vec<String>>;
    /// Deletes an execution with everything it owns.
    async fn delete_execution(&self, arn: &str) -> Result<()>;
}

/// How the execution row changes in a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionWrite {
    /// A new execution; fails the step with `Conflict` if its ARN exists.
    Insert(Execution),
    /// The mutable part of an existing execution (status, output, error, cause, stop time,
    /// redrive count and time, event count, ready). The static part is not rewritten.
    Update(Execution),
}

impl ExecutionWrite {
    pub fn execution(&self) -> &Execution {
        match self {
            ExecutionWrite::Insert(e) | ExecutionWrite::Update(e) => e,
        }
    }

    pub fn execution_mut(&mut self) -> &mut Execution {
        match self {
            ExecutionWrite::Insert(e) | ExecutionWrite::Update(e) => e,
        }
    }
}

/// Everything one engine step changes, applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub execution: ExecutionWrite,
    pub checkpoint: Option<Vec<u8>>,
    /// New events, ids continuing the execution's history.
    pub history: Vec<HistoryEvent>,
    pub timers_set: Vec<Timer>,
    /// Timer ids of this execution to remove.
    pub timers_cleared: Vec<u64>,
    pub tasks_added: Vec<Task>,
    /// Task ids of this execution to remove (their results were recorded or they were
    /// cancelled).
    pub tasks_finished: Vec<u64>,
    /// Callback task ids of this execution whose call succeeded (the token is out): they
    /// are marked [`Task::delivered`] and [`Tasks::dispatch_tasks`] leaves them out. A
    /// task that is gone (its token was answered first) or is not a callback is skipped.
    pub tasks_delivered: Vec<u64>,
    /// Outbox events (their `seq` is assigned by the store).
    pub events: Vec<Event>,
}

impl Step {
    pub fn new(execution: ExecutionWrite) -> Self {
        Step {
            execution,
            checkpoint: None,
            history: Vec::new(),
            timers_set: Vec::new(),
            timers_cleared: Vec::new(),
            tasks_added: Vec::new(),
            tasks_finished: Vec::new(),
            tasks_delivered: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// Executions, write side.
#[async_trait]
pub trait Steps: Send + Sync {
    /// Applies one step atomically and returns once it is durable. Concurrent calls are
    /// committed together. A failed step changes nothing.
    async fn commit(&self, step: Step) -> Result<()>;
}

/// Durable timers, read by the timer service.
#[async_trait]
pub trait Timers: Send + Sync {
    /// Timers due at or before `until_ms`, earliest first, at most `limit`.
    async fn due_timers(&self, until_ms: i64, limit: usize) -> Result<Vec<Timer>>;
    /// When the earliest timer after `after_ms` is due, if any.
    async fn next_due_after(&self, after_ms: i64) -> Result<Option<i64>>;
    /// Number of timers set, for metrics.
    async fn timer_count(&self) -> Result<u64>;
}

/// Outstanding tasks.
#[async_trait]
pub trait Tasks: Send + Sync {
    async fn task_by_token(&self, token: &str) -> Result<Option<Task>>;
    /// Dispatch tasks and callback tasks not yet [`Task::delivered`], to dispatch again
    /// after a restart.
    async fn dispatch_tasks(&self) -> Result<Vec<Task>>;
    /// Takes the oldest task of an activity that no worker has, for `worker`.
    async fn claim_activity_task(&self, activity_arn: &str, worker: &str) -> Result<Option<Task>>;
}

/// Execution status events, in commit order.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Events with `seq > after`, at most `limit`.
    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>>;
    /// Removes events with `seq <= upto` once they are delivered.
    async fn acknowledge_events(&self, upto: u64) -> Result<()>;
}

/// Functions, their code, published versions and aliases. Written by the API, read by the
/// pools when they start an instance of a version they have not seen.
#[async_trait]
pub trait Functions: Send + Sync {
    /// Fails with `Conflict` if the name exists.
    async fn create_function(&self, function: &Function) -> Result<()>;
    /// Replaces the function's record if its stored `revision_id` is `expected_revision`;
    /// `Conflict` if it is another, `NotFound` if the function is absent. The stored
    /// `next_version` is kept (publishing owns it), whatever `function` says.
    async fn update_function(&self, function: &Function, expected_revision: &str) -> Result<()>;
    async fn function(&self, name: &str) -> Result<Option<Function>>;
    /// Functions by name, after `page.after`, at most `page.limit` (0: no limit).
    async fn functions(&self, page: Page<'_>) -> Result<Vec<Function>>;
    /// Deletes the function with its versions and aliases (and routes naming it); its code
    /// stays until no function or version names the digest. In the same transaction, the
    /// code the function and its versions named is deleted if nothing else names it; code
    /// it never named is left alone (it may be about to be named by a function being
    /// created). `false` if there was no such function (its versions, aliases and routes
    /// are deleted all the same).
    async fn delete_function(&self, name: &str) -> Result<bool>;
    /// Publishes `$LATEST` as the function's next version number, atomically: stores
    /// `version` with `number` set to the function's `next_version` and increments that.
    /// `Conflict` if the function's revision is not `expected_revision` (when given),
    /// `NotFound` if the function is absent. The `number` passed is ignored; the stored
    /// version is returned. The function's `revision_id` does not change, and a number is
    /// never given out again, even after its version is deleted.
    async fn publish_function_version(
        &self,
        version: &FunctionVersion,
        expected_revision: Option<&str>,
    ) -> Result<FunctionVersion>;
    async fn function_version(
        &self,
        function: &str,
        number: u64,
    ) -> Result<Option<FunctionVersion>>;
    /// Versions of a function, oldest first.
    async fn function_versions(&self, function: &str) -> Result<Vec<FunctionVersion>>;
    /// Deletes one version; its code stays (see [`Functions::delete_function`]).
    async fn delete_function_version(&self, function: &str, number: u64) -> Result<bool>;
    /// Creates an alias (`Conflict` if it exists).
    async fn create_function_alias(&self, alias: &FunctionAlias) -> Result<()>;
    /// Replaces an alias (`NotFound` if it is absent).
    async fn update_function_alias(&self, alias: &FunctionAlias) -> Result<()>;
    async fn function_alias(&self, function: &str, name: &str) -> Result<Option<FunctionAlias>>;
    /// A function's aliases, by name.
    async fn function_aliases(&self, function: &str) -> Result<Vec<FunctionAlias>>;
    async fn delete_function_alias(&self, function: &str, name: &str) -> Result<bool>;
    /// Keeps code (a component or a zip) under its sha256 digest; storing the same digest
    /// again is not an error (the first bytes stay). Tens of megabytes are fine.
    async fn put_code(&self, digest: &str, code: &[u8]) -> Result<()>;
    async fn code(&self, digest: &str) -> Result<Option<Vec<u8>>>;
    /// Creates or replaces a route.
    async fn put_route(&self, route: &Route) -> Result<()>;
    async fn delete_route(&self, route_key: &str) -> Result<bool>;
    /// Every route, by route key.
    async fn routes(&self) -> Result<Vec<Route>>;
}

/// The durable queue of asynchronous invocations and their dead letters.
#[async_trait]
pub trait Invocations: Send + Sync {
    /// Durable when it returns. `Conflict` if the id is queued (a finished or dead-lettered
    /// id may be queued again).
    async fn enqueue_invocation(&self, invocation: &QueuedInvocation) -> Result<()>;
    /// Invocations due at or before `until_ms`, earliest first (then by id), at most
    /// `limit` (0: no limit).
    async fn due_invocations(&self, until_ms: i64, limit: usize) -> Result<Vec<QueuedInvocation>>;
    /// The earliest `due_ms` of any queued invocation.
    async fn next_invocation_due(&self) -> Result<Option<i64>>;
    /// Records a failed delivery: new attempt count, due time and error, taken from
    /// `invocation` (its other fields are not written). `NotFound` if it is not queued.
    async fn reschedule_invocation(&self, invocation: &QueuedInvocation) -> Result<()>;
    /// Removes a delivered invocation; `false` if it was not queued.
    async fn finish_invocation(&self, id: &str) -> Result<bool>;
    /// Moves an invocation to the dead letters, atomically: removes `letter.invocation.id`
    /// from the queue and stores `letter` as given (so the caller's final attempt count and
    /// error). `NotFound` if it is not queued; `Conflict` if a dead letter of that id
    /// exists, and then it stays queued.
    async fn dead_letter_invocation(&self, letter: &DeadLetter) -> Result<()>;
    /// Dead letters, newest first (`failed_ms`, then id, both descending), of one function
    /// or all, at most `limit` (0: no limit).
    async fn dead_letters(&self, function: Option<&str>, limit: usize) -> Result<Vec<DeadLetter>>;
    async fn delete_dead_letter(&self, id: &str) -> Result<bool>;
    /// How many invocations are queued (for metrics and tests).
    async fn queued_invocations(&self) -> Result<u64>;
}

/// Configuration documents of the event system (buses, rules, archives, queues'
/// settings, mappings, sources, webhooks), keyed by kind and name.
#[async_trait]
pub trait Resources: Send + Sync {
    /// Creates or replaces `resource` as `expect` allows, and returns what is stored: its
    /// `revision` (1 when created, the old one + 1 when replaced), `created_ms` (kept when
    /// replaced) and `updated_ms` are the store's (its clock); the rest is `resource`'s.
    /// A failed put changes nothing.
    async fn put_resource(&self, resource: &Resource, expect: Expect) -> Result<Resource>;
    async fn resource(&self, kind: &str, name: &str) -> Result<Option<Resource>>;
    /// Every resource of a kind, by name.
    async fn resources(&self, kind: &str) -> Result<Vec<Resource>>;
    async fn delete_resource(&self, kind: &str, name: &str) -> Result<bool>;
}

/// Accepted events on their way to targets: the durable delivery queue, its dead letters,
/// and the archives.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Writes everything in `accepted` in one transaction; durable when it returns.
    /// `Conflict` (and nothing written) if a delivery id is queued already or repeats in
    /// the batch. An archived event whose `(archive, time_ms, id)` is kept already is
    /// skipped (the first copy stays).
    async fn accept(&self, accepted: &Accepted) -> Result<()>;
    /// Deliveries due at or before `until_ms`, earliest first (then by id), at most
    /// `limit` (0: no limit).
    async fn due_deliveries(&self, until_ms: i64, limit: usize) -> Result<Vec<Delivery>>;
    /// The earliest `due_ms` of any queued delivery.
    async fn next_delivery_due(&self) -> Result<Option<i64>>;
    /// Records a failed attempt: `attempts`, `due_ms` and `last_error` from `delivery`.
    /// `NotFound` if it is not queued.
    async fn reschedule_delivery(&self, delivery: &Delivery) -> Result<()>;
    /// Removes delivered deliveries, in one transaction; how many were queued.
    async fn finish_deliveries(&self, ids: &[String]) -> Result<u64>;
    /// Moves a delivery to the dead letters, atomically: removes `dead.delivery.id` from
    /// the queue, stores `dead` as given and sends `message` (when given: the target's
    /// dead-letter queue is a Cirrus queue) in the same transaction. `NotFound` if the
    /// delivery is not queued; `Conflict` if a dead letter of that id exists.
    async fn dead_letter_delivery(
        &self,
        dead: &DeadEvent,
        message: Option<&QueueMessage>,
    ) -> Result<()>;
    /// Dead letters, newest first (`failed_ms`, then id, both descending), of one rule
    /// (`bus`, `rule`) or all, at most `limit` (0: no limit).
    async fn dead_events(&self, rule: Option<(&str, &str)>, limit: usize)
    -> Result<Vec<DeadEvent>>;
    async fn delete_dead_event(&self, id: &str) -> Result<bool>;
    /// How many deliveries are queued.
    async fn queued_deliveries(&self) -> Result<u64>;
    /// An archive's events with `from_ms <= time_ms < to_ms`, in `(time_ms, id)` order,
    /// after `after` (exclusive) when given, at most `limit` (0: no limit).
    async fn archived_events(
        &self,
        archive: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<ArchivedEvent>>;
    /// How many events an archive holds, and their total size in bytes.
    async fn archive_size(&self, archive: &str) -> Result<(u64, u64)>;
    /// Deletes an archive's events older than `before_ms` (all of them when `None`);
    /// how many.
    async fn trim_archive(&self, archive: &str, before_ms: Option<i64>) -> Result<u64>;
}

/// Durable schedules. The node keeps the soonest ticks in memory and fires them with
/// [`Schedules::fire_schedules`].
#[async_trait]
pub trait Schedules: Send + Sync {
    /// Creates or replaces a schedule (`created_ms` is kept when replacing).
    async fn put_schedule(&self, schedule: &Schedule) -> Result<()>;
    /// Creates or replaces many in one transaction.
    async fn put_schedules(&self, schedules: &[Schedule]) -> Result<()>;
    async fn schedule(&self, name: &str) -> Result<Option<Schedule>>;
    /// Schedules by name, after `page.after`, at most `page.limit` (0: no limit), whose
    /// name starts with `prefix`.
    async fn schedules(&self, prefix: &str, page: Page<'_>) -> Result<Vec<Schedule>>;
    async fn delete_schedule(&self, name: &str) -> Result<bool>;
    /// Schedules whose `next_ms <= until_ms`, by `(next_ms, name)`, after `after`
    /// (exclusive) when given, at most `limit` (0: no limit).
    async fn due_schedules(
        &self,
        until_ms: i64,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<Schedule>>;
    /// The earliest `next_ms`.
    async fn next_schedule_due(&self) -> Result<Option<i64>>;
    /// Fires ticks in one transaction, in order (a later fire of the same schedule sees
    /// the earlier one's `next_ms`); for each, whether it applied (see [`ScheduleFire`]).
    /// A fire of a schedule that is gone does not apply. Only the fires that apply write
    /// their records: `Conflict` (and nothing written, no schedule moved) if one of their
    /// delivery ids is queued already or repeats among them.
    async fn fire_schedules(&self, fires: &[ScheduleFire]) -> Result<Vec<bool>>;
    async fn schedule_count(&self) -> Result<u64>;
}

/// Messages of Cirrus queues. A queue's settings are a [`Resource`] of kind `queue`; the
/// calls here take the settings they need.
#[async_trait]
pub trait Queues: Send + Sync {
    /// Stores messages (of one queue or several) in one transaction; durable when it
    /// returns. `Conflict` (and nothing written) if an id exists in its queue or repeats.
    /// Fields are stored as given (`receive_count` normally 0), except `receipt`, which
    /// is always the store's (see [`QueueMessage::receipt`]).
    async fn send_messages(&self, messages: &[QueueMessage]) -> Result<()>;
    /// Receives up to `max` messages of `queue` visible at `now_ms`, by `(visible_ms,
    /// sent_ms, id)`: each gets `receive_count + 1`, `first_receive_ms` if unset, a new
    /// `receipt`, and `visible_ms = now_ms + visibility_ms`; returned as updated, in that
    /// order. With `redrive`, a candidate met before `max` are received that was already
    /// received `max_receives` times is moved to the dead-letter queue instead (same id,
    /// body and attributes, `receive_count` 0, no receipt, visible at once, `sent_ms`
    /// kept; replacing a message of that id there) and neither returned nor counted in
    /// `max`. All in one transaction. Concurrent receivers (nodes too) never receive the
    /// same message: a message another receive holds is skipped. The dead-letter queue
    /// must be another queue.
    async fn receive_messages(
        &self,
        queue: &str,
        max: usize,
        now_ms: i64,
        visibility_ms: i64,
        redrive: Option<&Redrive>,
    ) -> Result<Vec<QueueMessage>>;
    /// Deletes the messages whose latest receipt is given, in one transaction; for each
    /// receipt, whether it deleted one (a receipt given twice deletes once; a stale or
    /// malformed receipt deletes nothing).
    async fn delete_messages(&self, queue: &str, receipts: &[String]) -> Result<Vec<bool>>;
    /// Sets `visible_ms` of the message whose latest receipt is given; `false` if none.
    async fn change_visibility(&self, queue: &str, receipt: &str, visible_ms: i64) -> Result<bool>;
    /// Deletes every message of the queue; how many.
    async fn purge_queue(&self, queue: &str) -> Result<u64>;
    /// Deletes messages sent before `before_ms` (retention); how many.
    async fn expire_messages(&self, queue: &str, before_ms: i64) -> Result<u64>;
    async fn queue_counts(&self, queue: &str, now_ms: i64) -> Result<QueueCounts>;
    /// The earliest `visible_ms` of the queue's messages.
    async fn next_visible(&self, queue: &str) -> Result<Option<i64>>;
}

/// Everything a node needs from its store.
pub trait Store:
    Machines
    + Activities
    + Executions
    + Steps
    + Timers
    + Tasks
    + Outbox
    + Functions
    + Invocations
    + Resources
    + EventLog
    + Schedules
    + Queues
    + Send
    + Sync
{
    /// The backend's name for logs: `memory`, `sqlite`, `postgres`.
    fn backend(&self) -> &'static str;

    /// Called once when the node stops, after it stopped serving: finishes the writes
    /// already sent and takes no more (they fail with [`StoreError::Closed`]). Blocks
    /// until the writes are done. Backends whose every write completes in its own call
    /// have nothing to do.
    fn close(&self) {}
}

/// The activity ARN a task waits on, for activity tasks (their resource is the ARN).
pub fn activity_of(task: &Task) -> Option<&str> {
    (task.kind == TaskKind::Activity).then_some(task.resource.as_str())
}
