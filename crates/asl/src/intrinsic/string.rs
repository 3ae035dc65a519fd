//! `States.StringSplit(string, delimiters)`: the pieces of `string` between any of the
//! characters of `delimiters` (a set of characters, not a substring), empty pieces left
//! out, as Java's `StringTokenizer` cuts them. An empty `delimiters` leaves the string
//! whole; an empty string has no pieces.

use serde_json::Value;

use super::{Call, Cx, Func, args2};
use crate::error::Failure;

pub(super) fn split<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (text, delimiters) = args2(call, cx)?;
    let (Value::String(text), Value::String(delimiters)) = (text.as_ref(), delimiters.as_ref())
    else {
        return Err(cx.invalid(Func::StringSplit));
    };
    let pieces: Vec<Value> = text
        .split(|c| delimiters.contains(c))
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_owned()))
        .collect();
    cx.charge(text.len() + 4 * pieces.len())?;
    Ok(Value::Array(pieces))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{invalid, ok};

    #[test]
    fn split_on_any_delimiter_character() {
        let s = |t: &str, d: &str| ok("States.StringSplit($.t, $.d)", json!({"t": t, "d": d}));
        // Recorded on AWS.
        assert_eq!(s(" ", ","), json!([" "]));
        assert_eq!(s(" , ", ","), json!([" ", " "]));
        assert_eq!(s(", , ,", ","), json!([" ", " "]));
        assert_eq!(s(",,,,", ","), json!([]));
        assert_eq!(s("1,2,3,4,5", ","), json!(["1", "2", "3", "4", "5"]));
        assert_eq!(
            s("This.is+a,test=string", ".+,="),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            s("split on T and \nnew line", "T\n"),
            json!(["split on ", " and ", "new line"])
        );
        assert_eq!(
            s("Value1,Value2\n,,,\n   \n", ","),
            json!(["Value1", "Value2\n", "\n   \n"])
        );
        assert_eq!(s("", ","), json!([]));
        assert_eq!(s("abc", ""), json!(["abc"]));
        assert_eq!(s("a😀b", "😀"), json!(["a", "b"]));
        assert_eq!(
            ok("States.StringSplit('Hello\nWorld', '\n')", json!({})),
            json!(["Hello", "World"])
        );
        for (t, d) in [
            (json!(123), json!(",")),
            (json!("a,b"), json!(1)),
            (json!(null), json!(",")),
            (json!("a"), json!([","])),
        ] {
            invalid(
                "States.StringSplit($.t, $.d)",
                json!({"t": t, "d": d}),
                "States.StringSplit",
            );
        }
    }
}
