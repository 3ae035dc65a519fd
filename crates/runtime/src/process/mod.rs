//! Process functions: any executable that speaks the AWS Lambda Runtime API, plus Cirrus's
//! built-in `python3` and `nodejs` bootstraps.
//!
//! A [`ProcessHost`] (one per node) starts [`ProcessInstance`]s; the pool decides how many
//! and when. One instance is one process group with:
//!
//! - its own Runtime API server on `127.0.0.1:0` (`api`), which the process finds in
//!   `AWS_LAMBDA_RUNTIME_API`; [`ProcessHost::start`] returns once the process first asks
//!   for work on `/next` (that is the cold start), or fails with the runtime's init error,
//!   its exit, or the function's timeout;
//! - a clean environment (`launch`): a fixed `PATH`, `LANG`, `TZ=:UTC`, the function's
//!   variables and Lambda's reserved ones, the code root as working directory, and a
//!   private writable directory (as `HOME` and `TMPDIR`) in place of Lambda's `/tmp`;
//! - its stdout and stderr in one pipe, read all the time (`output`); an invocation's log
//!   is exactly what arrived between handing the event out and the answer;
//! - a memory cap (`memory`).
//!
//! [`ProcessInstance::invoke`] hands one event out and waits for the answer, the process's
//! exit (`Runtime.ExitError`, or `Runtime.OutOfMemory`), or the timeout, which kills the
//! process group (`Sandbox.Timedout`). An instance that died stays dead: the pool drops it
//! and starts another.
//!
//! # The memory cap
//!
//! Where the cgroup we run in is a cgroup v2 with the memory controller available and we
//! may make a child cgroup with it enabled, each instance gets a child cgroup with
//! `memory.max = memory_mb` and no swap, which it enters between fork and exec; the
//! kernel's OOM killer ends it at the cap and `memory.events` says so. That is what Lambda
//! does, and it counts what the process really uses.
//!
//! Elsewhere (cgroup v1 machines, like the ones this was written on, or a v2 cgroup we may
//! not subdivide) the child gets `RLIMIT_DATA = memory_mb`. `RLIMIT_AS` is no use: V8
//! reserves address space it never touches, so Node.js needs an `RLIMIT_AS` of ~768 MiB
//! just to start (measured: it hangs at 128 MiB and crashes at 512 MiB), which no
//! `memory_mb` can be turned into. `RLIMIT_DATA` counts only writable private mappings, so
//! reservations are free. Python raises `MemoryError` at the cap (reported as
//! `Runtime.OutOfMemory`, and the instance is recycled). Node.js gets a V8 heap limit of
//! 3/4 of the cap and an `RLIMIT_DATA` of twice the cap: with a limit equal to the cap, V8
//! crashed (SIGSEGV, or an abort without a word) in about half of our runs at 128 MB,
//! because a refused commit is fatal wherever it happens; with the room it stopped every
//! time at its own limit ("JavaScript heap out of memory"), which reads as
//! `Runtime.OutOfMemory`. So for Node.js the JS heap is capped below `memory_mb` and native
//! memory (buffers) at twice it. The rlimit counts committed virtual memory, not resident
//! memory: thread stacks count in full, so it is stricter than a cgroup for processes with
//! many threads.
//!
//! # Process groups
//!
//! Each process leads its own group; a timeout, a stop or the leader's exit kills the whole
//! group, so a function's children do not outlive its instance. Dropping an instance
//! without [`ProcessInstance::stop`] kills it too. If the host itself dies, the runtimes'
//! next call to their vanished Runtime API fails and they exit (the built-in bootstraps,
//! awslambdaric and `lambda_runtime` all do).

mod api;
mod instance;
mod launch;
mod memory;
mod output;

use std::hash::{BuildHasher, RandomState};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use instance::ProcessInstance;

use crate::{FunctionSpec, InvokeError};

/// The account in the ARNs and events process functions see.
pub const ACCOUNT_ID: &str = "000000000000";

/// Where and with what the host runs process functions.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// Instances' private directories go under it, and the built-in bootstraps.
    pub work_dir: PathBuf,
    /// The Python interpreter for `python3` functions: a real path, not a pyenv shim (see
    /// [`resolve_python`]).
    pub python: PathBuf,
    /// The Node.js executable for `nodejs` functions (see [`resolve_node`]).
    pub node: PathBuf,
    /// The most bytes of output kept as one invocation's logs.
    pub log_limit: usize,
}

