//! Cirrus queues: SQS's semantics (standard queues) over the store's
//! [`cirrus_store::Queues`].
//!
//! A queue's settings are a [`cirrus_store::Resource`] of kind `queue` holding a
//! [`QueueSettings`] document; its messages live in the store. [`QueueService`] validates
//! attributes as SQS does, sends (with per-message delay and message attributes), receives
//! with a visibility timeout and redrive to a dead-letter queue, deletes by receipt handle,
//! changes visibility, purges, counts, and expires messages past their retention
//! ([`run_retention`], a periodic sweep). What a message may carry, and its MD5s, are in
//! [`super::queue_messages`].
//!
//! Long polling does not poll the store in a loop: a receiver that finds nothing waits on
//! its queue's [`Notify`] (woken by every send on this node) or, at the latest, until the
//! next delayed or invisible message becomes visible (`next_visible`), then looks again.
//!
//! Settings are cached per node for [`SETTINGS_TTL`], so a change made through another
//! node of a cluster takes effect here within that time. A send on another node of a
//! cluster does not wake this node's long polls yet (no LISTEN/NOTIFY for queues): they
//! find the message at their next timer or when their wait ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cirrus_store::{Expect, QueueCounts, QueueMessage, Redrive, Resource, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::Notify;

use super::queue_messages::check_body;
pub use super::queue_messages::{attributes_of, check_attributes, md5_of_attributes, md5_of_body};

/// The resource kind of a queue's settings.
pub const KIND: &str = "queue";
/// How long a node trusts its cached copy of a queue's settings.
pub const SETTINGS_TTL: Duration = Duration::from_secs(5);
/// The most messages one receive returns (SQS's limit).
pub const MAX_RECEIVE: usize = 10;
/// The most entries in a batch request.
pub const MAX_BATCH: usize = 10;
/// The largest message, and the largest batch, SQS accepts: 256 KiB.
pub const MAX_MESSAGE_BYTES: u32 = 262_144;
/// The longest long poll.
pub const MAX_WAIT_SECONDS: u32 = 20;
/// Who sent messages, as receivers see it (`SenderId`).
pub const SENDER_ID: &str = "CIRRUS";

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue '{0}' does not exist")]
    NoSuchQueue(String),
    #[error("{0}")]
    Invalid(String),
    #[error("store: {0}")]
    Store(#[from] cirrus_store::StoreError),
    /// A queue of this name exists with other attributes.
    #[error("a queue named '{0}' already exists with different attributes")]
    Exists(String),
    #[error("Unknown Attribute {0}.")]
    UnknownAttribute(String),
    /// `(attribute, reason)`.
    #[error("Invalid value for the parameter {0}: {1}")]
    BadAttribute(String, String),
    #[error("The receipt handle '{0}' is not valid")]
    BadReceipt(String),
    /// A change of visibility named a message that is not in flight.
    #[error(
        "Value {0} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
    )]
    NotInFlight(String),
    #[error("{0}")]
    BadContents(String),
}

/// What a queue's settings document holds (SQS's attribute values, typed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueSettings {
    pub visibility_timeout: u32,
    pub message_retention_period: u32,
    pub delay_seconds: u32,
    pub receive_message_wait_time_seconds: u32,
    pub maximum_message_size: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<RedrivePolicy>,
    /// Attributes SQS accepts that Cirrus keeps but does not act on (`Policy`,
    /// `KmsMasterKeyId`, `SqsManagedSseEnabled`, `RedriveAllowPolicy`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kept: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            visibility_timeout: 30,
            message_retention_period: 345_600,
            delay_seconds: 0,
            receive_message_wait_time_seconds: 0,
            maximum_message_size: MAX_MESSAGE_BYTES,
            redrive_policy: None,
            kept: BTreeMap::new(),
            tags: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

