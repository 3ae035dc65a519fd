//! AWS Signature Version 4 (SigV4) request verification, plus a small signer.
//!
//! Cirrus speaks the AWS JSON 1.0 protocol, so the `aws` CLI, boto3 and the
//! AWS SDKs send requests signed with SigV4. [`verify`] checks such a request
//! against a set of known [`Credentials`] and reports which access key signed
//! it, together with the region and service named in its credential scope
//! (any region or service is accepted: the caller decides what to allow).
//! [`sign`] produces the same kind of signature; it is used by tests and by
//! Rust clients.
//!
//! Both `Authorization`-header signatures and query-string ("presigned")
//! signatures (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
//! `X-Amz-SignedHeaders`, `X-Amz-Signature`, `X-Amz-Expires`) are supported.
//!
//! The canonical request follows AWS's rules for services other than S3:
//! the path as received is normalised (dot segments and empty segments
//! removed) and then URI-encoded once more, exactly as botocore and the AWS
//! SDKs do; the query is decoded, RFC 3986 encoded and sorted by key then
//! value; header values are trimmed and runs of spaces collapsed; and the
//! payload hash is always the SHA-256 of the body actually received.
//!
//! The caller must hand over the path and query exactly as they arrived on
//! the wire (still percent-encoded), and a `host` header: for HTTP/2
//! requests, which carry the host in `:authority`, insert it into the header
//! map before calling [`verify`].

use cirrus_asl::timestamp::{civil_from_days, days_from_civil, days_in_month};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

/// The only signing algorithm supported.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of every SigV4 credential scope.
const TERMINATOR: &str = "aws4_request";
/// How far the request's timestamp may be from the server's clock.
const MAX_SKEW_SECS: i64 = 15 * 60;
/// The longest lifetime AWS allows for a presigned request (7 days).
const MAX_EXPIRES_SECS: i64 = 7 * 24 * 60 * 60;
/// `x-amz-content-sha256` value meaning the client did not hash the body.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the signature \
     you provided. Check your AWS Secret Access Key and signing method. Consult the service \
     documentation for details.";

/// An access key pair the server accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// The parts of an incoming HTTP request that take part in the signature.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method, e.g. `"POST"`.
    pub method: &'a str,
    /// Raw path as received (still percent-encoded), e.g. `"/"`.
    pub path: &'a str,
    /// Raw query string as received, without the leading `?`.
    pub query: Option<&'a str>,
    /// All request headers; must include `host`.
    pub headers: &'a HeaderMap,
    /// The complete request body.
    pub body: &'a [u8],
}

/// Who signed a request that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    /// Region from the credential scope, e.g. `us-east-1`.
    pub region: String,
    /// Service from the credential scope, e.g. `states`.
    pub service: String,
}

/// Why a request failed verification. `Display` gives the message AWS sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor `X-Amz-Algorithm` query parameter.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The signature information is malformed or incomplete.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key ID is not one of the known keys.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The signature does not match the one computed by the server.
    #[error("{}", MISMATCH_MESSAGE)]
    SignatureDoesNotMatch,
    /// The request's timestamp is too far from the server's clock, or a
    /// presigned request has expired.
    #[error("{0}")]
    SignatureExpired(String),
    /// Any other reason the signature cannot be valid (e.g. the credential
    /// scope date differs from the request date).
    #[error("{0}")]
    InvalidSignature(String),
}

impl SigV4Error {
    /// The `__type` AWS returns for this error in JSON protocol responses.
    pub fn aws_code(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigV4Error::IncompleteSignature(_) => "IncompleteSignatureException",
            SigV4Error::UnrecognizedClient => "UnrecognizedClientException",
            SigV4Error::SignatureDoesNotMatch
            | SigV4Error::SignatureExpired(_)
            | SigV4Error::InvalidSignature(_) => "InvalidSignatureException",
        }
    }

    /// The HTTP status AWS JSON-protocol services use for this error: 403 for
    /// a missing token, 400 for the rest.
    pub fn status(&self) -> u16 {
        match self {
            SigV4Error::MissingAuthenticationToken => 403,
            _ => 400,
        }
    }
}

