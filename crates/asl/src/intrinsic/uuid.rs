//! `States.UUID()`: a version 4 UUID from the execution's generator.

use serde_json::Value;

use super::{Call, Cx, Func};
use crate::error::Failure;

pub(super) fn uuid(call: &Call, cx: &mut Cx<'_, '_>) -> Result<Value, Failure> {
    if !call.args.is_empty() {
        return Err(cx.invalid(Func::Uuid));
    }
    Ok(Value::String(cx.rng.uuid_v4()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{invalid, ok};

    #[test]
    fn uuid_is_version_4() {
        let u = ok("States.UUID()", json!({}));
        let u = u.as_str().unwrap_or_default();
        assert_eq!(u.len(), 36);
        assert_eq!(u.get(14..15), Some("4"));
        assert_ne!(
            ok("States.Array(States.UUID(), States.UUID())", json!({}))[0],
            json!(null)
        );
        invalid("States.UUID(1)", json!({}), "States.UUID");
    }
}
