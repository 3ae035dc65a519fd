//! Lambda functions described as data, for `cirrus asl run`: the behaviours of the
//! conformance suite (`echo`, `constant`, `raise`, `delay`, `oversized_payload`) played in
//! process, reached through a Lambda function ARN as `Resource` or through the
//! `arn:aws:states:::lambda:invoke` integration, with the shapes Lambda and Step Functions
//! give their results and errors.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use cirrus_asl::Failure;
use cirrus_asl::interpreter::Invocation;
use cirrus_asl::states::task::ResourceKind;
use serde_json::{Map, Value, json};

#[derive(Debug, Default)]
pub struct Functions {
    list: Vec<Function>,
}

#[derive(Debug)]
struct Function {
    name: String,
    arn: String,
    behaviour: Behaviour,
}

#[derive(Debug)]
enum Behaviour {
    Echo,
    Constant(Value),
    Raise {
        error_type: String,
        error_message: String,
    },
    Delay {
        seconds: f64,
        then: Box<Behaviour>,
    },
    Oversized {
        bytes: usize,
    },
}

/// What a stand-in answers, and after how long.
pub struct Reply {
    pub delay: Duration,
    pub result: Result<Value, Failure>,
}

/// The largest payload a stand-in may be asked to produce (64 MiB).
const MAX_OVERSIZED: usize = 64 << 20;

impl Functions {
    pub fn parse(v: &Value) -> Result<Functions> {
        let Value::Array(items) = v else {
            bail!("the functions file must hold a JSON array")
        };
        let mut list = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .with_context(|| format!("function [{i}] has no name"))?;
            let arn = item
                .get("arn")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!("arn:aws:lambda:us-east-1:111111111111:function:{name}")
                });
            let behaviour =
                Behaviour::parse(item).with_context(|| format!("function [{i}] ({name})"))?;
            list.push(Function {
                name: name.to_owned(),
                arn,
                behaviour,
            });
        }
        Ok(Functions { list })
    }

    /// Finds a function by name, ARN, partial ARN or qualified ARN.
    fn find(&self, id: &str) -> Option<&Function> {
        let unqualified = |s: &str| -> String {
            // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() == 8 && parts[5] == "function" {
                parts[..7].join(":")
            } else {
                s.to_owned()
            }
        };
        let id = unqualified(id);
        self.list.iter().find(|f| {
            f.name == id
                || f.arn == id
                || id.ends_with(&format!("function:{}", f.name))
                || id == format!("{}:$LATEST", f.arn)
        })
    }

    pub fn invoke(&self, inv: &Invocation, request_id: &str) -> Reply {
        match inv.kind {
            ResourceKind::LambdaFunction => match self.find(&inv.resource) {
                Some(f) => f.behaviour.run(&inv.payload, request_id, false),
                None => not_found(&inv.resource),
            },
            ResourceKind::Service if inv.resource.starts_with("arn:aws:states:::lambda:invoke") => {
                self.invoke_integration(&inv.payload, request_id)
            }
            _ => Reply {
                delay: Duration::ZERO,
                result: Err(Failure::new(
                    "States.TaskFailed",
                    format!(
                        "cirrus asl run can only call Lambda functions described with --functions, not the resource '{}'",
                        inv.resource
                    ),
                )),
            },
        }
    }

    /// `arn:aws:states:::lambda:invoke`: `FunctionName` and `Payload` in, Lambda's Invoke
    /// response out.
    fn invoke_integration(&self, params: &Value, request_id: &str) -> Reply {
        let Some(name) = params.get("FunctionName").and_then(Value::as_str) else {
            return Reply {
                delay: Duration::ZERO,
                result: Err(Failure::new(
                    "States.Runtime",
                    "The Parameters of arn:aws:states:::lambda:invoke must have a FunctionName string",
                )),
            };
        };
        let Some(f) = self.find(name) else {
            return not_found(name);
        };
        let event = match params.get("Payload") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::String(text)) => {
                serde_json::from_str(text).unwrap_or(Value::String(text.clone()))
            }
            Some(other) => other.clone(),
        };
        let reply = f.behaviour.run(&event, request_id, true);
        let result = reply.result.map(|payload| {
            let length = serde_json::to_string(&payload)
                .map(|s| s.len())
                .unwrap_or(0);
            json!({
                "ExecutedVersion": "$LATEST",
                "Payload": payload,
                "SdkHttpMetadata": {
                    "AllHttpHeaders": {
                        "X-Amz-Executed-Version": ["$LATEST"],
                        "x-amzn-Remapped-Content-Length": ["0"],
                        "Connection": ["keep-alive"],
                        "x-amzn-RequestId": [request_id],
                        "Content-Length": [length.to_string()],
                        "Content-Type": ["application/json"]
                    },
                    "HttpHeaders": {
                        "Connection": "keep-alive",
                        "Content-Length": length.to_string(),
                        "Content-Type": "application/json",
                        "X-Amz-Executed-Version": "$LATEST",
                        "x-amzn-Remapped-Content-Length": "0",
                        "x-amzn-RequestId": request_id
                    },
                    "HttpStatusCode": 200
                },
                "SdkResponseMetadata": { "RequestId": request_id },
                "StatusCode": 200
            })
        });
        Reply {
            delay: reply.delay,
            result,
        }
    }
}

