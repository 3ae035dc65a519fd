//! The in-memory backend: the model the other backends are tested against, the store of
//! fast engine tests, and where EXPRESS executions live. Nothing survives the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::*;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// The event system's records ([`crate::memory_events`]).
    pub(crate) events: Mutex<crate::memory_events::EventState>,
}

#[derive(Default)]
struct Inner {
    machines: BTreeMap<String, Machine>,
    versions: BTreeMap<String, Version>,
    aliases: BTreeMap<String, Alias>,
    activities: BTreeMap<String, Activity>,
    definitions: HashMap<String, String>,
    executions: HashMap<String, Execution>,
    checkpoints: HashMap<String, Vec<u8>>,
    history: HashMap<String, Vec<HistoryEvent>>,
    timers: BTreeSet<(i64, String, u64)>,
    timer_due: HashMap<(String, u64), i64>,
    tasks: BTreeMap<(String, u64), Task>,
    tokens: HashMap<String, (String, u64)>,
    events: Vec<Event>,
    next_seq: u64,
    functions: BTreeMap<String, Function>,
    function_versions: BTreeMap<(String, u64), FunctionVersion>,
    function_aliases: BTreeMap<(String, String), FunctionAlias>,
    code: HashMap<String, Vec<u8>>,
    routes: BTreeMap<String, Route>,
    invocations: HashMap<String, QueuedInvocation>,
    /// `(due_ms, id)` of every queued invocation.
    invocations_due: BTreeSet<(i64, String)>,
    dead_letters: HashMap<String, DeadLetter>,
    /// `(failed_ms, id)` of every dead letter; listed from the end.
    dead_letters_by_time: BTreeSet<(i64, String)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every write validates
        // before it changes anything), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn page<T: Clone>(map: &BTreeMap<String, T>, page: Page<'_>) -> Vec<T> {
    let limit = if page.limit == 0 {
        usize::MAX
    } else {
        page.limit
    };
    match page.after {
        Some(after) => map
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .map(|(_, v)| v.clone())
            .take(limit)
            .collect(),
        None => map.values().take(limit).cloned().collect(),
    }
}

#[async_trait]
impl Machines for MemoryStore {
    async fn create_machine(&self, machine: &Machine) -> Result<()> {
        let mut g = self.lock();
        if g.machines.contains_key(&machine.arn) {
            return Err(StoreError::Conflict(machine.arn.clone()));
        }
        g.machines.insert(machine.arn.clone(), machine.clone());
        Ok(())
    }

    async fn update_machine(&self, machine: &Machine) -> Result<()> {
        let mut g = self.lock();
        match g.machines.get_mut(&machine.arn) {
            Some(m) => {
                *m = machine.clone();
                Ok(())
            }
            None => Err(StoreError::NotFound(machine.arn.clone())),
        }
    }

    async fn machine(&self, arn: &str) -> Result<Option<Machine>> {
        Ok(self.lock().machines.get(arn).cloned())
    }

    async fn machines(&self, p: Page<'_>) -> Result<Vec<Machine>> {
        Ok(page(&self.lock().machines, p))
    }

    async fn delete_machine(&self, arn: &str) -> Result<bool> {
        let mut g = self.lock();
        g.versions.retain(|_, v| v.machine_arn != arn);
        g.aliases.retain(|_, a| a.machine_arn != arn);
        Ok(g.machines.remove(arn).is_some())
    }

    async fn create_version(&self, version: &Version) -> Result<()> {
        let mut g = self.lock();
        if g.versions.contains_key(&version.arn)
            || g.versions
                .values()
                .any(|v| v.machine_arn == version.machine_arn && v.number == version.number)
        {
            return Err(StoreError::Conflict(version.arn.clone()));
        }
        g.versions.insert(version.arn.clone(), version.clone());
        Ok(())
    }

    async fn version(&self, arn: &str) -> Result<Option<Version>> {
        Ok(self.lock().versions.get(arn).cloned())
    }