impl QueueSettings {
    /// Applies SQS attributes (`VisibilityTimeout` = `"30"`, ...), checking each.
    /// Dead-letter targets are checked by [`QueueService`], which knows the queues.
    pub fn apply(&mut self, attributes: &[(String, String)]) -> Result<(), QueueError> {
        for (name, value) in attributes {
            let number = |lo: u32, hi: u32| -> Result<u32, QueueError> {
                value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| {
                        QueueError::BadAttribute(
                            name.clone(),
                            format!("'{value}' is not a whole number from {lo} to {hi}"),
                        )
                    })
            };
            match name.as_str() {
                "VisibilityTimeout" => self.visibility_timeout = number(0, 43_200)?,
                "MessageRetentionPeriod" => {
                    self.message_retention_period = number(60, 1_209_600)?;
                }
                "DelaySeconds" => self.delay_seconds = number(0, 900)?,
                "ReceiveMessageWaitTimeSeconds" => {
                    self.receive_message_wait_time_seconds = number(0, MAX_WAIT_SECONDS)?;
                }
                "MaximumMessageSize" => {
                    self.maximum_message_size = number(1024, MAX_MESSAGE_BYTES)?;
                }
                "RedrivePolicy" => {
                    self.redrive_policy = if value.trim().is_empty() {
                        None
                    } else {
                        Some(parse_redrive(value)?)
                    };
                }
                "FifoQueue"
                | "ContentBasedDeduplication"
                | "DeduplicationScope"
                | "FifoThroughputLimit" => {
                    if value != "false" {
                        return Err(QueueError::BadAttribute(
                            name.clone(),
                            "Cirrus queues are standard queues; FIFO queues are not supported"
                                .into(),
                        ));
                    }
                }
                "Policy"
                | "KmsMasterKeyId"
                | "KmsDataKeyReusePeriodSeconds"
                | "SqsManagedSseEnabled"
                | "RedriveAllowPolicy" => {
                    self.kept.insert(name.clone(), value.clone());
                }
                _ => return Err(QueueError::UnknownAttribute(name.clone())),
            }
        }
        Ok(())
    }

    /// Every attribute SQS reports, as strings (the counts and ARN are added by the caller).
    pub fn attributes(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        a.insert(
            "VisibilityTimeout".into(),
            self.visibility_timeout.to_string(),
        );
        a.insert(
            "MessageRetentionPeriod".into(),
            self.message_retention_period.to_string(),
        );
        a.insert("DelaySeconds".into(), self.delay_seconds.to_string());
        a.insert(
            "ReceiveMessageWaitTimeSeconds".into(),
            self.receive_message_wait_time_seconds.to_string(),
        );
        a.insert(
            "MaximumMessageSize".into(),
            self.maximum_message_size.to_string(),
        );
        if let Some(r) = &self.redrive_policy {
            a.insert(
                "RedrivePolicy".into(),
                serde_json::json!({ "deadLetterTargetArn": r.dead_letter_target_arn, "maxReceiveCount": r.max_receive_count }).to_string(),
            );
        }
        a.entry("SqsManagedSseEnabled".into())
            .or_insert_with(|| "false".into());
        for (k, v) in &self.kept {
            a.insert(k.clone(), v.clone());
        }
        a
    }
}

fn parse_redrive(text: &str) -> Result<RedrivePolicy, QueueError> {
    let bad = |why: &str| {
        QueueError::BadAttribute(
            "RedrivePolicy".into(),
            format!(
                "{why}; expected {{\"deadLetterTargetArn\": \"arn:aws:sqs:REGION:ACCOUNT:NAME\", \"maxReceiveCount\": 1-1000}}"
            ),
        )
    };
    let v: Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    let arn = v
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("deadLetterTargetArn is missing"))?;
    let count = match v.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        _ => None,
    }
    .filter(|n| (1..=1000).contains(n))
    .ok_or_else(|| bad("maxReceiveCount must be a number from 1 to 1000"))?;
    if queue_of_arn(arn).is_none() {
        return Err(bad("deadLetterTargetArn is not an SQS queue ARN"));
    }
    Ok(RedrivePolicy {
        dead_letter_target_arn: arn.to_owned(),
        max_receive_count: count as u32,
    })
}

/// The queue name in `arn:aws:sqs:REGION:ACCOUNT:NAME`.
pub fn queue_of_arn(arn: &str) -> Option<&str> {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "sqs", _, _, name] if check_name(name).is_ok() => Some(name),
        _ => None,
    }
}

