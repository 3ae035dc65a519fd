//! The records the store keeps. Times are Unix milliseconds; JSON documents are kept as
//! text exactly as the engine wrote them.

/// A state machine: its current (unpublished) definition and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub arn: String,
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    pub kind: String,
    pub definition: String,
    pub role_arn: String,
    pub description: String,
    /// The logging configuration as JSON text, when one was given.
    pub logging: Option<String>,
    pub revision_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// An immutable published version of a state machine (`arn:...:stateMachine:name:3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub arn: String,
    pub machine_arn: String,
    pub number: u64,
    pub definition: String,
    pub role_arn: String,
    pub kind: String,
    pub description: String,
    pub revision_id: String,
    pub created_ms: i64,
}

/// A named pointer at one or two versions (`arn:...:stateMachine:name:alias`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    pub description: String,
    /// `[{"stateMachineVersionArn": ..., "weight": n}]` as JSON text.
    pub routing: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// An activity: a named queue of tasks that external workers poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub arn: String,
    pub name: String,
    pub created_ms: i64,
}

/// What the API reports about an execution. The interpreter's own state is kept beside it
/// as an opaque checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub arn: String,
    pub machine_arn: String,
    /// The version the execution runs (pinned at start), if it was started through one.
    pub version_arn: Option<String>,
    pub alias_arn: Option<String>,
    /// The definition it runs, by content digest (see [`crate::Machines::definition`]).
    pub definition_digest: String,
    pub name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`, `PENDING_REDRIVE`.
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_ms: i64,
    pub stop_ms: Option<i64>,
    pub redrive_count: u32,
    pub redrive_ms: Option<i64>,
    /// History events so far.
    pub event_count: u64,
    /// The parent task waiting for this execution (`.sync` integrations), as
    /// `PARENT_EXECUTION_ARN#TASK_ID`.
    pub parent: Option<String>,
    /// Whether the interpreter has work to do without waiting for anything (its last run
    /// stopped at its transition budget); such executions are stepped again on start.
    pub ready: bool,
}

impl Execution {
    pub fn is_running(&self) -> bool {
        self.status == "RUNNING"
    }
}

/// One history event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_id: u64,
    pub timestamp_ms: i64,
    pub kind: String,
    /// The event's details object as JSON text.
    pub details: String,
}

/// A durable timer of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerKey {
    pub due_ms: i64,
    pub timer: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timer {
    pub execution_arn: String,
    pub timer: u64,
    pub due_ms: i64,
}

/// How a task's result comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// Performed by the node (a function, an HTTP call, a nested execution); dispatched
    /// again after a restart until its result is recorded.
    Dispatch,
    /// Waits in an activity's queue for a worker.
    Activity,
    /// Dispatched, then waits for `SendTask*` with its token (`.waitForTaskToken`).
    /// Dispatched again after a restart only until its delivery is recorded
    /// ([`Task::delivered`]).
    Callback,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Dispatch => "dispatch",
            TaskKind::Activity => "activity",
            TaskKind::Callback => "callback",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        Some(match s {
            "dispatch" => TaskKind::Dispatch,
            "activity" => TaskKind::Activity,
            "callback" => TaskKind::Callback,
            _ => return None,
        })
    }
}

/// An outstanding task of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub execution_arn: String,
    pub task: u64,
    pub kind: TaskKind,
    pub token: Option<String>,
    /// The Task state's `Resource`.
    pub resource: String,
    pub state: String,
    /// The invocation as the engine serialized it (payload, pattern, timeouts).
    pub invocation: String,
    /// The worker that took an activity task.
    pub worker: Option<String>,
    pub created_ms: i64,
    /// A callback task whose call succeeded: the message or invocation carrying its token
    /// was delivered ([`Step::tasks_delivered`]), so it is not dispatched again.
    pub delivered: bool,
}

