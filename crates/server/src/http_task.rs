//! The Step Functions HTTP Task: a `Task` state whose `Resource` is
//! `arn:aws:states:::http:invoke` calls an HTTP(S) endpoint.
//!
//! Behaviour follows "Call HTTPS APIs in Step Functions workflows" in the AWS
//! Step Functions developer guide:
//!
//! * `Parameters` (or JSONata `Arguments`) holds `ApiEndpoint` and `Method`
//!   (both required), and optionally `Authentication` / `InvocationConfig`,
//!   `Headers`, `QueryParameters`, `RequestBody` and `Transform`. An unknown
//!   field or a field of the wrong type fails with `States.Runtime`.
//! * Cirrus has no EventBridge connections: a `ConnectionArn` is validated (it
//!   must be a string) and otherwise ignored, so nothing from a connection is
//!   merged into the request.
//! * The request body is the serialized JSON of `RequestBody`
//!   (`Content-Type: application/json; charset=UTF-8` unless the task sets
//!   one), or, with `Transform.RequestBodyEncoding = URL_ENCODED`, form data
//!   whose arrays are encoded per `Transform.RequestEncodingOptions.ArrayFormat`
//!   (`INDICES`, the default, `REPEAT`, `COMMAS` or `BRACKETS`).
//! * The headers the guide forbids (`Authorization`, `Host`, `x-amz-*`, ...)
//!   fail with `States.Runtime`; `User-Agent` is always
//!   `Amazon|StepFunctions|HttpInvoke|<region>`.
//! * The result is `{"Headers": {name: [values]}, "ResponseBody": <JSON if the
//!   response is JSON, else text>, "StatusCode": n, "StatusText": "..."}`.
//!   A non-2xx status fails with `States.Http.StatusCode.<code>` whose cause is
//!   that same object serialized as a JSON string.
//! * Responses of type `application/octet-stream`, `image/*`, `video/*`,
//!   `audio/*`, or bodies that are not valid UTF-8, fail with `States.Runtime`.
//! * A body larger than the configured limit fails with
//!   `States.DataLimitExceeded`.
//! * A request that cannot connect, breaks off, or takes longer than 60 seconds
//!   (the HTTP Task limit) or than the caller's timeout fails with
//!   `States.Http.Socket`.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value};

/// Error name for invalid parameters and unsupported responses.
pub const ERROR_RUNTIME: &str = "States.Runtime";
/// Error name for connection failures and timeouts.
pub const ERROR_SOCKET: &str = "States.Http.Socket";
/// Error name for a response larger than the configured limit.
pub const ERROR_DATA_LIMIT: &str = "States.DataLimitExceeded";
/// Prefix of the error name for a non-2xx response; the status code follows.
pub const ERROR_STATUS_PREFIX: &str = "States.Http.StatusCode.";

/// Step Functions times HTTP Task requests out after 60 seconds.
pub const HTTP_TASK_TIMEOUT: Duration = Duration::from_secs(60);

const USER_AGENT_PREFIX: &str = "Amazon|StepFunctions|HttpInvoke|";
const DEFAULT_REGION: &str = "local";
const JSON_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const MAX_REDIRECTS: usize = 10;

const KNOWN_FIELDS: [&str; 8] = [
    "ApiEndpoint",
    "Method",
    "Authentication",
    "InvocationConfig",
    "Headers",
    "QueryParameters",
    "RequestBody",
    "Transform",
];

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Headers an HTTP Task definition may not set (exact names, lowercase).
const FORBIDDEN_HEADERS: [&str; 32] = [
    "a-im",
    "accept-charset",
    "accept-datetime",
    "accept-encoding",
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-md5",
    "date",
    "expect",
    "forwarded",
    "from",
    "host",
    "http2-settings",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "max-forwards",
    "origin",
    "pragma",
    "proxy-authorization",
    "referer",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "warning",
];

/// Header name prefixes an HTTP Task definition may not set (lowercase).
const FORBIDDEN_HEADER_PREFIXES: [&str; 3] = ["x-forwarded-", "x-amz-", "x-amzn-"];

/// A task failure as Step Functions reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}{}", cause_suffix(.cause.as_deref()))]
pub struct Failure {
    pub error: String,
    pub cause: Option<String>,
}

fn cause_suffix(cause: Option<&str>) -> String {
    cause.map(|c| format!(": {c}")).unwrap_or_default()
}

impl Failure {
    fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Failure {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    fn runtime(cause: impl Into<String>) -> Self {
        Failure::new(ERROR_RUNTIME, cause)
    }
}

/// Runs HTTP Tasks with a shared connection pool.
#[derive(Debug, Clone)]
pub struct HttpTasks {
    client: reqwest::Client,
    max_response_bytes: usize,
    user_agent: String,
}

impl HttpTasks {
    /// A runner whose response bodies may hold at most `max_response_bytes`.
    pub fn new(max_response_bytes: usize) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .build()
            .unwrap_or_default();
        HttpTasks {
            client,
            max_response_bytes,
            user_agent: format!("{USER_AGENT_PREFIX}{DEFAULT_REGION}"),
        }
    }

