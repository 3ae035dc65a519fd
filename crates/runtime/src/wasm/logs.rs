//! What a guest writes to stdout and stderr during one invocation, kept in memory up to a
//! cap: writes past it are counted and dropped (never refused, so a chatty guest does not
//! fail), and the text ends with a note of how much was dropped.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How much of an invocation's output is kept.
pub const MAX_LOG_BYTES: usize = 256 * 1024;

/// The shared sink of an invocation's stdout and stderr (interleaved, as a terminal shows
/// them). Cheap to clone: clones write to the same buffer.
#[derive(Clone)]
pub(crate) struct LogSink {
    inner: Arc<Mutex<Buffer>>,
}

struct Buffer {
    bytes: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl LogSink {
    pub(crate) fn new(cap: usize) -> LogSink {
        LogSink {
            inner: Arc::new(Mutex::new(Buffer {
                bytes: Vec::new(),
                cap,
                dropped: 0,
            })),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = buffer.cap.saturating_sub(buffer.bytes.len());
        let kept = bytes.len().min(room);
        buffer.bytes.extend_from_slice(&bytes[..kept]);
        buffer.dropped += (bytes.len() - kept) as u64;
    }

    /// The text so far (invalid UTF-8 replaced), with a last line saying how many bytes
    /// were dropped, if any were.
    pub(crate) fn text(&self) -> String {
        let buffer = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::from_utf8_lossy(&buffer.bytes).into_owned();
        if buffer.dropped > 0 {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "[cirrus: log output truncated at {} bytes; {} more bytes dropped]\n",
                buffer.cap, buffer.dropped
            ));
        }
        text
    }
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogSink {
    /// Always ready: writes go to memory.
    async fn ready(&mut self) {}
}

impl OutputStream for LogSink {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_cap_is_dropped_and_noted() {
        let mut sink = LogSink::new(8);
        sink.write(Bytes::from_static(b"hello ")).unwrap();
        sink.clone().write(Bytes::from_static(b"world")).unwrap();
        assert_eq!(
            sink.text(),
            "hello wo\n[cirrus: log output truncated at 8 bytes; 3 more bytes dropped]\n"
        );
    }

    #[test]
    fn output_within_the_cap_is_kept_as_written() {
        let mut sink = LogSink::new(MAX_LOG_BYTES);
        sink.write(Bytes::from_static(b"one\n")).unwrap();
        sink.write(Bytes::from_static(b"two\n")).unwrap();
        assert_eq!(sink.text(), "one\ntwo\n");
    }
}
