//! Function code: what an upload is (a component or a zip), its digest, and unpacking a
//! zip safely into the node's code directory, once per digest.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Uncompressed size limit of a zip package (Lambda's).
const MAX_UNPACKED: u64 = 250 * 1024 * 1024;
const MAX_ENTRIES: usize = 20_000;

/// What a code upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Package {
    /// A WebAssembly component.
    Component,
    Zip,
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error(
        "the code is a core WebAssembly module, not a component; build it for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("the code is neither a WebAssembly component nor a zip archive")]
    Unknown,
    #[error("the zip archive is unreadable: {0}")]
    BadZip(String),
    #[error("the zip entry '{0}' would be written outside the code directory")]
    UnsafePath(String),
    #[error("the zip archive unpacks to more than {MAX_UNPACKED} bytes")]
    TooLarge,
    #[error("the zip archive has more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("the package has no executable 'bootstrap' at its root, which a provided runtime runs")]
    NoBootstrap,
    #[error("the package has no '{0}', which the handler names")]
    NoHandlerModule(String),
    #[error("cannot write the code directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The sha256 of the code, hex.
pub fn digest(code: &[u8]) -> String {
    let d = Sha256::digest(code);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lambda's `CodeSha256`: the digest in base64.
pub fn lambda_sha256(code: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(code))
}

/// The digest an upload would be stored under for a function with `config`: a wasm
/// function's zip is stored as the component inside it.
pub fn digest_of_upload(
    upload: &[u8],
    config: &crate::functions::config::FunctionConfig,
) -> String {
    let wasm = config.kind() == Ok(crate::functions::config::Kind::Wasm);
    if wasm
        && package(upload).ok() == Some(Package::Zip)
        && let Ok(Some(component)) = component_in_zip(upload)
    {
        return digest(&component);
    }
    digest(upload)
}

/// What the bytes are.
pub fn package(code: &[u8]) -> Result<Package, CodeError> {
    if code.len() >= 8 && &code[..4] == b"\0asm" {
        // Version 1 is a core module; components carry a version with layer 1.
        return if code[4..8] == [1, 0, 0, 0] {
            Err(CodeError::CoreModule)
        } else {
            Ok(Package::Component)
        };
    }
    if code.len() >= 4 && (&code[..4] == b"PK\x03\x04" || &code[..4] == b"PK\x05\x06") {
        return Ok(Package::Zip);
    }
    Err(CodeError::Unknown)
}

/// The one component a zip carries, for wasm functions uploaded zipped (as the aws CLI's
/// `fileb://` of a zip does).
pub fn component_in_zip(code: &[u8]) -> Result<Option<Vec<u8>>, CodeError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(code))
        .map_err(|e| CodeError::BadZip(e.to_string()))?;
    let mut found = None;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| CodeError::BadZip(e.to_string()))?;
        let is_wasm = entry.name().is_ok_and(|n| n.ends_with(".wasm"));
        if entry.is_file() && is_wasm {
            if found.is_some() {
                return Err(CodeError::BadZip(
                    "it holds more than one .wasm file; a wasm function has one component".into(),
                ));
            }
            if entry.size() > MAX_UNPACKED {
                return Err(CodeError::TooLarge);
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry
                .by_ref()
                .take(MAX_UNPACKED + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| CodeError::BadZip(e.to_string()))?;
            found = Some(bytes);
        }
    }
    Ok(found)
}

/// Unpacks a zip package into `root/<digest>` (once: an existing directory is reused) and
/// returns that directory. The archive is checked entry by entry: no path may leave the
/// directory, symbolic links are not created, and the total size is capped.
pub fn unpack(code: &[u8], digest: &str, root: &Path) -> Result<PathBuf, CodeError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CodeError::Io { path, source }
    };
    let dest = root.join(digest);
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::create_dir_all(root).map_err(io(root))?;
    let tmp = root.join(format!(".{digest}.{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let result = extract(code, &tmp);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, &dest) {
        Ok(()) => Ok(dest),
        // Another request unpacked the same digest first.
        Err(_) if dest.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dest)
        }
        Err(source) => Err(CodeError::Io { path: dest, source }),
    }
}

