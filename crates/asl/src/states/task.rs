//! Task: hands work to something outside the interpreter (a Lambda function, an activity, a
//! service integration, an HTTP endpoint, a nested execution) and waits for its result.

use crate::definition::GraphBuilder;
use crate::definition::fields::{Diagnostics, Fields};
use crate::payload::Template;
use crate::retry::{Catcher, Retrier};
use crate::states::{Amount, ResultSpec};

/// The largest TimeoutSeconds / HeartbeatSeconds AWS accepts.
pub const MAX_TIMEOUT_SECONDS: u64 = 99_999_999;

/// How a service integration's result comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Pattern {
    /// The call's response is the result.
    RequestResponse,
    /// `.sync`: the result comes when the started job finishes.
    Sync,
    /// `.waitForTaskToken`: the result comes with `SendTaskSuccess` for the task token.
    WaitForTaskToken,
}

/// What kind of target a `Resource` ARN names; it decides the history event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResourceKind {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`
    LambdaFunction,
    /// `arn:aws:states:REGION:ACCOUNT:activity:NAME`
    Activity,
    /// `arn:aws:states:::SERVICE:ACTION[.sync|.waitForTaskToken]`
    Service,
}

#[derive(Debug)]
pub struct Task {
    pub resource: String,
    pub kind: ResourceKind,
    pub pattern: Pattern,
    /// `Parameters` (JSONPath) or `Arguments` (JSONata).
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultSpec,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub timeout: Option<Amount>,
    pub heartbeat: Option<Amount>,
    pub credentials: Option<Template>,
}

impl Task {
    pub(crate) fn parse(f: &Fields<'_>, b: &mut GraphBuilder<'_>, jsonata: bool) -> Option<Task> {
        let resource = f.required_str("Resource", b.d)?;
        let (kind, pattern) = classify(resource, &f.at("Resource"), b.d)?;
        let (timeout, heartbeat) = if jsonata {
            (
                Amount::parse_jsonata(f, "TimeoutSeconds", MAX_TIMEOUT_SECONDS, false, b.d),
                Amount::parse_jsonata(f, "HeartbeatSeconds", MAX_TIMEOUT_SECONDS, false, b.d),
            )
        } else {
            (
                Amount::parse(
                    f,
                    "TimeoutSeconds",
                    "TimeoutSecondsPath",
                    MAX_TIMEOUT_SECONDS,
                    false,
                    b.d,
                ),
                Amount::parse(
                    f,
                    "HeartbeatSeconds",
                    "HeartbeatSecondsPath",
                    MAX_TIMEOUT_SECONDS,
                    false,
                    b.d,
                ),
            )
        };
        if let (Some(Amount::Fixed(t)), Some(Amount::Fixed(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            b.d.schema(
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
                f.at("HeartbeatSeconds"),
            );
        }
        let d = &mut *b.d;
        let parameters = if jsonata {
            crate::states::jsonata_value(f, "Arguments", d)
        } else {
            f.get("Parameters")
                .and_then(|v| Template::compile_object(v, &f.at("Parameters"), d))
        };
        let result_selector = f
            .get("ResultSelector")
            .and_then(|v| Template::compile_object(v, &f.at("ResultSelector"), d));
        let credentials = if jsonata {
            crate::states::jsonata_value(f, "Credentials", d)
        } else {
            f.get("Credentials")
                .and_then(|v| Template::compile_object(v, &f.at("Credentials"), d))
        };
        let result_path = ResultSpec::parse(f, d);
        let (retry, catch) = crate::retry::parse_handlers(f, b, jsonata);
        Some(Task {
            resource: resource.to_owned(),
            kind,
            pattern,
            parameters,
            result_selector,
            result_path,
            retry,
            catch,
            timeout,
            heartbeat,
            credentials,
        })
    }
}

/// Sorts a `Resource` ARN into its kind and integration pattern.
fn classify(resource: &str, loc: &str, d: &mut Diagnostics) -> Option<(ResourceKind, Pattern)> {
    let parts: Vec<&str> = resource.splitn(7, ':').collect();
    let valid_arn = parts.len() >= 6 && parts[0] == "arn" && !parts[1].is_empty();
    if !valid_arn {
        d.schema(
            format!("The value for the field 'Resource' must be a valid ARN: '{resource}'"),
            loc,
        );
        return None;
    }
    match (parts[2], parts[5]) {
        ("lambda", "function") => Some((ResourceKind::LambdaFunction, Pattern::RequestResponse)),
        ("states", "activity") => Some((ResourceKind::Activity, Pattern::RequestResponse)),
        ("states", _) if parts[3].is_empty() && parts[4].is_empty() => {
            let action = parts[5..].join(":");
            let pattern = if action.ends_with(".waitForTaskToken") {
                Pattern::WaitForTaskToken
            } else if action.ends_with(".sync") || action.ends_with(".sync:2") {
                Pattern::Sync
            } else {
                Pattern::RequestResponse
            };
            Some((ResourceKind::Service, pattern))
        }
        _ => {
            d.schema(format!("The resource '{resource}' is not a Lambda function, an activity or a service integration"), loc);
            None
        }
    }
}
