//! A function's configuration as the node keeps it (one JSON document per function and
//! per published version), its validation, and its rendering as Lambda's
//! `FunctionConfiguration`.

use std::collections::BTreeMap;
use std::time::Duration;

use cirrus_runtime::{ProcessRuntime, Scaling};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What runs a function's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Wasm,
    Process(ProcessRuntime),
}

/// The stored configuration. Field names are the node's own; [`FunctionConfig::lambda`]
/// renders AWS's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FunctionConfig {
    /// As the user gave it: `wasm`, `python3`, `python3.12`, `nodejs20.x`, `provided.al2023`.
    pub runtime: String,
    /// `app.handler` for the built-in runtimes.
    pub handler: String,
    pub description: String,
    pub role: String,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    pub environment: BTreeMap<String, String>,
    /// Names of the node's secrets the function sees as environment variables.
    pub secrets: Vec<String>,
    /// Hosts a wasm function may call.
    pub allowed_hosts: Vec<String>,
    pub min_instances: u32,
    pub max_instances: u32,
    /// Requests one instance serves at once (1 for processes).
    pub per_instance: u32,
    pub idle_timeout_seconds: u32,
    /// At most this many requests of the function at once, across versions.
    pub reserved_concurrency: Option<u32>,
    /// Over reserved concurrency: queue for up to the timeout instead of throttling.
    pub queue_when_throttled: bool,
    pub event_invoke: EventInvokeConfig,
    /// Where failed asynchronous events go besides the node's dead-letter list.
    pub dead_letter_target: Option<String>,
    pub code_size: u64,
    pub code_sha256: String,
    pub last_modified: String,
    /// The function's URL, when it has one.
    pub url: Option<UrlConfig>,
}

/// A function URL: `http://NAME.lambda-url.localhost:PORT/` on the routes listener, where
/// every path and method reaches the function (as API Gateway's v2 event, route `$default`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlConfig {
    /// `NONE`: public, like every user route.
    pub auth_type: String,
    pub created: String,
    pub modified: String,
}

/// Asynchronous invocation: retries, maximum age, destinations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventInvokeConfig {
    /// Retries after the first attempt, 0 to 2 (Lambda's range).
    pub maximum_retry_attempts: u32,
    /// An event older than this is not tried again, 60 to 21600.
    pub maximum_event_age_seconds: u32,
    /// A function or state machine ARN (or a function name) told of each success.
    pub on_success: Option<String>,
    /// The same, for events that ran out of retries or age.
    pub on_failure: Option<String>,
}

impl Default for EventInvokeConfig {
    fn default() -> Self {
        EventInvokeConfig {
            maximum_retry_attempts: 2,
            maximum_event_age_seconds: 21_600,
            on_success: None,
            on_failure: None,
        }
    }
}

impl Default for FunctionConfig {
    fn default() -> Self {
        FunctionConfig {
            runtime: String::new(),
            handler: String::new(),
            description: String::new(),
            role: String::new(),
            memory_mb: 128,
            timeout_seconds: 3,
            environment: BTreeMap::new(),
            secrets: Vec::new(),
            allowed_hosts: Vec::new(),
            min_instances: 0,
            max_instances: 0,
            per_instance: 0,
            idle_timeout_seconds: 300,
            reserved_concurrency: None,
            queue_when_throttled: false,
            event_invoke: EventInvokeConfig::default(),
            dead_letter_target: None,
            code_size: 0,
            code_sha256: String::new(),
            last_modified: String::new(),
            url: None,
        }
    }
}

/// A configuration the node cannot accept, with the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        message: message.into(),
    }
}

