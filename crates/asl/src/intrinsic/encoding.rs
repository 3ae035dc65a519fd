//! `States.Base64Encode` and `States.Base64Decode`.
//!
//! Encoding takes a string of at most 10,000 characters and writes standard Base64 of its
//! UTF-8 bytes, padded, on one line. Decoding takes at most 10,000 characters and is as
//! lenient as AWS: characters outside the alphabet (spaces, line breaks, `!`) are skipped,
//! the URL-safe `-` and `_` count as `+` and `/`, the first `=` ends the data, missing
//! padding is fine, and bytes that are not UTF-8 become U+FFFD.

use base64::Engine as _;
use serde_json::Value;

use super::{Call, Cx, Func, args1, longer_than};
use crate::error::Failure;

/// Longest string either function takes, in characters.
const MAX_CHARS: usize = 10_000;

pub(super) fn encode<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    match args1(call, cx)?.as_ref() {
        Value::String(s) if !longer_than(s, MAX_CHARS) => Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(s),
        )),
        _ => Err(cx.invalid(Func::Base64Encode)),
    }
}

pub(super) fn decode<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    match args1(call, cx)?.as_ref() {
        Value::String(s) if !longer_than(s, MAX_CHARS) => Ok(Value::String(
            String::from_utf8_lossy(&decode_lenient(s)).into_owned(),
        )),
        _ => Err(cx.invalid(Func::Base64Decode)),
    }
}

/// Base64 decoding that never fails: see the module documentation.
fn decode_lenient(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    let (mut acc, mut n) = (0u32, 0u8);
    for b in s.bytes() {
        let v = match b {
            b'=' => break,
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            (acc, n) = (0, 0);
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{invalid, ok};

    #[test]
    fn encode_writes_standard_base64() {
        let e = |s: &str| ok("States.Base64Encode($.s)", json!({ "s": s }));
        assert_eq!(e(""), json!(""));
        assert_eq!(e("Data to encode"), json!("RGF0YSB0byBlbmNvZGU="));
        assert_eq!(e("✓"), json!("4pyT"));
        assert_eq!(e("こんにちは"), json!("44GT44KT44Gr44Gh44Gv"));
        assert_eq!(e("🚀"), json!("8J+agA=="));
        assert_eq!(e(">>>???"), json!("Pj4+Pz8/"));
        let long = e(&"a".repeat(10_000));
        assert_eq!(long.as_str().map(str::len), Some(13_336));
        for bad in [
            json!("a".repeat(10_001)),
            json!(123),
            json!({}),
            json!(["x"]),
        ] {
            invalid(
                "States.Base64Encode($.s)",
                json!({ "s": bad }),
                "States.Base64Encode",
            );
        }
    }

    #[test]
    fn decode_is_lenient() {
        let d = |s: &str| ok("States.Base64Decode($.s)", json!({ "s": s }));
        assert_eq!(d(""), json!(""));
        assert_eq!(d("RGF0YSB0byBlbmNvZGU="), json!("Data to encode"));
        assert_eq!(d("4pyT"), json!("✓"));
        assert_eq!(d("44GT44KT44Gr44Gh44Gv"), json!("こんにちは"));
        assert_eq!(d("YWJjAGRlZg=="), json!("abc\u{0}def"));
        // Observed on AWS to decode rather than fail.
        assert_eq!(d(" YWJjZA== "), json!("abcd"));
        assert_eq!(d("YWJj\nZA=="), json!("abcd"));
        assert_eq!(d("YWJjZA"), json!("abcd"));
        assert_eq!(d("ab==cd"), json!("i"));
        assert_eq!(d("Pj4-Pz8_"), json!(">>>???"));
        assert!(d("!!!invalid!!!").is_string());
        // Bytes that are not UTF-8 are replaced.
        assert_eq!(d("/w=="), json!("\u{FFFD}"));
        assert!(d(&"A".repeat(10_000)).is_string());
        assert_eq!(
            ok(
                "States.Base64Decode(States.Base64Encode($.s))",
                json!({"s": "round trip"})
            ),
            json!("round trip")
        );
        for bad in [json!("A".repeat(10_001)), json!(123), json!({})] {
            invalid(
                "States.Base64Decode($.s)",
                json!({ "s": bad }),
                "States.Base64Decode",
            );
        }
    }
}
