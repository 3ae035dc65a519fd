//! The in-memory backend: the model the other backends are tested against, the store of
//! fast engine tests, and where EXPRESS executions live. Nothing survives the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::*;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
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
            .filter(|t| t.kind != TaskKind::Activity)
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

impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }
}
