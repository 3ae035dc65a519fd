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
mod tests;
