//! NATS through async-nats: core-subject sources (optionally in a queue group), JetStream
//! durable pull-consumer sources, and publishing. The only file that imports async-nats.
//!
//! A source task connects (failing after 5 s), then lets the client reconnect by itself;
//! the client's connection events update the source's status. If the subscription or the
//! JetStream message stream ends, the task drops the client and starts over after a
//! back-off. JetStream messages are acked after `put_events` accepted them and nak'd with a
//! 1 s delay when it did not, so JetStream redelivers them; core NATS has no acks, so a
//! refused batch is retried in the task.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, stream};
use async_nats::{Client, ConnectOptions, HeaderMap};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::{
    Batch, BrokerError, CONNECT_TIMEOUT, Fields, Message, PUBLISH_TIMEOUT, SourceContext,
    SourceState, next_batch, reconnect_backoff, split_url, to_event,
};

/// How long JetStream waits before redelivering a message the sink did not accept.
const NAK_DELAY: Duration = Duration::from_secs(1);

/// A NATS source.
///
/// `url` (required, `nats://[user:pass@]host:port` or `tls://...`); then either `subject`
/// (a subject, wildcards allowed) with an optional `queue_group`, or `jetstream`:
/// `{"stream": NAME, "consumer": DURABLE, "subjects": [...]?, "deliver": "all"|"new"}`.
/// With `jetstream`, a `subject` filters the consumer; the stream is created only if
/// `subjects` is given and it does not exist; the durable consumer is created if absent
/// (explicit acks; `deliver` defaults to `all`, and applies only when it is created).
#[derive(Debug, Clone, PartialEq)]
pub struct NatsSource {
    pub url: String,
    pub subject: Option<String>,
    pub queue_group: Option<String>,
    pub jetstream: Option<JetStreamConsumer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JetStreamConsumer {
    pub stream: String,
    pub consumer: String,
    /// Subjects to create the stream with, if it does not exist.
    pub subjects: Option<Vec<String>>,
    /// Deliver every message in the stream (`true`, "all") or only new ones ("new").
    pub deliver_all: bool,
}

/// A NATS publish target: `url`, `subject` (no wildcards), optional `headers`
/// (`{"name": "value"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct NatsTarget {
    pub url: String,
    pub subject: String,
    pub headers: BTreeMap<String, String>,
}

fn parse_url(fields: &mut Fields<'_>) -> Result<String, BrokerError> {
    let url = fields.required_str("url")?;
    split_url(&url, &fields.path("url"), &["nats", "tls"], 4222)?;
    Ok(url)
}

/// Checks a subject: dot-separated non-empty tokens without spaces; `*` as a whole token
/// and `>` as the last one are wildcards, allowed only if `wildcards`.
fn check_subject(
    fields: &Fields<'_>,
    name: &str,
    subject: &str,
    wildcards: bool,
) -> Result<(), BrokerError> {
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        let why = if t.is_empty() {
            Some("has an empty token")
        } else if t.contains(char::is_whitespace) {
            Some("contains whitespace")
        } else if (*t == "*" || *t == ">") && !wildcards {
            Some("may not contain wildcards here")
        } else if *t == ">" && i + 1 != tokens.len() {
            Some("may have '>' only as its last token")
        } else if t.len() > 1 && (t.contains('*') || t.contains('>')) {
            Some("may use '*' and '>' only as whole tokens")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(fields.error(name, format!("the subject '{subject}' {why}")));
        }
    }
    Ok(())
}

/// JetStream stream and consumer names: no whitespace, `.`, `*`, `>`, or path separators.
fn check_name(fields: &Fields<'_>, name: &str, value: &str) -> Result<(), BrokerError> {
    if value
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
    {
        return Err(fields.error(
            name,
            format!("'{value}' may not contain whitespace, '.', '*', '>', '/' or '\\'"),
        ));
    }
    Ok(())
}

