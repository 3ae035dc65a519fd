//! The CloudEvents 1.0 envelope, in its JSON (structured) form, and the EventBridge event
//! it corresponds to.
//!
//! EventBridge's fields map onto CloudEvents attributes: `source` ↔ `source`,
//! `detail-type` ↔ `type`, `detail` ↔ `data`, `time` ↔ `time`, `id` ↔ `id`, and
//! `resources` ↔ the extension `resources` (a JSON array, which CloudEvents would carry as
//! a string; Cirrus keeps it as the array).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The attributes CloudEvents defines; any other top-level member is an extension.
const CONTEXT_ATTRIBUTES: [&str; 9] = [
    "id",
    "source",
    "specversion",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("the event is not a JSON object")]
    NotAnObject,
    #[error("the event has no '{0}' attribute (it is required)")]
    Missing(&'static str),
    #[error("the event's '{0}' attribute must be a non-empty string")]
    NotAString(String),
    #[error("the event's specversion is '{0}'; only 1.0 is supported")]
    SpecVersion(String),
    #[error(
        "the extension attribute name '{0}' is not valid: it must be 1 to 20 lowercase letters or digits"
    )]
    ExtensionName(String),
    #[error("the event's 'time' attribute '{0}' is not an RFC 3339 timestamp")]
    Time(String),
    #[error("the event has both 'data' and 'data_base64'")]
    BothData,
}

/// A CloudEvents 1.0 event.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    pub id: String,
    pub source: String,
    /// The CloudEvents `type` (EventBridge's `detail-type`).
    pub ty: String,
    pub subject: Option<String>,
    /// RFC 3339, e.g. `2026-11-27T10:00:00Z`.
    pub time: Option<String>,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    /// The payload: JSON, or a JSON string holding text. (`data_base64` is decoded into a
    /// string holding the base64 text and flagged by `datacontenttype`.)
    pub data: Option<Value>,
    /// Extension attributes, by name.
    pub extensions: BTreeMap<String, Value>,
}

impl CloudEvent {
    pub fn new(id: impl Into<String>, source: impl Into<String>, ty: impl Into<String>) -> Self {
        CloudEvent {
            id: id.into(),
            source: source.into(),
            ty: ty.into(),
            subject: None,
            time: None,
            datacontenttype: None,
            dataschema: None,
            data: None,
            extensions: BTreeMap::new(),
        }
    }

    /// Reads the structured JSON form, validating what CloudEvents requires.
    pub fn from_json(value: Value) -> Result<Self, EventError> {
        let Value::Object(mut map) = value else {
            return Err(EventError::NotAnObject);
        };
        let mut required = |name: &'static str| match map.remove(name) {
            None | Some(Value::Null) => Err(EventError::Missing(name)),
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(_) => Err(EventError::NotAString(name.into())),
        };
        let specversion = required("specversion")?;
        if specversion != "1.0" {
            return Err(EventError::SpecVersion(specversion));
        }
        let id = required("id")?;
        let source = required("source")?;
        let ty = required("type")?;
        let mut optional = |name: &'static str| match map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(EventError::NotAString(name.into())),
        };
        let subject = optional("subject")?;
        let time = optional("time")?;
        let datacontenttype = optional("datacontenttype")?;
        let dataschema = optional("dataschema")?;
        if let Some(t) = &time
            && !is_rfc3339(t)
        {
            return Err(EventError::Time(t.clone()));
        }
        let data = match (map.remove("data"), map.remove("data_base64")) {
            (Some(_), Some(_)) => return Err(EventError::BothData),
            (Some(d), None) => Some(d),
            (None, Some(b)) => Some(b),
            (None, None) => None,
        };
        let mut extensions = BTreeMap::new();
        for (name, v) in map {
            if !valid_extension_name(&name) {
                return Err(EventError::ExtensionName(name));
            }
            extensions.insert(name, v);
        }
        Ok(CloudEvent {
            id,
            source,
            ty,
            subject,
            time,
            datacontenttype,
            dataschema,
            data,
            extensions,
        })
    }

    /// The structured JSON form.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("specversion".into(), json!("1.0"));
        map.insert("id".into(), json!(self.id));
        map.insert("source".into(), json!(self.source));
        map.insert("type".into(), json!(self.ty));
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                map.insert(k.into(), json!(v));
            }
        };
        opt("subject", &self.subject);
        opt("time", &self.time);
        opt("datacontenttype", &self.datacontenttype);
        opt("dataschema", &self.dataschema);
        for (k, v) in &self.extensions {
            if !CONTEXT_ATTRIBUTES.contains(&k.as_str()) {
                map.insert(k.clone(), v.clone());
            }
        }
        if let Some(d) = &self.data {
            map.insert("data".into(), d.clone());
        }
        Value::Object(map)
    }

    /// The event as EventBridge shapes it, which is what rule patterns and input
    /// transformers see: `version`, `id`, `detail-type`, `source`, `account`, `time`,
    /// `region`, `resources`, `detail` (an object: non-object data is wrapped as
    /// `{"data": ...}`).
    pub fn to_eventbridge(&self, account: &str, region: &str) -> Value {
        let detail = match &self.data {
            Some(Value::Object(o)) => Value::Object(o.clone()),
            None | Some(Value::Null) => json!({}),
            Some(other) => json!({ "data": other }),
        };
        let resources = match self.extensions.get("resources") {
            Some(Value::Array(a)) => Value::Array(a.clone()),
            _ => json!([]),
        };
        json!({
            "version": "0",
            "id": self.id,
            "detail-type": self.ty,
            "source": self.source,
            "account": account,
            "time": self.time.clone().unwrap_or_default(),
            "region": region,
            "resources": resources,
            "detail": detail,
        })
    }

    /// The CloudEvent for an EventBridge event (the inverse of [`Self::to_eventbridge`];
    /// `account`, `region` and `version` are dropped).
    pub fn from_eventbridge(event: &Value) -> Result<Self, EventError> {
        let field = |name: &'static str| match event.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            None | Some(Value::Null) => Err(EventError::Missing(name)),
            Some(_) => Err(EventError::NotAString(name.into())),
        };
        let mut e = CloudEvent::new(field("id")?, field("source")?, field("detail-type")?);
        e.time = event.get("time").and_then(Value::as_str).map(str::to_owned);
        e.datacontenttype = Some("application/json".into());
        e.data = event.get("detail").cloned();
        if let Some(Value::Array(r)) = event.get("resources")
            && !r.is_empty()
        {
            e.extensions
                .insert("resources".into(), Value::Array(r.clone()));
        }
        Ok(e)
    }
}

