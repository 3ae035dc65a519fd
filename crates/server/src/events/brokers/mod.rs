//! NATS and MQTT: sources that turn broker messages into events, and targets that publish
//! to a broker.
//!
//! This file owns the manager ([`Brokers`]), the configuration types a user writes
//! ([`SourceConfig`], [`PublishTarget`]), what a source reports ([`SourceStatus`]), and what
//! both brokers share: turning a message into a [`CloudEvent`], batching, and handing
//! batches to an [`EventSink`]. `config.rs` reads configuration documents. `nats.rs` owns async-nats (core subjects, JetStream pull
//! consumers, publishing); `mqtt.rs` owns rumqttc (subscriptions with manual acks,
//! publishing with PUBACK tracking). Nothing else in the node imports either client.
//!
//! A source is one tokio task per configured source, started by [`Brokers::apply_source`]
//! and stopped by [`Brokers::remove_source`] or [`Brokers::shutdown`]. It reconnects with
//! back-off (100 ms doubling to 5 s) for as long as it runs, and reports its state through
//! [`Brokers::source_status`]. Delivery is at-least-once: a message is acknowledged to its
//! broker (JetStream ack, MQTT PUBACK) only after [`EventSink::put_events`] accepted it.
//! Core NATS and MQTT QoS 0 have no acknowledgement; for them a failed `put_events` is
//! retried in the source (with back-off) for as long as the source runs.
//!
//! # Configuration
//!
//! A source (unknown fields are rejected; errors name the field):
//!
//! ```json
//! {"type": "nats", "url": "nats://127.0.0.1:4222", "subject": "orders.>",
//!  "queue_group": "cirrus", "bus": "default"}
//! {"type": "nats", "url": "nats://127.0.0.1:4222", "bus": "default",
//!  "jetstream": {"stream": "ORDERS", "consumer": "cirrus", "subjects": ["orders.>"],
//!                "deliver": "all"}}
//! {"type": "mqtt", "url": "mqtt://user:pass@127.0.0.1:1883",
//!  "topics": ["sensors/+/temperature"], "qos": 1, "bus": "default",
//!  "client_id": "cirrus-sensors", "clean_session": false}
//! ```
//!
//! Common optional fields: `bus` (default `"default"`), `event_source` (default
//! `cirrus.nats` / `cirrus.mqtt`), `event_type` (default `NATS Message` / `MQTT Message`).
//! See [`nats::NatsSource`] and [`mqtt::MqttSource`] for the rest.
//!
//! A publish target (a rule target):
//!
//! ```json
//! {"type": "nats", "url": "nats://127.0.0.1:4222", "subject": "out.orders", "headers": {"k": "v"}}
//! {"type": "mqtt", "url": "mqtt://127.0.0.1:1883", "topic": "out/orders", "qos": 1, "retain": false}
//! ```
//!
//! # The events
//!
//! `source` = `event_source`, `type` = `event_type`, `subject` = the subject or topic,
//! `time` = when the message was received, `id` = `<stream>:<stream sequence>` for JetStream
//! (stable across redeliveries) and a random UUID otherwise, `datacontenttype` =
//! `application/json`, and `data` = `{"subject"|"topic": ..., "payload": ..., ...}` where the
//! payload is the message parsed as JSON if it is JSON, else its UTF-8 text, else
//! `{"base64": ...}`; NATS adds `"headers"` (name → value, or list of values), MQTT adds
//! `"qos"`, `"retain"` and `"dup"`. A message that is itself a structured CloudEvent (NATS
//! header `Content-Type: application/cloudevents+json`, or a JSON object with
//! `specversion`) becomes that event. A message that claims to be a CloudEvent but is not a
//! valid one is logged and delivered wrapped like any other message.

mod config;
pub mod mqtt;
pub mod nats;

pub(crate) use config::{Fields, split_url};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use cirrus_events::CloudEvent;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{EventSink, SinkError};

