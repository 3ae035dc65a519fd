//! History events: the record of an execution in Step Functions' own event types, numbered
//! as AWS numbers them (`ExecutionStarted` is #1). The interpreter always counts events, so
//! that causes can say "entered at the event id #N"; it keeps them only when asked to.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::timestamp::Timestamp;

macro_rules! event_types {
    ($($name:ident),* $(,)?) => {
        /// A history event type, spelled as in `GetExecutionHistory`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventType { $($name),* }

        impl EventType {
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$name => stringify!($name)),* }
            }
        }
    };
}

event_types! {
    ExecutionStarted, ExecutionSucceeded, ExecutionFailed, ExecutionTimedOut, ExecutionAborted,
    ExecutionRedriven,
    PassStateEntered, PassStateExited,
    TaskStateEntered, TaskStateExited, TaskStateAborted,
    ChoiceStateEntered, ChoiceStateExited,
    WaitStateEntered, WaitStateExited, WaitStateAborted,
    SucceedStateEntered, SucceedStateExited,
    FailStateEntered,
    ParallelStateEntered, ParallelStateExited, ParallelStateStarted, ParallelStateSucceeded,
    ParallelStateFailed, ParallelStateAborted,
    MapStateEntered, MapStateExited, MapStateStarted, MapStateSucceeded, MapStateFailed, MapStateAborted,
    MapIterationStarted, MapIterationSucceeded, MapIterationFailed, MapIterationAborted,
    TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded, TaskFailed, TaskTimedOut,
    LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionSucceeded, LambdaFunctionFailed,
    LambdaFunctionTimedOut,
    ActivityScheduled, ActivityStarted, ActivitySucceeded, ActivityFailed, ActivityTimedOut,
}

impl EventType {
    /// `{Kind}StateEntered` for a state kind prefix such as `Pass`.
    pub fn entered(prefix: &str) -> EventType {
        match prefix {
            "Pass" => EventType::PassStateEntered,
            "Task" => EventType::TaskStateEntered,
            "Choice" => EventType::ChoiceStateEntered,
            "Wait" => EventType::WaitStateEntered,
            "Succeed" => EventType::SucceedStateEntered,
            "Fail" => EventType::FailStateEntered,
            "Parallel" => EventType::ParallelStateEntered,
            _ => EventType::MapStateEntered,
        }
    }

    /// `{Kind}StateExited`; `None` for Fail, which never exits.
    pub fn exited(prefix: &str) -> Option<EventType> {
        Some(match prefix {
            "Pass" => EventType::PassStateExited,
            "Task" => EventType::TaskStateExited,
            "Choice" => EventType::ChoiceStateExited,
            "Wait" => EventType::WaitStateExited,
            "Succeed" => EventType::SucceedStateExited,
            "Parallel" => EventType::ParallelStateExited,
            "Map" => EventType::MapStateExited,
            _ => return None,
        })
    }
}

/// One event. `details` holds the event's details object as AWS names it (for
/// `PassStateEntered`, `{"name": ..., "input": ...}`), without the wrapper key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: Timestamp,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub details: Value,
}