impl ProcessConfig {
    /// A config with `python3` and `node` from the `PATH`, resolved to their real paths,
    /// and a 256 KiB log limit. Runs both interpreters once (blocking, ~100 ms); a missing
    /// `node` is left as `node`, and `nodejs` functions then fail to start.
    pub fn detect(work_dir: PathBuf) -> Result<ProcessConfig, ProcessError> {
        Ok(ProcessConfig {
            work_dir,
            python: resolve_python("python3")?,
            node: resolve_node("node").unwrap_or_else(|_| PathBuf::from("node")),
            log_limit: 256 * 1024,
        })
    }
}

/// Resolves a Python command (`python3`, a pyenv shim, a venv's `bin/python`) to the
/// interpreter it runs, `sys.executable`. Blocking: it runs the command once.
pub fn resolve_python(command: &str) -> Result<PathBuf, ProcessError> {
    launch::ask_executable(command, &["-c", "import sys; print(sys.executable)"]).map_err(
        |source| ProcessError::Interpreter {
            command: command.to_owned(),
            source,
        },
    )
}

/// Resolves a Node.js command to its executable, `process.execPath`. Blocking.
pub fn resolve_node(command: &str) -> Result<PathBuf, ProcessError> {
    launch::ask_executable(command, &["-e", "console.log(process.execPath)"]).map_err(|source| {
        ProcessError::Interpreter {
            command: command.to_owned(),
            source,
        }
    })
}

/// The host could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot find the interpreter `{command}`: {source}")]
    Interpreter {
        command: String,
        #[source]
        source: io::Error,
    },
}

/// Starts process instances. Cheap to clone; all clones share one work directory and
/// memory-cap mechanism.
#[derive(Debug, Clone)]
pub struct ProcessHost {
    host: Arc<Host>,
}

#[derive(Debug)]
struct Host {
    config: ProcessConfig,
    /// The built-in bootstraps (`LAMBDA_RUNTIME_DIR`).
    runtime_dir: PathBuf,
    /// Instances' private directories.
    instances_dir: PathBuf,
    memory: memory::MemoryCap,
    /// Makes instance ids unique across hosts sharing a work directory.
    salt: u64,
    next_instance: AtomicU64,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.memory.remove();
    }
}

impl ProcessHost {
    /// Prepares the work directory (writing the built-in bootstraps into
    /// `work_dir/runtime`) and picks the memory-cap mechanism. Blocking file system work;
    /// call it once at start.
    pub fn new(config: ProcessConfig) -> Result<ProcessHost, ProcessError> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| ProcessError::Io { path, source }
        };
        let work_dir = std::path::absolute(&config.work_dir).map_err(io_error(&config.work_dir))?;
        let runtime_dir = work_dir.join("runtime");
        let instances_dir = work_dir.join("instances");
        launch::install_bootstraps(&runtime_dir).map_err(io_error(&runtime_dir))?;
        std::fs::create_dir_all(&instances_dir).map_err(io_error(&instances_dir))?;
        let memory = memory::MemoryCap::detect();
        tracing::info!(
            mechanism = memory.mechanism(),
            "process functions' memory cap"
        );
        Ok(ProcessHost {
            host: Arc::new(Host {
                config,
                runtime_dir,
                instances_dir,
                memory,
                salt: RandomState::new().hash_one(std::process::id()),
                next_instance: AtomicU64::new(1),
            }),
        })
    }

    /// How instances' memory is capped here: `cgroup v2` or `RLIMIT_DATA`.
    pub fn memory_mechanism(&self) -> &'static str {
        self.host.memory.mechanism()
    }

    /// Starts one instance and waits until its runtime first asks for an invocation (the
    /// cold start). Fails with [`InvokeError::Init`] if the runtime reports an init error,
    /// exits first, or has not asked within the function's timeout; the message quotes the
    /// end of its output.
    pub async fn start(&self, spec: &FunctionSpec) -> Result<ProcessInstance, InvokeError> {
        let n = self.host.next_instance.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}-{n}", self.host.salt as u32);
        ProcessInstance::start(Arc::clone(&self.host), id, spec).await
    }
}
