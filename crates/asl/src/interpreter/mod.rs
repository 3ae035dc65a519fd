//! The sans-IO interpreter: runs one execution of a [`StateMachine`] without sleeping,
//! calling or storing anything itself.
//!
//! The caller (the durable engine, `cirrus asl run`, a test) drives it:
//!
//! 1. [`Execution::start`] with the input; then [`Execution::run`] with the current time,
//!    which advances every runnable branch until each one waits for something and returns
//!    the [`Effect`]s to perform: invoke a task, sleep until a time, cancel either, or the
//!    execution's outcome.
//! 2. The caller reports back with [`Execution::task_succeeded`],
//!    [`Execution::task_failed`], [`Execution::task_heartbeat`] and
//!    [`Execution::timer_fired`], and calls `run` again.
//!
//! Everything an execution knows lives in [`ExecutionState`], which serializes: a durable
//! engine checkpoints it after any `run` and resumes it anywhere with
//! [`Execution::restore`]. Parallel branches and Map iterations are frames of their own, so
//! their tasks and timers are outstanding at the same time (bounded by `MaxConcurrency`).

pub mod history;
mod step;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::ExecutionInfo;
use crate::definition::{GraphId, ROOT, StateMachine};
use crate::error::Failure;
use crate::path::Variables;
use crate::random::Rng;
use crate::states::StateId;
use crate::states::task::{Pattern, ResourceKind};
use crate::timestamp::Timestamp;
use history::{EventType, HistoryEvent};

/// Identifies an outstanding task invocation within its execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId(pub u64);

/// Identifies a timer within its execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimerId(pub u64);

/// Work the interpreter asks its caller to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Call a task's resource; report with `task_succeeded` / `task_failed`.
    Invoke(Invocation),
    /// An invocation is no longer wanted (its branch failed, the execution ended).
    CancelTask(TaskId),
    /// Call `timer_fired` at `until` (or as soon after as possible).
    Sleep { timer: TimerId, until: Timestamp },
    /// A timer is no longer wanted.
    CancelTimer(TimerId),
    /// The execution is over.
    Finished(Outcome),
}

/// One call of a Task state's resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub task: TaskId,
    /// The Task state's name.
    pub state: String,
    pub resource: String,
    pub kind: ResourceKind,
    pub pattern: Pattern,
    /// The effective parameters: `Parameters` evaluated, or the effective input.
    pub payload: Value,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
    /// The task token, for `.waitForTaskToken` integrations and activities.
    pub task_token: Option<String>,
    /// How many times this state was retried before this attempt.
    pub attempt: u32,
    pub credentials: Option<Value>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded(Value),
    Failed {
        error: Option<String>,
        cause: Option<String>,
    },
    TimedOut {
        error: Option<String>,
        cause: Option<String>,
    },
    Aborted {
        error: Option<String>,
        cause: Option<String>,
    },
}

impl Outcome {
    /// AWS's execution status name.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Succeeded(_) => "SUCCEEDED",
            Outcome::Failed { .. } => "FAILED",
            Outcome::TimedOut { .. } => "TIMED_OUT",
            Outcome::Aborted { .. } => "ABORTED",
        }
    }
}

/// How an execution is run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Keep history events for [`Execution::take_history`] (they are always counted).
    pub record_history: bool,
    /// The largest state input, output or task result, in bytes of JSON (AWS: 256 KiB).
    pub max_payload_bytes: usize,
    /// Transitions one `run` call makes before it returns, so that a loop without waits
    /// cannot keep the caller busy forever; `run` again to continue.
    pub transition_budget: u32,
    /// Seeds the generator behind `States.MathRandom`, `States.UUID`, jitter and task tokens.
    pub seed: u64,
    /// The most history events an execution may have (AWS: 25,000 for STANDARD
    /// workflows); past it the execution fails. `None` for no limit (EXPRESS).
    pub max_events: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            record_history: false,
            max_payload_bytes: 256 * 1024,
            transition_budget: 100_000,
            seed: 0,
            max_events: Some(25_000),
        }
    }
}

