//! Executions: starting them, stepping them durably, performing their effects.
//!
//! A step, for one execution at a time (its slot's lock):
//! 1. load the interpreter (kept in memory while calls are in flight; otherwise restored
//!    from the checkpoint of the last step);
//! 2. hand it the step's inputs and run it until it waits;
//! 3. commit one [`Step`]: the execution row, the checkpoint, new history events, timers
//!    set and cleared, tasks added and finished, and status events;
//! 4. only then perform the effects: dispatch calls, arm timers, wake activity pollers,
//!    tell waiters and parent executions.
//!
//! A crash between 3 and 4 loses nothing: after a restart, tasks without a recorded result
//! are dispatched again and timers are read back from the store. A result that arrives
//! twice is recorded once, because the checkpoint no longer expects it.
//!
//! A callback task (`.waitForTaskToken`) waits for its token after its call, so its call
//! succeeding is a step of its own: `TaskSubmitted` in the history and the task marked
//! delivered in the store ([`Step::tasks_delivered`]), after which a restart does not send
//! its message or invocation again. A crash between the call and that step sends it again
//! with the same token (at-least-once), and the receiver may see it twice. A token answered
//! before that step runs is fine: the step then finds no task to mark.

use std::collections::HashSet;
use std::sync::Arc;

use cirrus_asl::context::ExecutionInfo;
use cirrus_asl::interpreter::{ExecutionState, history};
use cirrus_asl::states::task::{Pattern, ResourceKind};
use cirrus_asl::timestamp::Timestamp;
use cirrus_asl::{Effect, Failure, Invocation, Options, Outcome, TaskId, TimerId};
use cirrus_store::{
    Execution as Record, ExecutionFilter, ExecutionWrite, HistoryEvent, Step, Store, StoreError,
    Task, TaskKind, Timer,
};
use serde_json::{Value, json};

use crate::arn;
use crate::dispatch::TaskCall;
use crate::status::StatusChange;
use crate::{Engine, EngineError, Result, WeakEngine, lock, now_ms, random_u64, uuid};

/// What a step hands an execution.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    Succeeded(u64, Value),
    Failed(u64, Failure),
    Heartbeat(u64),
    Fired(u64),
    /// A worker took an activity task.
    Started(u64, String),
    /// A callback task's call succeeded (its token is out), with the service's response.
    Submitted(u64, Value),
    Stop {
        error: Option<String>,
        cause: Option<String>,
    },
}

/// An execution's place in memory; `loaded` is empty when it is only in the store.
#[derive(Default)]
pub(crate) struct Slot {
    loaded: Option<Loaded>,
}

impl Slot {
    /// Drops an idle execution from memory after a step; the slot goes with its last hold.
    fn settle(&mut self) {
        let idle = self
            .loaded
            .as_ref()
            .is_none_or(|l| l.dispatched.is_empty() && !l.exec.is_runnable());
        if idle {
            self.loaded = None;
        }
    }
}

/// A hold on an execution's slot. The last hold to go forgets the slot if it keeps nothing
/// in memory. Holds are taken and let go under the map's lock, so two holders letting go
/// at once cannot each see the other and leave the slot behind, and a hold dropped with its
/// future (a caller that went away) lets go too.
pub(crate) struct SlotHold {
    engine: Engine,
    arn: String,
    slot: Option<Arc<tokio::sync::Mutex<Slot>>>,
}

impl std::ops::Deref for SlotHold {
    type Target = tokio::sync::Mutex<Slot>;

    fn deref(&self) -> &Self::Target {
        // Only `drop` takes it.
        self.slot
            .as_deref()
            .unwrap_or_else(|| unreachable!("slot hold used after drop"))
    }
}

impl Drop for SlotHold {
    fn drop(&mut self) {
        let mut slots = lock(&self.engine.inner.slots);
        drop(self.slot.take());
        let forget = slots.get(&self.arn).is_some_and(|slot| {
            // Only the map holds it, so nobody holds its lock either.
            Arc::strong_count(slot) == 1 && slot.try_lock().is_ok_and(|s| s.loaded.is_none())
        });
        if forget {
            slots.remove(&self.arn);
        }
    }
}

