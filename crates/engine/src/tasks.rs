//! Activities and task tokens: workers poll an activity with `GetActivityTask`, and
//! whoever holds a task token answers with `SendTaskSuccess`, `SendTaskFailure` or
//! `SendTaskHeartbeat`. Each answer is one step of the execution that issued the token.

use std::sync::Arc;

use cirrus_asl::{Failure, Invocation};
use cirrus_store::{Task, Tasks};
use serde_json::Value;
use tokio::sync::Notify;

use crate::run::Input;
use crate::{Engine, EngineError, Result, lock};

/// A task handed to an activity worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityTask {
    pub token: String,
    /// The task's input as JSON text.
    pub input: String,
}

/// The longest task token accepted (AWS: 1024 characters).
const MAX_TOKEN: usize = 1024;

impl Engine {
    fn activity_signal(&self, activity_arn: &str) -> Arc<Notify> {
        lock(&self.inner.activity_signals)
            .entry(activity_arn.to_owned())
            .or_default()
            .clone()
    }

    /// Wakes the pollers of an activity: a task was committed for it.
    pub(crate) fn signal_activity(&self, activity_arn: &str) {
        self.activity_signal(activity_arn).notify_waiters();
    }

    /// `GetActivityTask`: the oldest waiting task of the activity, waiting up to the
    /// configured poll time for one; `None` if none came.
    pub async fn get_activity_task(
        &self,
        activity_arn: &str,
        worker: &str,
    ) -> Result<Option<ActivityTask>> {
        self.poll_activity(activity_arn, worker, self.inner.config.activity_poll)
            .await
    }

    /// Like [`Engine::get_activity_task`], waiting at most `wait` (and at most the
    /// configured poll time).
    pub async fn poll_activity(
        &self,
        activity_arn: &str,
        worker: &str,
        wait: std::time::Duration,
    ) -> Result<Option<ActivityTask>> {
        self.activity(activity_arn).await?;
        let wait = wait.min(self.inner.config.activity_poll);
        let deadline = tokio::time::Instant::now() + wait;
        let signal = self.activity_signal(activity_arn);
        loop {
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            for store in [self.inner.store.clone(), self.inner.express.clone() as _] {
                if let Some(task) = store.claim_activity_task(activity_arn, worker).await? {
                    // Recorded before the worker has the task: `ActivityStarted`.
                    self.step(
                        &task.execution_arn,
                        vec![Input::Started(task.task, worker.to_owned())],
                    )
                    .await?;
                    return Ok(Some(activity_task(&task)?));
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    async fn task_for(&self, token: &str) -> Result<Task> {
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(EngineError::Validation(format!(
                "1 validation error detected: Value at 'taskToken' failed to satisfy constraint: Member must have length between 1 and {MAX_TOKEN}"
            )));
        }
        if let Some(t) = self.inner.store.task_by_token(token).await? {
            return Ok(t);
        }
        if let Some(t) = self.inner.express.task_by_token(token).await? {
            return Ok(t);
        }
        Err(EngineError::TaskTimedOut(
            "Task Timed Out: 'Provided task does not exist anymore'".into(),
        ))
    }

    /// `SendTaskSuccess`.
    pub async fn send_task_success(&self, token: &str, output: &str) -> Result<()> {
        let limit = self.inner.config.max_payload_bytes;
        if output.len() > limit {
            return Err(EngineError::Validation(format!(
                "1 validation error detected: Value at 'output' failed to satisfy constraint: Member must have length less than or equal to {limit}"
            )));
        }
        let value: Value = serde_json::from_str(output)
            .map_err(|e| EngineError::InvalidOutput(format!("Invalid Output: '{e}'")))?;
        let task = self.task_for(token).await?;
        self.step(
            &task.execution_arn,
            vec![Input::Succeeded(task.task, value)],
        )
        .await?;
        Ok(())
    }

    /// `SendTaskFailure`.
    pub async fn send_task_failure(
        &self,
        token: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<()> {
        let task = self.task_for(token).await?;
        let failure = Failure {
            error: error.unwrap_or_default(),
            cause,
        };
        self.step(&task.execution_arn, vec![Input::Failed(task.task, failure)])
            .await?;
        Ok(())
    }

    /// `SendTaskHeartbeat`: the task's heartbeat timeout starts again.
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<()> {
        let task = self.task_for(token).await?;
        self.step(&task.execution_arn, vec![Input::Heartbeat(task.task)])
            .await?;
        Ok(())
    }
}

fn activity_task(task: &Task) -> Result<ActivityTask> {
    let inv: Invocation = serde_json::from_str(&task.invocation)
        .map_err(|e| EngineError::Internal(format!("unreadable task record: {e}")))?;
    Ok(ActivityTask {
        token: task.token.clone().unwrap_or_default(),
        input: inv.payload.to_string(),
    })
}