/// Maps a runtime name (Cirrus's or Lambda's identifiers) onto what runs it.
pub fn kind_of(runtime: &str) -> Result<Kind, ConfigError> {
    let r = runtime.trim();
    if matches!(r, "wasm" | "wasi" | "wasm32-wasip2" | "cirrus.wasm") {
        return Ok(Kind::Wasm);
    }
    if r == "python3" || r.strip_prefix("python3.").is_some_and(is_digits) {
        return Ok(Kind::Process(ProcessRuntime::Python3));
    }
    if r == "nodejs"
        || r.strip_prefix("nodejs")
            .and_then(|v| v.strip_suffix(".x"))
            .is_some_and(is_digits)
    {
        return Ok(Kind::Process(ProcessRuntime::Nodejs));
    }
    if r == "provided" || r.starts_with("provided.") || r == "go1.x" {
        return Ok(Kind::Process(ProcessRuntime::Provided));
    }
    Err(bad(
        "Runtime",
        format!(
            "Cirrus does not run '{runtime}'; use wasm, python3 (python3.x), nodejs (nodejsNN.x), \
             or provided (provided.al2023) with a bootstrap executable"
        ),
    ))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl FunctionConfig {
    /// What runs the function.
    pub fn kind(&self) -> Result<Kind, ConfigError> {
        kind_of(&self.runtime)
    }

    /// Checks the fields against the limits the node enforces, and fills in the scaling
    /// defaults of the function's kind.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let kind = self.kind()?;
        if !(128..=10_240).contains(&self.memory_mb) {
            return Err(bad(
                "MemorySize",
                format!("{} MB is outside 128 to 10240", self.memory_mb),
            ));
        }
        if !(1..=900).contains(&self.timeout_seconds) {
            return Err(bad(
                "Timeout",
                format!("{} s is outside 1 to 900", self.timeout_seconds),
            ));
        }
        match kind {
            Kind::Process(ProcessRuntime::Python3 | ProcessRuntime::Nodejs) => {
                let h = self.handler.trim();
                let valid = h.rsplit_once('.').is_some_and(|(m, f)| {
                    !m.is_empty()
                        && !f.is_empty()
                        && !m.split('/').any(|part| part == ".." || part.is_empty())
                        && f.chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
                });
                if !valid {
                    return Err(bad(
                        "Handler",
                        format!(
                            "'{}' is not MODULE.FUNCTION (for example app.handler)",
                            self.handler
                        ),
                    ));
                }
            }
            Kind::Process(ProcessRuntime::Provided) | Kind::Wasm => {}
        }
        let total: usize = self
            .environment
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if total > 4096 {
            return Err(bad(
                "Environment",
                format!("the variables take {total} bytes; the limit is 4096"),
            ));
        }
        for key in self.environment.keys() {
            let ok = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(bad(
                    "Environment",
                    format!("'{key}' is not a valid variable name ([a-zA-Z][a-zA-Z0-9_]*)"),
                ));
            }
            if RESERVED_ENV.contains(&key.as_str()) {
                return Err(bad(
                    "Environment",
                    format!("'{key}' is reserved by the runtime"),
                ));
            }
        }
        for name in &self.secrets {
            super::secrets::check_name(name).map_err(|e| bad("Secrets", e.to_string()))?;
            if self.environment.contains_key(name) || RESERVED_ENV.contains(&name.as_str()) {
                return Err(bad(
                    "Secrets",
                    format!("'{name}' is also an environment variable"),
                ));
            }
        }
        for host in &self.allowed_hosts {
            let h = host.trim();
            if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) {
                return Err(bad(
                    "AllowedHosts",
                    format!(
                        "'{host}' is not a host (example.com, example.com:8080, *.example.com or *)"
                    ),
                ));
            }
        }
        let is_wasm = kind == Kind::Wasm;
        if self.per_instance == 0 {
            self.per_instance = if is_wasm { 1000 } else { 1 };
        }
        if !is_wasm && self.per_instance != 1 {
            return Err(bad(
                "PerInstanceConcurrency",
                "a process instance serves one request at a time",
            ));
        }
        if self.max_instances == 0 {
            self.max_instances = if is_wasm { 1 } else { 32 };
        }
        if self.min_instances > self.max_instances {
            return Err(bad(
                "MinInstances",
                format!(
                    "{} is more than the maximum of {}",
                    self.min_instances, self.max_instances
                ),
            ));
        }
        if self.idle_timeout_seconds == 0 {
            return Err(bad("IdleTimeout", "must be at least 1 second"));
        }
        let e = &self.event_invoke;
        if e.maximum_retry_attempts > 2 {
            return Err(bad(
                "MaximumRetryAttempts",
                format!("{} is outside 0 to 2", e.maximum_retry_attempts),
            ));
        }
        if !(60..=21_600).contains(&e.maximum_event_age_seconds) {
            return Err(bad(
                "MaximumEventAgeInSeconds",
                format!("{} is outside 60 to 21600", e.maximum_event_age_seconds),
            ));
        }
        Ok(())
    }

    pub fn scaling(&self) -> Scaling {
        Scaling {
            min_instances: self.min_instances,
            max_instances: self.max_instances.max(1),
            per_instance: self.per_instance.max(1),
            idle_timeout: Duration::from_secs(u64::from(self.idle_timeout_seconds)),
        }
    }

    /// Lambda's `FunctionConfiguration` for this configuration.
    pub fn lambda(&self, arn: &str, name: &str, version: &str, revision_id: &str) -> Value {
        let kind = self.kind().ok();
        let mut v = json!({
            "FunctionName": name,
            "FunctionArn": arn,
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout_seconds,
            "MemorySize": self.memory_mb,
            "LastModified": self.last_modified,
            "CodeSha256": self.code_sha256,
            "Version": version,
            "RevisionId": revision_id,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": [if kind == Some(Kind::Wasm) { "wasm32" } else { "x86_64" }],
            "EphemeralStorage": { "Size": 512 },
            "TracingConfig": { "Mode": "PassThrough" },
        });
        if !self.environment.is_empty() {
            v["Environment"] = json!({ "Variables": self.environment });
        }
        if let Some(target) = &self.dead_letter_target {
            v["DeadLetterConfig"] = json!({ "TargetArn": target });
        }
        v["Cirrus"] = json!({
            "AllowedHosts": self.allowed_hosts,
            "Secrets": self.secrets,
            "MinInstances": self.min_instances,
            "MaxInstances": self.max_instances,
            "PerInstanceConcurrency": self.per_instance,
            "IdleTimeoutSeconds": self.idle_timeout_seconds,
        });
        v
    }
}