    /// Names the region sent in the `User-Agent` header
    /// (`Amazon|StepFunctions|HttpInvoke|<region>`; `local` by default).
    pub fn with_region(mut self, region: &str) -> Self {
        self.user_agent = format!("{USER_AGENT_PREFIX}{region}");
        self
    }

    /// `parameters` is the Task's effective Parameters/Arguments object. `timeout` bounds the whole call.
    pub async fn invoke(
        &self,
        parameters: &Value,
        timeout: Option<Duration>,
    ) -> Result<Value, Failure> {
        let request = PreparedRequest::parse(parameters)?;
        let limit = timeout.map_or(HTTP_TASK_TIMEOUT, |t| t.min(HTTP_TASK_TIMEOUT));
        match tokio::time::timeout(limit, self.execute(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::new(
                ERROR_SOCKET,
                format!(
                    "the HTTP request did not complete within {} ms",
                    limit.as_millis()
                ),
            )),
        }
    }

    async fn execute(&self, request: PreparedRequest) -> Result<Value, Failure> {
        let mut headers = request.headers;
        if let Some(body) = &request.body
            && !headers.contains_key(CONTENT_TYPE)
        {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(body.content_type));
        }
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Failure::runtime("the configured region is not a valid header value"))?;
        headers.insert(USER_AGENT, user_agent);

        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(headers);
        if let Some(body) = request.body {
            builder = builder.body(body.bytes);
        }

        let mut response = builder.send().await.map_err(transport_failure)?;

        let status = response.status();
        let response_headers = response.headers().clone();
        let media_type = media_type(&response_headers);
        if is_unsupported_media_type(&media_type) {
            return Err(Failure::runtime(format!(
                "the HTTP response has the unsupported content type '{media_type}'"
            )));
        }

        let too_large = || {
            Failure::new(
                ERROR_DATA_LIMIT,
                format!(
                    "the HTTP response body exceeds the maximum size of {} bytes",
                    self.max_response_bytes
                ),
            )
        };
        if let Some(length) = response.content_length()
            && usize::try_from(length).map_or(true, |l| l > self.max_response_bytes)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
            if bytes.len().saturating_add(chunk.len()) > self.max_response_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }

        let text = String::from_utf8(bytes).map_err(|_| {
            Failure::runtime("the HTTP response body can't be read as a valid UTF-8 string")
        })?;
        let body = if is_json_media_type(&media_type) {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        } else {
            Value::String(text)
        };

        let result = result_object(&response_headers, body, status);
        if status.is_success() {
            Ok(result)
        } else {
            Err(Failure::new(
                format!("{ERROR_STATUS_PREFIX}{}", status.as_u16()),
                result.to_string(),
            ))
        }
    }
}

/// The task result (and the cause of a status-code failure).
fn result_object(headers: &HeaderMap, body: Value, status: StatusCode) -> Value {
    let mut by_name = Map::new();
    for (name, value) in headers {
        let value = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match by_name
            .entry(name.as_str())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(values) => values.push(value),
            other => *other = Value::Array(vec![value]),
        }
    }
    let mut result = Map::new();
    result.insert("Headers".to_owned(), Value::Object(by_name));
    result.insert("ResponseBody".to_owned(), body);
    result.insert("StatusCode".to_owned(), Value::from(status.as_u16()));
    result.insert(
        "StatusText".to_owned(),
        Value::from(status.canonical_reason().unwrap_or("")),
    );
    Value::Object(result)
}

fn transport_failure(err: reqwest::Error) -> Failure {
    let what = if err.is_timeout() {
        "the HTTP request timed out"
    } else if err.is_connect() {
        "could not connect to the HTTP endpoint"
    } else if err.is_redirect() {
        "the HTTP endpoint redirected too often"
    } else {
        "the HTTP request failed"
    };
    Failure::new(ERROR_SOCKET, format!("{what}: {}", error_chain(&err)))
}

fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            let _ = write!(text, ": {inner_text}");
        }
        source = inner.source();
    }
    text
}

/// The response's media type, lowercase and without parameters.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_unsupported_media_type(media_type: &str) -> bool {
    media_type == "application/octet-stream"
        || ["image/", "video/", "audio/"]
            .iter()
            .any(|prefix| media_type.starts_with(prefix))
}

fn is_json_media_type(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &str, value: &Value) -> Failure {
    Failure::runtime(format!(
        "the field '{field}' must be {expected}, not {}",
        type_name(value)
    ))
}

/// How `RequestBody` is serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyEncoding {
    Json,
    UrlEncoded,
}

/// How arrays are written in URL-encoded data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayFormat {
    /// `a[0]=x&a[1]=y` (the default).
    Indices,
    /// `a=x&a=y`.
    Repeat,
    /// `a=x,y`.
    Commas,
    /// `a[]=x&a[]=y`.
    Brackets,
}

struct PreparedBody {
    bytes: Vec<u8>,
    content_type: &'static str,
}

