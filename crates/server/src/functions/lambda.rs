//! The AWS Lambda API (REST with JSON bodies, SigV4 with service `lambda`), so that boto3
//! and the aws CLI manage and invoke Cirrus functions. Errors carry Lambda's names in
//! `x-amzn-ErrorType` and `{"Type": "User", "message"}` bodies.
//!
//! Operations: CreateFunction (`ZipFile` holding a zip, or a WebAssembly component),
//! GetFunction, GetFunctionConfiguration, UpdateFunctionCode, UpdateFunctionConfiguration,
//! ListFunctions, DeleteFunction, Invoke (`RequestResponse`, `Event`, `DryRun`; `Tail`
//! logs), PublishVersion, ListVersionsByFunction, the alias operations, Put/Get/Delete
//! FunctionConcurrency, the FunctionEventInvokeConfig operations, and function URLs
//! (`http://NAME.lambda-url.localhost:PORT/` on the routes listener).

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cirrus_runtime::Payload;
use cirrus_store::{FunctionAlias, Page};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use super::config::FunctionConfig;
use super::routes::percent_decode;
use super::{FnError, Functions, alias_json, parse_config};
use crate::{Node, sigv4};

/// An answer: status, JSON body (or raw bytes for Invoke), extra headers.
struct Answer {
    status: StatusCode,
    body: Bytes,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn json(status: StatusCode, v: Value) -> Answer {
        Answer {
            status,
            body: Bytes::from(v.to_string()),
            headers: vec![("content-type", "application/json".into())],
        }
    }
}

/// An error in Lambda's shape.
pub struct LambdaError {
    status: StatusCode,
    name: &'static str,
    message: String,
}

impl LambdaError {
    fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        LambdaError {
            status,
            name,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }
}

impl From<FnError> for LambdaError {
    fn from(e: FnError) -> Self {
        if matches!(e, FnError::Service(_)) {
            tracing::error!(err = %e, "Lambda API request failed inside the node");
        }
        LambdaError::new(e.status(), e.aws_name(), e.to_string())
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        let body = json!({ "Type": "User", "message": self.message }).to_string();
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(self.name) {
            r.headers_mut().insert("x-amzn-errortype", v);
        }
        r
    }
}

type Result<T> = std::result::Result<T, LambdaError>;

/// The answer to a body over the upload limit.
pub fn too_large() -> LambdaError {
    LambdaError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLargeException",
        "The request is larger than Cirrus accepts (70 MB)",
    )
}

