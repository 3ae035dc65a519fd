//! Outbound HTTP: which hosts a function may call through `wasi:http/outgoing-handler`, and
//! the hooks that refuse the rest before any connection is made.
//!
//! A pattern is `*` (any host, any port), `host` (that host on the scheme's default port),
//! `host:port`, `*.domain` (any subdomain of `domain`, not `domain` itself, default port) or
//! `*.domain:port`. Hosts compare without regard to case; IPv6 hosts are written in brackets
//! (`[::1]:8080`).

use std::fmt;

use http::uri::{Authority, Scheme};
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

/// One entry of a function's `allowed_hosts`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: HostPattern,
    /// `None`: the scheme's default port (80 for http, 443 for https).
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// Lowercase.
    Exact(String),
    /// Lowercase, with its leading dot: `.example.com`.
    Subdomain(String),
}

impl AllowedHost {
    /// Parses a pattern as a function's configuration writes it; the error says what is
    /// wrong with it, for the deploy API to report.
    pub fn parse(pattern: &str) -> Result<AllowedHost, String> {
        let pattern = pattern.trim();
        if pattern == "*" {
            return Ok(AllowedHost {
                host: HostPattern::Any,
                port: None,
            });
        }
        if pattern.contains("://") || pattern.contains('/') {
            return Err(format!(
                "allowed host {pattern:?} must be a host or host:port, without a scheme or a path"
            ));
        }
        let (subdomains, rest) = match pattern.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let authority: Authority = rest
            .parse()
            .map_err(|_| format!("allowed host {pattern:?} is not a host or host:port"))?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(format!(
                "allowed host {pattern:?} is not a host or host:port"
            ));
        }
        if authority.host().contains('*') {
            return Err(format!(
                "allowed host {pattern:?}: a wildcard may only stand first, as in *.example.com"
            ));
        }
        let name = authority.host().to_ascii_lowercase();
        let host = if subdomains {
            HostPattern::Subdomain(format!(".{name}"))
        } else {
            HostPattern::Exact(name)
        };
        Ok(AllowedHost {
            host,
            port: authority.port_u16(),
        })
    }

    /// Whether a request to `authority` over `scheme` is allowed by this pattern.
    fn allows(&self, scheme: &Scheme, authority: &Authority) -> bool {
        let host = authority.host();
        let host_matches = match &self.host {
            HostPattern::Any => return true,
            HostPattern::Exact(name) => host.eq_ignore_ascii_case(name),
            HostPattern::Subdomain(suffix) => {
                host.len() > suffix.len()
                    && host.is_char_boundary(host.len() - suffix.len())
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
        };
        let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        host_matches && port == self.port.unwrap_or(default_port)
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Any => return f.write_str("*"),
            HostPattern::Exact(name) => f.write_str(name)?,
            HostPattern::Subdomain(suffix) => write!(f, "*{suffix}")?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// The `wasi:http` hooks of one invocation: requests to hosts outside `allowed` fail with
/// `ErrorCode::HttpRequestDenied` before any DNS lookup or connection; the rest go out
/// through wasmtime-wasi-http's own client.
pub(crate) struct OutboundPolicy {
    allowed: Vec<AllowedHost>,
}

impl OutboundPolicy {
    /// Patterns that do not parse allow nothing (the deploy API rejects them earlier).
    pub(crate) fn new(patterns: &[String]) -> OutboundPolicy {
        let allowed = patterns
            .iter()
            .filter_map(|pattern| AllowedHost::parse(pattern).ok())
            .collect();
        OutboundPolicy { allowed }
    }

    fn allows(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return false;
        };
        self.allowed
            .iter()
            .any(|pattern| pattern.allows(scheme, authority))
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>>
        + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _io: IoFuture,
    ) -> SendFuture {
        if !self.allows(request.uri()) {
            tracing::debug!(uri = %request.uri(), "outbound request denied");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let io: IoFuture = Box::new(io);
            Ok((response.map(BodyExt::boxed_unsync), io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, url: &str) -> bool {
        let uri: http::Uri = url.parse().unwrap();
        AllowedHost::parse(pattern)
            .unwrap()
            .allows(uri.scheme().unwrap(), uri.authority().unwrap())
    }

    #[test]
    fn a_star_allows_any_host_on_any_port() {
        assert!(allows("*", "http://example.com/"));
        assert!(allows("*", "https://10.0.0.1:8443/x"));
    }

    #[test]
    fn a_plain_host_allows_that_host_on_the_default_port_only() {
        assert!(allows("example.com", "http://example.com/"));
        assert!(allows("example.com", "https://EXAMPLE.com/"));
        assert!(allows("example.com", "http://example.com:80/"));
        assert!(allows("example.com", "https://example.com:443/"));
        assert!(!allows("example.com", "http://example.com:8080/"));
        assert!(!allows("example.com", "http://api.example.com/"));
        assert!(!allows("example.com", "http://example.com.evil.net/"));
        assert!(!allows("127.0.0.1", "http://127.0.0.1:3000/"));
    }

    #[test]
    fn a_host_with_a_port_allows_that_port_only() {
        assert!(allows("example.com:8080", "http://example.com:8080/"));
        assert!(!allows("example.com:8080", "http://example.com/"));
        assert!(!allows("example.com:8080", "http://example.com:8081/"));
        assert!(allows("127.0.0.1:3000", "http://127.0.0.1:3000/x"));
        assert!(allows("[::1]:3000", "http://[::1]:3000/x"));
    }

    #[test]
    fn a_wildcard_allows_subdomains_but_not_the_domain_itself() {
        assert!(allows("*.example.com", "https://api.example.com/"));
        assert!(allows("*.example.com", "https://a.b.Example.com/"));
        assert!(!allows("*.example.com", "https://example.com/"));
        assert!(!allows("*.example.com", "https://badexample.com/"));
        assert!(!allows("*.example.com", "https://api.example.com:8443/"));
        assert!(allows(
            "*.example.com:8443",
            "https://api.example.com:8443/"
        ));
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        for pattern in [
            "",
            "http://example.com",
            "example.com/path",
            "ex*ample.com",
            "*.",
        ] {
            let error = AllowedHost::parse(pattern).unwrap_err();
            assert!(error.contains("allowed host"), "{pattern}: {error}");
        }
        assert!(AllowedHost::parse("a.*.example.com").is_err());
        assert!(AllowedHost::parse("user@example.com").is_err());
    }

    #[test]
    fn patterns_display_as_written() {
        for pattern in [
            "*",
            "example.com",
            "example.com:8080",
            "*.example.com",
            "*.example.com:1",
        ] {
            assert_eq!(AllowedHost::parse(pattern).unwrap().to_string(), pattern);
        }
    }

    #[test]
    fn the_policy_denies_what_no_pattern_allows() {
        let policy = OutboundPolicy::new(&["example.com".into(), "not a host/".into()]);
        assert!(policy.allows(&"http://example.com/".parse().unwrap()));
        assert!(!policy.allows(&"http://other.com/".parse().unwrap()));
        assert!(!policy.allows(&"/relative".parse().unwrap()));
        assert!(!OutboundPolicy::new(&[]).allows(&"http://example.com/".parse().unwrap()));
    }
}
