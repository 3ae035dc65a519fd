//! What can go wrong in an engine call, with the AWS error name each maps to. The API
//! layers turn these into their wire shapes; nothing else names AWS errors.

use cirrus_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    InvalidArn(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("{0}")]
    InvalidExecutionInput(String),
    #[error("{0}")]
    InvalidOutput(String),
    #[error("{0}")]
    Validation(String),
    #[error("State Machine Does Not Exist: '{0}'")]
    StateMachineDoesNotExist(String),
    #[error("State Machine Already Exists: '{0}'")]
    StateMachineAlreadyExists(String),
    #[error("Execution Does Not Exist: '{0}'")]
    ExecutionDoesNotExist(String),
    #[error("Execution Already Exists: '{0}'")]
    ExecutionAlreadyExists(String),
    #[error("{0}")]
    ExecutionNotRedrivable(String),
    #[error("Activity Does Not Exist: '{0}'")]
    ActivityDoesNotExist(String),
    #[error("{0}")]
    TaskDoesNotExist(String),
    #[error("{0}")]
    TaskTimedOut(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    StateMachineTypeNotSupported(String),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    /// The AWS Step Functions error name (`__type`).
    pub fn aws_name(&self) -> &'static str {
        match self {
            EngineError::InvalidArn(_) => "InvalidArn",
            EngineError::InvalidName(_) => "InvalidName",
            EngineError::InvalidDefinition(_) => "InvalidDefinition",
            EngineError::InvalidExecutionInput(_) => "InvalidExecutionInput",
            EngineError::InvalidOutput(_) => "InvalidOutput",
            EngineError::Validation(_) => "ValidationException",
            EngineError::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            EngineError::StateMachineAlreadyExists(_) => "StateMachineAlreadyExists",
            EngineError::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            EngineError::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            EngineError::ExecutionNotRedrivable(_) => "ExecutionNotRedrivable",
            EngineError::ActivityDoesNotExist(_) => "ActivityDoesNotExist",
            EngineError::TaskDoesNotExist(_) => "TaskDoesNotExist",
            EngineError::TaskTimedOut(_) => "TaskTimedOut",
            EngineError::ResourceNotFound(_) => "ResourceNotFound",
            EngineError::Conflict(_) => "ConflictException",
            EngineError::StateMachineTypeNotSupported(_) => "StateMachineTypeNotSupported",
            EngineError::Store(_) | EngineError::Internal(_) => "InternalFailure",
        }
    }

    /// Whether the caller is at fault (HTTP 400) rather than the node (500).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, EngineError::Store(_) | EngineError::Internal(_))
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