/// At most this many messages go into one `put_events` call...
const BATCH_MAX: usize = 100;
/// ...and a batch waits at most this long for more after its first message.
const BATCH_WAIT: Duration = Duration::from_millis(10);
/// How long a publish may take (connecting included) before it fails.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to a broker may take before the attempt fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Brokers::remove_source`] waits for a source to stop before aborting it.
const STOP_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrokerError {
    /// A configuration document is wrong; `field` is a path such as `jetstream.stream`.
    #[error("'{field}': {message}")]
    Config { field: String, message: String },
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("publishing to {url} failed: {message}")]
    Publish { url: String, message: String },
    #[error("publishing to {url} did not complete within {}s", .after.as_secs())]
    Timeout { url: String, after: Duration },
    #[error("the broker service is shut down")]
    ShutDown,
}

impl BrokerError {
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        BrokerError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a source is and where its events go.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// The event bus the events are put on.
    pub bus: String,
    /// The CloudEvents `source` of the events.
    pub event_source: String,
    /// The CloudEvents `type` of the events.
    pub event_type: String,
    pub broker: BrokerSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BrokerSource {
    Nats(nats::NatsSource),
    Mqtt(mqtt::MqttSource),
}

impl SourceConfig {
    /// Parses a source's JSON configuration (see the module docs for its shapes).
    pub fn parse(config: &Value) -> Result<SourceConfig, BrokerError> {
        let mut fields = Fields::new(config, "")?;
        let ty = fields.required_str("type")?;
        let (default_source, default_type) = match ty.as_str() {
            "nats" => ("cirrus.nats", "NATS Message"),
            "mqtt" => ("cirrus.mqtt", "MQTT Message"),
            other => {
                return Err(BrokerError::config(
                    "type",
                    format!("'{other}' is not a source type; use \"nats\" or \"mqtt\""),
                ));
            }
        };
        let bus = fields
            .optional_str("bus")?
            .unwrap_or_else(|| "default".into());
        let event_source = fields
            .optional_str("event_source")?
            .unwrap_or_else(|| default_source.into());
        let event_type = fields
            .optional_str("event_type")?
            .unwrap_or_else(|| default_type.into());
        let broker = match ty.as_str() {
            "nats" => BrokerSource::Nats(nats::NatsSource::parse(&mut fields)?),
            _ => BrokerSource::Mqtt(mqtt::MqttSource::parse(&mut fields)?),
        };
        fields.finish()?;
        Ok(SourceConfig {
            bus,
            event_source,
            event_type,
            broker,
        })
    }
}

/// Where a rule target publishes.
#[derive(Debug, Clone, PartialEq)]
pub enum PublishTarget {
    Nats(nats::NatsTarget),
    Mqtt(mqtt::MqttTarget),
}

impl PublishTarget {
    /// Parses a publish target's JSON configuration (see the module docs for its shapes).
    pub fn parse(config: &Value) -> Result<PublishTarget, BrokerError> {
        let mut fields = Fields::new(config, "")?;
        let target = match fields.required_str("type")?.as_str() {
            "nats" => PublishTarget::Nats(nats::NatsTarget::parse(&mut fields)?),
            "mqtt" => PublishTarget::Mqtt(mqtt::MqttTarget::parse(&mut fields)?),
            other => {
                return Err(BrokerError::config(
                    "type",
                    format!("'{other}' is not a publish target type; use \"nats\" or \"mqtt\""),
                ));
            }
        };
        fields.finish()?;
        Ok(target)
    }
}

/// What a source reports: whether it is connected, its last error, and counts since it
/// started. Serializes as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceStatus {
    pub state: SourceState,
    pub connected: bool,
    /// The last error (connecting, subscribing, or the sink refusing events), if any.
    pub last_error: Option<String>,
    /// RFC 3339 time of `last_error`.
    pub last_error_at: Option<String>,
    /// Messages received from the broker (redeliveries count again).
    pub received: u64,
    /// Events the sink accepted.
    pub accepted: u64,
    /// Events the sink refused as invalid, one at a time: logged and acknowledged, since
    /// retrying cannot help.
    pub rejected: u64,
    /// MQTT QoS 0 messages dropped because the source's buffer was full (logged).
    pub dropped: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    #[default]
    Connecting,
    Connected,
    Disconnected,
    Stopped,
}