/// A status change of an execution, kept in the outbox for the event router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Assigned by the store, increasing.
    pub seq: u64,
    pub time_ms: i64,
    /// e.g. `Step Functions Execution Status Change`.
    pub detail_type: String,
    /// The event's detail object as JSON text.
    pub detail: String,
}

/// A function: its current (`$LATEST`) configuration and code. The configuration is a JSON
/// document the node defines (runtime, handler, memory, timeout, environment, scaling,
/// event-invoke settings, ...); the store keeps it as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub config: String,
    /// The sha256 (hex) of the code, kept with [`Functions::put_code`].
    pub code_digest: String,
    /// Changes with every update; `UpdateFunction*` and `PublishVersion` may name the one
    /// they expect.
    pub revision_id: String,
    /// The number the next published version gets (1 for a new function).
    pub next_version: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// An immutable published version of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionVersion {
    pub function: String,
    pub number: u64,
    pub config: String,
    pub code_digest: String,
    pub revision_id: String,
    pub created_ms: i64,
}

/// A function alias: a name for a version, with optional weighted routing to a second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionAlias {
    pub function: String,
    pub name: String,
    /// The version number as text (`"3"`), or `$LATEST`.
    pub version: String,
    /// `{"2": 0.1}` (extra version → weight) as JSON text, `{}` when none.
    pub routing: String,
    pub description: String,
    pub revision_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// An accepted asynchronous invocation (an `Event` Invoke, an event-rule delivery),
/// durable from the moment `enqueue_invocation` returns until it is finished or
/// dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedInvocation {
    /// Unique; the Lambda request id.
    pub id: String,
    pub function: String,
    /// `$LATEST`, a version number or an alias.
    pub qualifier: String,
    pub payload: Vec<u8>,
    /// Deliveries tried so far.
    pub attempts: u32,
    /// Not delivered before this time.
    pub due_ms: i64,
    pub created_ms: i64,
    /// Why the last delivery failed (JSON text, the function's error document), if one did.
    pub last_error: Option<String>,
}

/// An asynchronous invocation that ran out of retries or age, kept with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub invocation: QueuedInvocation,
    /// `RetriesExhausted`, `EventAgeExceeded`, `FunctionNotFound`, ...
    pub reason: String,
    pub failed_ms: i64,
}

/// A user route on the routes listener: `GET /orders/{id}` → a function or a workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `METHOD /path` with `{param}` and a trailing `{proxy+}` allowed; `ANY` as method.
    pub route_key: String,
    pub target: RouteTarget,
    pub created_ms: i64,
}

/// What a route runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// A function; `qualifier` is `$LATEST`, a version number or an alias.
    Function { name: String, qualifier: String },
    /// A state machine, by name.
    Workflow { name: String },
}

impl RouteTarget {
    /// The stored kind: `function` or `workflow`.
    pub fn kind(&self) -> &'static str {
        match self {
            RouteTarget::Function { .. } => "function",
            RouteTarget::Workflow { .. } => "workflow",
        }
    }

    /// The function's or the state machine's name.
    pub fn name(&self) -> &str {
        match self {
            RouteTarget::Function { name, .. } | RouteTarget::Workflow { name } => name,
        }
    }

    /// The function's qualifier; empty for a workflow.
    pub fn qualifier(&self) -> &str {
        match self {
            RouteTarget::Function { qualifier, .. } => qualifier,
            RouteTarget::Workflow { .. } => "",
        }
    }
}

/// A configuration document of the event system, kept as JSON text the node defines and
/// validates: an event bus, a rule with its targets, an archive, a replay, a queue's
/// settings, an event-source mapping, a broker source, a webhook. Keyed by `(kind, name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `bus`, `rule`, `archive`, `replay`, `queue`, `mapping`, `source`, `webhook`, ...
    pub kind: String,
    pub name: String,
    pub document: String,
    /// 1 when created, +1 on every put; the store sets it.
    pub revision: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// What a [`Resources::put_resource`] expects to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Create or replace, whatever is there.
    Any,
    /// Create only: `Conflict` if the resource exists.
    Absent,
    /// Replace only this revision: `NotFound` if absent, `Conflict` if another revision.
    Revision(u64),
}