/// Answers one Lambda API request.
pub async fn handle(
    node: &Node,
    method: &http::Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let request = sigv4::Request {
        method: method.as_str(),
        path,
        query,
        headers,
        body: &body,
    };
    if let Err(e) = node.verify_signature(&request) {
        return LambdaError::new(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN),
            e.aws_code(),
            e.to_string(),
        )
        .into_response();
    }
    let query = parse_query(query.unwrap_or(""));
    match route(node, method, path, &query, headers, body).await {
        Ok(a) => {
            let mut r = (a.status, a.body).into_response();
            for (k, v) in a.headers {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    r.headers_mut().insert(k, v);
                }
            }
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn route(
    node: &Node,
    method: &http::Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Answer> {
    let f = &*node.functions;
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let m = method.as_str();
    let qualifier = query.get("Qualifier").map(String::as_str);
    match (m, segs.as_slice()) {
        ("POST", ["2015-03-31", "functions"]) => create(f, &fields(&body)?).await,
        ("GET", ["2015-03-31", "functions"]) => list(f, query).await,
        ("GET", ["2015-03-31", "functions", name]) => get(f, name, qualifier).await,
        ("DELETE", ["2015-03-31", "functions", name]) => {
            let (name, q) = split_name(f, name, qualifier)?;
            f.delete(&name, q.as_deref()).await?;
            Ok(Answer::json(StatusCode::NO_CONTENT, Value::Null).empty())
        }
        ("GET", ["2015-03-31", "functions", name, "configuration"]) => {
            let (name, q) = split_name(f, name, qualifier)?;
            Ok(Answer::json(
                StatusCode::OK,
                configuration(f, &name, q.as_deref()).await?,
            ))
        }
        ("PUT", ["2015-03-31", "functions", name, "configuration"]) => {
            update_configuration(f, name, &fields(&body)?).await
        }
        ("PUT", ["2015-03-31", "functions", name, "code"]) => {
            update_code(f, name, &fields(&body)?).await
        }
        ("POST", ["2015-03-31", "functions", name, "invocations"]) => {
            invoke(f, name, qualifier, headers, body).await
        }
        ("POST", ["2015-03-31", "functions", name, "versions"]) => {
            let b = fields(&body)?;
            let (name, _) = split_name(f, name, None)?;
            let v = f
                .publish(
                    &name,
                    opt_str(&b, "Description")?.unwrap_or(""),
                    opt_str(&b, "RevisionId")?,
                )
                .await?;
            let cfg = parse_config(&v.config)?;
            let arn = format!("{}:{}", f.function_arn(&name), v.number);
            Ok(Answer::json(
                StatusCode::CREATED,
                cfg.lambda(&arn, &name, &v.number.to_string(), &v.revision_id),
            ))
        }
        ("GET", ["2015-03-31", "functions", name, "versions"]) => versions(f, name).await,
        ("POST", ["2015-03-31", "functions", name, "aliases"]) => {
            put_alias(f, name, None, &fields(&body)?).await
        }
        ("GET", ["2015-03-31", "functions", name, "aliases"]) => {
            let (name, _) = split_name(f, name, None)?;
            f.function(&name).await?;
            let aliases: Vec<Value> = f
                .store()
                .function_aliases(&name)
                .await
                .map_err(FnError::from)?
                .iter()
                .map(|a| alias_json(f, a))
                .collect();
            Ok(Answer::json(StatusCode::OK, json!({ "Aliases": aliases })))
        }
        ("GET", ["2015-03-31", "functions", name, "aliases", alias]) => {
            let a = find_alias(f, name, alias).await?;
            Ok(Answer::json(StatusCode::OK, alias_json(f, &a)))
        }
        ("PUT", ["2015-03-31", "functions", name, "aliases", alias]) => {
            put_alias(f, name, Some(alias), &fields(&body)?).await
        }
        ("DELETE", ["2015-03-31", "functions", name, "aliases", alias]) => {
            let (name, _) = split_name(f, name, None)?;
            f.delete_alias(&name, alias).await?;
            Ok(Answer::json(StatusCode::NO_CONTENT, Value::Null).empty())
        }
        ("PUT", ["2017-10-31", "functions", name, "concurrency"]) => {
            let b = fields(&body)?;
            let n = b
                .get("ReservedConcurrentExecutions")
                .and_then(Value::as_u64)
                .filter(|n| *n <= 100_000)
                .ok_or_else(|| {
                    LambdaError::invalid(
                        "ReservedConcurrentExecutions must be a whole number from 0 to 100000",
                    )
                })?;
            let (name, _) = split_name(f, name, None)?;
            f.set_concurrency(&name, Some(n as u32)).await?;
            Ok(Answer::json(
                StatusCode::OK,
                json!({ "ReservedConcurrentExecutions": n }),
            ))
        }
        ("DELETE", ["2017-10-31", "functions", name, "concurrency"]) => {
            let (name, _) = split_name(f, name, None)?;
            f.set_concurrency(&name, None).await?;
            Ok(Answer::json(StatusCode::NO_CONTENT, Value::Null).empty())
        }
        ("GET", ["2019-09-30", "functions", name, "concurrency"]) => {
            let (name, _) = split_name(f, name, None)?;
            let cfg = parse_config(&f.function(&name).await?.config)?;
            Ok(Answer::json(
                StatusCode::OK,
                match cfg.reserved_concurrency {
                    Some(n) => json!({ "ReservedConcurrentExecutions": n }),
                    None => json!({}),
                },
            ))
        }
        ("PUT" | "POST", ["2019-09-25", "functions", name, "event-invoke-config"]) => {
            event_invoke_config(f, name, m == "PUT", &fields(&body)?).await
        }
        ("GET", ["2019-09-25", "functions", name, "event-invoke-config"]) => {
            let (name, _) = split_name(f, name, None)?;
            let cfg = parse_config(&f.function(&name).await?.config)?;
            Ok(Answer::json(
                StatusCode::OK,
                event_invoke_json(f, &name, &cfg),
            ))
        }
        ("DELETE", ["2019-09-25", "functions", name, "event-invoke-config"]) => {
            let (name, _) = split_name(f, name, None)?;
            let mut cfg = parse_config(&f.function(&name).await?.config)?;
            cfg.event_invoke = Default::default();
            f.update_config(&name, cfg, None).await?;
            Ok(Answer::json(StatusCode::NO_CONTENT, Value::Null).empty())
        }
        ("POST" | "PUT", ["2021-10-31", "functions", name, "url"]) => {
            let b = fields(&body)?;
            let (name, _) = split_name(f, name, qualifier)?;
            let url = f
                .put_url(&name, opt_str(&b, "AuthType")?, m == "POST")
                .await?;
            let status = if m == "POST" {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(Answer::json(status, url_json(f, &name, &url)))
        }
        ("GET", ["2021-10-31", "functions", name, "url"]) => {
            let (name, _) = split_name(f, name, qualifier)?;
            let cfg = parse_config(&f.function(&name).await?.config)?;
            let url = cfg
                .url
                .ok_or_else(|| FnError::NotFound(format!("The function {name} has no URL")))?;
            Ok(Answer::json(StatusCode::OK, url_json(f, &name, &url)))
        }
        ("GET", ["2021-10-31", "functions", name, "urls"]) => {
            let (name, _) = split_name(f, name, None)?;
            let cfg = parse_config(&f.function(&name).await?.config)?;
            let urls: Vec<Value> = cfg.url.iter().map(|u| url_json(f, &name, u)).collect();
            Ok(Answer::json(
                StatusCode::OK,
                json!({ "FunctionUrlConfigs": urls }),
            ))
        }
        ("DELETE", ["2021-10-31", "functions", name, "url"]) => {
            let (name, _) = split_name(f, name, qualifier)?;
            if !f.delete_url(&name).await? {
                return Err(FnError::NotFound(format!("The function {name} has no URL")).into());
            }
            Ok(Answer::json(StatusCode::NO_CONTENT, Value::Null).empty())
        }
        _ => Err(LambdaError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("Cirrus implements no Lambda operation at {m} {path}"),
        )),
    }
}

impl Answer {
    fn empty(mut self) -> Answer {
        self.body = Bytes::new();
        self.headers.clear();
        self
    }
}

fn fields(body: &[u8]) -> Result<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(LambdaError::invalid(
            "The request body must be a JSON object",
        )),
        Err(e) => Err(LambdaError::invalid(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

fn opt_str<'a>(b: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(LambdaError::invalid(format!("{field} must be a string"))),
    }
}

fn opt_u32(b: &Map<String, Value>, field: &str) -> Result<Option<u32>> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| LambdaError::invalid(format!("{field} must be a whole number"))),
    }
}

