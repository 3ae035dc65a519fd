//! The AWS SQS protocol (JSON 1.0, `X-Amz-Target: AmazonSQS.<Operation>`) over Cirrus
//! queues ([`super::queues`]).
//!
//! SQS moved from the Query protocol to JSON and stays compatible with it: an error is
//! `{"__type": "com.amazonaws.sqs#<Shape>", "message"}` plus the header
//! `x-amzn-query-error: <Query code>;Sender`. botocore reports the Query code as the
//! error's `Code` (`AWS.SimpleQueueService.NonExistentQueue`) and raises the modeled
//! exception named by the shape (`QueueDoesNotExist`). Errors are mapped in
//! [`error_of`] and the `sqs_error!` table.
//!
//! Operations: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, GetQueueAttributes,
//! SetQueueAttributes, SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch),
//! ChangeMessageVisibility(Batch), PurgeQueue, TagQueue, UntagQueue, ListQueueTags,
//! ListDeadLetterSourceQueues.

use std::collections::{BTreeMap, HashSet};

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::queues::{
    self, MAX_BATCH, MAX_MESSAGE_BYTES, MAX_RECEIVE, NewMessage, QueueError, QueueService,
    ReceiveOptions, SENDER_ID, attributes_of, md5_of_attributes, md5_of_body,
};
use crate::Node;
use crate::aws::{ApiError, ApiResult, Body};

/// An SQS error: the shape name (`__type`), its Query code, and a message.
macro_rules! sqs_error {
    ($shape:literal, $query:literal, $message:expr) => {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            name: concat!("com.amazonaws.sqs#", $shape),
            message: $message.into(),
            query_error: Some(concat!($query, ";Sender")),
        }
    };
}

fn invalid(message: impl Into<String>) -> ApiError {
    sqs_error!(
        "InvalidParameterValue",
        "InvalidParameterValue",
        message.into()
    )
}

fn missing(field: &str) -> ApiError {
    sqs_error!(
        "MissingParameter",
        "MissingParameter",
        format!("The request must contain the parameter {field}.")
    )
}

/// SQS's name for each way a queue operation fails.
fn error_of(e: QueueError) -> ApiError {
    let m = e.to_string();
    match e {
        QueueError::NoSuchQueue(_) => sqs_error!(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist."
        ),
        QueueError::Exists(_) => sqs_error!("QueueNameExists", "QueueAlreadyExists", m),
        QueueError::UnknownAttribute(_) => {
            sqs_error!("InvalidAttributeName", "InvalidAttributeName", m)
        }
        QueueError::BadAttribute(..) => {
            sqs_error!("InvalidAttributeValue", "InvalidAttributeValue", m)
        }
        QueueError::BadReceipt(_) => {
            sqs_error!("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", m)
        }
        QueueError::NotInFlight(_) => sqs_error!(
            "MessageNotInflight",
            "AWS.SimpleQueueService.MessageNotInflight",
            m
        ),
        QueueError::BadContents(_) => {
            sqs_error!("InvalidMessageContents", "InvalidMessageContents", m)
        }
        QueueError::Invalid(_) => invalid(m),
        QueueError::Store(e) => {
            tracing::error!(err = %e, "SQS request failed inside the node");
            ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                name: "com.amazonaws.sqs#InternalError",
                message: e.to_string(),
                query_error: Some("InternalError;Receiver"),
            }
        }
    }
}

/// `(code, message)` of a failed batch entry.
fn entry_error(e: QueueError) -> (&'static str, String) {
    let a = error_of(e);
    let code = a
        .query_error
        .and_then(|q| q.split(';').next())
        .unwrap_or("InternalError");
    (code, a.message)
}