    async fn versions(&self, machine_arn: &str) -> Result<Vec<Version>> {
        let g = self.lock();
        let mut v: Vec<Version> = g
            .versions
            .values()
            .filter(|v| v.machine_arn == machine_arn)
            .cloned()
            .collect();
        v.sort_by_key(|v| std::cmp::Reverse(v.number));
        Ok(v)
    }

    async fn delete_version(&self, arn: &str) -> Result<bool> {
        Ok(self.lock().versions.remove(arn).is_some())
    }

    async fn put_alias(&self, alias: &Alias) -> Result<()> {
        self.lock().aliases.insert(alias.arn.clone(), alias.clone());
        Ok(())
    }

    async fn alias(&self, arn: &str) -> Result<Option<Alias>> {
        Ok(self.lock().aliases.get(arn).cloned())
    }

    async fn aliases(&self, machine_arn: &str) -> Result<Vec<Alias>> {
        let g = self.lock();
        Ok(g.aliases
            .values()
            .filter(|a| a.machine_arn == machine_arn)
            .cloned()
            .collect())
    }

    async fn delete_alias(&self, arn: &str) -> Result<bool> {
        Ok(self.lock().aliases.remove(arn).is_some())
    }

    async fn put_definition(&self, digest: &str, definition: &str) -> Result<()> {
        self.lock()
            .definitions
            .entry(digest.to_owned())
            .or_insert_with(|| definition.to_owned());
        Ok(())
    }

    async fn definition(&self, digest: &str) -> Result<Option<String>> {
        Ok(self.lock().definitions.get(digest).cloned())
    }
}

#[async_trait]
impl Activities for MemoryStore {
    async fn create_activity(&self, activity: &Activity) -> Result<()> {
        self.lock()
            .activities
            .entry(activity.arn.clone())
            .or_insert_with(|| activity.clone());
        Ok(())
    }

    async fn activity(&self, arn: &str) -> Result<Option<Activity>> {
        Ok(self.lock().activities.get(arn).cloned())
    }

    async fn activities(&self, p: Page<'_>) -> Result<Vec<Activity>> {
        Ok(page(&self.lock().activities, p))
    }

    async fn delete_activity(&self, arn: &str) -> Result<bool> {
        Ok(self.lock().activities.remove(arn).is_some())
    }
}

/// Newest first: start time, then ARN, both descending.
fn newest_first(a: &Execution, b: &Execution) -> std::cmp::Ordering {
    (b.start_ms, &b.arn).cmp(&(a.start_ms, &a.arn))
}

#[async_trait]
impl Executions for MemoryStore {
    async fn execution(&self, arn: &str) -> Result<Option<Execution>> {
        Ok(self.lock().executions.get(arn).cloned())
    }

    async fn executions(&self, f: ExecutionFilter<'_>) -> Result<Vec<Execution>> {
        let g = self.lock();
        let mut v: Vec<Execution> = g
            .executions
            .values()
            .filter(|e| f.machine_arn.is_none_or(|m| e.machine_arn == m))
            .filter(|e| {
                f.version_arn
                    .is_none_or(|m| e.version_arn.as_deref() == Some(m))
            })
            .filter(|e| f.status.is_none_or(|s| e.status == s))
            .filter(|e| {
                f.before
                    .is_none_or(|(ms, arn)| (e.start_ms, e.arn.as_str()) < (ms, arn))
            })
            .cloned()
            .collect();
        v.sort_by(newest_first);
        if f.limit > 0 {
            v.truncate(f.limit);
        }
        Ok(v)
    }