/// A source's status, shared between its task and the manager. Locked only to copy or
/// bump fields.
#[derive(Debug, Default)]
pub(crate) struct StatusCell(Mutex<SourceStatus>);

impl StatusCell {
    fn update(&self, f: impl FnOnce(&mut SourceStatus)) {
        let mut status = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut status);
    }

    fn snapshot(&self) -> SourceStatus {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_state(&self, state: SourceState) {
        self.update(|s| {
            s.state = state;
            s.connected = state == SourceState::Connected;
        });
    }

    pub(crate) fn error(&self, message: impl Into<String>) {
        let message = message.into();
        self.update(|s| {
            s.last_error = Some(message);
            s.last_error_at = Some(rfc3339_now());
        });
    }

    pub(crate) fn disconnected(&self, message: impl Into<String>) {
        self.set_state(SourceState::Disconnected);
        self.error(message);
    }

    pub(crate) fn received(&self, n: usize) {
        self.update(|s| s.received += n as u64);
    }

    pub(crate) fn dropped(&self) {
        self.update(|s| s.dropped += 1);
    }
}

/// What a running source's task is given.
pub(crate) struct SourceContext {
    pub name: String,
    pub config: SourceConfig,
    pub sink: Arc<dyn EventSink>,
    pub status: Arc<StatusCell>,
    pub stop: watch::Receiver<bool>,
}

impl SourceContext {
    pub(crate) fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when the source is told to stop (or its manager is gone).
    pub(crate) async fn stopped(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|s| *s).await;
    }

    /// Sleeps for `delay`; false if the source was told to stop meanwhile.
    pub(crate) async fn sleep(&self, delay: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => !self.is_stopped(),
            () = self.stopped() => false,
        }
    }

    /// Puts a batch onto the bus. If the sink refuses the batch as invalid, each event is
    /// put alone, and one it refuses alone is logged and counted as rejected (retrying it
    /// cannot help). `Ok` means every event was accepted or rejected; an error means the
    /// batch (or part of it) must be delivered again.
    pub(crate) async fn put(&self, events: Vec<CloudEvent>) -> Result<(), SinkError> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        let bus = &self.config.bus;
        match self.sink.put_events(bus, events.clone()).await {
            Ok(()) => {
                self.status.update(|s| s.accepted += n as u64);
                return Ok(());
            }
            Err(SinkError::Invalid(_)) if n > 1 => {}
            Err(SinkError::Invalid(why)) => {
                self.reject(&events[0], &why);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        for event in events {
            match self.sink.put_events(bus, vec![event.clone()]).await {
                Ok(()) => self.status.update(|s| s.accepted += 1),
                Err(SinkError::Invalid(why)) => self.reject(&event, &why),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn reject(&self, event: &CloudEvent, why: &str) {
        tracing::error!(
            source = %self.name,
            event = %event.to_json(),
            "the event bus refused an event from a broker source as invalid; it is dropped: {why}"
        );
        self.status.update(|s| s.rejected += 1);
        self.status
            .error(format!("event {} refused: {why}", event.id));
    }

    /// [`Self::put`] until it succeeds, backing off between attempts. False if the source
    /// was told to stop first (the batch was then not accepted).
    pub(crate) async fn put_until_accepted(&self, events: Vec<CloudEvent>) -> bool {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match self.put(events.clone()).await {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(source = %self.name, "the event bus did not accept a batch; retrying: {e}");
                    self.status
                        .error(format!("the event bus did not accept events: {e}"));
                }
            }
            if !self.sleep(backoff.next_delay()).await {
                return false;
            }
        }
    }
}

/// Exponential back-off: `first`, doubling, capped at `max`.
pub(crate) struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            next: first,
            max,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}

/// The reconnect back-off of sources.
pub(crate) fn reconnect_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}

