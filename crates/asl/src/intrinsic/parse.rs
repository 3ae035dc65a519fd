//! The parser of intrinsic calls: `States.Name(arg, ...)`, once per definition.
//!
//! Arguments are string literals in single quotes, numbers (JSON's syntax: `-1`, `2.5`,
//! `1e3`), `true`, `false`, `null`, paths (`$.a[0]`, `$$.Execution.Id`, `$var.x`, read with
//! [`Reference`]) and nested calls. In a string literal Step Functions admits exactly four
//! escapes, `\'`, `\{`, `\}` and `\\`, and refuses the definition for any other (`\n`
//! included); other characters, control characters too, stand for themselves. A literal
//! first argument of `States.Format` is compiled into its template here, where its escapes
//! still tell a literal brace from a placeholder.

use serde_json::Value;

use super::format::Template;
use super::{Arg, Call, Func, IntrinsicSyntaxError};
use crate::path::Reference;

/// Calls nest at most this deep.
const MAX_DEPTH: usize = 32;
/// Longest call text accepted (the whole definition may hold at most 1 MiB).
const MAX_LEN: usize = 1024 * 1024;

pub(super) fn parse(text: &str) -> Result<Call, IntrinsicSyntaxError> {
    let mut p = Parser { s: text, i: 0 };
    if text.len() > MAX_LEN {
        return Err(p.error(format!("the call is longer than {MAX_LEN} bytes")));
    }
    p.ws();
    let call = p.call(0)?;
    p.ws();
    if p.i != text.len() {
        return Err(p.error("unexpected text after the call"));
    }
    Ok(call)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, message: impl Into<String>) -> IntrinsicSyntaxError {
        IntrinsicSyntaxError {
            message: message.into(),
            at: self.i,
        }
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.i..).unwrap_or_default()
    }

    fn ws(&mut self) {
        let rest = self.rest();
        self.i += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn call(&mut self, depth: usize) -> Result<Call, IntrinsicSyntaxError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(format!("intrinsic calls nest more than {MAX_DEPTH} deep")));
        }
        let rest = self.rest();
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let Some(func) = Func::lookup(name) else {
            return Err(self.error(format!("'{name}' is not an intrinsic function")));
        };
        self.i += name_len;
        self.ws();
        if !self.rest().starts_with('(') {
            return Err(self.error(format!("'(' expected after {name}")));
        }
        self.i += 1;
        self.ws();
        let mut args = Vec::new();
        if self.rest().starts_with(')') {
            self.i += 1;
            return Ok(Call { func, args });
        }
        loop {
            self.ws();
            let template = func == Func::Format && args.is_empty();
            args.push(self.arg(depth, template)?);
            self.ws();
            match self.rest().chars().next() {
                Some(',') => self.i += 1,
                Some(')') => {
                    self.i += 1;
                    return Ok(Call { func, args });
                }
                Some(_) => return Err(self.error("',' or ')' expected")),
                None => return Err(self.error("the call is not closed with ')'")),
            }
        }
    }

    fn arg(&mut self, depth: usize, template: bool) -> Result<Arg, IntrinsicSyntaxError> {
        let rest = self.rest();
        match rest.chars().next() {
            Some('\'') => {
                let (raw, value) = self.string()?;
                if template {
                    let compiled = Template::compile(raw);
                    Ok(Arg::Template(Box::new((Value::String(value), compiled))))
                } else {
                    Ok(Arg::Literal(Value::String(value)))
                }
            }
            Some('$') => {
                let len = path_len(rest);
                let text = rest[..len].trim_end();
                let path = Reference::parse(text)
                    .map_err(|e| self.error(format!("'{text}' is not a valid path: {e}")))?;
                self.i += len;
                Ok(Arg::Path(path))
            }
            Some('S') if rest.starts_with("States.") => Ok(Arg::Call(self.call(depth + 1)?)),
            Some(',' | ')') => Err(self.error("an argument is missing")),
            Some(_) => {
                let len = rest
                    .find([',', ')', ' ', '\t', '\n', '\r'])
                    .unwrap_or(rest.len());
                let token = &rest[..len];
                let value = match token {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => match token.parse::<serde_json::Number>() {
                        Ok(n) => Value::Number(n),
                        Err(_) => {
                            return Err(self.error(format!("'{token}' is not a valid argument")));
                        }
                    },
                };
                self.i += len;
                Ok(Arg::Literal(value))
            }
            None => Err(self.error("an argument is missing")),
        }
    }

    /// A single-quoted string: its text between the quotes as written, and its value.
    fn string(&mut self) -> Result<(&'a str, String), IntrinsicSyntaxError> {
        let start = self.i + 1;
        let body = self.s.get(start..).unwrap_or_default();
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '\'' => {
                    self.i = start + k + 1;
                    return Ok((&body[..k], value));
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '{' | '}' | '\\'))) => value.push(e),
                    Some((_, e)) => {
                        self.i = start + k;
                        return Err(self.error(format!(
                            "'\\{e}' is not a valid escape sequence: only \\', \\{{, \\}} and \\\\ are"
                        )));
                    }
                    None => break,
                },
                c => value.push(c),
            }
        }
        Err(self.error("the string is not closed with '"))
    }
}