fn valid_extension_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with `t`/`z` accepted.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_round_trip() {
        let v = json!({
            "specversion": "1.0", "id": "1", "source": "orders", "type": "order.placed",
            "time": "2026-11-27T10:00:00.5+01:00", "data": {"n": 1}, "traceparent": "x"
        });
        let e = CloudEvent::from_json(v.clone()).unwrap();
        assert_eq!(e.ty, "order.placed");
        assert_eq!(e.extensions["traceparent"], json!("x"));
        assert_eq!(e.to_json(), v);
    }

    #[test]
    fn invalid_events_say_why() {
        let cases = [
            (json!([1]), "not a JSON object"),
            (
                json!({"id": "1", "source": "s", "type": "t"}),
                "specversion",
            ),
            (
                json!({"specversion": "0.3", "id": "1", "source": "s", "type": "t"}),
                "only 1.0",
            ),
            (
                json!({"specversion": "1.0", "source": "s", "type": "t"}),
                "'id'",
            ),
            (
                json!({"specversion": "1.0", "id": 5, "source": "s", "type": "t"}),
                "'id'",
            ),
            (
                json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "Bad_Name": 1}),
                "Bad_Name",
            ),
            (
                json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "time": "yesterday"}),
                "yesterday",
            ),
        ];
        for (v, needle) in cases {
            let err = CloudEvent::from_json(v.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{v}: {err}");
        }
    }

    #[test]
    fn eventbridge_shape() {
        let mut e = CloudEvent::new("id-1", "shop", "Order Placed");
        e.time = Some("2026-11-27T10:00:00Z".into());
        e.data = Some(json!({"total": 5}));
        e.extensions.insert("resources".into(), json!(["arn:x"]));
        let eb = e.to_eventbridge("123456789012", "us-east-1");
        assert_eq!(eb["detail-type"], "Order Placed");
        assert_eq!(eb["detail"]["total"], 5);
        assert_eq!(eb["resources"][0], "arn:x");
        let back = CloudEvent::from_eventbridge(&eb).unwrap();
        assert_eq!(back.data, e.data);
        assert_eq!(back.extensions, e.extensions);
        e.data = Some(json!("text"));
        assert_eq!(
            e.to_eventbridge("1", "r")["detail"],
            json!({"data": "text"})
        );
    }

    #[test]
    fn rfc3339() {
        for ok in [
            "2026-01-01T00:00:00Z",
            "2026-01-01t00:00:00.123456z",
            "2026-01-01T00:00:00-05:30",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "x026-01-01T00:00:00Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
