//! MQTT 3.1.1 through rumqttc: topic-filter sources with manual acks, and publishing with
//! PUBACK tracking. The only file that imports rumqttc. Plaintext `mqtt://` only (rumqttc's
//! TLS would bring a second rustls-webpki).
//!
//! A source is two loops sharing one rumqttc client: the connection loop polls the event
//! loop (which must never block: it also sends pings and acks), reconnects with back-off,
//! (re)subscribes after each connect that has no stored session, and hands each PUBLISH to
//! the delivery loop; the delivery loop batches them into `put_events`, retrying with
//! back-off while the bus refuses them, and only then sends each QoS 1 PUBACK. A message
//! not acked when the source stops or loses its connection is redelivered by the broker on
//! the next connect if the session persists (`clean_session: false`, the default).
//!
//! A publisher is one client per URL (clean session) whose loop matches PUBACKs to the
//! publishes waiting for them; when its connection fails, every waiting publish fails and
//! the next publish makes a new client.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, Incoming, MqttOptions, Outgoing, Publish, QoS,
    SubscribeFilter, SubscribeReasonCode,
};
use serde_json::{Map, json};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{
    Batch, BrokerError, CONNECT_TIMEOUT, Fields, Message, PUBLISH_TIMEOUT, SourceContext,
    SourceState, next_batch, random_id, reconnect_backoff, split_url, to_event,
};

/// Messages buffered between the connection loop and the delivery loop. QoS 1 messages
/// are bounded by the broker's in-flight window; QoS 0 ones past this are dropped (logged
/// and counted in the status).
const BUFFER: usize = 10_000;
const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// An MQTT source: `url` (`mqtt://[user[:password]@]host[:port]`), `topics` (topic
/// filters, `+` and `#` wildcards), `qos` (0 or 1, default 1), `client_id` (default
/// `cirrus-<source name>`), `clean_session` (default false: the broker keeps the
/// subscription and unacked messages while the source is away).
#[derive(Debug, Clone, PartialEq)]
pub struct MqttSource {
    pub broker: Endpoint,
    pub topics: Vec<String>,
    pub qos: u8,
    pub client_id: Option<String>,
    pub clean_session: bool,
}

/// An MQTT publish target: `url`, `topic` (no wildcards), `qos` (0 or 1, default 1),
/// `retain` (default false).
#[derive(Debug, Clone, PartialEq)]
pub struct MqttTarget {
    pub url: String,
    pub broker: Endpoint,
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
}

/// Where a broker is, from an `mqtt://` URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

fn parse_endpoint(fields: &mut Fields<'_>) -> Result<(String, Endpoint), BrokerError> {
    let url = fields.required_str("url")?;
    let field = fields.path("url");
    if url.starts_with("mqtts://") || url.starts_with("ssl://") {
        return Err(fields.error(
            "url",
            "MQTT over TLS is not supported by this build; use mqtt://",
        ));
    }
    let parts = split_url(&url, &field, &["mqtt", "tcp"], 1883)?;
    let endpoint = Endpoint {
        host: parts
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: parts.port,
        username: parts.user.map(str::to_owned),
        password: parts.password.map(str::to_owned),
    };
    Ok((url, endpoint))
}

fn parse_qos(fields: &mut Fields<'_>) -> Result<u8, BrokerError> {
    match fields.get("qos") {
        None => Ok(1),
        Some(v) => match v.as_u64() {
            Some(q @ (0 | 1)) => Ok(q as u8),
            Some(2) => Err(fields.error("qos", "QoS 2 is not supported; use 0 or 1")),
            _ => Err(fields.error("qos", "must be 0 or 1")),
        },
    }
}

