//! One running instance: its process, Runtime API server, output and memory cap, and the
//! invocations it runs one at a time.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::api::{Delivery, RuntimeApi, RuntimeEvent};
use super::launch::{Launch, process_code};
use super::memory::{InstanceMemory, looks_out_of_memory};
use super::output::Output;
use super::{ACCOUNT_ID, Host};
use crate::{FunctionError, FunctionSpec, Invocation, InvokeError, Outcome, Payload, Reply, apigw};

/// How long a stop waits for a killed process to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// One process speaking the Runtime API, started by [`super::ProcessHost::start`].
///
/// It runs one invocation at a time (`invoke` takes `&mut self`). Once its process has
/// exited or been killed (timeout, out of memory) it is dead for good: [`is_alive`] says
/// so, and the pool should [`stop`] it and start another. Dropping it kills the process
/// group and removes its private directory too, without waiting.
///
/// [`is_alive`]: ProcessInstance::is_alive
/// [`stop`]: ProcessInstance::stop
pub struct ProcessInstance {
    id: String,
    function_arn: String,
    memory_mb: u32,
    api: RuntimeApi,
    output: Output,
    process: Process,
    memory: InstanceMemory,
    private_dir: PathBuf,
    init_duration: Duration,
    /// Killed by us (timeout, out of memory, an init error after start).
    killed: bool,
    /// `stop` has cleaned up; `Drop` has nothing left to do.
    stopped: bool,
}

impl std::fmt::Debug for ProcessInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessInstance")
            .field("id", &self.id)
            .field("pid", &self.process.pid)
            .field("alive", &self.is_alive())
            .finish_non_exhaustive()
    }
}

