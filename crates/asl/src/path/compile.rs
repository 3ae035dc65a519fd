//! Compiling a path text into tokens, reading it as Jayway JsonPath 2.0 does.
//!
//! The grammar, from `$`:
//!
//! - `.name`: any run of characters up to the next `.`, `[` or space (`$.a-b`, `$.a:b`);
//!   `.*` is a wildcard and `.[` just a bracket (`$.abc.['def ghi']`).
//! - `..` (recursive descent) before a name, `*` or a bracket; a path cannot end with it.
//! - `['a']`, `['a', 'b']`: single-quoted names, no escapes (a backslash is a character).
//!   Double quotes are not quotes.
//! - `[0]`, `[1,2]`, `[1:]`, `[:2]`, `[1:3]`, `[(@.length-1)]` (also `@.size()`): 32-bit
//!   indices. No steps.
//! - `[*]`, and `[?(...)]` filters (see [`super::filter`]).
//!
//! A space outside brackets is an error, as in Jayway; surrounding whitespace is trimmed.
//! Where Jayway 2.0 silently skips junk inside brackets (`$[abc1]` is `$[1]` there), this
//! reader refuses it.

use super::filter::Filter;
use super::{MAX_PATH_LEN, MAX_SEGMENTS, PathSyntaxError};

/// One step of a compiled path.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    /// `['a']`
    Name(Box<str>),
    /// `['a', 'b']`: an object of those members (only as the last token).
    Names(Box<[Box<str>]>),
    /// `[0]`: negative indices are out of bounds, as in Jayway 2.0.
    Index(i32),
    /// `[0,2]`
    Indices(Box<[i32]>),
    /// `[(@.length-1)]`: the offset added to the array's length.
    FromEnd(i32),
    /// `[1:]`: negative counts from the end.
    SliceFrom(i32),
    /// `[:2]`: negative counts from the end.
    SliceTo(i32),
    /// `[1:3]`: a negative start is out of bounds, a negative end selects nothing.
    SliceBetween(i32, i32),
    /// `[*]`
    Wildcard,
    /// `..`: the next token applied at every depth.
    Scan,
    /// `[?(...)]`
    Filter(Box<Filter>),
}

impl Token {
    pub(super) fn is_definite(&self) -> bool {
        matches!(
            self,
            Token::Name(_) | Token::Names(_) | Token::Index(_) | Token::FromEnd(_)
        )
    }

    /// Jayway's fragment for the token, as in normalized paths and messages.
    pub(super) fn write_fragment(&self, out: &mut String) {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = match self {
            Token::Name(n) => write!(out, "['{n}']"),
            Token::Names(ns) => {
                out.push('[');
                write_names(ns, out);
                write!(out, "]")
            }
            Token::Index(i) => write!(out, "[{i}]"),
            Token::Indices(is) => {
                out.push('[');
                for (k, i) in is.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{i}");
                }
                write!(out, "]")
            }
            Token::FromEnd(n) => write!(out, "[@.size(){n}]"),
            Token::SliceFrom(a) => write!(out, "[{a}:]"),
            Token::SliceTo(b) => write!(out, "[:{b}]"),
            Token::SliceBetween(a, b) => write!(out, "[{a}:{b}]"),
            Token::Wildcard => write!(out, "[*]"),
            Token::Scan => write!(out, ".."),
            Token::Filter(_) => write!(out, "[?]"),
        };
    }
}

/// `'a', 'b'`, as Jayway joins a union of names.
pub(super) fn write_names(names: &[Box<str>], out: &mut String) {
    for (k, n) in names.iter().enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        out.push('\'');
        out.push_str(n);
        out.push('\'');
    }
}

/// Java's `String.trim()`: every character up to U+0020 goes at both ends.
pub(super) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Compiles a path starting at `$`.
pub(super) fn compile(text: &str) -> Result<Vec<Token>, PathSyntaxError> {
    if text.len() > MAX_PATH_LEN {
        return Err(PathSyntaxError::TooLong);
    }
    let path = java_trim(text);
    if path.ends_with("..") {
        return Err(PathSyntaxError::EndsWithScan);
    }
    if !path.starts_with('$') {
        return Err(PathSyntaxError::NoRoot);
    }
    let b = path.as_bytes();
    if b.len() > 1 && b[1] != b'.' && b[1] != b'[' {
        return Err(invalid_path(path));
    }
    let mut tokens = Vec::new();
    let mut i = 1;
    while i < b.len() {
        if tokens.len() >= MAX_SEGMENTS {
            return Err(PathSyntaxError::TooManySegments);
        }
        match b[i] {
            b' ' => return Err(PathSyntaxError::Space),
            b'$' => return Err(invalid_path(path)),
            b'[' => {
                let end = closing_bracket(b, i).ok_or_else(|| invalid_path(path))?;
                tokens.push(bracket(&path[i..end])?);
                i = end;
            }
            b'.' => {
                i += 1;
                match b.get(i) {
                    None => return Err(invalid_path(path)),
                    Some(b'.') => {
                        tokens.push(Token::Scan);
                        i += 1;
                    }
                    Some(_) => {
                        let n = name_len(b, i);
                        if n > 0 {
                            tokens.push(name_token(&path[i..i + n]));
                            i += n;
                        }
                    }
                }
            }
            b'*' => {
                tokens.push(Token::Wildcard);
                i += 1;
            }
            _ => {
                let n = name_len(b, i);
                tokens.push(name_token(&path[i..i + n]));
                i += n;
            }
        }
    }
    Ok(tokens)
}