struct PreparedRequest {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<PreparedBody>,
}

impl PreparedRequest {
    fn parse(parameters: &Value) -> Result<Self, Failure> {
        let fields = parameters.as_object().ok_or_else(|| {
            Failure::runtime(format!(
                "the HTTP Task parameters must be an object, not {}",
                type_name(parameters)
            ))
        })?;
        if let Some(unknown) = fields.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
            return Err(Failure::runtime(format!(
                "the field '{unknown}' is not supported by the HTTP Task; expected ApiEndpoint, \
                 Method, Authentication, InvocationConfig, Headers, QueryParameters, \
                 RequestBody or Transform"
            )));
        }

        parse_connection(fields)?;
        let (encoding, array_format) = parse_transform(fields.get("Transform"))?;
        let method = parse_method(fields.get("Method"))?;
        let mut url = parse_endpoint(fields.get("ApiEndpoint"))?;
        append_query(&mut url, fields.get("QueryParameters"), array_format)?;
        let headers = parse_headers(fields.get("Headers"))?;
        let body = parse_body(fields.get("RequestBody"), encoding, array_format)?;

        Ok(PreparedRequest {
            method,
            url,
            headers,
            body,
        })
    }
}

/// `Authentication` / `InvocationConfig`: `{"ConnectionArn": "<string>"}`, accepted and ignored.
fn parse_connection(fields: &Map<String, Value>) -> Result<(), Failure> {
    let present: Vec<&str> = ["Authentication", "InvocationConfig"]
        .into_iter()
        .filter(|name| fields.contains_key(*name))
        .collect();
    if present.len() > 1 {
        return Err(Failure::runtime(
            "specify either 'Authentication' or 'InvocationConfig', not both",
        ));
    }
    for name in present {
        let Some(value) = fields.get(name) else {
            continue;
        };
        let object = value
            .as_object()
            .ok_or_else(|| wrong_type(name, "an object", value))?;
        if let Some(unknown) = object.keys().find(|k| k.as_str() != "ConnectionArn") {
            return Err(Failure::runtime(format!(
                "the field '{name}.{unknown}' is not supported; expected ConnectionArn"
            )));
        }
        match object.get("ConnectionArn") {
            Some(Value::String(_)) => {}
            Some(other) => {
                return Err(wrong_type(
                    &format!("{name}.ConnectionArn"),
                    "a string",
                    other,
                ));
            }
            None => {
                return Err(Failure::runtime(format!(
                    "the field '{name}.ConnectionArn' is required"
                )));
            }
        }
    }
    Ok(())
}

fn parse_transform(value: Option<&Value>) -> Result<(BodyEncoding, ArrayFormat), Failure> {
    let mut encoding = BodyEncoding::Json;
    let mut array_format = ArrayFormat::Indices;
    let Some(value) = value else {
        return Ok((encoding, array_format));
    };
    let transform = value
        .as_object()
        .ok_or_else(|| wrong_type("Transform", "an object", value))?;
    for (key, value) in transform {
        match key.as_str() {
            "RequestBodyEncoding" => {
                encoding = match value.as_str() {
                    Some("NONE") => BodyEncoding::Json,
                    Some("URL_ENCODED") => BodyEncoding::UrlEncoded,
                    Some(other) => {
                        return Err(Failure::runtime(format!(
                            "the field 'Transform.RequestBodyEncoding' must be NONE or \
                             URL_ENCODED, not '{other}'"
                        )));
                    }
                    None => {
                        return Err(wrong_type(
                            "Transform.RequestBodyEncoding",
                            "a string",
                            value,
                        ));
                    }
                };
            }
            "RequestEncodingOptions" => {
                let options = value.as_object().ok_or_else(|| {
                    wrong_type("Transform.RequestEncodingOptions", "an object", value)
                })?;
                for (key, value) in options {
                    if key != "ArrayFormat" {
                        return Err(Failure::runtime(format!(
                            "the field 'Transform.RequestEncodingOptions.{key}' is not \
                             supported; expected ArrayFormat"
                        )));
                    }
                    array_format = match value.as_str() {
                        Some("INDICES") => ArrayFormat::Indices,
                        Some("REPEAT") => ArrayFormat::Repeat,
                        Some("COMMAS") => ArrayFormat::Commas,
                        Some("BRACKETS") => ArrayFormat::Brackets,
                        Some(other) => {
                            return Err(Failure::runtime(format!(
                                "the field 'Transform.RequestEncodingOptions.ArrayFormat' must \
                                 be INDICES, REPEAT, COMMAS or BRACKETS, not '{other}'"
                            )));
                        }
                        None => {
                            return Err(wrong_type(
                                "Transform.RequestEncodingOptions.ArrayFormat",
                                "a string",
                                value,
                            ));
                        }
                    };
                }
            }
            other => {
                return Err(Failure::runtime(format!(
                    "the field 'Transform.{other}' is not supported; expected \
                     RequestBodyEncoding or RequestEncodingOptions"
                )));
            }
        }
    }
    Ok((encoding, array_format))
}

