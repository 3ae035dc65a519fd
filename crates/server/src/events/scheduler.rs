//! Schedules: rules with a `ScheduleExpression`, and schedules of their own (each with one
//! target, as EventBridge Scheduler has them). Every schedule is a durable
//! [`cirrus_store::Schedule`] holding its next tick; the loop here fires the ticks that are
//! due, many per commit: each fire moves the schedule to its next tick and stores the
//! deliveries of that tick in the same transaction, and applies only if the schedule is
//! still at the tick it fired, so a tick fires once across restarts and nodes.
//!
//! A tick found more than [`MISSED_AFTER_MS`] late (the node was down) follows the
//! schedule's missed-tick policy: `fire_once` (the default: one fire for everything missed,
//! then on schedule), `skip` (none), or `fire_all` (every missed tick, in order).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cirrus_events::{CloudEvent, ScheduleExpression, TimeZone, TransformContext};
use cirrus_store::{Accepted, Schedule, ScheduleFire};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::rules::{RESOURCE_RULE, RuleDoc, TargetDoc};
use super::{Events, EventsError, render_input, timestamp};

/// A tick later than this is a missed tick.
pub const MISSED_AFTER_MS: i64 = 30_000;
/// Ticks fired per commit at most.
const BATCH: usize = 2000;
/// Skew samples kept for the statistics.
const SAMPLES: usize = 200_000;

/// What to do with ticks missed while no node was running.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    #[default]
    FireOnce,
    Skip,
    FireAll,
}

/// The node's document of a schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleDoc {
    /// A rule's schedule: `[bus, rule]`; its targets receive the scheduled event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<(String, String)>,
    /// A schedule's own target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetDoc>,
    #[serde(default)]
    pub missed: Missed,
    /// Where `rate(...)` counts from.
    pub anchor_ms: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub description: String,
}

fn yes() -> bool {
    true
}

/// The scheduler's signal and statistics.
#[derive(Default)]
pub struct Handle {
    wake: tokio::sync::Notify,
    stats: Mutex<Stats>,
}

#[derive(Default)]
struct Stats {
    fired: u64,
    missed: u64,
    /// Milliseconds from tick to commit, latest last.
    skew: VecDeque<i64>,
}

impl Handle {
    /// Tells the loop that schedules changed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Ticks fired, ticks skipped as missed, and the skew percentiles (p50, p99, max) in
    /// milliseconds over the latest ticks.
    pub fn stats(&self) -> serde_json::Value {
        let s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<i64> = s.skew.iter().copied().collect();
        v.sort_unstable();
        let pct = |p: f64| -> i64 {
            if v.is_empty() {
                0
            } else {
                v[((v.len() - 1) as f64 * p).round() as usize]
            }
        };
        json!({
            "fired": s.fired,
            "missed": s.missed,
            "samples": v.len(),
            "skew_ms": { "p50": pct(0.5), "p99": pct(0.99), "max": v.last().copied().unwrap_or(0) },
        })
    }

    pub fn reset_stats(&self) {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = Stats::default();
    }
}

/// The store name of a rule's schedule and of a schedule of its own.
pub fn rule_schedule_name(bus: &str, rule: &str) -> String {
    format!("rule/{bus}/{rule}")
}

pub fn schedule_name(group: &str, name: &str) -> String {
    format!("schedule/{group}/{name}")
}

/// Parsed expressions and zones, so that a busy loop does not parse them per tick.
#[derive(Default)]
struct Parsed {
    expressions: HashMap<String, Option<ScheduleExpression>>,
    zones: HashMap<String, Option<TimeZone>>,
}

impl Parsed {
    fn next(&mut self, s: &Schedule, doc: &ScheduleDoc, after_ms: i64) -> Option<i64> {
        if self.expressions.len() > 10_000 {
            self.expressions.clear();
        }
        let expr = self
            .expressions
            .entry(s.expression.clone())
            .or_insert_with(|| ScheduleExpression::parse(&s.expression).ok())
            .as_ref()?;
        let tz = self
            .zones
            .entry(s.timezone.clone())
            .or_insert_with(|| TimeZone::parse(&s.timezone).ok())
            .as_ref()?;
        expr.next_after(after_ms, tz, doc.anchor_ms)
    }
}

