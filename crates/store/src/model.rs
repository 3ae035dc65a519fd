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