/// One running execution: the definition it runs and its state.
pub struct Execution {
    machine: Arc<StateMachine>,
    state: ExecutionState,
}

/// Everything an execution knows; serializes for checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionState {
    info: ExecutionInfo,
    input: Value,
    options: Options,
    frames: Vec<Option<Frame>>,
    free: Vec<u32>,
    ready: VecDeque<u32>,
    inbox: VecDeque<Inbound>,
    tasks: HashMap<u64, u32>,
    timers: HashMap<u64, Timer>,
    next_handle: u64,
    next_event_id: u64,
    rng: Rng,
    outcome: Option<Outcome>,
    /// Where a redrive starts: the top-level state that failed (or was running when the
    /// execution was stopped or timed out), with its input and the variables then.
    #[serde(default)]
    redrive: Option<RedrivePoint>,
    /// Which frame's state failed last, with its input, until its frame ends.
    #[serde(default)]
    failed_at: Option<(u32, StateId, Value)>,
    /// Effects and events produced since the caller last took them.
    effects: Vec<Effect>,
    events: Vec<HistoryEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RedrivePoint {
    state: StateId,
    input: Value,
    vars: Map<String, Value>,
}

/// A thread of control: the top level, one Parallel branch or one Map iteration.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Frame {
    graph: GraphId,
    /// The Parallel or Map frame waiting for this one, and this one's branch or item index.
    parent: Option<(u32, u32)>,
    /// Variables assigned in this scope.
    vars: Map<String, Value>,
    step: Step,
    prev_event: u64,
}

/// Where a frame is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
enum Step {
    /// Being worked on, or finished.
    #[default]
    Idle,
    /// About to enter `state` with `input`.
    Enter { state: StateId, input: Value },
    /// A Task waits for its result.
    Task {
        at: At,
        task: u64,
        timeout: Option<u64>,
        heartbeat: Option<(u64, u64)>,
    },
    /// A Wait state sleeps; `output` is what it will pass on.
    Wait {
        at: At,
        output: Value,
        assign: Option<Map<String, Value>>,
        timer: u64,
    },
    /// A Task, Parallel or Map sleeps before its next attempt.
    Retry { at: At, timer: u64 },
    /// A Parallel waits for its branches.
    Parallel {
        at: At,
        results: Vec<Value>,
        pending: u32,
    },
    /// A Map waits for its iterations.
    Map(Box<MapStep>),
}

