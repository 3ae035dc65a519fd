//! `States.Hash(data, algorithm)`: the lower-case hex digest of `data`'s UTF-8 bytes.
//!
//! The algorithm is one of `MD5`, `SHA-1`, `SHA-256`, `SHA-384` and `SHA-512`, spelled
//! exactly so. Data other than a string is hashed as its `toString()` text, as AWS does
//! (`123` hashes as `"123"`); it may be at most 10,000 characters long.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Call, Cx, Func, args2, java, longer_than};
use crate::error::Failure;

/// Longest data `States.Hash` takes, in characters.
const MAX_CHARS: usize = 10_000;

pub(super) fn eval<'x>(call: &'x Call, cx: &mut Cx<'x, '_>) -> Result<Value, Failure> {
    let (data, algorithm) = args2(call, cx)?;
    let text;
    let data = match data.as_ref() {
        Value::String(s) => s.as_str(),
        other => {
            let mut s = String::new();
            java::write_text(other, &mut s);
            text = s;
            text.as_str()
        }
    };
    let digest = match algorithm.as_ref() {
        Value::String(a) if !longer_than(data, MAX_CHARS) => hash(a, data.as_bytes()),
        _ => None,
    };
    digest
        .map(Value::String)
        .ok_or_else(|| cx.invalid(Func::Hash))
}

/// The lower-case hex digest of `data` with `algorithm`, or `None` for an unknown one.
/// (JSONata's `$hash` shares it.)
pub(crate) fn hash(algorithm: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest;
    fn hex(bytes: &[u8]) -> String {
        bytes
            .iter()
            .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }
    Some(match algorithm {
        "MD5" => hex(&md5::Md5::digest(data)),
        "SHA-1" => hex(&sha1::Sha1::digest(data)),
        "SHA-256" => hex(&sha2::Sha256::digest(data)),
        "SHA-384" => hex(&sha2::Sha384::digest(data)),
        "SHA-512" => hex(&sha2::Sha512::digest(data)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{invalid, ok};

    #[test]
    fn digests_match_aws() {
        let h = |a: &str| ok("States.Hash($.d, $.a)", json!({"d": "input data", "a": a}));
        // Recorded on AWS.
        assert_eq!(h("MD5"), json!("812f45842bc6d66ee14572ce20db8e86"));
        assert_eq!(
            h("SHA-1"),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            h("SHA-256"),
            json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")
        );
        assert_eq!(
            h("SHA-384"),
            json!(
                "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562"
            )
        );
        assert_eq!(
            h("SHA-512"),
            json!(
                "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4"
            )
        );
        assert_eq!(
            ok("States.Hash('✓', 'SHA-256')", json!({})),
            json!("1dabba21cdad44541f6b15796f8d22978fc7ea10c46aeceeeeb66c23b3ac7604")
        );
    }

    #[test]
    fn other_data_is_hashed_as_text() {
        assert_eq!(
            ok("States.Hash(123, 'MD5')", json!({})),
            ok("States.Hash('123', 'MD5')", json!({}))
        );
        assert_eq!(
            ok("States.Hash($.o, 'MD5')", json!({"o": {}})),
            ok("States.Hash('{}', 'MD5')", json!({}))
        );
    }

    #[test]
    fn bad_arguments_fail() {
        let long = "a".repeat(10_000);
        assert!(ok("States.Hash($.s, 'SHA-256')", json!({ "s": long })).is_string());
        for (d, a) in [
            (json!("a".repeat(10_001)), json!("SHA-256")),
            (json!("data"), json!("sha-256")),
            (json!("data"), json!("SHA256")),
            (json!("data"), json!("MD-5")),
            (json!("data"), json!("")),
            (json!("data"), json!(123)),
        ] {
            invalid(
                "States.Hash($.d, $.a)",
                json!({ "d": d, "a": a }),
                "States.Hash",
            );
        }
    }
}
