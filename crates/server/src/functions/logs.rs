//! Invocation logs: one record per invocation (when, which version, how long, cold or
//! warm, how it ended) with what the instance printed. The node keeps the latest records
//! of each function in memory and broadcasts new ones to followers (`cirrus logs -f`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use cirrus_runtime::Outcome;
use serde::Serialize;
use tokio::sync::broadcast;

/// One invocation, as `cirrus logs` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct LogRecord {
    /// Increases by one per record on this node.
    pub seq: u64,
    pub time_ms: i64,
    pub function: String,
    pub version: String,
    pub request_id: String,
    /// `ok`, `error` or `throttled`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub duration_ms: f64,
    pub cold_start: bool,
    /// What the instance wrote to stdout and stderr.
    pub output: String,
}

impl LogRecord {
    fn new(
        function: &str,
        version: &str,
        request_id: &str,
        time_ms: i64,
        status: &'static str,
        error_type: Option<String>,
    ) -> LogRecord {
        LogRecord {
            seq: 0,
            time_ms,
            function: function.to_owned(),
            version: version.to_owned(),
            request_id: request_id.to_owned(),
            status,
            error_type,
            duration_ms: 0.0,
            cold_start: false,
            output: String::new(),
        }
    }
}

/// The node's recent invocation records.
pub struct Logs {
    keep: usize,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<LogRecord>,
}

struct Inner {
    seq: u64,
    by_function: HashMap<String, VecDeque<LogRecord>>,
}

impl Logs {
    /// Keeps the last `keep` records of each function.
    pub fn new(keep: usize) -> Logs {
        let (tx, _) = broadcast::channel(4096);
        Logs {
            keep,
            inner: Mutex::new(Inner {
                seq: 0,
                by_function: HashMap::new(),
            }),
            tx,
        }
    }

    pub fn record(
        &self,
        function: &str,
        version: &str,
        request_id: &str,
        time_ms: i64,
        outcome: &Outcome,
    ) {
        let (status, error_type) = match &outcome.result {
            Ok(_) => ("ok", None),
            Err(e) => ("error", Some(e.error_type.clone())),
        };
        let mut record = LogRecord::new(function, version, request_id, time_ms, status, error_type);
        record.duration_ms = outcome.duration.as_secs_f64() * 1000.0;
        record.cold_start = outcome.cold_start;
        record.output = outcome.logs.clone();
        self.push(record);
    }

    pub fn throttled(&self, function: &str, version: &str, request_id: &str, time_ms: i64) {
        let error_type = Some("TooManyRequestsException".to_owned());
        self.push(LogRecord::new(
            function,
            version,
            request_id,
            time_ms,
            "throttled",
            error_type,
        ));
    }

    fn push(&self, mut record: LogRecord) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.seq += 1;
        record.seq = inner.seq;
        let keep = self.keep;
        let list = inner
            .by_function
            .entry(record.function.clone())
            .or_default();
        if list.len() == keep {
            list.pop_front();
        }
        list.push_back(record.clone());
        drop(inner);
        let _ = self.tx.send(record);
    }

    /// The last `limit` records of a function (all functions when `None`), oldest first.
    pub fn recent(&self, function: Option<&str>, limit: usize) -> Vec<LogRecord> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<LogRecord> = match function {
            Some(f) => inner
                .by_function
                .get(f)
                .map(|l| l.iter().cloned().collect())
                .unwrap_or_default(),
            None => inner.by_function.values().flatten().cloned().collect(),
        };
        all.sort_by_key(|r| r.seq);
        let skip = all.len().saturating_sub(limit);
        all.split_off(skip)
    }

    /// New records as they are made.
    pub fn follow(&self) -> broadcast::Receiver<LogRecord> {
        self.tx.subscribe()
    }

    /// Forgets a deleted function's records.
    pub fn forget(&self, function: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.by_function.remove(function);
    }
}
