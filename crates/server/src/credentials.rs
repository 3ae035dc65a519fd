//! The node's credentials: an AWS-style key pair (for SigV4-signed AWS-protocol requests)
//! and a bearer token (for the native API). Made at first start and kept in the data
//! directory as `credentials.json`, readable by its owner only; the CLI reads them there.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The bearer token of the native API.
    pub token: String,
    pub region: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a credentials file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the operating system gave no random bytes: {0}")]
    Random(String),
}

const FILE: &str = "credentials.json";

/// Random characters from `alphabet`, with no bias.
fn random_string(alphabet: &[u8], len: usize) -> Result<String, CredentialsError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| CredentialsError::Random(e.to_string()))?;
        for b in buf {
            // Reject bytes past the largest multiple of the alphabet's size.
            let limit = 256 - 256 % alphabet.len();
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

impl NodeCredentials {
    /// New random credentials: an `AKIA…` key id, a 40-character secret and a token.
    pub fn generate(region: &str) -> Result<Self, CredentialsError> {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const TOKEN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        Ok(NodeCredentials {
            access_key_id: format!("AKIA{}", random_string(UPPER, 16)?),
            secret_access_key: random_string(SECRET, 40)?,
            token: format!("cirrus_{}", random_string(TOKEN, 40)?),
            region: region.to_owned(),
        })
    }

    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE)
    }

    /// Reads the credentials in `data_dir`, if there are any.
    pub fn load(data_dir: &Path) -> Result<Option<Self>, CredentialsError> {
        let path = Self::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CredentialsError::Read { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| CredentialsError::Parse { path, source })
    }

    /// Reads the credentials in `data_dir`, making and saving new ones the first time.
    pub fn load_or_create(data_dir: &Path, region: &str) -> Result<Self, CredentialsError> {
        if let Some(c) = Self::load(data_dir)? {
            return Ok(c);
        }
        let c = Self::generate(region)?;
        c.save(data_dir)?;
        Ok(c)
    }

    /// Writes the file with owner-only permissions, atomically.
    pub fn save(&self, data_dir: &Path) -> Result<(), CredentialsError> {
        let path = Self::path(data_dir);
        let write = |source| CredentialsError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(write)?;
        let tmp = data_dir.join(format!("{FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(write)?;
            f.write_all(text.as_bytes()).map_err(write)?;
            f.sync_all().map_err(write)?;
        }
        std::fs::rename(&tmp, &path).map_err(write)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_look_like_aws_ones_and_persist() {
        let c = NodeCredentials::generate("eu-west-1").unwrap();
        assert!(c.access_key_id.starts_with("AKIA") && c.access_key_id.len() == 20);
        assert_eq!(c.secret_access_key.len(), 40);
        assert_ne!(c, NodeCredentials::generate("eu-west-1").unwrap());
        let dir = std::env::temp_dir().join(format!("cirrus-creds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = NodeCredentials::load_or_create(&dir, "eu-west-1").unwrap();
        assert_eq!(NodeCredentials::load_or_create(&dir, "x").unwrap(), made);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(NodeCredentials::path(&dir))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(NodeCredentials::path(&dir), "{").unwrap();
        assert!(matches!(
            NodeCredentials::load(&dir),
            Err(CredentialsError::Parse { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