fn parse_method(value: Option<&Value>) -> Result<Method, Failure> {
    let value = value.ok_or_else(|| Failure::runtime("the field 'Method' is required"))?;
    let name = value
        .as_str()
        .ok_or_else(|| wrong_type("Method", "a string", value))?;
    if !METHODS.contains(&name) {
        return Err(Failure::runtime(format!(
            "the field 'Method' must be one of GET, POST, PUT, DELETE, PATCH, HEAD or OPTIONS, \
             not '{name}'"
        )));
    }
    Method::from_bytes(name.as_bytes())
        .map_err(|_| Failure::runtime(format!("the field 'Method' has an invalid value '{name}'")))
}

fn parse_endpoint(value: Option<&Value>) -> Result<Url, Failure> {
    let value = value.ok_or_else(|| Failure::runtime("the field 'ApiEndpoint' is required"))?;
    let text = value
        .as_str()
        .ok_or_else(|| wrong_type("ApiEndpoint", "a string", value))?;
    let url = Url::parse(text).map_err(|e| {
        Failure::runtime(format!(
            "the field 'ApiEndpoint' is not a valid URL ({e}): '{text}'"
        ))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Failure::runtime(format!(
            "the field 'ApiEndpoint' must be an http or https URL, not a '{}' URL",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Failure::runtime(format!(
            "the field 'ApiEndpoint' has no host: '{text}'"
        )));
    }
    Ok(url)
}

fn parse_headers(value: Option<&Value>) -> Result<HeaderMap, Failure> {
    let mut headers = HeaderMap::new();
    let Some(value) = value else {
        return Ok(headers);
    };
    let fields = value
        .as_object()
        .ok_or_else(|| wrong_type("Headers", "an object", value))?;
    for (name, value) in fields {
        let field = format!("Headers.{name}");
        let text = value
            .as_str()
            .ok_or_else(|| wrong_type(&field, "a string", value))?;
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str())
            || FORBIDDEN_HEADER_PREFIXES
                .iter()
                .any(|prefix| lower.starts_with(prefix))
        {
            return Err(Failure::runtime(format!(
                "the header '{name}' can't be set in an HTTP Task"
            )));
        }
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Failure::runtime(format!("'{name}' is not a valid HTTP header name")))?;
        let header_value = HeaderValue::from_str(text).map_err(|_| {
            Failure::runtime(format!(
                "the field '{field}' is not a valid HTTP header value"
            ))
        })?;
        headers.append(header_name, header_value);
    }
    Ok(headers)
}

/// Appends `QueryParameters` (values: strings, numbers, booleans or arrays of
/// those; arrays written per `ArrayFormat`) to the endpoint's own query.
fn append_query(
    url: &mut Url,
    value: Option<&Value>,
    array_format: ArrayFormat,
) -> Result<(), Failure> {
    let Some(value) = value else {
        return Ok(());
    };
    let fields = value
        .as_object()
        .ok_or_else(|| wrong_type("QueryParameters", "an object", value))?;
    for (name, value) in fields {
        let ok = match value {
            Value::Array(items) => items.iter().all(is_scalar),
            other => is_scalar(other),
        };
        if !ok {
            return Err(wrong_type(
                &format!("QueryParameters.{name}"),
                "a string or an array of strings",
                value,
            ));
        }
    }
    let encoded = url_encode_object(fields, array_format);
    if encoded.is_empty() {
        return Ok(());
    }
    let query = match url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{encoded}"),
        _ => encoded,
    };
    url.set_query(Some(&query));
    Ok(())
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn parse_body(
    value: Option<&Value>,
    encoding: BodyEncoding,
    array_format: ArrayFormat,
) -> Result<Option<PreparedBody>, Failure> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let body = match encoding {
        BodyEncoding::Json => PreparedBody {
            bytes: serde_json::to_vec(value).map_err(|e| {
                Failure::runtime(format!("the field 'RequestBody' can't be serialized: {e}"))
            })?,
            content_type: JSON_CONTENT_TYPE,
        },
        BodyEncoding::UrlEncoded => match value {
            Value::Object(fields) => PreparedBody {
                bytes: url_encode_object(fields, array_format).into_bytes(),
                content_type: FORM_CONTENT_TYPE,
            },
            // Already form data: sent as it is.
            Value::String(text) => PreparedBody {
                bytes: text.clone().into_bytes(),
                content_type: FORM_CONTENT_TYPE,
            },
            other => {
                return Err(wrong_type(
                    "RequestBody",
                    "an object (or a string) when Transform.RequestBodyEncoding is URL_ENCODED",
                    other,
                ));
            }
        },
    };
    Ok(Some(body))
}

