//! The pools: for every function version that has been called, its instances and the
//! limits on them.
//!
//! - **Wasm** versions keep their compiled component in memory while they are in use; each
//!   request gets a fresh instance from wasmtime's pooling allocator, so an "instance" is a
//!   request in flight and many run at once. A version idle for its `idle_timeout` drops
//!   its component (the compiled artifact stays on disk, so the next cold start only loads
//!   it).
//! - **Process** versions keep a list of warm instances, each serving one request at a time.
//!   A request takes a warm instance or starts a new one (a cold start) while the version is
//!   under `max_instances`; instances idle for `idle_timeout` are stopped down to
//!   `min_instances`, so an idle function costs nothing.
//!
//! Concurrency is limited per version (`max_instances × per_instance`): a request over that
//! waits for a free instance, up to the function's timeout. A function with reserved
//! concurrency is also limited across its versions; a request over that is throttled at
//! once ([`Overflow::Throttle`], Lambda's `TooManyRequestsException`) or waits its turn for
//! a while ([`Overflow::Wait`]), as the caller chooses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::apigw;
use crate::process::{ProcessConfig, ProcessHost, ProcessInstance};
use crate::types::*;
use crate::wasm::{WasmComponent, WasmConfig, WasmRuntime};

/// How the pools run.
#[derive(Debug, Clone)]
pub struct PoolsConfig {
    pub wasm: WasmConfig,
    pub process: ProcessConfig,
    /// How often idle instances are looked for.
    pub reap_interval: Duration,
}

/// What a request does when its function is at a concurrency limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Fail at once with [`InvokeError::Throttled`].
    Throttle,
    /// Wait up to this long for a slot, then fail as throttled.
    Wait(Duration),
}

/// A version's counters and current size.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolStats {
    pub function: String,
    pub version: String,
    /// `wasm` or `process`.
    pub runtime: &'static str,
    /// Live instances: processes running (idle or busy); for wasm, requests in flight.
    pub instances: u32,
    /// Instances serving a request now.
    pub busy: u32,
    /// For wasm: whether the compiled component is in memory.
    pub loaded: bool,
    pub invocations: u64,
    /// Invocations whose function failed (or timed out, or ran out of memory).
    pub errors: u64,
    pub throttles: u64,
    pub cold_starts: u64,
    /// Over the last 256 cold starts, in microseconds.
    pub cold_start_p50_us: u64,
    pub cold_start_p99_us: u64,
}

/// Every version's pool.
#[derive(Clone)]
pub struct Pools {
    inner: Arc<Inner>,
}

struct Inner {
    wasm: WasmRuntime,
    process: ProcessHost,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    /// Reserved concurrency per function name.
    reserved: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

struct Pool {
    spec: Arc<FunctionSpec>,
    limit: Arc<Semaphore>,
    kind: Kind,
    /// When the pool was made; `last_used` counts from it.
    born: Instant,
    /// Microseconds from `born` to the last request's start or end.
    last_used: AtomicU64,
    busy: AtomicU64,
    invocations: AtomicU64,
    errors: AtomicU64,
    throttles: AtomicU64,
    cold: Mutex<ColdStarts>,
    /// Set when the version was replaced or deleted: instances are stopped, not kept.
    retired: std::sync::atomic::AtomicBool,
    /// Warm starts that failed in a row, and when (µs from `born`) to try again.
    warm_failures: std::sync::atomic::AtomicU32,
    warm_retry_at: AtomicU64,
}

/// The longest wait between attempts to start a version's minimum instances.
const MAX_WARM_RETRY: Duration = Duration::from_secs(300);

enum Kind {
    Wasm {
        digest: String,
        bytes: Arc<[u8]>,
        /// The loaded component, while the version is warm.
        component: Mutex<Option<WasmComponent>>,
        /// Held while loading, so concurrent first requests load once.
        loading: tokio::sync::Mutex<()>,
    },
    Process {
        idle: Mutex<Vec<Warm>>,
        live: AtomicU64,
    },
}

struct Warm {
    instance: ProcessInstance,
    since: Instant,
}

#[derive(Default)]
struct ColdStarts {
    count: u64,
    recent: Vec<u64>,
    next: usize,
}

impl ColdStarts {
    const KEEP: usize = 256;

