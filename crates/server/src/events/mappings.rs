//! Event-source mappings (a Lambda feature): a mapping feeds a function from a Cirrus
//! queue in batches.
//!
//! A mapping is a [`cirrus_store::Resource`] of kind `mapping` named by its UUID, holding a
//! [`Mapping`]. Each enabled mapping has one poller task on the node (started by
//! [`Mappings::restore`] when the node opens, and again on every create, update and
//! delete). The poller long-polls the queue, gathers up to `batchSize` messages within
//! `maximumBatchingWindowInSeconds`, and hands the batch to a delivery task; at most
//! `maximumConcurrency` batches are in flight at once (5 when unset).
//!
//! A delivery invokes the function synchronously with Lambda's SQS event (`Records[]`).
//! Success deletes the batch; a function error, a throttle or any failure to invoke
//! leaves it, so its messages become visible again after the queue's visibility timeout
//! (and reach the dead-letter queue after `maxReceiveCount`). With
//! `ReportBatchItemFailures`, the function's `{"batchItemFailures": [{"itemIdentifier":
//! id}]}` keeps just those messages; a malformed answer (invalid JSON, an empty, missing
//! or unknown `itemIdentifier`) fails the whole batch, and an answer without the list
//! (null, `{}`, anything else) is a complete success, as in Lambda.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cirrus_runtime::Payload;
use cirrus_store::{Expect, QueueMessage, Resource, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::queues::{self, QueueError, QueueService, ReceiveOptions, attributes_of, md5_of_body};
use crate::functions::{FnError, Functions};

/// The resource kind of a mapping.
pub const KIND: &str = "mapping";
/// Batches in flight per mapping when `ScalingConfig` does not say.
pub const DEFAULT_CONCURRENCY: u32 = 5;
/// The largest event a batch makes (Lambda's synchronous payload limit).
const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;
/// How long a poller rests after a failed batch or an unreadable queue.
const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("The resource you requested does not exist. (Event source mapping {0})")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Function(#[from] FnError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<QueueError> for MappingError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Store(s) => MappingError::Store(s),
            e => MappingError::Invalid(e.to_string()),
        }
    }
}

/// A stored mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mapping {
    pub uuid: String,
    /// `arn:aws:sqs:REGION:ACCOUNT:QUEUE`.
    pub event_source_arn: String,
    pub function_name: String,
    /// `$LATEST` when absent, a version or an alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    pub batch_size: u32,
    pub maximum_batching_window_in_seconds: u32,
    pub enabled: bool,
    pub report_batch_item_failures: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_concurrency: Option<u32>,
    /// When the mapping last changed (ms since the epoch).
    #[serde(default)]
    pub last_modified_ms: i64,
}

/// What a create or update says; absent fields keep their value (or take the default).
#[derive(Debug, Clone, Default)]
pub struct MappingChange {
    pub event_source_arn: Option<String>,
    /// A name or ARN, with an optional qualifier.
    pub function_name: Option<String>,
    pub batch_size: Option<u32>,
    pub maximum_batching_window_in_seconds: Option<u32>,
    pub enabled: Option<bool>,
    pub report_batch_item_failures: Option<bool>,
    /// `Some(None)` removes the limit.
    pub maximum_concurrency: Option<Option<u32>>,
}

