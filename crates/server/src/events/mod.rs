//! The event system of a node: buses, rules and their targets, the durable delivery of
//! matched events, archives and replays, schedules, queues, broker sources and sinks, and
//! webhooks.
//!
//! An event's way: a source (PutEvents, `/v1/events`, a schedule, a queue, NATS, MQTT, a
//! webhook, an execution's status change) hands CloudEvents to an [`EventSink`]; the
//! router ([`Events`]) matches each against the compiled patterns of its bus's rules
//! ([`rules`]), renders each matching target's input, and stores one delivery per target
//! (and the event in the bus's archives) in one commit before the source is told the event
//! is accepted. The delivery worker ([`delivery`]) then performs each delivery, retrying
//! with back-off until the target's maximum age or attempts, and dead-letters what cannot
//! be delivered, with the reason.

pub mod archive;
pub mod brokers;
pub mod delivery;
pub mod eventbridge;
pub mod lifecycle;
mod manage;
pub mod mappings;
pub mod mappings_api;
pub mod native;
pub mod queue_messages;
pub mod queues;
pub mod queues_native;
pub mod rules;
pub mod scheduler;
pub mod sqs;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use cirrus_events::{CloudEvent, InputTransformer, Pattern, RuleSet, TransformContext};
use cirrus_store::{Accepted, ArchivedEvent, Delivery, Expect, Resource, Store, StoreError};
use serde_json::{Value, json};

use crate::functions::Functions;
use rules::{BusDoc, DEFAULT_BUS, InputDoc, RESOURCE_BUS, RESOURCE_RULE, RuleDoc, TargetDoc};

/// Where sources put events.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Accepts events onto `bus`: they are matched against its rules, and what must be
    /// delivered is stored durably before this returns. An error means nothing of the
    /// batch was accepted and the source should not acknowledge it.
    async fn put_events(&self, bus: &str, events: Vec<CloudEvent>) -> Result<(), SinkError>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    #[error("event bus '{0}' does not exist")]
    NoSuchBus(String),
    #[error("invalid event: {0}")]
    Invalid(String),
    #[error("cannot store the events: {0}")]
    Store(String),
}

impl From<StoreError> for SinkError {
    fn from(e: StoreError) -> Self {
        SinkError::Store(e.to_string())
    }
}

/// Errors of the event API.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<rules::Invalid> for EventsError {
    fn from(e: rules::Invalid) -> Self {
        EventsError::Invalid(e.0)
    }
}

impl From<SinkError> for EventsError {
    fn from(e: SinkError) -> Self {
        match e {
            SinkError::NoSuchBus(b) => {
                EventsError::NotFound(format!("Event bus {b} does not exist."))
            }
            SinkError::Invalid(m) => EventsError::Invalid(m),
            SinkError::Store(m) => EventsError::Store(StoreError::Database(m)),
        }
    }
}

/// A rule as the router uses it.
pub(crate) struct CompiledRule {
    pub doc: RuleDoc,
    pub arn: String,
    /// Per target, its transformer when it has one.
    transformers: Vec<Option<InputTransformer>>,
}

/// A bus's enabled rules with patterns, and its archives.
#[derive(Default)]
pub(crate) struct BusRules {
    set: RuleSet<usize>,
    rules: Vec<Arc<CompiledRule>>,
    /// Archive name and its pattern (`None`: every event).
    archives: Vec<(String, Option<Pattern>)>,
}

/// Tunables of the event system.
#[derive(Debug, Clone)]
pub struct EventsOptions {
    /// The wait before the first retry of a failed delivery (doubling, with jitter, to
    /// `max_backoff`).
    pub retry_base: Duration,
    pub max_backoff: Duration,
}

