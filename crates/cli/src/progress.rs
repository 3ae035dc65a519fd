//! Progress of the slow steps of a deploy: builds and uploads. On a terminal, a live line
//! per step (a spinner, the seconds so far and, for a build, the last line it printed),
//! redrawn with plain ANSI; otherwise (tests, CI) a plain line when the step starts and
//! how it ended (`building validate ... done in 12.3s`). A build's output is kept and
//! printed in full only when the build fails.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// The most of a build's last line a live line shows.
const LAST_LINE_CHARS: usize = 60;

/// One step being shown: started by [`Step::start`], ended by [`Step::finish`].
pub struct Step {
    label: String,
    started: Instant,
    last: Arc<Mutex<String>>,
    live: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Step {
    /// Shows `label` (`building validate`, `uploading validate (1.2 MB)`).
    pub fn start(label: impl Into<String>) -> Step {
        let label = label.into();
        let last = Arc::new(Mutex::new(String::new()));
        let live = if std::io::stderr().is_terminal() {
            let stop = Arc::new(AtomicBool::new(false));
            let (l, s, last) = (label.clone(), stop.clone(), last.clone());
            let started = Instant::now();
            let ticker = std::thread::spawn(move || {
                let mut frame = 0;
                while !s.load(Ordering::Relaxed) {
                    let line = last.lock().map(|g| g.clone()).unwrap_or_default();
                    let line = crate::client::shorten(&line, LAST_LINE_CHARS);
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r\x1b[2K{} {l} {:.1}s{}{line}",
                        SPINNER[frame % SPINNER.len()],
                        started.elapsed().as_secs_f64(),
                        if line.is_empty() { "" } else { "  " },
                    );
                    let _ = err.flush();
                    drop(err);
                    frame += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            Some((stop, ticker))
        } else {
            eprint!("{label} ... ");
            let _ = std::io::stderr().flush();
            None
        };
        Step {
            label,
            started: Instant::now(),
            last,
            live,
        }
    }

    /// The line a live display shows after the label (a build's latest output).
    fn note(&self, line: &str) {
        if let Ok(mut l) = self.last.lock() {
            line.trim_end().clone_into(&mut l);
        }
    }

    /// Ends the step: `done in 1.2s` or `failed after 1.2s`.
    pub fn finish(mut self, ok: bool) {
        let secs = self.started.elapsed().as_secs_f64();
        let how = if ok {
            format!("done in {secs:.1}s")
        } else {
            format!("failed after {secs:.1}s")
        };
        match self.live.take() {
            Some((stop, ticker)) => {
                stop.store(true, Ordering::Relaxed);
                let _ = ticker.join();
                eprintln!("\r\x1b[2K{} ... {how}", self.label);
            }
            None => eprintln!("{how}"),
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some((stop, ticker)) = self.live.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = ticker.join();
            eprintln!();
        }
    }
}

/// What a build printed.
pub struct BuildOutput {
    pub status: ExitStatus,
    /// Its standard output, when it is data (cargo's JSON messages) rather than talk.
    pub stdout: Vec<u8>,
    /// Everything it printed, in order, for when it fails.
    pub transcript: String,
}

impl BuildOutput {
    /// The last line the build printed (what a failure message quotes).
    pub fn last_line(&self) -> &str {
        self.transcript
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("it printed nothing")
    }
}

/// Runs a build shown as `label`. Its output is kept; the live line shows the last line
/// of it (of standard error only when `stdout_is_data`). A failed build's output is
/// printed in full.
pub fn build(label: &str, mut cmd: Command, stdout_is_data: bool) -> Result<BuildOutput> {
    let step = Step::start(label);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {label}"))?;
    let transcript = Arc::new(Mutex::new(String::new()));
    let step = Arc::new(step);
    let mut readers = Vec::new();
    let stdout_reader = child.stdout.take().map(|out| {
        let (t, s) = (transcript.clone(), step.clone());
        std::thread::spawn(move || {
            let mut data = Vec::new();
            if stdout_is_data {
                let _ = BufReader::new(out).read_to_end(&mut data);
            } else {
                follow(out, &t, &s);
            }
            data
        })
    });
    if let Some(err) = child.stderr.take() {
        let (t, s) = (transcript.clone(), step.clone());
        readers.push(std::thread::spawn(move || follow(err, &t, &s)));
    }
    let status = child
        .wait()
        .with_context(|| format!("{label}: lost the build process"))?;
    let stdout = stdout_reader
        .and_then(|r| r.join().ok())
        .unwrap_or_default();
    for r in readers {
        let _ = r.join();
    }
    let transcript = transcript.lock().map(|t| t.clone()).unwrap_or_default();
    if let Ok(step) = Arc::try_unwrap(step) {
        step.finish(status.success());
    }
    if !status.success() {
        eprint!("{transcript}");
        if !transcript.ends_with('\n') && !transcript.is_empty() {
            eprintln!();
        }
    }
    Ok(BuildOutput {
        status,
        stdout,
        transcript,
    })
}

/// Copies lines of `from` into `transcript` and the step's live line.
fn follow(from: impl Read, transcript: &Mutex<String>, step: &Step) {
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    // Cargo redraws its progress with '\r': a line ends at either.
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                if let Ok(mut t) = transcript.lock() {
                    t.push_str(&text);
                }
                if let Some(last) = text.rsplit('\r').map(str::trim).find(|l| !l.is_empty()) {
                    step.note(last);
                }
            }
        }
    }
}

/// A size as people read it: `812 B`, `12.4 KB`, `3.1 MB`.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_keeps_its_output_in_order() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; exit 3"]);
        let out = build("building test", cmd, false).unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert!(out.transcript.contains("one\n") && out.transcript.contains("two\n"));
    }

    #[test]
    fn data_on_stdout_is_kept_apart() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo '{\"a\":1}'; echo talk >&2"]);
        let out = build("building test", cmd, true).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"{\"a\":1}\n");
        assert_eq!(out.transcript, "talk\n");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(12_700), "12.4 KB");
        assert_eq!(size(3_250_000), "3.1 MB");
    }
}
