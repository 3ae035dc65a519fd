//! How a payload becomes the HTTP request a component handles, and how the component's
//! response becomes the reply: requests pass through as they are; an event is a `POST /` in
//! CloudEvents 1.0 binary mode, and its response is the event's result or, from status 400
//! on, the function's error.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::types::{FunctionError, HttpRequest, HttpResponse, Reply};

/// A function's own name for its error, preferred over the body's `errorType`.
pub const ERROR_TYPE_HEADER: &str = "cirrus-error-type";

/// How much of a non-JSON error body becomes the error message.
const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// The authority a request carries when the caller's `Host` is missing or unusable.
const DEFAULT_AUTHORITY: &str = "localhost";

/// A function's request as `wasi:http` takes it: an absolute URI (`http://host/path?query`).
pub(crate) fn http_request(request: &HttpRequest) -> http::Request<Bytes> {
    let authority = request
        .headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(|host| host.parse::<http::uri::Authority>().ok());
    let path_and_query = request
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    let uri = http::Uri::builder()
        .scheme(http::uri::Scheme::HTTP)
        .authority(
            authority.unwrap_or_else(|| http::uri::Authority::from_static(DEFAULT_AUTHORITY)),
        )
        .path_and_query(path_and_query)
        .build()
        .unwrap_or_else(|_| http::Uri::from_static("http://localhost/"));
    let mut built = http::Request::new(request.body.clone());
    *built.method_mut() = request.method.clone();
    *built.uri_mut() = uri;
    *built.headers_mut() = request.headers.clone();
    built
}

/// An event as a CloudEvents 1.0 binary-mode `POST /`.
pub(crate) fn event_request(
    request_id: &str,
    body: &Bytes,
    event_type: &str,
    source: &str,
    now: SystemTime,
) -> http::Request<Bytes> {
    let mut headers = HeaderMap::with_capacity(6);
    headers.insert("ce-specversion", HeaderValue::from_static("1.0"));
    let attributes = [
        ("ce-id", request_id),
        ("ce-source", source),
        ("ce-type", event_type),
    ];
    for (name, value) in attributes {
        headers.insert(name, header_value(value));
    }
    headers.insert("ce-time", header_value(&rfc3339_millis(now)));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut built = http::Request::new(body.clone());
    *built.method_mut() = Method::POST;
    *built.uri_mut() = http::Uri::from_static("http://localhost/");
    *built.headers_mut() = headers;
    built
}