/// A state being executed: what it was entered with, and its retries so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct At {
    state: StateId,
    /// The raw state input.
    input: Value,
    /// The id of the `...StateEntered` event.
    entered: u64,
    entered_time: Timestamp,
    /// Attempts used per retrier.
    retries: Vec<u32>,
    /// Retries so far (`$$.State.RetryCount`).
    retry_count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MapStep {
    at: At,
    /// Iteration inputs not started yet, in order.
    waiting: VecDeque<Value>,
    next_index: u32,
    running: u64,
    max_concurrency: u64,
    results: Vec<Value>,
    done: usize,
    failures: u64,
    tolerance: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Timer {
    /// A Wait state or a retry back-off of this frame.
    Resume(u32),
    TaskTimeout(u64),
    HeartbeatTimeout(u64),
    ExecutionTimeout,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Inbound {
    Succeeded(u64, Value),
    Failed(u64, Failure),
    Heartbeat(u64),
    Fired(u64),
    /// A worker took an activity task.
    Started(u64, String),
    /// A `.waitForTaskToken` task's call succeeded (its token is delivered).
    Submitted(u64, Value),
}

impl Execution {
    /// Starts an execution of `machine` with `input`, at `now`.
    pub fn start(
        machine: Arc<StateMachine>,
        input: Value,
        info: ExecutionInfo,
        options: Options,
        now: Timestamp,
    ) -> Self {
        let seed = options.seed;
        let mut state = ExecutionState {
            info,
            input: input.clone(),
            options,
            frames: Vec::new(),
            free: Vec::new(),
            ready: VecDeque::new(),
            inbox: VecDeque::new(),
            tasks: HashMap::new(),
            timers: HashMap::new(),
            next_handle: 1,
            next_event_id: 0,
            rng: Rng::from_seed(seed),
            outcome: None,
            redrive: None,
            failed_at: None,
            effects: Vec::new(),
            events: Vec::new(),
        };
        state.emit_raw(
            0,
            now,
            EventType::ExecutionStarted,
            || serde_json::json!({ "input": to_json(&input), "roleArn": "" }),
        );
        if let Some(secs) = machine.timeout_seconds {
            let timer = state.handle();
            state.timers.insert(timer, Timer::ExecutionTimeout);
            let until = now.saturating_add_seconds(secs as i64);
            state.effects.push(Effect::Sleep {
                timer: TimerId(timer),
                until,
            });
        }
        if exceeds(&input, state.options.max_payload_bytes) {
            let cause = format!(
                "The execution input is larger than the maximum of {} bytes",
                state.options.max_payload_bytes
            );
            state.emit_raw(1, now, EventType::ExecutionFailed, || {
                serde_json::json!({ "error": crate::error::names::DATA_LIMIT_EXCEEDED, "cause": cause })
            });
            state.conclude(Outcome::Failed {
                error: Some(crate::error::names::DATA_LIMIT_EXCEEDED.into()),
                cause: Some(cause),
            });
            return Execution { machine, state };
        }
        let start = machine.root().start_at;
        let fid = state.new_frame(ROOT, None, 1);
        state.set_step(
            fid,
            Step::Enter {
                state: start,
                input,
            },
        );
        state.ready.push_back(fid);
        Execution { machine, state }
    }

    /// Resumes an execution from a checkpoint taken of the same definition.
    pub fn restore(machine: Arc<StateMachine>, state: ExecutionState) -> Self {
        Execution { machine, state }
    }

    /// The state to checkpoint.
    pub fn checkpoint(&self) -> &ExecutionState {
        &self.state
    }

    pub fn machine(&self) -> &Arc<StateMachine> {
        &self.machine
    }

    /// The outcome, once the execution is over.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.state.outcome.as_ref()
    }

    /// Whether `run` has work to do now (rather than waiting for a result or a timer).
    pub fn is_runnable(&self) -> bool {
        self.state.outcome.is_none()
            && (!self.state.ready.is_empty() || !self.state.inbox.is_empty())
    }

    /// The history events recorded since the last call (with `Options::record_history`).
    pub fn take_history(&mut self) -> Vec<HistoryEvent> {
        std::mem::take(&mut self.state.events)
    }

    /// How many history events the execution has produced.
    pub fn event_count(&self) -> u64 {
        self.state.next_event_id
    }

    /// Advances every runnable branch at `now` and returns the effects to perform.
    pub fn run(&mut self, now: Timestamp) -> Vec<Effect> {
        let machine = &*self.machine;
        let s = &mut self.state;
        while s.outcome.is_none() {
            let Some(msg) = s.inbox.pop_front() else {
                break;
            };
            s.deliver(machine, msg, now);
        }
        let mut budget = s.options.transition_budget.max(1);
        while s.outcome.is_none() {
            let Some(fid) = s.ready.pop_front() else {
                break;
            };
            let Some(Step::Enter { state, input }) = s
                .frames
                .get_mut(fid as usize)
                .and_then(Option::as_mut)
                .map(|f| std::mem::take(&mut f.step))
            else {
                continue;
            };
            let (mut state, mut input) = (state, input);
            loop {
                match s.enter(machine, fid, state, input, now) {
                    step::Flow::Next(next, output) => {
                        budget -= 1;
                        if s.over_event_limit(now) {
                            break;
                        }
                        if budget == 0 {
                            s.set_step(
                                fid,
                                Step::Enter {
                                    state: next,
                                    input: output,
                                },
                            );
                            s.ready.push_front(fid);
                            return std::mem::take(&mut s.effects);
                        }
                        (state, input) = (next, output);
                    }
                    step::Flow::Block => break,
                    step::Flow::End(result) => {
                        s.finish_frame(machine, fid, result, now);
                        break;
                    }
                }
            }
        }
        std::mem::take(&mut s.effects)
    }

    /// The task `task` returned `output`.
    pub fn task_succeeded(&mut self, task: TaskId, output: Value) {
        self.state
            .inbox
            .push_back(Inbound::Succeeded(task.0, output));
    }

    /// The task `task` failed.
    pub fn task_failed(&mut self, task: TaskId, failure: Failure) {
        self.state.inbox.push_back(Inbound::Failed(task.0, failure));
    }

    /// A worker took the activity task `task` (`GetActivityTask`): records
    /// `ActivityStarted` with the worker's name.
    pub fn task_started(&mut self, task: TaskId, worker: &str) {
        self.state
            .inbox
            .push_back(Inbound::Started(task.0, worker.to_owned()));
    }

    /// The call of the `.waitForTaskToken` task `task` succeeded: the message or
    /// invocation carrying its token was delivered, and `response` is what the service
    /// answered. Records `TaskSubmitted`; the task still waits for its token. Ignored
    /// once the task has its result.
    pub fn task_submitted(&mut self, task: TaskId, response: Value) {
        self.state
            .inbox
            .push_back(Inbound::Submitted(task.0, response));
    }

    /// The task `task` is alive: its heartbeat timeout starts again.
    pub fn task_heartbeat(&mut self, task: TaskId) {
        self.state.inbox.push_back(Inbound::Heartbeat(task.0));
    }

    /// The timer `timer` is due.
    pub fn timer_fired(&mut self, timer: TimerId) {
        self.state.inbox.push_back(Inbound::Fired(timer.0));
    }

    /// Whether the execution ended in a way it can be redriven from.
    pub fn is_redrivable(&self) -> bool {
        matches!(
            self.state.outcome,
            Some(Outcome::Failed { .. } | Outcome::TimedOut { .. } | Outcome::Aborted { .. })
        ) && self.state.redrive.is_some()
    }

    /// Redrives an execution that failed, timed out or was stopped (`RedriveExecution`):
    /// the top-level state where it ended runs again with the input and variables it had,
    /// and the execution is running again. A Parallel or Map state runs again whole.
    /// Returns false (changing nothing) if the execution cannot be redriven.
    pub fn redrive(&mut self, now: Timestamp) -> bool {
        if !self.is_redrivable() {
            return false;
        }
        let Some(point) = self.state.redrive.take() else {
            return false;
        };
        let s = &mut self.state;
        s.outcome = None;
        s.info.redrive_count += 1;
        let count = s.info.redrive_count;
        let prev = s.next_event_id;
        s.emit_raw(
            prev,
            now,
            EventType::ExecutionRedriven,
            || serde_json::json!({ "redriveCount": count }),
        );
        if let Some(secs) = self.machine.timeout_seconds {
            let timer = s.handle();
            s.timers.insert(timer, Timer::ExecutionTimeout);
            s.effects.push(Effect::Sleep {
                timer: TimerId(timer),
                until: now.saturating_add_seconds(secs as i64),
            });
        }
        let fid = s.new_frame(ROOT, None, s.next_event_id);
        if let Some(f) = s.frame(fid) {
            f.vars = point.vars;
        }
        s.set_step(
            fid,
            Step::Enter {
                state: point.state,
                input: point.input,
            },
        );
        s.ready.push_back(fid);
        true
    }

    /// Stops the execution (`StopExecution`): it ends ABORTED, and every outstanding task
    /// and timer is cancelled.
    pub fn stop(
        &mut self,
        error: Option<String>,
        cause: Option<String>,
        now: Timestamp,
    ) -> Vec<Effect> {
        let s = &mut self.state;
        if s.outcome.is_none() {
            s.keep_running_point();
            s.emit_raw(
                0,
                now,
                EventType::ExecutionAborted,
                || serde_json::json!({ "error": error.clone(), "cause": cause.clone() }),
            );
            s.conclude(Outcome::Aborted { error, cause });
        }
        std::mem::take(&mut s.effects)
    }
}

/// Variables visible from a frame: its own, then its ancestors'.
struct Scopes<'a> {
    frames: &'a [Option<Frame>],
    start: u32,
}

