//! User routes: the second listener (127.0.0.1:9080 by default), public, where
//! `GET /orders/{id}` runs a function or starts a workflow. Wasm functions get the request
//! itself; process functions get API Gateway's HTTP API (v2) event, so Lambda HTTP
//! handlers run unchanged. Workflow routes are [`super::workflow_routes`].
//!
//! A route key is `METHOD /path` (or `ANY /path`), whose segments are literals, `{name}`
//! parameters, or a final greedy `{name+}`. The most specific route wins: literal
//! segments before parameters before a greedy tail, and a method before `ANY`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cirrus_runtime::{HttpRequest, Payload, Reply};
use cirrus_store::{Route, RouteTarget, Store};
use http::StatusCode;
use serde_json::json;

use super::{FnError, Functions, MAX_SYNC_PAYLOAD};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

#[derive(Debug, Clone)]
struct Compiled {
    method: Option<http::Method>,
    segments: Vec<Segment>,
    route: Route,
}

/// The routes in force, compiled.
#[derive(Default)]
pub struct Table {
    routes: RwLock<Vec<Compiled>>,
}

/// Parses a route key, naming what is wrong with it.
pub fn parse_route_key(key: &str) -> Result<(Option<http::Method>, Vec<String>), String> {
    let (method, path) = key.split_once(' ').ok_or_else(|| {
        format!("route '{key}' is not 'METHOD /path' (for example 'GET /orders/{{id}}')")
    })?;
    let method = match method {
        "ANY" => None,
        m => Some(
            m.parse::<http::Method>()
                .ok()
                .filter(|m| {
                    matches!(
                        m.as_str(),
                        "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS"
                    )
                })
                .ok_or_else(|| format!("route '{key}': '{m}' is not an HTTP method or ANY"))?,
        ),
    };
    if !path.starts_with('/') {
        return Err(format!("route '{key}': the path must start with '/'"));
    }
    let parts: Vec<String> = path
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut seen = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if let Some(inner) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("route '{key}': '{p}' is not a parameter name"));
            }
            if greedy && i + 1 != parts.len() {
                return Err(format!("route '{key}': a greedy parameter must come last"));
            }
            if seen.contains(&name) {
                return Err(format!(
                    "route '{key}': the parameter '{name}' appears twice"
                ));
            }
            seen.push(name);
        } else if p.contains(['{', '}']) {
            return Err(format!("route '{key}': '{p}' mixes text and a parameter"));
        }
    }
    Ok((method, parts))
}

fn compile(route: &Route) -> Option<Compiled> {
    let (method, parts) = parse_route_key(&route.route_key).ok()?;
    let segments = parts
        .into_iter()
        .map(
            |p| match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(inner) => match inner.strip_suffix('+') {
                    Some(n) => Segment::Greedy(n.to_owned()),
                    None => Segment::Param(inner.to_owned()),
                },
                None => Segment::Literal(p),
            },
        )
        .collect();
    Some(Compiled {
        method,
        segments,
        route: route.clone(),
    })
}

/// How specific a route is, for ordering: more literals first, then more parameters,
/// then a method before ANY.
fn rank(c: &Compiled) -> (usize, usize, bool, bool) {
    let literals = c
        .segments
        .iter()
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count();
    let params = c
        .segments
        .iter()
        .filter(|s| matches!(s, Segment::Param(_)))
        .count();
    let greedy = c.segments.iter().any(|s| matches!(s, Segment::Greedy(_)));
    (literals, params, !greedy, c.method.is_some())
}

impl Table {
    /// Reads the routes from the store again.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), FnError> {
        let routes = store.routes().await?;
        let mut compiled: Vec<Compiled> = routes.iter().filter_map(compile).collect();
        compiled.sort_by_key(|c| std::cmp::Reverse(rank(c)));
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = compiled;
        Ok(())
    }

    /// The route for a request and its path parameters.
    pub fn find(
        &self,
        method: &http::Method,
        path: &str,
    ) -> Option<(Route, BTreeMap<String, String>)> {
        let parts: Vec<&str> = path.split('/').skip(1).filter(|s| !s.is_empty()).collect();
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        'routes: for c in routes.iter() {
            if let Some(m) = &c.method
                && m != method
                && !(m == http::Method::GET && method == http::Method::HEAD)
            {
                continue;
            }
            let mut params = BTreeMap::new();
            for (i, seg) in c.segments.iter().enumerate() {
                match seg {
                    Segment::Greedy(name) => {
                        if i >= parts.len() {
                            continue 'routes;
                        }
                        params.insert(name.clone(), percent_decode(&parts[i..].join("/")));
                        return Some((c.route.clone(), params));
                    }
                    Segment::Literal(l) => {
                        if parts.get(i).is_none_or(|p| percent_decode(p) != *l) {
                            continue 'routes;
                        }
                    }
                    Segment::Param(name) => match parts.get(i) {
                        Some(p) => {
                            params.insert(name.clone(), percent_decode(p));
                        }
                        None => continue 'routes,
                    },
                }
            }
            if parts.len() == c.segments.len() {
                return Some((c.route.clone(), params));
            }
        }
        None
    }
}