fn incomplete(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::IncompleteSignature(msg.into())
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// Signature information extracted from the header or the query string.
struct AuthInfo {
    access_key_id: String,
    scope_date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    /// Hex signature as sent; decoded (or rejected) only after key lookup.
    signature: String,
    /// `Some(seconds)` for a presigned request carrying `X-Amz-Expires`.
    expires: Option<i64>,
    /// The request timestamp in ISO 8601 basic format (`YYYYMMDDTHHMMSSZ`).
    amz_date: String,
    /// The same timestamp in seconds since the Unix epoch.
    timestamp: i64,
    presigned: bool,
}

/// Verify the SigV4 signature of `req` against `keys`, at time `now`.
pub fn verify(
    req: &Request<'_>,
    keys: &[Credentials],
    now: SystemTime,
) -> Result<Verified, SigV4Error> {
    let query_params = parse_query(req.query.unwrap_or(""));
    let has_header = req.headers.contains_key(http::header::AUTHORIZATION);
    let has_query = query_params
        .iter()
        .any(|(k, _)| k.as_slice() == b"X-Amz-Algorithm");

    let auth = match (has_header, has_query) {
        (false, false) => return Err(SigV4Error::MissingAuthenticationToken),
        (true, true) => {
            return Err(incomplete(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or \
                 the Authorization header should be specified",
            ));
        }
        (true, false) => auth_from_header(req.headers)?,
        (false, true) => auth_from_query(&query_params)?,
    };

    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    if auth.scope_date != auth.amz_date[..8] {
        return Err(SigV4Error::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{}'.",
            auth.scope_date,
            &auth.amz_date[..8],
            auth.amz_date
        )));
    }

    let creds = keys
        .iter()
        .find(|c| c.access_key_id == auth.access_key_id)
        .ok_or(SigV4Error::UnrecognizedClient)?;

    check_time(&auth, unix_seconds(now))?;

    let payload_hash = hex(&Sha256::digest(req.body));
    if let Some(claimed) = req.headers.get("x-amz-content-sha256") {
        let claimed = claimed.as_bytes();
        if claimed != UNSIGNED_PAYLOAD.as_bytes()
            && !claimed.eq_ignore_ascii_case(payload_hash.as_bytes())
        {
            return Err(SigV4Error::InvalidSignature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_string(),
            ));
        }
    }

    let canonical = canonical_request(
        req.method,
        req.path,
        &canonical_query(&query_params, auth.presigned),
        req.headers,
        &auth.signed_headers,
        &payload_hash,
    );
    let scope = format!(
        "{}/{}/{}/{}",
        auth.scope_date, auth.region, auth.service, TERMINATOR
    );
    let sts = string_to_sign(&auth.amz_date, &scope, &canonical);
    let key = signing_key(
        &creds.secret_access_key,
        &auth.scope_date,
        &auth.region,
        &auth.service,
    );
    let expected = hmac_sha256(&key, sts.as_bytes());

    let provided = decode_hex_32(&auth.signature).ok_or(SigV4Error::SignatureDoesNotMatch)?;
    if !constant_time_eq(&expected, &provided) {
        return Err(SigV4Error::SignatureDoesNotMatch);
    }

    Ok(Verified {
        access_key_id: auth.access_key_id,
        region: auth.region,
        service: auth.service,
    })
}