impl NatsSource {
    pub(crate) fn parse(fields: &mut Fields<'_>) -> Result<NatsSource, BrokerError> {
        let url = parse_url(fields)?;
        let subject = fields.optional_str("subject")?;
        if let Some(s) = &subject {
            check_subject(fields, "subject", s, true)?;
        }
        let queue_group = fields.optional_str("queue_group")?;
        let jetstream = match fields.get("jetstream") {
            None => None,
            Some(v) => {
                let mut js = Fields::new(v, &fields.path("jetstream"))?;
                let stream = js.required_str("stream")?;
                check_name(&js, "stream", &stream)?;
                let consumer = js.required_str("consumer")?;
                check_name(&js, "consumer", &consumer)?;
                let subjects = js.optional_str_list("subjects")?;
                for s in subjects.iter().flatten() {
                    check_subject(&js, "subjects", s, true)?;
                }
                let deliver_all = match js.optional_str("deliver")?.as_deref() {
                    None | Some("all") => true,
                    Some("new") => false,
                    Some(other) => {
                        return Err(js.error(
                            "deliver",
                            format!("'{other}' is not a deliver policy; use \"all\" or \"new\""),
                        ));
                    }
                };
                js.finish()?;
                Some(JetStreamConsumer {
                    stream,
                    consumer,
                    subjects,
                    deliver_all,
                })
            }
        };
        match (&subject, &jetstream) {
            (None, None) => {
                return Err(fields.error("subject", "is required (or give \"jetstream\")"));
            }
            (_, Some(_)) if queue_group.is_some() => {
                return Err(fields.error(
                    "queue_group",
                    "does not apply to a JetStream consumer (its instances share the durable consumer)",
                ));
            }
            _ => {}
        }
        Ok(NatsSource {
            url,
            subject,
            queue_group,
            jetstream,
        })
    }
}

impl NatsTarget {
    pub(crate) fn parse(fields: &mut Fields<'_>) -> Result<NatsTarget, BrokerError> {
        let url = parse_url(fields)?;
        let subject = fields.required_str("subject")?;
        check_subject(fields, "subject", &subject, false)?;
        let mut headers = BTreeMap::new();
        if let Some(v) = fields.get("headers") {
            let Value::Object(map) = v else {
                return Err(fields.error("headers", "must be an object of strings"));
            };
            for (k, v) in map {
                let Some(s) = v.as_str() else {
                    return Err(fields.error("headers", format!("'{k}' must be a string")));
                };
                if k.is_empty() || k.contains(|c: char| c.is_whitespace() || c == ':') {
                    return Err(fields.error("headers", format!("'{k}' is not a header name")));
                }
                if s.contains(['\r', '\n']) {
                    return Err(fields.error("headers", format!("'{k}' has a line break")));
                }
                headers.insert(k.clone(), s.to_owned());
            }
        }
        Ok(NatsTarget {
            url,
            subject,
            headers,
        })
    }
}

/// Connects, failing after [`CONNECT_TIMEOUT`]; afterwards the client reconnects by itself
/// and its connection events go to `ctx`'s status.
/// Connection events after `closing` is set are this source's own doing and not reported.
async fn connect_source(
    url: &str,
    ctx: &SourceContext,
    closing: Arc<AtomicBool>,
) -> Result<Client, String> {
    let status = ctx.status.clone();
    let name = ctx.name.clone();
    let options = ConnectOptions::new()
        .name(format!("cirrus source {}", ctx.name))
        .connection_timeout(CONNECT_TIMEOUT)
        .event_callback(move |event| {
            let status = status.clone();
            let name = name.clone();
            let closing = closing.clone();
            async move {
                if closing.load(Ordering::SeqCst) {
                    return;
                }
                match event {
                    async_nats::Event::Connected => status.set_state(SourceState::Connected),
                    async_nats::Event::Disconnected => {
                        status.disconnected("disconnected from the NATS server; reconnecting");
                    }
                    async_nats::Event::SlowConsumer(_) => {
                        tracing::error!(source = %name, "NATS dropped messages: the source is a slow consumer");
                        status.error("slow consumer: NATS dropped messages for this source");
                    }
                    other => {
                        tracing::warn!(source = %name, "NATS: {other}");
                        status.error(format!("NATS: {other}"));
                    }
                }
            }
        });
    options
        .connect(url)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))
}

/// Runs a NATS source until it is told to stop.
pub(crate) async fn run_source(config: &NatsSource, ctx: &SourceContext) {
    let mut backoff = reconnect_backoff();
    while !ctx.is_stopped() {
        ctx.status.set_state(SourceState::Connecting);
        let closing = Arc::new(AtomicBool::new(false));
        let attempt = tokio::select! {
            r = connect_source(&config.url, ctx, closing.clone()) => r,
            () = ctx.stopped() => return,
        };
        let result = match attempt {
            Ok(client) => {
                ctx.status.set_state(SourceState::Connected);
                backoff.reset();
                let r = match &config.jetstream {
                    Some(js) => run_jetstream(&client, config, js, ctx).await,
                    None => run_core(&client, config, ctx).await,
                };
                closing.store(true, Ordering::SeqCst);
                let _ = client.drain().await;
                r
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(source = %ctx.name, "NATS source: {e}");
                ctx.status.disconnected(e);
            }
        }
        if !ctx.sleep(backoff.next_delay()).await {
            return;
        }
    }
}