fn opt_bool(b: &Map<String, Value>, field: &str) -> Result<bool> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(v)) => Ok(*v),
        Some(_) => Err(LambdaError::invalid(format!(
            "{field} must be true or false"
        ))),
    }
}

/// A path's function name, which may be an ARN with a qualifier.
fn split_name(
    f: &Functions,
    given: &str,
    qualifier: Option<&str>,
) -> Result<(String, Option<String>)> {
    let (name, q) = f.parse_name(given)?;
    match (q, qualifier) {
        (Some(a), Some(b)) if a != b => Err(LambdaError::invalid(format!(
            "The qualifier in the ARN ({a}) and the Qualifier parameter ({b}) differ"
        ))),
        (Some(a), _) => Ok((name, Some(a))),
        (None, b) => Ok((name, b.map(str::to_owned))),
    }
}

/// Reads the configuration fields of CreateFunction and UpdateFunctionConfiguration onto
/// `config`; absent fields keep their value.
fn apply_fields(config: &mut FunctionConfig, b: &Map<String, Value>) -> Result<()> {
    if let Some(r) = opt_str(b, "Runtime")? {
        config.runtime = r.to_owned();
    }
    if let Some(h) = opt_str(b, "Handler")? {
        config.handler = h.to_owned();
    }
    if let Some(d) = opt_str(b, "Description")? {
        config.description = d.to_owned();
    }
    if let Some(r) = opt_str(b, "Role")? {
        config.role = r.to_owned();
    }
    if let Some(m) = opt_u32(b, "MemorySize")? {
        config.memory_mb = m;
    }
    if let Some(t) = opt_u32(b, "Timeout")? {
        config.timeout_seconds = t;
    }
    match b.get("Environment") {
        None | Some(Value::Null) => {}
        Some(Value::Object(env)) => {
            let mut vars = BTreeMap::new();
            if let Some(v) = env.get("Variables") {
                let Value::Object(v) = v else {
                    return Err(LambdaError::invalid(
                        "Environment.Variables must be an object of strings",
                    ));
                };
                for (k, v) in v {
                    let Value::String(s) = v else {
                        return Err(LambdaError::invalid(format!(
                            "Environment.Variables.{k} must be a string"
                        )));
                    };
                    vars.insert(k.clone(), s.clone());
                }
            }
            config.environment = vars;
        }
        Some(_) => return Err(LambdaError::invalid("Environment must be an object")),
    }
    match b.get("DeadLetterConfig") {
        None | Some(Value::Null) => {}
        Some(v) => {
            config.dead_letter_target = v
                .get("TargetArn")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
        }
    }
    if let Some(p) = opt_str(b, "PackageType")?
        && p != "Zip"
    {
        return Err(LambdaError::invalid(format!(
            "PackageType {p} is not supported; Cirrus takes Zip packages and WebAssembly components"
        )));
    }
    // Cirrus's own settings, which the aws CLI cannot send but boto3 and our CLI can.
    if let Some(Value::Object(c)) = b.get("Cirrus") {
        if let Some(Value::Array(hosts)) = c.get("AllowedHosts") {
            config.allowed_hosts = hosts
                .iter()
                .map(|h| {
                    h.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| LambdaError::invalid("Cirrus.AllowedHosts must be strings"))
                })
                .collect::<Result<_>>()?;
        }
        if let Some(Value::Array(names)) = c.get("Secrets") {
            config.secrets = names
                .iter()
                .map(|h| {
                    h.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| LambdaError::invalid("Cirrus.Secrets must be names"))
                })
                .collect::<Result<_>>()?;
        }
        for (field, slot) in [
            ("MinInstances", &mut config.min_instances),
            ("MaxInstances", &mut config.max_instances),
            ("PerInstanceConcurrency", &mut config.per_instance),
            ("IdleTimeoutSeconds", &mut config.idle_timeout_seconds),
        ] {
            if let Some(n) = opt_u32(c, field)? {
                *slot = n;
            }
        }
        if let Some(Value::Bool(q)) = c.get("QueueWhenThrottled") {
            config.queue_when_throttled = *q;
        }
    }
    Ok(())
}

