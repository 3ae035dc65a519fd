//! The context object `$$`: what an expression can learn about the execution, the state it
//! runs in, the task token of a callback task and the current Map item.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::timestamp::Timestamp;

/// What the engine knows about an execution before it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInfo {
    /// The execution ARN.
    pub id: String,
    pub name: String,
    pub role_arn: String,
    pub state_machine_id: String,
    pub state_machine_name: String,
    pub start_time: Timestamp,
    pub redrive_count: u32,
}

impl ExecutionInfo {
    /// An execution in the default account and region, as `cirrus asl run` and tests use.
    pub fn local(state_machine_name: &str, execution_name: &str, start_time: Timestamp) -> Self {
        let account = "111111111111";
        let region = "us-east-1";
        ExecutionInfo {
            id: format!(
                "arn:aws:states:{region}:{account}:execution:{state_machine_name}:{execution_name}"
            ),
            name: execution_name.to_owned(),
            role_arn: format!("arn:aws:iam::{account}:role/cirrus-execution"),
            state_machine_id: format!(
                "arn:aws:states:{region}:{account}:stateMachine:{state_machine_name}"
            ),
            state_machine_name: state_machine_name.to_owned(),
            start_time,
            redrive_count: 0,
        }
    }
}

/// The state-level part of the context object.
pub struct StateContext<'a> {
    pub name: &'a str,
    pub entered_time: Timestamp,
    pub retry_count: u32,
    pub task_token: Option<&'a str>,
    /// `$$.Map.Item`: index and value, while a Map evaluates its ItemSelector.
    pub map_item: Option<(usize, &'a Value)>,
}

/// Builds `$$` for one evaluation.
pub fn build(info: &ExecutionInfo, input: &Value, state: &StateContext<'_>) -> Value {
    let mut execution = Map::new();
    execution.insert("Id".into(), info.id.clone().into());
    execution.insert("Input".into(), input.clone());
    execution.insert("StartTime".into(), info.start_time.to_iso_millis().into());
    execution.insert("Name".into(), info.name.clone().into());
    execution.insert("RoleArn".into(), info.role_arn.clone().into());
    execution.insert("RedriveCount".into(), info.redrive_count.into());

    let mut state_object = Map::new();
    state_object.insert("Name".into(), state.name.into());
    state_object.insert(
        "EnteredTime".into(),
        state.entered_time.to_iso_millis().into(),
    );
    state_object.insert("RetryCount".into(), state.retry_count.into());

    let mut machine = Map::new();
    machine.insert("Id".into(), info.state_machine_id.clone().into());
    machine.insert("Name".into(), info.state_machine_name.clone().into());

    let mut root = Map::new();
    root.insert("Execution".into(), Value::Object(execution));
    root.insert("StateMachine".into(), Value::Object(machine));
    root.insert("State".into(), Value::Object(state_object));
    if let Some(token) = state.task_token {
        let mut task = Map::new();
        task.insert("Token".into(), token.into());
        root.insert("Task".into(), Value::Object(task));
    }
    if let Some((index, value)) = state.map_item {
        let mut item = Map::new();
        item.insert("Index".into(), index.into());
        item.insert("Value".into(), value.clone());
        let mut map = Map::new();
        map.insert("Item".into(), Value::Object(item));
        root.insert("Map".into(), Value::Object(map));
    }
    Value::Object(root)
}
