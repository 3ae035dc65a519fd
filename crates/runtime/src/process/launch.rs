//! How an instance's process starts: the command for each runtime, its environment, its
//! working directory, and Cirrus's built-in bootstraps.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use super::ProcessConfig;
use crate::{Code, FunctionSpec, ProcessRuntime};

/// The built-in Python bootstrap (stdlib only).
const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap/bootstrap.py");
/// The built-in Node.js bootstrap (stdlib only).
const NODE_BOOTSTRAP: &str = include_str!("bootstrap/bootstrap.js");

/// The `PATH` a function sees: fixed, and nothing from the host's.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Writes the built-in bootstraps into `dir` (`LAMBDA_RUNTIME_DIR`), unless they are
/// there already with the same text.
pub(super) fn install_bootstraps(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for (name, text) in [
        ("bootstrap.py", PYTHON_BOOTSTRAP),
        ("bootstrap.js", NODE_BOOTSTRAP),
    ] {
        let path = dir.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(text) {
            // Write beside and rename, so an instance starting meanwhile never reads half.
            let partial = dir.join(format!(".{name}.{}", std::process::id()));
            fs::write(&partial, text)?;
            fs::rename(&partial, &path)?;
        }
    }
    Ok(())
}

/// What one instance is started with.
pub(super) struct Launch<'a> {
    pub config: &'a ProcessConfig,
    pub runtime_dir: &'a Path,
    pub spec: &'a FunctionSpec,
    pub root: &'a Path,
    pub runtime: ProcessRuntime,
    pub handler: &'a str,
    /// `AWS_LAMBDA_RUNTIME_API`.
    pub api_address: &'a str,
    /// The instance's private writable directory (`HOME`, `TMPDIR`).
    pub private_dir: &'a Path,
    pub log_stream: &'a str,
}

impl Launch<'_> {
    /// The command, with a clean environment, the code root as working directory, and its
    /// own process group; output and memory are the caller's to attach.
    pub fn command(&self) -> Command {
        let mut command = match self.runtime {
            ProcessRuntime::Provided => Command::new(self.root.join("bootstrap")),
            ProcessRuntime::Python3 => {
                let mut c = Command::new(&self.config.python);
                // -S: no site-packages scan at start (it costs ~30 ms with a big one); the
                // bootstrap adds them only when the handler's imports need them. -B: no
                // bytecode files written into the code root.
                c.arg("-S")
                    .arg("-B")
                    .arg(self.runtime_dir.join("bootstrap.py"));
                c
            }
            ProcessRuntime::Nodejs => {
                let mut c = Command::new(&self.config.node);
                // V8 stops at its own heap limit with a clear message before the memory cap
                // fails an allocation somewhere less legible.
                let heap_mb = (self.spec.memory_mb * 3 / 4).max(16);
                c.arg(format!("--max-old-space-size={heap_mb}"))
                    .arg(self.runtime_dir.join("bootstrap.js"));
                c
            }
        };
        command
            .env_clear()
            .envs(self.environment())
            .current_dir(self.root)
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// The process's whole environment: a fixed base, the function's variables, then
    /// Lambda's reserved ones (which a function's variables cannot override).
    pub fn environment(&self) -> Vec<(String, OsString)> {
        let spec = self.spec;
        let mut env: Vec<(String, OsString)> = vec![
            ("PATH".into(), PATH.into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("TZ".into(), ":UTC".into()),
        ];
        env.extend(
            spec.environment
                .iter()
                .map(|(k, v)| (k.clone(), OsString::from(v))),
        );
        let execution_env = match self.runtime {
            ProcessRuntime::Python3 => "AWS_Lambda_python3",
            ProcessRuntime::Nodejs => "AWS_Lambda_nodejs",
            ProcessRuntime::Provided => "AWS_Lambda_provided",
        };
        let mut reserved: Vec<(&str, OsString)> = vec![
            ("AWS_LAMBDA_RUNTIME_API", self.api_address.into()),
            ("AWS_LAMBDA_FUNCTION_NAME", spec.name.as_str().into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", spec.version.as_str().into()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string().into(),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name).into(),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", self.log_stream.into()),
            ("AWS_REGION", spec.region.as_str().into()),
            ("AWS_DEFAULT_REGION", spec.region.as_str().into()),
            ("AWS_EXECUTION_ENV", execution_env.into()),
            ("_HANDLER", self.handler.into()),
            ("LAMBDA_TASK_ROOT", self.root.into()),
            ("LAMBDA_RUNTIME_DIR", self.runtime_dir.into()),
            ("HOME", self.private_dir.into()),
            ("TMPDIR", self.private_dir.into()),
        ];
        if self.runtime == ProcessRuntime::Python3 {
            reserved.push(("PYTHONUNBUFFERED", "1".into()));
        }
        for (name, value) in reserved {
            env.retain(|(k, _)| k != name);
            env.push((name.to_owned(), value));
        }
        env
    }
}

/// The code root, runtime and handler of a process function, or `None` for other code.
pub(super) fn process_code(spec: &FunctionSpec) -> Option<(&Path, ProcessRuntime, &str)> {
    match &spec.code {
        Code::Process {
            root,
            runtime,
            handler,
        } => Some((root.as_path(), *runtime, handler.as_str())),
        Code::Wasm { .. } => None,
    }
}

/// Runs an interpreter once to ask for its real path (a pyenv or asdf shim would otherwise
/// cost a shell script and ~50 ms on every cold start).
pub(super) fn ask_executable(command: &str, args: &[&str]) -> io::Result<PathBuf> {
    let out = std::process::Command::new(command)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || path.is_empty() {
        return Err(io::Error::other(format!(
            "`{command}` did not say where its executable is ({})",
            out.status
        )));
    }
    Ok(PathBuf::from(path))
}
