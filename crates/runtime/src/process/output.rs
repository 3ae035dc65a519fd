//! What an instance writes to stdout and stderr.
//!
//! Both go into one pipe, so their lines keep the order they were written in, and a task
//! reads it all the time (a full pipe would stall the process). What arrives while an
//! invocation runs is that invocation's log, up to the host's limit; the last few KiB of
//! everything are kept as the tail that init and exit errors quote.
//!
//! The frame is exact, with no sleeping: a runtime writes its output before it posts its
//! answer, and a write to a pipe is in the kernel's buffer when the call returns. So once
//! the answer has arrived, [`Output::sync`] drains whatever the pipe holds, and the
//! invocation's output is complete. (Runtimes must not buffer their output in user space;
//! the Python bootstrap runs unbuffered, Node.js writes to pipes synchronously, and Rust's
//! stdout flushes at each newline.)

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How much of the output the tail keeps.
const TAIL_BYTES: usize = 4096;

/// Reads an instance's output pipe; dropping it stops the reader.
pub(super) struct Output {
    captured: Arc<Mutex<Captured>>,
    sync: mpsc::Sender<oneshot::Sender<()>>,
    reader: JoinHandle<()>,
}

impl Drop for Output {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct Captured {
    /// The running invocation's output, while one runs.
    invocation: Option<Vec<u8>>,
    limit: usize,
    truncated: bool,
    tail: VecDeque<u8>,
}

impl Captured {
    fn push(&mut self, bytes: &[u8]) {
        if let Some(log) = &mut self.invocation {
            let room = self.limit.saturating_sub(log.len());
            log.extend_from_slice(&bytes[..bytes.len().min(room)]);
            self.truncated |= bytes.len() > room;
        }
        let keep = bytes.len().min(TAIL_BYTES);
        self.tail.extend(&bytes[bytes.len() - keep..]);
        let excess = self.tail.len().saturating_sub(TAIL_BYTES);
        self.tail.drain(..excess);
    }
}

impl Output {
    /// Starts reading `pipe`, keeping at most `limit` bytes of each invocation's output.
    pub fn start(pipe: pipe::Receiver, limit: usize) -> Output {
        let captured = Arc::new(Mutex::new(Captured {
            invocation: None,
            limit,
            truncated: false,
            tail: VecDeque::with_capacity(TAIL_BYTES),
        }));
        let (sync, sync_rx) = mpsc::channel(4);
        let reader = tokio::spawn(read(pipe, Arc::clone(&captured), sync_rx));
        Output {
            captured,
            sync,
            reader,
        }
    }

    fn captured(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.captured.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once everything written to the pipe before the call has been read.
    pub async fn sync(&self) {
        let (ack, acked) = oneshot::channel();
        if self.sync.send(ack).await.is_ok() {
            let _ = acked.await;
        }
    }

    /// Starts an invocation's log; earlier output goes only to the tail.
    pub async fn begin(&self) {
        self.sync().await;
        let mut captured = self.captured();
        captured.invocation = Some(Vec::new());
        captured.truncated = false;
    }

    /// Ends the invocation's log and returns it.
    pub async fn finish(&self) -> String {
        self.sync().await;
        let mut captured = self.captured();
        let log = captured.invocation.take().unwrap_or_default();
        let mut text = String::from_utf8_lossy(&log).into_owned();
        if captured.truncated {
            text.push_str("\n[log truncated]\n");
        }
        text
    }

    /// The last few KiB of output, for an error message.
    pub async fn tail(&self) -> String {
        self.sync().await;
        let captured = self.captured();
        let (a, b) = captured.tail.as_slices();
        String::from_utf8_lossy(&[a, b].concat()).trim().to_owned()
    }
}

async fn read(
    pipe: pipe::Receiver,
    captured: Arc<Mutex<Captured>>,
    mut sync: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let mut buf = vec![0; 16 * 1024];
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            request = sync.recv() => {
                let Some(ack) = request else { return };
                if open {
                    open = drain(&pipe, &mut buf, &captured);
                }
                let _ = ack.send(());
            }
            ready = pipe.readable(), if open => {
                open = ready.is_ok() && drain(&pipe, &mut buf, &captured);
            }
        }
    }
}

/// Reads until the pipe is empty; false once it is closed (every writer has exited).
fn drain(pipe: &pipe::Receiver, buf: &mut [u8], captured: &Mutex<Captured>) -> bool {
    loop {
        match pipe.try_read(buf) {
            Ok(0) => return false,
            Ok(n) => captured
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_keeps_its_limit_and_the_tail_its_last_bytes() {
        let mut c = Captured {
            invocation: Some(Vec::new()),
            limit: 5,
            truncated: false,
            tail: VecDeque::new(),
        };
        c.push(b"abc");
        c.push(b"defg");
        assert_eq!(c.invocation.as_deref(), Some(&b"abcde"[..]));
        assert!(c.truncated);
        c.push(&vec![b'x'; TAIL_BYTES + 10]);
        assert_eq!(c.tail.len(), TAIL_BYTES);
        assert!(c.tail.iter().all(|&b| b == b'x'));
    }
}
