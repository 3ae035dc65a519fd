//! Durable execution benchmarks, on SQLite or PostgreSQL (run by `bench/durable/run`).
//!
//! Workloads (`--workload`):
//! - `transitions`: `--concurrency` executions loop Task → Pass → Choice forever, every task
//!   answered in process, for `--seconds`; reports durable steps/s (one commit each) and
//!   state transitions/s.
//! - `w3`: a workflow of five sequential tasks answered in process. First closed-loop
//!   throughput (executions/s with `--concurrency` clients), then open-loop latency at
//!   half that rate (p50/p99 from StartExecution to the end).
//! - `dispatch`: start-to-first-dispatch latency of single executions at low load.
//! - `sleepers`: starts `--count` executions that Wait a day, then reports memory and
//!   storage per sleeping execution, and idles for `--seconds` printing `IDLE <pid>` so
//!   that a tracer can watch (the process's own CPU time over the idle window is printed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cirrus_asl::Failure;
use cirrus_engine::registry::NewMachine;
use cirrus_engine::run::StartRequest;
use cirrus_engine::{Config, Dispatcher, Engine, TaskCall};
use cirrus_store::Store;
use cirrus_store::postgres::PostgresStore;
use cirrus_store::sqlite::{Durability, SqliteStore};
use serde_json::{Value, json};

#[derive(Default)]
struct Instant0 {
    calls: AtomicU64,
    first: Mutex<HashMap<String, Instant>>,
    record_first: bool,
}

#[async_trait]
impl Dispatcher for Instant0 {
    async fn invoke_function(&self, call: &TaskCall) -> Result<Value, Failure> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.record_first {
            self.first
                .lock()
                .unwrap()
                .entry(call.execution_arn.clone())
                .or_insert_with(Instant::now);
        }
        Ok(call.payload.clone())
    }
}

struct Args {
    backend: String,
    url: String,
    data: String,
    workload: String,
    concurrency: usize,
    seconds: u64,
    count: usize,
    fast: bool,
}

fn args() -> Args {
    let mut a = Args {
        backend: "sqlite".into(),
        url: "postgres://postgres@127.0.0.1:5432/test".into(),
        data: std::env::temp_dir()
            .join(format!("cirrus-bench-{}", std::process::id()))
            .display()
            .to_string(),
        workload: "w3".into(),
        concurrency: 256,
        seconds: 10,
        count: 100_000,
        fast: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_default();
        match flag.as_str() {
            "--backend" => a.backend = value(),
            "--url" => a.url = value(),
            "--data" => a.data = value(),
            "--workload" => a.workload = value(),
            "--concurrency" => a.concurrency = value().parse().unwrap_or(a.concurrency),
            "--seconds" => a.seconds = value().parse().unwrap_or(a.seconds),
            "--count" => a.count = value().parse().unwrap_or(a.count),
            "--fast-commits" => a.fast = true,
            other => {
                eprintln!("unknown flag {other}");
                std::process::exit(2);
            }
        }
    }
    a
}

async fn open_store(a: &Args) -> Arc<dyn Store> {
    match a.backend.as_str() {
        // Not durable: for telling the engine's costs from the store's.
        "memory" => Arc::new(cirrus_store::memory::MemoryStore::new()),
        "postgres" => {
            let schema = format!("bench_{}", std::process::id());
            let (admin, conn) = tokio_postgres::connect(&a.url, tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL");
            tokio::spawn(conn);
            admin
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
                ))
                .await
                .expect("schema");
            let url = format!("{}?options=-csearch_path%3D{schema}", a.url);
            Arc::new(PostgresStore::connect(&url).await.expect("connect"))
        }
        _ => {
            let _ = std::fs::remove_dir_all(&a.data);
            std::fs::create_dir_all(&a.data).expect("data dir");
            let durability = if a.fast {
                Durability::Normal
            } else {
                Durability::Full
            };
            Arc::new(
                SqliteStore::open(&std::path::Path::new(&a.data).join("bench.db"), durability)
                    .expect("sqlite"),
            )
        }
    }
}

async fn machine(e: &Engine, name: &str, definition: Value) -> String {
    e.create_machine(NewMachine {
        name: name.into(),
        definition: definition.to_string(),
        role_arn: "arn:aws:iam::000000000000:role/bench".into(),
        ..Default::default()
    })
    .await
    .expect("machine")
    .0
    .arn
}

