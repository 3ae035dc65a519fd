//! Errors in ASL's terms.
//!
//! Two kinds: a [`Failure`] is what an execution or a state fails with at run time (an error
//! name such as `States.Runtime` and a cause text), and a [`ValidationError`] is what a
//! definition is refused for before it runs (a code, a message and the location in the
//! definition), in the shape of AWS's `ValidateStateMachineDefinition` diagnostics.

use serde::{Deserialize, Serialize};

/// The `States.*` error names that Step Functions raises itself.
pub mod names {
    pub const ALL: &str = "States.ALL";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const RUNTIME: &str = "States.Runtime";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
    pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
}

/// A run-time failure: an error name and an optional cause, as Step Functions reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub error: String,
    pub cause: Option<String>,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    /// `States.Runtime` with the given cause.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {}", self.error, cause),
            None => f.write_str(&self.error),
        }
    }
}

impl std::error::Error for Failure {}

/// Why a definition is refused, and where.
///
/// `code` follows AWS's diagnostics (`SCHEMA_VALIDATION_FAILED`, `INVALID_JSON_DESCRIPTION`,
/// `MISSING_TRANSITION_TARGET`, ...); `location` is a `/`-separated path into the definition
/// (`/States/Check/Choices/0/Next`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message} at {location}")]
pub struct ValidationError {
    pub code: String,
    pub message: String,
    pub location: String,
}

impl ValidationError {
    pub fn new(code: &str, message: impl Into<String>, location: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            location: location.into(),
        }
    }
}
