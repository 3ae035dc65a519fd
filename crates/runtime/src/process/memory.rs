//! An instance's memory cap (`memory_mb`): a cgroup v2 where the machine lets us make one,
//! else `RLIMIT_DATA`. See the module doc of `process` for why.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::ProcessRuntime;

/// How the host caps its instances' memory, decided once at start.
#[derive(Debug)]
pub(super) enum MemoryCap {
    /// A cgroup (v2) of ours with the memory controller enabled for its children; each
    /// instance gets a child with `memory.max`.
    Cgroup(PathBuf),
    /// `RLIMIT_DATA` in the child.
    Rlimit,
}

impl MemoryCap {
    /// Uses cgroup v2 if the memory controller is available to the cgroup we run in and we
    /// may make a child of it with the controller enabled; otherwise rlimits.
    pub fn detect() -> MemoryCap {
        match cgroup_parent() {
            Ok(dir) => MemoryCap::Cgroup(dir),
            Err(why) => {
                tracing::debug!(%why, "no cgroup v2 memory controller; capping memory with RLIMIT_DATA");
                MemoryCap::Rlimit
            }
        }
    }

    pub fn mechanism(&self) -> &'static str {
        match self {
            MemoryCap::Cgroup(_) => "cgroup v2",
            MemoryCap::Rlimit => "RLIMIT_DATA",
        }
    }

    /// Prepares the cap of one instance.
    pub fn instance(
        &self,
        instance_id: &str,
        memory_mb: u32,
        runtime: ProcessRuntime,
    ) -> io::Result<InstanceMemory> {
        let bytes = u64::from(memory_mb.max(1)) * 1024 * 1024;
        match self {
            MemoryCap::Cgroup(parent) => {
                let dir = parent.join(instance_id);
                fs::create_dir(&dir)?;
                let cgroup = InstanceCgroup {
                    procs: OpenOptions::new()
                        .write(true)
                        .open(dir.join("cgroup.procs"))?,
                    dir,
                };
                fs::write(cgroup.dir.join("memory.max"), bytes.to_string())?;
                // Without swap the cap is the memory a function has, as on Lambda; the file
                // is missing where the kernel has no swap accounting.
                let _ = fs::write(cgroup.dir.join("memory.swap.max"), "0");
                Ok(InstanceMemory {
                    cgroup: Some(cgroup),
                    data_limit: None,
                })
            }
            MemoryCap::Rlimit => Ok(InstanceMemory {
                cgroup: None,
                // V8 commits memory in large steps and crashes (SIGSEGV, or an abort without
                // a word) when the kernel refuses one near the limit; with twice the cap as
                // room it reliably stops at its own heap limit (3/4 of the cap) instead.
                data_limit: Some(if runtime == ProcessRuntime::Nodejs {
                    bytes * 2
                } else {
                    bytes
                }),
            }),
        }
    }

    /// Removes the host's cgroup, with any instance cgroups left behind by instances that
    /// were dropped instead of stopped (empty by now, if their processes are gone).
    pub fn remove(&self) {
        if let MemoryCap::Cgroup(dir) = self {
            for child in fs::read_dir(dir).into_iter().flatten().flatten() {
                if child.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = fs::remove_dir(child.path());
                }
            }
            let _ = fs::remove_dir(dir);
        }
    }
}

/// One instance's cap.
#[derive(Debug)]
pub(super) struct InstanceMemory {
    cgroup: Option<InstanceCgroup>,
    data_limit: Option<u64>,
}

#[derive(Debug)]
struct InstanceCgroup {
    dir: PathBuf,
    /// Opened before the fork so the child only has to write to it.
    procs: File,
}

impl InstanceMemory {
    /// Makes the child enter the cgroup, or sets its rlimit, before it executes. Core
    /// dumps are off either way (a crashing function must not write its memory to disk).
    pub fn apply(&self, command: &mut Command) {
        let procs = self.cgroup.as_ref().map(|c| c.procs.as_raw_fd());
        let data = self.data_limit;
        limit_child(command, procs, data);
    }