fn extract(code: &[u8], into: &Path) -> Result<(), CodeError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(code))
        .map_err(|e| CodeError::BadZip(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(CodeError::TooManyEntries);
    }
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| CodeError::BadZip(e.to_string()))?;
        let name = entry
            .name()
            .map(|n| n.into_owned())
            .map_err(|e| CodeError::BadZip(e.to_string()))?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(CodeError::UnsafePath(name));
        };
        let path = into.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(|source| CodeError::Io {
                path: path.clone(),
                source,
            })?;
            continue;
        }
        if entry.is_symlink() {
            return Err(CodeError::UnsafePath(name));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| CodeError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let mut file = std::fs::File::create(&path).map_err(|source| CodeError::Io {
            path: path.clone(),
            source,
        })?;
        let budget = MAX_UNPACKED - total;
        let written = std::io::copy(&mut entry.by_ref().take(budget + 1), &mut file)
            .map_err(|e| CodeError::BadZip(format!("entry '{name}': {e}")))?;
        total += written;
        if total > MAX_UNPACKED {
            return Err(CodeError::TooLarge);
        }
        // Keep the owner's execute bit (a bootstrap must be executable); nothing else.
        let executable = entry.unix_mode().is_some_and(|m| m & 0o100 != 0);
        let mode = if executable { 0o755 } else { 0o644 };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(
            |source| CodeError::Io {
                path: path.clone(),
                source,
            },
        )?;
    }
    Ok(())
}

/// Checks an unpacked package against its runtime: a provided runtime needs `bootstrap`;
/// the built-in ones need the handler's module.
pub fn check_package(
    dir: &Path,
    runtime: cirrus_runtime::ProcessRuntime,
    handler: &str,
) -> Result<(), CodeError> {
    use cirrus_runtime::ProcessRuntime::*;
    match runtime {
        Provided => {
            use std::os::unix::fs::PermissionsExt;
            let ok = std::fs::metadata(dir.join("bootstrap"))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o100 != 0);
            if ok {
                Ok(())
            } else {
                Err(CodeError::NoBootstrap)
            }
        }
        Python3 | Nodejs => {
            let module = handler.rsplit_once('.').map(|(m, _)| m).unwrap_or(handler);
            let candidates: &[&str] = if runtime == Python3 {
                &[".py", "/__init__.py"]
            } else {
                &[".js", ".mjs", ".cjs", "/index.js"]
            };
            if candidates
                .iter()
                .any(|ext| dir.join(format!("{module}{ext}")).is_file())
            {
                Ok(())
            } else {
                Err(CodeError::NoHandlerModule(format!(
                    "{module}{}",
                    candidates[0]
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            for (name, data, mode) in files {
                let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
            w.finish().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn recognises_components_modules_and_zips() {
        assert_eq!(
            package(b"\0asm\x0d\x00\x01\x00rest").unwrap(),
            Package::Component
        );
        assert!(matches!(
            package(b"\0asm\x01\x00\x00\x00"),
            Err(CodeError::CoreModule)
        ));
        assert_eq!(
            package(&zip_of(&[("a", b"x", 0o644)])).unwrap(),
            Package::Zip
        );
        assert!(matches!(package(b"hello"), Err(CodeError::Unknown)));
        assert!(matches!(package(b""), Err(CodeError::Unknown)));
    }

    #[test]
    fn unpacks_once_and_keeps_the_execute_bit() {
        let dir = std::env::temp_dir().join(format!("cirrus-code-{}", std::process::id()));
        let z = zip_of(&[
            ("bootstrap", b"#!/bin/sh\n", 0o755),
            ("lib/app.py", b"def handler(e, c): return e\n", 0o644),
        ]);
        let d = digest(&z);
        let out = unpack(&z, &d, &dir).unwrap();
        assert!(out.join("lib/app.py").is_file());
        check_package(&out, cirrus_runtime::ProcessRuntime::Provided, "").unwrap();
        check_package(
            &out,
            cirrus_runtime::ProcessRuntime::Python3,
            "lib/app.handler",
        )
        .unwrap();
        assert!(matches!(
            check_package(&out, cirrus_runtime::ProcessRuntime::Python3, "app.handler"),
            Err(CodeError::NoHandlerModule(_))
        ));
        assert_eq!(unpack(&z, &d, &dir).unwrap(), out);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_paths_that_escape() {
        let dir = std::env::temp_dir().join(format!("cirrus-code-esc-{}", std::process::id()));
        let z = zip_of(&[("../evil", b"x", 0o644)]);
        assert!(matches!(
            unpack(&z, "esc", &dir),
            Err(CodeError::UnsafePath(_))
        ));
        assert!(!dir.join("esc").exists());
        let garbage = b"PK\x03\x04garbage".to_vec();
        assert!(matches!(
            unpack(&garbage, "bad", &dir),
            Err(CodeError::BadZip(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn lambda_digest_is_base64() {
        assert_eq!(
            lambda_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
