//! `States.Format(template, args...)`: each `{}` of the template replaced by the next
//! argument, rendered as Step Functions' Java runtime renders it ([`java::write_text`]):
//! strings bare, `null`, numbers in Java's notation, arrays `[a, b]`, objects `{k=v}`.
//!
//! In the template `\{`, `\}` and `\\` stand for `{`, `}` and `\`; any other `{` or `}`
//! must belong to a `{}`. A template from a path or a nested call is read the same way.
//! A malformed template, or a count of arguments that differs from the count of `{}`,
//! fails the call when it runs, as on AWS.

use std::fmt;

use serde_json::Value;

use super::{Arg, Call, Cx, Func, eval_arg, java};
use crate::error::Failure;

/// A compiled template: its literal text and where in it the arguments go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    text: String,
    /// Byte offsets into `text`, ascending.
    holes: Vec<usize>,
}

/// Why a template is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TemplateError {
    /// A `{` not followed by `}`.
    Open,
    /// A `}` without its `{`.
    Close,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TemplateError::Open => {
                "Invalid template in States.Format: matching '}' not found for '{'."
            }
            TemplateError::Close => {
                "Invalid template in States.Format: matching '{' not found for '}'."
            }
        })
    }
}

impl Template {
    /// Compiles a template from its text with escapes still in it.
    pub(super) fn compile(raw: &str) -> Result<Template, TemplateError> {
        let mut text = String::with_capacity(raw.len());
        let mut holes = Vec::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&e @ ('{' | '}' | '\\' | '\'')) => {
                        chars.next();
                        text.push(e);
                    }
                    _ => text.push('\\'),
                },
                '{' if chars.peek() == Some(&'}') => {
                    chars.next();
                    holes.push(text.len());
                }
                '{' => return Err(TemplateError::Open),
                '}' => return Err(TemplateError::Close),
                c => text.push(c),
            }
        }
        Ok(Template { text, holes })
    }

    fn render(&self, args: &[std::borrow::Cow<'_, Value>], out: &mut String) {
        let mut at = 0;
        for (&hole, arg) in self.holes.iter().zip(args) {
            out.push_str(self.text.get(at..hole).unwrap_or_default());
            java::write_text(arg, out);
            at = hole;
        }
        out.push_str(self.text.get(at..).unwrap_or_default());
    }
}