impl Default for EventsOptions {
    fn default() -> Self {
        EventsOptions {
            retry_base: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// The node's event system.
pub struct Events {
    pub store: Arc<dyn Store>,
    pub partition: cirrus_engine::Partition,
    pub queues: Arc<queues::QueueService>,
    pub brokers: Arc<brokers::Brokers>,
    pub functions: Arc<Functions>,
    pub options: EventsOptions,
    engine: OnceLock<cirrus_engine::Engine>,
    /// Compiled rules per bus, loaded on first use and rebuilt when this node changes them.
    buses: RwLock<HashMap<String, Arc<BusRules>>>,
    /// Wakes the delivery worker.
    pub(crate) wake: tokio::sync::Notify,
    pub(crate) http: reqwest::Client,
    pub scheduler: scheduler::Handle,
}

impl Events {
    pub fn new(
        store: Arc<dyn Store>,
        partition: cirrus_engine::Partition,
        functions: Arc<Functions>,
        options: EventsOptions,
    ) -> Arc<Events> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Arc::new(Events {
            queues: queues::QueueService::new(store.clone(), partition.clone()),
            brokers: brokers::Brokers::new(),
            store,
            partition,
            functions,
            options,
            engine: OnceLock::new(),
            buses: RwLock::default(),
            wake: tokio::sync::Notify::new(),
            http,
            scheduler: scheduler::Handle::default(),
        })
    }

    /// Starts the workers (deliveries, schedules, sources) once the engine runs; makes the
    /// default bus if it is missing.
    pub async fn start(self: &Arc<Self>, engine: cirrus_engine::Engine) -> Result<(), EventsError> {
        let _ = self.engine.set(engine);
        if self
            .store
            .resource(RESOURCE_BUS, DEFAULT_BUS)
            .await?
            .is_none()
        {
            let doc = BusDoc {
                name: DEFAULT_BUS.into(),
                description: String::new(),
            };
            self.put_doc(RESOURCE_BUS, DEFAULT_BUS, &doc, Expect::Any)
                .await?;
        }
        tokio::spawn(delivery::run(self.clone()));
        tokio::spawn(scheduler::run(self.clone()));
        if self.store.backend() == "postgres" {
            // Other nodes change rules too: forget compiled rules every few seconds.
            let weak = Arc::downgrade(self);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    let Some(events) = weak.upgrade() else { return };
                    events
                        .buses
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .clear();
                }
            });
        }
        native::restore_sources(self).await;
        Ok(())
    }

    pub fn engine(&self) -> Option<&cirrus_engine::Engine> {
        self.engine.get()
    }

    pub(crate) async fn put_doc<T: serde::Serialize>(
        &self,
        kind: &str,
        name: &str,
        doc: &T,
        expect: Expect,
    ) -> Result<Resource, EventsError> {
        let document = serde_json::to_string(doc)
            .map_err(|e| EventsError::Invalid(format!("cannot encode the {kind}: {e}")))?;
        let r = Resource {
            kind: kind.into(),
            name: name.into(),
            document,
            revision: 0,
            created_ms: 0,
            updated_ms: 0,
        };
        Ok(self.store.put_resource(&r, expect).await?)
    }

    pub(crate) async fn get_doc<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Option<(T, Resource)>, EventsError> {
        match self.store.resource(kind, name).await? {
            None => Ok(None),
            Some(r) => {
                let doc = serde_json::from_str(&r.document).map_err(|e| {
                    EventsError::Store(StoreError::Corrupt(format!("{kind} {name}: {e}")))
                })?;
                Ok(Some((doc, r)))
            }
        }
    }

    pub(crate) async fn list_docs<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
    ) -> Result<Vec<(T, Resource)>, EventsError> {
        let mut out = Vec::new();
        for r in self.store.resources(kind).await? {
            match serde_json::from_str(&r.document) {
                Ok(doc) => out.push((doc, r)),
                Err(e) => {
                    tracing::warn!(kind, name = %r.name, err = %e, "skipping a corrupt document")
                }
            }
        }
        Ok(out)
    }

    /// Forgets a bus's compiled rules, so that the next event loads them again.
    pub(crate) fn invalidate(&self, bus: &str) {
        self.buses
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(bus);
    }

    /// A bus's compiled rules.
    pub(crate) async fn bus_rules(&self, bus: &str) -> Result<Arc<BusRules>, SinkError> {
        if let Some(b) = self
            .buses
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(bus)
        {
            return Ok(b.clone());
        }
        if self.store.resource(RESOURCE_BUS, bus).await?.is_none() {
            return Err(SinkError::NoSuchBus(bus.into()));
        }
        let mut compiled = BusRules::default();
        let prefix = format!("{bus}/");
        for r in self.store.resources(RESOURCE_RULE).await? {
            if !r.name.starts_with(&prefix) {
                continue;
            }
            let doc: RuleDoc = match serde_json::from_str(&r.document) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(rule = %r.name, err = %e, "skipping a corrupt rule");
                    continue;
                }
            };
            let Some(pattern) = doc
                .pattern
                .as_ref()
                .and_then(|p| Pattern::from_value(p).ok())
            else {
                continue;
            };
            if !doc.enabled {
                continue;
            }
            let transformers = doc
                .targets
                .iter()
                .map(|t| match &t.input {
                    InputDoc::Transformer { paths, template } => {
                        InputTransformer::new(paths.clone(), template).ok()
                    }
                    _ => None,
                })
                .collect();
            let arn = rules::rule_arn(&self.partition, bus, &doc.name);
            let i = compiled.rules.len();
            compiled.set.insert(i, pattern);
            compiled.rules.push(Arc::new(CompiledRule {
                doc,
                arn,
                transformers,
            }));
        }
        for (doc, _) in self
            .list_docs::<archive::ArchiveDoc>(archive::RESOURCE_ARCHIVE)
            .await
            .map_err(|e| SinkError::Store(e.to_string()))?
        {
            if doc.bus != bus || doc.state != archive::ENABLED {
                continue;
            }
            let pattern = doc
                .pattern
                .as_ref()
                .and_then(|p| Pattern::from_value(p).ok());
            compiled.archives.push((doc.name, pattern));
        }
        let compiled = Arc::new(compiled);
        self.buses
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(bus.to_owned(), compiled.clone());
        Ok(compiled)
    }

    /// Accepts events onto a bus (see [`EventSink::put_events`]); for a replay, only the
    /// rules named in `only_rules` see them, and they are not archived again.
    pub async fn accept(
        &self,
        bus: &str,
        events: &[CloudEvent],
        replay: Option<&archive::ReplayScope>,
    ) -> Result<usize, SinkError> {
        let compiled = self.bus_rules(bus).await?;
        let now = cirrus_engine::now_ms();
        let ingestion = timestamp(now);
        let mut accepted = Accepted::default();
        let mut matched = Vec::new();
        for event in events {
            let mut eb = event.to_eventbridge(&self.partition.account, &self.partition.region);
            if eb["time"] == "" {
                eb["time"] = json!(ingestion);
            }
            if let Some(r) = replay {
                eb["replay-name"] = json!(r.name);
            }
            matched.clear();
            matched.extend(compiled.set.matching(&eb));
            for &i in &matched {
                let Some(rule) = compiled.rules.get(i) else {
                    continue;
                };
                if replay.is_some_and(|r| !r.includes(&rule.doc.name)) {
                    continue;
                }
                for (t, transformer) in rule.doc.targets.iter().zip(&rule.transformers) {
                    let ctx = TransformContext {
                        rule_arn: &rule.arn,
                        rule_name: &rule.doc.name,
                        ingestion_time: &ingestion,
                    };
                    let input = render_input(t, transformer.as_ref(), event, &eb, &ctx);
                    accepted.deliveries.push(self.delivery(
                        bus,
                        &rule.doc.name,
                        &rule.arn,
                        t,
                        &eb,
                        input,
                        now,
                    ));
                }
            }
            if replay.is_none() {
                for (name, pattern) in &compiled.archives {
                    if pattern.as_ref().is_none_or(|p| p.matches(&eb)) {
                        accepted.archived.push(ArchivedEvent {
                            archive: name.clone(),
                            time_ms: now,
                            id: event.id.clone(),
                            event: event.to_json().to_string(),
                        });
                    }
                }
            }
        }
        let n = accepted.deliveries.len();
        if n > 0 || !accepted.archived.is_empty() {
            self.store.accept(&accepted).await?;
        }
        if n > 0 {
            self.wake.notify_one();
        }
        Ok(n)
    }

    /// A delivery of `eb` (rendered as `input`) to target `t` of a rule.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn delivery(
        &self,
        bus: &str,
        rule: &str,
        rule_arn: &str,
        t: &TargetDoc,
        eb: &Value,
        input: Option<String>,
        now: i64,
    ) -> Delivery {
        let payload = json!({
            "input": input,
            "target": t,
            "event": eb,
            "rule_arn": rule_arn,
        });
        Delivery {
            id: cirrus_engine::uuid(),
            bus: bus.into(),
            rule: rule.into(),
            target: t.id.clone(),
            payload: payload.to_string(),
            attempts: 0,
            due_ms: now,
            created_ms: now,
            last_error: None,
        }
    }
}