impl<'a> Scopes<'a> {
    fn of(frames: &'a [Option<Frame>], start: u32) -> Self {
        Scopes { frames, start }
    }

    /// The scope an expression of this frame evaluates in: `input` as `$`, `context` as
    /// `$$` (or `$states`), and the frame's variables.
    fn scope<'b>(&'b self, input: &'b Value, context: &'b Value) -> crate::path::Scope<'b> {
        crate::path::Scope {
            input,
            context,
            variables: self,
        }
    }
}

impl Variables for Scopes<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        let mut id = Some(self.start);
        while let Some(i) = id {
            let frame = self.frames.get(i as usize)?.as_ref()?;
            if let Some(v) = frame.vars.get(name) {
                return Some(v);
            }
            id = frame.parent.map(|(p, _)| p);
        }
        None
    }

    fn visit(&self, f: &mut dyn FnMut(&str, &Value)) {
        let mut seen = std::collections::HashSet::new();
        let mut id = Some(self.start);
        while let Some(frame) = id
            .and_then(|i| self.frames.get(i as usize))
            .and_then(Option::as_ref)
        {
            for (k, v) in &frame.vars {
                if seen.insert(k.as_str()) {
                    f(k, v);
                }
            }
            id = frame.parent.map(|(p, _)| p);
        }
    }
}