/// URL-encodes an object as `application/x-www-form-urlencoded` data. Nested
/// objects become `outer[inner]=v`; arrays follow `array_format`.
fn url_encode_object(fields: &Map<String, Value>, array_format: ArrayFormat) -> String {
    let mut pairs = Vec::new();
    for (key, value) in fields {
        flatten(key.clone(), value, array_format, &mut pairs);
    }
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Pushes `(encoded key, encoded value)` pairs for `value` under the raw key `key`.
fn flatten(key: String, value: &Value, format: ArrayFormat, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (inner, value) in fields {
                flatten(format!("{key}[{inner}]"), value, format, pairs);
            }
        }
        Value::Array(items) => match format {
            ArrayFormat::Commas if items.iter().all(|v| is_scalar(v) || v.is_null()) => {
                if !items.is_empty() {
                    let joined = items
                        .iter()
                        .map(|v| percent_encode(&scalar_text(v)))
                        .collect::<Vec<_>>()
                        .join(",");
                    pairs.push((percent_encode(&key), joined));
                }
            }
            // Nested arrays or objects can't be comma-separated: index them.
            ArrayFormat::Commas | ArrayFormat::Indices => {
                for (index, item) in items.iter().enumerate() {
                    flatten(format!("{key}[{index}]"), item, format, pairs);
                }
            }
            ArrayFormat::Brackets => {
                for item in items {
                    flatten(format!("{key}[]"), item, format, pairs);
                }
            }
            ArrayFormat::Repeat => {
                for item in items {
                    flatten(key.clone(), item, format, pairs);
                }
            }
        },
        scalar => pairs.push((percent_encode(&key), percent_encode(&scalar_text(scalar)))),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (so a space
/// is `%20` and brackets are `%5B`/`%5D`, as in the AWS examples).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tokio::net::{TcpListener, TcpStream};

    /// A request as the test server received it.
    #[derive(Debug, Clone)]
    struct Recorded {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Recorded {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// A canned answer; `None` from the handler means "never answer".
    struct Reply {
        status: u16,
        reason: &'static str,
        headers: Vec<(&'static str, &'static str)>,
        body: Vec<u8>,
        content_length: bool,
    }

    impl Reply {
        fn new(status: u16, reason: &'static str, content_type: &'static str, body: &str) -> Self {
            Reply {
                status,
                reason,
                headers: vec![("Content-Type", content_type)],
                body: body.as_bytes().to_vec(),
                content_length: true,
            }
        }

        fn json(body: &str) -> Self {
            Reply::new(200, "OK", "application/json", body)
        }
    }

    type Handler = Arc<dyn Fn(&Recorded) -> Option<Reply> + Send + Sync>;

    struct TestServer {
        base: String,
        requests: Arc<Mutex<Vec<Recorded>>>,
    }

    impl TestServer {
        fn last(&self) -> Recorded {
            self.requests
                .lock()
                .expect("lock")
                .last()
                .cloned()
                .expect("the server received a request")
        }
    }

    async fn serve(
        handler: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let _ = handle(stream, handler, recorded).await;
                });
            }
        });
        TestServer { base, requests }
    }

    async fn handle(
        stream: TcpStream,
        handler: Handler,
        recorded: Arc<Mutex<Vec<Recorded>>>,
    ) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            let n = read_some(&stream, &mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let target = request_line.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < length {
            let n = read_some(&stream, &mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let request = Recorded {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        recorded.lock().expect("lock").push(request.clone());

        let Some(reply) = handler(&request) else {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return Ok(());
        };
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nConnection: close\r\n",
            reply.status, reply.reason
        );
        for (name, value) in &reply.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if reply.content_length {
            out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&reply.body);
        write_all(&stream, &bytes).await
    }

    async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            stream.readable().await?;
            match stream.try_read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn write_all(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            stream.writable().await?;
            match stream.try_write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn tasks() -> HttpTasks {
        HttpTasks::new(256 * 1024)
    }

    fn cause_json(failure: &Failure) -> Value {
        serde_json::from_str(failure.cause.as_deref().expect("a cause")).expect("cause is JSON")
    }

    #[tokio::test]
    async fn get_with_query_parameters() {
        let server = serve(|_| {
            let mut reply = Reply::json(r#"{"customers":[{"id":"c1"}]}"#);
            reply.headers.push(("X-Multi", "one"));
            reply.headers.push(("X-Multi", "two"));
            Some(reply)
        })
        .await;
        let params = json!({
            "ApiEndpoint": format!("{}/v1/customers/search?limit=10", server.base),
            "Method": "GET",
            "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/x/y"},
            "QueryParameters": {"currency": "usd", "q": "a b&c=d", "page": 2, "tags": ["x", "y"]}
        });
        let result = tasks().invoke(&params, None).await.expect("success");

        let request = server.last();
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.target,
            "/v1/customers/search?limit=10&currency=usd&q=a%20b%26c%3Dd&page=2\
             &tags%5B0%5D=x&tags%5B1%5D=y"
        );
        assert_eq!(request.body, "");
        assert_eq!(request.header("content-type"), None);
        assert_eq!(
            request.header("user-agent"),
            Some("Amazon|StepFunctions|HttpInvoke|local")
        );

        assert_eq!(result["StatusCode"], json!(200));
        assert_eq!(result["StatusText"], json!("OK"));
        assert_eq!(result["ResponseBody"], json!({"customers": [{"id": "c1"}]}));
        assert_eq!(
            result["Headers"]["content-type"],
            json!(["application/json"])
        );
        assert_eq!(result["Headers"]["x-multi"], json!(["one", "two"]));
        let keys: Vec<&str> = result
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["Headers", "ResponseBody", "StatusCode", "StatusText"]
        );
    }

    #[tokio::test]
    async fn query_arrays_follow_array_format() {
        let server = serve(|_| Some(Reply::json("{}"))).await;
        let params = json!({
            "ApiEndpoint": format!("{}/items", server.base),
            "Method": "GET",
            "QueryParameters": {"id": ["1", "2"]},
            "Transform": {"RequestEncodingOptions": {"ArrayFormat": "REPEAT"}}
        });
        tasks().invoke(&params, None).await.expect("success");
        assert_eq!(server.last().target, "/items?id=1&id=2");
    }

    #[tokio::test]
    async fn post_json_body() {
        let server = serve(|_| Some(Reply::new(201, "Created", "text/plain", "created"))).await;
        let params = json!({
            "ApiEndpoint": format!("{}/v1/orders", server.base),
            "Method": "POST",
            "RequestBody": {"Job": "Software Engineer", "Company": "AnyCompany", "n": [1, 2.5, true, null]}
        });
        let result = tasks().invoke(&params, None).await.expect("success");

        let request = server.last();
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/v1/orders");
        assert_eq!(
            request.body,
            r#"{"Job":"Software Engineer","Company":"AnyCompany","n":[1,2.5,true,null]}"#
        );
        assert_eq!(
            request.header("content-type"),
            Some("application/json; charset=UTF-8")
        );
        assert_eq!(result["StatusCode"], json!(201));
        assert_eq!(result["StatusText"], json!("Created"));
        assert_eq!(result["ResponseBody"], json!("created"));
    }

    #[tokio::test]
    async fn json_response_that_does_not_parse_is_text() {
        let server = serve(|_| Some(Reply::json("not json"))).await;
        let params = json!({"ApiEndpoint": server.base, "Method": "GET"});
        let result = tasks().invoke(&params, None).await.expect("success");
        assert_eq!(result["ResponseBody"], json!("not json"));
    }

    #[tokio::test]
    async fn url_encoded_body_with_each_array_format() {
        let server = serve(|_| Some(Reply::json(r#"{"ok":true}"#))).await;
        let body = json!({
            "array": ["a", "b", "c,d"],
            "name": "John Doe",
            "meta": {"k": "v w"}
        });
        let cases = [
            (
                Some("INDICES"),
                "array%5B0%5D=a&array%5B1%5D=b&array%5B2%5D=c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
            ),
            (
                Some("REPEAT"),
                "array=a&array=b&array=c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
            ),
            (
                Some("COMMAS"),
                "array=a,b,c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
            ),
            (
                Some("BRACKETS"),
                "array%5B%5D=a&array%5B%5D=b&array%5B%5D=c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
            ),
            // INDICES is the default.
            (
                None,
                "array%5B0%5D=a&array%5B1%5D=b&array%5B2%5D=c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
            ),
        ];
        for (format, expected) in cases {
            let mut transform = json!({"RequestBodyEncoding": "URL_ENCODED"});
            if let Some(format) = format {
                transform["RequestEncodingOptions"] = json!({"ArrayFormat": format});
            }
            let params = json!({
                "ApiEndpoint": format!("{}/form", server.base),
                "Method": "PATCH",
                "Headers": {"Content-Type": "application/x-www-form-urlencoded"},
                "RequestBody": body,
                "Transform": transform
            });
            tasks().invoke(&params, None).await.expect("success");
            let request = server.last();
            assert_eq!(request.method, "PATCH");
            assert_eq!(request.body, expected, "ArrayFormat {format:?}");
            assert_eq!(
                request.header("content-type"),
                Some("application/x-www-form-urlencoded")
            );
        }
    }

    #[tokio::test]
    async fn url_encoded_body_matches_the_aws_example() {
        let server = serve(|_| Some(Reply::json("{}"))).await;
        // The AWS guide's Stripe invoice example (customer moved first: JSON order is kept).
        let params = json!({
            "ApiEndpoint": format!("{}/v1/invoices", server.base),
            "Method": "POST",
            "RequestBody": {
                "customer": "1234567890",
                "description": "Monthly subscription",
                "metadata": {"order_details": "monthly report data"}
            },
            "Transform": {
                "RequestBodyEncoding": "URL_ENCODED",
                "RequestEncodingOptions": {"ArrayFormat": "INDICES"}
            }
        });
        tasks().invoke(&params, None).await.expect("success");
        let request = server.last();
        assert_eq!(
            request.body,
            "customer=1234567890&description=Monthly%20subscription\
             &metadata%5Border_details%5D=monthly%20report%20data"
        );
        // No Content-Type in the task: the form type is supplied.
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[tokio::test]
    async fn headers_are_passed() {
        let server = serve(|_| Some(Reply::json("{}"))).await;
        let params = json!({
            "ApiEndpoint": server.base,
            "Method": "PUT",
            "Headers": {"Request-Id": "my_request_id", "content-type": "text/plain", "Accept": "*/*"},
            "RequestBody": "raw text"
        });
        tasks()
            .with_region("eu-west-1")
            .invoke(&params, None)
            .await
            .expect("success");
        let request = server.last();
        assert_eq!(request.method, "PUT");
        assert_eq!(request.header("request-id"), Some("my_request_id"));
        assert_eq!(request.header("content-type"), Some("text/plain"));
        assert_eq!(request.header("accept"), Some("*/*"));
        assert_eq!(
            request.header("user-agent"),
            Some("Amazon|StepFunctions|HttpInvoke|eu-west-1")
        );
        // Encoding NONE sends the serialized JSON of RequestBody.
        assert_eq!(request.body, r#""raw text""#);
    }

    #[tokio::test]
    async fn non_2xx_fails_with_status_code_error() {
        let server = serve(|_| {
            Some(Reply::new(
                404,
                "Not Found",
                "application/json",
                r#"{"message":"no such customer"}"#,
            ))
        })
        .await;
        let params =
            json!({"ApiEndpoint": format!("{}/v1/customers/x", server.base), "Method": "DELETE"});
        let failure = tasks().invoke(&params, None).await.expect_err("failure");
        assert_eq!(failure.error, "States.Http.StatusCode.404");
        let cause = cause_json(&failure);
        assert_eq!(cause["StatusCode"], json!(404));
        assert_eq!(cause["StatusText"], json!("Not Found"));
        assert_eq!(
            cause["ResponseBody"],
            json!({"message": "no such customer"})
        );
        assert_eq!(
            cause["Headers"]["content-type"],
            json!(["application/json"])
        );
        assert_eq!(server.last().method, "DELETE");

        let server = serve(|_| {
            Some(Reply::new(
                503,
                "Service Unavailable",
                "text/html",
                "<p>down</p>",
            ))
        })
        .await;
        let params = json!({"ApiEndpoint": server.base, "Method": "GET"});
        let failure = tasks().invoke(&params, None).await.expect_err("failure");
        assert_eq!(failure.error, "States.Http.StatusCode.503");
        assert_eq!(cause_json(&failure)["ResponseBody"], json!("<p>down</p>"));
        assert!(
            failure
                .to_string()
                .starts_with("States.Http.StatusCode.503: {")
        );
    }

    #[tokio::test]
    async fn unreachable_port_is_a_socket_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let params = json!({"ApiEndpoint": format!("http://{addr}/"), "Method": "GET"});
        let failure = tasks().invoke(&params, None).await.expect_err("failure");
        assert_eq!(failure.error, "States.Http.Socket");
        assert!(
            failure
                .cause
                .as_deref()
                .unwrap_or_default()
                .contains("connect"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn timeout_is_a_socket_error() {
        let server = serve(|_| None).await;
        let params = json!({"ApiEndpoint": server.base, "Method": "GET"});
        let failure = tasks()
            .invoke(&params, Some(Duration::from_millis(200)))
            .await
            .expect_err("failure");
        assert_eq!(failure.error, "States.Http.Socket");
        assert!(
            failure
                .cause
                .as_deref()
                .unwrap_or_default()
                .contains("200 ms")
        );
    }

    #[tokio::test]
    async fn oversized_response_exceeds_the_data_limit() {
        let server = serve(|request| {
            let mut reply = Reply::new(200, "OK", "text/plain", &"x".repeat(100));
            // Without Content-Length the limit is enforced while streaming.
            reply.content_length = request.target != "/sized";
            Some(reply)
        })
        .await;
        for path in ["/sized", "/streamed"] {
            let params = json!({"ApiEndpoint": format!("{}{path}", server.base), "Method": "GET"});
            let failure = HttpTasks::new(10)
                .invoke(&params, None)
                .await
                .expect_err("failure");
            assert_eq!(failure.error, "States.DataLimitExceeded", "{path}");
        }
        let params = json!({"ApiEndpoint": format!("{}/sized", server.base), "Method": "GET"});
        let result = HttpTasks::new(100)
            .invoke(&params, None)
            .await
            .expect("fits");
        assert_eq!(result["ResponseBody"], json!("x".repeat(100)));
    }

    #[tokio::test]
    async fn unsupported_responses_are_runtime_errors() {
        let server = serve(|request| {
            Some(if request.target == "/image" {
                Reply::new(200, "OK", "image/png", "png")
            } else {
                let mut reply = Reply::new(200, "OK", "text/plain", "");
                reply.body = vec![0xff, 0xfe, 0x00];
                reply
            })
        })
        .await;
        for path in ["/image", "/binary"] {
            let params = json!({"ApiEndpoint": format!("{}{path}", server.base), "Method": "GET"});
            let failure = tasks().invoke(&params, None).await.expect_err("failure");
            assert_eq!(failure.error, "States.Runtime", "{path}");
        }
    }

    #[tokio::test]
    async fn malformed_parameters_are_runtime_errors() {
        let ok = json!({"ApiEndpoint": "http://127.0.0.1:1/", "Method": "GET"});
        let with = |key: &str, value: Value| {
            let mut params = ok.clone();
            params[key] = value;
            params
        };
        let without = |key: &str| {
            let mut params = ok.clone();
            params.as_object_mut().expect("object").remove(key);
            params
        };
        let cases = [
            (json!("GET http://x"), "must be an object"),
            (json!([]), "must be an object"),
            (without("ApiEndpoint"), "'ApiEndpoint' is required"),
            (
                with("ApiEndpoint", json!(42)),
                "'ApiEndpoint' must be a string",
            ),
            (
                with("ApiEndpoint", json!("not a url")),
                "'ApiEndpoint' is not a valid URL",
            ),
            (
                with("ApiEndpoint", json!("ftp://example.com/f")),
                "http or https",
            ),
            (
                with("ApiEndpoint", json!("file:///etc/passwd")),
                "http or https",
            ),
            (without("Method"), "'Method' is required"),
            (with("Method", json!("FETCH")), "'Method' must be one of"),
            (with("Method", json!("get")), "'Method' must be one of"),
            (with("Method", json!(["GET"])), "'Method' must be a string"),
            (with("Body", json!({})), "'Body' is not supported"),
            (
                with("Authentication", json!("arn")),
                "'Authentication' must be an object",
            ),
            (
                with("Authentication", json!({"ConnectionArn": 7})),
                "'Authentication.ConnectionArn' must be a string",
            ),
            (
                with("Authentication", json!({})),
                "'Authentication.ConnectionArn' is required",
            ),
            (
                with("Authentication", json!({"ConnectionArn": "a", "Extra": 1})),
                "'Authentication.Extra' is not supported",
            ),
            (with("Headers", json!(["a"])), "'Headers' must be an object"),
            (
                with("Headers", json!({"X-Count": 3})),
                "'Headers.X-Count' must be a string",
            ),
            (
                with("Headers", json!({"Authorization": "Basic x"})),
                "'Authorization'",
            ),
            (
                with("Headers", json!({"X-Amz-Date": "now"})),
                "'X-Amz-Date'",
            ),
            (
                with("Headers", json!({"bad header": "v"})),
                "not a valid HTTP header name",
            ),
            (
                with("QueryParameters", json!("a=b")),
                "'QueryParameters' must be an object",
            ),
            (
                with("QueryParameters", json!({"q": {"nested": 1}})),
                "'QueryParameters.q' must be a string",
            ),
            (
                with("QueryParameters", json!({"q": [["x"]]})),
                "'QueryParameters.q' must be a string",
            ),
            (
                with("Transform", json!("URL_ENCODED")),
                "'Transform' must be an object",
            ),
            (
                with("Transform", json!({"RequestBodyEncoding": "GZIP"})),
                "'Transform.RequestBodyEncoding' must be NONE or URL_ENCODED",
            ),
            (
                with(
                    "Transform",
                    json!({"RequestEncodingOptions": {"ArrayFormat": "PIPES"}}),
                ),
                "'Transform.RequestEncodingOptions.ArrayFormat' must be",
            ),
            (
                with("Transform", json!({"Encoding": "NONE"})),
                "'Transform.Encoding' is not supported",
            ),
            (
                with("Transform", json!({"RequestBodyEncoding": "URL_ENCODED"}))
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.insert("RequestBody".into(), json!([1, 2]));
                        Value::Object(o)
                    })
                    .expect("object"),
                "'RequestBody' must be an object",
            ),
        ];
        let tasks = tasks();
        for (params, expected) in cases {
            let failure = tasks.invoke(&params, None).await.expect_err("failure");
            assert_eq!(failure.error, "States.Runtime", "{params}");
            let cause = failure.cause.clone().unwrap_or_default();
            assert!(cause.contains(expected), "{params}: {cause}");
        }

        let mut both = ok.clone();
        both["Authentication"] = json!({"ConnectionArn": "a"});
        both["InvocationConfig"] = json!({"ConnectionArn": "a"});
        let failure = tasks.invoke(&both, None).await.expect_err("failure");
        assert_eq!(failure.error, "States.Runtime");
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b+c/é"), "a%20b%2Bc%2F%C3%A9");
    }

    #[test]
    fn nested_arrays_and_objects_encode() {
        let body =
            json!({"items": [{"id": 1, "tags": ["x"]}, {"id": 2}], "empty": [], "none": null});
        let fields = body.as_object().expect("object");
        assert_eq!(
            url_encode_object(fields, ArrayFormat::Indices),
            "items%5B0%5D%5Bid%5D=1&items%5B0%5D%5Btags%5D%5B0%5D=x&items%5B1%5D%5Bid%5D=2&none="
        );
        assert_eq!(
            url_encode_object(fields, ArrayFormat::Commas),
            "items%5B0%5D%5Bid%5D=1&items%5B0%5D%5Btags%5D=x&items%5B1%5D%5Bid%5D=2&none="
        );
    }
}
