//! Reading configuration documents: [`Fields`] walks a JSON object member by member,
//! naming each member in its errors and rejecting members nobody read, and [`split_url`]
//! checks a broker URL. Pure; never blocks.

use serde_json::{Map, Value};

use super::BrokerError;

/// Reads the members of a configuration object one by one, naming each in errors, and
/// rejects members nobody read.
pub(crate) struct Fields<'a> {
    prefix: String,
    map: &'a Map<String, Value>,
    seen: Vec<&'static str>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(value: &'a Value, prefix: &str) -> Result<Fields<'a>, BrokerError> {
        match value {
            Value::Object(map) => Ok(Fields {
                prefix: prefix.to_owned(),
                map,
                seen: Vec::new(),
            }),
            _ => Err(BrokerError::config(
                if prefix.is_empty() {
                    "(config)"
                } else {
                    prefix
                },
                "must be a JSON object",
            )),
        }
    }

    /// The full name of member `name`, for errors.
    pub(crate) fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub(crate) fn error(&self, name: &str, message: impl Into<String>) -> BrokerError {
        BrokerError::config(self.path(name), message)
    }

    pub(crate) fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.seen.push(name);
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub(crate) fn optional_str(
        &mut self,
        name: &'static str,
    ) -> Result<Option<String>, BrokerError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(self.error(name, "must be a non-empty string")),
        }
    }

    pub(crate) fn required_str(&mut self, name: &'static str) -> Result<String, BrokerError> {
        self.optional_str(name)?
            .ok_or_else(|| self.error(name, "is required"))
    }

    pub(crate) fn optional_bool(
        &mut self,
        name: &'static str,
    ) -> Result<Option<bool>, BrokerError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(name, "must be true or false")),
        }
    }

    pub(crate) fn optional_str_list(
        &mut self,
        name: &'static str,
    ) -> Result<Option<Vec<String>>, BrokerError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let list = match v {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|i| i.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                .collect::<Option<Vec<String>>>(),
            _ => None,
        };
        list.map(Some)
            .ok_or_else(|| self.error(name, "must be a non-empty array of non-empty strings"))
    }

    /// Fails on a member no one asked for.
    pub(crate) fn finish(self) -> Result<(), BrokerError> {
        match self.map.keys().find(|k| !self.seen.contains(&k.as_str())) {
            Some(unknown) => Err(self.error(unknown, "is not a known field")),
            None => Ok(()),
        }
    }
}

/// The parts of a `scheme://[user[:password]@]host[:port]` URL.
#[derive(Debug, PartialEq)]
pub(crate) struct UrlParts<'u> {
    pub user: Option<&'u str>,
    pub password: Option<&'u str>,
    pub host: &'u str,
    pub port: u16,
}

/// Checks a broker URL with one of `schemes`; `field` names it in errors.
pub(crate) fn split_url<'u>(
    url: &'u str,
    field: &str,
    schemes: &[&str],
    default_port: u16,
) -> Result<UrlParts<'u>, BrokerError> {
    let bad = |why: String| BrokerError::config(field, why);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(format!(
            "'{url}' is not a URL; write {}://host:port",
            schemes[0]
        )));
    };
    if !schemes.contains(&scheme) {
        return Err(bad(format!(
            "the scheme '{scheme}' is not supported; use {}",
            schemes.join(" or ")
        )));
    }
    let rest = rest.trim_end_matches('/');
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(user), Some(pass)),
            None => (Some(u), None),
        },
        None => (None, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
            let port = p
                .parse::<u16>()
                .map_err(|_| bad(format!("the port '{p}' in '{url}' is not a number")))?;
            (h, port)
        }
        _ => (hostport, default_port),
    };
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(bad(format!("'{url}' has no valid host")));
    }
    Ok(UrlParts {
        user,
        password,
        host,
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("mqtt://u:p@h:1884", "url", &["mqtt"], 1883).ok(),
            Some(UrlParts {
                user: Some("u"),
                password: Some("p"),
                host: "h",
                port: 1884
            })
        );
        assert_eq!(
            split_url("mqtt://h", "url", &["mqtt"], 1883).ok(),
            Some(UrlParts {
                user: None,
                password: None,
                host: "h",
                port: 1883
            })
        );
        assert!(split_url("mqtts://h", "url", &["mqtt"], 1883).is_err());
        assert!(split_url("mqtt://h:x", "url", &["mqtt"], 1883).is_err());
        assert!(split_url("h:1883", "url", &["mqtt"], 1883).is_err());
    }
}