fn zip_file(b: &Map<String, Value>, field_prefix: &str) -> Result<Vec<u8>> {
    let code = match b.get(field_prefix) {
        Some(Value::Object(c)) => c,
        None if field_prefix.is_empty() => b,
        _ => {
            return Err(LambdaError::invalid(format!(
                "{field_prefix}.ZipFile is required"
            )));
        }
    };
    if code.contains_key("S3Bucket") || code.contains_key("ImageUri") {
        return Err(LambdaError::invalid(
            "Cirrus takes code as ZipFile (a zip or a WebAssembly component); S3 and image code are not supported",
        ));
    }
    let Some(Value::String(zip)) = code.get("ZipFile") else {
        return Err(LambdaError::invalid("Code.ZipFile is required"));
    };
    B64.decode(zip.as_bytes())
        .map_err(|e| LambdaError::invalid(format!("ZipFile is not base64: {e}")))
}

async fn create(f: &Functions, b: &Map<String, Value>) -> Result<Answer> {
    let name = opt_str(b, "FunctionName")?
        .ok_or_else(|| LambdaError::invalid("FunctionName is required"))?;
    let (name, q) = f.parse_name(name)?;
    if q.is_some() {
        return Err(LambdaError::invalid(
            "FunctionName must not have a qualifier",
        ));
    }
    let mut config = FunctionConfig::default();
    apply_fields(&mut config, b)?;
    let code = zip_file(b, "Code")?;
    let publish = opt_bool(b, "Publish")?;
    let (func, version) = f.create(&name, config, &code, publish).await?;
    let cfg = parse_config(&func.config)?;
    let v = match version {
        Some(v) => cfg.lambda(
            &format!("{}:{}", f.function_arn(&name), v.number),
            &name,
            &v.number.to_string(),
            &func.revision_id,
        ),
        None => cfg.lambda(&f.function_arn(&name), &name, "$LATEST", &func.revision_id),
    };
    Ok(Answer::json(StatusCode::CREATED, v))
}