/// Parse `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
fn auth_from_header(headers: &HeaderMap) -> Result<AuthInfo, SigV4Error> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values
        .next()
        .ok_or(SigV4Error::MissingAuthenticationToken)?;
    if values.next().is_some() {
        return Err(incomplete(
            "Only one Authorization header may be specified.",
        ));
    }
    let raw = value
        .to_str()
        .map_err(|_| incomplete("Authorization header contains invalid characters."))?
        .trim();

    let (algorithm, rest) = raw
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((raw, ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Only '{ALGORITHM}' is supported."
        )));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    // botocore and the Rust SDK separate components with ", "; accept any mix
    // of commas and whitespace.
    for part in rest
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
    {
        let Some((name, val)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization \
                 header: '{raw}'."
            )));
        };
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(val).is_some() {
            return Err(incomplete(format!(
                "Authorization header contains '{name}' more than once: '{raw}'."
            )));
        }
    }

    let date = request_date(headers);
    let mut missing = Vec::new();
    for (name, present) in [
        ("Credential", credential.is_some()),
        ("Signature", signature.is_some()),
        ("SignedHeaders", signed_headers.is_some()),
    ] {
        if !present {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    if date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
             header."
                .to_string(),
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(date)) =
        (credential, signed_headers, signature, date)
    else {
        return Err(incomplete(format!(
            "{} Authorization={raw}",
            missing.join(" ")
        )));
    };

    let (amz_date, timestamp) = date?;
    build_auth(
        credential,
        signed_headers,
        signature,
        amz_date,
        timestamp,
        None,
        false,
    )
}

/// The request timestamp from `x-amz-date`, or else `date`, as
/// `(ISO 8601 basic string, unix seconds)`. `None` when neither is present.
fn request_date(headers: &HeaderMap) -> Option<Result<(String, i64), SigV4Error>> {
    if let Some(v) = headers.get("x-amz-date") {
        let s = String::from_utf8_lossy(v.as_bytes());
        let s = s.trim();
        return Some(
            parse_amz_date(s)
                .map(|t| (s.to_string(), t))
                .ok_or_else(|| bad_date(s)),
        );
    }
    let v = headers.get(http::header::DATE)?;
    let s = String::from_utf8_lossy(v.as_bytes());
    Some(
        parse_http_date(s.trim())
            .map(|t| (format_amz_date(t), t))
            .ok_or_else(|| {
                incomplete(format!(
                    "Date header '{}' is not a valid HTTP date.",
                    s.trim()
                ))
            }),
    )
}

fn bad_date(s: &str) -> SigV4Error {
    incomplete(format!(
        "Date must be in ISO-8601 'basic format'. Got '{s}'. See \
         http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

/// Parse presigned-request parameters from the (decoded) query string.
fn auth_from_query(params: &[(Vec<u8>, Vec<u8>)]) -> Result<AuthInfo, SigV4Error> {
    let get = |name: &str| -> Result<Option<String>, SigV4Error> {
        let mut found = params
            .iter()
            .filter(|(k, _)| k.as_slice() == name.as_bytes());
        let Some((_, v)) = found.next() else {
            return Ok(None);
        };
        if found.next().is_some() {
            return Err(incomplete(format!(
                "Query parameter '{name}' may be given only once."
            )));
        }
        String::from_utf8(v.clone())
            .map(Some)
            .map_err(|_| incomplete(format!("Query parameter '{name}' is not valid UTF-8.")))
    };

    let algorithm = get("X-Amz-Algorithm")?.unwrap_or_default();
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Only '{ALGORITHM}' is supported."
        )));
    }
    let credential = get("X-Amz-Credential")?;
    let signed_headers = get("X-Amz-SignedHeaders")?;
    let signature = get("X-Amz-Signature")?;
    let date = get("X-Amz-Date")?;
    let expires = get("X-Amz-Expires")?;

    let missing: Vec<String> = [
        ("X-Amz-Credential", credential.is_some()),
        ("X-Amz-Signature", signature.is_some()),
        ("X-Amz-SignedHeaders", signed_headers.is_some()),
        ("X-Amz-Date", date.is_some()),
    ]
    .iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| format!("AWS query-string parameters must include '{name}'."))
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature), Some(date)) =
        (credential, signed_headers, signature, date)
    else {
        return Err(incomplete(missing.join(" ")));
    };

    let timestamp = parse_amz_date(&date).ok_or_else(|| bad_date(&date))?;
    let expires = match expires {
        None => None,
        Some(e) => match e.parse::<i64>() {
            Ok(n) if (1..=MAX_EXPIRES_SECS).contains(&n) => Some(n),
            _ => {
                return Err(incomplete(format!(
                    "X-Amz-Expires must be an integer between 1 and {MAX_EXPIRES_SECS}, got \
                     '{e}'."
                )));
            }
        },
    };
    build_auth(
        &credential,
        &signed_headers,
        &signature,
        date,
        timestamp,
        expires,
        true,
    )
}