/// Checks a topic filter (`wildcards`) or a topic name: non-empty, `+` only as a whole
/// level, `#` only as the whole last level, no NUL.
fn check_topic(
    fields: &Fields<'_>,
    name: &str,
    topic: &str,
    wildcards: bool,
) -> Result<(), BrokerError> {
    let levels: Vec<&str> = topic.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let has_wild = level.contains(['+', '#']);
        let why = if topic.contains('\0') {
            Some("contains NUL")
        } else if has_wild && !wildcards {
            Some("may not contain wildcards ('+', '#') here")
        } else if has_wild && *level != "+" && *level != "#" {
            Some("may use '+' and '#' only as whole levels")
        } else if *level == "#" && i + 1 != levels.len() {
            Some("may have '#' only as its last level")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(fields.error(name, format!("the topic '{topic}' {why}")));
        }
    }
    Ok(())
}

impl MqttSource {
    pub(crate) fn parse(fields: &mut Fields<'_>) -> Result<MqttSource, BrokerError> {
        let (_, broker) = parse_endpoint(fields)?;
        let topics = fields
            .optional_str_list("topics")?
            .ok_or_else(|| fields.error("topics", "is required"))?;
        for t in &topics {
            check_topic(fields, "topics", t, true)?;
        }
        let qos = parse_qos(fields)?;
        let client_id = fields.optional_str("client_id")?;
        let clean_session = fields.optional_bool("clean_session")?.unwrap_or(false);
        Ok(MqttSource {
            broker,
            topics,
            qos,
            client_id,
            clean_session,
        })
    }
}

impl MqttTarget {
    pub(crate) fn parse(fields: &mut Fields<'_>) -> Result<MqttTarget, BrokerError> {
        let (url, broker) = parse_endpoint(fields)?;
        let topic = fields.required_str("topic")?;
        check_topic(fields, "topic", &topic, false)?;
        let qos = parse_qos(fields)?;
        let retain = fields.optional_bool("retain")?.unwrap_or(false);
        Ok(MqttTarget {
            url,
            broker,
            topic,
            qos,
            retain,
        })
    }
}