/// The data members NATS adds: `headers`, name → value (or a list if repeated).
fn headers_json(headers: Option<&HeaderMap>) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(h) = headers {
        let mut obj: BTreeMap<String, Value> = BTreeMap::new();
        for (name, values) in h.iter() {
            let vals: Vec<Value> = values.iter().map(|v| json!(v.as_str())).collect();
            let v = match <[Value; 1]>::try_from(vals) {
                Ok([one]) => one,
                Err(many) => Value::Array(many),
            };
            obj.insert(name.to_string(), v);
        }
        extra.insert("headers".into(), json!(obj));
    }
    extra
}

fn claims_cloudevent(headers: Option<&HeaderMap>) -> bool {
    headers
        .and_then(|h| h.get("Content-Type"))
        .is_some_and(|v| {
            v.as_str()
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/cloudevents+json")
        })
}

fn event_for(
    ctx: &SourceContext,
    id: Option<String>,
    m: &async_nats::Message,
) -> cirrus_events::CloudEvent {
    to_event(
        &ctx.config,
        &ctx.name,
        Message {
            id,
            subject_key: "subject",
            subject: m.subject.as_str(),
            payload: &m.payload,
            claims_cloudevent: claims_cloudevent(m.headers.as_ref()),
            extra: headers_json(m.headers.as_ref()),
        },
    )
}

/// A core NATS subscription: Ok when told to stop, Err when the subscription ended.
async fn run_core(client: &Client, config: &NatsSource, ctx: &SourceContext) -> Result<(), String> {
    let subject = config.subject.clone().unwrap_or_default();
    let subscribed = match &config.queue_group {
        Some(q) => client.queue_subscribe(subject.clone(), q.clone()).await,
        None => client.subscribe(subject.clone()).await,
    };
    let mut sub = subscribed.map_err(|e| format!("cannot subscribe to '{subject}': {e}"))?;
    loop {
        let (messages, ended) = match next_batch(&mut sub, ctx).await {
            Batch::Stopped => return Ok(()),
            Batch::Items(m) => (m, false),
            Batch::Ended(m) => (m, true),
        };
        ctx.status.received(messages.len());
        let events = messages.iter().map(|m| event_for(ctx, None, m)).collect();
        if !ctx.put_until_accepted(events).await {
            return Ok(());
        }
        if ended {
            return Err(format!("the subscription to '{subject}' ended"));
        }
    }
}

/// Finds the stream (creating it if `subjects` were given) and the durable consumer
/// (creating it if absent).
async fn pull_consumer(
    js: &jetstream::Context,
    config: &NatsSource,
    c: &JetStreamConsumer,
) -> Result<consumer::PullConsumer, String> {
    let stream = match js.get_stream(&c.stream).await {
        Ok(s) => s,
        Err(e) => {
            let missing = matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            );
            match (&c.subjects, missing) {
                (Some(subjects), true) => js
                    .create_stream(stream::Config {
                        name: c.stream.clone(),
                        subjects: subjects.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| format!("cannot create the stream '{}': {e}", c.stream))?,
                (None, true) => {
                    return Err(format!(
                        "the JetStream stream '{}' does not exist (give jetstream.subjects to create it)",
                        c.stream
                    ));
                }
                _ => return Err(format!("cannot look up the stream '{}': {e}", c.stream)),
            }
        }
    };
    let consumer_config = consumer::pull::Config {
        durable_name: Some(c.consumer.clone()),
        deliver_policy: if c.deliver_all {
            consumer::DeliverPolicy::All
        } else {
            consumer::DeliverPolicy::New
        },
        ack_policy: consumer::AckPolicy::Explicit,
        filter_subject: config.subject.clone().unwrap_or_default(),
        ..Default::default()
    };
    stream
        .get_or_create_consumer(&c.consumer, consumer_config)
        .await
        .map_err(|e| {
            format!(
                "cannot get or create the consumer '{}' on the stream '{}': {e}",
                c.consumer, c.stream
            )
        })
}