impl Events {
    /// Creates or replaces a schedule; its first tick is computed from now.
    pub async fn put_schedule(
        &self,
        name: String,
        expression: &str,
        timezone: &str,
        doc: ScheduleDoc,
    ) -> Result<Schedule, EventsError> {
        let expr = ScheduleExpression::parse(expression)
            .map_err(|e| EventsError::Invalid(e.to_string()))?;
        let tz = TimeZone::parse(timezone).map_err(|e| EventsError::Invalid(e.to_string()))?;
        if let Some(t) = &doc.target {
            t.validate()?;
        }
        let now = cirrus_engine::now_ms();
        let next_ms = if doc.enabled {
            expr.next_after(now, &tz, doc.anchor_ms)
        } else {
            None
        };
        let s = Schedule {
            name,
            expression: expression.to_owned(),
            timezone: tz.name().to_owned(),
            next_ms,
            document: serde_json::to_string(&doc)
                .map_err(|e| EventsError::Invalid(e.to_string()))?,
            created_ms: now,
            updated_ms: now,
        };
        self.store.put_schedule(&s).await?;
        self.scheduler.wake();
        Ok(s)
    }

    /// Creates or replaces many schedules in one commit.
    pub async fn put_schedules(&self, schedules: Vec<Schedule>) -> Result<(), EventsError> {
        self.store.put_schedules(&schedules).await?;
        self.scheduler.wake();
        Ok(())
    }

    /// Keeps a rule's schedule in step with the rule.
    pub(crate) async fn sync_rule_schedule(&self, rule: &RuleDoc) -> Result<(), EventsError> {
        let name = rule_schedule_name(&rule.bus, &rule.name);
        match &rule.schedule {
            Some(expr) => {
                let anchor_ms = match self.store.schedule(&name).await? {
                    Some(old) if old.expression == *expr => {
                        serde_json::from_str::<ScheduleDoc>(&old.document)
                            .map(|d| d.anchor_ms)
                            .unwrap_or_else(|_| cirrus_engine::now_ms())
                    }
                    _ => cirrus_engine::now_ms(),
                };
                let doc = ScheduleDoc {
                    rule: Some((rule.bus.clone(), rule.name.clone())),
                    target: None,
                    missed: Missed::FireOnce,
                    anchor_ms,
                    enabled: rule.enabled,
                    description: String::new(),
                };
                self.put_schedule(name, expr, &rule.timezone, doc).await?;
            }
            None => {
                self.store.delete_schedule(&name).await?;
            }
        }
        Ok(())
    }
}