const FUNCTION: &str = "arn:aws:lambda:us-east-1:000000000000:function:noop";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() {
    let a = args();
    let store = open_store(&a).await;
    let dispatcher = Arc::new(Instant0 {
        record_first: a.workload == "dispatch",
        ..Default::default()
    });
    let engine = Engine::start(store.clone(), dispatcher.clone(), Config::default())
        .await
        .expect("engine");
    let label = format!(
        "{}{}",
        a.backend,
        if a.fast && a.backend == "sqlite" {
            " (fast commits)"
        } else {
            ""
        }
    );
    match a.workload.as_str() {
        "transitions" => transitions(&engine, &dispatcher, &a, &label).await,
        "w3" => w3(&engine, &a, &label).await,
        "dispatch" => first_dispatch(&engine, &dispatcher, &label).await,
        "sleepers" => sleepers(&engine, &store, &a, &label).await,
        other => eprintln!("unknown workload {other}"),
    }
    // Leave nothing behind for the next run to flush or page through.
    match a.backend.as_str() {
        "sqlite" => {
            let _ = std::fs::remove_dir_all(&a.data);
        }
        "postgres" => {
            if let Ok((c, conn)) = tokio_postgres::connect(&a.url, tokio_postgres::NoTls).await {
                tokio::spawn(conn);
                let schema = format!("bench_{}", std::process::id());
                let _ = c
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await;
            }
        }
        _ => {}
    }
    std::process::exit(0);
}

