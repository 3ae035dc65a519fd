//! `arn:aws:states:::sqs:sendMessage` (and `.waitForTaskToken`): a Task sends one message
//! to a queue of the node, as Step Functions' optimized SQS integration does.
//!
//! Parameters: `QueueUrl` (a queue URL of any host, whose last path segment names the
//! queue; a queue ARN; or a bare name), `MessageBody` (a string is sent as it is, any other
//! JSON value as its JSON text), `DelaySeconds`, `MessageAttributes`, `MessageGroupId`
//! (accepted and ignored: Cirrus queues are standard queues). `MessageDeduplicationId`
//! is refused (it is for FIFO queues). The result is SQS's `SendMessage` answer with the
//! SDK metadata Step Functions adds; failures carry the `SQS.*` names a `Catch` matches.

use cirrus_asl::Failure;
use serde_json::{Map, Value, json};

use crate::events::queues::{self, NewMessage, QueueError, QueueService};

/// The parameters sendMessage takes.
const PARAMETERS: &[&str] = &[
    "QueueUrl",
    "MessageBody",
    "DelaySeconds",
    "MessageAttributes",
    "MessageGroupId",
    "MessageDeduplicationId",
];

/// The queue a `QueueUrl` names: an ARN, a URL or a bare name.
fn queue_name(given: &str) -> Result<&str, Failure> {
    let name = if given.starts_with("arn:") {
        queues::queue_of_arn(given)
    } else {
        queues::queue_of_url(given).ok()
    };
    name.ok_or_else(|| {
        Failure::new(
            "SQS.QueueDoesNotExistException",
            format!("The specified queue does not exist: '{given}' names no queue"),
        )
    })
}

/// How Step Functions names an SQS failure.
fn failure_of(e: QueueError, queue: &str) -> Failure {
    match e {
        QueueError::NoSuchQueue(_) => Failure::new(
            "SQS.QueueDoesNotExistException",
            format!("The specified queue does not exist: '{queue}'"),
        ),
        QueueError::BadContents(m) => Failure::new("SQS.InvalidMessageContentsException", m),
        QueueError::Store(e) => {
            tracing::error!(err = %e, queue, "sqs:sendMessage failed in the store");
            Failure::new(
                "SQS.AmazonSQSException",
                format!("InternalError: cannot store the message: {e}"),
            )
        }
        other => Failure::new("SQS.AmazonSQSException", other.to_string()),
    }
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new("SQS.AmazonSQSException", message)
}

/// Reads the Task's parameters into the queue's name and the message.
fn parse(payload: &Value) -> Result<(&str, NewMessage), Failure> {
    let Some(p) = payload.as_object() else {
        return Err(Failure::runtime(
            "The parameters of sqs:sendMessage must be an object with QueueUrl and MessageBody",
        ));
    };
    if let Some(unknown) = p.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(Failure::runtime(format!(
            "'{unknown}' is not a parameter of sqs:sendMessage (it takes {})",
            PARAMETERS.join(", ")
        )));
    }
    let queue = match p.get("QueueUrl") {
        Some(Value::String(s)) => queue_name(s)?,
        None | Some(Value::Null) => {
            return Err(invalid(
                "The request must contain the parameter QueueUrl (a queue URL, ARN or name)",
            ));
        }
        Some(_) => return Err(invalid("QueueUrl must be a string")),
    };
    let body = match p.get("MessageBody") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(invalid(
                "The request must contain the parameter MessageBody",
            ));
        }
        Some(v) => v.to_string(),
    };
    let attributes = match p.get("MessageAttributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(invalid(
                "MessageAttributes must map names to {\"DataType\", \"StringValue\"} objects",
            ));
        }
    };
    let delay_seconds = match p.get("DelaySeconds") {
        None | Some(Value::Null) => None,
        Some(d) => {
            let n = match d {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            Some(n.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                invalid(format!(
                    "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
                ))
            })?)
        }
    };
    if p.get("MessageDeduplicationId")
        .is_some_and(|v| !v.is_null())
    {
        return Err(invalid(format!(
            "The parameter MessageDeduplicationId is only for FIFO queues; '{queue}' is a standard queue (Cirrus has no FIFO queues)"
        )));
    }
    Ok((
        queue,
        NewMessage {
            body,
            attributes,
            delay_seconds,
        },
    ))
}

/// Sends the message; SQS's answer as the Task's result.
pub(super) async fn send_message(queues: &QueueService, payload: &Value) -> Result<Value, Failure> {
    let (name, message) = parse(payload)?;
    let queue = queues.queue(name).await.map_err(|e| failure_of(e, name))?;
    let record = queues
        .prepare(&queue, message)
        .map_err(|e| failure_of(e, name))?;
    queues
        .store_messages(name, std::slice::from_ref(&record))
        .await
        .map_err(|e| failure_of(e, name))?;
    let request_id = cirrus_engine::uuid();
    let mut out = json!({
        "MessageId": record.id,
        "MD5OfMessageBody": queues::md5_of_body(&record.body),
        "SdkHttpMetadata": {
            "HttpHeaders": { "Content-Type": "text/xml", "x-amzn-RequestId": request_id },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": { "RequestId": request_id },
    });
    if let Some(md5) = queues::md5_of_attributes(&queues::attributes_of(&record)) {
        out["MD5OfMessageAttributes"] = json!(md5);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_is_named_by_url_arn_or_name() {
        for given in [
            "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
            "http://127.0.0.1:9070/000000000000/orders/",
            "arn:aws:sqs:eu-west-1:123456789012:orders",
            "orders",
        ] {
            assert_eq!(queue_name(given).unwrap(), "orders", "{given}");
        }
        let e = queue_name("arn:aws:sqs:us-east-1:1:").unwrap_err();
        assert_eq!(e.error, "SQS.QueueDoesNotExistException");
    }

    #[test]
    fn a_body_that_is_not_a_string_is_sent_as_json() {
        let p = json!({ "QueueUrl": "q", "MessageBody": { "a": [1, "x"] } });
        let (q, m) = parse(&p).unwrap();
        assert_eq!(q, "q");
        assert_eq!(m.body, r#"{"a":[1,"x"]}"#);
        let (_, m) = parse(&json!({ "QueueUrl": "q", "MessageBody": "plain", "DelaySeconds": "5", "MessageGroupId": "g" })).unwrap();
        assert_eq!(m.body, "plain");
        assert_eq!(m.delay_seconds, Some(5));
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = |p: Value| parse(&p).unwrap_err();
        let e = err(json!({ "QueueUrl": "q" }));
        assert_eq!(e.error, "SQS.AmazonSQSException");
        assert!(e.cause.unwrap().contains("MessageBody"));
        let e = err(json!({ "QueueUrl": "q", "MessageBody": "x", "Body": 1 }));
        assert_eq!(e.error, "States.Runtime");
        assert!(e.cause.unwrap().contains("'Body'"));
        let e = err(json!({ "QueueUrl": "q", "MessageBody": "x", "MessageDeduplicationId": "d" }));
        assert!(e.cause.unwrap().contains("FIFO"));
        let e = err(json!({ "QueueUrl": "q", "MessageBody": "x", "DelaySeconds": -1 }));
        assert!(e.cause.unwrap().contains("DelaySeconds"));
        assert_eq!(err(json!("q")).error, "States.Runtime");
    }
}
