//! Where Step Functions' Java runtime shows through the intrinsic functions.
//!
//! Step Functions reads JSON into Java values (Jackson): integers become `Integer` or
//! `Long`, other numbers `Double`, objects ordered maps, arrays lists. Hence:
//! - [`write_double`]: numbers print as `Double.toString` prints them (`2.0`, `1.0E21`,
//!   `1.0E-4`), in `States.Format` and `States.JsonToString` alike;
//! - [`write_text`]: `toString()`, what `States.Format` writes for an argument (strings
//!   bare, `[a, b]`, `{k=v}`) and what `States.ArrayContains` and `States.Hash` compare and
//!   hash;
//! - [`write_json`]: Jackson's compact JSON (`States.JsonToString`, inputs in causes), which
//!   escapes control characters with upper-case hex;
//! - [`hash_code`] and [`equals`]: `hashCode()` and `equals()`, which decide the order
//!   `States.ArrayUnique` returns its values in (a `java.util.HashSet`'s).

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Writes `f` as Java's `Double.toString` does: the shortest digits that read back as
/// `f`, in plain notation from 10^-3 up to 10^7 and as `d.dddE±n` outside.
pub(super) fn write_double(f: f64, out: &mut String) {
    if f == 0.0 {
        out.push_str(if f.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    if !f.is_finite() {
        out.push_str(if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e7", "5e-324".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if f < 0.0 {
        out.push('-');
    }
    let abs = f.abs();
    if (1e-3..1e7).contains(&abs) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        // Java shows at least two digits here, the second the closest one: 4.9E-324.
        let (digits, exp) = if digits.len() == 1 {
            let two = format!("{:.1e}", abs);
            let (m, e) = two.split_once('e').unwrap_or((two.as_str(), "0"));
            (
                m.chars().filter(char::is_ascii_digit).collect::<String>(),
                e.parse().unwrap_or(exp),
            )
        } else {
            (digits, exp)
        };
        let (head, tail) = digits.split_at(1.min(digits.len()));
        out.push_str(head);
        out.push('.');
        out.push_str(if tail.is_empty() || tail == "0" {
            "0"
        } else {
            tail.trim_end_matches('0')
        });
        out.push('E');
        let _ = write!(out, "{exp}");
    }
}

fn write_number(n: &Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        write_double(f, out);
    }
}

/// Writes `v` as Java's `toString()` of the value Step Functions holds for it.
pub(super) fn write_text(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_text(x, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                write_text(x, out);
            }
            out.push('}');
        }
    }
}

/// A `toString()` text to find values by (`States.ArrayContains`), with the integer it
/// spells, if it spells one as Java would print it, to compare integers without text.
pub(super) struct TextKey {
    text: String,
    int: Option<i128>,
}

impl TextKey {
    pub(super) fn new(v: &Value) -> TextKey {
        let mut text = String::new();
        write_text(v, &mut text);
        let digits = text.strip_prefix('-').unwrap_or(&text);
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'))
            && text != "-0";
        let int = if canonical { text.parse().ok() } else { None };
        TextKey { text, int }
    }

    /// Whether `toString()` of `v` is this text; `buf` is scratch space for values that
    /// must be written out to tell (arrays, objects, doubles).
    pub(super) fn matches(&self, v: &Value, buf: &mut String) -> bool {
        match v {
            Value::String(s) => *s == self.text,
            Value::Null => self.text == "null",
            Value::Bool(b) => self.text == if *b { "true" } else { "false" },
            Value::Number(n) if n.is_i64() => self.int == n.as_i64().map(i128::from),
            Value::Number(n) if n.is_u64() => self.int == n.as_u64().map(i128::from),
            _ => {
                buf.clear();
                write_text(v, buf);
                *buf == self.text
            }
        }
    }
}

/// Writes `v` as Jackson's compact JSON.
pub(super) fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, x)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(x, out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04X}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A number as the Java class Jackson reads it into.
#[derive(PartialEq)]
enum JavaNumber {
    /// `Integer` or `Long` (the same value is never both).
    Long(i64),
    /// `BigInteger` past `Long`'s range.
    Big(u64),
    /// `Double`, compared by its bits as `Double.equals` does.
    Double(u64),
}

fn java_number(n: &Number) -> JavaNumber {
    if let Some(i) = n.as_i64() {
        JavaNumber::Long(i)
    } else if let Some(u) = n.as_u64() {
        JavaNumber::Big(u)
    } else {
        JavaNumber::Double(n.as_f64().unwrap_or(0.0).to_bits())
    }
}

