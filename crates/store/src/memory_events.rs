//! The in-memory backend's event-system records: resources, deliveries and their dead
//! letters, archives, schedules and queue messages. The model the SQL backends are
//! tested against (see [`crate::contract`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;

use crate::memory::{MemoryStore, at_most};
use crate::*;

#[derive(Default)]
pub(crate) struct EventState {
    resources: BTreeMap<(String, String), Resource>,
    deliveries: HashMap<String, Delivery>,
    /// `(due_ms, id)` of every queued delivery.
    deliveries_due: BTreeSet<(i64, String)>,
    dead: HashMap<String, DeadEvent>,
    /// `(failed_ms, id)` of every dead letter.
    dead_by_time: BTreeSet<(i64, String)>,
    /// Per archive: `(time_ms, id)` → event.
    archives: HashMap<String, BTreeMap<(i64, String), ArchivedEvent>>,
    schedules: BTreeMap<String, Schedule>,
    /// `(next_ms, name)` of every schedule with a next tick.
    schedules_due: BTreeSet<(i64, String)>,
    /// Per queue: id → message.
    queues: HashMap<String, BTreeMap<String, QueueMessage>>,
}

impl MemoryStore {
    fn ev(&self) -> std::sync::MutexGuard<'_, EventState> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl EventState {
    fn check_accept(&self, accepted: &Accepted) -> Result<()> {
        let mut ids = std::collections::HashSet::new();
        for d in &accepted.deliveries {
            if self.deliveries.contains_key(&d.id) || !ids.insert(d.id.as_str()) {
                return Err(StoreError::Conflict(format!("delivery {}", d.id)));
            }
        }
        Ok(())
    }

    fn apply_accept(&mut self, accepted: &Accepted) {
        for d in &accepted.deliveries {
            self.deliveries_due.insert((d.due_ms, d.id.clone()));
            self.deliveries.insert(d.id.clone(), d.clone());
        }
        for a in &accepted.archived {
            // Archiving an event again keeps the first.
            self.archives
                .entry(a.archive.clone())
                .or_default()
                .entry((a.time_ms, a.id.clone()))
                .or_insert_with(|| a.clone());
        }
    }

    fn check_send(&self, messages: &[QueueMessage]) -> Result<()> {
        let mut ids = std::collections::HashSet::new();
        for m in messages {
            let exists = self
                .queues
                .get(&m.queue)
                .is_some_and(|q| q.contains_key(&m.id));
            if exists || !ids.insert((m.queue.as_str(), m.id.as_str())) {
                return Err(StoreError::Conflict(format!(
                    "message {} in queue {}",
                    m.id, m.queue
                )));
            }
        }
        Ok(())
    }

    fn apply_send(&mut self, messages: &[QueueMessage]) {
        for m in messages {
            // The receipt is the store's, whatever the sender said.
            let m = QueueMessage {
                receipt: crate::sql::receipt(&m.id, m.receive_count),
                ..m.clone()
            };
            self.queues
                .entry(m.queue.clone())
                .or_default()
                .insert(m.id.clone(), m);
        }
    }

    fn put_schedule(&mut self, schedule: &Schedule) {
        let mut schedule = schedule.clone();
        if let Some(old) = self.schedules.remove(&schedule.name) {
            schedule.created_ms = old.created_ms;
            if let Some(n) = old.next_ms {
                self.schedules_due.remove(&(n, old.name));
            }
        }
        if let Some(n) = schedule.next_ms {
            self.schedules_due.insert((n, schedule.name.clone()));
        }
        self.schedules.insert(schedule.name.clone(), schedule);
    }
}

#[async_trait]
impl Resources for MemoryStore {
    async fn put_resource(&self, resource: &Resource, expect: Expect) -> Result<Resource> {
        let mut g = self.ev();
        let key = (resource.kind.clone(), resource.name.clone());
        let what = || format!("{} {}", resource.kind, resource.name);
        let now = now_ms();
        let stored = match (g.resources.get(&key), expect) {
            (Some(_), Expect::Absent) => return Err(StoreError::Conflict(what())),
            (None, Expect::Revision(_)) => return Err(StoreError::NotFound(what())),
            (Some(old), Expect::Revision(r)) if old.revision != r => {
                return Err(StoreError::Conflict(format!(
                    "{} at revision {} (not {r})",
                    what(),
                    old.revision
                )));
            }
            (Some(old), _) => Resource {
                revision: old.revision + 1,
                created_ms: old.created_ms,
                updated_ms: now,
                ..resource.clone()
            },
            (None, _) => Resource {
                revision: 1,
                created_ms: now,
                updated_ms: now,
                ..resource.clone()
            },
        };
        g.resources.insert(key, stored.clone());
        Ok(stored)
    }