/// The node's mappings and their pollers.
pub struct Mappings {
    queues: Arc<QueueService>,
    functions: Arc<Functions>,
    pollers: Mutex<HashMap<String, tokio::task::AbortHandle>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Mappings {
    pub fn new(queues: Arc<QueueService>, functions: Arc<Functions>) -> Arc<Mappings> {
        Arc::new(Mappings {
            queues,
            functions,
            pollers: Mutex::new(HashMap::new()),
        })
    }

    pub fn queues(&self) -> &Arc<QueueService> {
        &self.queues
    }

    /// The mapping's ARN, as Lambda names it.
    pub fn arn(&self, uuid: &str) -> String {
        let p = self.queues.partition();
        format!(
            "arn:aws:lambda:{}:{}:event-source-mapping:{uuid}",
            p.region, p.account
        )
    }

    pub fn function_arn(&self, m: &Mapping) -> String {
        let arn = self.functions.function_arn(&m.function_name);
        match &m.qualifier {
            Some(q) => format!("{arn}:{q}"),
            None => arn,
        }
    }

    /// Starts the pollers of the stored enabled mappings (when the node opens). A store
    /// that cannot list them is reported and the node runs without.
    pub async fn restore(self: &Arc<Self>) {
        match self.list(None, None).await {
            Ok(all) => {
                for m in all {
                    self.start(m);
                }
            }
            Err(e) => tracing::warn!(err = %e, "cannot read event-source mappings; none run"),
        }
    }

    /// Mappings, optionally of one function (name) or one source ARN.
    pub async fn list(
        &self,
        function: Option<&str>,
        source: Option<&str>,
    ) -> Result<Vec<Mapping>, MappingError> {
        let function = match function {
            Some(f) => Some(self.functions.parse_name(f)?.0),
            None => None,
        };
        let mut out = Vec::new();
        for r in self.queues.store().resources(KIND).await? {
            let m = parse(&r)?;
            if function.as_ref().is_none_or(|f| *f == m.function_name)
                && source.is_none_or(|s| s == m.event_source_arn)
            {
                out.push(m);
            }
        }
        Ok(out)
    }

    pub async fn get(&self, uuid: &str) -> Result<Mapping, MappingError> {
        Ok(self.stored(uuid).await?.0)
    }

    async fn stored(&self, uuid: &str) -> Result<(Mapping, u64), MappingError> {
        let r = self
            .queues
            .store()
            .resource(KIND, uuid)
            .await?
            .ok_or_else(|| MappingError::NotFound(uuid.to_owned()))?;
        Ok((parse(&r)?, r.revision))
    }

    /// Creates a mapping (`event_source_arn` and `function_name` required) and starts its
    /// poller if enabled.
    pub async fn create(self: &Arc<Self>, change: MappingChange) -> Result<Mapping, MappingError> {
        let source = change
            .event_source_arn
            .clone()
            .ok_or_else(|| MappingError::Invalid("EventSourceArn is required".into()))?;
        let function = change
            .function_name
            .clone()
            .ok_or_else(|| MappingError::Invalid("FunctionName is required".into()))?;
        let mut m = Mapping {
            uuid: cirrus_engine::uuid(),
            event_source_arn: source,
            function_name: function,
            qualifier: None,
            batch_size: 10,
            maximum_batching_window_in_seconds: 0,
            enabled: true,
            report_batch_item_failures: false,
            maximum_concurrency: None,
            last_modified_ms: 0,
        };
        self.apply(&mut m, change).await?;
        if let Some(other) = self
            .list(Some(&m.function_name), Some(&m.event_source_arn))
            .await?
            .into_iter()
            .find(|o| o.qualifier == m.qualifier)
        {
            return Err(MappingError::Conflict(format!(
                "An event source mapping with SQS arn (\" {} \") and function (\" {} \") already exists. Please update or delete the existing mapping with UUID {}",
                m.event_source_arn, m.function_name, other.uuid
            )));
        }
        self.put(&m, Expect::Absent).await?;
        self.start(m.clone());
        Ok(m)
    }

    /// Changes a mapping and restarts its poller.
    pub async fn update(
        self: &Arc<Self>,
        uuid: &str,
        change: MappingChange,
    ) -> Result<Mapping, MappingError> {
        if change.event_source_arn.is_some() {
            return Err(MappingError::Invalid(
                "EventSourceArn cannot be changed; create another mapping".into(),
            ));
        }
        let (mut m, revision) = self.stored(uuid).await?;
        self.apply(&mut m, change).await?;
        self.put(&m, Expect::Revision(revision)).await?;
        self.start(m.clone());
        Ok(m)
    }

    /// Deletes a mapping and stops its poller (batches in flight finish).
    pub async fn delete(&self, uuid: &str) -> Result<Mapping, MappingError> {
        let m = self.get(uuid).await?;
        self.queues.store().delete_resource(KIND, uuid).await?;
        if let Some(h) = lock(&self.pollers).remove(uuid) {
            h.abort();
        }
        Ok(m)
    }

    async fn put(&self, m: &Mapping, expect: Expect) -> Result<(), MappingError> {
        let document = serde_json::to_string(m).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let r = Resource {
            kind: KIND.into(),
            name: m.uuid.clone(),
            document,
            revision: 0,
            created_ms: 0,
            updated_ms: 0,
        };
        match self.queues.store().put_resource(&r, expect).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(MappingError::Conflict(format!(
                "The event source mapping {} was changed concurrently; try again",
                m.uuid
            ))),
            Err(StoreError::NotFound(_)) => Err(MappingError::NotFound(m.uuid.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies and checks a change, as Lambda does.
    async fn apply(&self, m: &mut Mapping, c: MappingChange) -> Result<(), MappingError> {
        if let Some(f) = c.function_name {
            let (name, qualifier) = self.functions.parse_name(&f)?;
            m.function_name = name;
            m.qualifier = qualifier;
        }
        if let Some(v) = c.batch_size {
            m.batch_size = v;
        }
        if let Some(v) = c.maximum_batching_window_in_seconds {
            m.maximum_batching_window_in_seconds = v;
        }
        if let Some(v) = c.enabled {
            m.enabled = v;
        }
        if let Some(v) = c.report_batch_item_failures {
            m.report_batch_item_failures = v;
        }
        if let Some(v) = c.maximum_concurrency {
            m.maximum_concurrency = v;
        }
        if !(1..=10_000).contains(&m.batch_size) {
            return Err(MappingError::Invalid(format!(
                "BatchSize {} is out of range: an SQS mapping takes 1 to 10000",
                m.batch_size
            )));
        }
        if m.maximum_batching_window_in_seconds > 300 {
            return Err(MappingError::Invalid(format!(
                "MaximumBatchingWindowInSeconds {} is out of range: 0 to 300",
                m.maximum_batching_window_in_seconds
            )));
        }
        if m.batch_size > 10 && m.maximum_batching_window_in_seconds == 0 {
            return Err(MappingError::Invalid(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10".into(),
            ));
        }
        if let Some(n) = m.maximum_concurrency
            && !(2..=1000).contains(&n)
        {
            return Err(MappingError::Invalid(format!(
                "ScalingConfig.MaximumConcurrency {n} is out of range: 2 to 1000"
            )));
        }
        let queue = queues::queue_of_arn(&m.event_source_arn).ok_or_else(|| {
            MappingError::Invalid(format!(
                "EventSourceArn '{}' is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME); Cirrus maps its own queues",
                m.event_source_arn
            ))
        })?;
        match self.queues.queue(queue).await {
            Ok(_) => {}
            Err(QueueError::NoSuchQueue(_)) => {
                return Err(MappingError::Invalid(format!(
                    "EventSourceArn '{}': the queue does not exist",
                    m.event_source_arn
                )));
            }
            Err(e) => return Err(e.into()),
        }
        // The function must exist (and the qualifier resolve).
        self.functions
            .resolve(&m.function_name, m.qualifier.as_deref())
            .await?;
        m.last_modified_ms = cirrus_engine::now_ms();
        Ok(())
    }

    /// (Re)starts the poller of `m`, or stops it if `m` is disabled.
    fn start(self: &Arc<Self>, m: Mapping) {
        let mut pollers = lock(&self.pollers);
        if let Some(h) = pollers.remove(&m.uuid) {
            h.abort();
        }
        if m.enabled {
            let uuid = m.uuid.clone();
            let task = tokio::spawn(poll(self.clone(), m));
            pollers.insert(uuid, task.abort_handle());
        }
    }
}

fn parse(r: &Resource) -> Result<Mapping, MappingError> {
    serde_json::from_str(&r.document).map_err(|e| {
        MappingError::Store(StoreError::Corrupt(format!(
            "event-source mapping {}: {e}",
            r.name
        )))
    })
}

/// One mapping's poller: gathers batches and delivers up to its concurrency at once.
async fn poll(mappings: Arc<Mappings>, m: Mapping) {
    let Some(queue) = queues::queue_of_arn(&m.event_source_arn).map(str::to_owned) else {
        return;
    };
    let m = Arc::new(m);
    let slots = Arc::new(Semaphore::new(
        m.maximum_concurrency.unwrap_or(DEFAULT_CONCURRENCY) as usize,
    ));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let batch = match gather(&mappings.queues, &m, &queue).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(mapping = %m.uuid, queue = %queue, err = %e, "cannot receive from the mapped queue");
                tokio::time::sleep(BACKOFF * 5).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let (mappings, m, queue) = (mappings.clone(), m.clone(), queue.clone());
        tokio::spawn(async move {
            if !deliver(&mappings, &m, &queue, batch).await {
                tokio::time::sleep(BACKOFF).await;
            }
            drop(permit);
        });
    }
}

/// Receives a batch: waits (long polls) for the first messages, then gathers more until
/// the batch is full, the batching window has passed, or the event would be too large.
async fn gather(
    queues: &QueueService,
    m: &Mapping,
    queue: &str,
) -> Result<Vec<QueueMessage>, QueueError> {
    let size = m.batch_size as usize;
    let mut batch = queues
        .receive(
            queue,
            ReceiveOptions {
                max: size,
                visibility_timeout: None,
                wait_seconds: Some(queues::MAX_WAIT_SECONDS),
            },
        )
        .await?;
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(u64::from(m.maximum_batching_window_in_seconds));
    while !batch.is_empty() && batch.len() < size && tokio::time::Instant::now() < deadline {
        let more = tokio::time::timeout_at(
            deadline,
            queues.receive(
                queue,
                ReceiveOptions {
                    max: size - batch.len(),
                    visibility_timeout: None,
                    wait_seconds: Some(queues::MAX_WAIT_SECONDS),
                },
            ),
        )
        .await;
        match more {
            Ok(Ok(more)) => batch.extend(more),
            Ok(Err(e)) => return Err(e),
            Err(_) => break,
        }
    }
    // Keep the event under Lambda's payload limit; the rest go back at once.
    let mut bytes = 0;
    let mut keep = batch.len();
    for (i, msg) in batch.iter().enumerate() {
        bytes += msg.body.len() + msg.attributes.len() + 600;
        if bytes > MAX_EVENT_BYTES && i > 0 {
            keep = i;
            break;
        }
    }
    for msg in batch.drain(keep..) {
        if let Some(r) = &msg.receipt {
            let _ = queues.change_visibility(queue, r, 0).await;
        }
    }
    Ok(batch)
}

/// Lambda's SQS event record of a received message.
pub fn record(m: &QueueMessage, source_arn: &str, region: &str) -> Value {
    let attributes: Map<String, Value> = attributes_of(m)
        .into_iter()
        .map(|(name, a)| {
            let data_type = a.get("DataType").cloned().unwrap_or(Value::Null);
            let mut v = Map::new();
            if let Some(s) = a.get("StringValue") {
                v.insert("stringValue".into(), s.clone());
            }
            if let Some(b) = a.get("BinaryValue") {
                v.insert("binaryValue".into(), b.clone());
            }
            v.insert("stringListValues".into(), json!([]));
            v.insert("binaryListValues".into(), json!([]));
            v.insert("dataType".into(), data_type);
            (name, Value::Object(v))
        })
        .collect();
    let mut r = json!({
        "messageId": m.id,
        "receiptHandle": m.receipt,
        "body": m.body,
        "attributes": crate::events::sqs::system_attributes(m),
        "messageAttributes": attributes,
        "md5OfBody": md5_of_body(&m.body),
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": region,
    });
    if let Some(md5) = queues::md5_of_attributes(&attributes_of(m)) {
        r["md5OfMessageAttributes"] = json!(md5);
    }
    r
}

/// Invokes the function with one batch and deletes what it handled; whether the whole
/// batch succeeded.
async fn deliver(mappings: &Mappings, m: &Mapping, queue: &str, batch: Vec<QueueMessage>) -> bool {
    let region = mappings.queues.partition().region.clone();
    let records: Vec<Value> = batch
        .iter()
        .map(|msg| record(msg, &m.event_source_arn, &region))
        .collect();
    let payload = Payload::Event {
        body: Bytes::from(json!({ "Records": records }).to_string()),
        event_type: "aws.sqs".into(),
        source: m.event_source_arn.clone(),
    };
    let invoked = mappings
        .functions
        .invoke(
            &m.function_name,
            m.qualifier.as_deref(),
            payload,
            None,
            None,
        )
        .await;
    let reply = match invoked {
        Ok(i) => match Functions::reply_body(&i.outcome) {
            (_, Some(e)) => {
                tracing::debug!(mapping = %m.uuid, error = %e.error_type, "the function failed the batch; it stays in the queue");
                return false;
            }
            (body, None) => body,
        },
        Err(e) => {
            tracing::debug!(mapping = %m.uuid, err = %e, "cannot invoke the mapped function; the batch stays in the queue");
            return false;
        }
    };
    let failed = if m.report_batch_item_failures {
        let ids: HashSet<&str> = batch.iter().map(|b| b.id.as_str()).collect();
        match batch_item_failures(&reply, &ids) {
            Ok(f) => f,
            Err(why) => {
                tracing::warn!(mapping = %m.uuid, %why, "the function's batch response is malformed; the whole batch stays in the queue");
                return false;
            }
        }
    } else {
        HashSet::new()
    };
    let receipts: Vec<String> = batch
        .iter()
        .filter(|b| !failed.contains(b.id.as_str()))
        .filter_map(|b| b.receipt.clone())
        .collect();
    if let Err(e) = mappings.queues.delete_messages(queue, &receipts).await {
        tracing::warn!(mapping = %m.uuid, err = %e, "cannot delete a handled batch; it will be delivered again");
        return false;
    }
    failed.is_empty()
}

/// The message ids a `ReportBatchItemFailures` response names, or why it is malformed
/// (then the whole batch failed).
pub fn batch_item_failures(reply: &[u8], ids: &HashSet<&str>) -> Result<HashSet<String>, String> {
    if reply.iter().all(u8::is_ascii_whitespace) {
        return Ok(HashSet::new());
    }
    let v: Value = serde_json::from_slice(reply).map_err(|e| format!("invalid JSON: {e}"))?;
    let list = match v.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(HashSet::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("batchItemFailures is not a list".into()),
    };
    let mut out = HashSet::new();
    for item in list {
        let id = match item.get("itemIdentifier") {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::String(_)) => return Err("an itemIdentifier is empty".into()),
            Some(Value::Null) | None => {
                return Err("an entry has no itemIdentifier".into());
            }
            Some(_) => return Err("an itemIdentifier is not a string".into()),
        };
        if !ids.contains(id.as_str()) {
            return Err(format!(
                "itemIdentifier '{id}' is not a message of the batch"
            ));
        }
        out.insert(id.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_responses_are_read_as_lambda_reads_them() {
        let ids: HashSet<&str> = ["a", "b"].into_iter().collect();
        let ok = |s: &str| batch_item_failures(s.as_bytes(), &ids);
        assert_eq!(ok("").unwrap().len(), 0);
        assert_eq!(ok("null").unwrap().len(), 0);
        assert_eq!(ok("{}").unwrap().len(), 0);
        assert_eq!(ok(r#"{"batchItemFailures":[]}"#).unwrap().len(), 0);
        assert_eq!(ok(r#"{"batchItemFailures":null}"#).unwrap().len(), 0);
        assert_eq!(
            ok(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#).unwrap(),
            ["b".to_owned()].into_iter().collect()
        );
        assert!(ok("not json").is_err());
        assert!(ok(r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#).is_err());
        assert!(ok(r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#).is_err());
        assert!(ok(r#"{"batchItemFailures":[{"id":"a"}]}"#).is_err());
        assert!(ok(r#"{"batchItemFailures":[{"itemIdentifier":"zz"}]}"#).is_err());
    }
}