pub(crate) async fn operation(node: &Node, operation: &str, body: &Body) -> ApiResult {
    let q = &*node.events.queues;
    match operation {
        "CreateQueue" => create_queue(q, body).await,
        "GetQueueUrl" => {
            let name = required(body, "QueueName")?;
            q.queue(name).await.map_err(error_of)?;
            Ok(json!({ "QueueUrl": q.url(name) }))
        }
        "ListQueues" => list_queues(q, body).await,
        "DeleteQueue" => {
            q.delete(queue_name(body)?).await.map_err(error_of)?;
            Ok(json!({}))
        }
        "GetQueueAttributes" => get_attributes(q, body).await,
        "SetQueueAttributes" => {
            let attrs = string_map(body, "Attributes")?;
            q.update(queue_name(body)?, &attrs, &[])
                .await
                .map_err(error_of)?;
            Ok(json!({}))
        }
        "SendMessage" => send_message(q, body).await,
        "SendMessageBatch" => send_batch(q, body).await,
        "ReceiveMessage" => receive(q, body).await,
        "DeleteMessage" => {
            let name = queue_name(body)?;
            let receipt = required(body, "ReceiptHandle")?.to_owned();
            let ok = q
                .delete_messages(name, std::slice::from_ref(&receipt))
                .await
                .map_err(error_of)?;
            if ok.first() != Some(&true) {
                return Err(error_of(QueueError::BadReceipt(receipt)));
            }
            Ok(json!({}))
        }
        "DeleteMessageBatch" => delete_batch(q, body).await,
        "ChangeMessageVisibility" => {
            let name = queue_name(body)?;
            let receipt = required(body, "ReceiptHandle")?;
            let timeout =
                seconds(body, "VisibilityTimeout")?.ok_or_else(|| missing("VisibilityTimeout"))?;
            q.change_visibility(name, receipt, timeout)
                .await
                .map_err(error_of)?;
            Ok(json!({}))
        }
        "ChangeMessageVisibilityBatch" => visibility_batch(q, body).await,
        "PurgeQueue" => {
            q.purge(queue_name(body)?).await.map_err(error_of)?;
            Ok(json!({}))
        }
        "TagQueue" => {
            let tags: Vec<(String, Option<String>)> = string_map(body, "Tags")?
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect();
            q.update(queue_name(body)?, &[], &tags)
                .await
                .map_err(error_of)?;
            Ok(json!({}))
        }
        "UntagQueue" => {
            let keys: Vec<(String, Option<String>)> = string_list(body, "TagKeys")?
                .into_iter()
                .map(|k| (k, None))
                .collect();
            q.update(queue_name(body)?, &[], &keys)
                .await
                .map_err(error_of)?;
            Ok(json!({}))
        }
        "ListQueueTags" => {
            let queue = q.queue(queue_name(body)?).await.map_err(error_of)?;
            Ok(json!({ "Tags": queue.settings.tags }))
        }
        "ListDeadLetterSourceQueues" => {
            let arn = q.arn(queue_name(body)?);
            let urls: Vec<String> = q
                .queues()
                .await
                .map_err(error_of)?
                .iter()
                .filter(|s| {
                    s.settings
                        .redrive_policy
                        .as_ref()
                        .is_some_and(|r| r.dead_letter_target_arn == arn)
                })
                .map(|s| q.url(&s.name))
                .collect();
            Ok(json!({ "queueUrls": urls }))
        }
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("Cirrus does not implement the SQS operation '{operation}'"),
        )),
    }
}

fn required<'a>(body: &'a Body, field: &str) -> Result<&'a str, ApiError> {
    body.opt_str(field)?.ok_or_else(|| missing(field))
}

fn queue_name(body: &Body) -> Result<&str, ApiError> {
    queues::queue_of_url(required(body, "QueueUrl")?).map_err(error_of)
}

/// An integer field (SQS sends numbers; strings of digits are accepted too).
fn integer(body: &Body, field: &str) -> Result<Option<i64>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(v) => number_of(v).map(Some).ok_or_else(|| {
            invalid(format!(
                "Value {v} for parameter {field} is invalid. Reason: must be an integer."
            ))
        }),
    }
}

fn number_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn seconds(body: &Body, field: &str) -> Result<Option<u32>, ApiError> {
    match integer(body, field)? {
        None => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            invalid(format!(
                "Value {n} for parameter {field} is invalid. Reason: must not be negative."
            ))
        }),
    }
}

fn string_map(body: &Body, field: &str) -> Result<Vec<(String, String)>, ApiError> {
    match body.get(field) {
        None => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(invalid(format!("{field}.{k} must be a string"))),
            })
            .collect(),
        Some(_) => Err(invalid(format!("{field} must be a map of strings"))),
    }
}

