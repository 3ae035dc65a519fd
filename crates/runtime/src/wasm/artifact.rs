//! The compiled-artifact cache: one file per component and engine configuration,
//! `<digest>-<engine>.cwasm` in the cache directory, where `<engine>` is a hash of
//! everything that makes compiled code compatible (wasmtime's version, the target, the
//! settings). A new wasmtime or new settings miss the old files instead of misreading them.
//!
//! Files are written whole to a temporary name, flushed, then renamed into place, so a
//! reader (this process or another node process sharing the directory) sees either no file
//! or a complete one. A file that does not load (truncated by a crash of the disk, written
//! by another build) is reported, and the caller compiles again and overwrites it.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ArtifactCache {
    dir: PathBuf,
    /// Hex; identifies the engine configuration compiled code depends on.
    engine_key: String,
}

impl ArtifactCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<ArtifactCache> {
        fs::create_dir_all(&dir)?;
        Ok(ArtifactCache {
            dir,
            engine_key: engine_key(engine),
        })
    }

    /// Where the artifact of `digest` (already checked to be a plain hex name) lives.
    pub(crate) fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The cached component, `Ok(None)` when there is no file, or the reason the file could
    /// not be used.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        digest: &str,
    ) -> Result<Option<Component>, wasmtime::Error> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => deserialize(engine, &path).map(Some),
            Ok(_) => Err(wasmtime::format_err!("{} is not a file", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(wasmtime::Error::new(error)),
        }
    }

    /// Writes `component`'s compiled form for `digest`, replacing any older file whole.
    pub(crate) fn store(&self, digest: &str, component: &Component) -> Result<(), wasmtime::Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let bytes = component.serialize()?;
        let path = self.path(digest);
        let temporary = self.dir.join(format!(
            ".{digest}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_data()?;
            fs::rename(&temporary, &path)
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(wasmtime::Error::new(error)
                .context(format!("writing the compiled artifact {}", path.display())));
        }
        Ok(())
    }
}

/// Maps a compiled artifact this cache wrote.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> Result<Component, wasmtime::Error> {
    // SAFETY: `deserialize_file` maps the file and runs its machine code, trusting it to be
    // wasmtime's own output. Only this module writes the cache directory, from components
    // that wasmtime compiled and validated; files appear by an atomic rename of a complete,
    // flushed file and are never modified in place (so the mapping cannot change under us).
    // wasmtime itself refuses files from another version or configuration, and files that
    // are not its artifacts (bad header or object layout). The directory must not be
    // writable by anyone less trusted than this process, like the binary itself.
    unsafe { Component::deserialize_file(engine, path) }
}

/// A stable hex name for the engine's precompile compatibility: the sha256 of what wasmtime
/// hashes to decide compatibility, cut to 16 hex digits.
fn engine_key(engine: &Engine) -> String {
    struct Sha256Hasher(Sha256);
    impl Hasher for Sha256Hasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0 // Not used: the digest is read from the hasher itself.
        }
    }
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    digest[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
