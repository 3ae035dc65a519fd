//! HTTP requests for process functions, as API Gateway's HTTP API presents them (payload
//! format 2.0), and their replies back. Pure conversions: no I/O, no clock (the caller
//! passes the time).
//!
//! The event: `rawPath` and `rawQueryString` as sent; header names lower-cased, repeated
//! headers joined with commas, except `cookie`, whose cookies become `cookies`;
//! `queryStringParameters` decoded, repeated names joined with commas; a body that is not
//! text (by its content type, or not UTF-8) is base64 with `isBase64Encoded: true`.
//!
//! The reply: a JSON object with a `statusCode` is a response (`headers`, `cookies` as
//! `set-cookie` headers, `body`, `isBase64Encoded`); any other JSON is a 200
//! `application/json` response with that JSON as its body; anything else (not JSON, a
//! status that is not one, a header that cannot be one) is API Gateway's 502.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use crate::{HttpRequest, HttpResponse};

/// The event a process function receives for `request`.
pub fn request_event(
    request: &HttpRequest,
    account_id: &str,
    request_id: &str,
    time: SystemTime,
) -> Value {
    let raw_query = request.uri.query().unwrap_or("");
    let domain = header(&request.headers, HOST.as_str())
        .or_else(|| request.uri.host().map(str::to_owned))
        .unwrap_or_else(|| "localhost".to_owned());
    let domain_prefix = domain
        .split(['.', ':'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let epoch_ms = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);

    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(request.route_key));
    event.insert("rawPath".into(), json!(request.uri.path()));
    event.insert("rawQueryString".into(), json!(raw_query));
    let cookies = cookies(&request.headers);
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), json!(joined_headers(&request.headers)));
    if !raw_query.is_empty() {
        event.insert(
            "queryStringParameters".into(),
            json!(query_parameters(raw_query)),
        );
    }
    if !request.path_parameters.is_empty() {
        event.insert("pathParameters".into(), json!(request.path_parameters));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": account_id,
            "apiId": domain_prefix,
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "http": {
                "method": request.method.as_str(),
                "path": request.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": header(&request.headers, USER_AGENT.as_str()).unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": request.route_key,
            "stage": "$default",
            "time": clf_time(epoch_ms),
            "timeEpoch": epoch_ms,
        }),
    );
    let content_type = header(&request.headers, CONTENT_TYPE.as_str());
    let text = is_text(content_type.as_deref())
        .then(|| std::str::from_utf8(&request.body).ok())
        .flatten();
    if !request.body.is_empty() {
        let body = match text {
            Some(text) => text.to_owned(),
            None => BASE64.encode(&request.body),
        };
        event.insert("body".into(), json!(body));
    }
    event.insert(
        "isBase64Encoded".into(),
        json!(!request.body.is_empty() && text.is_none()),
    );
    Value::Object(event)
}

/// The HTTP response for a function's reply `payload`.
pub fn response(payload: &[u8]) -> HttpResponse {
    structured_response(payload).unwrap_or_else(|| {
        json_response(
            StatusCode::BAD_GATEWAY,
            Bytes::from_static(br#"{"message":"Internal Server Error"}"#),
        )
    })
}

fn structured_response(payload: &[u8]) -> Option<HttpResponse> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Some(json_response(
            StatusCode::OK,
            Bytes::copy_from_slice(payload),
        ));
    };
    let status = match &object["statusCode"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|code| (100..600).contains(code))
    .and_then(|code| StatusCode::from_u16(code as u16).ok())?;

    let mut headers = HeaderMap::new();
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    Value::Null => continue,
                    _ => return None,
                };
                headers.append(
                    HeaderName::from_bytes(name.as_bytes()).ok()?,
                    HeaderValue::from_str(&value).ok()?,
                );
            }
        }
        Some(_) => return None,
    }
    match object.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cookies)) => {
            for cookie in cookies {
                headers.append(SET_COOKIE, HeaderValue::from_str(cookie.as_str()?).ok()?);
            }
        }
        Some(_) => return None,
    }
    let body = match object.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let body = match object.get("isBase64Encoded") {
        Some(Value::Bool(true)) => Bytes::from(BASE64.decode(body.as_bytes()).ok()?),
        _ => Bytes::from(body),
    };
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

fn json_response(status: StatusCode, body: Bytes) -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Header names (lower-case already in `http`) to their values joined with commas;
/// `cookie` is left to [`cookies`].
fn joined_headers(headers: &HeaderMap) -> BTreeMap<&str, String> {
    let mut joined = BTreeMap::new();
    for name in headers.keys().filter(|name| *name != COOKIE) {
        let values: Vec<_> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect();
        joined.insert(name.as_str(), values.join(","));
    }
    joined
}

fn cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn query_parameters(raw: &str) -> BTreeMap<String, String> {
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        parameters
            .entry(percent_decode(name))
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    parameters
}

/// `%XX` escapes decoded; a malformed escape is kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_text(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        // No type: text if it is UTF-8, which the caller checks.
        return true;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
        )
}