/// What one batch read produced.
pub(crate) enum Batch<T> {
    /// Up to [`BATCH_MAX`] items; the stream may have more.
    Items(Vec<T>),
    /// The stream ended after these (possibly no) items.
    Ended(Vec<T>),
    /// The source was told to stop; nothing was read.
    Stopped,
}

/// Waits for an item, then takes more for up to [`BATCH_WAIT`] or [`BATCH_MAX`] items.
pub(crate) async fn next_batch<S>(stream: &mut S, ctx: &SourceContext) -> Batch<S::Item>
where
    S: Stream + Unpin,
{
    let first = tokio::select! {
        item = stream.next() => item,
        () = ctx.stopped() => return Batch::Stopped,
    };
    let Some(first) = first else {
        return Batch::Ended(Vec::new());
    };
    let mut items = vec![first];
    let deadline = tokio::time::Instant::now() + BATCH_WAIT;
    while items.len() < BATCH_MAX {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return Batch::Ended(items),
            Err(_) => break,
        }
    }
    Batch::Items(items)
}

/// A message as both brokers describe it, before it becomes an event.
pub(crate) struct Message<'a> {
    pub id: Option<String>,
    /// `"subject"` (NATS) or `"topic"` (MQTT): the key of `subject` in `data`.
    pub subject_key: &'static str,
    pub subject: &'a str,
    pub payload: &'a [u8],
    /// The message says it is a structured CloudEvent (a content-type header).
    pub claims_cloudevent: bool,
    /// Broker-specific members of `data` (headers, qos, retain).
    pub extra: Map<String, Value>,
}

/// The event for a message (see the module docs). Never fails: whatever cannot be read
/// as it claims is logged and delivered wrapped.
pub(crate) fn to_event(config: &SourceConfig, source_name: &str, m: Message<'_>) -> CloudEvent {
    let json: Option<Value> = serde_json::from_slice(m.payload).ok();
    let looks_structured = matches!(&json, Some(Value::Object(o)) if o.contains_key("specversion"));
    if m.claims_cloudevent || looks_structured {
        match json.clone().map(CloudEvent::from_json) {
            Some(Ok(event)) => return event,
            Some(Err(e)) => tracing::warn!(
                source = %source_name, subject = %m.subject,
                "a message looks like a CloudEvent but is not a valid one; delivering it wrapped: {e}"
            ),
            None => tracing::warn!(
                source = %source_name, subject = %m.subject,
                "a message says it is a CloudEvent but is not JSON; delivering it as text"
            ),
        }
    }
    let payload = match json {
        Some(v) => v,
        None => match std::str::from_utf8(m.payload) {
            Ok(text) => Value::String(text.to_owned()),
            Err(_) => {
                json!({"base64": base64::engine::general_purpose::STANDARD.encode(m.payload)})
            }
        },
    };
    let mut data = Map::new();
    data.insert(m.subject_key.into(), json!(m.subject));
    data.insert("payload".into(), payload);
    data.extend(m.extra);
    let id = m.id.unwrap_or_else(random_id);
    let mut event = CloudEvent::new(id, &config.event_source, &config.event_type);
    event.subject = Some(m.subject.to_owned());
    event.time = Some(rfc3339_now());
    event.datacontenttype = Some("application/json".into());
    event.data = Some(Value::Object(data));
    event
}

/// A random (version 4) UUID from the OS's generator; should that fail, a time-based one.
pub(crate) fn random_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = nanos.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to a civil date (Gregorian), counting 400-year cycles from 0000-03-01.
    let z = days + 719_468;
    let cycle = z.div_euclid(146_097);
    let day_of_cycle = z.rem_euclid(146_097);
    let year_of_cycle = (day_of_cycle - day_of_cycle / 1_460 + day_of_cycle / 36_524
        - day_of_cycle / 146_096)
        / 365;
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = cycle * 400 + year_of_cycle + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_millis()
    )
}

struct RunningSource {
    status: Arc<StatusCell>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningSource {
    /// Tells the source to stop and waits up to [`STOP_GRACE`] for it, then aborts it.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(STOP_GRACE, self.task).await.is_err() {
            abort.abort();
        }
        self.status.set_state(SourceState::Stopped);
    }
}

