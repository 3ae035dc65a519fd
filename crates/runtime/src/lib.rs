//! Cirrus's function runtimes. This crate owns running function code, and nothing about
//! where functions are stored or how they are called:
//!
//! - [`types`]: what a function version is ([`FunctionSpec`]), what an invocation carries
//!   and what comes back;
//! - [`wasm`]: WebAssembly components (`wasi:http/incoming-handler`) on wasmtime, compiled once
//!   per version and cached by digest, instantiated from a pooling allocator, with memory
//!   caps and CPU deadlines;
//! - [`process`]: any executable speaking the AWS Lambda Runtime API, served to each
//!   instance, plus Cirrus's built-in `python3` and `nodejs` bootstraps. A
//!   [`process::ProcessHost`] starts a [`process::ProcessInstance`] (process, Runtime API
//!   server, output pipe, memory cap); `invoke` hands one event out on `/next` and waits for
//!   the answer, the exit or the timeout;
//! - [`apigw`]: requests on HTTP routes as the API Gateway HTTP API events (format 2.0) that
//!   process functions expect, and their replies back;
//! - [`pool`]: per function version, the instances, concurrency limits, throttling, scale-up on
//!   demand and idle reaping down to zero;
//! - `testing` (feature `testing`): builds the test guest component for tests here and in
//!   the crates that use this one.

pub mod apigw;
pub mod pool;
pub mod process;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod types;
pub mod wasm;

pub use types::*;