    async fn resource(&self, kind: &str, name: &str) -> Result<Option<Resource>> {
        Ok(self
            .ev()
            .resources
            .get(&(kind.to_owned(), name.to_owned()))
            .cloned())
    }

    async fn resources(&self, kind: &str) -> Result<Vec<Resource>> {
        let g = self.ev();
        Ok(g.resources
            .range((kind.to_owned(), String::new())..)
            .take_while(|((k, _), _)| k == kind)
            .map(|(_, r)| r.clone())
            .collect())
    }

    async fn delete_resource(&self, kind: &str, name: &str) -> Result<bool> {
        Ok(self
            .ev()
            .resources
            .remove(&(kind.to_owned(), name.to_owned()))
            .is_some())
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn accept(&self, accepted: &Accepted) -> Result<()> {
        let mut g = self.ev();
        g.check_accept(accepted)?;
        g.apply_accept(accepted);
        Ok(())
    }

    async fn due_deliveries(&self, until_ms: i64, limit: usize) -> Result<Vec<Delivery>> {
        let g = self.ev();
        Ok(g.deliveries_due
            .iter()
            .take_while(|(due, _)| *due <= until_ms)
            .take(at_most(limit))
            .filter_map(|(_, id)| g.deliveries.get(id).cloned())
            .collect())
    }

    async fn next_delivery_due(&self) -> Result<Option<i64>> {
        Ok(self.ev().deliveries_due.first().map(|(due, _)| *due))
    }

    async fn reschedule_delivery(&self, delivery: &Delivery) -> Result<()> {
        let mut g = self.ev();
        let Some(stored) = g.deliveries.get_mut(&delivery.id) else {
            return Err(StoreError::NotFound(format!("delivery {}", delivery.id)));
        };
        let old_due = stored.due_ms;
        stored.attempts = delivery.attempts;
        stored.due_ms = delivery.due_ms;
        stored.last_error = delivery.last_error.clone();
        g.deliveries_due.remove(&(old_due, delivery.id.clone()));
        g.deliveries_due
            .insert((delivery.due_ms, delivery.id.clone()));
        Ok(())
    }

    async fn finish_deliveries(&self, ids: &[String]) -> Result<u64> {
        let mut g = self.ev();
        let mut n = 0;
        for id in ids {
            if let Some(d) = g.deliveries.remove(id) {
                g.deliveries_due.remove(&(d.due_ms, d.id));
                n += 1;
            }
        }
        Ok(n)
    }

    async fn dead_letter_delivery(
        &self,
        dead: &DeadEvent,
        message: Option<&QueueMessage>,
    ) -> Result<()> {
        let mut g = self.ev();
        let id = &dead.delivery.id;
        let Some(queued) = g.deliveries.get(id) else {
            return Err(StoreError::NotFound(format!("delivery {id}")));
        };
        if g.dead.contains_key(id) {
            return Err(StoreError::Conflict(format!("dead letter {id}")));
        }
        if let Some(m) = message {
            g.check_send(std::slice::from_ref(m))?;
        }
        let due = queued.due_ms;
        g.deliveries.remove(id);
        g.deliveries_due.remove(&(due, id.clone()));
        g.dead_by_time.insert((dead.failed_ms, id.clone()));
        g.dead.insert(id.clone(), dead.clone());
        if let Some(m) = message {
            g.apply_send(std::slice::from_ref(m));
        }
        Ok(())
    }

    async fn dead_events(
        &self,
        rule: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<DeadEvent>> {
        let g = self.ev();
        Ok(g.dead_by_time
            .iter()
            .rev()
            .filter_map(|(_, id)| g.dead.get(id))
            .filter(|d| rule.is_none_or(|(bus, r)| d.delivery.bus == bus && d.delivery.rule == r))
            .take(at_most(limit))
            .cloned()
            .collect())
    }

    async fn delete_dead_event(&self, id: &str) -> Result<bool> {
        let mut g = self.ev();
        match g.dead.remove(id) {
            Some(d) => {
                g.dead_by_time.remove(&(d.failed_ms, d.delivery.id));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn queued_deliveries(&self) -> Result<u64> {
        Ok(self.ev().deliveries.len() as u64)
    }

    async fn archived_events(
        &self,
        archive: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<ArchivedEvent>> {
        let g = self.ev();
        let Some(events) = g.archives.get(archive) else {
            return Ok(Vec::new());
        };
        Ok(events
            .range((from_ms, String::new())..)
            .take_while(|((t, _), _)| *t < to_ms)
            .filter(|((t, id), _)| after.is_none_or(|(at, aid)| (*t, id.as_str()) > (at, aid)))
            .take(at_most(limit))
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn archive_size(&self, archive: &str) -> Result<(u64, u64)> {
        let g = self.ev();
        Ok(g.archives.get(archive).map_or((0, 0), |events| {
            (
                events.len() as u64,
                events.values().map(|e| e.event.len() as u64).sum(),
            )
        }))
    }

    async fn trim_archive(&self, archive: &str, before_ms: Option<i64>) -> Result<u64> {
        let mut g = self.ev();
        let Some(events) = g.archives.get_mut(archive) else {
            return Ok(0);
        };
        let before = events.len();
        match before_ms {
            Some(b) => events.retain(|(t, _), _| *t >= b),
            None => events.clear(),
        }
        Ok((before - events.len()) as u64)
    }
}

#[async_trait]
impl Schedules for MemoryStore {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<()> {
        self.ev().put_schedule(schedule);
        Ok(())
    }

    async fn put_schedules(&self, schedules: &[Schedule]) -> Result<()> {
        let mut g = self.ev();
        for s in schedules {
            g.put_schedule(s);
        }
        Ok(())
    }

    async fn schedule(&self, name: &str) -> Result<Option<Schedule>> {
        Ok(self.ev().schedules.get(name).cloned())
    }

    async fn schedules(&self, prefix: &str, page: Page<'_>) -> Result<Vec<Schedule>> {
        let g = self.ev();
        let start = match page.after {
            Some(a) if a >= prefix => a.to_owned(),
            _ => prefix.to_owned(),
        };
        Ok(g.schedules
            .range(start..)
            .filter(|(name, _)| page.after != Some(name.as_str()))
            .take_while(|(name, _)| name.starts_with(prefix))
            .take(at_most(page.limit))
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        let mut g = self.ev();
        match g.schedules.remove(name) {
            Some(s) => {
                if let Some(n) = s.next_ms {
                    g.schedules_due.remove(&(n, s.name));
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn due_schedules(
        &self,
        until_ms: i64,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<Schedule>> {
        let g = self.ev();
        let start = after.map_or((i64::MIN, String::new()), |(t, n)| (t, n.to_owned()));
        Ok(g.schedules_due
            .range(start.clone()..)
            .filter(|k| after.is_none() || **k != start)
            .take_while(|(t, _)| *t <= until_ms)
            .take(at_most(limit))
            .filter_map(|(_, name)| g.schedules.get(name).cloned())
            .collect())
    }

    async fn next_schedule_due(&self) -> Result<Option<i64>> {
        Ok(self.ev().schedules_due.first().map(|(t, _)| *t))
    }

    async fn fire_schedules(&self, fires: &[ScheduleFire]) -> Result<Vec<bool>> {
        let mut g = self.ev();
        // Which fires apply, in order (a later fire of a schedule sees the earlier one).
        let mut next: HashMap<&str, Option<i64>> = HashMap::new();
        let mut applied = Vec::with_capacity(fires.len());
        for f in fires {
            let current = match next.get(f.name.as_str()) {
                Some(n) => *n,
                None => g.schedules.get(&f.name).and_then(|s| s.next_ms),
            };
            let ok = g.schedules.contains_key(&f.name) && current == Some(f.expected_ms);
            if ok {
                next.insert(&f.name, f.next_ms);
            }
            applied.push(ok);
        }
        // All or nothing: the deliveries of the fires that apply must all be new.
        let written = Accepted {
            deliveries: fires
                .iter()
                .zip(&applied)
                .filter(|(_, ok)| **ok)
                .flat_map(|(f, _)| f.accepted.deliveries.iter().cloned())
                .collect(),
            archived: Vec::new(),
        };
        g.check_accept(&written)?;
        for (f, ok) in fires.iter().zip(&applied) {
            if *ok {
                g.schedules_due.remove(&(f.expected_ms, f.name.clone()));
                if let Some(s) = g.schedules.get_mut(&f.name) {
                    s.next_ms = f.next_ms;
                }
                if let Some(n) = f.next_ms {
                    g.schedules_due.insert((n, f.name.clone()));
                }
                g.apply_accept(&f.accepted);
            }
        }
        Ok(applied)
    }

    async fn schedule_count(&self) -> Result<u64> {
        Ok(self.ev().schedules.len() as u64)
    }
}

#[async_trait]
impl Queues for MemoryStore {
    async fn send_messages(&self, messages: &[QueueMessage]) -> Result<()> {
        let mut g = self.ev();
        g.check_send(messages)?;
        g.apply_send(messages);
        Ok(())
    }

    async fn receive_messages(
        &self,
        queue: &str,
        max: usize,
        now_ms: i64,
        visibility_ms: i64,
        redrive: Option<&Redrive>,
    ) -> Result<Vec<QueueMessage>> {
        let mut g = self.ev();
        let Some(q) = g.queues.get_mut(queue) else {
            return Ok(Vec::new());
        };
        let mut candidates: Vec<(i64, i64, String)> = q
            .values()
            .filter(|m| m.visible_ms <= now_ms)
            .map(|m| (m.visible_ms, m.sent_ms, m.id.clone()))
            .collect();
        candidates.sort();
        let mut received = Vec::new();
        let mut moved = Vec::new();
        for (_, _, id) in candidates {
            if received.len() >= max {
                break;
            }
            let Some(m) = q.get_mut(&id) else { continue };
            if let Some(r) = redrive
                && m.receive_count >= r.max_receives
            {
                if let Some(m) = q.remove(&id) {
                    moved.push(QueueMessage {
                        queue: r.dead_letter_queue.clone(),
                        receive_count: 0,
                        first_receive_ms: None,
                        receipt: None,
                        visible_ms: now_ms,
                        ..m
                    });
                }
                continue;
            }
            m.receive_count += 1;
            m.first_receive_ms.get_or_insert(now_ms);
            m.receipt = Some(format!("{}#{}", m.id, m.receive_count));
            m.visible_ms = now_ms + visibility_ms;
            received.push(m.clone());
        }
        for m in moved {
            // A message of the same id already in the dead-letter queue is replaced.
            g.queues
                .entry(m.queue.clone())
                .or_default()
                .insert(m.id.clone(), m);
        }
        Ok(received)
    }

    async fn delete_messages(&self, queue: &str, receipts: &[String]) -> Result<Vec<bool>> {
        let mut g = self.ev();
        let Some(q) = g.queues.get_mut(queue) else {
            return Ok(vec![false; receipts.len()]);
        };
        Ok(receipts
            .iter()
            .map(|r| {
                let id = q
                    .values()
                    .find(|m| m.receipt.as_deref() == Some(r.as_str()))
                    .map(|m| m.id.clone());
                id.is_some_and(|id| q.remove(&id).is_some())
            })
            .collect())
    }

    async fn change_visibility(&self, queue: &str, receipt: &str, visible_ms: i64) -> Result<bool> {
        let mut g = self.ev();
        let Some(q) = g.queues.get_mut(queue) else {
            return Ok(false);
        };
        match q
            .values_mut()
            .find(|m| m.receipt.as_deref() == Some(receipt))
        {
            Some(m) => {
                m.visible_ms = visible_ms;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn purge_queue(&self, queue: &str) -> Result<u64> {
        Ok(self.ev().queues.remove(queue).map_or(0, |q| q.len() as u64))
    }

    async fn expire_messages(&self, queue: &str, before_ms: i64) -> Result<u64> {
        let mut g = self.ev();
        let Some(q) = g.queues.get_mut(queue) else {
            return Ok(0);
        };
        let before = q.len();
        q.retain(|_, m| m.sent_ms >= before_ms);
        Ok((before - q.len()) as u64)
    }

    async fn queue_counts(&self, queue: &str, now_ms: i64) -> Result<QueueCounts> {
        let g = self.ev();
        let mut c = QueueCounts::default();
        for m in g.queues.get(queue).into_iter().flat_map(|q| q.values()) {
            if m.visible_ms <= now_ms {
                c.visible += 1;
            } else if m.receive_count == 0 {
                c.delayed += 1;
            } else {
                c.in_flight += 1;
            }
        }
        Ok(c)
    }

    async fn next_visible(&self, queue: &str) -> Result<Option<i64>> {
        Ok(self
            .ev()
            .queues
            .get(queue)
            .and_then(|q| q.values().map(|m| m.visible_ms).min()))
    }
}