/// `09/May/2026:07:35:25 +0000`: the request time as API Gateway writes it.
fn clf_time(epoch_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = epoch_ms / 1000;
    let (y, m, d) = civil_from_days((seconds / 86_400) as i64);
    let s = seconds % 86_400;
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The proleptic Gregorian date `(year, month, day)` of a day counted from 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01, so that the leap day ends each 4-, 100- and 400-year cycle.
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpRequest {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        HttpRequest {
            method: method.parse().unwrap(),
            uri: uri.parse().unwrap(),
            headers: map,
            body: Bytes::copy_from_slice(body),
            route_key: "GET /orders/{id}".into(),
            path_parameters: [("id".to_owned(), "42".to_owned())].into(),
            source_ip: "192.0.2.7".into(),
        }
    }

    const MAY_9_2026: Duration = Duration::from_millis(1_778_312_125_123);

    #[test]
    fn a_request_becomes_a_format_2_event() {
        let req = request(
            "GET",
            "/orders/42?x=1&y=a%20b&x=2",
            &[
                ("Host", "api.example.com"),
                ("User-Agent", "curl/8"),
                ("Accept", "text/html"),
                ("accept", "application/json"),
                ("Cookie", "a=1; b=2"),
                ("cookie", "c=3"),
            ],
            b"",
        );
        let event = request_event(&req, "000000000000", "req-1", UNIX_EPOCH + MAY_9_2026);
        let expected = json!({
            "version": "2.0",
            "routeKey": "GET /orders/{id}",
            "rawPath": "/orders/42",
            "rawQueryString": "x=1&y=a%20b&x=2",
            "cookies": ["a=1", "b=2", "c=3"],
            "headers": {
                "accept": "text/html,application/json",
                "host": "api.example.com",
                "user-agent": "curl/8",
            },
            "queryStringParameters": { "x": "1,2", "y": "a b" },
            "pathParameters": { "id": "42" },
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "api",
                "domainName": "api.example.com",
                "domainPrefix": "api",
                "http": {
                    "method": "GET",
                    "path": "/orders/42",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.7",
                    "userAgent": "curl/8",
                },
                "requestId": "req-1",
                "routeKey": "GET /orders/{id}",
                "stage": "$default",
                "time": "09/May/2026:07:35:25 +0000",
                "timeEpoch": 1_778_312_125_123_u64,
            },
            "isBase64Encoded": false,
        });
        assert_eq!(event, expected);
    }

    #[test]
    fn text_bodies_are_kept_and_others_base64() {
        let json_body = request("POST", "/", &[("content-type", "application/json")], b"{}");
        let e = request_event(&json_body, "0", "r", UNIX_EPOCH);
        assert_eq!(
            (&e["body"], &e["isBase64Encoded"]),
            (&json!("{}"), &json!(false))
        );

        let png = request("POST", "/", &[("content-type", "image/png")], b"\x89PNG");
        let e = request_event(&png, "0", "r", UNIX_EPOCH);
        assert_eq!(
            (&e["body"], &e["isBase64Encoded"]),
            (&json!("iVBORw=="), &json!(true))
        );

        let untyped_binary = request("POST", "/", &[], b"\xff\xfe");
        let e = request_event(&untyped_binary, "0", "r", UNIX_EPOCH);
        assert_eq!(e["isBase64Encoded"], json!(true));

        let empty = request("GET", "/", &[], b"");
        let e = request_event(&empty, "0", "r", UNIX_EPOCH);
        assert!(e.get("body").is_none() && e.get("queryStringParameters").is_none());
    }

    #[test]
    fn a_structured_reply_sets_status_headers_cookies_and_body() {
        let reply = br#"{"statusCode":201,"headers":{"Content-Type":"text/plain","X-N":5},
            "cookies":["a=1; Path=/","b=2"],"body":"made"}"#;
        let r = response(reply);
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.headers["content-type"], "text/plain");
        assert_eq!(r.headers["x-n"], "5");
        let cookies: Vec<_> = r.headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(r.body, "made");

        let binary = response(br#"{"statusCode":"200","body":"iVBORw==","isBase64Encoded":true}"#);
        assert_eq!(
            (binary.status, &binary.body[..]),
            (StatusCode::OK, &b"\x89PNG"[..])
        );
    }

    #[test]
    fn other_json_is_a_200_with_that_json() {
        for reply in [
            &br#"{"ok":true}"#[..],
            b"[1,2]",
            b"\"hello\"",
            b"null",
            b"42",
        ] {
            let r = response(reply);
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.headers["content-type"], "application/json");
            assert_eq!(r.body, reply);
        }
    }

    #[test]
    fn malformed_replies_are_502() {
        for reply in [
            &b"not json"[..],
            br#"{"statusCode":"soon"}"#,
            br#"{"statusCode":99}"#,
            br#"{"statusCode":200,"headers":{"bad name":"x"}}"#,
            br#"{"statusCode":200,"headers":[]}"#,
            br#"{"statusCode":200,"body":"%%%","isBase64Encoded":true}"#,
        ] {
            let r = response(reply);
            assert_eq!(
                r.status,
                StatusCode::BAD_GATEWAY,
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
    }

    #[test]
    fn calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(
            clf_time(MAY_9_2026.as_millis() as u64),
            "09/May/2026:07:35:25 +0000"
        );
    }
}