struct Loaded {
    exec: cirrus_asl::Execution,
    record: Record,
    /// Calls of this execution in flight in this process.
    dispatched: HashSet<u64>,
}

/// What `StartExecution` asks for.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// A machine, version or alias ARN.
    pub target: String,
    pub name: Option<String>,
    /// JSON text; `{}` when absent.
    pub input: Option<String>,
    /// The parent task waiting for this execution (`.sync`).
    pub(crate) parent: Option<String>,
}

impl StartRequest {
    pub fn new(target: impl Into<String>, name: Option<String>, input: Option<String>) -> Self {
        StartRequest {
            target: target.into(),
            name,
            input,
            parent: None,
        }
    }
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

impl Engine {
    fn store_for(&self, execution_arn: &str) -> Arc<dyn Store> {
        if arn::is_express(execution_arn) {
            self.inner.express.clone()
        } else {
            self.inner.store.clone()
        }
    }

    /// Takes a hold on the execution's slot, making one if there is none.
    fn slot(&self, arn: &str) -> SlotHold {
        let slot = lock(&self.inner.slots)
            .entry(arn.to_owned())
            .or_default()
            .clone();
        SlotHold {
            engine: self.clone(),
            arn: arn.to_owned(),
            slot: Some(slot),
        }
    }

    /// Starts an execution and returns its record once its first step is committed.
    pub async fn start_execution(&self, req: StartRequest) -> Result<Record> {
        let resolved = self.resolve(&req.target).await?;
        let express = resolved.machine.kind == "EXPRESS";
        let name = match req.name {
            Some(n) => {
                arn::check_name(&n, "execution").map_err(EngineError::InvalidName)?;
                n
            }
            None => uuid(),
        };
        let input_text = req.input.unwrap_or_else(|| "{}".into());
        let limit = self.inner.config.max_payload_bytes;
        if input_text.len() > limit {
            return Err(EngineError::Validation(format!(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to {limit}"
            )));
        }
        let input: Value = serde_json::from_str(&input_text).map_err(|e| {
            EngineError::InvalidExecutionInput(format!(
                "Invalid State Machine Execution Input: '{e}'"
            ))
        })?;
        let execution_arn = if express {
            // EXPRESS ARNs carry a unique suffix, as on AWS.
            format!(
                "{}:{}",
                self.inner
                    .config
                    .partition
                    .execution(&resolved.machine.name, &name, true),
                uuid()
            )
        } else {
            self.inner
                .config
                .partition
                .execution(&resolved.machine.name, &name, false)
        };
        let now = now_ms();
        let info = ExecutionInfo {
            id: execution_arn.clone(),
            name: name.clone(),
            role_arn: resolved.machine.role_arn.clone(),
            state_machine_id: resolved
                .version_arn
                .clone()
                .unwrap_or_else(|| resolved.machine.arn.clone()),
            state_machine_name: resolved.machine.name.clone(),
            start_time: timestamp(now),
            redrive_count: 0,
        };
        let options = Options {
            record_history: !express || self.inner.config.express_history,
            max_payload_bytes: limit,
            seed: random_u64(),
            max_events: if express { None } else { Some(25_000) },
            ..Options::default()
        };
        let exec = cirrus_asl::Execution::start(
            resolved.definition.clone(),
            input,
            info,
            options,
            timestamp(now),
        );
        let record = Record {
            arn: execution_arn.clone(),
            machine_arn: resolved.machine.arn.clone(),
            version_arn: resolved.version_arn.clone(),
            alias_arn: resolved.alias_arn.clone(),
            definition_digest: resolved.digest.clone(),
            name,
            status: "RUNNING".into(),
            input: input_text,
            output: None,
            error: None,
            cause: None,
            start_ms: now,
            stop_ms: None,
            redrive_count: 0,
            redrive_ms: None,
            event_count: 0,
            parent: req.parent,
            ready: false,
        };
        let slot = self.slot(&execution_arn);
        let mut guard = slot.lock().await;
        let mut loaded = Loaded {
            exec,
            record,
            dispatched: HashSet::new(),
        };
        let result = self.advance(&mut loaded, true, Vec::new(), false).await;
        let result = match result {
            Ok(effects) => {
                let record = loaded.record.clone();
                guard.loaded = Some(loaded);
                self.perform(&execution_arn, &mut guard, effects);
                Ok(record)
            }
            Err(EngineError::Store(StoreError::Conflict(_))) => {
                // The name is taken. Starting again with the same input while it runs is
                // idempotent (AWS); anything else is a conflict.
                let existing = self
                    .store_for(&execution_arn)
                    .execution(&execution_arn)
                    .await?;
                match existing {
                    Some(e) if e.input == loaded.record.input && e.is_running() => Ok(e),
                    _ => Err(EngineError::ExecutionAlreadyExists(execution_arn.clone())),
                }
            }
            Err(e) => Err(e),
        };
        guard.settle();
        result
    }