/// A header value from text the platform does not control: characters a header cannot
/// carry are percent-encoded (as CloudEvents' HTTP binding asks for non-ASCII).
fn header_value(text: &str) -> HeaderValue {
    if let Ok(value) = HeaderValue::from_str(text) {
        return value;
    }
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The reply to an event: a 2xx body is the result; a 400 or above is the function's error.
/// Other statuses (redirects, informational) are errors too, since an event has no one to
/// follow them.
pub(crate) fn event_reply(response: HttpResponse) -> Result<Reply, FunctionError> {
    if response.status.is_success() {
        return Ok(Reply::Event(response.body));
    }
    Err(event_error(
        response.status,
        &response.headers,
        response.body,
    ))
}

/// The function's error from an error response: its type from the `cirrus-error-type`
/// header, else the JSON body's `errorType`, else `Function.Http<status>`; its message from
/// `errorMessage`, else the body text (up to 1 KiB).
pub(crate) fn event_error(status: StatusCode, headers: &HeaderMap, body: Bytes) -> FunctionError {
    let document = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .filter(|value| {
            value.get("errorType").is_some_and(|t| t.is_string())
                || value.get("errorMessage").is_some_and(|m| m.is_string())
        });
    let field = |name: &str| {
        document
            .as_ref()
            .and_then(|document| document.get(name))
            .and_then(|value| value.as_str())
            .map(str::to_owned)
    };
    let error_type = headers
        .get(ERROR_TYPE_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .or_else(|| field("errorType"))
        .unwrap_or_else(|| format!("Function.Http{}", status.as_u16()));
    let message = field("errorMessage").unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body);
        truncate(&text, MAX_ERROR_MESSAGE_BYTES).to_owned()
    });
    match document {
        Some(_) => FunctionError {
            error_type,
            message,
            body,
        },
        None => FunctionError::platform(&error_type, message),
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `2024-05-01T12:00:00.123Z`: the CloudEvents `time` attribute.
pub(crate) fn rfc3339_millis(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, secs_of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (counting in 400-year eras of
/// 146,097 days, with years starting in March so that the leap day falls last).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn response(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> HttpResponse {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn error(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> FunctionError {
        event_reply(response(status, headers, body)).unwrap_err()
    }

    #[test]
    fn a_success_is_the_event_result() {
        let Ok(Reply::Event(body)) = event_reply(response(200, &[], "{\"ok\":true}")) else {
            panic!("not a result");
        };
        assert_eq!(body, "{\"ok\":true}");
        assert!(event_reply(response(204, &[], "")).is_ok());
    }

    #[test]
    fn a_json_error_document_is_kept_as_the_error_body() {
        let body = r#"{"errorType":"OrderRejected","errorMessage":"no stock","stackTrace":[]}"#;
        let error = error(500, &[], body);
        assert_eq!(error.error_type, "OrderRejected");
        assert_eq!(error.message, "no stock");
        assert_eq!(error.body, body);
    }

    #[test]
    fn the_error_type_header_wins_over_the_body() {
        let body = r#"{"errorType":"FromBody","errorMessage":"m"}"#;
        let error = error(422, &[("cirrus-error-type", "FromHeader")], body);
        assert_eq!(error.error_type, "FromHeader");
        assert_eq!(error.message, "m");
        assert_eq!(error.body, body);
    }

    #[test]
    fn a_plain_error_body_becomes_the_message_of_an_http_error() {
        let error = error(503, &[], "upstream down");
        assert_eq!(error.error_type, "Function.Http503");
        assert_eq!(error.message, "upstream down");
        let document: serde_json::Value = serde_json::from_slice(&error.body).unwrap();
        assert_eq!(
            document,
            serde_json::json!({"errorType": "Function.Http503", "errorMessage": "upstream down"})
        );
    }

    #[test]
    fn json_without_error_fields_is_not_an_error_document() {
        let error = error(
            400,
            &[("cirrus-error-type", "BadInput")],
            r#"{"detail":"x"}"#,
        );
        assert_eq!(error.error_type, "BadInput");
        assert_eq!(error.message, r#"{"detail":"x"}"#);
        assert!(String::from_utf8_lossy(&error.body).contains("\"errorType\":\"BadInput\""));
    }

    #[test]
    fn long_error_bodies_are_cut_at_a_character_boundary() {
        let body = "é".repeat(1000); // 2,000 bytes
        let error = error(500, &[], &body);
        assert_eq!(error.message.len(), 1024);
        assert!(error.message.chars().all(|c| c == 'é'));
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }

    #[test]
    fn redirects_are_errors_for_events() {
        assert_eq!(error(302, &[], "").error_type, "Function.Http302");
    }

    #[test]
    fn an_event_is_a_binary_mode_cloudevent() {
        let now = UNIX_EPOCH + Duration::from_millis(1_714_564_800_123);
        let request = event_request(
            "req-1",
            &Bytes::from_static(b"{\"a\":1}"),
            "orders.created",
            "cirrus.test",
            now,
        );
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/");
        let header = |name: &str| request.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("ce-specversion"), "1.0");
        assert_eq!(header("ce-id"), "req-1");
        assert_eq!(header("ce-type"), "orders.created");
        assert_eq!(header("ce-source"), "cirrus.test");
        assert_eq!(header("ce-time"), "2024-05-01T12:00:00.123Z");
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(request.body().as_ref(), b"{\"a\":1}");
    }

    #[test]
    fn attributes_a_header_cannot_carry_are_percent_encoded() {
        assert_eq!(header_value("café\n"), "caf%C3%A9%0A");
        assert_eq!(header_value("100%"), "100%");
        assert_eq!(header_value("a%\u{1}"), "a%25%01");
    }

    #[test]
    fn dates_cross_leap_years_and_centuries() {
        let at = |secs: u64| rfc3339_millis(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59.000Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00.000Z");
        assert_eq!(at(1_709_164_800), "2024-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_request_keeps_its_method_path_headers_and_body() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("api.example.com:8080"));
        headers.insert("x-one", HeaderValue::from_static("1"));
        let request = HttpRequest {
            method: Method::PUT,
            uri: "/orders/42?x=1".parse().unwrap(),
            headers,
            body: Bytes::from_static(b"body"),
            route_key: "PUT /orders/{id}".into(),
            path_parameters: Default::default(),
            source_ip: "127.0.0.1".into(),
        };
        let built = http_request(&request);
        assert_eq!(built.method(), Method::PUT);
        assert_eq!(built.uri(), "http://api.example.com:8080/orders/42?x=1");
        assert_eq!(built.headers()["x-one"], "1");
        assert_eq!(built.body().as_ref(), b"body");

        let mut without_host = request;
        without_host.headers.remove(HOST);
        without_host.uri = "/".parse().unwrap();
        assert_eq!(http_request(&without_host).uri(), "http://localhost/");
    }
}