/// Length of a path argument: up to a `,` or `)` outside brackets, parentheses and quotes.
fn path_len(s: &str) -> usize {
    let (mut depth, mut quote) = (0i32, None);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']') => depth -= 1,
            (None, ')') if depth == 0 => return i,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => return i,
            _ => {}
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Intrinsic;
    use super::super::testing::ok;

    fn refused(text: &str) -> String {
        match Intrinsic::parse(text) {
            Ok(_) => panic!("{text} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn definitions_with_bad_calls_are_refused() {
        // The message the definition validator shows (see tests/validation).
        assert_eq!(
            refused("States.NoSuchThing($.a)"),
            "'States.NoSuchThing' is not an intrinsic function (at character 0 of the intrinsic function)"
        );
        for bad in [
            "States.format('x')",
            "States.Array(States.Nope())",
            "States.Format(",
            "States.Array",
            "States.Array(1,)",
            "States.Array(,1)",
            "States.Array(1 2)",
            "States.Array('unterminated)",
            "States.Array(foo)",
            "States.Array(01)",
            "States.Array(+1)",
            "States.Array(.5)",
            "States.Array(True)",
            "States.Array(1) trailing",
            "States.Array($.a[)",
            "States.Array($.a b)",
            "States.Format('a\\nb')",
            "States.Format('\\u0041')",
        ] {
            refused(bad);
        }
    }

    #[test]
    fn literals_are_read_as_aws_reads_them() {
        assert_eq!(
            ok(
                "States.Array( 'a' ,-1, 2.5, 1e3 , true,false, null,'' )",
                json!({})
            ),
            json!(["a", -1, 2.5, 1000.0, true, false, null, ""])
        );
        // The four escapes; a raw control character stands for itself.
        assert_eq!(
            ok(
                "States.Array('it\\'s', '\\{\\}', 'a\\\\b', 'x\ny')",
                json!({})
            ),
            json!(["it's", "{}", "a\\b", "x\ny"])
        );
        // Commas and parentheses inside strings and paths do not end the argument.
        assert_eq!(
            ok(
                "States.Array('a,b)', $.x[?(@.k == 'a,b')].k, $['p,q'])",
                json!({"x": [{"k": "a,b"}], "p,q": 1})
            ),
            json!(["a,b)", ["a,b"], 1])
        );
        assert_eq!(ok("States.Array()", json!({})), json!([]));
        assert_eq!(ok("States.Array ( )", json!({})), json!([]));
    }

    #[test]
    fn nesting_is_bounded() {
        let ok_depth = format!("{}1{}", "States.Array(".repeat(32), ")".repeat(32));
        assert!(Intrinsic::parse(&ok_depth).is_ok());
        let deep = format!("{}1{}", "States.Array(".repeat(33), ")".repeat(33));
        assert!(refused(&deep).contains("nest more than 32"));
        let very_deep = format!(
            "{}1{}",
            "States.Array(".repeat(100_000),
            ")".repeat(100_000)
        );
        assert!(Intrinsic::parse(&very_deep).is_err());
    }
}
