//! What each state does when a frame enters it, and how results, failures and finished
//! branches move a frame on. Called only from the loop in `mod.rs`.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::history::EventType;
use super::{
    At, Effect, ExecutionState, Invocation, MapStep, Outcome, Scopes, Step, TaskId, Timer, TimerId,
    exceeds, to_json,
};
use crate::context::{self, StateContext};
use crate::definition::{GraphId, StateMachine};
use crate::error::{Failure, names};
use crate::payload::Template;
use crate::retry::{Catcher, Jitter, Retrier};
use crate::states::choice::Test;
use crate::states::task::{Pattern, ResourceKind};
use crate::states::{Amount, PathSpec, ResultSpec, State, StateId, StateKind};
use crate::timestamp::Timestamp;

/// What a frame does after a state.
pub(super) enum Flow {
    /// Enter this state with this input.
    Next(StateId, Value),
    /// Wait for a task, a timer or child frames.
    Block,
    /// The frame's graph is done.
    End(Result<Value, Failure>),
}

/// A state's failure, and whether Retry and Catch may handle it.
struct Failed {
    failure: Failure,
    catchable: bool,
}

impl From<Failure> for Failed {
    fn from(failure: Failure) -> Self {
        Failed {
            failure,
            catchable: true,
        }
    }
}