fn string_list(body: &Body, field: &str) -> Result<Vec<String>, ApiError> {
    match body.get(field) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("{field} must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(invalid(format!("{field} must be a list of strings"))),
    }
}

async fn create_queue(q: &QueueService, body: &Body) -> ApiResult {
    let name = required(body, "QueueName")?;
    let attrs = string_map(body, "Attributes")?;
    let tags: BTreeMap<String, String> = string_map(body, "tags")?.into_iter().collect();
    q.create(name, &attrs, tags).await.map_err(error_of)?;
    Ok(json!({ "QueueUrl": q.url(name) }))
}

async fn list_queues(q: &QueueService, body: &Body) -> ApiResult {
    let prefix = body.opt_str("QueueNamePrefix")?.unwrap_or("");
    let max = match integer(body, "MaxResults")? {
        None => None,
        Some(n) if (1..=1000).contains(&n) => Some(n as usize),
        Some(n) => {
            return Err(invalid(format!(
                "Value {n} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
            )));
        }
    };
    let after = body.opt_str("NextToken")?.unwrap_or("");
    let names: Vec<String> = q
        .queues()
        .await
        .map_err(error_of)?
        .into_iter()
        .map(|s| s.name)
        .filter(|n| n.starts_with(prefix) && n.as_str() > after)
        .collect();
    let limit = max.unwrap_or(1000);
    let next = (max.is_some() && names.len() > limit).then(|| names[limit - 1].clone());
    let urls: Vec<String> = names.iter().take(limit).map(|n| q.url(n)).collect();
    let mut out = json!({ "QueueUrls": urls });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

const QUEUE_ATTRIBUTES: &[&str] = &[
    "All",
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
];

async fn get_attributes(q: &QueueService, body: &Body) -> ApiResult {
    let name = queue_name(body)?;
    let wanted = string_list(body, "AttributeNames")?;
    if let Some(bad) = wanted
        .iter()
        .find(|w| !QUEUE_ATTRIBUTES.contains(&w.as_str()))
    {
        return Err(error_of(QueueError::UnknownAttribute(bad.clone())));
    }
    let queue = q.queue(name).await.map_err(error_of)?;
    let counts = q.counts(name).await.map_err(error_of)?;
    let mut all = queue.settings.attributes();
    all.insert("QueueArn".into(), q.arn(name));
    all.insert(
        "ApproximateNumberOfMessages".into(),
        counts.visible.to_string(),
    );
    all.insert(
        "ApproximateNumberOfMessagesNotVisible".into(),
        counts.in_flight.to_string(),
    );
    all.insert(
        "ApproximateNumberOfMessagesDelayed".into(),
        counts.delayed.to_string(),
    );
    all.insert(
        "CreatedTimestamp".into(),
        (queue.created_ms / 1000).to_string(),
    );
    all.insert(
        "LastModifiedTimestamp".into(),
        (queue.updated_ms / 1000).to_string(),
    );
    let every = wanted.iter().any(|w| w == "All");
    let out: Map<String, Value> = all
        .into_iter()
        .filter(|(k, _)| every || wanted.contains(k))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if out.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Attributes": out }))
}

/// A message from a request: `MessageBody`, `MessageAttributes`, `DelaySeconds`.
fn new_message(v: &Map<String, Value>) -> Result<NewMessage, ApiError> {
    let body = match v.get("MessageBody") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => return Err(missing("MessageBody")),
        Some(_) => return Err(invalid("MessageBody must be a string")),
    };
    let attributes = match v.get("MessageAttributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(invalid("MessageAttributes must be a map")),
    };
    let delay_seconds = match v.get("DelaySeconds") {
        None | Some(Value::Null) => None,
        Some(d) => Some(
            number_of(d)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid(format!("Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.")))?,
        ),
    };
    Ok(NewMessage {
        body,
        attributes,
        delay_seconds,
    })
}

fn sent_view(m: &cirrus_store::QueueMessage) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("MessageId".into(), json!(m.id));
    out.insert("MD5OfMessageBody".into(), json!(md5_of_body(&m.body)));
    if let Some(md5) = md5_of_attributes(&attributes_of(m)) {
        out.insert("MD5OfMessageAttributes".into(), json!(md5));
    }
    out
}