/// One matched event on its way to one target of one rule; durable from the moment the
/// event is accepted until it is delivered or dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Unique.
    pub id: String,
    pub bus: String,
    pub rule: String,
    /// The target's id within its rule.
    pub target: String,
    /// What to deliver, as the node encodes it (JSON text: the event, the target as it
    /// was when the event matched, the transformed input).
    pub payload: String,
    /// Deliveries tried so far.
    pub attempts: u32,
    /// Not tried before this time.
    pub due_ms: i64,
    pub created_ms: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// A delivery that ran out of retries or age, or whose target is gone, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadEvent {
    pub delivery: Delivery,
    /// `RetriesExhausted`, `EventAgeExceeded`, `TargetNotFound`, `InvalidTarget`, ...
    pub reason: String,
    pub failed_ms: i64,
}

/// An event kept by an archive, for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedEvent {
    pub archive: String,
    /// When the bus accepted it.
    pub time_ms: i64,
    /// The event's id (unique within the archive with `time_ms`; archiving the same
    /// `(time_ms, id)` again keeps the first copy).
    pub id: String,
    /// The event, as JSON text.
    pub event: String,
}

/// Everything one accepted batch of events writes, committed atomically: when
/// [`EventLog::accept`] returns, every delivery and archived event is durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    pub deliveries: Vec<Delivery>,
    pub archived: Vec<ArchivedEvent>,
}

/// A durable schedule: fires at the times its expression gives, once per tick across
/// restarts and nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Unique: `rule/<bus>/<rule>` for a scheduled rule, `schedule/<group>/<name>` for a
    /// schedule of its own.
    pub name: String,
    /// `rate(...)`, `cron(...)` or `at(...)`; the store does not read it.
    pub expression: String,
    /// An IANA zone name, `UTC` by default.
    pub timezone: String,
    /// The next tick, or `None` once a one-time schedule has fired (or it is disabled).
    pub next_ms: Option<i64>,
    /// The node's document: target, input, missed-tick policy, state.
    pub document: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One tick of a schedule being fired: it applies only if the schedule exists and its
/// `next_ms` is still `expected_ms` (so a tick fires once even when two nodes race), and
/// then the schedule moves to `next_ms` (`None`: it stays, with no next tick, and is
/// never due) and `accepted` is written, in the same transaction. A fire that does not
/// apply writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFire {
    pub name: String,
    pub expected_ms: i64,
    pub next_ms: Option<i64>,
    pub accepted: Accepted,
}

/// A message on a Cirrus queue (SQS's semantics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub queue: String,
    /// Unique within the queue; kept when the message moves to a dead-letter queue.
    pub id: String,
    pub body: String,
    /// Message attributes, as JSON text (`{}` when none).
    pub attributes: String,
    pub sent_ms: i64,
    /// Not received before this time (delay, or visibility timeout after a receive).
    pub visible_ms: i64,
    pub receive_count: u32,
    pub first_receive_ms: Option<i64>,
    /// The handle of the latest receive; only it deletes the message or changes its
    /// visibility. Set by the store: `<id>#<receive_count>` once received, `None` before
    /// (whatever a sender passes is ignored).
    pub receipt: Option<String>,
}

/// A queue's dead-letter settings, for [`Queues::receive_messages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub dead_letter_queue: String,
    /// A message received this many times is moved to the dead-letter queue instead of
    /// being received again.
    pub max_receives: u32,
}

/// Messages in a queue by state, at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Receivable now.
    pub visible: u64,
    /// Received and not yet visible again.
    pub in_flight: u64,
    /// Sent with a delay that has not passed (never received).
    pub delayed: u64,
}