    /// Steps an execution on a task of its own.
    pub(crate) fn spawn_step(&self, arn: String, inputs: Vec<Input>) {
        let engine = self.clone();
        tokio::spawn(async move { engine.step_retrying(&arn, inputs).await });
    }

    /// Steps an execution, trying again while the store fails (it may be restarting or
    /// unreachable for a while): a result or a fired timer is not dropped. Other errors end
    /// the attempt. Giving the same input again is safe: an execution that recorded it
    /// already no longer expects it.
    pub(crate) async fn step_retrying(&self, arn: &str, inputs: Vec<Input>) {
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            match self.step(arn, inputs.clone()).await {
                Ok(_) => return,
                Err(EngineError::Store(err)) => {
                    tracing::warn!(execution = %arn, %err, ?delay, "the store failed a step; trying again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(30));
                }
                Err(err) => {
                    tracing::warn!(execution = %arn, %err, "step failed");
                    return;
                }
            }
        }
    }

    /// Hands `inputs` to a running execution and runs it. Returns its record afterwards;
    /// inputs for an execution that has ended are ignored.
    pub(crate) async fn step(&self, arn: &str, inputs: Vec<Input>) -> Result<Record> {
        let slot = self.slot(arn);
        let mut guard = slot.lock().await;
        let result = self.step_locked(arn, &mut guard, inputs).await;
        guard.settle();
        result
    }

    async fn step_locked(&self, arn: &str, slot: &mut Slot, inputs: Vec<Input>) -> Result<Record> {
        if slot.loaded.is_none() {
            let store = self.store_for(arn);
            let record = store
                .execution(arn)
                .await?
                .ok_or_else(|| EngineError::ExecutionDoesNotExist(arn.to_owned()))?;
            if !record.is_running() {
                return Ok(record);
            }
            let checkpoint = store.checkpoint(arn).await?.ok_or_else(|| {
                EngineError::Internal(format!("execution {arn} has no checkpoint"))
            })?;
            let state: ExecutionState = serde_json::from_slice(&checkpoint)
                .map_err(|e| EngineError::Internal(format!("checkpoint of {arn}: {e}")))?;
            let machine = self.definition(&record.definition_digest).await?;
            slot.loaded = Some(Loaded {
                exec: cirrus_asl::Execution::restore(machine, state),
                record,
                dispatched: HashSet::new(),
            });
        }
        let Some(loaded) = slot.loaded.as_mut() else {
            return Err(EngineError::Internal("slot emptied".into()));
        };
        if !loaded.record.is_running() {
            return Ok(loaded.record.clone());
        }
        for input in &inputs {
            if let Input::Succeeded(t, _) | Input::Failed(t, _) | Input::Submitted(t, _) = input {
                loaded.dispatched.remove(t);
            }
        }
        match self.advance(loaded, false, inputs, false).await {
            Ok(effects) => {
                let record = loaded.record.clone();
                self.perform(arn, slot, effects);
                Ok(record)
            }
            Err(e) => {
                // The interpreter is ahead of the store now: forget it, and let the next
                // step start again from the last checkpoint.
                slot.loaded = None;
                Err(e)
            }
        }
    }