    fn record(&mut self, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        self.count += 1;
        if self.recent.len() < Self::KEEP {
            self.recent.push(us);
        } else {
            self.recent[self.next] = us;
            self.next = (self.next + 1) % Self::KEEP;
        }
    }

    fn percentile(&self, p: f64) -> u64 {
        if self.recent.is_empty() {
            return 0;
        }
        let mut sorted = self.recent.clone();
        sorted.sort_unstable();
        let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }
}

impl Pools {
    /// Starts the runtimes and the reaper (which ends when the last `Pools` clone drops).
    pub fn new(config: PoolsConfig) -> Result<Pools, InvokeError> {
        let wasm =
            WasmRuntime::new(config.wasm).map_err(|e| InvokeError::Service(e.to_string()))?;
        let process =
            ProcessHost::new(config.process).map_err(|e| InvokeError::Service(e.to_string()))?;
        let inner = Arc::new(Inner {
            wasm,
            process,
            pools: Mutex::new(HashMap::new()),
            reserved: Mutex::new(HashMap::new()),
        });
        tokio::spawn(reap(Arc::downgrade(&inner), config.reap_interval));
        Ok(Pools { inner })
    }

    /// The wasm runtime, to check and precompile components when they are deployed.
    pub fn wasm(&self) -> &WasmRuntime {
        &self.inner.wasm
    }

    /// Sets (or clears) a function's reserved concurrency: at most `limit` of its requests
    /// run at once, across its versions. `Some(0)` stops the function from running.
    pub fn set_reserved(&self, function: &str, limit: Option<u32>) {
        let mut reserved = lock(&self.inner.reserved);
        match limit {
            Some(n) => {
                // A semaphore cannot shrink in place; a new one applies to new requests.
                if reserved.get(function).map(|(limit, _)| *limit) != Some(n) {
                    let semaphore = Arc::new(Semaphore::new(n as usize));
                    reserved.insert(function.to_owned(), (n, semaphore));
                }
            }
            None => {
                reserved.remove(function);
            }
        }
    }