impl Behaviour {
    fn parse(item: &Value) -> Result<Behaviour> {
        let kind = item
            .get("behaviour")
            .and_then(Value::as_str)
            .context("no behaviour")?;
        Ok(match kind {
            "echo" => Behaviour::Echo,
            "constant" => Behaviour::Constant(item.get("value").cloned().unwrap_or(Value::Null)),
            "raise" => Behaviour::Raise {
                error_type: item
                    .get("errorType")
                    .and_then(Value::as_str)
                    .unwrap_or("Exception")
                    .to_owned(),
                error_message: item
                    .get("errorMessage")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            },
            "delay" => {
                let seconds = item
                    .get("delaySeconds")
                    .and_then(Value::as_f64)
                    .context("delay needs delaySeconds")?;
                if !(0.0..=86_400.0).contains(&seconds) {
                    bail!("delaySeconds must be between 0 and 86400");
                }
                let then = item
                    .get("then")
                    .map(Behaviour::parse)
                    .transpose()?
                    .unwrap_or(Behaviour::Echo);
                Behaviour::Delay {
                    seconds,
                    then: Box::new(then),
                }
            }
            "oversized_payload" => {
                let bytes = item
                    .get("payloadBytes")
                    .and_then(Value::as_u64)
                    .context("oversized_payload needs payloadBytes")?;
                let bytes = usize::try_from(bytes)
                    .ok()
                    .filter(|b| *b <= MAX_OVERSIZED)
                    .context("payloadBytes is too large")?;
                Behaviour::Oversized { bytes }
            }
            other => bail!("unknown behaviour '{other}'"),
        })
    }

    fn run(&self, event: &Value, request_id: &str, integration: bool) -> Reply {
        let result = match self {
            Behaviour::Echo => Ok(event.clone()),
            Behaviour::Constant(v) => Ok(v.clone()),
            Behaviour::Raise {
                error_type,
                error_message,
            } => {
                let body = json!({
                    "errorMessage": error_message,
                    "errorType": error_type,
                    "requestId": request_id,
                    "stackTrace": ["  File \"/var/task/handler.py\", line 2, in handler\n    raise Exception(\"Some exception was raised.\")\n"]
                });
                // Lambda's Python runtime writes its error with spaces; the integration
                // passes it on compacted.
                let cause = if integration {
                    body.to_string()
                } else {
                    python_style(&body)
                };
                Err(Failure::new(error_type.clone(), cause))
            }
            Behaviour::Delay { seconds, then } => {
                let inner = then.run(event, request_id, integration);
                return Reply {
                    delay: Duration::from_secs_f64(*seconds) + inner.delay,
                    result: inner.result,
                };
            }
            Behaviour::Oversized { bytes } => Ok(Value::String("a".repeat(*bytes))),
        };
        Reply {
            delay: Duration::ZERO,
            result,
        }
    }
}

fn not_found(name: &str) -> Reply {
    Reply {
        delay: Duration::ZERO,
        result: Err(Failure::new(
            "Lambda.ResourceNotFoundException",
            format!("Function not found: {name} (Service: Lambda, Status Code: 404)"),
        )),
    }
}

/// JSON as Python's `json.dumps` writes it: `{"a": 1, "b": [1, 2]}`.
fn python_style(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_style)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_style(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_style_spaces_like_json_dumps() {
        assert_eq!(
            python_style(&json!({"a": [1, "x"], "b": null})),
            r#"{"a": [1, "x"], "b": null}"#
        );
    }

    #[test]
    fn functions_are_found_by_name_arn_and_qualified_arn() {
        let f = Functions::parse(&json!([{"name": "f", "arn": "arn:aws:lambda:us-east-1:111111111111:function:f", "behaviour": "echo"}]))
            .unwrap();
        assert!(f.find("f").is_some());
        assert!(
            f.find("arn:aws:lambda:us-east-1:111111111111:function:f")
                .is_some()
        );
        assert!(
            f.find("arn:aws:lambda:us-east-1:111111111111:function:f:$LATEST")
                .is_some()
        );
        assert!(f.find("g").is_none());
    }

    #[test]
    fn bad_descriptions_are_refused() {
        assert!(Functions::parse(&json!({})).is_err());
        assert!(Functions::parse(&json!([{"name": "f", "behaviour": "explode"}])).is_err());
        assert!(Functions::parse(&json!([{"name": "f", "behaviour": "oversized_payload", "payloadBytes": 1u64 << 40}])).is_err());
    }
}