    /// Runs the interpreter with `inputs` and commits the step; returns the effects to
    /// perform now that they are durable.
    async fn advance(
        &self,
        loaded: &mut Loaded,
        insert: bool,
        inputs: Vec<Input>,
        restarted: bool,
    ) -> Result<Vec<Effect>> {
        let now = now_ms();
        let ts = timestamp(now);
        let arn = loaded.record.arn.clone();
        let mut step_tasks_finished = Vec::new();
        let mut tasks_delivered = Vec::new();
        let mut timers_cleared = Vec::new();
        let mut effects = Vec::new();
        for input in inputs {
            match input {
                Input::Succeeded(t, v) => {
                    loaded.exec.task_succeeded(TaskId(t), v);
                    step_tasks_finished.push(t);
                }
                Input::Failed(t, f) => {
                    loaded.exec.task_failed(TaskId(t), f);
                    step_tasks_finished.push(t);
                }
                Input::Heartbeat(t) => loaded.exec.task_heartbeat(TaskId(t)),
                Input::Started(t, worker) => loaded.exec.task_started(TaskId(t), &worker),
                Input::Submitted(t, response) => {
                    loaded.exec.task_submitted(TaskId(t), response);
                    tasks_delivered.push(t);
                }
                Input::Fired(t) => {
                    loaded.exec.timer_fired(TimerId(t));
                    timers_cleared.push(t);
                }
                Input::Stop { error, cause } => effects.extend(loaded.exec.stop(error, cause, ts)),
            }
        }
        effects.extend(loaded.exec.run(ts));

        // The record is copied once, into the step, and changed there.
        let mut step = Step::new(if insert {
            ExecutionWrite::Insert(loaded.record.clone())
        } else {
            ExecutionWrite::Update(loaded.record.clone())
        });
        step.tasks_finished = step_tasks_finished;
        step.tasks_delivered = tasks_delivered;
        step.timers_cleared = timers_cleared;
        let mut finished = false;
        for effect in &effects {
            match effect {
                Effect::Invoke(inv) => step.tasks_added.push(task_row(&arn, inv, now)),
                Effect::CancelTask(t) => step.tasks_finished.push(t.0),
                Effect::Sleep { timer, until } => step.timers_set.push(Timer {
                    execution_arn: arn.clone(),
                    timer: timer.0,
                    due_ms: until.unix_millis(),
                }),
                Effect::CancelTimer(t) => step.timers_cleared.push(t.0),
                Effect::Finished(outcome) => {
                    finished = true;
                    let record = step.execution.execution_mut();
                    record.status = outcome.status().into();
                    record.stop_ms = Some(now);
                    match outcome {
                        Outcome::Succeeded(v) => record.output = Some(v.to_string()),
                        Outcome::Failed { error, cause }
                        | Outcome::TimedOut { error, cause }
                        | Outcome::Aborted { error, cause } => {
                            record.error = error.clone();
                            record.cause = cause.clone();
                        }
                    }
                }
            }
        }
        let record = step.execution.execution_mut();
        record.event_count = loaded.exec.event_count();
        record.ready = loaded.exec.is_runnable();
        step.history = loaded
            .exec
            .take_history()
            .into_iter()
            .map(history_row)
            .collect();
        if insert || restarted || finished {
            let event = StatusChange::outbox_event(step.execution.execution(), now);
            step.events.push(event);
        }
        let checkpoint = serde_json::to_vec(loaded.exec.checkpoint())
            .map_err(|e| EngineError::Internal(format!("checkpoint: {e}")))?;
        step.checkpoint = Some(checkpoint);
        let record = step.execution.execution().clone();
        self.store_for(&arn).commit(step).await?;
        loaded.record = record;
        if insert || restarted || finished {
            self.inner.outbox.notify_one();
        }
        Ok(effects)
    }