/// What a JSONata expression of a state sees besides `$states.input`.
#[derive(Clone, Copy)]
enum Data<'a> {
    Input,
    Result(&'a Value),
    ErrorOutput(&'a Value),
}

impl<'a> Data<'a> {
    /// The value JSONPath binds to `$`: the result or error output, else the input.
    fn value(self, input: &'a Value) -> &'a Value {
        match self {
            Data::Input => input,
            Data::Result(v) | Data::ErrorOutput(v) => v,
        }
    }
}

/// Variables assigned by a state, applied when it exits.
type Assignments = Option<Map<String, Value>>;

impl ExecutionState {
    /// Enters `state_id` in frame `fid`.
    pub(super) fn enter(
        &mut self,
        m: &StateMachine,
        fid: u32,
        state_id: StateId,
        input: Value,
        now: Timestamp,
    ) -> Flow {
        let Some(graph) = self.frame(fid).map(|f| f.graph) else {
            return Flow::Block;
        };
        let state = m.graph(graph).state(state_id);
        let entered = self.emit(
            fid,
            now,
            EventType::entered(state.kind.event_prefix()),
            || json!({ "name": state.name, "input": to_json(&input) }),
        );
        let at = At {
            state: state_id,
            input,
            entered,
            entered_time: now,
            retries: Vec::new(),
            retry_count: 0,
        };
        self.attempt(m, fid, graph, at, now)
    }

    /// Runs one attempt of the state `at` in frame `fid`.
    fn attempt(
        &mut self,
        m: &StateMachine,
        fid: u32,
        graph: GraphId,
        at: At,
        now: Timestamp,
    ) -> Flow {
        let state = m.graph(graph).state(at.state);
        let outcome = match &state.kind {
            StateKind::Pass(p) => self.run_pass(fid, state, p, &at),
            StateKind::Choice(c) => self.run_choice(fid, state, c, &at),
            StateKind::Succeed => self
                .effective_input(fid, state, &at)
                .map(Cow::into_owned)
                .and_then(|input| self.output(fid, state, &at, input, Data::Input, None))
                .map(|out| (out, None, None)),
            StateKind::Fail(f) => {
                let ctx = self.context(state, &at, None, None);
                let scopes = Scopes::of(&self.frames, fid);
                let scope = scopes.scope(&at.input, &ctx);
                match f.failure(&state.name, &scope, &mut self.rng) {
                    Ok((error, cause)) => {
                        let failure = Failure {
                            error: error.unwrap_or_default(),
                            cause,
                        };
                        self.failed_at = Some((fid, at.state, at.input.clone()));
                        return Flow::End(Err(failure));
                    }
                    Err(failure) => Err(Failed::from(failure)),
                }
            }
            StateKind::Wait(w) => {
                return match self.run_wait(fid, state, w, &at, now) {
                    Ok((output, Some(until), assign)) => {
                        let timer = self.handle();
                        self.timers.insert(timer, Timer::Resume(fid));
                        self.effects.push(Effect::Sleep {
                            timer: TimerId(timer),
                            until,
                        });
                        self.set_step(
                            fid,
                            Step::Wait {
                                at,
                                output,
                                assign,
                                timer,
                            },
                        );
                        Flow::Block
                    }
                    Ok((output, None, assign)) => self.exit(fid, state, output, assign, now),
                    Err(f) => self.fail(m, fid, graph, at, f, now),
                };
            }
            StateKind::Task(_) => return self.start_task(m, fid, graph, at, now),
            StateKind::Parallel(_) => return self.start_parallel(m, fid, graph, at, now),
            StateKind::Map(_) => return self.start_map(m, fid, graph, at, now),
        };
        match outcome {
            Ok((output, assign, next)) => match next {
                Some(next) => {
                    self.apply(fid, assign);
                    self.emit_exit(fid, state, &output, now);
                    Flow::Next(next, output)
                }
                None => self.exit(fid, state, output, assign, now),
            },
            Err(f) => self.fail(m, fid, graph, at, f, now),
        }
    }

    /// Leaves a state with `output` to its `Next`, or ends the frame.
    fn exit(
        &mut self,
        fid: u32,
        state: &State,
        output: Value,
        assign: Assignments,
        now: Timestamp,
    ) -> Flow {
        self.apply(fid, assign);
        self.emit_exit(fid, state, &output, now);
        match state.next {
            Some(next) => Flow::Next(next, output),
            None => Flow::End(Ok(output)),
        }
    }

    fn emit_exit(&mut self, fid: u32, state: &State, output: &Value, now: Timestamp) {
        if let Some(t) = EventType::exited(state.kind.event_prefix()) {
            self.emit(
                fid,
                now,
                t,
                || json!({ "name": state.name, "output": to_json(output) }),
            );
        }
    }

    /// Stores assignments in the frame's scope.
    fn apply(&mut self, fid: u32, assign: Assignments) {
        if let (Some(vars), Some(frame)) = (assign, self.frame(fid)) {
            for (k, v) in vars {
                frame.vars.insert(k, v);
            }
        }
    }

    /// What the scope's context slot holds: `$$` (JSONPath, built only if the state reads
    /// it) or `$states` (JSONata).
    fn context(
        &self,
        state: &State,
        at: &At,
        token: Option<&str>,
        item: Option<(usize, &Value)>,
    ) -> Value {
        if state.jsonata {
            return self.states(state, at, token, item, Data::Input);
        }
        self.context_object(state, at, token, item)
    }

    /// JSONata's `$states`: `input`, `context`, and `result` or `errorOutput`.
    fn states(
        &self,
        state: &State,
        at: &At,
        token: Option<&str>,
        item: Option<(usize, &Value)>,
        data: Data<'_>,
    ) -> Value {
        let mut states = Map::new();
        states.insert("input".into(), at.input.clone());
        if state.uses_context {
            states.insert(
                "context".into(),
                self.context_object(state, at, token, item),
            );
        }
        match data {
            Data::Input => {}
            Data::Result(v) => {
                states.insert("result".into(), v.clone());
            }
            Data::ErrorOutput(v) => {
                states.insert("errorOutput".into(), v.clone());
            }
        }
        Value::Object(states)
    }

    /// Builds `$$` if the state reads it.
    fn context_object(
        &self,
        state: &State,
        at: &At,
        token: Option<&str>,
        item: Option<(usize, &Value)>,
    ) -> Value {
        if !state.uses_context {
            return Value::Null;
        }
        context::build(
            &self.info,
            &self.input,
            &StateContext {
                name: &state.name,
                entered_time: at.entered_time,
                retry_count: at.retry_count,
                task_token: token,
                map_item: item,
            },
        )
    }

    /// `InputPath` applied to the raw input.
    fn effective_input<'a>(
        &self,
        fid: u32,
        state: &State,
        at: &'a At,
    ) -> Result<Cow<'a, Value>, Failed> {
        match &state.input_path {
            PathSpec::Whole => Ok(Cow::Borrowed(&at.input)),
            PathSpec::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
            PathSpec::Path(p) => {
                let ctx = self.context(state, at, None, None);
                let scopes = Scopes::of(&self.frames, fid);
                let scope = scopes.scope(&at.input, &ctx);
                match p.eval(&scope) {
                    Ok(v) => Ok(Cow::Owned(v.into_owned())),
                    Err(e) => {
                        Err(Failure::runtime(format!("Invalid path '{}' : {e}", p.text())).into())
                    }
                }
            }
        }
    }

    /// Evaluates `Assign`: in JSONPath with `$` bound to `value`; in JSONata with `value` as
    /// `$states.result` or `$states.errorOutput` as `data` says.
    fn assignments(
        &mut self,
        fid: u32,
        state: &State,
        at: &At,
        data: Data<'_>,
        assign: Option<&Template>,
    ) -> Result<Assignments, Failed> {
        let Some(t) = assign else { return Ok(None) };
        let (input, ctx) = if state.jsonata {
            (&at.input, self.states(state, at, None, None, data))
        } else {
            (data.value(&at.input), self.context(state, at, None, None))
        };
        let scopes = Scopes::of(&self.frames, fid);
        let scope = scopes.scope(input, &ctx);
        let Value::Object(vars) = t.eval(&scope, &mut self.rng)? else {
            return Ok(None);
        };
        // A scope may read its ancestors' variables but not assign them.
        if let Some(parent) = self
            .frames
            .get(fid as usize)
            .and_then(Option::as_ref)
            .and_then(|f| f.parent)
        {
            let outer = Scopes {
                frames: &self.frames,
                start: parent.0,
            };
            if let Some(name) = vars
                .keys()
                .find(|k| crate::path::Variables::get(&outer, k).is_some())
            {
                return Err(Failure::runtime(format!(
                    "Cannot assign the variable '{name}': it belongs to an outer scope, which a Parallel branch or Map iteration can read but not assign"
                ))
                .into());
            }
        }
        Ok(Some(vars))
    }

    /// The state output: JSONPath's `OutputPath` applied to `value`, or JSONata's `Output`
    /// (`template`, else the state's own; `value` when there is none), size-checked.
    fn output(
        &mut self,
        fid: u32,
        state: &State,
        at: &At,
        value: Value,
        data: Data<'_>,
        template: Option<&Template>,
    ) -> Result<Value, Failed> {
        if state.jsonata {
            let out = match template.or(state.output.as_ref()) {
                None => value,
                Some(t) => {
                    let ctx = self.states(state, at, None, None, data);
                    let scopes = Scopes::of(&self.frames, fid);
                    let scope = scopes.scope(&at.input, &ctx);
                    t.eval(&scope, &mut self.rng)?
                }
            };
            self.check_size(state, &out)?;
            return Ok(out);
        }
        let out = match &state.output_path {
            PathSpec::Whole => value,
            PathSpec::Null => Value::Object(Map::new()),
            PathSpec::Path(p) => {
                let ctx = self.context(state, at, None, None);
                let scopes = Scopes::of(&self.frames, fid);
                let scope = scopes.scope(&value, &ctx);
                match p.eval(&scope) {
                    Ok(v) => v.into_owned(),
                    Err(e) => {
                        return Err(
                            Failure::runtime(format!("Invalid path '{}' : {e}", p.text())).into(),
                        );
                    }
                }
            }
        };
        self.check_size(state, &out)?;
        Ok(out)
    }

    fn check_size(&self, state: &State, value: &Value) -> Result<(), Failed> {
        if exceeds(value, self.options.max_payload_bytes) {
            return Err(Failed {
                failure: Failure::new(
                    names::DATA_LIMIT_EXCEEDED,
                    format!(
                        "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                        state.name
                    ),
                ),
                catchable: false,
            });
        }
        Ok(())
    }

    /// Places `result` in the raw input by `ResultPath`.
    fn place(result_path: &ResultSpec, input: &Value, result: Value) -> Result<Value, Failed> {
        match result_path {
            ResultSpec::Whole => Ok(result),
            ResultSpec::Discard => Ok(input.clone()),
            ResultSpec::Path(p) => p.apply(input.clone(), result).map_err(|e| match e {
                // Documented by AWS: the ResultPath cannot be applied to this input.
                crate::path::PathError::ResultPathMatch { .. } => {
                    Failure::new(names::RESULT_PATH_MATCH_FAILURE, e.to_string()).into()
                }
                other => Failure::runtime(format!("Invalid path '{}' : {other}", p.text())).into(),
            }),
        }
    }

    fn run_pass(
        &mut self,
        fid: u32,
        state: &State,
        p: &crate::states::pass::Pass,
        at: &At,
    ) -> Result<(Value, Assignments, Option<StateId>), Failed> {
        let effective = self.effective_input(fid, state, at)?;
        let result = match (&p.parameters, &p.result) {
            (Some(t), _) => {
                let ctx = self.context(state, at, None, None);
                let scopes = Scopes::of(&self.frames, fid);
                let scope = scopes.scope(&effective, &ctx);
                let v = t.eval(&scope, &mut self.rng);
                v?
            }
            (None, Some(r)) => r.clone(),
            (None, None) => effective.into_owned(),
        };
        let assign =
            self.assignments(fid, state, at, Data::Result(&result), state.assign.as_ref())?;
        let merged = match &p.result_path {
            ResultSpec::Whole => result,
            other => Self::place(other, &at.input, result)?,
        };
        let out = self.output(fid, state, at, merged, Data::Input, None)?;
        Ok((out, assign, None))
    }

    fn run_choice(
        &mut self,
        fid: u32,
        state: &State,
        c: &crate::states::choice::Choice,
        at: &At,
    ) -> Result<(Value, Assignments, Option<StateId>), Failed> {
        let effective = self.effective_input(fid, state, at)?.into_owned();
        let ctx = self.context(state, at, None, None);
        let mut chosen = None;
        {
            let scopes = Scopes::of(&self.frames, fid);
            let scope = scopes.scope(&effective, &ctx);
            for rule in &c.rules {
                let holds = match &rule.test {
                    Test::Path(condition) => condition.eval(&scope)?,
                    Test::Jsonata(t) => match t.eval(&scope, &mut self.rng)? {
                        Value::Bool(b) => b,
                        other => {
                            return Err(Failure::new(
                                names::QUERY_EVALUATION_ERROR,
                                format!("The Condition of a Choice rule must evaluate to a boolean, but was: {other}"),
                            )
                            .into());
                        }
                    },
                };
                if holds {
                    chosen = Some(rule);
                    break;
                }
            }
        }
        let (next, assign, output) = match chosen {
            Some(rule) => (rule.next, rule.assign.as_ref(), rule.output.as_ref()),
            None => match c.default {
                Some(d) => (d, state.assign.as_ref(), None),
                None => {
                    return Err(Failure::new(
                        names::NO_CHOICE_MATCHED,
                        format!("No Choice Rules matched, and no default state was specified in the Choice State '{}'", state.name),
                    )
                    .into())
                }
            },
        };
        let assign = self.assignments(fid, state, at, Data::Input, assign)?;
        let out = self.output(fid, state, at, effective, Data::Input, output)?;
        Ok((out, assign, Some(next)))
    }

    /// Evaluates a Wait state: the output, the assignments and when to wake (`None` when
    /// the time has already come).
    fn run_wait(
        &mut self,
        fid: u32,
        state: &State,
        w: &crate::states::wait::Wait,
        at: &At,
        now: Timestamp,
    ) -> Result<(Value, Option<Timestamp>, Assignments), Failed> {
        let effective = self.effective_input(fid, state, at)?.into_owned();
        let until = {
            let ctx = self.context(state, at, None, None);
            let scopes = Scopes::of(&self.frames, fid);
            let scope = scopes.scope(&effective, &ctx);
            w.until(now, &scope, &mut self.rng)?
        };
        let assign = self.assignments(fid, state, at, Data::Input, state.assign.as_ref())?;
        let out = self.output(fid, state, at, effective, Data::Input, None)?;
        Ok((out, (until > now).then_some(until), assign))
    }

    /// Resolves a literal or path amount (timeouts, heartbeats).
    fn amount(
        &mut self,
        fid: u32,
        state: &State,
        at: &At,
        input: &Value,
        amount: &Amount,
        field: &str,
    ) -> Result<u64, Failed> {
        match amount {
            Amount::Fixed(n) => Ok(*n),
            Amount::Expr(t) => {
                let ctx = self.context(state, at, None, None);
                let scopes = Scopes::of(&self.frames, fid);
                let scope = scopes.scope(input, &ctx);
                match t.eval(&scope, &mut self.rng)? {
                    Value::Number(n) if n.as_u64().is_some_and(|x| x > 0) => {
                        Ok(n.as_u64().unwrap_or(1))
                    }
                    other => Err(Failure::new(
                        names::QUERY_EVALUATION_ERROR,
                        format!(
                            "The {} field must be a positive integer, but was: {other}",
                            field.trim_end_matches("Path")
                        ),
                    )
                    .into()),
                }
            }
            Amount::Path(p) => {
                let ctx = self.context(state, at, None, None);
                let scopes = Scopes::of(&self.frames, fid);
                let scope = scopes.scope(input, &ctx);
                let v = p.eval(&scope).map_err(|e| {
                    Failed::from(Failure::runtime(format!(
                        "Invalid path '{}' : {e}",
                        p.text()
                    )))
                })?;
                match v.as_ref() {
                    Value::Number(n) if n.as_u64().is_some_and(|x| x > 0) => Ok(n.as_u64().unwrap_or(1)),
                    other => Err(Failure::runtime(format!(
                        "The {field} field refers to value \"{other}\" which is not a valid positive integer: {}",
                        p.text()
                    ))
                    .into()),
                }
            }
        }
    }

    fn start_task(
        &mut self,
        m: &StateMachine,
        fid: u32,
        graph: GraphId,
        at: At,
        now: Timestamp,
    ) -> Flow {
        let state = m.graph(graph).state(at.state);
        let StateKind::Task(t) = &state.kind else {
            return Flow::Block;
        };
        let token = (t.pattern == Pattern::WaitForTaskToken || t.kind == ResourceKind::Activity)
            .then(|| self.rng.uuid_v4());
        let prepared = (|| -> Result<_, Failed> {
            let effective = self.effective_input(fid, state, &at)?.into_owned();
            let ctx = self.context(state, &at, token.as_deref(), None);
            let payload = match &t.parameters {
                Some(p) => {
                    let scopes = Scopes::of(&self.frames, fid);
                    let scope = scopes.scope(&effective, &ctx);

                    p.eval(&scope, &mut self.rng)?
                }
                None => effective.clone(),
            };
            let credentials = match &t.credentials {
                Some(c) => {
                    let scopes = Scopes::of(&self.frames, fid);
                    let scope = scopes.scope(&effective, &ctx);
                    let v = c.eval(&scope, &mut self.rng)?;
                    Some(v)
                }
                None => None,
            };
            let timeout = t
                .timeout
                .as_ref()
                .map(|a| self.amount(fid, state, &at, &effective, a, "TimeoutSecondsPath"))
                .transpose()?;
            let heartbeat = t
                .heartbeat
                .as_ref()
                .map(|a| self.amount(fid, state, &at, &effective, a, "HeartbeatSecondsPath"))
                .transpose()?;
            self.check_size(state, &payload)?;
            Ok((payload, credentials, timeout, heartbeat))
        })();
        let (payload, credentials, timeout, heartbeat) = match prepared {
            Ok(p) => p,
            Err(f) => return self.fail(m, fid, graph, at, f, now),
        };
        let (scheduled, started) = match t.kind {
            ResourceKind::LambdaFunction => (
                EventType::LambdaFunctionScheduled,
                EventType::LambdaFunctionStarted,
            ),
            ResourceKind::Activity => (EventType::ActivityScheduled, EventType::ActivityStarted),
            ResourceKind::Service => (EventType::TaskScheduled, EventType::TaskStarted),
        };
        self.emit(fid, now, scheduled, || {
            json!({ "resource": t.resource, "parameters": to_json(&payload), "timeoutInSeconds": timeout, "heartbeatInSeconds": heartbeat })
        });
        // An activity starts when a worker takes it (`Execution::task_started`).
        if t.kind != ResourceKind::Activity {
            self.emit(fid, now, started, || json!({ "resource": t.resource }));
        }
        let task = self.handle();
        self.tasks.insert(task, fid);
        let timeout_timer = timeout.map(|secs| {
            let timer = self.handle();
            self.timers.insert(timer, Timer::TaskTimeout(task));
            self.effects.push(Effect::Sleep {
                timer: TimerId(timer),
                until: now.saturating_add_seconds(secs as i64),
            });
            timer
        });
        let heartbeat_timer = heartbeat.map(|secs| {
            let timer = self.handle();
            self.timers.insert(timer, Timer::HeartbeatTimeout(task));
            self.effects.push(Effect::Sleep {
                timer: TimerId(timer),
                until: now.saturating_add_seconds(secs as i64),
            });
            (timer, secs)
        });
        self.effects.push(Effect::Invoke(Invocation {
            task: TaskId(task),
            state: state.name.clone(),
            resource: t.resource.clone(),
            kind: t.kind,
            pattern: t.pattern,
            payload,
            timeout_seconds: timeout,
            heartbeat_seconds: heartbeat,
            task_token: token,
            attempt: at.retry_count,
            credentials,
        }));
        self.set_step(
            fid,
            Step::Task {
                at,
                task,
                timeout: timeout_timer,
                heartbeat: heartbeat_timer,
            },
        );
        Flow::Block
    }

    pub(super) fn on_started(&mut self, task: u64, worker: &str, now: Timestamp) {
        let Some(&fid) = self.tasks.get(&task) else {
            return;
        };
        self.emit(
            fid,
            now,
            EventType::ActivityStarted,
            || json!({ "workerName": worker }),
        );
    }

    pub(super) fn on_submitted(
        &mut self,
        m: &StateMachine,
        task: u64,
        response: &Value,
        now: Timestamp,
    ) {
        let Some(&fid) = self.tasks.get(&task) else {
            return;
        };
        let Some(frame) = self.frames.get(fid as usize).and_then(Option::as_ref) else {
            return;
        };
        let Step::Task {
            at, task: waiting, ..
        } = &frame.step
        else {
            return;
        };
        if *waiting != task {
            return;
        }
        let StateKind::Task(t) = &m.graph(frame.graph).state(at.state).kind else {
            return;
        };
        let resource = t.resource.clone();
        self.emit(
            fid,
            now,
            EventType::TaskSubmitted,
            || json!({ "resource": resource, "output": to_json(response) }),
        );
    }

    pub(super) fn on_heartbeat(&mut self, task: u64, now: Timestamp) {
        let Some(&fid) = self.tasks.get(&task) else {
            return;
        };
        let Some(frame) = self.frame(fid) else { return };
        let Step::Task {
            heartbeat: Some((old, secs)),
            ..
        } = &mut frame.step
        else {
            return;
        };
        let secs = *secs;
        let old = std::mem::replace(old, 0);
        self.timers.remove(&old);
        self.effects.push(Effect::CancelTimer(TimerId(old)));
        let timer = self.handle();
        self.timers.insert(timer, Timer::HeartbeatTimeout(task));
        self.effects.push(Effect::Sleep {
            timer: TimerId(timer),
            until: now.saturating_add_seconds(secs as i64),
        });
        if let Some(Step::Task {
            heartbeat: Some((t, _)),
            ..
        }) = self.frame(fid).map(|f| &mut f.step)
        {
            *t = timer;
        }
    }

    pub(super) fn on_task_result(
        &mut self,
        m: &StateMachine,
        fid: u32,
        task: u64,
        result: Result<Value, Failure>,
        now: Timestamp,
    ) {
        let Step::Task {
            at,
            task: expected,
            timeout,
            heartbeat,
        } = self.take_step(fid)
        else {
            return;
        };
        if expected != task {
            return;
        }
        for timer in timeout.into_iter().chain(heartbeat.map(|(t, _)| t)) {
            if self.timers.remove(&timer).is_some() {
                self.effects.push(Effect::CancelTimer(TimerId(timer)));
            }
        }
        let Some(graph) = self.frame(fid).map(|f| f.graph) else {
            return;
        };
        let state = m.graph(graph).state(at.state);
        let StateKind::Task(t) = &state.kind else {
            return;
        };
        let flow = match result {
            Ok(output) => {
                if exceeds(&output, self.options.max_payload_bytes) {
                    let name = if t.kind == ResourceKind::Service {
                        service_name(&t.resource)
                    } else {
                        t.resource.as_str()
                    };
                    let failure = Failure::new(
                        names::DATA_LIMIT_EXCEEDED,
                        format!(
                            "The state/task '{name}' returned a result with a size exceeding the maximum number of bytes service limit."
                        ),
                    );
                    self.emit_task_end(fid, t.kind, false, &failure, now);
                    self.fail(m, fid, graph, at, failure.into(), now)
                } else {
                    let succeeded = match t.kind {
                        ResourceKind::LambdaFunction => EventType::LambdaFunctionSucceeded,
                        ResourceKind::Activity => EventType::ActivitySucceeded,
                        ResourceKind::Service => EventType::TaskSucceeded,
                    };
                    self.emit(
                        fid,
                        now,
                        succeeded,
                        || json!({ "resource": t.resource, "output": to_json(&output) }),
                    );
                    self.complete(m, fid, graph, at, output, now)
                }
            }
            Err(failure) => {
                let timed_out =
                    failure.error == names::TIMEOUT || failure.error == names::HEARTBEAT_TIMEOUT;
                self.emit_task_end(fid, t.kind, timed_out, &failure, now);
                self.fail(m, fid, graph, at, failure.into(), now)
            }
        };
        self.continue_frame(m, fid, flow, now);
    }

    fn emit_task_end(
        &mut self,
        fid: u32,
        kind: ResourceKind,
        timed_out: bool,
        failure: &Failure,
        now: Timestamp,
    ) {
        let t = match (kind, timed_out) {
            (ResourceKind::LambdaFunction, false) => EventType::LambdaFunctionFailed,
            (ResourceKind::LambdaFunction, true) => EventType::LambdaFunctionTimedOut,
            (ResourceKind::Activity, false) => EventType::ActivityFailed,
            (ResourceKind::Activity, true) => EventType::ActivityTimedOut,
            (ResourceKind::Service, false) => EventType::TaskFailed,
            (ResourceKind::Service, true) => EventType::TaskTimedOut,
        };
        self.emit(
            fid,
            now,
            t,
            || json!({ "error": failure.error, "cause": failure.cause }),
        );
    }

    /// A timer of frame `fid` fired: a Wait state ends, or a retry starts.
    pub(super) fn on_resume(&mut self, m: &StateMachine, fid: u32, timer: u64, now: Timestamp) {
        let Some(graph) = self.frame(fid).map(|f| f.graph) else {
            return;
        };
        let flow = match self.take_step(fid) {
            Step::Wait {
                at,
                output,
                assign,
                timer: t,
            } if t == timer => {
                let state = m.graph(graph).state(at.state);
                self.exit(fid, state, output, assign, now)
            }
            Step::Retry { at, timer: t } if t == timer => self.attempt(m, fid, graph, at, now),
            other => {
                self.set_step(fid, other);
                return;
            }
        };
        self.continue_frame(m, fid, flow, now);
    }

    /// Moves frame `fid` on after something outside the run loop (a result, a timer, a
    /// child) decided its flow.
    pub(super) fn continue_frame(
        &mut self,
        m: &StateMachine,
        fid: u32,
        flow: Flow,
        now: Timestamp,
    ) {
        match flow {
            Flow::Next(state, input) => {
                self.set_step(fid, Step::Enter { state, input });
                self.ready.push_back(fid);
            }
            Flow::Block => {}
            Flow::End(result) => self.finish_frame(m, fid, result, now),
        }
    }

    /// A Task, Parallel or Map produced `result`: `Assign`, `ResultSelector`, `ResultPath`,
    /// `OutputPath`, then on.
    fn complete(
        &mut self,
        m: &StateMachine,
        fid: u32,
        graph: GraphId,
        at: At,
        result: Value,
        now: Timestamp,
    ) -> Flow {
        let state = m.graph(graph).state(at.state);
        let (selector, result_path) = match &state.kind {
            StateKind::Task(t) => (t.result_selector.as_ref(), &t.result_path),
            StateKind::Parallel(p) => (p.result_selector.as_ref(), &p.result_path),
            StateKind::Map(mp) => (mp.result_selector.as_ref(), &mp.result_path),
            _ => return Flow::Block,
        };
        let processed = (|| -> Result<_, Failed> {
            let assign = self.assignments(
                fid,
                state,
                &at,
                Data::Result(&result),
                state.assign.as_ref(),
            )?;
            let selected = match selector {
                Some(t) => {
                    let ctx = self.context(state, &at, None, None);
                    let scopes = Scopes::of(&self.frames, fid);
                    let scope = scopes.scope(&result, &ctx);

                    t.eval(&scope, &mut self.rng)?
                }
                None => result,
            };
            let merged = Self::place(result_path, &at.input, selected)?;
            let out = self.output(fid, state, &at, merged.clone(), Data::Result(&merged), None)?;
            Ok((out, assign))
        })();
        match processed {
            Ok((out, assign)) => self.exit(fid, state, out, assign, now),
            Err(f) => self.fail(m, fid, graph, at, f, now),
        }
    }

    /// The state `at` failed: retry it, catch the error, or end the frame with it.
    fn fail(
        &mut self,
        m: &StateMachine,
        fid: u32,
        graph: GraphId,
        mut at: At,
        failed: Failed,
        now: Timestamp,
    ) -> Flow {
        let state = m.graph(graph).state(at.state);
        let Failed {
            mut failure,
            catchable,
        } = failed;
        if (failure.error == names::RUNTIME || failure.error == names::QUERY_EVALUATION_ERROR)
            && let Some(cause) = &failure.cause
        {
            failure.cause = Some(format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). {cause}",
                state.name, at.entered
            ));
        }
        let (retry, catch): (&[Retrier], &[Catcher]) = match &state.kind {
            StateKind::Task(t) => (&t.retry, &t.catch),
            StateKind::Parallel(p) => (&p.retry, &p.catch),
            StateKind::Map(mp) => (&mp.retry, &mp.catch),
            _ => (&[], &[]),
        };
        if !catchable {
            self.failed_at = Some((fid, at.state, at.input.clone()));
            return Flow::End(Err(failure));
        }
        if let Some((i, r)) = retry
            .iter()
            .enumerate()
            .find(|(_, r)| r.error_equals.matches(&failure.error))
        {
            if at.retries.len() < retry.len() {
                at.retries.resize(retry.len(), 0);
            }
            let used = at.retries[i];
            if u64::from(used) < r.max_attempts {
                let mut delay = r.delay_millis(u64::from(used));
                if r.jitter == Jitter::Full {
                    delay = (self.rng.next_f64() * delay as f64) as u64;
                }
                at.retries[i] = used + 1;
                at.retry_count += 1;
                let timer = self.handle();
                self.timers.insert(timer, Timer::Resume(fid));
                self.effects.push(Effect::Sleep {
                    timer: TimerId(timer),
                    until: now.checked_add_millis(delay as i64).unwrap_or(now),
                });
                self.set_step(fid, Step::Retry { at, timer });
                return Flow::Block;
            }
        }
        if let Some(c) = catch
            .iter()
            .find(|c| c.error_equals.matches(&failure.error))
        {
            let error_output = json!({ "Error": failure.error, "Cause": failure.cause.clone().unwrap_or_default() });
            let caught = (|| -> Result<_, Failed> {
                let assign = self.assignments(
                    fid,
                    state,
                    &at,
                    Data::ErrorOutput(&error_output),
                    c.assign.as_ref(),
                )?;
                let out = if state.jsonata {
                    match &c.output {
                        Some(t) => {
                            let ctx = self.states(
                                state,
                                &at,
                                None,
                                None,
                                Data::ErrorOutput(&error_output),
                            );
                            let scopes = Scopes::of(&self.frames, fid);
                            let scope = scopes.scope(&at.input, &ctx);
                            t.eval(&scope, &mut self.rng)?
                        }
                        None => error_output,
                    }
                } else {
                    Self::place(&c.result_path, &at.input, error_output)?
                };
                self.check_size(state, &out)?;
                Ok((out, assign))
            })();
            return match caught {
                Ok((out, assign)) => {
                    self.apply(fid, assign);
                    self.emit_exit(fid, state, &out, now);
                    Flow::Next(c.next, out)
                }
                Err(f) => {
                    self.failed_at = Some((fid, at.state, at.input.clone()));
                    Flow::End(Err(f.failure))
                }
            };
        }
        self.failed_at = Some((fid, at.state, at.input));
        Flow::End(Err(failure))
    }

    fn start_parallel(
        &mut self,
        m: &StateMachine,
        fid: u32,
        graph: GraphId,
        at: At,
        now: Timestamp,
    ) -> Flow {
        let state = m.graph(graph).state(at.state);
        let StateKind::Parallel(p) = &state.kind else {
            return Flow::Block;
        };
        let input = (|| -> Result<Value, Failed> {
            let effective = self.effective_input(fid, state, &at)?.into_owned();
            match &p.parameters {
                Some(t) => {
                    let ctx = self.context(state, &at, None, None);
                    let scopes = Scopes::of(&self.frames, fid);
                    let scope = scopes.scope(&effective, &ctx);
                    let v = t.eval(&scope, &mut self.rng)?;
                    Ok(v)
                }
                None => Ok(effective),
            }
        })();
        let input = match input {
            Ok(v) => v,
            Err(f) => return self.fail(m, fid, graph, at, f, now),
        };
        let started = self.emit(fid, now, EventType::ParallelStateStarted, || json!({}));
        let n = p.branches.len();
        for (i, &branch) in p.branches.iter().enumerate() {
            let child = self.new_frame(branch, Some((fid, i as u32)), started);
            let start = m.graph(branch).start_at;
            self.set_step(
                child,
                Step::Enter {
                    state: start,
                    input: input.clone(),
                },
            );
            self.ready.push_back(child);
        }
        self.set_step(
            fid,
            Step::Parallel {
                at,
                results: vec![Value::Null; n],
                pending: n as u32,
            },
        );
        if n == 0 {
            let Step::Parallel { at, .. } = self.take_step(fid) else {
                return Flow::Block;
            };
            return self.complete(m, fid, graph, at, Value::Array(Vec::new()), now);
        }
        Flow::Block
    }

    fn start_map(
        &mut self,
        m: &StateMachine,
        fid: u32,
        graph: GraphId,
        at: At,
        now: Timestamp,
    ) -> Flow {
        let state = m.graph(graph).state(at.state);
        let StateKind::Map(mp) = &state.kind else {
            return Flow::Block;
        };
        let prepared = (|| -> Result<_, Failed> {
            let effective = self.effective_input(fid, state, &at)?.into_owned();
            let ctx = self.context(state, &at, None, None);
            let scopes = Scopes::of(&self.frames, fid);
            let scope = scopes.scope(&effective, &ctx);
            let mut rng = self.rng.clone();
            let items = match (&mp.items_path, &mp.items) {
                (Some(p), _) => p.eval(&scope).map_err(|e| {
                    Failed::from(Failure::runtime(format!(
                        "Invalid path '{}' : {e}",
                        p.text()
                    )))
                })?,
                (None, Some(t)) => Cow::Owned(t.eval(&scope, &mut rng)?),
                (None, None) => Cow::Borrowed(&effective),
            };
            let Value::Array(items) = items.as_ref() else {
                return Err(not_an_array(mp, items.as_ref(), state.jsonata).into());
            };
            let max = mp.resolve_max_concurrency(&scope, &mut rng)?;
            let tolerance = mp.resolve_tolerance(&scope, &mut rng, items.len())?;
            let mut inputs = VecDeque::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                inputs.push_back(match &mp.item_selector {
                    Some(t) => {
                        let ctx = self.context(state, &at, None, Some((i, item)));
                        t.eval(&scopes.scope(&effective, &ctx), &mut rng)?
                    }
                    None => item.clone(),
                });
            }
            self.rng = rng;
            Ok((inputs, max, tolerance))
        })();
        let (waiting, max, tolerance) = match prepared {
            Ok(p) => p,
            Err(f) => return self.fail(m, fid, graph, at, f, now),
        };
        self.emit(
            fid,
            now,
            EventType::MapStateStarted,
            || json!({ "length": waiting.len() }),
        );
        let total = waiting.len();
        let step = MapStep {
            at,
            waiting,
            next_index: 0,
            running: 0,
            max_concurrency: max,
            results: vec![Value::Null; total],
            done: 0,
            failures: 0,
            tolerance,
        };
        if total == 0 {
            self.emit(fid, now, EventType::MapStateSucceeded, || json!({}));
            return self.complete(m, fid, graph, step.at, Value::Array(Vec::new()), now);
        }
        self.set_step(fid, Step::Map(Box::new(step)));
        self.start_iterations(m, fid, mp.processor, now);
        Flow::Block
    }

    /// Starts as many waiting iterations as `MaxConcurrency` allows.
    fn start_iterations(&mut self, m: &StateMachine, fid: u32, processor: GraphId, now: Timestamp) {
        loop {
            let Some(Step::Map(ms)) = self.frame(fid).map(|f| &mut f.step) else {
                return;
            };
            if ms.max_concurrency != 0 && ms.running >= ms.max_concurrency {
                return;
            }
            let Some(input) = ms.waiting.pop_front() else {
                return;
            };
            let index = ms.next_index;
            ms.next_index += 1;
            ms.running += 1;
            let started = self.emit(
                fid,
                now,
                EventType::MapIterationStarted,
                || json!({ "index": index }),
            );
            let child = self.new_frame(processor, Some((fid, index)), started);
            self.set_step(
                child,
                Step::Enter {
                    state: m.graph(processor).start_at,
                    input,
                },
            );
            self.ready.push_back(child);
        }
    }

    /// Frame `fid` reached the end of its graph with `result`.
    pub(super) fn finish_frame(
        &mut self,
        m: &StateMachine,
        fid: u32,
        result: Result<Value, Failure>,
        now: Timestamp,
    ) {
        let Some(frame) = self.frames.get_mut(fid as usize).and_then(Option::take) else {
            return;
        };
        self.free.push(fid);
        let Some((pid, index)) = frame.parent else {
            match result {
                Ok(output) => {
                    self.emit_raw(
                        frame.prev_event,
                        now,
                        EventType::ExecutionSucceeded,
                        || json!({ "output": to_json(&output) }),
                    );
                    self.conclude(Outcome::Succeeded(output));
                }
                Err(f) => {
                    if let Some((failed, state, input)) = self.failed_at.take()
                        && failed == fid
                    {
                        self.redrive = Some(super::RedrivePoint {
                            state,
                            input,
                            vars: frame.vars.clone(),
                        });
                    }
                    self.emit_raw(
                        frame.prev_event,
                        now,
                        EventType::ExecutionFailed,
                        || json!({ "error": f.error, "cause": f.cause }),
                    );
                    let error = (!f.error.is_empty()).then_some(f.error);
                    self.conclude(Outcome::Failed {
                        error,
                        cause: f.cause,
                    });
                }
            }
            return;
        };
        let Some(parent_graph) = self.frame(pid).map(|f| f.graph) else {
            return;
        };
        let flow = match self.take_step(pid) {
            Step::Parallel {
                at,
                mut results,
                pending,
            } => match result {
                Ok(v) => {
                    if let Some(slot) = results.get_mut(index as usize) {
                        *slot = v;
                    }
                    let pending = pending.saturating_sub(1);
                    if pending > 0 {
                        self.set_step(
                            pid,
                            Step::Parallel {
                                at,
                                results,
                                pending,
                            },
                        );
                        return;
                    }
                    self.emit(pid, now, EventType::ParallelStateSucceeded, || json!({}));
                    self.complete(m, pid, parent_graph, at, Value::Array(results), now)
                }
                Err(f) => {
                    self.cancel_children(pid);
                    self.emit(
                        pid,
                        now,
                        EventType::ParallelStateFailed,
                        || json!({ "error": f.error, "cause": f.cause }),
                    );
                    self.fail(
                        m,
                        pid,
                        parent_graph,
                        at,
                        Failed {
                            failure: f,
                            catchable: true,
                        },
                        now,
                    )
                }
            },
            Step::Map(mut ms) => {
                ms.running = ms.running.saturating_sub(1);
                ms.done += 1;
                match result {
                    Ok(v) => {
                        self.emit(
                            pid,
                            now,
                            EventType::MapIterationSucceeded,
                            || json!({ "index": index }),
                        );
                        if let Some(slot) = ms.results.get_mut(index as usize) {
                            *slot = v;
                        }
                    }
                    Err(f) => {
                        self.emit(
                            pid,
                            now,
                            EventType::MapIterationFailed,
                            || json!({ "index": index }),
                        );
                        ms.failures += 1;
                        let tolerated = ms.tolerance.is_some_and(|t| ms.failures <= t);
                        if !tolerated {
                            self.cancel_children(pid);
                            self.emit(pid, now, EventType::MapStateFailed, || json!({}));
                            let failure = if ms.tolerance.is_some() {
                                Failure::new(
                                    names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                    "The specified tolerated failure threshold was exceeded",
                                )
                            } else {
                                f
                            };
                            let flow = self.fail(m, pid, parent_graph, ms.at, failure.into(), now);
                            self.continue_frame(m, pid, flow, now);
                            return;
                        }
                        if let Some(slot) = ms.results.get_mut(index as usize) {
                            *slot =
                                json!({ "Error": f.error, "Cause": f.cause.unwrap_or_default() });
                        }
                    }
                }
                if ms.done < ms.results.len() {
                    let StateKind::Map(mp) = &m.graph(parent_graph).state(ms.at.state).kind else {
                        return;
                    };
                    let processor = mp.processor;
                    self.set_step(pid, Step::Map(ms));
                    self.start_iterations(m, pid, processor, now);
                    return;
                }
                self.emit(pid, now, EventType::MapStateSucceeded, || json!({}));
                let MapStep { at, results, .. } = *ms;
                self.complete(m, pid, parent_graph, at, Value::Array(results), now)
            }
            other => {
                self.set_step(pid, other);
                return;
            }
        };
        self.continue_frame(m, pid, flow, now);
    }
}

/// `lambda` for `arn:aws:states:::lambda:invoke`.
fn service_name(resource: &str) -> &str {
    resource.split(':').nth(5).unwrap_or(resource)
}

/// Why a Map cannot iterate over `items`, as Step Functions words it per query language.
fn not_an_array(mp: &crate::states::map::Map, items: &Value, jsonata: bool) -> Failure {
    if !jsonata {
        let path = mp.items_path.as_ref().map_or("$", |p| p.text());
        return Failure::runtime(format!("Reference path \"{path}\" must point to array."));
    }
    let shown = serde_json::to_string(items).unwrap_or_default();
    match &mp.items {
        Some(Template::Jsonata { expr, .. }) => {
            let kind = match items {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            Failure::new(
                names::QUERY_EVALUATION_ERROR,
                format!(
                    "The JSONata expression '{}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '{kind}' for value: {shown}",
                    expr.text()
                ),
            )
        }
        _ => Failure::new(
            names::QUERY_EVALUATION_ERROR,
            format!("Map state input must be an array but was: {shown}"),
        ),
    }
}