impl ProcessInstance {
    pub(super) async fn start(
        host: Arc<Host>,
        id: String,
        spec: &FunctionSpec,
    ) -> Result<ProcessInstance, InvokeError> {
        let started = Instant::now();
        let Some((root, runtime, handler)) = process_code(spec) else {
            return Err(InvokeError::Service(format!(
                "{} is not a process function",
                spec.key()
            )));
        };
        let service = |what: &str, e: std::io::Error| {
            InvokeError::Service(format!(
                "cannot start an instance of {}: {what}: {e}",
                spec.key()
            ))
        };
        let root = std::path::absolute(root).map_err(|e| service("code root", e))?;
        let private_dir = host.instances_dir.join(&id);
        let tmp = private_dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| service("private directory", e))?;
        // From here on, `instance.shutdown()` cleans up whatever fails.
        let api = RuntimeApi::bind()
            .await
            .map_err(|e| service("Runtime API", e))?;
        let memory = host
            .memory
            .instance(&id, spec.memory_mb, runtime)
            .map_err(|e| service("memory cap", e))?;
        let (pipe_writer, pipe_reader) =
            tokio::net::unix::pipe::pipe().map_err(|e| service("output pipe", e))?;
        let stdout = pipe_writer
            .into_blocking_fd()
            .map_err(|e| service("output pipe", e))?;
        let stderr = stdout.try_clone().map_err(|e| service("output pipe", e))?;
        let log_stream = log_stream_name(&spec.version, &id);
        let launch = Launch {
            config: &host.config,
            runtime_dir: &host.runtime_dir,
            spec,
            root: &root,
            runtime,
            handler,
            api_address: &api.address,
            private_dir: &tmp,
            log_stream: &log_stream,
        };
        let mut command = launch.command();
        command
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        memory.apply(&mut command);
        let spawned = command.spawn();
        // The command holds our copies of the pipe's write end; the reader sees the end of
        // the output only once every copy is closed.
        drop(command);
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                memory.remove().await;
                let _ = tokio::fs::remove_dir_all(&private_dir).await;
                return Err(InvokeError::Init {
                    error_type: "Runtime.InvalidEntrypoint".to_owned(),
                    message: format!("cannot start the runtime of {}: {e}", spec.key()),
                });
            }
        };
        let mut instance = ProcessInstance {
            function_arn: function_arn(spec),
            memory_mb: spec.memory_mb,
            output: Output::start(pipe_reader, host.config.log_limit),
            process: Process::watch(child),
            api,
            memory,
            private_dir,
            init_duration: Duration::ZERO,
            killed: false,
            stopped: false,
            id,
        };
        match instance.until_ready(spec.timeout).await {
            Ok(()) => {
                instance.init_duration = started.elapsed();
                tracing::debug!(instance = %instance.id, function = %spec.key(), pid = instance.pid(), init = ?instance.init_duration, "instance ready");
                Ok(instance)
            }
            Err(e) => {
                instance.shutdown().await;
                Err(e)
            }
        }
    }

    /// Waits for the runtime's first `/next`.
    async fn until_ready(&mut self, timeout: Duration) -> Result<(), InvokeError> {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                biased;
                event = self.api.events.recv() => match event {
                    Some(RuntimeEvent::Ready) => return Ok(()),
                    Some(RuntimeEvent::InitError(error)) => {
                        self.kill();
                        let tail = self.output.tail().await;
                        return Err(InvokeError::Init {
                            error_type: error.error_type,
                            message: with_tail(error.message, &tail),
                        });
                    }
                    // Nothing was handed out, so the API accepted no answers.
                    Some(_) => {}
                    None => return Err(InvokeError::Service("the Runtime API stopped".into())),
                },
                status = self.process.exited() => {
                    let tail = self.output.tail().await;
                    let (error_type, what) = self.exit_cause(status, &tail);
                    return Err(InvokeError::Init {
                        error_type: error_type.to_owned(),
                        message: with_tail(format!("{what} before asking for an invocation"), &tail),
                    });
                }
                () = &mut deadline => {
                    self.kill();
                    let tail = self.output.tail().await;
                    return Err(InvokeError::Init {
                        error_type: "Sandbox.Timedout".to_owned(),
                        message: with_tail(
                            format!(
                                "the runtime did not ask for an invocation within {:.2} seconds",
                                timeout.as_secs_f64()
                            ),
                            &tail,
                        ),
                    });
                }
            }
        }
    }

    /// Runs one invocation: hands the event out on `/next` and waits for the answer, the
    /// process's exit or `spec.timeout`. On a timeout the process group is killed and the
    /// result is `Sandbox.Timedout`; the instance is then dead. `cold_start` is left false:
    /// whether the caller waited for this instance is the pool's to say.
    pub async fn invoke(&mut self, spec: &FunctionSpec, invocation: Invocation) -> Outcome {
        let Invocation {
            request_id,
            payload,
            client_context,
            trace_id,
        } = invocation;
        if !self.is_alive() {
            return Outcome {
                result: Err(FunctionError::platform(
                    "Runtime.ExitError",
                    "the instance is no longer running",
                )),
                logs: String::new(),
                cold_start: false,
                duration: Duration::ZERO,
            };
        }
        let (event, http) = match payload {
            Payload::Event { body, .. } => (body, false),
            Payload::Http(request) => {
                let event =
                    apigw::request_event(&request, ACCOUNT_ID, &request_id, SystemTime::now());
                (Bytes::from(event.to_string()), true)
            }
        };
        let delivery = Delivery {
            request_id: request_id.clone(),
            deadline_ms: epoch_ms(SystemTime::now() + spec.timeout),
            function_arn: self.function_arn.clone(),
            trace_id,
            client_context: client_context.map(|c| decode_client_context(&c)),
            event,
        };
        self.output.begin().await;
        let started = Instant::now();
        let answer = match self.api.deliveries.send(delivery).await {
            Ok(()) => self.answer(&request_id, spec.timeout).await,
            Err(_) => Err(FunctionError::platform(
                "Runtime.ExitError",
                "the Runtime API stopped",
            )),
        };
        let duration = started.elapsed();
        let logs = self.output.finish().await;
        let result = answer.map(|body| {
            if http {
                Reply::Http(apigw::response(&body))
            } else {
                Reply::Event(body)
            }
        });
        Outcome {
            result,
            logs,
            cold_start: false,
            duration,
        }
    }

    async fn answer(
        &mut self,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Bytes, FunctionError> {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                biased;
                event = self.api.events.recv() => match event {
                    Some(RuntimeEvent::Response { request_id: id, body }) if id == request_id => {
                        return Ok(body);
                    }
                    Some(RuntimeEvent::Error { request_id: id, error }) if id == request_id => {
                        // Under RLIMIT_DATA, Python reports the cap as a MemoryError; its heap
                        // is suspect afterwards, so the instance goes.
                        if error.error_type == "MemoryError" {
                            self.kill();
                            return Err(self.out_of_memory());
                        }
                        return Err(error);
                    }
                    Some(RuntimeEvent::InitError(error)) => {
                        // A runtime that reports an init error after starting is broken.
                        self.kill();
                        return Err(error);
                    }
                    Some(_) => {}
                    None => {
                        return Err(FunctionError::platform(
                            "Runtime.ExitError",
                            "the Runtime API stopped",
                        ));
                    }
                },
                status = self.process.exited() => {
                    let tail = self.output.tail().await;
                    let (error_type, what) = self.exit_cause(status, &tail);
                    if error_type == "Runtime.OutOfMemory" {
                        return Err(self.out_of_memory());
                    }
                    return Err(FunctionError::platform(error_type, with_tail(what, &tail)));
                }
                () = &mut deadline => {
                    self.kill();
                    // Reaped before returning, so that `is_alive` is false at once.
                    let _ = tokio::time::timeout(REAP_WAIT, self.process.exited()).await;
                    return Err(FunctionError::platform(
                        "Sandbox.Timedout",
                        format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
                    ));
                }
            }
        }
    }

    /// Whether the process still runs and has not been killed.
    pub fn is_alive(&self) -> bool {
        !self.killed && !self.process.has_exited()
    }

    /// Kills the process group, waits for it, and removes the instance's private directory
    /// (and cgroup).
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.process.pid
    }

    /// The instance's id, unique on this host (its private directory's name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// From spawning the process to its first `/next`.
    pub fn init_duration(&self) -> Duration {
        self.init_duration
    }

    async fn shutdown(&mut self) {
        self.kill();
        if tokio::time::timeout(REAP_WAIT, self.process.exited())
            .await
            .is_err()
        {
            tracing::warn!(instance = %self.id, pid = self.pid(), "a killed instance was not reaped in time");
        }
        self.memory.remove().await;
        if let Err(e) = tokio::fs::remove_dir_all(&self.private_dir).await {
            tracing::warn!(instance = %self.id, dir = %self.private_dir.display(), "cannot remove an instance's directory: {e}");
        }
        self.stopped = true;
    }

    fn kill(&mut self) {
        self.killed = true;
        self.process.kill();
    }

    /// The error type and a sentence for a process that exited by itself.
    fn exit_cause(&self, status: ExitStatus, tail: &str) -> (&'static str, String) {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("status {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            _ => status.to_string(),
        };
        let error_type = if self.memory.oom_killed() || looks_out_of_memory(tail) {
            "Runtime.OutOfMemory"
        } else {
            "Runtime.ExitError"
        };
        (error_type, format!("Runtime exited with {how}"))
    }

    fn out_of_memory(&self) -> FunctionError {
        FunctionError::platform(
            "Runtime.OutOfMemory",
            format!(
                "Runtime exited: the function used more than its {} MB of memory",
                self.memory_mb
            ),
        )
    }
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        if !self.stopped {
            self.process.kill();
            let _ = std::fs::remove_dir_all(&self.private_dir);
        }
    }
}