impl ExecutionState {
    /// Ends the execution if it has more history events than allowed.
    fn over_event_limit(&mut self, now: Timestamp) -> bool {
        let Some(max) = self.options.max_events else {
            return false;
        };
        if self.next_event_id < max || self.outcome.is_some() {
            return false;
        }
        let cause = format!(
            "The execution reached the limit of {max} history events; continue the work in a new execution"
        );
        self.emit_raw(
            0,
            now,
            EventType::ExecutionFailed,
            || serde_json::json!({ "error": crate::error::names::RUNTIME, "cause": cause }),
        );
        self.conclude(Outcome::Failed {
            error: Some(crate::error::names::RUNTIME.into()),
            cause: Some(cause),
        });
        true
    }

    fn handle(&mut self) -> u64 {
        let h = self.next_handle;
        self.next_handle += 1;
        h
    }

    fn new_frame(&mut self, graph: GraphId, parent: Option<(u32, u32)>, prev_event: u64) -> u32 {
        let frame = Frame {
            graph,
            parent,
            vars: Map::new(),
            step: Step::Idle,
            prev_event,
        };
        match self.free.pop() {
            Some(id) => {
                self.frames[id as usize] = Some(frame);
                id
            }
            None => {
                self.frames.push(Some(frame));
                (self.frames.len() - 1) as u32
            }
        }
    }

    fn frame(&mut self, fid: u32) -> Option<&mut Frame> {
        self.frames.get_mut(fid as usize).and_then(Option::as_mut)
    }

    fn set_step(&mut self, fid: u32, step: Step) {
        if let Some(f) = self.frame(fid) {
            f.step = step;
        }
    }

    fn take_step(&mut self, fid: u32) -> Step {
        self.frame(fid)
            .map(|f| std::mem::take(&mut f.step))
            .unwrap_or_default()
    }

    /// Counts (and, when recording, keeps) one history event of frame `fid`.
    fn emit(
        &mut self,
        fid: u32,
        now: Timestamp,
        event_type: EventType,
        details: impl FnOnce() -> Value,
    ) -> u64 {
        let prev = self.frame(fid).map(|f| f.prev_event).unwrap_or(0);
        let id = self.emit_raw(prev, now, event_type, details);
        if let Some(f) = self.frame(fid) {
            f.prev_event = id;
        }
        id
    }

