//! Pass: passes its input to its output, optionally replacing it with a fixed `Result` or a
//! `Parameters` template, placed by `ResultPath`.

use serde_json::Value;

use crate::definition::fields::{Diagnostics, Fields};
use crate::payload::Template;
use crate::states::ResultSpec;

#[derive(Debug)]
pub struct Pass {
    pub parameters: Option<Template>,
    /// `Result`, literal: its `.$` keys are not evaluated.
    pub result: Option<Value>,
    pub result_path: ResultSpec,
}

impl Pass {
    pub fn parse(f: &Fields<'_>, d: &mut Diagnostics) -> Pass {
        Pass {
            parameters: f
                .get("Parameters")
                .and_then(|v| Template::compile_object(v, &f.at("Parameters"), d)),
            result: f.get("Result").cloned(),
            result_path: ResultSpec::parse(f, d),
        }
    }
}