/// Variables the runtimes set themselves, which a function may not override.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_runtime_identifiers_map_onto_cirrus_runtimes() {
        assert_eq!(
            kind_of("python3.12"),
            Ok(Kind::Process(ProcessRuntime::Python3))
        );
        assert_eq!(
            kind_of("python3"),
            Ok(Kind::Process(ProcessRuntime::Python3))
        );
        assert_eq!(
            kind_of("nodejs20.x"),
            Ok(Kind::Process(ProcessRuntime::Nodejs))
        );
        assert_eq!(
            kind_of("provided.al2023"),
            Ok(Kind::Process(ProcessRuntime::Provided))
        );
        assert_eq!(kind_of("wasm"), Ok(Kind::Wasm));
        for bad in ["java21", "python2.7", "python3.", "nodejs.x", "", "ruby3.3"] {
            let e = kind_of(bad).unwrap_err();
            assert_eq!(e.field, "Runtime", "{bad}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = FunctionConfig {
            runtime: "python3.12".into(),
            handler: "app".into(),
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "Handler");
        c.handler = "../x.handler".into();
        assert_eq!(c.validate().unwrap_err().field, "Handler");
        c.handler = "src/app.handler".into();
        c.memory_mb = 64;
        assert_eq!(c.validate().unwrap_err().field, "MemorySize");
        c.memory_mb = 256;
        c.environment
            .insert("AWS_LAMBDA_RUNTIME_API".into(), "x".into());
        assert_eq!(c.validate().unwrap_err().field, "Environment");
        c.environment.clear();
        c.environment.insert("1X".into(), "x".into());
        assert_eq!(c.validate().unwrap_err().field, "Environment");
        c.environment.clear();
        c.validate().unwrap();
        assert_eq!((c.per_instance, c.max_instances), (1, 32));
        let mut w = FunctionConfig {
            runtime: "wasm".into(),
            ..Default::default()
        };
        w.validate().unwrap();
        assert_eq!((w.per_instance, w.max_instances), (1000, 1));
    }
}