async fn transitions(engine: &Engine, d: &Instant0, a: &Args, label: &str) {
    let arn = machine(
        engine,
        "loop",
        json!({"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": FUNCTION, "Next": "Count"},
            "Count": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "More?"},
            "More?": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 100000000, "Next": "Work"}], "Default": "Done"},
            "Done": {"Type": "Succeed"}}}),
    )
    .await;
    for i in 0..a.concurrency {
        engine
            .start_execution(StartRequest::new(
                &arn,
                Some(format!("x{i}")),
                Some(r#"{"i":0}"#.into()),
            ))
            .await
            .expect("start");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = d.calls.load(Ordering::Relaxed);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let steps = (d.calls.load(Ordering::Relaxed) - before) as f64 / t.elapsed().as_secs_f64();
    println!(
        "transitions {label}: {} concurrent executions: {:.0} durable steps/s (one commit each), {:.0} state transitions/s",
        a.concurrency,
        steps,
        steps * 3.0
    );
}

fn w3_definition() -> Value {
    let mut states = serde_json::Map::new();
    for i in 1..=5 {
        let mut s = json!({"Type": "Task", "Resource": FUNCTION});
        if i < 5 {
            s["Next"] = json!(format!("T{}", i + 1));
        } else {
            s["End"] = json!(true);
        }
        states.insert(format!("T{i}"), s);
    }
    json!({"StartAt": "T1", "States": states})
}

async fn w3(engine: &Engine, a: &Args, label: &str) {
    let arn = machine(engine, "w3", w3_definition()).await;
    // Closed loop: throughput.
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..a.concurrency {
        let (engine, arn, done, stop) = (engine.clone(), arn.clone(), done.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let x = engine
                    .start_execution(StartRequest::new(
                        &arn,
                        Some(format!("c{c}-{n}")),
                        Some("{}".into()),
                    ))
                    .await
                    .expect("start");
                let end = engine
                    .wait(&x.arn, Duration::from_secs(60))
                    .await
                    .expect("wait");
                assert_eq!(end.status, "SUCCEEDED");
                done.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = done.load(Ordering::Relaxed);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let rate = (done.load(Ordering::Relaxed) - before) as f64 / t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    println!(
        "w3 {label}: {:.0} executions/s ({} clients; {:.0} durable steps/s)",
        rate,
        a.concurrency,
        rate * 6.0
    );
    // Open loop at half that rate: latency.
    let target = (rate / 2.0).max(1.0);
    let interval = Duration::from_secs_f64(1.0 / target);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = (target * a.seconds as f64) as usize;
    let mut handles = Vec::with_capacity(total);
    for i in 0..total {
        tick.tick().await;
        let (engine, arn, latencies) = (engine.clone(), arn.clone(), latencies.clone());
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let x = engine
                .start_execution(StartRequest::new(
                    &arn,
                    Some(format!("open-{i}")),
                    Some("{}".into()),
                ))
                .await
                .expect("start");
            engine
                .wait(&x.arn, Duration::from_secs(60))
                .await
                .expect("wait");
            latencies
                .lock()
                .unwrap()
                .push(t.elapsed().as_secs_f64() * 1000.0);
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(|a, b| a.total_cmp(b));
    println!(
        "w3 {label}: at {:.0} executions/s (half load), end-to-end latency p50 {:.2} ms, p99 {:.2} ms ({} executions)",
        target,
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.len()
    );
}

async fn first_dispatch(engine: &Engine, d: &Instant0, label: &str) {
    let arn = machine(engine, "first", w3_definition()).await;
    let mut samples = Vec::new();
    for i in 0..2000 {
        let t = Instant::now();
        let x = engine
            .start_execution(StartRequest::new(
                &arn,
                Some(format!("d{i}")),
                Some("{}".into()),
            ))
            .await
            .expect("start");
        let first = loop {
            if let Some(at) = d.first.lock().unwrap().get(&x.arn) {
                break *at;
            }
            tokio::task::yield_now().await;
        };
        samples.push(first.duration_since(t).as_secs_f64() * 1000.0);
        engine
            .wait(&x.arn, Duration::from_secs(10))
            .await
            .expect("wait");
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    println!(
        "dispatch {label}: start-to-first-dispatch p50 {:.3} ms, p99 {:.3} ms ({} executions, one at a time)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.len()
    );
}

async fn storage_bytes(store: &Arc<dyn Store>, a: &Args) -> u64 {
    match a.backend.as_str() {
        "postgres" => {
            let (c, conn) = tokio_postgres::connect(&a.url, tokio_postgres::NoTls)
                .await
                .expect("PostgreSQL");
            tokio::spawn(conn);
            let schema = format!("bench_{}", std::process::id());
            let row = c
                .query_one(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
                    &[&schema],
                )
                .await
                .expect("size");
            row.get::<_, i64>(0) as u64
        }
        _ => {
            let _ = store;
            ["bench.db", "bench.db-wal"]
                .iter()
                .map(|f| {
                    std::fs::metadata(std::path::Path::new(&a.data).join(f))
                        .map(|m| m.len())
                        .unwrap_or(0)
                })
                .sum()
        }
    }
}

async fn sleepers(engine: &Engine, store: &Arc<dyn Store>, a: &Args, label: &str) {
    let arn = machine(
        engine,
        "sleepy",
        json!({"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 86400, "End": true}}}),
    )
    .await;
    let rss0 = rss_kib();
    let bytes0 = storage_bytes(store, a).await;
    let t = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..a.concurrency.min(512) {
        let (engine, arn, next) = (engine.clone(), arn.clone(), next.clone());
        let count = a.count as u64;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                engine
                    .start_execution(StartRequest::new(
                        &arn,
                        Some(format!("s{i}")),
                        Some(r#"{"order":"A-1"}"#.into()),
                    ))
                    .await
                    .expect("start");
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let started = t.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_kib();
    let bytes1 = storage_bytes(store, a).await;
    let n = a.count as f64;
    println!(
        "sleepers {label}: {} executions started in {:.1} s ({:.0}/s); memory {:.0} bytes/execution (RSS {} -> {} MiB); storage {:.0} bytes/execution; executions in memory {}, timers in memory {}",
        a.count,
        started.as_secs_f64(),
        n / started.as_secs_f64(),
        (rss1.saturating_sub(rss0) * 1024) as f64 / n,
        rss0 / 1024,
        rss1 / 1024,
        (bytes1.saturating_sub(bytes0)) as f64 / n,
        engine.executions_in_memory(),
        engine.timers_in_memory(),
    );
    let cpu0 = cpu_seconds();
    println!("IDLE {}", std::process::id());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let cpu = cpu_seconds() - cpu0;
    println!(
        "idle {label}: {:.3} s of CPU in {} s idle with {} sleeping executions",
        cpu, a.seconds, a.count
    );
}