    /// Runs one invocation of `spec`'s version.
    pub async fn invoke(
        &self,
        spec: &Arc<FunctionSpec>,
        invocation: Invocation,
        overflow: Overflow,
    ) -> Result<Outcome, InvokeError> {
        let pool = self.pool(spec);
        let reserved = lock(&self.inner.reserved).get(&spec.name).cloned();
        let _function_permit = match reserved {
            Some((limit, s)) => Some(pool.permit(&s, overflow, limit as usize).await?),
            None => None,
        };
        // Over the version's own capacity a request waits for an instance (up to its
        // timeout): that is scaling, not throttling.
        let capacity = spec
            .scaling
            .max_instances
            .saturating_mul(spec.scaling.per_instance);
        let wait = Overflow::Wait(spec.timeout);
        let _permit = pool.permit(&pool.limit, wait, capacity as usize).await?;
        pool.touch();
        pool.busy.fetch_add(1, Ordering::Relaxed);
        let outcome = match &pool.kind {
            Kind::Wasm { .. } => self.invoke_wasm(&pool, invocation).await,
            Kind::Process { .. } => self.invoke_process(&pool, invocation).await,
        };
        pool.busy.fetch_sub(1, Ordering::Relaxed);
        pool.touch();
        pool.invocations.fetch_add(1, Ordering::Relaxed);
        match &outcome {
            Ok(o) if o.result.is_err() => {
                pool.errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                pool.errors.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
        }
        outcome
    }

    /// Stops a version's instances (its code or configuration changed, or it was deleted).
    /// Requests in flight finish on their instances, which are then stopped.
    pub fn retire(&self, function: &str, version: &str) {
        let key = format!("{function}:{version}");
        let pool = lock(&self.inner.pools).remove(&key);
        if let Some(pool) = pool {
            pool.retired.store(true, Ordering::Relaxed);
            pool.stop_idle(0);
        }
    }

    /// Retires every version of a function.
    pub fn retire_function(&self, function: &str) {
        let prefix = format!("{function}:");
        let keys: Vec<String> = lock(&self.inner.pools)
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for key in keys {
            if let Some((f, v)) = key.split_once(':') {
                self.retire(f, v);
            }
        }
        lock(&self.inner.reserved).remove(function);
    }

    /// Starts `min_instances` of a process version now, rather than at its first request.
    pub fn prewarm(&self, spec: &Arc<FunctionSpec>) {
        let pool = self.pool(spec);
        pool.keep_minimum(self.inner.process.clone());
    }

    /// Every pool's counters, by function then version.
    pub fn stats(&self) -> Vec<PoolStats> {
        let mut all: Vec<PoolStats> = lock(&self.inner.pools)
            .values()
            .map(|p| p.stats())
            .collect();
        all.sort_by(|a, b| (&a.function, &a.version).cmp(&(&b.function, &b.version)));
        all
    }

    /// Stops every process instance (the node is shutting down).
    pub async fn shutdown(&self) {
        let pools: Vec<Arc<Pool>> = lock(&self.inner.pools).drain().map(|(_, p)| p).collect();
        let mut stopping = Vec::new();
        for pool in pools {
            pool.retired.store(true, Ordering::Relaxed);
            if let Kind::Process { idle, .. } = &pool.kind {
                stopping.extend(lock(idle).drain(..).map(|w| w.instance));
            }
        }
        for instance in stopping {
            instance.stop().await;
        }
    }

    fn pool(&self, spec: &Arc<FunctionSpec>) -> Arc<Pool> {
        let key = spec.key();
        let mut pools = lock(&self.inner.pools);
        if let Some(p) = pools.get(&key) {
            return p.clone();
        }
        let capacity = spec
            .scaling
            .max_instances
            .saturating_mul(spec.scaling.per_instance);
        let kind = match &spec.code {
            Code::Wasm { digest, bytes } => Kind::Wasm {
                digest: digest.clone(),
                bytes: bytes.clone(),
                component: Mutex::new(None),
                loading: tokio::sync::Mutex::new(()),
            },
            Code::Process { .. } => Kind::Process {
                idle: Mutex::new(Vec::new()),
                live: AtomicU64::new(0),
            },
        };
        let pool = Arc::new(Pool {
            spec: spec.clone(),
            limit: Arc::new(Semaphore::new(capacity.max(1) as usize)),
            kind,
            born: Instant::now(),
            last_used: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            throttles: AtomicU64::new(0),
            cold: Mutex::new(ColdStarts::default()),
            retired: false.into(),
            warm_failures: 0.into(),
            warm_retry_at: AtomicU64::new(0),
        });
        pools.insert(key, pool.clone());
        drop(pools);
        if spec.scaling.min_instances > 0 {
            pool.keep_minimum(self.inner.process.clone());
        }
        pool
    }

    async fn invoke_wasm(
        &self,
        pool: &Arc<Pool>,
        invocation: Invocation,
    ) -> Result<Outcome, InvokeError> {
        let Kind::Wasm {
            digest,
            bytes,
            component,
            loading,
        } = &pool.kind
        else {
            return Err(InvokeError::Service("not a wasm pool".into()));
        };
        let warm = lock(component).clone();
        let (handle, cold) = match warm {
            Some(c) => (c, false),
            None => {
                let _loading = loading.lock().await;
                let loaded = lock(component).clone();
                match loaded {
                    // Another request loaded it while this one waited.
                    Some(c) => (c, false),
                    None => {
                        let started = Instant::now();
                        let runtime = self.inner.wasm.clone();
                        let (digest, bytes) = (digest.clone(), bytes.clone());
                        let c = tokio::task::spawn_blocking(move || runtime.load(&digest, &bytes))
                            .await
                            .map_err(|e| InvokeError::Service(format!("loader failed: {e}")))?
                            .map_err(|e| InvokeError::Init {
                                error_type: "Runtime.InvalidComponent".into(),
                                message: e.to_string(),
                            })?;
                        *lock(component) = Some(c.clone());
                        lock(&pool.cold).record(started.elapsed());
                        (c, true)
                    }
                }
            }
        };
        let mut outcome = handle.invoke(&pool.spec, invocation).await;
        // Every instance slot of the node was busy: nothing ran, so it is a throttle.
        if let Err(e) = &outcome.result
            && e.error_type == crate::wasm::INSTANCE_LIMIT_ERROR_TYPE
        {
            pool.throttles.fetch_add(1, Ordering::Relaxed);
            return Err(InvokeError::Throttled {
                function: pool.spec.name.clone(),
                limit: self.inner.wasm.max_instances(),
            });
        }
        outcome.cold_start = cold;
        Ok(outcome)
    }

    async fn invoke_process(
        &self,
        pool: &Arc<Pool>,
        invocation: Invocation,
    ) -> Result<Outcome, InvokeError> {
        let Kind::Process { idle, live } = &pool.kind else {
            return Err(InvokeError::Service("not a process pool".into()));
        };
        let spec = &pool.spec;
        // Lambda HTTP handlers see API Gateway's v2 event and answer in its shape.
        let (invocation, http) = match invocation.payload {
            Payload::Http(request) => {
                let event = apigw::request_event(
                    &request,
                    crate::process::ACCOUNT_ID,
                    &invocation.request_id,
                    std::time::SystemTime::now(),
                );
                let invocation = Invocation {
                    payload: Payload::Event {
                        body: bytes::Bytes::from(event.to_string()),
                        event_type: "cirrus.http.request".into(),
                        source: "cirrus.routes".into(),
                    },
                    ..invocation
                };
                (invocation, true)
            }
            _ => (invocation, false),
        };
        let warm = loop {
            let next = lock(idle).pop();
            match next {
                Some(w) if w.instance.is_alive() => break Some(w.instance),
                Some(dead) => {
                    live.fetch_sub(1, Ordering::Relaxed);
                    tokio::spawn(dead.instance.stop());
                }
                None => break None,
            }
        };
        let (mut instance, cold) = match warm {
            Some(i) => (i, false),
            None => {
                let started = Instant::now();
                live.fetch_add(1, Ordering::Relaxed);
                match self.inner.process.start(spec).await {
                    Ok(i) => {
                        lock(&pool.cold).record(started.elapsed());
                        (i, true)
                    }
                    Err(e) => {
                        live.fetch_sub(1, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
        };
        let mut outcome = instance.invoke(spec, invocation).await;
        outcome.cold_start = cold;
        if instance.is_alive() && !pool.retired.load(Ordering::Relaxed) {
            lock(idle).push(Warm {
                instance,
                since: Instant::now(),
            });
        } else {
            live.fetch_sub(1, Ordering::Relaxed);
            tokio::spawn(instance.stop());
        }
        if http {
            outcome.result = match outcome.result {
                Ok(Reply::Event(body)) => Ok(Reply::Http(apigw::response(&body))),
                Ok(reply) => Ok(reply),
                Err(e) => Err(e),
            };
        }
        Ok(outcome)
    }
}

impl Pool {
    fn touch(&self) {
        let us = self.born.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        self.last_used.store(us, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_micros(self.last_used.load(Ordering::Relaxed));
        self.born.elapsed().saturating_sub(last)
    }

    async fn permit(
        &self,
        semaphore: &Arc<Semaphore>,
        overflow: Overflow,
        limit: usize,
    ) -> Result<OwnedSemaphorePermit, InvokeError> {
        let got = match overflow {
            Overflow::Throttle => semaphore.clone().try_acquire_owned().ok(),
            Overflow::Wait(d) => tokio::time::timeout(d, semaphore.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
        };
        got.ok_or_else(|| {
            self.throttles.fetch_add(1, Ordering::Relaxed);
            InvokeError::Throttled {
                function: self.spec.name.clone(),
                limit: limit as u32,
            }
        })
    }

    /// Starts process instances until `min_instances` are live, in the background.
    fn keep_minimum(self: &Arc<Self>, host: ProcessHost) {
        let Kind::Process { live, .. } = &self.kind else {
            return;
        };
        let want = u64::from(self.spec.scaling.min_instances);
        let have = live.load(Ordering::Relaxed);
        // After failed starts, wait before trying again (1 s, doubling, up to 5 min), so
        // that a version whose code cannot start does not spawn it every tick.
        let now = self.born.elapsed().as_micros() as u64;
        if have >= want || now < self.warm_retry_at.load(Ordering::Relaxed) {
            return;
        }
        for _ in have..want {
            live.fetch_add(1, Ordering::Relaxed);
            let pool = self.clone();
            let host = host.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let Kind::Process { idle, live } = &pool.kind else {
                    return;
                };
                match host.start(&pool.spec).await {
                    Ok(instance) => {
                        lock(&pool.cold).record(started.elapsed());
                        pool.warm_failures.store(0, Ordering::Relaxed);
                        if pool.retired.load(Ordering::Relaxed) {
                            live.fetch_sub(1, Ordering::Relaxed);
                            instance.stop().await;
                        } else {
                            lock(idle).push(Warm {
                                instance,
                                since: Instant::now(),
                            });
                        }
                    }
                    Err(e) => {
                        live.fetch_sub(1, Ordering::Relaxed);
                        let failures = pool.warm_failures.fetch_add(1, Ordering::Relaxed) + 1;
                        let wait = Duration::from_secs(1u64 << failures.min(9)).min(MAX_WARM_RETRY);
                        let at = pool.born.elapsed() + wait;
                        pool.warm_retry_at
                            .store(at.as_micros() as u64, Ordering::Relaxed);
                        tracing::warn!(function = %pool.spec.key(), err = %e, retry_in = ?wait, "could not start a warm instance");
                    }
                }
            });
        }
    }

    /// Stops idle process instances beyond `keep` that have idled past the timeout (all
    /// of them beyond `keep` when retired), and drops an idle wasm component.
    fn stop_idle(&self, keep: usize) {
        let timeout = self.spec.scaling.idle_timeout;
        let retired = self.retired.load(Ordering::Relaxed);
        match &self.kind {
            Kind::Process { idle, live } => {
                let mut stopping = Vec::new();
                {
                    let mut idle = lock(idle);
                    let mut live_count = live.load(Ordering::Relaxed) as usize;
                    // Oldest first: the list is used as a stack, so the front idles longest.
                    let mut i = 0;
                    while i < idle.len() {
                        let dead = !idle[i].instance.is_alive();
                        let expired = retired || idle[i].since.elapsed() >= timeout;
                        if dead || (expired && live_count > keep) {
                            stopping.push(idle.remove(i).instance);
                            live_count = live_count.saturating_sub(1);
                            live.fetch_sub(1, Ordering::Relaxed);
                        } else {
                            i += 1;
                        }
                    }
                }
                for instance in stopping {
                    tokio::spawn(instance.stop());
                }
            }
            Kind::Wasm { component, .. } => {
                let idle_for = self.idle_for();
                if (retired || idle_for >= timeout) && self.busy.load(Ordering::Relaxed) == 0 {
                    lock(component).take();
                }
            }
        }
    }

    fn stats(&self) -> PoolStats {
        let busy = self.busy.load(Ordering::Relaxed) as u32;
        let (runtime, instances, loaded) = match &self.kind {
            Kind::Wasm { component, .. } => ("wasm", busy, lock(component).is_some()),
            Kind::Process { live, .. } => ("process", live.load(Ordering::Relaxed) as u32, true),
        };
        let cold = lock(&self.cold);
        PoolStats {
            function: self.spec.name.clone(),
            version: self.spec.version.clone(),
            runtime,
            instances,
            busy,
            loaded,
            invocations: self.invocations.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            throttles: self.throttles.load(Ordering::Relaxed),
            cold_starts: cold.count,
            cold_start_p50_us: cold.percentile(0.5),
            cold_start_p99_us: cold.percentile(0.99),
        }
    }
}

/// Stops what idled too long, every `interval`, for as long as the pools exist.
async fn reap(inner: Weak<Inner>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let pools: Vec<Arc<Pool>> = lock(&inner.pools).values().cloned().collect();
        for pool in pools {
            pool.stop_idle(pool.spec.scaling.min_instances as usize);
            pool.keep_minimum(inner.process.clone());
        }
    }
}

/// Locks a mutex, taking the data even if a panicking thread poisoned it (every critical
/// section here leaves the data consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_start_percentiles_use_the_recent_window() {
        let mut c = ColdStarts::default();
        assert_eq!(c.percentile(0.5), 0);
        for ms in 1..=300u64 {
            c.record(Duration::from_micros(ms));
        }
        assert_eq!(c.count, 300);
        assert_eq!(c.recent.len(), ColdStarts::KEEP);
        // The window holds 45..=300 after wrapping.
        assert_eq!(c.percentile(0.0), 45);
        assert_eq!(c.percentile(1.0), 300);
    }
}