/// The queue name at the end of a queue URL (`http://host/ACCOUNT/NAME`), or a bare name.
pub fn queue_of_url(url: &str) -> Result<&str, QueueError> {
    let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    check_name(name)
        .map(|_| name)
        .map_err(|_| QueueError::NoSuchQueue(url.to_owned()))
}

/// SQS's queue names: 1 to 80 letters, digits, hyphens and underscores.
pub fn check_name(name: &str) -> Result<(), QueueError> {
    if name.ends_with(".fifo") {
        return Err(QueueError::Invalid(format!(
            "'{name}': Cirrus queues are standard queues; FIFO queues are not supported"
        )));
    }
    let ok = !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length (queue name '{name}')"
        )))
    }
}

/// A queue as the node knows it.
#[derive(Debug, Clone)]
pub struct Queue {
    pub name: String,
    pub settings: QueueSettings,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub revision: u64,
}

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub body: String,
    /// SQS message attributes: `{"name": {"DataType": "String", "StringValue": "v"}}`
    /// (`BinaryValue` base64).
    pub attributes: Map<String, Value>,
    /// Overrides the queue's `DelaySeconds`.
    pub delay_seconds: Option<u32>,
}

/// What a receive asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiveOptions {
    /// 1 to 10 (the store's limit is not SQS's: mappings take more).
    pub max: usize,
    /// Overrides the queue's visibility timeout (seconds).
    pub visibility_timeout: Option<u32>,
    /// Overrides the queue's `ReceiveMessageWaitTimeSeconds`.
    pub wait_seconds: Option<u32>,
}

struct Cached {
    queue: Arc<Queue>,
    at: Instant,
}

pub struct QueueService {
    store: Arc<dyn Store>,
    partition: cirrus_engine::arn::Partition,
    cache: Mutex<HashMap<String, Cached>>,
    signals: Mutex<HashMap<String, Arc<Notify>>>,
    /// `http://host:port` where the node serves its API, for queue URLs.
    endpoint: Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl QueueService {
    pub fn new(store: Arc<dyn Store>, partition: cirrus_engine::arn::Partition) -> Arc<Self> {
        Arc::new(QueueService {
            store,
            partition,
            cache: Mutex::new(HashMap::new()),
            signals: Mutex::new(HashMap::new()),
            endpoint: Mutex::new("http://localhost:9070".into()),
        })
    }

    /// Notes where the node serves its API (queue URLs name it).
    pub fn set_endpoint(&self, addr: std::net::SocketAddr) {
        *lock(&self.endpoint) = format!("http://{addr}");
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn partition(&self) -> &cirrus_engine::arn::Partition {
        &self.partition
    }

    pub fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:sqs:{}:{}:{name}",
            self.partition.region, self.partition.account
        )
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/{}/{name}", lock(&self.endpoint), self.partition.account)
    }