fn fields(body: &Body) -> Map<String, Value> {
    let mut m = Map::new();
    for k in ["MessageBody", "MessageAttributes", "DelaySeconds"] {
        if let Some(v) = body.get(k) {
            m.insert(k.into(), v.clone());
        }
    }
    m
}

async fn send_message(q: &QueueService, body: &Body) -> ApiResult {
    let name = queue_name(body)?;
    let message = new_message(&fields(body))?;
    let queue = q.queue(name).await.map_err(error_of)?;
    let record = q.prepare(&queue, message).map_err(error_of)?;
    q.store_messages(name, std::slice::from_ref(&record))
        .await
        .map_err(error_of)?;
    Ok(Value::Object(sent_view(&record)))
}

/// The `Entries` of a batch request, checked as SQS does: 1 to 10, distinct ids of
/// letters, digits, `-` and `_` up to 80 characters.
/// A batch entry: its `Id` and fields.
type Entry<'a> = (&'a str, &'a Map<String, Value>);

fn entries(body: &Body) -> Result<Vec<Entry<'_>>, ApiError> {
    let list = match body.get("Entries") {
        None => return Err(missing("Entries")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("Entries must be a list")),
    };
    if list.is_empty() {
        return Err(sqs_error!(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            "There should be at least one entry in the request."
        ));
    }
    if list.len() > MAX_BATCH {
        return Err(sqs_error!(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are {MAX_BATCH}. You have sent {}.",
                list.len()
            )
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for e in list {
        let e = e
            .as_object()
            .ok_or_else(|| invalid("each entry must be an object"))?;
        let id = e
            .get("Id")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("Entries.N.Id"))?;
        let ok = !id.is_empty()
            && id.len() <= 80
            && id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if !ok {
            return Err(sqs_error!(
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                format!(
                    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long ('{id}')."
                )
            ));
        }
        if !seen.insert(id) {
            return Err(sqs_error!(
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                format!("Id {id} repeated.")
            ));
        }
        out.push((id, e));
    }
    Ok(out)
}

fn failed(id: &str, e: QueueError) -> Value {
    let (code, message) = entry_error(e);
    json!({ "Id": id, "SenderFault": true, "Code": code, "Message": message })
}

async fn send_batch(q: &QueueService, body: &Body) -> ApiResult {
    let name = queue_name(body)?;
    let entries = entries(body)?;
    let queue = q.queue(name).await.map_err(error_of)?;
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let mut total = 0usize;
    for (id, e) in entries {
        let message = new_message(e)?;
        total += message.body.len() + queues::check_attributes(&message.attributes).unwrap_or(0);
        match q.prepare(&queue, message) {
            Ok(r) => ok.push((id, r)),
            Err(e) => bad.push(failed(id, e)),
        }
    }
    if total > MAX_MESSAGE_BYTES as usize {
        return Err(sqs_error!(
            "BatchRequestTooLong",
            "AWS.SimpleQueueService.BatchRequestTooLong",
            format!(
                "Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have sent {total} bytes."
            )
        ));
    }
    let records: Vec<_> = ok.iter().map(|(_, r)| r.clone()).collect();
    q.store_messages(name, &records).await.map_err(error_of)?;
    let successful: Vec<Value> = ok
        .iter()
        .map(|(id, r)| {
            let mut v = sent_view(r);
            v.insert("Id".into(), json!(id));
            Value::Object(v)
        })
        .collect();
    Ok(json!({ "Successful": successful, "Failed": bad }))
}

/// Whether an attribute name is asked for by `names` (`All`, `.*`, a name, `prefix.*`).
fn wanted(names: &[String], name: &str) -> bool {
    names.iter().any(|n| {
        n == "All"
            || n == ".*"
            || n == name
            || n.strip_suffix(".*")
                .is_some_and(|p| name.starts_with(p) && name[p.len()..].starts_with('.'))
    })
}