/// Java's `hashCode()` of the value Step Functions holds for `v`.
pub(super) fn hash_code(v: &Value) -> i32 {
    match v {
        Value::Null => 0,
        Value::Bool(true) => 1231,
        Value::Bool(false) => 1237,
        Value::Number(n) => match java_number(n) {
            JavaNumber::Long(i) => match i32::try_from(i) {
                Ok(small) => small,
                Err(_) => (i ^ ((i as u64) >> 32) as i64) as i32,
            },
            // BigInteger's hash over its 32-bit magnitude words, most significant first.
            JavaNumber::Big(u) => {
                let h = (u >> 32) as u32 as i32;
                h.wrapping_mul(31).wrapping_add(u as u32 as i32)
            }
            JavaNumber::Double(bits) => (bits ^ (bits >> 32)) as i32,
        },
        Value::String(s) => s
            .encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u))),
        Value::Array(items) => items
            .iter()
            .fold(1i32, |h, x| h.wrapping_mul(31).wrapping_add(hash_code(x))),
        Value::Object(map) => map.iter().fold(0i32, |h, (k, x)| {
            let key = k
                .encode_utf16()
                .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)));
            h.wrapping_add(key ^ hash_code(x))
        }),
    }
}

/// Java's `equals()` of the values Step Functions holds for `a` and `b`: numbers of
/// different classes differ (`1` and `1.0`), objects compare without regard to order.
pub(super) fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => java_number(x) == java_number(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equals(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn double(f: f64) -> String {
        let mut s = String::new();
        write_double(f, &mut s);
        s
    }

    #[test]
    fn doubles_print_as_java_prints_them() {
        for (f, text) in [
            (1.0, "1.0"),
            (-2.0, "-2.0"),
            (1.1, "1.1"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.000_123, "1.23E-4"),
            (1234567.0, "1234567.0"),
            (9999999.999, "9999999.999"),
            (1e7, "1.0E7"),
            (12345678.9, "1.23456789E7"),
            (1e21, "1.0E21"),
            (-1.5e-7, "-1.5E-7"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157E308"),
            (5e-324, "4.9E-324"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(double(f), text, "{f}");
        }
    }

    #[test]
    fn json_is_written_as_jackson_writes_it() {
        let mut s = String::new();
        write_json(
            &json!({"a": [1, 2.0, 1e21, null, true], "s": "q\"\\\n\u{1}é/"}),
            &mut s,
        );
        assert_eq!(s, r#"{"a":[1,2.0,1.0E21,null,true],"s":"q\"\\\n\u0001é/"}"#);
    }

    #[test]
    fn hash_codes_are_javas() {
        assert_eq!(hash_code(&json!("hello")), 99_162_322);
        assert_eq!(hash_code(&json!("")), 0);
        assert_eq!(hash_code(&json!(true)), 1231);
        assert_eq!(hash_code(&json!(-7)), -7);
        // Long.hashCode(1L << 40) and Double.hashCode(1.5).
        assert_eq!(hash_code(&json!(1u64 << 40)), 256);
        assert_eq!(hash_code(&json!(1.5)), 1_073_217_536);
        // List.hashCode([1, 2]) = 31 * (31 * 1 + 1) + 2.
        assert_eq!(hash_code(&json!([1, 2])), 994);
        // Map.hashCode: the sum over entries of key ^ value.
        assert_eq!(hash_code(&json!({"a": 1, "b": 2})), (97 ^ 1) + (98 ^ 2));
    }

    #[test]
    fn text_keys_compare_to_string() {
        let mut buf = String::new();
        for (v, text, expected) in [
            (json!(12), "12", true),
            (json!(12), "012", false),
            (json!(12), "+12", false),
            (json!(-12), "-12", true),
            (json!(0), "-0", false),
            (json!(0), "0", true),
            (json!(u64::MAX), "18446744073709551615", true),
            (json!(1.5), "1.5", true),
            (json!(2.0), "2", false),
            (json!(2.0), "2.0", true),
            (json!(null), "null", true),
            (json!(true), "true", true),
            (json!("x"), "x", true),
            (json!([1, "a"]), "[1, a]", true),
            (json!({"k": 1}), "{k=1}", true),
        ] {
            let key = TextKey::new(&json!(text));
            assert_eq!(key.matches(&v, &mut buf), expected, "{v} vs {text}");
        }
    }

    #[test]
    fn equality_is_javas() {
        assert!(equals(
            &json!({"a": 1, "b": [2]}),
            &json!({"b": [2], "a": 1})
        ));
        assert!(!equals(&json!(1), &json!(1.0)));
        assert!(equals(&json!(1.5), &json!(1.5)));
        assert!(!equals(&json!([1]), &json!([1, 1])));
        assert!(!equals(&json!("1"), &json!(1)));
    }
}
