//! Secrets: named values kept by the node (in `secrets.json` in its data directory, readable
//! by the node's user only), never shown by any API. A function is granted secrets by name
//! in its configuration and sees each as an environment variable; changing a secret
//! restarts the instances of the functions that use it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    value: String,
    updated_ms: i64,
}

/// The node's secrets.
pub struct Secrets {
    path: PathBuf,
    entries: RwLock<BTreeMap<String, Entry>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read the secrets in {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write the secrets to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("'{0}' is not a secret name ([A-Za-z][A-Za-z0-9_]*, up to 128)")]
    BadName(String),
    #[error("the secret '{0}' is larger than 64 KiB")]
    TooLarge(String),
}

/// A secret's name, as an environment variable name.
pub fn check_name(name: &str) -> Result<(), SecretsError> {
    let ok = name.len() <= 128
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SecretsError::BadName(name.chars().take(140).collect()))
    }
}

impl Secrets {
    /// Loads `secrets.json` from the data directory (none yet is empty).
    pub fn open(data_dir: &std::path::Path) -> Result<Secrets, SecretsError> {
        let path = data_dir.join("secrets.json");
        let entries = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| SecretsError::Read {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(SecretsError::Read {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        Ok(Secrets {
            path,
            entries: RwLock::new(entries),
        })
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.read().get(name).map(|e| e.value.clone())
    }

    /// Names and when each was last set.
    pub fn list(&self) -> Vec<(String, i64)> {
        self.read()
            .iter()
            .map(|(k, e)| (k.clone(), e.updated_ms))
            .collect()
    }

    pub fn set(&self, name: &str, value: &str, now_ms: i64) -> Result<(), SecretsError> {
        check_name(name)?;
        if value.len() > 64 * 1024 {
            return Err(SecretsError::TooLarge(name.to_owned()));
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let mut next = entries.clone();
        next.insert(
            name.to_owned(),
            Entry {
                value: value.to_owned(),
                updated_ms: now_ms,
            },
        );
        self.save(&next)?;
        *entries = next;
        Ok(())
    }

    /// Removes a secret; `false` if there was none.
    pub fn delete(&self, name: &str) -> Result<bool, SecretsError> {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if !entries.contains_key(name) {
            return Ok(false);
        }
        let mut next = entries.clone();
        next.remove(name);
        self.save(&next)?;
        *entries = next;
        Ok(true)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the file whole (a temporary file, then a rename), mode 0600.
    fn save(&self, entries: &BTreeMap<String, Entry>) -> Result<(), SecretsError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| SecretsError::Write {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(entries).map_err(|e| io(std::io::Error::other(e)))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_persist_privately() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cirrus-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = Secrets::open(&dir).unwrap();
        s.set("DB_PASSWORD", "hunter2", 1).unwrap();
        assert!(s.set("1BAD", "x", 1).is_err());
        assert!(s.set("A", &"x".repeat(70_000), 1).is_err());
        let again = Secrets::open(&dir).unwrap();
        assert_eq!(again.get("DB_PASSWORD").as_deref(), Some("hunter2"));
        let mode = std::fs::metadata(dir.join("secrets.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(again.delete("DB_PASSWORD").unwrap());
        assert!(!again.delete("DB_PASSWORD").unwrap());
        assert_eq!(Secrets::open(&dir).unwrap().list(), vec![]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