fn qos_of(q: u8) -> QoS {
    if q == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

fn options(broker: &Endpoint, client_id: String, clean_session: bool) -> MqttOptions {
    let mut o = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    o.set_keep_alive(KEEP_ALIVE);
    o.set_clean_session(clean_session);
    if let Some(user) = &broker.username {
        o.set_credentials(user.clone(), broker.password.clone().unwrap_or_default());
    }
    o
}

/// Runs an MQTT source until it is told to stop.
pub(crate) async fn run_source(config: &MqttSource, ctx: &SourceContext) {
    let client_id = config
        .client_id
        .clone()
        .unwrap_or_else(|| format!("cirrus-{}", ctx.name));
    let mut opts = options(&config.broker, client_id, config.clean_session);
    opts.set_manual_acks(true);
    // Acks and subscriptions: at most one batch of acks is queued at a time.
    let (client, mut eventloop) = AsyncClient::new(opts, 1_024);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_connection_timeout(CONNECT_TIMEOUT.as_secs());
    eventloop.set_network_options(net);

    let (tx, rx) = mpsc::channel::<Publish>(BUFFER);
    let deliver = deliver(&client, rx, ctx);
    let connection = async {
        let filters: Vec<SubscribeFilter> = config
            .topics
            .iter()
            .map(|t| SubscribeFilter::new(t.clone(), qos_of(config.qos)))
            .collect();
        let mut backoff = reconnect_backoff();
        let mut subscribed_once = false;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    ctx.status.set_state(SourceState::Connected);
                    backoff.reset();
                    if !ack.session_present || !subscribed_once {
                        subscribed_once = true;
                        if let Err(e) = client.try_subscribe_many(filters.clone()) {
                            ctx.status.error(format!("cannot subscribe: {e}"));
                        }
                    }
                }
                Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                    for (code, topic) in ack.return_codes.iter().zip(&config.topics) {
                        if *code == SubscribeReasonCode::Failure {
                            tracing::error!(source = %ctx.name, "the MQTT broker refused the subscription to '{topic}'");
                            ctx.status
                                .error(format!("the broker refused the subscription to '{topic}'"));
                        }
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    ctx.status.received(1);
                    match tx.try_send(p) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(p)) if p.qos == QoS::AtMostOnce => {
                            tracing::error!(source = %ctx.name, topic = %p.topic, "dropping a QoS 0 MQTT message: the source is behind by {BUFFER} messages");
                            ctx.status.dropped();
                        }
                        Err(mpsc::error::TrySendError::Full(p)) => {
                            // QoS 1: wait (the broker's in-flight window bounds this).
                            if tx.send(p).await.is_err() {
                                return;
                            }
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let message = match &e {
                        ConnectionError::ConnectionRefused(code) => {
                            format!("the MQTT broker refused the connection: {code:?}")
                        }
                        other => format!(
                            "MQTT connection to {}:{}: {other}",
                            config.broker.host, config.broker.port
                        ),
                    };
                    tracing::warn!(source = %ctx.name, "{message}");
                    ctx.status.disconnected(message);
                    if !ctx.sleep(backoff.next_delay()).await {
                        return;
                    }
                    ctx.status.set_state(SourceState::Connecting);
                }
            }
        }
    };
    tokio::select! {
        () = connection => {}
        () = deliver => {}
        () = ctx.stopped() => {}
    }
    // Say goodbye if connected; unacked messages stay with the broker's session.
    if client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(ev) = eventloop.poll().await {
                if ev == Event::Outgoing(Outgoing::Disconnect) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Batches messages into `put_events`, then acks them; ends when the source stops.
async fn deliver(client: &AsyncClient, mut rx: mpsc::Receiver<Publish>, ctx: &SourceContext) {
    let mut stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    loop {
        let (messages, ended) = match next_batch(&mut stream, ctx).await {
            Batch::Stopped => return,
            Batch::Items(m) => (m, false),
            Batch::Ended(m) => (m, true),
        };
        let events = messages
            .iter()
            .map(|p| {
                let mut extra = Map::new();
                extra.insert("qos".into(), json!(p.qos as u8));
                extra.insert("retain".into(), json!(p.retain));
                extra.insert("dup".into(), json!(p.dup));
                to_event(
                    &ctx.config,
                    &ctx.name,
                    Message {
                        id: None,
                        subject_key: "topic",
                        subject: &p.topic,
                        payload: &p.payload,
                        claims_cloudevent: false,
                        extra,
                    },
                )
            })
            .collect();
        if !ctx.put_until_accepted(events).await {
            return;
        }
        for p in &messages {
            if let Err(e) = client.ack(p).await {
                tracing::warn!(source = %ctx.name, "cannot ack an MQTT message (the broker will redeliver it): {e}");
            }
        }
        if ended {
            return;
        }
    }
}

type Reply = oneshot::Sender<Result<(), String>>;

/// Publishes waiting for their packet id (in the order they were queued), and then for
/// their PUBACK.
#[derive(Default)]
struct Waiting {
    unsent: VecDeque<(QoS, Reply)>,
    /// A publish whose packet id is still in flight: rumqttc sends it after that PUBACK.
    collided: Option<(u16, Reply)>,
    unacked: HashMap<u16, Reply>,
}

impl Waiting {
    fn fail_all(&mut self, why: &str) {
        let unsent = self.unsent.drain(..).map(|(_, r)| r);
        let collided = self.collided.take().map(|(_, r)| r);
        let unacked = self.unacked.drain().map(|(_, r)| r);
        for reply in unsent.chain(collided).chain(unacked) {
            let _ = reply.send(Err(why.to_owned()));
        }
    }
}

/// One publishing connection.
struct Connection {
    client: AsyncClient,
    waiting: Arc<std::sync::Mutex<Waiting>>,
    /// Serializes queueing a publish with registering its waiter, so both keep one order.
    order: Mutex<()>,
    alive: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Connection {
    fn open(broker: &Endpoint) -> Connection {
        let opts = options(broker, format!("cirrus-pub-{}", &random_id()[..8]), true);
        let (client, mut eventloop) = AsyncClient::new(opts, 256);
        let mut net = rumqttc::NetworkOptions::new();
        net.set_connection_timeout(CONNECT_TIMEOUT.as_secs());
        eventloop.set_network_options(net);
        let waiting = Arc::new(std::sync::Mutex::new(Waiting::default()));
        let alive = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn({
            let waiting = waiting.clone();
            let alive = alive.clone();
            async move {
                let why = loop {
                    let event = match eventloop.poll().await {
                        Ok(ev) => ev,
                        Err(e) => break e.to_string(),
                    };
                    let mut w = waiting.lock().unwrap_or_else(PoisonError::into_inner);
                    match event {
                        Event::Outgoing(Outgoing::Publish(pkid)) => {
                            let reply = match w.collided.take() {
                                Some((id, reply)) if id == pkid => Some((QoS::AtLeastOnce, reply)),
                                other => {
                                    w.collided = other;
                                    w.unsent.pop_front()
                                }
                            };
                            match reply {
                                Some((QoS::AtMostOnce, reply)) => {
                                    let _ = reply.send(Ok(()));
                                }
                                Some((_, reply)) => {
                                    w.unacked.insert(pkid, reply);
                                }
                                None => {}
                            }
                        }
                        Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                            if let Some((_, reply)) = w.unsent.pop_front() {
                                w.collided = Some((pkid, reply));
                            }
                        }
                        Event::Incoming(Incoming::PubAck(ack)) => {
                            if let Some(reply) = w.unacked.remove(&ack.pkid) {
                                let _ = reply.send(Ok(()));
                            }
                        }
                        _ => {}
                    }
                };
                alive.store(false, Ordering::SeqCst);
                waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .fail_all(&why);
            }
        });
        Connection {
            client,
            waiting,
            order: Mutex::new(()),
            alive,
            task,
        }
    }

    async fn publish(&self, t: &MqttTarget, payload: Bytes) -> Result<(), String> {
        let (reply, done) = oneshot::channel();
        let qos = qos_of(t.qos);
        {
            let _order = self.order.lock().await;
            if !self.alive.load(Ordering::SeqCst) {
                return Err("the connection is closed".into());
            }
            self.waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unsent
                .push_back((qos, reply));
            self.client
                .publish_bytes(t.topic.clone(), qos, t.retain, payload)
                .await
                .map_err(|e| e.to_string())?;
        }
        if !self.alive.load(Ordering::SeqCst) {
            // The loop may have ended between our check and our waiter's registration.
            self.waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .fail_all("the connection closed");
        }
        done.await
            .unwrap_or_else(|_| Err("the connection closed".into()))
    }
}

/// One publishing connection per URL, made on first use and remade after it fails.
#[derive(Default)]
pub(crate) struct Publishers {
    connections: Mutex<HashMap<String, Arc<Connection>>>,
}

impl Publishers {
    pub(crate) async fn publish(&self, t: &MqttTarget, payload: Bytes) -> Result<(), BrokerError> {
        let connection = {
            let mut map = self.connections.lock().await;
            match map.get(&t.url) {
                Some(c) if c.alive.load(Ordering::SeqCst) => c.clone(),
                _ => {
                    let c = Arc::new(Connection::open(&t.broker));
                    map.insert(t.url.clone(), c.clone());
                    c
                }
            }
        };
        match tokio::time::timeout(PUBLISH_TIMEOUT, connection.publish(t, payload)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(BrokerError::Publish {
                url: t.url.clone(),
                message,
            }),
            Err(_) => Err(BrokerError::Timeout {
                url: t.url.clone(),
                after: PUBLISH_TIMEOUT,
            }),
        }
    }

    pub(crate) async fn close(&self) {
        let all: Vec<_> = self
            .connections
            .lock()
            .await
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in all {
            let _ = c.client.try_disconnect();
            tokio::time::sleep(Duration::from_millis(50)).await;
            c.task.abort();
        }
    }
}