async fn configuration(f: &Functions, name: &str, qualifier: Option<&str>) -> Result<Value> {
    match qualifier {
        None | Some("$LATEST") => {
            let func = f.function(name).await?;
            let cfg = parse_config(&func.config)?;
            Ok(cfg.lambda(&f.function_arn(name), name, "$LATEST", &func.revision_id))
        }
        Some(q) => {
            let version = match q.parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    let a = find_alias(f, name, q).await?;
                    a.version.parse().unwrap_or(0)
                }
            };
            let v = f
                .store()
                .function_version(name, version)
                .await
                .map_err(FnError::from)?
                .ok_or_else(|| FnError::NotFound(format!("{}:{q}", f.function_arn(name))))?;
            let cfg = parse_config(&v.config)?;
            Ok(cfg.lambda(
                &format!("{}:{}", f.function_arn(name), q),
                name,
                &v.number.to_string(),
                &v.revision_id,
            ))
        }
    }
}

async fn get(f: &Functions, name: &str, qualifier: Option<&str>) -> Result<Answer> {
    let (name, q) = split_name(f, name, qualifier)?;
    let config = configuration(f, &name, q.as_deref()).await?;
    let func = f.function(&name).await?;
    let cfg = parse_config(&func.config)?;
    let mut v = json!({
        "Configuration": config,
        "Code": { "RepositoryType": "Cirrus", "Location": format!("/v1/functions/{name}/code") },
    });
    if let Some(n) = cfg.reserved_concurrency {
        v["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(Answer::json(StatusCode::OK, v))
}

async fn list(f: &Functions, query: &HashMap<String, String>) -> Result<Answer> {
    let limit = match query.get("MaxItems") {
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| LambdaError::invalid("MaxItems must be from 1 to 10000"))?,
        None => 50,
    };
    let marker = query.get("Marker").map(String::as_str);
    let page = f
        .store()
        .functions(Page {
            after: marker,
            limit: limit + 1,
        })
        .await
        .map_err(FnError::from)?;
    let more = page.len() > limit;
    let mut out = Vec::new();
    for func in page.iter().take(limit) {
        let cfg = parse_config(&func.config)?;
        out.push(cfg.lambda(
            &f.function_arn(&func.name),
            &func.name,
            "$LATEST",
            &func.revision_id,
        ));
    }
    let mut v = json!({ "Functions": out });
    if more && let Some(last) = page.get(limit - 1) {
        v["NextMarker"] = json!(last.name);
    }
    Ok(Answer::json(StatusCode::OK, v))
}

async fn versions(f: &Functions, name: &str) -> Result<Answer> {
    let (name, _) = split_name(f, name, None)?;
    let func = f.function(&name).await?;
    let cfg = parse_config(&func.config)?;
    let mut out = vec![cfg.lambda(
        &format!("{}:$LATEST", f.function_arn(&name)),
        &name,
        "$LATEST",
        &func.revision_id,
    )];
    for v in f
        .store()
        .function_versions(&name)
        .await
        .map_err(FnError::from)?
    {
        let cfg = parse_config(&v.config)?;
        out.push(cfg.lambda(
            &format!("{}:{}", f.function_arn(&name), v.number),
            &name,
            &v.number.to_string(),
            &v.revision_id,
        ));
    }
    Ok(Answer::json(StatusCode::OK, json!({ "Versions": out })))
}

async fn update_configuration(f: &Functions, name: &str, b: &Map<String, Value>) -> Result<Answer> {
    let (name, _) = split_name(f, name, None)?;
    let func = f.function(&name).await?;
    let mut cfg = parse_config(&func.config)?;
    apply_fields(&mut cfg, b)?;
    let updated = f
        .update_config(&name, cfg, opt_str(b, "RevisionId")?)
        .await?;
    let cfg = parse_config(&updated.config)?;
    Ok(Answer::json(
        StatusCode::OK,
        cfg.lambda(
            &f.function_arn(&name),
            &name,
            "$LATEST",
            &updated.revision_id,
        ),
    ))
}

async fn update_code(f: &Functions, name: &str, b: &Map<String, Value>) -> Result<Answer> {
    let (name, _) = split_name(f, name, None)?;
    let code = zip_file(b, "")?;
    let (updated, version) = f
        .update_code(
            &name,
            &code,
            opt_str(b, "RevisionId")?,
            opt_bool(b, "Publish")?,
        )
        .await?;
    let cfg = parse_config(&updated.config)?;
    let v = match version {
        Some(v) => cfg.lambda(
            &format!("{}:{}", f.function_arn(&name), v.number),
            &name,
            &v.number.to_string(),
            &v.revision_id,
        ),
        None => cfg.lambda(
            &f.function_arn(&name),
            &name,
            "$LATEST",
            &updated.revision_id,
        ),
    };
    Ok(Answer::json(StatusCode::OK, v))
}

async fn find_alias(f: &Functions, name: &str, alias: &str) -> Result<FunctionAlias> {
    let (name, _) = split_name(f, name, None)?;
    Ok(f.store()
        .function_alias(&name, alias)
        .await
        .map_err(FnError::from)?
        .ok_or_else(|| {
            FnError::NotFound(format!(
                "Alias not found: {}:{alias}",
                f.function_arn(&name)
            ))
        })?)
}

async fn put_alias(
    f: &Functions,
    name: &str,
    existing: Option<&str>,
    b: &Map<String, Value>,
) -> Result<Answer> {
    let (name, _) = split_name(f, name, None)?;
    let now = cirrus_engine::now_ms();
    let mut alias = match existing {
        Some(a) => find_alias(f, &name, a).await?,
        None => FunctionAlias {
            function: name.clone(),
            name: opt_str(b, "Name")?
                .ok_or_else(|| LambdaError::invalid("Name is required"))?
                .to_owned(),
            version: String::new(),
            routing: "{}".into(),
            description: String::new(),
            revision_id: String::new(),
            created_ms: now,
            updated_ms: now,
        },
    };
    if let (Some(expected), Some(_)) = (opt_str(b, "RevisionId")?, existing)
        && expected != alias.revision_id
    {
        return Err(FnError::RevisionMismatch(format!(
            "Expected {expected}, the alias is at {}",
            alias.revision_id
        ))
        .into());
    }
    if let Some(v) = opt_str(b, "FunctionVersion")? {
        alias.version = v.to_owned();
    }
    if alias.version.is_empty() {
        return Err(LambdaError::invalid("FunctionVersion is required"));
    }
    if let Some(d) = opt_str(b, "Description")? {
        alias.description = d.to_owned();
    }
    match b.get("RoutingConfig") {
        None | Some(Value::Null) => {}
        Some(r) => {
            let weights = r
                .get("AdditionalVersionWeights")
                .cloned()
                .unwrap_or_else(|| json!({}));
            let ok = weights
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_number));
            if !ok {
                return Err(LambdaError::invalid(
                    "RoutingConfig.AdditionalVersionWeights must map versions to weights",
                ));
            }
            alias.routing = weights.to_string();
        }
    }
    alias.revision_id = cirrus_engine::uuid();
    alias.updated_ms = now;
    let alias = f.put_alias(alias, existing.is_none()).await?;
    let status = if existing.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(Answer::json(status, alias_json(f, &alias)))
}

