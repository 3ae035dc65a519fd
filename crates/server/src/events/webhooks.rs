//! Webhooks: `POST /webhooks/{name}` on the routes listener (public, like user routes)
//! turns a signed request into an event on a bus. The signature is checked with HMAC-SHA256
//! over the raw body and a secret kept in the node's secrets (never in the webhook's
//! document), in one of three schemes:
//!
//! - `github`: `X-Hub-Signature-256: sha256=<hex>`;
//! - `stripe`: `Stripe-Signature: t=<unix seconds>,v1=<hex>` over `"<t>.<body>"`, refused
//!   when `t` is more than `tolerance_seconds` away from now (replays);
//! - `generic`: a header of the webhook's choosing, an optional prefix, hex or base64.
//!
//! A request without a valid signature is refused with 401 and puts nothing on the bus.
//! The event: `source` = the webhook's (default `webhook.<name>`), `type` = the value of
//! `type_header` if the request has it (GitHub's `X-GitHub-Event`), else the webhook's
//! `detail_type`; `data` = the body as JSON (or `{"body": text}`), with `headers` chosen
//! by `forward_headers`.

use std::sync::Arc;

use base64::Engine as _;
use cirrus_events::CloudEvent;
use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Events;
use super::rules::{DEFAULT_BUS, Invalid, check_name};

pub const RESOURCE_WEBHOOK: &str = "webhook";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    #[default]
    Github,
    Stripe,
    Generic,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    Hex,
    Base64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDoc {
    pub name: String,
    #[serde(default = "default_bus")]
    pub bus: String,
    /// The name of the node secret holding the signing key.
    pub secret: String,
    #[serde(default)]
    pub scheme: Scheme,
    /// `generic`: the header carrying the signature.
    #[serde(default)]
    pub header: Option<String>,
    /// `generic`: text before the signature in the header (`sha256=`).
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub encoding: Encoding,
    #[serde(default = "tolerance")]
    pub tolerance_seconds: u64,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default = "detail_type")]
    pub detail_type: String,
    #[serde(default)]
    pub type_header: Option<String>,
    #[serde(default)]
    pub forward_headers: Vec<String>,
}

fn default_bus() -> String {
    DEFAULT_BUS.into()
}

fn tolerance() -> u64 {
    300
}

fn detail_type() -> String {
    "Webhook Received".into()
}

