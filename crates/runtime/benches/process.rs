//! Cold start (start → the runtime's first `/next`) and warm invocation round trip of
//! process functions whose handler returns at once, for Cirrus's Python and Node.js
//! bootstraps, awslambdaric and Rust's `lambda_runtime`. With a handler that does nothing,
//! the round trip is all overhead: our Runtime API and channels plus the runtime's own
//! HTTP client; the Rust client's figure is close to our side alone.
//!
//! `cargo bench -p cirrus-runtime --bench process` (needs PyPI once for the venv, and
//! builds the `lambda_runtime` fixture once).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use cirrus_runtime::process::ProcessHost;
use cirrus_runtime::{FunctionSpec, ProcessRuntime, Reply};
use support::{Scratch, code, event, percentiles, spec};

const COLD_STARTS: usize = 20;
const WARM_UP: usize = 100;
const WARM: usize = 2000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let (host, _work) = support::host();
    println!("memory cap: {}", host.memory_mechanism());
    println!(
        "{:<26} {:>12} {:>12} {:>12} {:>12}",
        "runtime", "cold p50", "cold p99", "warm p50", "warm p99"
    );

    let python = code(&[("app.py", "def handler(event, context):\n    return event\n")]);
    let spec_python = spec(ProcessRuntime::Python3, python.path(), "app.handler");
    run("python3 (built-in)", &host, &spec_python).await;

    let node = code(&[("index.js", "exports.handler = async (event) => event;\n")]);
    let spec_node = spec(ProcessRuntime::Nodejs, node.path(), "index.handler");
    run("nodejs (built-in)", &host, &spec_node).await;

    let venv = support::venv_with(&["awslambdaric"]);
    let ric = code(&[
        ("app.py", "def handler(event, context):\n    return event\n"),
        (
            "bootstrap",
            "#!/bin/sh\nexec \"$VENV/bin/python\" -m awslambdaric \"$_HANDLER\"\n",
        ),
    ]);
    let mut spec_ric = spec(ProcessRuntime::Provided, ric.path(), "app.handler");
    spec_ric
        .environment
        .insert("VENV".into(), venv.to_string_lossy().into_owned());
    run("python3 (awslambdaric)", &host, &spec_ric).await;

    let rust: Scratch = support::lambda_rust_code();
    let spec_rust = spec(ProcessRuntime::Provided, rust.path(), "unused");
    run("provided (lambda_runtime)", &host, &spec_rust).await;
}

async fn run(name: &str, host: &ProcessHost, spec: &FunctionSpec) {
    let mut cold = Vec::with_capacity(COLD_STARTS);
    for _ in 0..COLD_STARTS {
        let started = Instant::now();
        let instance = host.start(spec).await.expect("start");
        cold.push(started.elapsed());
        instance.stop().await;
    }

    let mut instance = host.start(spec).await.expect("start");
    let mut warm = Vec::with_capacity(WARM);
    for i in 0..WARM_UP + WARM {
        let started = Instant::now();
        let outcome = instance.invoke(spec, event(r#"{"n":1}"#)).await;
        let elapsed = started.elapsed();
        assert!(
            matches!(outcome.result, Ok(Reply::Event(_))),
            "{name}: {:?}",
            outcome.result
        );
        if i >= WARM_UP {
            warm.push(elapsed);
        }
    }
    instance.stop().await;

    let (cold50, cold99) = percentiles(cold);
    let (warm50, warm99) = percentiles(warm);
    println!(
        "{name:<26} {:>12} {:>12} {:>12} {:>12}",
        ms(cold50),
        ms(cold99),
        ms(warm50),
        ms(warm99)
    );
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