async fn receive(q: &QueueService, body: &Body) -> ApiResult {
    let name = queue_name(body)?;
    let max = match integer(body, "MaxNumberOfMessages")? {
        None => 1,
        Some(n) if (1..=MAX_RECEIVE as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(invalid(format!(
                "Value {n} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
            )));
        }
    };
    let options = ReceiveOptions {
        max,
        visibility_timeout: seconds(body, "VisibilityTimeout")?,
        wait_seconds: seconds(body, "WaitTimeSeconds")?,
    };
    let mut system = string_list(body, "AttributeNames")?;
    system.extend(string_list(body, "MessageSystemAttributeNames")?);
    let user = string_list(body, "MessageAttributeNames")?;
    let got = q.receive(name, options).await.map_err(error_of)?;
    let messages: Vec<Value> = got
        .iter()
        .map(|m| {
            let mut v = Map::new();
            v.insert("MessageId".into(), json!(m.id));
            v.insert("ReceiptHandle".into(), json!(m.receipt));
            v.insert("MD5OfBody".into(), json!(md5_of_body(&m.body)));
            v.insert("Body".into(), json!(m.body));
            let sys = system_attributes(m);
            let sys: Map<String, Value> = sys
                .into_iter()
                .filter(|(k, _)| wanted(&system, k))
                .collect();
            if !sys.is_empty() {
                v.insert("Attributes".into(), Value::Object(sys));
            }
            let attrs: Map<String, Value> = attributes_of(m)
                .into_iter()
                .filter(|(k, _)| wanted(&user, k))
                .collect();
            if let Some(md5) = md5_of_attributes(&attrs) {
                v.insert("MD5OfMessageAttributes".into(), json!(md5));
                v.insert("MessageAttributes".into(), Value::Object(attrs));
            }
            Value::Object(v)
        })
        .collect();
    if messages.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Messages": messages }))
}

/// The system attributes of a received message, as strings.
pub fn system_attributes(m: &cirrus_store::QueueMessage) -> Map<String, Value> {
    let mut a = Map::new();
    a.insert(
        "ApproximateReceiveCount".into(),
        json!(m.receive_count.to_string()),
    );
    a.insert("SentTimestamp".into(), json!(m.sent_ms.to_string()));
    a.insert("SenderId".into(), json!(SENDER_ID));
    a.insert(
        "ApproximateFirstReceiveTimestamp".into(),
        json!(m.first_receive_ms.unwrap_or(m.sent_ms).to_string()),
    );
    a
}

async fn delete_batch(q: &QueueService, body: &Body) -> ApiResult {
    let name = queue_name(body)?;
    let entries = entries(body)?;
    let mut receipts = Vec::new();
    let mut bad = Vec::new();
    let mut ids = Vec::new();
    for (id, e) in &entries {
        match e.get("ReceiptHandle").and_then(Value::as_str) {
            Some(r) => {
                ids.push(*id);
                receipts.push(r.to_owned());
            }
            None => bad.push(failed(
                id,
                QueueError::Invalid("ReceiptHandle is required".into()),
            )),
        }
    }
    let ok = q.delete_messages(name, &receipts).await.map_err(error_of)?;
    let mut successful = Vec::new();
    for ((id, r), ok) in ids.iter().zip(&receipts).zip(ok) {
        if ok {
            successful.push(json!({ "Id": id }));
        } else {
            bad.push(failed(id, QueueError::BadReceipt(r.clone())));
        }
    }
    Ok(json!({ "Successful": successful, "Failed": bad }))
}

async fn visibility_batch(q: &QueueService, body: &Body) -> ApiResult {
    let name = queue_name(body)?;
    let entries = entries(body)?;
    q.queue(name).await.map_err(error_of)?;
    let mut successful = Vec::new();
    let mut bad = Vec::new();
    for (id, e) in entries {
        let receipt = e.get("ReceiptHandle").and_then(Value::as_str);
        let timeout = e
            .get("VisibilityTimeout")
            .and_then(number_of)
            .and_then(|n| u32::try_from(n).ok());
        let result = match (receipt, timeout) {
            (Some(r), Some(t)) => q.change_visibility(name, r, t).await,
            (None, _) => Err(QueueError::Invalid("ReceiptHandle is required".into())),
            (_, None) => Err(QueueError::Invalid(
                "VisibilityTimeout is required: 0 to 43200".into(),
            )),
        };
        match result {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(e @ QueueError::Store(_)) => return Err(error_of(e)),
            Err(e) => bad.push(failed(id, e)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": bad }))
}