    fn emit_raw(
        &mut self,
        prev: u64,
        now: Timestamp,
        event_type: EventType,
        details: impl FnOnce() -> Value,
    ) -> u64 {
        self.next_event_id += 1;
        let id = self.next_event_id;
        if self.options.record_history {
            self.events.push(HistoryEvent {
                id,
                previous_event_id: prev,
                timestamp: now,
                event_type,
                details: details(),
            });
        }
        id
    }

    fn deliver(&mut self, machine: &StateMachine, msg: Inbound, now: Timestamp) {
        match msg {
            Inbound::Succeeded(task, output) => {
                if let Some(fid) = self.tasks.remove(&task) {
                    self.on_task_result(machine, fid, task, Ok(output), now);
                }
            }
            Inbound::Failed(task, failure) => {
                if let Some(fid) = self.tasks.remove(&task) {
                    self.on_task_result(machine, fid, task, Err(failure), now);
                }
            }
            Inbound::Heartbeat(task) => self.on_heartbeat(task, now),
            Inbound::Started(task, worker) => self.on_started(task, &worker, now),
            Inbound::Submitted(task, response) => self.on_submitted(machine, task, &response, now),
            Inbound::Fired(timer) => match self.timers.remove(&timer) {
                Some(Timer::Resume(fid)) => self.on_resume(machine, fid, timer, now),
                Some(Timer::TaskTimeout(task)) => {
                    if let Some(fid) = self.tasks.remove(&task) {
                        self.effects.push(Effect::CancelTask(TaskId(task)));
                        let failure = Failure {
                            error: crate::error::names::TIMEOUT.into(),
                            cause: None,
                        };
                        self.on_task_result(machine, fid, task, Err(failure), now);
                    }
                }
                Some(Timer::HeartbeatTimeout(task)) => {
                    if let Some(fid) = self.tasks.remove(&task) {
                        self.effects.push(Effect::CancelTask(TaskId(task)));
                        let failure = Failure {
                            error: crate::error::names::HEARTBEAT_TIMEOUT.into(),
                            cause: None,
                        };
                        self.on_task_result(machine, fid, task, Err(failure), now);
                    }
                }
                Some(Timer::ExecutionTimeout) => {
                    self.keep_running_point();
                    self.emit_raw(0, now, EventType::ExecutionTimedOut, || {
                        serde_json::json!({})
                    });
                    self.conclude(Outcome::TimedOut {
                        error: None,
                        cause: None,
                    });
                }
                None => {}
            },
        }
    }

    /// Ends the execution: cancels what is outstanding and reports the outcome.
    fn conclude(&mut self, outcome: Outcome) {
        let mut tasks: Vec<u64> = self.tasks.drain().map(|(t, _)| t).collect();
        tasks.sort_unstable();
        self.effects
            .extend(tasks.into_iter().map(|t| Effect::CancelTask(TaskId(t))));
        let mut timers: Vec<u64> = self.timers.drain().map(|(t, _)| t).collect();
        timers.sort_unstable();
        self.effects
            .extend(timers.into_iter().map(|t| Effect::CancelTimer(TimerId(t))));
        self.frames.clear();
        self.free.clear();
        self.ready.clear();
        self.inbox.clear();
        self.effects.push(Effect::Finished(outcome.clone()));
        self.outcome = Some(outcome);
    }

    /// Remembers where the top level is, as the point to redrive from, before the execution
    /// is stopped or times out.
    fn keep_running_point(&mut self) {
        let Some(root) = self.frames.iter().flatten().find(|f| f.parent.is_none()) else {
            return;
        };
        let point = match &root.step {
            Step::Enter { state, input } => Some((*state, input.clone())),
            Step::Task { at, .. }
            | Step::Wait { at, .. }
            | Step::Retry { at, .. }
            | Step::Parallel { at, .. } => Some((at.state, at.input.clone())),
            Step::Map(m) => Some((m.at.state, m.at.input.clone())),
            Step::Idle => None,
        };
        if let Some((state, input)) = point {
            self.redrive = Some(RedrivePoint {
                state,
                input,
                vars: root.vars.clone(),
            });
        }
    }