pub(super) fn format<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let Some((first, rest)) = call.args.split_first() else {
        return Err(cx.invalid(Func::Format));
    };
    let runtime;
    let template = match first {
        Arg::Template(t) => Some(&t.1),
        _ => None,
    };
    let template = match template {
        Some(t) => t,
        None => {
            let v = eval_arg(first, cx)?;
            let Value::String(raw) = v.as_ref() else {
                return Err(cx.invalid(Func::Format));
            };
            runtime = Template::compile(raw);
            &runtime
        }
    };
    let mut args = Vec::with_capacity(rest.len());
    for a in rest {
        args.push(eval_arg(a, cx)?);
    }
    let template = match template {
        Ok(t) => t,
        Err(e) => return Err(cx.fail(e)),
    };
    if template.holes.len() != args.len() {
        return Err(cx.fail(
            "Invalid arguments in States.Format: number of arguments do not match the occurrences of {}.",
        ));
    }
    let mut out = String::with_capacity(template.text.len() + 16 * args.len());
    template.render(&args, &mut out);
    cx.charge(out.len())?;
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{detail, invalid, ok};
    use super::*;

    #[test]
    fn arguments_render_as_aws_renders_them() {
        // Recorded on AWS: strings bare, null, numbers, objects and arrays Java-style.
        let f = |v: Value| ok("States.Format('arg={}.', $.v)", json!({ "v": v }));
        assert_eq!(f(json!("")), json!("arg=."));
        assert_eq!(f(json!(" ")), json!("arg= ."));
        assert_eq!(f(json!(null)), json!("arg=null."));
        assert_eq!(f(json!(1)), json!("arg=1."));
        assert_eq!(f(json!(1.1)), json!("arg=1.1."));
        assert_eq!(f(json!(false)), json!("arg=false."));
        assert_eq!(
            f(json!("{\"Arg1\": 1, \"Arg2\": []}")),
            json!("arg={\"Arg1\": 1, \"Arg2\": []}.")
        );
        assert_eq!(
            f(json!({"Arg1": 1, "Arg2": [], "s": "t", "o": {"n": null}})),
            json!("arg={Arg1=1, Arg2=[], s=t, o={n=null}}.")
        );
        assert_eq!(f(json!([1, "a", [true]])), json!("arg=[1, a, [true]]."));
        // Java's number notation.
        assert_eq!(f(json!(2.0)), json!("arg=2.0."));
        assert_eq!(f(json!(1e21)), json!("arg=1.0E21."));
        assert_eq!(f(json!(12345678.5)), json!("arg=1.23456785E7."));
        assert_eq!(f(json!(0.0001)), json!("arg=1.0E-4."));
        assert_eq!(
            f(json!(9007199254740993i64)),
            json!("arg=9007199254740993.")
        );
    }

    #[test]
    fn templates_and_escapes() {
        assert_eq!(
            ok(
                "States.Format('Formatting arguments fst={} and snd={}.', $.a, $.b)",
                json!({"a": "x", "b": 2})
            ),
            json!("Formatting arguments fst=x and snd=2.")
        );
        assert_eq!(
            ok("States.Format('no holes')", json!({})),
            json!("no holes")
        );
        assert_eq!(
            ok("States.Format('\\{{}\\} \\\\ it\\'s', 'x')", json!({})),
            json!("{x} \\ it's")
        );
        assert_eq!(
            ok("States.Format('  {}  ', $.a)", json!({"a": "x"})),
            json!("  x  ")
        );
        // The template may come from a path or a nested call.
        assert_eq!(
            ok(
                "States.Format($.t, $.n)",
                json!({"t": "Hello {}", "n": "Ada"})
            ),
            json!("Hello Ada")
        );
        assert_eq!(
            ok(
                "States.Format(States.Format('{}', $.t), 1)",
                json!({"t": "n={}"})
            ),
            json!("n=1")
        );
        assert_eq!(
            ok(
                "States.Format('arn:{}:{}', $.svc, States.JsonToString($.obj))",
                json!({"svc": "lambda", "obj": {"k": 1}})
            ),
            json!("arn:lambda:{\"k\":1}")
        );
    }

    #[test]
    fn bad_templates_and_counts_fail_when_run() {
        let count = "Invalid arguments in States.Format: number of arguments do not match the occurrences of {}.";
        assert_eq!(
            detail("States.Format('{} {}', $.a)", json!({"a": 1})),
            count
        );
        assert_eq!(detail("States.Format('{}', 1, 2)", json!({})), count);
        assert_eq!(
            detail("States.Format('Hello {', $.a)", json!({"a": 1})),
            "Invalid template in States.Format: matching '}' not found for '{'."
        );
        assert_eq!(
            detail("States.Format('Hello {{}}', 1)", json!({})),
            "Invalid template in States.Format: matching '}' not found for '{'."
        );
        assert_eq!(
            detail("States.Format('}')", json!({})),
            "Invalid template in States.Format: matching '{' not found for '}'."
        );
        assert_eq!(
            detail("States.Format($.t)", json!({"t": "{"})),
            "Invalid template in States.Format: matching '}' not found for '{'."
        );
        invalid("States.Format($.t, 1)", json!({"t": 123}), "States.Format");
        invalid("States.Format(1)", json!({}), "States.Format");
        // A missing argument path is reported before the count.
        assert!(
            detail("States.Format('{}', $.a, $.nope)", json!({"a": 1}))
                .starts_with("The JsonPath argument for the field '$.nope'")
        );
    }

    #[test]
    fn compile_marks_holes() {
        let t = Template::compile("a{}b\\{{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.text, "ab{");
        assert_eq!(t.holes, vec![1, 3]);
        assert_eq!(Template::compile("{x}"), Err(TemplateError::Open));
        assert_eq!(Template::compile("x}"), Err(TemplateError::Close));
    }
}