impl WebhookDoc {
    pub fn validate(&self) -> Result<(), Invalid> {
        check_name(&self.name, "webhook")?;
        check_name(&self.bus, "event bus")?;
        crate::functions::secrets::check_name(&self.secret)
            .map_err(|e| Invalid(format!("webhook '{}': secret: {e}", self.name)))?;
        if self.scheme == Scheme::Generic {
            match &self.header {
                Some(h) if h.parse::<http::HeaderName>().is_ok() => {}
                Some(h) => {
                    return Err(Invalid(format!(
                        "webhook '{}': '{h}' is not a header name",
                        self.name
                    )));
                }
                None => {
                    return Err(Invalid(format!(
                        "webhook '{}': the generic scheme needs 'header'",
                        self.name
                    )));
                }
            }
        }
        for h in self.forward_headers.iter().chain(self.type_header.iter()) {
            if h.parse::<http::HeaderName>().is_err() {
                return Err(Invalid(format!(
                    "webhook '{}': '{h}' is not a header name",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// The document as the API shows it.
    pub fn public(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        v["path"] = json!(format!("/webhooks/{}", self.name));
        v
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let Ok(mut m) = HmacSha256::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks a request's signature; the reason when it is not valid.
pub fn verify(
    doc: &WebhookDoc,
    key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_s: i64,
) -> Result<(), String> {
    match doc.scheme {
        Scheme::Github => {
            let given = header(headers, "x-hub-signature-256")
                .ok_or("the X-Hub-Signature-256 header is missing")?;
            let given = given
                .strip_prefix("sha256=")
                .ok_or("X-Hub-Signature-256 must start with 'sha256='")?;
            let expected = hex(&mac(key, &[body]));
            if constant_time_eq(given.to_ascii_lowercase().as_bytes(), expected.as_bytes()) {
                Ok(())
            } else {
                Err("the signature does not match".into())
            }
        }
        Scheme::Stripe => {
            let given = header(headers, "stripe-signature")
                .ok_or("the Stripe-Signature header is missing")?;
            let mut t = None;
            let mut sigs = Vec::new();
            for part in given.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", v)) => t = v.parse::<i64>().ok(),
                    Some(("v1", v)) => sigs.push(v.to_ascii_lowercase()),
                    _ => {}
                }
            }
            let t = t.ok_or("Stripe-Signature has no timestamp t=")?;
            if (now_s - t).unsigned_abs() > doc.tolerance_seconds {
                return Err(format!(
                    "the signature's timestamp is more than {} s from now",
                    doc.tolerance_seconds
                ));
            }
            let ts = t.to_string();
            let expected = hex(&mac(key, &[ts.as_bytes(), b".", body]));
            if sigs
                .iter()
                .any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
            {
                Ok(())
            } else {
                Err("no v1 signature matches".into())
            }
        }
        Scheme::Generic => {
            let name = doc.header.as_deref().unwrap_or("");
            let given =
                header(headers, name).ok_or_else(|| format!("the {name} header is missing"))?;
            let given = given
                .strip_prefix(doc.prefix.as_str())
                .ok_or_else(|| format!("{name} must start with '{}'", doc.prefix))?;
            let raw = mac(key, &[body]);
            let ok = match doc.encoding {
                Encoding::Hex => {
                    constant_time_eq(given.to_ascii_lowercase().as_bytes(), hex(&raw).as_bytes())
                }
                Encoding::Base64 => constant_time_eq(
                    given.as_bytes(),
                    base64::engine::general_purpose::STANDARD
                        .encode(&raw)
                        .as_bytes(),
                ),
            };
            if ok {
                Ok(())
            } else {
                Err("the signature does not match".into())
            }
        }
    }
}

/// Handles `POST /webhooks/{name}`; `None` when no webhook has that name.
pub async fn handle(
    events: &Arc<Events>,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<(StatusCode, Value)> {
    let doc = match events.get_doc::<WebhookDoc>(RESOURCE_WEBHOOK, name).await {
        Ok(Some((d, _))) => d,
        Ok(None) => return None,
        Err(e) => {
            return Some((
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "message": e.to_string() }),
            ));
        }
    };
    let Some(key) = events.functions.secrets.get(&doc.secret) else {
        tracing::warn!(webhook = name, secret = %doc.secret, "the webhook's secret is not set; refusing every request");
        return Some((
            StatusCode::UNAUTHORIZED,
            json!({ "message": "the webhook's signing secret is not set" }),
        ));
    };
    let now_s = cirrus_engine::now_ms() / 1000;
    if let Err(reason) = verify(&doc, key.as_bytes(), headers, body, now_s) {
        tracing::info!(webhook = name, reason, "webhook refused");
        return Some((
            StatusCode::UNAUTHORIZED,
            json!({ "message": format!("invalid signature: {reason}") }),
        ));
    }
    let mut data = match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => json!({ "body": other }),
        Err(_) => json!({ "body": String::from_utf8_lossy(body) }),
    };
    if !doc.forward_headers.is_empty() {
        let forwarded: serde_json::Map<String, Value> = doc
            .forward_headers
            .iter()
            .filter_map(|h| header(headers, h).map(|v| (h.to_ascii_lowercase(), json!(v))))
            .collect();
        data["headers"] = Value::Object(forwarded);
    }
    let ty = doc
        .type_header
        .as_deref()
        .and_then(|h| header(headers, h))
        .map(str::to_owned)
        .unwrap_or_else(|| doc.detail_type.clone());
    let source = doc
        .source
        .clone()
        .unwrap_or_else(|| format!("webhook.{name}"));
    let mut e = CloudEvent::new(cirrus_engine::uuid(), source, ty);
    e.time = Some(super::timestamp(cirrus_engine::now_ms()));
    e.datacontenttype = Some("application/json".into());
    e.data = Some(data);
    let id = e.id.clone();
    match events.accept(&doc.bus, &[e], None).await {
        Ok(n) => Some((StatusCode::ACCEPTED, json!({ "id": id, "deliveries": n }))),
        Err(err) => Some((
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "message": err.to_string() }),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(scheme: Scheme) -> WebhookDoc {
        serde_json::from_value(json!({ "name": "w", "secret": "S", "scheme": scheme, "header": "X-Sig", "prefix": "v=" })).unwrap()
    }

    #[test]
    fn github_signatures() {
        let body = b"{\"a\":1}";
        let sig = format!("sha256={}", hex(&mac(b"key", &[body])));
        let mut h = HeaderMap::new();
        h.insert("x-hub-signature-256", sig.parse().unwrap());
        assert!(verify(&doc(Scheme::Github), b"key", &h, body, 0).is_ok());
        assert!(verify(&doc(Scheme::Github), b"other", &h, body, 0).is_err());
        assert!(verify(&doc(Scheme::Github), b"key", &h, b"{\"a\":2}", 0).is_err());
        assert!(
            verify(&doc(Scheme::Github), b"key", &HeaderMap::new(), body, 0)
                .unwrap_err()
                .contains("missing")
        );
    }

    #[test]
    fn stripe_signatures_expire() {
        let body = b"{}";
        let sig = hex(&mac(b"k", &[b"1000", b".", body]));
        let mut h = HeaderMap::new();
        h.insert(
            "stripe-signature",
            format!("t=1000,v1={sig}").parse().unwrap(),
        );
        assert!(verify(&doc(Scheme::Stripe), b"k", &h, body, 1100).is_ok());
        assert!(
            verify(&doc(Scheme::Stripe), b"k", &h, body, 2000)
                .unwrap_err()
                .contains("timestamp")
        );
    }

    #[test]
    fn generic_signatures() {
        let body = b"x";
        let mut d = doc(Scheme::Generic);
        d.encoding = Encoding::Base64;
        let sig = format!(
            "v={}",
            base64::engine::general_purpose::STANDARD.encode(mac(b"k", &[body]))
        );
        let mut h = HeaderMap::new();
        h.insert("x-sig", sig.parse().unwrap());
        assert!(verify(&d, b"k", &h, body, 0).is_ok());
        assert!(verify(&d, b"j", &h, body, 0).is_err());
    }
}