/// A JetStream pull consumer: Ok when told to stop, Err when its message stream failed.
async fn run_jetstream(
    client: &Client,
    config: &NatsSource,
    c: &JetStreamConsumer,
    ctx: &SourceContext,
) -> Result<(), String> {
    let js = jetstream::new(client.clone());
    let consumer = pull_consumer(&js, config, c).await?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(super::BATCH_MAX)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(|e| format!("cannot pull from the consumer '{}': {e}", c.consumer))?;
    loop {
        let (items, ended) = match next_batch(&mut messages, ctx).await {
            Batch::Stopped => return Ok(()),
            Batch::Items(m) => (m, false),
            Batch::Ended(m) => (m, true),
        };
        let mut batch = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Ok(m) => batch.push(m),
                Err(e) => {
                    use consumer::pull::MessagesErrorKind as K;
                    if matches!(e.kind(), K::ConsumerDeleted | K::PushBasedConsumer) {
                        return Err(format!("the consumer '{}': {e}", c.consumer));
                    }
                    tracing::warn!(source = %ctx.name, "JetStream: {e}");
                    ctx.status.error(format!("JetStream: {e}"));
                }
            }
        }
        ctx.status.received(batch.len());
        let events = batch
            .iter()
            .map(|m| {
                let id = m
                    .info()
                    .ok()
                    .map(|i| format!("{}:{}", i.stream, i.stream_sequence));
                event_for(ctx, id, &m.message)
            })
            .collect();
        let (kind, ack_name) = match ctx.put(events).await {
            Ok(()) => (AckKind::Ack, "ack"),
            Err(e) => {
                tracing::warn!(source = %ctx.name, "the event bus did not accept a batch; JetStream will redeliver it: {e}");
                ctx.status
                    .error(format!("the event bus did not accept events: {e}"));
                (AckKind::Nak(Some(NAK_DELAY)), "nak")
            }
        };
        for m in &batch {
            if let Err(e) = m.ack_with(kind).await {
                tracing::warn!(source = %ctx.name, "cannot {ack_name} a JetStream message (it will be redelivered): {e}");
            }
        }
        if ended {
            return Err(format!(
                "the message stream of consumer '{}' ended",
                c.consumer
            ));
        }
    }
}

/// One client per URL, made on first use. async-nats reconnects a client by itself; a
/// client that is closed or fails a publish is replaced on the next publish.
#[derive(Default)]
pub(crate) struct Publishers {
    clients: Mutex<HashMap<String, Arc<Mutex<Option<Client>>>>>,
}

impl Publishers {
    pub(crate) async fn publish(&self, t: &NatsTarget, payload: Bytes) -> Result<(), BrokerError> {
        match tokio::time::timeout(PUBLISH_TIMEOUT, self.publish_inner(t, payload)).await {
            Ok(r) => r,
            Err(_) => Err(BrokerError::Timeout {
                url: t.url.clone(),
                after: PUBLISH_TIMEOUT,
            }),
        }
    }

    async fn client(&self, url: &str) -> Result<Client, BrokerError> {
        let slot = self
            .clients
            .lock()
            .await
            .entry(url.to_owned())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(c) = slot.as_ref()
            && c.connection_state() != async_nats::connection::State::Disconnected
        {
            return Ok(c.clone());
        }
        let client = ConnectOptions::new()
            .name("cirrus publisher")
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(url)
            .await
            .map_err(|e| BrokerError::Connect {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn forget(&self, url: &str) {
        let slot = self.clients.lock().await.remove(url);
        if let Some(slot) = slot
            && let Some(c) = slot.lock().await.take()
        {
            let _ = c.drain().await;
        }
    }

    async fn publish_inner(&self, t: &NatsTarget, payload: Bytes) -> Result<(), BrokerError> {
        let client = self.client(&t.url).await?;
        let failed = |e: String| BrokerError::Publish {
            url: t.url.clone(),
            message: e,
        };
        let sent = if t.headers.is_empty() {
            client.publish(t.subject.clone(), payload).await
        } else {
            let mut headers = HeaderMap::new();
            for (k, v) in &t.headers {
                headers.insert(k.as_str(), v.as_str());
            }
            client
                .publish_with_headers(t.subject.clone(), headers, payload)
                .await
        };
        let result = match sent {
            Ok(()) => client.flush().await.map_err(|e| failed(e.to_string())),
            Err(e) => Err(failed(e.to_string())),
        };
        if result.is_err() {
            self.forget(&t.url).await;
        }
        result
    }

    pub(crate) async fn close(&self) {
        let slots: Vec<_> = self.clients.lock().await.drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(c) = slot.lock().await.take() {
                let _ = c.drain().await;
            }
        }
    }
}