fn invalid_path(path: &str) -> PathSyntaxError {
    PathSyntaxError::Invalid(format!("Invalid path {path}"))
}

fn name_token(name: &str) -> Token {
    if name == "*" {
        Token::Wildcard
    } else {
        Token::Name(name.into())
    }
}

/// The length of a dotted name from `i`: up to `.`, `[`, a space or the end.
fn name_len(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|c| matches!(c, b'.' | b'[' | b' '))
        .unwrap_or(b.len() - i)
}

/// The index just past the `]` closing the `[` at `open`: brackets nest, and inside single
/// quotes nothing counts (inside a filter `\'` does not end a quote).
fn closing_bracket(b: &[u8], open: usize) -> Option<usize> {
    let is_filter = b[open + 1..]
        .iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|c| *c == b'?');
    let mut depth = 0usize;
    let mut quoted = false;
    let mut k = open;
    while k < b.len() {
        let c = b[k];
        if quoted {
            if c == b'\\' && is_filter {
                k += 1;
            } else if c == b'\'' {
                quoted = false;
            }
        } else {
            match c {
                b'\'' => quoted = true,
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(k + 1);
                    }
                }
                _ => {}
            }
        }
        k += 1;
    }
    None
}

/// A `[...]` fragment, the brackets included.
fn bracket(frag: &str) -> Result<Token, PathSyntaxError> {
    if frag == "[*]" {
        return Ok(Token::Wildcard);
    }
    let inner = &frag[1..frag.len() - 1];
    let unknown = || PathSyntaxError::Invalid(format!("Could not analyze path component: {frag}"));
    // Jayway decides on the first '?', quote, digit, ':', '-' or '@'; we let only
    // whitespace and an opening parenthesis come before it.
    let lead = inner
        .bytes()
        .find(|c| !c.is_ascii_whitespace() && *c != b'(')
        .ok_or_else(unknown)?;
    match lead {
        b'?' => Ok(Token::Filter(Box::new(Filter::parse(frag)?))),
        b'\'' => names(inner).ok_or_else(unknown),
        b'@' => from_end(inner).ok_or_else(unknown),
        c if c.is_ascii_digit() || c == b'-' || c == b':' => indices(inner).ok_or_else(unknown),
        _ => Err(unknown()),
    }
}

/// `'a'` or `'a', 'b'`.
fn names(inner: &str) -> Option<Token> {
    let mut names: Vec<Box<str>> = Vec::new();
    let mut rest = inner.trim_start();
    loop {
        let body = rest.strip_prefix('\'')?;
        let end = body.find('\'')?;
        names.push(body[..end].into());
        rest = body[end + 1..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => break,
            None => return None,
        }
    }
    Some(if names.len() == 1 {
        Token::Name(names.swap_remove(0))
    } else {
        Token::Names(names.into())
    })
}

/// `(@.length-1)` or `(@.size() - 2)`.
fn from_end(inner: &str) -> Option<Token> {
    let s = inner.trim();
    let s = s.strip_prefix('(').unwrap_or(s).trim_start();
    let s = s.strip_prefix("@.")?;
    let s = s
        .strip_prefix("length")
        .or_else(|| s.strip_prefix("size()"))?
        .trim_start();
    let s = s.strip_prefix('-')?.trim_start();
    let s = s.strip_suffix(')')?.trim_end();
    let n: i32 = format!("-{s}").parse().ok()?;
    Some(Token::FromEnd(n))
}