/// Decodes `%XX` escapes (invalid ones stay as they are; invalid UTF-8 is replaced).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Serves user routes on `listener` until `shutdown`.
pub async fn serve(
    functions: Arc<Functions>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(functions)
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

pub(super) fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

async fn handle(
    State(functions): State<Arc<Functions>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method == http::Method::POST
        && let Some(name) = parts.uri.path().strip_prefix("/webhooks/")
        && let Some(events) = functions.events()
    {
        let body = match axum::body::to_bytes(body, MAX_SYNC_PAYLOAD).await {
            Ok(b) => b,
            Err(_) => return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        };
        return match crate::events::webhooks::handle(&events, name, &parts.headers, &body).await {
            Some((status, v)) => (status, axum::Json(v)).into_response(),
            None => message(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    let url_function = url_function(&parts.headers);
    let (route, path_parameters) = match &url_function {
        Some(name) => match functions.resolve(name, None).await {
            Ok(r) if r.config.url.is_some() => (
                Route {
                    route_key: "$default".into(),
                    target: RouteTarget::Function {
                        name: name.clone(),
                        qualifier: "$LATEST".into(),
                    },
                    created_ms: 0,
                },
                BTreeMap::new(),
            ),
            _ => return message(StatusCode::NOT_FOUND, "Not Found"),
        },
        None => match functions.routes.find(&parts.method, parts.uri.path()) {
            Some(found) => found,
            None => return message(StatusCode::NOT_FOUND, "Not Found"),
        },
    };
    let body = match axum::body::to_bytes(body, MAX_SYNC_PAYLOAD).await {
        Ok(b) => b,
        Err(_) => return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let (function, qualifier) = match &route.target {
        RouteTarget::Function { name, qualifier } => (name.as_str(), qualifier.as_str()),
        RouteTarget::Workflow { name } => {
            return super::workflow_routes::handle(
                &functions,
                &route.route_key,
                name,
                &parts.headers,
                &body,
            )
            .await;
        }
    };
    let request = HttpRequest {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        headers: parts.headers.clone(),
        body,
        route_key: route.route_key.clone(),
        path_parameters,
        source_ip: peer.ip().to_string(),
    };
    let qualifier = (qualifier != "$LATEST").then_some(qualifier);
    let invoked = functions
        .invoke(function, qualifier, Payload::Http(request), None, None)
        .await;
    match invoked {
        Ok(invoked) => match invoked.outcome.result {
            Ok(Reply::Http(r)) => {
                let mut response = Response::new(Body::from(r.body));
                *response.status_mut() = r.status;
                *response.headers_mut() = r.headers;
                response
            }
            Ok(Reply::Event(b)) => ok_json(b),
            Err(e) => {
                tracing::debug!(function, error = %e.error_type, "route handler failed");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        },
        Err(FnError::Throttled(_)) => message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        Err(FnError::TooLarge(_)) => {
            message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
        }
        Err(e) => {
            tracing::warn!(function, err = %e, "route cannot reach its function");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// The function a function-URL host names: `NAME.lambda-url.ANYTHING`.
fn url_function(headers: &http::HeaderMap) -> Option<String> {
    let host = headers.get(http::header::HOST)?.to_str().ok()?;
    let (name, rest) = host.split_once('.')?;
    (rest.starts_with("lambda-url.") && super::check_name(name).is_ok()).then(|| name.to_owned())
}

fn ok_json(body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(key: &str) -> Route {
        Route {
            route_key: key.into(),
            target: RouteTarget::Function {
                name: key.into(),
                qualifier: "$LATEST".into(),
            },
            created_ms: 0,
        }
    }

    fn table(keys: &[&str]) -> Table {
        let t = Table::default();
        let mut compiled: Vec<Compiled> =
            keys.iter().map(|k| compile(&route(k)).unwrap()).collect();
        compiled.sort_by_key(|c| std::cmp::Reverse(rank(c)));
        *t.routes.write().unwrap() = compiled;
        t
    }

    #[test]
    fn the_most_specific_route_wins() {
        let t = table(&[
            "ANY /{proxy+}",
            "GET /orders/{id}",
            "GET /orders/new",
            "POST /orders",
            "ANY /orders",
        ]);
        let find = |m: &str, p: &str| {
            t.find(&m.parse().unwrap(), p)
                .map(|(r, params)| (r.route_key, params.into_iter().collect::<Vec<_>>()))
        };
        assert_eq!(find("GET", "/orders/new").unwrap().0, "GET /orders/new");
        assert_eq!(
            find("GET", "/orders/42").unwrap(),
            ("GET /orders/{id}".into(), vec![("id".into(), "42".into())])
        );
        assert_eq!(find("POST", "/orders").unwrap().0, "POST /orders");
        assert_eq!(find("DELETE", "/orders").unwrap().0, "ANY /orders");
        assert_eq!(
            find("GET", "/a/b%20c").unwrap(),
            (
                "ANY /{proxy+}".into(),
                vec![("proxy".into(), "a/b c".into())]
            )
        );
        assert_eq!(find("HEAD", "/orders/7").unwrap().0, "GET /orders/{id}");
        let none = table(&["GET /x"]);
        assert!(none.find(&http::Method::GET, "/y").is_none());
        assert!(none.find(&http::Method::GET, "/x/y").is_none());
    }

    #[test]
    fn bad_route_keys_are_named() {
        for bad in [
            "/orders",
            "GET orders",
            "FETCH /x",
            "GET /{a+}/b",
            "GET /x{id}",
            "GET /{}",
            "GET /{a}/{a}",
        ] {
            assert!(parse_route_key(bad).is_err(), "{bad}");
        }
        assert!(parse_route_key("ANY /").is_ok());
    }
}