    /// Performs committed effects.
    fn perform(&self, arn: &str, slot: &mut Slot, effects: Vec<Effect>) {
        let express = arn::is_express(arn);
        let timers = if express {
            &self.inner.express_timers
        } else {
            &self.inner.timers
        };
        let mut finished = None;
        for effect in effects {
            match effect {
                Effect::Invoke(inv) => {
                    if inv.kind == ResourceKind::Activity {
                        self.signal_activity(&inv.resource);
                        continue;
                    }
                    if let Some(l) = slot.loaded.as_mut() {
                        l.dispatched.insert(inv.task.0);
                    }
                    self.dispatch(arn.to_owned(), inv);
                }
                Effect::CancelTask(t) => {
                    if let Some(l) = slot.loaded.as_mut() {
                        l.dispatched.remove(&t.0);
                    }
                    if let Some(h) = lock(&self.inner.in_flight).remove(&(arn.to_owned(), t.0)) {
                        h.abort();
                    }
                }
                Effect::Sleep { timer, until } => timers.arm(arn, timer.0, until.unix_millis()),
                Effect::CancelTimer(t) => timers.disarm(arn, t.0),
                Effect::Finished(_) => {
                    finished = slot.loaded.as_ref().map(|l| l.record.clone());
                }
            }
        }
        if let Some(l) = slot.loaded.as_ref()
            && l.exec.is_runnable()
        {
            // It stopped at its transition budget: continue on a fresh task.
            self.spawn_step(arn.to_owned(), Vec::new());
        }
        if let Some(record) = finished {
            if let Some(l) = slot.loaded.as_mut() {
                l.dispatched.clear();
            }
            self.finished(record);
        }
    }

    /// Tells whoever waits for an execution that it ended.
    fn finished(&self, record: Record) {
        if let Some(waiters) = lock(&self.inner.waiters).remove(&record.arn) {
            for w in waiters {
                let _ = w.send(record.clone());
            }
        }
        if let Some(parent) = &record.parent {
            self.notify_parent(parent, &record);
        }
        if arn::is_express(&record.arn) {
            let deadline = tokio::time::Instant::now() + self.inner.config.express_retention;
            let _ = self.inner.retention.send((deadline, record.arn));
        }
    }