/// The process, watched by a task that reaps it.
struct Process {
    pid: u32,
    exit: watch::Receiver<Option<ExitStatus>>,
    /// Set once the leader is reaped: its pid may be reused, so the group is not signalled
    /// again.
    reaped: Arc<AtomicBool>,
    waiter: JoinHandle<()>,
}

impl Process {
    fn watch(mut child: Child) -> Process {
        let pid = child.id().unwrap_or(0);
        let (tx, exit) = watch::channel(None);
        let reaped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&reaped);
        let waiter = tokio::spawn(async move {
            let status = child.wait().await;
            // Whatever the leader left behind in its group goes with it. The group's id
            // stays taken while any member lives, so this cannot hit a stranger, short of
            // the pid being reused within these microseconds.
            kill_group(pid);
            flag.store(true, Ordering::SeqCst);
            let status = status.unwrap_or_else(|_| ExitStatus::from_raw(libc::SIGKILL));
            let _ = tx.send(Some(status));
        });
        Process {
            pid,
            exit,
            reaped,
            waiter,
        }
    }

    fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Resolves when the process has exited (at once if it has).
    async fn exited(&mut self) -> ExitStatus {
        match self.exit.wait_for(Option::is_some).await {
            Ok(status) => status.unwrap_or_else(|| ExitStatus::from_raw(libc::SIGKILL)),
            // The waiter is gone (the runtime is shutting down): treat as killed.
            Err(_) => ExitStatus::from_raw(libc::SIGKILL),
        }
    }

    fn kill(&self) {
        if !self.reaped.load(Ordering::SeqCst) {
            kill_group(self.pid);
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The waiter must not outlive the instance; the child has `kill_on_drop`.
        if !self.reaped.load(Ordering::SeqCst) {
            kill_group(self.pid);
        }
        self.waiter.abort();
    }
}

/// Sends SIGKILL to a process group.
// SAFETY: kill(2) only sends a signal; no memory is shared with the callee. The group id is
// checked to be a real one: `kill(0)` and `kill(-1)` would signal our own group or every
// process we may signal.
#[allow(unsafe_code)]
fn kill_group(pgid: u32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid > 1 {
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

fn with_tail(message: String, tail: &str) -> String {
    if tail.is_empty() {
        message
    } else {
        format!("{message}\n{tail}")
    }
}

fn function_arn(spec: &FunctionSpec) -> String {
    let mut arn = format!(
        "arn:aws:lambda:{}:{ACCOUNT_ID}:function:{}",
        spec.region, spec.name
    );
    if spec.version != "$LATEST" {
        arn.push(':');
        arn.push_str(&spec.version);
    }
    arn
}

/// `2026/05/09/[$LATEST]<hex>`, like Lambda's.
fn log_stream_name(version: &str, instance_id: &str) -> String {
    let days = (epoch_ms(SystemTime::now()) / 86_400_000) as i64;
    let (y, m, d) = apigw::civil_from_days(days);
    let hex: String = instance_id.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{y:04}/{m:02}/{d:02}/[{version}]{hex}")
}

fn epoch_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The Invoke API's client context is base64 JSON; runtimes get the JSON.
fn decode_client_context(encoded: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| encoded.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_context_is_decoded_when_it_is_base64() {
        assert_eq!(decode_client_context("eyJhIjoxfQ=="), r#"{"a":1}"#);
        assert_eq!(decode_client_context("{not base64"), "{not base64");
    }

    #[test]
    fn kill_group_never_signals_every_process() {
        // Would kill this test process's group (or everything) if not guarded.
        kill_group(0);
        kill_group(1);
        kill_group(u32::MAX);
    }
}
