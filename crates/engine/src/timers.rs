//! The durable timer service. Timers live in the store (set and cleared in the same commit
//! as the step that asked for them); this service keeps in memory only those due within
//! [`HORIZON_MS`], and reads the store again only when its earliest unknown timer comes
//! within reach. With nothing due it makes no queries at all: a new timer wakes it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cirrus_store::Store;
use tokio::sync::Notify;

use crate::run::Input;
use crate::{WeakEngine, lock, now_ms};

/// How far ahead timers are held in memory.
pub const HORIZON_MS: i64 = 30_000;
/// The most timers read from the store at once.
const LOAD_LIMIT: usize = 50_000;

type Key = (String, u64);

pub(crate) struct TimerService {
    store: Arc<dyn Store>,
    state: Mutex<State>,
    wake: Notify,
}

struct State {
    heap: BinaryHeap<Reverse<(i64, String, u64)>>,
    /// Armed timers and when they are due; a heap entry whose key is absent or due at
    /// another time was cancelled or moved.
    armed: HashMap<Key, i64>,
    /// Everything due up to here is in memory.
    loaded_until: i64,
    /// The earliest timer beyond `loaded_until` that may be in the store.
    beyond: Option<i64>,
}

impl TimerService {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        TimerService {
            store,
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                armed: HashMap::new(),
                loaded_until: i64::MIN,
                // Unknown at start: look.
                beyond: Some(i64::MIN),
            }),
            wake: Notify::new(),
        }
    }

    /// A committed step set a timer.
    pub(crate) fn arm(&self, arn: &str, timer: u64, due_ms: i64) {
        let mut s = lock(&self.state);
        if due_ms <= s.loaded_until {
            s.armed.insert((arn.to_owned(), timer), due_ms);
            s.heap.push(Reverse((due_ms, arn.to_owned(), timer)));
        } else {
            s.beyond = Some(s.beyond.map_or(due_ms, |b| b.min(due_ms)));
        }
        drop(s);
        self.wake.notify_one();
    }

    /// A committed step cleared a timer.
    pub(crate) fn disarm(&self, arn: &str, timer: u64) {
        lock(&self.state).armed.remove(&(arn.to_owned(), timer));
    }

    /// Timers in memory (for metrics and tests).
    pub(crate) fn in_memory(&self) -> usize {
        lock(&self.state).armed.len()
    }

    pub(crate) fn spawn(self: &Arc<Self>, engine: WeakEngine) {
        tokio::spawn(run(self.clone(), engine));
    }
}

/// The service's loop. It holds the service, not the engine: it upgrades its handle only
/// to fire timers, and ends when the engine is gone.
async fn run(service: Arc<TimerService>, engine: WeakEngine) {
    loop {
        let now = now_ms();
        // Load what comes within reach.
        let need_load = lock(&service.state)
            .beyond
            .is_some_and(|b| b <= now.saturating_add(HORIZON_MS));
        if need_load {
            let until = now.saturating_add(HORIZON_MS);
            let loaded = match service.store.due_timers(until, LOAD_LIMIT).await {
                Ok(due) => {
                    let reached = if due.len() == LOAD_LIMIT {
                        due.last().map_or(until, |t| t.due_ms)
                    } else {
                        until
                    };
                    service
                        .store
                        .next_due_after(reached)
                        .await
                        .map(|next| (due, reached, next))
                }
                Err(e) => Err(e),
            };
            match loaded {
                Ok((due, reached, next)) => {
                    let mut s = lock(&service.state);
                    for t in due {
                        let key = (t.execution_arn.clone(), t.timer);
                        if s.armed.get(&key) != Some(&t.due_ms) {
                            s.armed.insert(key, t.due_ms);
                            s.heap.push(Reverse((t.due_ms, t.execution_arn, t.timer)));
                        }
                    }
                    s.loaded_until = s.loaded_until.max(reached);
                    // A timer armed meanwhile beyond what was read stays in `beyond`.
                    s.beyond = match (next, s.beyond) {
                        (Some(n), Some(b)) if b > reached => Some(n.min(b)),
                        (None, Some(b)) if b > reached => Some(b),
                        (n, _) => n,
                    };
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot read timers; retrying in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        // Fire what is due.
        let mut fire = Vec::new();
        let sleep_until = {
            let mut s = lock(&service.state);
            while let Some(Reverse((due, _, _))) = s.heap.peek() {
                if *due > now {
                    break;
                }
                let Some(Reverse((due, arn, timer))) = s.heap.pop() else {
                    break;
                };
                let key = (arn, timer);
                if s.armed.get(&key) == Some(&due) {
                    s.armed.remove(&key);
                    fire.push(key);
                }
            }
            let next_fire = s.heap.peek().map(|Reverse((d, _, _))| *d);
            let next_load = s.beyond.map(|b| b.saturating_sub(HORIZON_MS));
            match (next_fire, next_load) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        if !fire.is_empty() {
            let Some(e) = engine.upgrade() else { return };
            for (arn, timer) in fire {
                e.spawn_step(arn, vec![Input::Fired(timer)]);
            }
        }
        let notified = service.wake.notified();
        match sleep_until {
            Some(t) => {
                let d = Duration::from_millis(t.saturating_sub(now_ms()).max(0) as u64);
                if !d.is_zero() {
                    let _ = tokio::time::timeout(d, notified).await;
                }
            }
            None => notified.await,
        }
    }
}