/// The node's broker sources and publish connections.
pub struct Brokers {
    sources: Mutex<HashMap<String, RunningSource>>,
    nats: nats::Publishers,
    mqtt: mqtt::Publishers,
    shut_down: AtomicBool,
}

impl Brokers {
    pub fn new() -> Arc<Brokers> {
        Arc::new(Brokers {
            sources: Mutex::new(HashMap::new()),
            nats: nats::Publishers::default(),
            mqtt: mqtt::Publishers::default(),
            shut_down: AtomicBool::new(false),
        })
    }

    /// Starts the source `name`, replacing (stopping first) one of that name. Returns once
    /// it is started, without waiting for it to connect: [`Self::source_status`] says how
    /// it is doing. Blocks only while a replaced source stops (at most a few seconds).
    /// Must be called within a tokio runtime.
    pub async fn apply_source(
        &self,
        name: &str,
        config: SourceConfig,
        sink: Arc<dyn EventSink>,
    ) -> Result<(), BrokerError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(BrokerError::ShutDown);
        }
        let old = self.lock_sources().remove(name);
        if let Some(old) = old {
            old.stop().await;
        }
        let status = Arc::new(StatusCell::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let ctx = SourceContext {
            name: name.to_owned(),
            config,
            sink,
            status: status.clone(),
            stop: stop_rx,
        };
        let task = tokio::spawn(async move {
            match ctx.config.broker.clone() {
                BrokerSource::Nats(n) => nats::run_source(&n, &ctx).await,
                BrokerSource::Mqtt(m) => mqtt::run_source(&m, &ctx).await,
            }
            ctx.status.set_state(SourceState::Stopped);
        });
        let running = RunningSource {
            status,
            stop: stop_tx,
            task,
        };
        // Another apply of the same name may have raced us; the later insert wins.
        let other = self.lock_sources().insert(name.to_owned(), running);
        if let Some(other) = other {
            other.stop().await;
        }
        Ok(())
    }

    /// Stops and forgets the source `name`; false if there was none. Messages it had
    /// received but not yet handed to the sink are not acknowledged, so the broker
    /// redelivers them where it can (JetStream, MQTT QoS 1 with a persistent session).
    /// Blocks until the source stopped (at most a few seconds).
    pub async fn remove_source(&self, name: &str) -> bool {
        let running = self.lock_sources().remove(name);
        match running {
            Some(r) => {
                r.stop().await;
                true
            }
            None => false,
        }
    }

    /// The status of the source `name`. Never blocks.
    pub fn source_status(&self, name: &str) -> Option<SourceStatus> {
        self.lock_sources().get(name).map(|r| r.status.snapshot())
    }

    /// Publishes `payload` to `target`, over one connection per broker URL (made on first
    /// use, remade after it fails). Returns once the broker has the message: NATS after a
    /// flush round trip, MQTT QoS 1 after the PUBACK, QoS 0 once written. Fails after
    /// [`PUBLISH_TIMEOUT`], so the caller can retry.
    pub async fn publish(
        &self,
        target: &PublishTarget,
        payload: bytes::Bytes,
    ) -> Result<(), BrokerError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(BrokerError::ShutDown);
        }
        match target {
            PublishTarget::Nats(t) => self.nats.publish(t, payload).await,
            PublishTarget::Mqtt(t) => self.mqtt.publish(t, payload).await,
        }
    }

    /// Stops every source and closes the publish connections. Later calls to
    /// [`Self::apply_source`] and [`Self::publish`] fail.
    pub async fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
        let running: Vec<RunningSource> = self.lock_sources().drain().map(|(_, r)| r).collect();
        for r in running {
            r.stop().await;
        }
        self.nats.close().await;
        self.mqtt.close().await;
    }

    fn lock_sources(&self) -> std::sync::MutexGuard<'_, HashMap<String, RunningSource>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let id = random_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, random_id());
    }

    #[test]
    fn now_is_rfc3339() {
        assert!(cirrus_events::cloudevent::is_rfc3339(&rfc3339_now()));
    }
}