    fn signal(&self, name: &str) -> Arc<Notify> {
        lock(&self.signals)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// A queue's settings (cached for [`SETTINGS_TTL`]).
    pub async fn queue(&self, name: &str) -> Result<Arc<Queue>, QueueError> {
        if let Some(c) = lock(&self.cache).get(name)
            && c.at.elapsed() < SETTINGS_TTL
        {
            return Ok(c.queue.clone());
        }
        let r = self
            .store
            .resource(KIND, name)
            .await?
            .ok_or_else(|| QueueError::NoSuchQueue(name.to_owned()))?;
        let queue = Arc::new(queue_of_resource(&r)?);
        lock(&self.cache).insert(
            name.to_owned(),
            Cached {
                queue: queue.clone(),
                at: Instant::now(),
            },
        );
        Ok(queue)
    }

    /// Every queue, by name.
    pub async fn queues(&self) -> Result<Vec<Queue>, QueueError> {
        self.store
            .resources(KIND)
            .await?
            .iter()
            .map(queue_of_resource)
            .collect()
    }

    /// Creates a queue; creating one that exists with the same attributes is not an error
    /// (as in SQS). Returns the queue and whether it was created.
    pub async fn create(
        &self,
        name: &str,
        attributes: &[(String, String)],
        tags: BTreeMap<String, String>,
    ) -> Result<(Arc<Queue>, bool), QueueError> {
        check_name(name)?;
        let mut settings = QueueSettings::default();
        settings.apply(attributes)?;
        self.check_dead_letter_target(name, &settings).await?;
        settings.tags = tags;
        let resource = Resource {
            kind: KIND.into(),
            name: name.to_owned(),
            document: to_document(&settings)?,
            revision: 0,
            created_ms: 0,
            updated_ms: 0,
        };
        match self.store.put_resource(&resource, Expect::Absent).await {
            Ok(stored) => {
                let q = Arc::new(queue_of_resource(&stored)?);
                self.forget(name);
                Ok((q, true))
            }
            Err(StoreError::Conflict(_)) => {
                self.forget(name);
                let existing = self.queue(name).await?;
                let mut same = existing.settings.clone();
                same.tags.clone_from(&settings.tags);
                if same == settings || attributes.is_empty() {
                    Ok((existing, false))
                } else {
                    Err(QueueError::Exists(name.to_owned()))
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn check_dead_letter_target(
        &self,
        name: &str,
        settings: &QueueSettings,
    ) -> Result<(), QueueError> {
        if let Some(r) = &settings.redrive_policy {
            let target = queue_of_arn(&r.dead_letter_target_arn).unwrap_or_default();
            if target == name {
                return Err(QueueError::BadAttribute(
                    "RedrivePolicy".into(),
                    "a queue cannot be its own dead-letter queue".into(),
                ));
            }
            if self.store.resource(KIND, target).await?.is_none() {
                return Err(QueueError::BadAttribute(
                    "RedrivePolicy".into(),
                    format!(
                        "Dead letter target does not exist: {}",
                        r.dead_letter_target_arn
                    ),
                ));
            }
        }
        Ok(())
    }

    fn forget(&self, name: &str) {
        lock(&self.cache).remove(name);
    }

    /// Changes attributes and tags of a queue (`tags` entries with `None` are removed).
    pub async fn update(
        &self,
        name: &str,
        attributes: &[(String, String)],
        tags: &[(String, Option<String>)],
    ) -> Result<Arc<Queue>, QueueError> {
        for _ in 0..5 {
            self.forget(name);
            let q = self.queue(name).await?;
            let mut settings = q.settings.clone();
            settings.apply(attributes)?;
            self.check_dead_letter_target(name, &settings).await?;
            for (k, v) in tags {
                match v {
                    Some(v) => settings.tags.insert(k.clone(), v.clone()),
                    None => settings.tags.remove(k),
                };
            }
            let resource = Resource {
                kind: KIND.into(),
                name: name.to_owned(),
                document: to_document(&settings)?,
                revision: 0,
                created_ms: 0,
                updated_ms: 0,
            };
            match self
                .store
                .put_resource(&resource, Expect::Revision(q.revision))
                .await
            {
                Ok(stored) => {
                    self.forget(name);
                    // A shorter wait or delay may concern waiting receivers.
                    self.sent(name);
                    return Ok(Arc::new(queue_of_resource(&stored)?));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(StoreError::NotFound(_)) => {
                    return Err(QueueError::NoSuchQueue(name.to_owned()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(QueueError::Invalid(format!(
            "queue '{name}' is being changed concurrently; try again"
        )))
    }

    /// Deletes a queue and its messages.
    pub async fn delete(&self, name: &str) -> Result<(), QueueError> {
        let existed = self.store.delete_resource(KIND, name).await?;
        self.forget(name);
        if !existed {
            return Err(QueueError::NoSuchQueue(name.to_owned()));
        }
        self.store.purge_queue(name).await?;
        self.sent(name);
        Ok(())
    }

    /// Checks a message against the queue's limits and makes its record.
    pub fn prepare(&self, queue: &Queue, message: NewMessage) -> Result<QueueMessage, QueueError> {
        check_body(&message.body)?;
        let size = message.body.len() + check_attributes(&message.attributes)?;
        if size > queue.settings.maximum_message_size as usize {
            return Err(QueueError::Invalid(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {} bytes (it is {size}).",
                queue.settings.maximum_message_size
            )));
        }
        let delay = match message.delay_seconds {
            Some(d) if d > 900 => {
                return Err(QueueError::Invalid(format!(
                    "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
                )));
            }
            Some(d) => d,
            None => queue.settings.delay_seconds,
        };
        let now = cirrus_engine::now_ms();
        Ok(QueueMessage {
            queue: queue.name.clone(),
            id: cirrus_engine::uuid(),
            body: message.body,
            attributes: Value::Object(message.attributes).to_string(),
            sent_ms: now,
            visible_ms: now + i64::from(delay) * 1000,
            receive_count: 0,
            first_receive_ms: None,
            receipt: None,
        })
    }

    /// Stores prepared messages of one queue in one transaction and wakes its receivers.
    pub async fn store_messages(
        &self,
        queue: &str,
        messages: &[QueueMessage],
    ) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        self.store.send_messages(messages).await?;
        self.sent(queue);
        Ok(())
    }

    /// Sends one message to `queue` (durable when it returns); its id. `attributes` are
    /// SQS message attributes (an object, or null for none).
    pub async fn send(
        &self,
        queue: &str,
        body: String,
        attributes: Value,
    ) -> Result<String, QueueError> {
        let m = self.message_for(queue, body, attributes).await?;
        self.store_messages(queue, std::slice::from_ref(&m)).await?;
        Ok(m.id)
    }

    /// The record of a message for `queue` (which must exist), to be stored by the caller
    /// in its own transaction (a dead-lettered delivery); call [`Self::sent`] after.
    pub async fn message_for(
        &self,
        queue: &str,
        body: String,
        attributes: Value,
    ) -> Result<QueueMessage, QueueError> {
        let attributes = match attributes {
            Value::Null => Map::new(),
            Value::Object(m) => m,
            _ => {
                return Err(QueueError::Invalid(
                    "message attributes must be an object".into(),
                ));
            }
        };
        let q = self.queue(queue).await?;
        self.prepare(
            &q,
            NewMessage {
                body,
                attributes,
                delay_seconds: None,
            },
        )
    }

    /// Wakes receivers of `queue` after a message was stored elsewhere.
    pub fn sent(&self, queue: &str) {
        if let Some(n) = lock(&self.signals).get(queue) {
            n.notify_waiters();
        }
    }

    /// Receives up to `options.max` messages, waiting up to the wait time for the first
    /// one (long polling). Messages received `maxReceiveCount` times move to the
    /// dead-letter queue instead.
    pub async fn receive(
        &self,
        name: &str,
        options: ReceiveOptions,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let queue = self.queue(name).await?;
        let wait = options
            .wait_seconds
            .unwrap_or(queue.settings.receive_message_wait_time_seconds);
        if wait > MAX_WAIT_SECONDS {
            return Err(QueueError::Invalid(format!(
                "Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= {MAX_WAIT_SECONDS}."
            )));
        }
        let visibility = options
            .visibility_timeout
            .unwrap_or(queue.settings.visibility_timeout);
        if visibility > 43_200 {
            return Err(QueueError::Invalid(format!(
                "Value {visibility} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200."
            )));
        }
        let redrive = queue.settings.redrive_policy.as_ref().map(|r| Redrive {
            dead_letter_queue: queue_of_arn(&r.dead_letter_target_arn)
                .unwrap_or_default()
                .to_owned(),
            max_receives: r.max_receive_count,
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait));
        let signal = self.signal(name);
        loop {
            let notified = signal.notified();
            tokio::pin!(notified);
            // Registered before looking, so a send between the look and the wait wakes us.
            notified.as_mut().enable();
            let now = cirrus_engine::now_ms();
            let got = self
                .store
                .receive_messages(
                    name,
                    options.max.max(1),
                    now,
                    i64::from(visibility) * 1000,
                    redrive.as_ref(),
                )
                .await?;
            if let Some(r) = &redrive {
                // Some may have moved there.
                self.sent(&r.dead_letter_queue);
            }
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            let mut wake = deadline;
            if let Some(next) = self.store.next_visible(name).await? {
                let after = Duration::from_millis(u64::try_from(next - now).unwrap_or(0).max(1));
                wake = wake.min(tokio::time::Instant::now() + after);
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            // A deleted queue ends the wait (this node forgets it at once; others within
            // the settings' cache time).
            self.queue(name).await?;
        }
    }

    /// Deletes messages by receipt handle; for each, whether the handle was well formed
    /// (a stale but well-formed handle deletes nothing and is not an error, as in SQS).
    pub async fn delete_messages(
        &self,
        name: &str,
        receipts: &[String],
    ) -> Result<Vec<bool>, QueueError> {
        self.queue(name).await?;
        let ok: Vec<bool> = receipts.iter().map(|r| receipt_ok(r)).collect();
        let valid: Vec<String> = receipts
            .iter()
            .zip(&ok)
            .filter(|(_, ok)| **ok)
            .map(|(r, _)| r.clone())
            .collect();
        if !valid.is_empty() {
            self.store.delete_messages(name, &valid).await?;
        }
        Ok(ok)
    }

    /// Makes a received message visible again after `timeout_seconds` (0: now).
    pub async fn change_visibility(
        &self,
        name: &str,
        receipt: &str,
        timeout_seconds: u32,
    ) -> Result<(), QueueError> {
        self.queue(name).await?;
        if timeout_seconds > 43_200 {
            return Err(QueueError::Invalid(format!(
                "Value {timeout_seconds} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200."
            )));
        }
        if !receipt_ok(receipt) {
            return Err(QueueError::BadReceipt(receipt.to_owned()));
        }
        let visible = cirrus_engine::now_ms() + i64::from(timeout_seconds) * 1000;
        if !self.store.change_visibility(name, receipt, visible).await? {
            return Err(QueueError::NotInFlight(receipt.to_owned()));
        }
        if timeout_seconds == 0 {
            self.sent(name);
        }
        Ok(())
    }

    pub async fn purge(&self, name: &str) -> Result<u64, QueueError> {
        self.queue(name).await?;
        Ok(self.store.purge_queue(name).await?)
    }

    pub async fn counts(&self, name: &str) -> Result<QueueCounts, QueueError> {
        Ok(self
            .store
            .queue_counts(name, cirrus_engine::now_ms())
            .await?)
    }

    /// Deletes every queue's messages older than its retention period; how many.
    pub async fn expire(&self) -> Result<u64, QueueError> {
        let now = cirrus_engine::now_ms();
        let mut n = 0;
        for q in self.queues().await? {
            let before = now - i64::from(q.settings.message_retention_period) * 1000;
            n += self.store.expire_messages(&q.name, before).await?;
        }
        Ok(n)
    }
}

/// Sweeps expired messages every `every` until the node stops.
pub async fn run_retention(queues: Arc<QueueService>, every: Duration) {
    let mut warned = false;
    loop {
        tokio::time::sleep(every).await;
        match queues.expire().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(messages = n, "expired queue messages"),
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(err = %e, "cannot expire queue messages (reported once)");
            }
            Err(_) => {}
        }
    }
}

fn to_document(settings: &QueueSettings) -> Result<String, QueueError> {
    serde_json::to_string(settings)
        .map_err(|e| QueueError::Store(StoreError::Corrupt(e.to_string())))
}

fn queue_of_resource(r: &Resource) -> Result<Queue, QueueError> {
    let settings: QueueSettings = serde_json::from_str(&r.document).map_err(|e| {
        QueueError::Store(StoreError::Corrupt(format!(
            "queue '{}' settings: {e}",
            r.name
        )))
    })?;
    Ok(Queue {
        name: r.name.clone(),
        settings,
        created_ms: r.created_ms,
        updated_ms: r.updated_ms,
        revision: r.revision,
    })
}

/// Receipt handles are `<message id>#<receive count>`, as the store makes them.
fn receipt_ok(receipt: &str) -> bool {
    receipt.rsplit_once('#').is_some_and(|(id, n)| {
        !id.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}