    /// Frees every frame below `parent`, cancelling their tasks and timers.
    fn cancel_children(&mut self, parent: u32) {
        let mut doomed = vec![parent];
        let mut i = 0;
        while i < doomed.len() {
            let p = doomed[i];
            for (id, f) in self.frames.iter().enumerate() {
                if let Some(f) = f
                    && f.parent.map(|(pp, _)| pp) == Some(p)
                {
                    doomed.push(id as u32);
                }
            }
            i += 1;
        }
        let doomed = &doomed[1..];
        let mut cancelled_tasks: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, f)| doomed.contains(f))
            .map(|(t, _)| *t)
            .collect();
        cancelled_tasks.sort_unstable();
        for t in cancelled_tasks {
            self.tasks.remove(&t);
            self.timers.retain(|_, timer| !matches!(timer, Timer::TaskTimeout(x) | Timer::HeartbeatTimeout(x) if *x == t));
            self.effects.push(Effect::CancelTask(TaskId(t)));
        }
        let mut cancelled_timers: Vec<u64> = self
            .timers
            .iter()
            .filter(|(_, timer)| matches!(timer, Timer::Resume(f) if doomed.contains(f)))
            .map(|(t, _)| *t)
            .collect();
        cancelled_timers.sort_unstable();
        for t in cancelled_timers {
            self.timers.remove(&t);
            self.effects.push(Effect::CancelTimer(TimerId(t)));
        }
        for &id in doomed {
            self.frames[id as usize] = None;
            self.free.push(id);
        }
    }
}

/// JSON text of a value, for history event details.
fn to_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Values nest at most this deep at run time (JSON text parses to at most 128 levels).
pub const MAX_DEPTH: usize = 512;

/// Whether `v` serializes to more than `limit` bytes of JSON or nests deeper than
/// [`MAX_DEPTH`]. Walks without recursion and stops as soon as it knows.
fn exceeds(v: &Value, limit: usize) -> bool {
    let mut size = 0usize;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 1)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return true;
        }
        size += match v {
            Value::Null => 4,
            Value::Bool(b) => 5 - usize::from(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u.checked_ilog10().unwrap_or(0) as usize + 1,
                (None, Some(i)) => i.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 2,
                _ => 24,
            },
            Value::String(s) => string_size(s),
            Value::Array(items) => {
                stack.extend(items.iter().map(|x| (x, depth + 1)));
                2 + items.len().saturating_sub(1)
            }
            Value::Object(map) => {
                let mut n = 2 + map.len().saturating_sub(1);
                for (k, x) in map {
                    n += string_size(k) + 1;
                    stack.push((x, depth + 1));
                }
                n
            }
        };
        if size > limit {
            return true;
        }
    }
    false
}

/// Bytes of a string as JSON text, quotes and escapes included.
fn string_size(s: &str) -> usize {
    2 + s.len()
        + s.bytes()
            .filter(|b| matches!(b, b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c))
            .count()
        + s.bytes()
            .filter(|b| *b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x08 | 0x0c))
            .count()
            * 5
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn size_is_measured_like_json_text() {
        for v in [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-12),
            json!(123456),
            json!("a\"b\\c\n\u{1}"),
            json!([1, 2, [3]]),
            json!({"k": "v", "x": [null, {}]}),
        ] {
            let exact = serde_json::to_string(&v).unwrap().len();
            assert!(!exceeds(&v, exact), "{v}");
            assert!(exceeds(&v, exact - 1), "{v}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut v = json!(1);
        for _ in 0..MAX_DEPTH {
            v = json!([v]);
        }
        assert!(exceeds(&v, usize::MAX));
    }
}
