//! Fixtures for tests and benches of process functions: a host in a scratch directory, code
//! directories written on the fly, specs and invocations, a venv with packages from PyPI,
//! and the Rust `lambda_runtime` fixture built from source.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cirrus_runtime::process::{ProcessConfig, ProcessHost, resolve_node, resolve_python};
use cirrus_runtime::{Code, FunctionSpec, Invocation, Payload, ProcessRuntime, Scaling};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(what: &str) -> Scratch {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("cirrus-process-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The real `python3` and `node`, resolved once.
pub fn interpreters() -> &'static (PathBuf, PathBuf) {
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PATHS.get_or_init(|| {
        (
            resolve_python("python3").expect("python3"),
            resolve_node("node").expect("node"),
        )
    })
}

/// A host whose work directory is removed with the returned scratch.
pub fn host() -> (ProcessHost, Scratch) {
    let work = Scratch::new("work");
    let (python, node) = interpreters().clone();
    let host = ProcessHost::new(ProcessConfig {
        work_dir: work.path().to_owned(),
        python,
        node,
        log_limit: 64 * 1024,
    })
    .expect("host");
    (host, work)
}

/// A code directory with these files; a file named `bootstrap` is made executable.
pub fn code(files: &[(&str, &str)]) -> Scratch {
    let dir = Scratch::new("code");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        if name.ends_with("bootstrap") {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    dir
}

pub fn spec(runtime: ProcessRuntime, root: &Path, handler: &str) -> FunctionSpec {
    FunctionSpec {
        name: "orders".into(),
        version: "$LATEST".into(),
        code: Code::Process {
            root: root.to_owned(),
            runtime,
            handler: handler.into(),
        },
        memory_mb: 128,
        timeout: Duration::from_secs(10),
        environment: BTreeMap::new(),
        allowed_hosts: Vec::new(),
        scaling: Scaling {
            min_instances: 0,
            max_instances: 1,
            per_instance: 1,
            idle_timeout: Duration::from_secs(60),
        },
        region: "eu-west-1".into(),
    }
}

/// An Invoke of `event` (JSON text) with a fresh request id.
pub fn event(event: &str) -> Invocation {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Invocation {
        request_id: format!("8476a536-e9f4-11e8-9739-{n:012x}"),
        payload: Payload::Event {
            body: Bytes::copy_from_slice(event.as_bytes()),
            event_type: "cirrus.invoke".into(),
            source: "test".into(),
        },
        client_context: None,
        trace_id: None,
    }
}

/// Whether a process with this id is alive: neither gone nor a zombie (a killed
/// grandchild waits as a zombie until whoever inherited it reaps it).
pub fn process_exists(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) state ...`; comm may contain spaces and parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// A venv (`$CIRRUS_VENV`, else `~/.cache/cirrus/venv`, shared with the other crates'
/// tests) with these PyPI packages installed; made or completed with pip if needed.
pub fn venv_with(packages: &[&str]) -> PathBuf {
    let dir = match std::env::var_os("CIRRUS_VENV") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/cirrus/venv"),
    };
    let has_all = |dir: &Path| {
        Command::new(dir.join("bin/python"))
            .args([
                "-c",
                "import importlib.metadata as m, sys\nfor p in sys.argv[1:]: m.version(p)",
            ])
            .args(packages)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_all(&dir) {
        return dir;
    }
    std::fs::create_dir_all(dir.parent().expect("parent")).expect("venv parent");
    // Other test binaries may be doing the same; the first one does the work.
    let _lock = FileLock::take(&dir.with_extension("lock"));
    if !has_all(&dir) {
        if !dir.join("bin/pip").exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "python3 -m venv {} failed", dir.display());
        }
        let ok = Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install {packages:?} failed (it needs PyPI)");
    }
    dir
}

/// An exclusive lock held while the file exists.
struct FileLock(PathBuf);

impl FileLock {
    fn take(path: &Path) -> FileLock {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return FileLock(path.to_owned()),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Err(e) => panic!("cannot lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The `lambda_runtime` fixture (`tests/lambda-rust`), built once per process into its own
/// target directory under `$CARGO_TARGET_DIR`; optimised, so that the bench measures the
/// client as it would run (~30 s the first time).
pub fn lambda_rust_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| manifest_dir.join("../../target"))
            .join("lambda-rust");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--release", "--manifest-path"])
            .arg(manifest_dir.join("tests/lambda-rust/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo");
        assert!(status.success(), "building tests/lambda-rust failed");
        target.join("release/lambda-rust-fixture")
    })
}

/// A code directory whose `bootstrap` is the `lambda_runtime` fixture.
pub fn lambda_rust_code() -> Scratch {
    let dir = Scratch::new("lambda-rust");
    std::os::unix::fs::symlink(lambda_rust_binary(), dir.path().join("bootstrap"))
        .expect("symlink bootstrap");
    dir
}

/// p50 and p99 of some durations.
pub fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}