    /// Waits until the execution ends (or `timeout` passes) and returns its record.
    pub async fn wait(&self, arn: &str, timeout: std::time::Duration) -> Result<Record> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.inner.waiters)
            .entry(arn.to_owned())
            .or_default()
            .push(tx);
        // An execution loaded and running in memory will tell the waiter when it ends
        // (that takes its slot's lock); otherwise ask the store whether it ended already.
        // (Looked at under the map's lock, without taking a reference that would keep the
        // slot from being released.)
        let running_here = lock(&self.inner.slots).get(arn).is_some_and(|slot| {
            slot.try_lock()
                .is_ok_and(|s| s.loaded.as_ref().is_some_and(|l| l.record.is_running()))
        });
        let result = if running_here {
            None
        } else {
            match self.execution(arn).await {
                Ok(record) if !record.is_running() => Some(Ok(record)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        };
        let result = match result {
            Some(r) => r,
            None => match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(record)) => return Ok(record),
                _ => self.execution(arn).await,
            },
        };
        // This waiter is gone: drop its entry.
        let mut waiters = lock(&self.inner.waiters);
        if let Some(list) = waiters.get_mut(arn) {
            list.retain(|w| !w.is_closed());
            if list.is_empty() {
                waiters.remove(arn);
            }
        }
        result
    }

    pub async fn execution(&self, arn: &str) -> Result<Record> {
        if !arn::is_execution_arn(arn) {
            return Err(EngineError::InvalidArn(format!("Invalid Arn: '{arn}'")));
        }
        self.store_for(arn)
            .execution(arn)
            .await?
            .ok_or_else(|| EngineError::ExecutionDoesNotExist(arn.to_owned()))
    }

    pub async fn executions(&self, filter: ExecutionFilter<'_>) -> Result<Vec<Record>> {
        Ok(self.inner.store.executions(filter).await?)
    }

    /// History events with ids in `from..=to`.
    pub async fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>> {
        self.execution(arn).await?;
        Ok(self.store_for(arn).history(arn, from, to).await?)
    }

    /// `StopExecution`: ends a running execution ABORTED. Stopping one that has ended
    /// changes nothing.
    pub async fn stop_execution(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<Record> {
        self.execution(arn).await?;
        self.step(arn, vec![Input::Stop { error, cause }]).await
    }

    /// `RedriveExecution`: runs a failed, timed-out or stopped execution again from the
    /// top-level state where it ended.
    pub async fn redrive_execution(&self, arn: &str) -> Result<Record> {
        let record = self.execution(arn).await?;
        let not = |why: &str| {
            EngineError::ExecutionNotRedrivable(format!("Execution {why} and cannot be redriven"))
        };
        if arn::is_express(arn) {
            return Err(not("belongs to an EXPRESS state machine"));
        }
        if record.is_running() {
            return Err(not("is RUNNING"));
        }
        if record.status == "SUCCEEDED" {
            return Err(not("is SUCCEEDED"));
        }
        let slot = self.slot(arn);
        let mut guard = slot.lock().await;
        let result = self.redrive_locked(arn, &mut guard).await;
        guard.settle();
        result
    }

    async fn redrive_locked(&self, arn: &str, slot: &mut Slot) -> Result<Record> {
        let store = self.store_for(arn);
        let record = store
            .execution(arn)
            .await?
            .ok_or_else(|| EngineError::ExecutionDoesNotExist(arn.to_owned()))?;
        if record.is_running() {
            return Err(EngineError::ExecutionNotRedrivable(
                "Execution is RUNNING and cannot be redriven".into(),
            ));
        }
        let checkpoint = store
            .checkpoint(arn)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("execution {arn} has no checkpoint")))?;
        let state: ExecutionState = serde_json::from_slice(&checkpoint)
            .map_err(|e| EngineError::Internal(format!("checkpoint of {arn}: {e}")))?;
        let machine = self.definition(&record.definition_digest).await?;
        let mut exec = cirrus_asl::Execution::restore(machine, state);
        let now = now_ms();
        if !exec.redrive(timestamp(now)) {
            return Err(EngineError::ExecutionNotRedrivable(format!(
                "Execution {arn} has no state to redrive from"
            )));
        }
        let mut loaded = Loaded {
            exec,
            record,
            dispatched: HashSet::new(),
        };
        let r = &mut loaded.record;
        r.status = "RUNNING".into();
        r.output = None;
        r.error = None;
        r.cause = None;
        r.stop_ms = None;
        r.redrive_count += 1;
        r.redrive_ms = Some(now);
        match self.advance(&mut loaded, false, Vec::new(), true).await {
            Ok(effects) => {
                let record = loaded.record.clone();
                slot.loaded = Some(loaded);
                self.perform(arn, slot, effects);
                Ok(record)
            }
            Err(e) => {
                slot.loaded = None;
                Err(e)
            }
        }
    }

    /// Dispatches a call on a task of its own; its result is the execution's next step.
    fn dispatch(&self, arn: String, inv: Invocation) {
        let engine = self.clone();
        let task = inv.task.0;
        let key = (arn.clone(), task);
        let handle = tokio::spawn(async move {
            let result = engine.call(&arn, &inv).await;
            lock(&engine.inner.in_flight).remove(&(arn.clone(), task));
            let input = match result {
                Called::Returned(Ok(v)) => Input::Succeeded(task, v),
                Called::Returned(Err(f)) => Input::Failed(task, f),
                // Recorded at once, so that a restart does not deliver the token again.
                Called::Delivered(response) => Input::Submitted(task, response),
                Called::Pending => return,
            };
            engine.step_retrying(&arn, vec![input]).await;
        });
        lock(&self.inner.in_flight).insert(key, handle.abort_handle());
    }

    /// Dispatches a task again after a restart.
    pub(crate) fn redispatch(&self, task: Task) {
        match serde_json::from_str::<Invocation>(&task.invocation) {
            Ok(inv) => self.dispatch(task.execution_arn, inv),
            Err(err) => {
                tracing::error!(execution = %task.execution_arn, %err, "unreadable task; failing it");
                self.spawn_step(
                    task.execution_arn,
                    vec![Input::Failed(
                        task.task,
                        Failure::new(
                            "States.Runtime",
                            format!("the task record is unreadable: {err}"),
                        ),
                    )],
                );
            }
        }
    }

    /// Performs one call.
    async fn call(&self, arn: &str, inv: &Invocation) -> Called {
        let call = TaskCall {
            execution_arn: arn.to_owned(),
            state: inv.state.clone(),
            resource: inv.resource.clone(),
            pattern: inv.pattern,
            payload: inv.payload.clone(),
            timeout_seconds: inv.timeout_seconds,
            task_token: inv.task_token.clone(),
            attempt: inv.attempt,
            idempotency_key: format!("{arn}/{}/{}", inv.state, inv.task.0),
        };
        let d = &self.inner.dispatcher;
        let result = if inv
            .resource
            .starts_with("arn:aws:states:::states:startExecution")
        {
            self.start_nested(arn, inv).await
        } else if inv.resource.starts_with("arn:aws:states:::http:invoke") {
            Some(d.call_http(&call).await)
        } else if inv.kind == ResourceKind::LambdaFunction
            || inv.resource.starts_with("arn:aws:states:::lambda:invoke")
            || !inv.resource.starts_with("arn:")
        {
            Some(d.invoke_function(&call).await)
        } else {
            Some(d.call_service(&call).await)
        };
        match (inv.pattern, result) {
            // A callback's call only delivers the token; its failure fails the task.
            (Pattern::WaitForTaskToken, Some(Ok(response))) => Called::Delivered(response),
            (_, Some(r)) => Called::Returned(r),
            (_, None) => Called::Pending,
        }
    }

    /// `states:startExecution` (`.sync`, `.sync:2`, `.waitForTaskToken`). `None`: a
    /// `.sync` child reports when it ends.
    async fn start_nested(&self, arn: &str, inv: &Invocation) -> Option<Result<Value, Failure>> {
        let p = &inv.payload;
        let Some(target) = p.get("StateMachineArn").and_then(Value::as_str) else {
            return Some(Err(Failure::new(
                "States.Runtime",
                "The field 'StateMachineArn' is required by states:startExecution",
            )));
        };
        let input = match p.get("Input") {
            None => "{}".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        // A name derived from the task, so that dispatching again after a restart finds
        // the same child instead of starting a second one.
        let name = match p.get("Name").and_then(Value::as_str) {
            Some(n) => n.to_owned(),
            None => {
                let d = crate::registry::digest(&format!("{arn}#{}", inv.task.0));
                format!(
                    "{}-{}-{}-{}-{}",
                    &d[0..8],
                    &d[8..12],
                    &d[12..16],
                    &d[16..20],
                    &d[20..32]
                )
            }
        };
        let json_output = inv.resource.ends_with(":2");
        let parent = (inv.pattern == Pattern::Sync).then(|| {
            format!(
                "{arn}#{}{}",
                inv.task.0,
                if json_output { "#json" } else { "" }
            )
        });
        let req = StartRequest {
            target: target.to_owned(),
            name: Some(name),
            input: Some(input),
            parent,
        };
        let child = match self.start_execution(req).await {
            Ok(c) => c,
            Err(e) => {
                return Some(Err(Failure::new(
                    format!("StepFunctions.{}", e.aws_name()),
                    e.to_string(),
                )));
            }
        };
        match inv.pattern {
            // With `.waitForTaskToken`, the child has the token now.
            Pattern::RequestResponse | Pattern::WaitForTaskToken => Some(Ok(json!({
                "ExecutionArn": child.arn,
                "StartDate": child.start_ms,
            }))),
            // Already over (dispatched again after it ended): report now.
            Pattern::Sync if !child.is_running() => Some(nested_result(&child, json_output)),
            Pattern::Sync => None,
        }
    }

    fn notify_parent(&self, parent: &str, child: &Record) {
        let mut parts = parent.split('#');
        let (Some(parent_arn), Some(task)) = (parts.next(), parts.next()) else {
            return;
        };
        let Ok(task) = task.parse::<u64>() else {
            return;
        };
        let json_output = parts.next() == Some("json");
        let input = match nested_result(child, json_output) {
            Ok(v) => Input::Succeeded(task, v),
            Err(f) => Input::Failed(task, f),
        };
        self.spawn_step(parent_arn.to_owned(), vec![input]);
    }
}