    /// Whether the kernel's OOM killer killed a process of this instance (cgroup only;
    /// with rlimits an allocation fails instead, and [`looks_out_of_memory`] reads the
    /// process's last words).
    pub fn oom_killed(&self) -> bool {
        let Some(cgroup) = &self.cgroup else {
            return false;
        };
        fs::read_to_string(cgroup.dir.join("memory.events")).is_ok_and(|events| {
            events.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    }

    /// Removes the instance's cgroup; its processes must be gone.
    pub async fn remove(&self) {
        if let Some(cgroup) = &self.cgroup {
            // The kernel lets go of a killed process's cgroup a moment after it is reaped.
            for _ in 0..50 {
                if fs::remove_dir(&cgroup.dir).is_ok() || !cgroup.dir.exists() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            tracing::warn!(dir = %cgroup.dir.display(), "could not remove an instance's cgroup");
        }
    }
}

// SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
// calls are allowed: it makes `write` and `setrlimit` system calls on values prepared
// before the fork (an open descriptor and integers), and allocates nothing.
#[allow(unsafe_code)]
fn limit_child(command: &mut Command, cgroup_procs: Option<i32>, data_limit: Option<u64>) {
    unsafe {
        command.pre_exec(move || {
            if let Some(fd) = cgroup_procs {
                // Writing 0 moves the writing process itself.
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(bytes) = data_limit {
                let data = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_DATA, &data) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Whether a process's last output says that an allocation failed: Python's
/// `MemoryError`, V8's heap limit, C++'s `bad_alloc`, Rust's allocation failure, or
/// `ENOMEM` in words.
pub(super) fn looks_out_of_memory(tail: &str) -> bool {
    const SIGNS: [&str; 6] = [
        "MemoryError",
        "out of memory",
        "std::bad_alloc",
        "memory allocation of",
        "Cannot allocate memory",
        "Allocation failed",
    ];
    SIGNS.iter().any(|sign| tail.contains(sign))
}

/// Makes `cirrus-<pid>` under the cgroup we run in, with the memory controller enabled for
/// its children, or says why not.
fn cgroup_parent() -> Result<PathBuf, String> {
    let mount = cgroup2_mount().ok_or("no cgroup2 file system is mounted")?;
    let own = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| e.to_string())?
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        .ok_or("this process is in no cgroup v2")?;
    let base = mount.join(own.trim_start_matches('/'));
    let controllers = fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(format!(
            "the memory controller is not available in {}",
            base.display()
        ));
    }
    enable_memory(&base)?;
    let parent = base.join(format!("cirrus-{}", std::process::id()));
    if !parent.exists() {
        fs::create_dir(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    if let Err(e) = enable_memory(&parent) {
        let _ = fs::remove_dir(&parent);
        return Err(e);
    }
    Ok(parent)
}

/// Enables the memory controller for a cgroup's children. The kernel refuses when the
/// cgroup itself has processes (other than at the root), as the one we run in usually does.
fn enable_memory(dir: &Path) -> Result<(), String> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control).unwrap_or_default();
    if enabled.split_whitespace().any(|c| c == "memory") {
        return Ok(());
    }
    fs::write(&control, "+memory").map_err(|e| format!("{}: {e}", control.display()))
}

fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|line| {
        // `id parent major:minor root mount-point options ... - fstype source super-options`
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_failures_are_recognised() {
        assert!(looks_out_of_memory(
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
        ));
        assert!(looks_out_of_memory(
            "terminate called after throwing an instance of 'std::bad_alloc'"
        ));
        assert!(looks_out_of_memory(
            "memory allocation of 1048576 bytes failed"
        ));
        assert!(!looks_out_of_memory("ValueError: bad input"));
    }

    #[test]
    fn detection_never_fails() {
        // Whatever this machine offers, the host gets a mechanism.
        let cap = MemoryCap::detect();
        assert!(!cap.mechanism().is_empty());
        cap.remove();
    }
}