/// `0`, `-1`, `1,2`, `1:`, `:2`, `1:3`.
fn indices(inner: &str) -> Option<Token> {
    let int = |s: &str| -> Option<Option<i32>> {
        let s = s.trim();
        if s.is_empty() {
            return Some(None);
        }
        let digits = s.strip_prefix('-').unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().map(Some)
    };
    if let Some((a, b)) = inner.split_once(':') {
        return match (int(a)?, int(b)?) {
            (Some(a), None) => Some(Token::SliceFrom(a)),
            (None, Some(b)) => Some(Token::SliceTo(b)),
            (Some(a), Some(b)) => Some(Token::SliceBetween(a, b)),
            (None, None) => None,
        };
    }
    let all = inner
        .split(',')
        .map(|s| int(s).flatten())
        .collect::<Option<Vec<i32>>>()?;
    match all.as_slice() {
        [one] => Some(Token::Index(*one)),
        _ => Some(Token::Indices(all.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        let mut out = String::from("$");
        for t in compile(text).unwrap() {
            t.write_fragment(&mut out);
        }
        out
    }

    fn err(text: &str) -> String {
        compile(text).unwrap_err().to_string()
    }

    #[test]
    fn dotted_and_bracketed_names() {
        assert_eq!(norm("$"), "$");
        assert_eq!(norm("$.a.b"), "$['a']['b']");
        assert_eq!(norm("$['a']['b']"), "$['a']['b']");
        assert_eq!(norm("$.abc.['def ghi']"), "$['abc']['def ghi']");
        assert_eq!(norm("$['a.b']"), "$['a.b']");
        assert_eq!(norm("$.a-b:c"), "$['a-b:c']");
        assert_eq!(norm("$[ 'a' , 'b' ]"), "$['a', 'b']");
        assert_eq!(norm("  $.a  "), "$['a']");
        // No escapes in names: the backslash stays, double quotes are characters.
        assert_eq!(norm(r#"$['Test\""Name"']"#), r#"$['Test\""Name"']"#);
        assert_eq!(norm("$['']"), "$['']");
        assert_eq!(norm("$['a]b']"), "$['a]b']");
    }

    #[test]
    fn indices_slices_and_wildcards() {
        assert_eq!(norm("$[0]"), "$[0]");
        assert_eq!(norm("$.a[-1]"), "$['a'][-1]");
        assert_eq!(norm("$.a[ 1 , 2 ]"), "$['a'][1,2]");
        assert_eq!(norm("$.a[1:]"), "$['a'][1:]");
        assert_eq!(norm("$.a[:-2]"), "$['a'][:-2]");
        assert_eq!(norm("$.a[1:3]"), "$['a'][1:3]");
        assert_eq!(norm("$.a[(@.length-1)]"), "$['a'][@.size()-1]");
        assert_eq!(norm("$.a[(@.size() - 2)]"), "$['a'][@.size()-2]");
        assert_eq!(norm("$.a[*]"), "$['a'][*]");
        assert_eq!(norm("$.a.*"), "$['a'][*]");
        assert_eq!(norm("$[*]"), "$[*]");
        assert_eq!(norm("$..a"), "$..['a']");
        assert_eq!(norm("$..*"), "$..[*]");
        assert_eq!(norm("$..[0]"), "$..[0]");
        assert_eq!(norm("$.a[?(@.b)]"), "$['a'][?]");
    }

    #[test]
    fn refusals_carry_jayway_texts() {
        assert_eq!(err("$.a b"), "Space not allowed in path");
        assert_eq!(err("$.a.."), "A path can not end with a scan.");
        assert_eq!(err("$a"), "Invalid path $a");
        assert_eq!(err("$.a."), "Invalid path $.a.");
        assert_eq!(err("a.b"), "a path must start with '$'");
        assert_eq!(err("$[abc]"), "Could not analyze path component: [abc]");
        assert_eq!(
            err(r#"$["a"]"#),
            r#"Could not analyze path component: ["a"]"#
        );
        assert_eq!(err("$[ * ]"), "Could not analyze path component: [ * ]");
        for bad in [
            "",
            "$[",
            "$['a",
            "$['a'",
            "$[0",
            "$[:]",
            "$[1:2:3]",
            "$[1,]",
            "$[1a]",
            "$[99999999999]",
            "$['a' 'b']",
            "$[(@.length+1)]",
            "$[(@.foo-1)]",
            "$['a']$",
            "$[?]",
        ] {
            assert!(compile(bad).is_err(), "{bad}");
        }
        let many = format!("${}", ".a".repeat(MAX_SEGMENTS + 1));
        assert_eq!(compile(&many), Err(PathSyntaxError::TooManySegments));
        let long = format!("$.{}", "a".repeat(MAX_PATH_LEN));
        assert_eq!(compile(&long), Err(PathSyntaxError::TooLong));
    }
}