/// What a call came to.
enum Called {
    /// The task's result.
    Returned(Result<Value, Failure>),
    /// A callback's message or invocation carrying its token was delivered (with the
    /// service's response); the result comes with `SendTask*`.
    Delivered(Value),
    /// The result comes later: a `.sync` nested execution reports when it ends.
    Pending,
}

/// A nested execution's result as `.sync` reports it: the DescribeExecution output (with
/// Input and Output as JSON text, or parsed for `.sync:2`), or a failure.
fn nested_result(child: &Record, json_output: bool) -> Result<Value, Failure> {
    let text = |s: &Option<String>| -> Value {
        match s {
            None => Value::Null,
            Some(t) if json_output => serde_json::from_str(t).unwrap_or(Value::String(t.clone())),
            Some(t) => Value::String(t.clone()),
        }
    };
    let mut out = json!({
        "ExecutionArn": child.arn,
        "Input": text(&Some(child.input.clone())),
        "InputDetails": { "Included": true },
        "Name": child.name,
        "StartDate": child.start_ms,
        "StateMachineArn": child.version_arn.as_deref().unwrap_or(&child.machine_arn),
        "Status": child.status,
        "StopDate": child.stop_ms,
        "RedriveCount": child.redrive_count,
    });
    if child.status == "SUCCEEDED" {
        out["Output"] = text(&child.output);
        out["OutputDetails"] = json!({ "Included": true });
        return Ok(out);
    }
    if let Some(e) = &child.error {
        out["Error"] = json!(e);
    }
    if let Some(c) = &child.cause {
        out["Cause"] = json!(c);
    }
    let error = match child.status.as_str() {
        "TIMED_OUT" => "States.Timeout",
        "ABORTED" => "States.Aborted",
        _ => "States.TaskFailed",
    };
    Err(Failure::new(error, out.to_string()))
}