/// What a target receives for an event; `None` when it is the (EventBridge-shaped) event
/// itself, which the delivery carries anyway.
pub(crate) fn render_input(
    t: &TargetDoc,
    transformer: Option<&InputTransformer>,
    event: &CloudEvent,
    eb: &Value,
    ctx: &TransformContext<'_>,
) -> Option<String> {
    Some(match &t.input {
        InputDoc::Event => return None,
        InputDoc::CloudEvent => event.to_json().to_string(),
        InputDoc::Constant { value } => value.clone(),
        InputDoc::Path { path } => cirrus_events::transform::select(eb, path)
            .map(|v| v.to_string())
            .unwrap_or_default(),
        InputDoc::Transformer { paths, template } => match transformer {
            Some(tr) => tr.apply(eb, ctx),
            None => match InputTransformer::new(paths.clone(), template) {
                Ok(tr) => tr.apply(eb, ctx),
                Err(_) => eb.to_string(),
            },
        },
    })
}

#[async_trait]
impl EventSink for Events {
    async fn put_events(&self, bus: &str, events: Vec<CloudEvent>) -> Result<(), SinkError> {
        self.accept(bus, &events, None).await.map(|_| ())
    }
}

/// RFC 3339 with seconds, as EventBridge writes `time`.
pub(crate) fn timestamp(ms: i64) -> String {
    let s = cirrus_asl::timestamp::Timestamp::from_unix_millis(ms).to_iso_millis();
    // EventBridge's `time` has no fraction: `2026-11-27T10:00:00Z`.
    match s.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => s,
    }
}
