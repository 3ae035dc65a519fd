//! What a target receives. (Interface; the implementation is being written.)

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("input transformer: {0}")]
pub struct TransformError(pub String);

/// The values of the reserved placeholders `<aws.events.rule-arn>`,
/// `<aws.events.rule-name>` and `<aws.events.event.ingestion-time>`.
#[derive(Debug, Clone, Copy)]
pub struct TransformContext<'a> {
    pub rule_arn: &'a str,
    pub rule_name: &'a str,
    /// RFC 3339.
    pub ingestion_time: &'a str,
}

/// EventBridge's `InputTransformer`: `InputPathsMap` (name → JSON path into the event) and
/// `InputTemplate` with `<name>` placeholders.
#[derive(Debug, Clone)]
pub struct InputTransformer {
    _private: (),
}

impl InputTransformer {
    /// Validates the paths (at most 100, simple JSON paths) and the template.
    pub fn new(
        paths: BTreeMap<String, String>,
        template: &str,
    ) -> Result<InputTransformer, TransformError> {
        let _ = (paths, template);
        todo!()
    }

    /// The template with the placeholders filled from `event` (EventBridge-shaped); the
    /// result is text, often but not always JSON.
    pub fn apply(&self, event: &Value, ctx: &TransformContext<'_>) -> String {
        let _ = (event, ctx);
        todo!()
    }
}

/// Validates an `InputPath` (a simple JSON path such as `$.detail.order`).
pub fn check_path(path: &str) -> Result<(), TransformError> {
    let _ = path;
    todo!()
}

/// The part of `event` an `InputPath` selects (`None` when absent).
pub fn select(event: &Value, path: &str) -> Option<Value> {
    let _ = (event, path);
    todo!()
}
