//! The WebAssembly runtime's latencies on the test guest's `GET /`:
//!
//! - compile: `load` with an empty artifact cache;
//! - cold start: `load` of a version already compiled (its artifact mapped from the cache)
//!   plus its first invocation, on a fresh `WasmComponent`;
//! - warm: one invocation on a loaded component, and the host's share of it (the total less
//!   the time from the handler's call to its return);
//! - throughput: invocations per second with 64 in flight.
//!
//! `cargo bench -p cirrus-runtime --bench wasm`; `CIRRUS_BENCH_N` scales the iterations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cirrus_runtime::testing::build_guest;
use cirrus_runtime::wasm::{WasmConfig, WasmRuntime};
use cirrus_runtime::{Code, FunctionSpec, HttpRequest, Invocation, Payload, Reply, Scaling};
use sha2::{Digest, Sha256};

fn main() {
    let scale: usize = std::env::var("CIRRUS_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let bytes = std::fs::read(build_guest()).expect("the guest builds");
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let spec = spec(&digest, &bytes);
    let cache = std::env::temp_dir().join(format!("cirrus-wasm-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "guest: {} KiB component; {} cores",
        bytes.len() / 1024,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Compile: a fresh cache directory each time.
    let mut compile = Vec::new();
    for i in 0..5 {
        let runtime = WasmRuntime::new(WasmConfig {
            max_instances: 16,
            ..WasmConfig::new(cache.join(format!("compile-{i}")))
        })
        .unwrap();
        let started = Instant::now();
        runtime.load(&digest, &bytes).unwrap();
        compile.push(started.elapsed());
    }
    report("compile (load, empty cache)", &mut compile);

    let runtime = WasmRuntime::new(WasmConfig::new(cache.join("shared"))).unwrap();
    runtime.precompile(&digest, &bytes).unwrap();

    // Cold start: load from the artifact, then the first invocation.
    let (mut load, mut first, mut cold) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..300 * scale {
        let started = Instant::now();
        let component = runtime.load(&digest, &bytes).unwrap();
        let loaded = started.elapsed();
        let outcome = tokio.block_on(component.invoke(&spec, get()));
        let total = started.elapsed();
        assert!(matches!(outcome.result, Ok(Reply::Http(_))));
        load.push(loaded);
        first.push(total - loaded);
        cold.push(total);
    }
    report("cold: load from cache", &mut load);
    report("cold: first invocation", &mut first);
    report("cold start (load + first invocation)", &mut cold);

    // Warm: invocations on one component, one at a time.
    let component = runtime.load(&digest, &bytes).unwrap();
    let (mut warm, mut guest, mut host) = (Vec::new(), Vec::new(), Vec::new());
    tokio.block_on(async {
        for _ in 0..200 {
            component.invoke(&spec, get()).await;
        }
        for _ in 0..20_000 * scale {
            let started = Instant::now();
            let outcome = component.invoke(&spec, get()).await;
            let total = started.elapsed();
            assert!(matches!(outcome.result, Ok(Reply::Http(_))));
            warm.push(total);
            guest.push(outcome.duration);
            host.push(total.saturating_sub(outcome.duration));
        }
    });
    report("warm invocation (total)", &mut warm);
    report("warm: in the guest (handler call to return)", &mut guest);
    report("warm: host overhead (total - guest)", &mut host);

    // Throughput: 64 invocations in flight.
    let invocations = 40_000 * scale;
    let spec = Arc::new(spec);
    let started = Instant::now();
    tokio.block_on(async {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers: Vec<_> = (0..64)
            .map(|_| {
                let (component, spec, next) = (component.clone(), spec.clone(), next.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < invocations {
                        let outcome = component.invoke(&spec, get()).await;
                        assert!(outcome.result.is_ok());
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
    });
    let elapsed = started.elapsed();
    println!(
        "{:<48} {:>9.0} invocations/s ({invocations} with 64 in flight)",
        "throughput",
        invocations as f64 / elapsed.as_secs_f64()
    );

    drop(component);
    drop(runtime);
    let _ = std::fs::remove_dir_all(&cache);
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what:<48} p50 {:>9.1} µs   p99 {:>9.1} µs   (n={})",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}

fn spec(digest: &str, bytes: &[u8]) -> FunctionSpec {
    FunctionSpec {
        name: "bench".into(),
        version: "1".into(),
        code: Code::Wasm {
            digest: digest.into(),
            bytes: bytes.into(),
        },
        memory_mb: 128,
        timeout: Duration::from_secs(30),
        environment: BTreeMap::from([("STAGE".into(), "bench".into())]),
        allowed_hosts: Vec::new(),
        scaling: Scaling {
            min_instances: 0,
            max_instances: 1,
            per_instance: 1000,
            idle_timeout: Duration::from_secs(60),
        },
        region: "local".into(),
    }
}

fn get() -> Invocation {
    Invocation {
        request_id: "bench".into(),
        payload: Payload::Http(HttpRequest {
            method: http::Method::GET,
            uri: http::Uri::from_static("/"),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
            route_key: "GET /".into(),
            path_parameters: BTreeMap::new(),
            source_ip: "127.0.0.1".into(),
        }),
        client_context: None,
        trace_id: None,
    }
}
