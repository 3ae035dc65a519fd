//! `${Key}` placeholders in workflow definitions, as AWS SAM's `DefinitionSubstitutions`:
//! a workflow's `substitutions` table and the built-ins ([`BUILT_INS`], which describe the
//! node deployed to) are replaced inside the definition's strings before it is uploaded.
//! [`placeholders`] finds them with their lines for `cirrus check`; [`resolve`] gives the
//! final values; [`substitute`] replaces them in a parsed definition.

use std::collections::BTreeMap;

use serde_json::Value;

/// Placeholders every definition may use: the node's user-routes base URL, its API URL,
/// its region and its account.
pub const BUILT_INS: &[&str] = &["RoutesUrl", "ApiUrl", "Region", "AccountId"];

/// One `${Name}` in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub name: String,
    /// 1-based.
    pub line: usize,
}

/// Whether `name` can be a placeholder's name: letters, digits and `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Every `${Name}` in `text`, in order. `${` not followed by a name and `}` is left alone.
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        if let Some(end) = after.find('}')
            && valid_name(&after[..end])
        {
            let line = text[..offset + at].matches('\n').count() + 1;
            found.push(Placeholder {
                name: after[..end].to_owned(),
                line,
            });
        }
        offset += at + 2;
        rest = &text[offset..];
    }
    found
}

/// Replaces every `${Name}` of `text` that `values` defines; the names it does not define
/// are returned (and left in place).
pub fn replace(text: &str, values: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find('}').map(|end| &after[..end]) {
            Some(name) if valid_name(name) => {
                match values.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push_str(&rest[at..at + 3 + name.len()]);
                        missing.push(name.to_owned());
                    }
                }
                rest = &after[name.len() + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, missing)
}

/// The values of a workflow's placeholders: the built-ins, and its own table with the
/// built-ins replaced inside each value. A name nothing defines is an error naming it.
pub fn resolve(
    own: &BTreeMap<String, String>,
    built_ins: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut values = built_ins.clone();
    for (k, v) in own {
        let (v, missing) = replace(v, built_ins);
        if let Some(m) = missing.first() {
            return Err(format!("substitutions.{k}: ${{{m}}} is not a built-in"));
        }
        values.insert(k.clone(), v);
    }
    Ok(values)
}

/// Replaces the placeholders inside every string (keys too) of a definition, so that a
/// value with quotes or backslashes stays one JSON string. The names left undefined are
/// returned.
pub fn substitute(definition: &mut Value, values: &BTreeMap<String, String>) -> Vec<String> {
    let mut missing = Vec::new();
    walk(definition, values, &mut missing);
    missing
}

fn walk(v: &mut Value, values: &BTreeMap<String, String>, missing: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let (text, m) = replace(s, values);
            missing.extend(m);
            *s = text;
        }
        Value::Array(items) => {
            for item in items {
                walk(item, values, missing);
            }
        }
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut item) in entries {
                let (k, m) = replace(&k, values);
                missing.extend(m);
                walk(&mut item, values, missing);
                map.insert(k, item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn placeholders_are_found_with_their_lines() {
        let text =
            "{\n  \"a\": \"${RoutesUrl}/x\",\n  \"b\": \"${ Bad } $ {No} ${Two}${Three}\"\n}";
        let p = placeholders(text);
        let names: Vec<(&str, usize)> = p.iter().map(|p| (p.name.as_str(), p.line)).collect();
        assert_eq!(names, vec![("RoutesUrl", 2), ("Two", 3), ("Three", 3)]);
        assert!(placeholders("${unclosed").is_empty());
    }

    #[test]
    fn replace_keeps_what_it_cannot_fill() {
        let (text, missing) = replace("${A}-${B}-${ C }-${", &map(&[("A", "1")]));
        assert_eq!(text, "1-${B}-${ C }-${");
        assert_eq!(missing, vec!["B".to_owned()]);
    }

    #[test]
    fn values_may_use_built_ins_but_not_each_other() {
        let built = map(&[("RoutesUrl", "http://127.0.0.1:9080")]);
        let v = resolve(&map(&[("Pay", "${RoutesUrl}/payments")]), &built).unwrap();
        assert_eq!(v["Pay"], "http://127.0.0.1:9080/payments");
        assert_eq!(v["RoutesUrl"], "http://127.0.0.1:9080");
        let e = resolve(&map(&[("A", "x"), ("B", "${A}")]), &built).unwrap_err();
        assert!(e.contains("substitutions.B") && e.contains("${A}"), "{e}");
    }

    #[test]
    fn substitution_stays_inside_strings() {
        let mut d = json!({"States": {"Call": {"Parameters": {"Url": "${Pay}", "${Key}": ["${Quote}", 3]}}}});
        let missing = substitute(
            &mut d,
            &map(&[("Pay", "http://h/p"), ("Key", "k"), ("Quote", "say \"hi\"")]),
        );
        assert!(missing.is_empty());
        assert_eq!(
            d,
            json!({"States": {"Call": {"Parameters": {"Url": "http://h/p", "k": ["say \"hi\"", 3]}}}})
        );
        let mut d = json!({"a": "${Nope}"});
        assert_eq!(
            substitute(&mut d, &BTreeMap::new()),
            vec!["Nope".to_owned()]
        );
    }
}