    async fn checkpoint(&self, arn: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().checkpoints.get(arn).cloned())
    }

    async fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>> {
        let g = self.lock();
        Ok(g.history
            .get(arn)
            .map(|h| {
                h.iter()
                    .filter(|e| e.id >= from && e.id <= to)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn ready_executions(&self) -> Result<Vec<String>> {
        let g = self.lock();
        let mut v: Vec<String> = g
            .executions
            .values()
            .filter(|e| e.ready && e.is_running())
            .map(|e| e.arn.clone())
            .collect();
        v.sort();
        Ok(v)
    }

    async fn finished_before(&self, before_ms: i64, limit: usize) -> Result<Vec<String>> {
        let g = self.lock();
        let mut v: Vec<(i64, String)> = g
            .executions
            .values()
            .filter(|e| !e.is_running() && e.stop_ms.is_some_and(|s| s < before_ms))
            .map(|e| (e.stop_ms.unwrap_or(0), e.arn.clone()))
            .collect();
        v.sort();
        v.truncate(limit);
        Ok(v.into_iter().map(|(_, a)| a).collect())
    }

    async fn delete_execution(&self, arn: &str) -> Result<()> {
        let mut g = self.lock();
        g.executions.remove(arn);
        g.checkpoints.remove(arn);
        g.history.remove(arn);
        let timers: Vec<(String, u64)> = g
            .timer_due
            .keys()
            .filter(|(a, _)| a == arn)
            .cloned()
            .collect();
        for key in timers {
            if let Some(due) = g.timer_due.remove(&key) {
                g.timers.remove(&(due, key.0, key.1));
            }
        }
        let tasks: Vec<(String, u64)> = g.tasks.keys().filter(|(a, _)| a == arn).cloned().collect();
        for key in tasks {
            if let Some(t) = g.tasks.remove(&key)
                && let Some(token) = t.token
            {
                g.tokens.remove(&token);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Steps for MemoryStore {
    async fn commit(&self, step: Step) -> Result<()> {
        let mut g = self.lock();
        let arn = step.execution.execution().arn.clone();
        // Validate everything first, so that a failed step changes nothing.
        match &step.execution {
            ExecutionWrite::Insert(e) if g.executions.contains_key(&e.arn) => {
                return Err(StoreError::Conflict(e.arn.clone()));
            }
            ExecutionWrite::Update(e) if !g.executions.contains_key(&e.arn) => {
                return Err(StoreError::NotFound(e.arn.clone()));
            }
            _ => {}
        }
        let last = g
            .history
            .get(&arn)
            .and_then(|h| h.last())
            .map_or(0, |e| e.id);
        let mut expected = last;
        for event in &step.history {
            if event.id <= expected {
                return Err(StoreError::Conflict(format!("{arn} event {}", event.id)));
            }
            expected = event.id;
        }
        for t in &step.tasks_added {
            if g.tasks.contains_key(&(arn.clone(), t.task))
                || t.token.as_ref().is_some_and(|k| g.tokens.contains_key(k))
            {
                return Err(StoreError::Conflict(format!("{arn} task {}", t.task)));
            }
        }

        match step.execution {
            ExecutionWrite::Insert(e) => {
                g.executions.insert(arn.clone(), e);
            }
            ExecutionWrite::Update(e) => {
                if let Some(old) = g.executions.get_mut(&arn) {
                    old.status = e.status;
                    old.output = e.output;
                    old.error = e.error;
                    old.cause = e.cause;
                    old.stop_ms = e.stop_ms;
                    old.redrive_count = e.redrive_count;
                    old.redrive_ms = e.redrive_ms;
                    old.event_count = e.event_count;
                    old.ready = e.ready;
                }
            }
        }
        if let Some(c) = step.checkpoint {
            g.checkpoints.insert(arn.clone(), c);
        }
        g.history
            .entry(arn.clone())
            .or_default()
            .extend(step.history);
        for id in step.timers_cleared {
            if let Some(due) = g.timer_due.remove(&(arn.clone(), id)) {
                g.timers.remove(&(due, arn.clone(), id));
            }
        }
        for t in step.timers_set {
            if let Some(old) = g.timer_due.insert((arn.clone(), t.timer), t.due_ms) {
                g.timers.remove(&(old, arn.clone(), t.timer));
            }
            g.timers.insert((t.due_ms, arn.clone(), t.timer));
        }
        for id in step.tasks_finished {
            if let Some(t) = g.tasks.remove(&(arn.clone(), id))
                && let Some(token) = t.token
            {
                g.tokens.remove(&token);
            }
        }
        for t in step.tasks_added {
            if let Some(token) = &t.token {
                g.tokens.insert(token.clone(), (arn.clone(), t.task));
            }
            g.tasks.insert((arn.clone(), t.task), t);
        }
        for id in step.tasks_delivered {
            if let Some(t) = g.tasks.get_mut(&(arn.clone(), id))
                && t.kind == TaskKind::Callback
            {
                t.delivered = true;
            }
        }
        for mut e in step.events {
            g.next_seq += 1;
            e.seq = g.next_seq;
            g.events.push(e);
        }
        Ok(())
    }
}

#[async_trait]
impl Timers for MemoryStore {
    async fn due_timers(&self, until_ms: i64, limit: usize) -> Result<Vec<Timer>> {
        let g = self.lock();
        Ok(g.timers
            .iter()
            .take_while(|(due, _, _)| *due <= until_ms)
            .take(limit)
            .map(|(due, arn, id)| Timer {
                execution_arn: arn.clone(),
                timer: *id,
                due_ms: *due,
            })
            .collect())
    }

    async fn next_due_after(&self, after_ms: i64) -> Result<Option<i64>> {
        let g = self.lock();
        Ok(g.timers
            .range((after_ms.saturating_add(1), String::new(), 0)..)
            .next()
            .map(|(due, _, _)| *due))
    }

    async fn timer_count(&self) -> Result<u64> {
        Ok(self.lock().timers.len() as u64)
    }
}

#[async_trait]
impl Tasks for MemoryStore {
    async fn task_by_token(&self, token: &str) -> Result<Option<Task>> {
        let g = self.lock();
        Ok(g.tokens.get(token).and_then(|k| g.tasks.get(k)).cloned())
    }

    async fn dispatch_tasks(&self) -> Result<Vec<Task>> {
        let g = self.lock();
        Ok(g.tasks
            .values()
            .filter(|t| t.kind != TaskKind::Activity && !t.delivered)
            .cloned()
            .collect())
    }

    async fn claim_activity_task(&self, activity_arn: &str, worker: &str) -> Result<Option<Task>> {
        let mut g = self.lock();
        let key = g
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.kind == TaskKind::Activity && t.resource == activity_arn && t.worker.is_none()
            })
            .min_by_key(|(k, t)| (t.created_ms, (*k).clone()))
            .map(|(k, _)| k.clone());
        Ok(key.and_then(|k| {
            g.tasks.get_mut(&k).map(|t| {
                t.worker = Some(worker.to_owned());
                t.clone()
            })
        }))
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let g = self.lock();
        Ok(g.events
            .iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn acknowledge_events(&self, upto: u64) -> Result<()> {
        self.lock().events.retain(|e| e.seq > upto);
        Ok(())
    }
}

/// `limit` where 0 means no limit.
pub(crate) fn at_most(limit: usize) -> usize {
    if limit == 0 { usize::MAX } else { limit }
}

#[async_trait]
impl Functions for MemoryStore {
    async fn create_function(&self, function: &Function) -> Result<()> {
        let mut g = self.lock();
        if g.functions.contains_key(&function.name) {
            return Err(StoreError::Conflict(format!("function {}", function.name)));
        }
        g.functions.insert(function.name.clone(), function.clone());
        Ok(())
    }

    async fn update_function(&self, function: &Function, expected_revision: &str) -> Result<()> {
        let mut g = self.lock();
        let Some(stored) = g.functions.get_mut(&function.name) else {
            return Err(StoreError::NotFound(format!("function {}", function.name)));
        };
        if stored.revision_id != expected_revision {
            return Err(StoreError::Conflict(format!(
                "function {} revision {}",
                function.name, stored.revision_id
            )));
        }
        let next_version = stored.next_version;
        *stored = Function {
            next_version,
            ..function.clone()
        };
        Ok(())
    }

    async fn function(&self, name: &str) -> Result<Option<Function>> {
        Ok(self.lock().functions.get(name).cloned())
    }

    async fn functions(&self, p: Page<'_>) -> Result<Vec<Function>> {
        Ok(page(&self.lock().functions, p))
    }

    async fn delete_function(&self, name: &str) -> Result<bool> {
        let mut g = self.lock();
        let mut digests: BTreeSet<String> = BTreeSet::new();
        let existed = match g.functions.remove(name) {
            Some(f) => {
                digests.insert(f.code_digest);
                true
            }
            None => false,
        };
        g.function_versions.retain(|(f, _), v| {
            if f == name {
                digests.insert(v.code_digest.clone());
            }
            f != name
        });
        g.function_aliases.retain(|(f, _), _| f != name);
        g.routes.retain(
            |_, r| !matches!(&r.target, RouteTarget::Function { name: f, .. } if f == name),
        );
        for digest in digests {
            let named = g.functions.values().any(|f| f.code_digest == digest)
                || g.function_versions
                    .values()
                    .any(|v| v.code_digest == digest);
            if !named {
                g.code.remove(&digest);
            }
        }
        Ok(existed)
    }

    async fn publish_function_version(
        &self,
        version: &FunctionVersion,
        expected_revision: Option<&str>,
    ) -> Result<FunctionVersion> {
        let mut g = self.lock();
        let Some(f) = g.functions.get(&version.function) else {
            return Err(StoreError::NotFound(format!(
                "function {}",
                version.function
            )));
        };
        if expected_revision.is_some_and(|r| r != f.revision_id) {
            return Err(StoreError::Conflict(format!(
                "function {} revision {}",
                f.name, f.revision_id
            )));
        }
        let number = f.next_version;
        let key = (version.function.clone(), number);
        if g.function_versions.contains_key(&key) {
            return Err(StoreError::Conflict(format!(
                "function {} version {number}",
                version.function
            )));
        }
        let published = FunctionVersion {
            number,
            ..version.clone()
        };
        g.function_versions.insert(key, published.clone());
        if let Some(f) = g.functions.get_mut(&version.function) {
            f.next_version = number + 1;
        }
        Ok(published)
    }

    async fn function_version(
        &self,
        function: &str,
        number: u64,
    ) -> Result<Option<FunctionVersion>> {
        Ok(self
            .lock()
            .function_versions
            .get(&(function.to_owned(), number))
            .cloned())
    }

    async fn function_versions(&self, function: &str) -> Result<Vec<FunctionVersion>> {
        let g = self.lock();
        Ok(g.function_versions
            .range((function.to_owned(), 0)..=(function.to_owned(), u64::MAX))
            .map(|(_, v)| v.clone())
            .collect())
    }

    async fn delete_function_version(&self, function: &str, number: u64) -> Result<bool> {
        Ok(self
            .lock()
            .function_versions
            .remove(&(function.to_owned(), number))
            .is_some())
    }

    async fn create_function_alias(&self, alias: &FunctionAlias) -> Result<()> {
        let mut g = self.lock();
        let key = (alias.function.clone(), alias.name.clone());
        if g.function_aliases.contains_key(&key) {
            return Err(StoreError::Conflict(format!(
                "alias {} of function {}",
                alias.name, alias.function
            )));
        }
        g.function_aliases.insert(key, alias.clone());
        Ok(())
    }

    async fn update_function_alias(&self, alias: &FunctionAlias) -> Result<()> {
        let mut g = self.lock();
        match g
            .function_aliases
            .get_mut(&(alias.function.clone(), alias.name.clone()))
        {
            Some(a) => {
                *a = alias.clone();
                Ok(())
            }
            None => Err(StoreError::NotFound(format!(
                "alias {} of function {}",
                alias.name, alias.function
            ))),
        }
    }

    async fn function_alias(&self, function: &str, name: &str) -> Result<Option<FunctionAlias>> {
        Ok(self
            .lock()
            .function_aliases
            .get(&(function.to_owned(), name.to_owned()))
            .cloned())
    }

    async fn function_aliases(&self, function: &str) -> Result<Vec<FunctionAlias>> {
        let g = self.lock();
        Ok(g.function_aliases
            .range((function.to_owned(), String::new())..)
            .take_while(|((f, _), _)| f == function)
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn delete_function_alias(&self, function: &str, name: &str) -> Result<bool> {
        Ok(self
            .lock()
            .function_aliases
            .remove(&(function.to_owned(), name.to_owned()))
            .is_some())
    }

    async fn put_code(&self, digest: &str, code: &[u8]) -> Result<()> {
        self.lock()
            .code
            .entry(digest.to_owned())
            .or_insert_with(|| code.to_vec());
        Ok(())
    }

    async fn code(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().code.get(digest).cloned())
    }

    async fn put_route(&self, route: &Route) -> Result<()> {
        self.lock()
            .routes
            .insert(route.route_key.clone(), route.clone());
        Ok(())
    }

    async fn delete_route(&self, route_key: &str) -> Result<bool> {
        Ok(self.lock().routes.remove(route_key).is_some())
    }

    async fn routes(&self) -> Result<Vec<Route>> {
        Ok(self.lock().routes.values().cloned().collect())
    }
}

#[async_trait]
impl Invocations for MemoryStore {
    async fn enqueue_invocation(&self, invocation: &QueuedInvocation) -> Result<()> {
        let mut g = self.lock();
        if g.invocations.contains_key(&invocation.id) {
            return Err(StoreError::Conflict(format!(
                "invocation {}",
                invocation.id
            )));
        }
        g.invocations_due
            .insert((invocation.due_ms, invocation.id.clone()));
        g.invocations
            .insert(invocation.id.clone(), invocation.clone());
        Ok(())
    }

    async fn due_invocations(&self, until_ms: i64, limit: usize) -> Result<Vec<QueuedInvocation>> {
        let g = self.lock();
        Ok(g.invocations_due
            .iter()
            .take_while(|(due, _)| *due <= until_ms)
            .take(at_most(limit))
            .filter_map(|(_, id)| g.invocations.get(id).cloned())
            .collect())
    }

    async fn next_invocation_due(&self) -> Result<Option<i64>> {
        Ok(self.lock().invocations_due.first().map(|(due, _)| *due))
    }

    async fn reschedule_invocation(&self, invocation: &QueuedInvocation) -> Result<()> {
        let mut g = self.lock();
        let Some(stored) = g.invocations.get_mut(&invocation.id) else {
            return Err(StoreError::NotFound(format!(
                "invocation {}",
                invocation.id
            )));
        };
        let old_due = stored.due_ms;
        stored.attempts = invocation.attempts;
        stored.due_ms = invocation.due_ms;
        stored.last_error = invocation.last_error.clone();
        g.invocations_due.remove(&(old_due, invocation.id.clone()));
        g.invocations_due
            .insert((invocation.due_ms, invocation.id.clone()));
        Ok(())
    }

    async fn finish_invocation(&self, id: &str) -> Result<bool> {
        let mut g = self.lock();
        match g.invocations.remove(id) {
            Some(i) => {
                g.invocations_due.remove(&(i.due_ms, i.id));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn dead_letter_invocation(&self, letter: &DeadLetter) -> Result<()> {
        let mut g = self.lock();
        let id = &letter.invocation.id;
        let Some(queued) = g.invocations.get(id) else {
            return Err(StoreError::NotFound(format!("invocation {id}")));
        };
        if g.dead_letters.contains_key(id) {
            return Err(StoreError::Conflict(format!("dead letter {id}")));
        }
        let due = queued.due_ms;
        g.invocations.remove(id);
        g.invocations_due.remove(&(due, id.clone()));
        g.dead_letters_by_time
            .insert((letter.failed_ms, id.clone()));
        g.dead_letters.insert(id.clone(), letter.clone());
        Ok(())
    }

    async fn dead_letters(&self, function: Option<&str>, limit: usize) -> Result<Vec<DeadLetter>> {
        let g = self.lock();
        Ok(g.dead_letters_by_time
            .iter()
            .rev()
            .filter_map(|(_, id)| g.dead_letters.get(id))
            .filter(|d| function.is_none_or(|f| d.invocation.function == f))
            .take(at_most(limit))
            .cloned()
            .collect())
    }

    async fn delete_dead_letter(&self, id: &str) -> Result<bool> {
        let mut g = self.lock();
        match g.dead_letters.remove(id) {
            Some(d) => {
                g.dead_letters_by_time
                    .remove(&(d.failed_ms, d.invocation.id));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn queued_invocations(&self) -> Result<u64> {
        Ok(self.lock().invocations.len() as u64)
    }
}

impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }
}
