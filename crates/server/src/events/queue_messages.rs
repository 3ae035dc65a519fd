//! What a message of a Cirrus queue carries, checked and digested as SQS does: the
//! allowed characters of bodies, message attributes (names, types, values, sizes), and
//! the MD5s SQS reports of bodies and attributes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cirrus_store::QueueMessage;
use md5::{Digest, Md5};
use serde_json::{Map, Value};

use super::queues::QueueError;

/// SQS's allowed characters: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
/// #x10000 to #x10FFFF.
fn check_text(text: &str, what: &str) -> Result<(), QueueError> {
    match text.chars().find(|c| {
        let c = u32::from(*c);
        !(c == 0x9
            || c == 0xA
            || c == 0xD
            || (0x20..=0xD7FF).contains(&c)
            || (0xE000..=0xFFFD).contains(&c)
            || c >= 0x10000)
    }) {
        Some(c) => Err(QueueError::BadContents(format!(
            "Invalid characters found in {what}: U+{:04X} is not allowed",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

pub(crate) fn check_body(body: &str) -> Result<(), QueueError> {
    if body.is_empty() {
        return Err(QueueError::Invalid(
            "The request must contain the parameter MessageBody (1 character or more).".into(),
        ));
    }
    check_text(body, "the message body")
}

/// Checks message attributes; their size in bytes (names, types and values).
pub fn check_attributes(attributes: &Map<String, Value>) -> Result<usize, QueueError> {
    if attributes.len() > 10 {
        return Err(QueueError::Invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            attributes.len()
        )));
    }
    let mut size = 0;
    for (name, a) in attributes {
        let bad = |why: String| QueueError::Invalid(format!("Message attribute '{name}': {why}"));
        let name_ok = !name.is_empty()
            && name.len() <= 256
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && !name.to_ascii_lowercase().starts_with("aws.")
            && !name.to_ascii_lowercase().starts_with("amazon.")
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        if !name_ok {
            return Err(bad(
                "names are 1 to 256 letters, digits, '_', '-' and '.', not starting with AWS. or Amazon."
                    .into(),
            ));
        }
        let a = a.as_object().ok_or_else(|| {
            bad("must be an object with DataType and StringValue or BinaryValue".into())
        })?;
        let data_type = a
            .get("DataType")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("DataType is required".into()))?;
        let base = data_type.split('.').next().unwrap_or("");
        let value_len = match base {
            "String" | "Number" => {
                let v = a
                    .get("StringValue")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("a {base} attribute needs a StringValue")))?;
                if v.is_empty() {
                    return Err(bad("StringValue must not be empty".into()));
                }
                if base == "Number" && v.parse::<f64>().is_err() {
                    return Err(bad(format!("'{v}' is not a number")));
                }
                check_text(v, "a message attribute")?;
                v.len()
            }
            "Binary" => {
                let v = a
                    .get("BinaryValue")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("a Binary attribute needs a BinaryValue (base64)".into()))?;
                let bytes = B64
                    .decode(v)
                    .map_err(|_| bad("BinaryValue is not base64".into()))?;
                if bytes.is_empty() {
                    return Err(bad("BinaryValue must not be empty".into()));
                }
                bytes.len()
            }
            _ => {
                return Err(bad(format!(
                    "DataType '{data_type}' is not String, Number or Binary (with an optional .custom suffix)"
                )));
            }
        };
        if a.keys().any(|k| {
            !matches!(
                k.as_str(),
                "DataType"
                    | "StringValue"
                    | "BinaryValue"
                    | "StringListValues"
                    | "BinaryListValues"
            )
        }) {
            return Err(bad(
                "only DataType, StringValue and BinaryValue are allowed".into(),
            ));
        }
        size += name.len() + data_type.len() + value_len;
    }
    Ok(size)
}

/// The hex MD5 of a message body, as SQS reports it.
pub fn md5_of_body(body: &str) -> String {
    hex(&Md5::digest(body.as_bytes()))
}

/// The hex MD5 of message attributes as SQS computes it: for each attribute by name,
/// the name, the data type (each as a 4-byte big-endian length then the bytes), one byte
/// for the transport (1 string, 2 binary) and the value (length then bytes). `None` when
/// there are none.
pub fn md5_of_attributes(attributes: &Map<String, Value>) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut names: Vec<&String> = attributes.keys().collect();
    names.sort();
    let mut buf = Vec::new();
    let put = |buf: &mut Vec<u8>, bytes: &[u8]| {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    };
    for name in names {
        let a = &attributes[name];
        let data_type = a.get("DataType").and_then(Value::as_str).unwrap_or("");
        put(&mut buf, name.as_bytes());
        put(&mut buf, data_type.as_bytes());
        if data_type.starts_with("Binary") {
            let bytes = a
                .get("BinaryValue")
                .and_then(Value::as_str)
                .and_then(|v| B64.decode(v).ok())
                .unwrap_or_default();
            buf.push(2);
            put(&mut buf, &bytes);
        } else {
            let v = a.get("StringValue").and_then(Value::as_str).unwrap_or("");
            buf.push(1);
            put(&mut buf, v.as_bytes());
        }
    }
    Some(hex(&Md5::digest(&buf)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored message's attributes.
pub fn attributes_of(message: &QueueMessage) -> Map<String, Value> {
    match serde_json::from_str(&message.attributes) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}
