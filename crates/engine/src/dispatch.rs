//! The dispatcher: how Task states reach what they call. The engine performs activities,
//! callbacks and nested executions itself; everything else goes through [`Dispatcher`],
//! which the node implements over its function runtimes and HTTP client.

use async_trait::async_trait;
use cirrus_asl::Failure;
use cirrus_asl::states::task::Pattern;
use serde_json::Value;

/// One call of a Task state's target.
#[derive(Debug, Clone)]
pub struct TaskCall {
    pub execution_arn: String,
    pub state: String,
    pub resource: String,
    pub pattern: Pattern,
    /// The effective parameters.
    pub payload: Value,
    pub timeout_seconds: Option<u64>,
    /// For `.waitForTaskToken`: the token the callee sends back with `SendTaskSuccess`.
    pub task_token: Option<String>,
    /// Retries of the state before this attempt.
    pub attempt: u32,
    /// The same for every delivery of this attempt: `EXECUTION_ARN/STATE/TASK_ID`. Calls are
    /// at-least-once (a restart before the result is recorded calls again); callees
    /// deduplicate with this key.
    pub idempotency_key: String,
}

/// Performs Task calls. Each method is called after the step that scheduled the task is
/// committed, on a task of its own, and may take as long as the call takes: the engine
/// enforces the state's `TimeoutSeconds` by dropping the future. A method returns the
/// task's result, or its failure as Step Functions names it (`Lambda.ServiceException`,
/// `States.Http.StatusCode.500`, the function's own error type).
#[async_trait]
pub trait Dispatcher: Send + Sync {
    /// A function: a Lambda ARN, `arn:aws:states:::lambda:invoke`, or a Cirrus function
    /// name.
    async fn invoke_function(&self, call: &TaskCall) -> Result<Value, Failure> {
        Err(Failure::new(
            "Lambda.ResourceNotFoundException",
            format!(
                "This node runs no functions, so '{}' cannot be invoked.",
                function_name(call)
            ),
        ))
    }

    /// `arn:aws:states:::http:invoke`.
    async fn call_http(&self, call: &TaskCall) -> Result<Value, Failure> {
        let _ = call;
        Err(Failure::new(
            "States.Runtime",
            "This node does not make HTTP calls.",
        ))
    }

    /// Any other service integration (`arn:aws:states:::sqs:sendMessage`, ...).
    async fn call_service(&self, call: &TaskCall) -> Result<Value, Failure> {
        Err(Failure::new(
            "States.Runtime",
            format!(
                "Cirrus does not integrate with the service of '{}'.",
                call.resource
            ),
        ))
    }
}

/// The function a function call names: the Lambda ARN, or `FunctionName` of `lambda:invoke`.
pub fn function_name(call: &TaskCall) -> String {
    if call.resource.starts_with("arn:aws:states:::lambda:invoke") {
        return call
            .payload
            .get("FunctionName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
    }
    call.resource.clone()
}

/// A dispatcher with no targets: every function and HTTP task fails.
pub struct NoTargets;

#[async_trait]
impl Dispatcher for NoTargets {}