fn build_auth(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: String,
    timestamp: i64,
    expires: Option<i64>,
    presigned: bool,
) -> Result<AuthInfo, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = parts.as_slice() else {
        return Err(incomplete(format!(
            "Credential must have the form \
             'AccessKeyId/YYYYMMDD/region/service/aws4_request', got '{credential}'."
        )));
    };
    if *terminator != TERMINATOR {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not \
             '{terminator}'."
        )));
    }
    if akid.is_empty() || region.is_empty() || service.is_empty() {
        return Err(incomplete(format!(
            "Credential has an empty access key, region or service: '{credential}'."
        )));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(format!(
            "Credential date must be in the form YYYYMMDD, got '{date}'."
        )));
    }

    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(incomplete(format!(
            "SignedHeaders contains an empty header name: '{}'.",
            signed_headers.join(";")
        )));
    }

    Ok(AuthInfo {
        access_key_id: (*akid).to_string(),
        scope_date: (*date).to_string(),
        region: (*region).to_string(),
        service: (*service).to_string(),
        signed_headers,
        signature: signature.to_string(),
        expires,
        amz_date,
        timestamp,
        presigned,
    })
}

fn check_time(auth: &AuthInfo, now: i64) -> Result<(), SigV4Error> {
    let date = &auth.amz_date;
    let now_s = format_amz_date(now);
    if auth.timestamp > now.saturating_add(MAX_SKEW_SECS) {
        return Err(SigV4Error::SignatureExpired(format!(
            "Signature not yet current: {date} is still later than {} ({now_s} + 15 min.)",
            format_amz_date(now.saturating_add(MAX_SKEW_SECS))
        )));
    }
    match auth.expires {
        Some(expires) => {
            if now > auth.timestamp.saturating_add(expires) {
                return Err(SigV4Error::SignatureExpired(format!(
                    "Signature expired: {date} is now earlier than {} ({now_s} - {expires} sec.)",
                    format_amz_date(now.saturating_sub(expires))
                )));
            }
        }
        None => {
            if auth.timestamp < now.saturating_sub(MAX_SKEW_SECS) {
                return Err(SigV4Error::SignatureExpired(format!(
                    "Signature expired: {date} is now earlier than {} ({now_s} - 15 min.)",
                    format_amz_date(now.saturating_sub(MAX_SKEW_SECS))
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

/// Sign a request in place: sets `x-amz-date` and `authorization`.
///
/// Every header present in `headers` (which should include `host`) is signed,
/// together with the `x-amz-date` this function adds; any `authorization`
/// header already present is replaced. `path` and `query` are given exactly as
/// they will be sent on the wire.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &mut HeaderMap,
    body: &[u8],
    creds: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) {
    let timestamp = unix_seconds(now);
    let amz_date = format_amz_date(timestamp);
    let scope_date = &amz_date[..8];

    headers.remove(http::header::AUTHORIZATION);
    // The date string is plain ASCII digits and letters, always a valid value.
    if let Ok(v) = HeaderValue::from_str(&amz_date) {
        headers.insert("x-amz-date", v);
    }

    let mut signed_headers: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_ascii_lowercase())
        .collect();
    signed_headers.sort();
    signed_headers.dedup();

    let payload_hash = hex(&Sha256::digest(body));
    let canonical = canonical_request(
        method,
        path,
        &canonical_query(&parse_query(query.unwrap_or("")), false),
        headers,
        &signed_headers,
        &payload_hash,
    );
    let scope = format!("{scope_date}/{region}/{service}/{TERMINATOR}");
    let sts = string_to_sign(&amz_date, &scope, &canonical);
    let key = signing_key(&creds.secret_access_key, scope_date, region, service);
    let signature = hex(&hmac_sha256(&key, sts.as_bytes()));

    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        creds.access_key_id,
        signed_headers.join(";")
    );
    // Only fails if the access key ID or region/service contain characters
    // not allowed in a header value; the request then stays unsigned and the
    // server rejects it.
    if let Ok(v) = HeaderValue::from_str(&authorization) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
}

// ---------------------------------------------------------------------------
// Canonical request
// ---------------------------------------------------------------------------

/// Build the canonical request (as bytes: header values need not be UTF-8).
fn canonical_request(
    method: &str,
    path: &str,
    canonical_query: &str,
    headers: &HeaderMap,
    signed_headers: &[String],
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query.as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimmed_value(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// Append a header value with surrounding whitespace removed and internal
/// runs of spaces/tabs collapsed to a single space.
fn push_trimmed_value(out: &mut Vec<u8>, value: &[u8]) {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let mut pending_space = false;
    let mut started = false;
    for b in value {
        if is_ws(b) {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(*b);
            started = true;
        }
    }
}

/// Canonical URI for non-S3 services: remove dot segments and empty segments
/// from the raw path (as botocore does), then URI-encode it keeping `/`.
/// Because the raw path is already encoded, this "double-encodes" it, which
/// is what AWS expects for every service but S3.
fn canonical_uri(path: &str) -> String {
    let normalized = normalize_path(path);
    let mut out = String::with_capacity(normalized.len());
    uri_encode_into(&mut out, normalized.as_bytes(), true);
    out
}

fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Split a raw query string into percent-decoded `(key, value)` pairs.
fn parse_query(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// RFC 3986 encode every pair, sort by key then value, and join.
/// For presigned requests `X-Amz-Signature` is left out.
fn canonical_query(params: &[(Vec<u8>, Vec<u8>)], presigned: bool) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !(presigned && k.as_slice() == b"X-Amz-Signature"))
        .map(|(k, v)| {
            let mut ek = String::with_capacity(k.len());
            uri_encode_into(&mut ek, k, false);
            let mut ev = String::with_capacity(v.len());
            uri_encode_into(&mut ev, v, false);
            (ek, ev)
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Percent-encode everything except RFC 3986 unreserved characters
/// (and `/` when `keep_slash`), with uppercase hex digits.
fn uri_encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
}

/// Decode `%XX` escapes; malformed escapes are kept literally. `+` is kept
/// as `+` (SigV4 clients always encode a space as `%20`).
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex_val(*b)),
                bytes.get(i + 2).and_then(|b| hex_val(*b)),
            )
        {
            out.push((h << 4) | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request))
    )
}

// ---------------------------------------------------------------------------
// Crypto helpers
// ---------------------------------------------------------------------------

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// Compare two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
        s.push(char::from(HEX_LOWER[usize::from(b & 0x0f)]));
    }
    s
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_hex_32(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Time helpers (UTC; the calendar arithmetic is cirrus-asl's)
// ---------------------------------------------------------------------------

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn from_parts(year: i64, month: i64, day: i64, h: i64, m: i64, s: i64) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&m)
        && (0..60).contains(&s);
    valid.then(|| days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Format seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
fn format_amz_date(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut s = String::with_capacity(16);
    let _ = write!(
        s,
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    s
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    from_parts(
        digits(s.get(0..4)?)?,
        digits(s.get(4..6)?)?,
        digits(s.get(6..8)?)?,
        digits(s.get(9..11)?)?,
        digits(s.get(11..13)?)?,
        digits(s.get(13..15)?)?,
    )
}

/// Parse an IMF-fixdate HTTP date, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)?;
    let month = i64::try_from(month).ok()? + 1;
    let mut hms = time.split(':');
    let (h, m, sec) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() || h.len() != 2 || m.len() != 2 || sec.len() != 2 || year.len() != 4 {
        return None;
    }
    from_parts(
        digits(year)?,
        month,
        digits(day)?,
        digits(h)?,
        digits(m)?,
        digits(sec)?,
    )
}

#[cfg(test)]
mod tests;