/// Fires due ticks until the node stops.
pub async fn run(events: Arc<Events>) {
    let mut parsed = Parsed::default();
    loop {
        let now = cirrus_engine::now_ms();
        let due = match events.store.due_schedules(now, None, BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(err = %e, "cannot read the schedules; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !due.is_empty() {
            fire(&events, &mut parsed, due, now).await;
            continue;
        }
        let next = events
            .store
            .next_schedule_due()
            .await
            .unwrap_or(Some(now + 1000));
        match next {
            Some(at) if at > now => {
                let wait = Duration::from_millis((at - now) as u64);
                let _ = tokio::time::timeout(wait, events.scheduler.wake.notified()).await;
            }
            Some(_) => {}
            None => events.scheduler.wake.notified().await,
        }
    }
}

async fn fire(events: &Arc<Events>, parsed: &mut Parsed, due: Vec<Schedule>, now: i64) {
    let mut fires = Vec::with_capacity(due.len());
    let mut ticks = Vec::with_capacity(due.len());
    let mut missed = 0u64;
    let mut rules: HashMap<(String, String), Option<RuleDoc>> = HashMap::new();
    for s in due {
        let Some(tick) = s.next_ms else { continue };
        let doc: ScheduleDoc = match serde_json::from_str(&s.document) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(schedule = %s.name, err = %e, "a schedule's document is corrupt; it stops");
                fires.push(ScheduleFire {
                    name: s.name,
                    expected_ms: tick,
                    next_ms: None,
                    accepted: Accepted::default(),
                });
                continue;
            }
        };
        let late = now - tick > MISSED_AFTER_MS;
        let (fire_it, next_ms) = match (late, doc.missed) {
            (false, _) | (true, Missed::FireAll) => (true, parsed.next(&s, &doc, tick)),
            (true, Missed::FireOnce) => (true, parsed.next(&s, &doc, now)),
            (true, Missed::Skip) => (false, parsed.next(&s, &doc, now)),
        };
        let next_ms = if doc.enabled { next_ms } else { None };
        let mut accepted = Accepted::default();
        if fire_it && doc.enabled {
            let event = scheduled_event(events, &s, &doc, tick);
            let eb = event.to_eventbridge(&events.partition.account, &events.partition.region);
            let ingestion = timestamp(now);
            if let Some(t) = &doc.target {
                let arn = format!(
                    "arn:aws:scheduler:{}:{}:{}",
                    events.partition.region, events.partition.account, s.name
                );
                let ctx = TransformContext {
                    rule_arn: &arn,
                    rule_name: &s.name,
                    ingestion_time: &ingestion,
                };
                let input = render_input(t, None, &event, &eb, &ctx);
                accepted
                    .deliveries
                    .push(events.delivery("", &s.name, &arn, t, &eb, input, now));
            } else if let Some((bus, rule)) = &doc.rule {
                let key = (bus.clone(), rule.clone());
                if !rules.contains_key(&key) {
                    let found = events
                        .get_doc::<RuleDoc>(RESOURCE_RULE, &format!("{bus}/{rule}"))
                        .await
                        .ok()
                        .flatten()
                        .map(|(d, _)| d);
                    rules.insert(key.clone(), found);
                }
                if let Some(Some(r)) = rules.get(&key) {
                    let arn = super::rules::rule_arn(&events.partition, bus, rule);
                    let ctx = TransformContext {
                        rule_arn: &arn,
                        rule_name: rule,
                        ingestion_time: &ingestion,
                    };
                    for t in &r.targets {
                        let input = render_input(t, None, &event, &eb, &ctx);
                        accepted
                            .deliveries
                            .push(events.delivery(bus, rule, &arn, t, &eb, input, now));
                    }
                }
            }
            ticks.push(tick);
        } else {
            missed += 1;
            ticks.push(i64::MIN);
        }
        fires.push(ScheduleFire {
            name: s.name,
            expected_ms: tick,
            next_ms,
            accepted,
        });
    }
    for (chunk, ticks) in fires.chunks(BATCH).zip(ticks.chunks(BATCH)) {
        match events.store.fire_schedules(chunk).await {
            Ok(applied) => {
                let done = cirrus_engine::now_ms();
                let any = chunk
                    .iter()
                    .zip(&applied)
                    .any(|(f, a)| *a && !f.accepted.deliveries.is_empty());
                let mut st = events
                    .scheduler
                    .stats
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                for (ok, tick) in applied.iter().zip(ticks) {
                    if *ok && *tick != i64::MIN {
                        st.fired += 1;
                        if st.skew.len() >= SAMPLES {
                            st.skew.pop_front();
                        }
                        st.skew.push_back(done - tick);
                    }
                }
                st.missed += missed;
                missed = 0;
                drop(st);
                if any {
                    events.wake.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(err = %e, "cannot fire schedules; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The event a tick puts out: EventBridge's `Scheduled Event`.
fn scheduled_event(events: &Events, s: &Schedule, doc: &ScheduleDoc, tick: i64) -> CloudEvent {
    let (source, resource) = match &doc.rule {
        Some((bus, rule)) => (
            "aws.events",
            super::rules::rule_arn(&events.partition, bus, rule),
        ),
        None => (
            "aws.scheduler",
            format!(
                "arn:aws:scheduler:{}:{}:{}",
                events.partition.region, events.partition.account, s.name
            ),
        ),
    };
    let mut e = CloudEvent::new(cirrus_engine::uuid(), source, "Scheduled Event");
    e.time = Some(timestamp(tick));
    e.datacontenttype = Some("application/json".into());
    e.extensions.insert("resources".into(), json!([resource]));
    e.data = Some(json!({}));
    e
}