fn task_row(arn: &str, inv: &Invocation, now: i64) -> Task {
    let kind = if inv.kind == ResourceKind::Activity {
        TaskKind::Activity
    } else if inv.pattern == Pattern::WaitForTaskToken {
        TaskKind::Callback
    } else {
        TaskKind::Dispatch
    };
    Task {
        execution_arn: arn.to_owned(),
        task: inv.task.0,
        kind,
        token: inv.task_token.clone(),
        resource: inv.resource.clone(),
        state: inv.state.clone(),
        invocation: serde_json::to_string(inv).unwrap_or_default(),
        worker: None,
        created_ms: now,
        delivered: false,
    }
}

fn history_row(e: history::HistoryEvent) -> HistoryEvent {
    HistoryEvent {
        id: e.id,
        previous_id: e.previous_event_id,
        timestamp_ms: e.timestamp.unix_millis(),
        kind: e.event_type.as_str().to_owned(),
        details: e.details.to_string(),
    }
}

/// Forgets EXPRESS executions a while after they end.
pub(crate) async fn forget_express(
    engine: WeakEngine,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(tokio::time::Instant, String)>,
) {
    while let Some((deadline, arn)) = rx.recv().await {
        tokio::time::sleep_until(deadline).await;
        let Some(e) = engine.upgrade() else { return };
        let _ = cirrus_store::Executions::delete_execution(&*e.inner.express, &arn).await;
    }
}

#[cfg(test)]
mod tests {
    use cirrus_store::memory::MemoryStore;

    use super::*;
    use crate::{Config, NoTargets};

    /// Threads taking and letting go of holds on one slot at once never leave it behind:
    /// each lets go under the map's lock, so the last one always sees that it is the last.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_last_hold_to_go_forgets_the_slot() {
        let engine = Engine::start(
            Arc::new(MemoryStore::new()),
            Arc::new(NoTargets),
            Config::default(),
        )
        .await
        .expect("engine");
        let arn = "arn:aws:states:us-east-1:000000000000:execution:m:x";
        // More threads than cores, each taking a hold, then letting go at the same moment;
        // then one of them looks whether the slot was left behind.
        const THREADS: usize = 8;
        let together = std::sync::Barrier::new(THREADS);
        let left_behind = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for thread in 0..THREADS {
                let (engine, together, left_behind) = (&engine, &together, &left_behind);
                scope.spawn(move || {
                    for _ in 0..1_000 {
                        let hold = engine.slot(arn);
                        together.wait();
                        drop(hold);
                        together.wait();
                        if thread == 0 && engine.executions_in_memory() != 0 {
                            left_behind.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            lock(&engine.inner.slots).clear();
                        }
                        together.wait();
                    }
                });
            }
        });
        assert_eq!(
            left_behind.into_inner(),
            0,
            "times the slot was left behind"
        );
        assert_eq!(engine.executions_in_memory(), 0);
    }
}