async fn event_invoke_config(
    f: &Functions,
    name: &str,
    replace: bool,
    b: &Map<String, Value>,
) -> Result<Answer> {
    let (name, _) = split_name(f, name, None)?;
    let func = f.function(&name).await?;
    let mut cfg = parse_config(&func.config)?;
    if replace {
        cfg.event_invoke = Default::default();
    }
    let e = &mut cfg.event_invoke;
    if let Some(n) = opt_u32(b, "MaximumRetryAttempts")? {
        e.maximum_retry_attempts = n;
    }
    if let Some(n) = opt_u32(b, "MaximumEventAgeInSeconds")? {
        e.maximum_event_age_seconds = n;
    }
    if let Some(d) = b.get("DestinationConfig") {
        let target = |key: &str| {
            d.get(key)
                .and_then(|v| v.get("Destination"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        e.on_success = target("OnSuccess");
        e.on_failure = target("OnFailure");
    }
    for t in [&e.on_success, &e.on_failure].into_iter().flatten() {
        f.check_destination(t)?;
    }
    f.update_config(&name, cfg.clone(), None).await?;
    Ok(Answer::json(
        StatusCode::OK,
        event_invoke_json(f, &name, &cfg),
    ))
}

fn url_json(f: &Functions, name: &str, url: &super::config::UrlConfig) -> Value {
    json!({
        "FunctionUrl": f.function_url(name),
        "FunctionArn": f.function_arn(name),
        "AuthType": url.auth_type,
        "CreationTime": url.created,
        "LastModifiedTime": url.modified,
        "InvokeMode": "BUFFERED",
    })
}

fn event_invoke_json(f: &Functions, name: &str, cfg: &FunctionConfig) -> Value {
    let e = &cfg.event_invoke;
    let dest = |t: &Option<String>| match t {
        Some(d) => json!({ "Destination": d }),
        None => json!({}),
    };
    json!({
        "FunctionArn": format!("{}:$LATEST", f.function_arn(name)),
        "MaximumRetryAttempts": e.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": e.maximum_event_age_seconds,
        "LastModified": cirrus_engine::now_ms() as f64 / 1000.0,
        "DestinationConfig": { "OnSuccess": dest(&e.on_success), "OnFailure": dest(&e.on_failure) },
    })
}

async fn invoke(
    f: &Functions,
    name: &str,
    qualifier: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Answer> {
    let (name, q) = split_name(f, name, qualifier)?;
    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let kind = header("x-amz-invocation-type").unwrap_or("RequestResponse");
    let payload = if body.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        body
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
        return Err(LambdaError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json: the payload is not valid JSON",
        ));
    }
    match kind {
        "Event" => {
            let id = f.invoke_async(&name, q.as_deref(), payload).await?;
            Ok(Answer {
                status: StatusCode::ACCEPTED,
                body: Bytes::new(),
                headers: vec![("x-amzn-requestid", id)],
            })
        }
        "DryRun" => {
            f.resolve(&name, q.as_deref()).await?;
            Ok(Answer {
                status: StatusCode::NO_CONTENT,
                body: Bytes::new(),
                headers: vec![],
            })
        }
        "RequestResponse" => {
            let client_context = header("x-amz-client-context").map(str::to_owned);
            let invoked = f
                .invoke(
                    &name,
                    q.as_deref(),
                    Payload::Event {
                        body: payload,
                        event_type: "cirrus.function.invoke".into(),
                        source: "cirrus.lambda-api".into(),
                    },
                    None,
                    client_context,
                )
                .await?;
            let (reply, error) = Functions::reply_body(&invoked.outcome);
            let mut headers = vec![
                ("content-type", "application/json".to_owned()),
                ("x-amz-executed-version", invoked.version.clone()),
                ("x-amzn-requestid", invoked.request_id.clone()),
            ];
            if error.is_some() {
                headers.push(("x-amz-function-error", "Unhandled".into()));
            }
            if header("x-amz-log-type") == Some("Tail") {
                headers.push(("x-amz-log-result", log_tail(&invoked)));
            }
            Ok(Answer {
                status: StatusCode::OK,
                body: reply,
                headers,
            })
        }
        other => Err(LambdaError::invalid(format!(
            "X-Amz-Invocation-Type '{other}' is not RequestResponse, Event or DryRun"
        ))),
    }
}

/// The last 4 KB of an invocation's log, framed as Lambda frames it, in base64.
fn log_tail(invoked: &super::Invoked) -> String {
    let o = &invoked.outcome;
    let ms = o.duration.as_secs_f64() * 1000.0;
    let text = format!(
        "START RequestId: {id} Version: {v}\n{logs}{nl}END RequestId: {id}\nREPORT RequestId: {id}\tDuration: {ms:.2} ms{cold}\n",
        id = invoked.request_id,
        v = invoked.version,
        logs = o.logs,
        nl = if o.logs.is_empty() || o.logs.ends_with('\n') {
            ""
        } else {
            "\n"
        },
        cold = if o.cold_start {
            "\tCold start: yes"
        } else {
            ""
        },
    );
    let bytes = text.as_bytes();
    let mut start = bytes.len().saturating_sub(4096);
    while start < bytes.len() && !text.is_char_boundary(start) {
        start += 1;
    }
    B64.encode(&bytes[start..])
}

/// A query string's parameters, percent-decoded (`+` is a space in values).
pub(crate) fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}
