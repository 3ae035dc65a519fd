//! The SQLite backend: one database file, WAL mode. All writes go to one writer thread,
//! which takes every job waiting when it becomes free and commits them in one transaction
//! (group commit); if one job fails, the batch is rolled back and each job runs again in a
//! transaction of its own, so that it fails alone and changes nothing. A second thread
//! copies the write-ahead log into the database (checkpoints) off the writer's time.
//! Reads use a small pool of read-only connections on blocking threads, which WAL lets
//! run beside the writer.
//!
//! Function, invocation and event-system writes (`events`) are writer jobs too, so each
//! is durable when its call returns and the multi-statement ones (publishing a version,
//! deleting a function with everything naming it, dead-lettering, firing schedules) are
//! atomic and serialized with every other write.
//! Code is a plain BLOB in a rowid table (a WITHOUT ROWID table would copy large rows on
//! every page split); a put of tens of megabytes holds the writer while it is written, so
//! the steps queued behind it wait that long.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::oneshot;

use crate::sql::{self, Columns, signed};
use crate::*;

mod events;
mod records;

const SCHEMA: &[&str] = &[
    r#"
CREATE TABLE machines (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, definition TEXT NOT NULL,
    role_arn TEXT NOT NULL, description TEXT NOT NULL, logging TEXT, revision_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL
);
CREATE TABLE versions (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, number INTEGER NOT NULL,
    definition TEXT NOT NULL, role_arn TEXT NOT NULL, kind TEXT NOT NULL,
    description TEXT NOT NULL, revision_id TEXT NOT NULL, created_ms INTEGER NOT NULL,
    UNIQUE (machine_arn, number)
);
CREATE TABLE aliases (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, routing TEXT NOT NULL, created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE definitions (digest TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE activities (arn TEXT PRIMARY KEY, name TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE executions (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, version_arn TEXT, alias_arn TEXT,
    name TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL, output TEXT, error TEXT,
    cause TEXT, start_ms INTEGER NOT NULL, stop_ms INTEGER, redrive_count INTEGER NOT NULL,
    redrive_ms INTEGER, event_count INTEGER NOT NULL, parent TEXT, ready INTEGER NOT NULL,
    definition_digest TEXT NOT NULL, checkpoint BLOB
);
CREATE INDEX executions_by_start ON executions (start_ms DESC, arn DESC);
CREATE INDEX executions_by_machine ON executions (machine_arn, start_ms DESC, arn DESC);
CREATE INDEX executions_ready ON executions (ready) WHERE ready <> 0;
CREATE INDEX executions_stopped ON executions (stop_ms) WHERE stop_ms IS NOT NULL;
CREATE TABLE history (
    execution_arn TEXT NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL,
    events TEXT NOT NULL, PRIMARY KEY (execution_arn, first_id)
) WITHOUT ROWID;
CREATE TABLE timers (
    execution_arn TEXT NOT NULL, timer INTEGER NOT NULL, due_ms INTEGER NOT NULL,
    PRIMARY KEY (execution_arn, timer)
) WITHOUT ROWID;
CREATE INDEX timers_due ON timers (due_ms);
CREATE TABLE tasks (
    execution_arn TEXT NOT NULL, task INTEGER NOT NULL, kind TEXT NOT NULL, token TEXT,
    resource TEXT NOT NULL, state TEXT NOT NULL, invocation TEXT NOT NULL, worker TEXT,
    created_ms INTEGER NOT NULL, PRIMARY KEY (execution_arn, task)
);
CREATE UNIQUE INDEX tasks_token ON tasks (token) WHERE token IS NOT NULL;
CREATE INDEX tasks_waiting ON tasks (resource, created_ms) WHERE kind = 'activity' AND worker IS NULL;
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, detail_type TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE functions (
    name TEXT PRIMARY KEY, config TEXT NOT NULL, code_digest TEXT NOT NULL,
    revision_id TEXT NOT NULL, next_version INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX functions_by_code ON functions (code_digest);
CREATE TABLE function_versions (
    function TEXT NOT NULL, number INTEGER NOT NULL, config TEXT NOT NULL,
    code_digest TEXT NOT NULL, revision_id TEXT NOT NULL, created_ms INTEGER NOT NULL,
    PRIMARY KEY (function, number)
);
CREATE INDEX function_versions_by_code ON function_versions (code_digest);
CREATE TABLE function_aliases (
    function TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, routing TEXT NOT NULL,
    description TEXT NOT NULL, revision_id TEXT NOT NULL, created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL, PRIMARY KEY (function, name)
);
CREATE TABLE code (digest TEXT PRIMARY KEY, code BLOB NOT NULL);
CREATE TABLE routes (
    route_key TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX routes_by_function ON routes (function);
CREATE TABLE invocations (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT NOT NULL, payload BLOB NOT NULL,
    attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX invocations_due ON invocations (due_ms, id);
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT NOT NULL, payload BLOB NOT NULL,
    attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,
    last_error TEXT, reason TEXT NOT NULL, failed_ms INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_function ON dead_letters (function, failed_ms, id);
CREATE INDEX dead_letters_by_time ON dead_letters (failed_ms, id);
"#,
    r#"
CREATE TABLE resources (
    kind TEXT NOT NULL, name TEXT NOT NULL, document TEXT NOT NULL, revision INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY (kind, name)
);
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY, bus TEXT NOT NULL, rule TEXT NOT NULL, target TEXT NOT NULL,
    payload TEXT NOT NULL, attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, last_error TEXT
);
CREATE INDEX deliveries_due ON deliveries (due_ms, id);
CREATE TABLE dead_events (
    id TEXT PRIMARY KEY, bus TEXT NOT NULL, rule TEXT NOT NULL, target TEXT NOT NULL,
    payload TEXT NOT NULL, attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, last_error TEXT, reason TEXT NOT NULL, failed_ms INTEGER NOT NULL
);
CREATE INDEX dead_events_by_time ON dead_events (failed_ms, id);
CREATE INDEX dead_events_by_rule ON dead_events (bus, rule, failed_ms, id);
CREATE TABLE archived_events (
    archive TEXT NOT NULL, time_ms INTEGER NOT NULL, id TEXT NOT NULL, size INTEGER NOT NULL,
    event TEXT NOT NULL, PRIMARY KEY (archive, time_ms, id)
);
CREATE TABLE schedules (
    name TEXT PRIMARY KEY, expression TEXT NOT NULL, timezone TEXT NOT NULL, next_ms INTEGER,
    document TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_ms, name) WHERE next_ms IS NOT NULL;
CREATE TABLE queue_messages (
    queue TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, attributes TEXT NOT NULL,
    sent_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL, receive_count INTEGER NOT NULL,
    first_receive_ms INTEGER, PRIMARY KEY (queue, id)
);
CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_ms, sent_ms, id);
CREATE INDEX queue_messages_sent ON queue_messages (queue, sent_ms);
"#,
    // Routes run functions or workflows: `kind` says which, `target` names it.
    r#"
ALTER TABLE routes RENAME COLUMN function TO target;
ALTER TABLE routes ADD COLUMN kind TEXT NOT NULL DEFAULT 'function';
"#,
    // A callback task's delivery is recorded, so a restart does not send its token again.
    r#"
ALTER TABLE tasks ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0;
"#,
];

/// How hard commits hold on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives a power loss.
    Full,
    /// `synchronous=NORMAL`: a commit survives a crash of the process, not of the machine.
    Normal,
}

/// The most jobs one commit takes.
const MAX_BATCH: usize = 256;
const READERS: usize = 4;

/// A write waiting for the writer thread. It may run twice: once in a batch, and again
/// alone if something else in its batch failed.
trait Job: Send {
    /// Runs the job's statements; false if they failed.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Reports the job's result, given whether its transaction committed.
    fn finish(self: Box<Self>, commit: Result<()>);
}

struct Call<T, F> {
    f: F,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T: Send, F: FnMut(&Connection) -> Result<T> + Send> Job for Call<T, F> {
    fn run(&mut self, conn: &Connection) -> bool {
        let r = (self.f)(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<()>) {
        let result = match (self.result, commit) {
            (None, _) => Err(StoreError::Database("the write never ran".into())),
            (Some(Err(e)), _) | (Some(Ok(_)), Err(e)) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
        };
        let _ = self.reply.send(result);
    }
}

pub struct SqliteStore {
    jobs: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        Ok(self.get(i)?)
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
    )?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let applied: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = SCHEMA.len() as i64;
    if applied > known {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {applied}, newer than this build's {known}; use a newer cirrus"
        )));
    }
    for (i, script) in SCHEMA.iter().enumerate().skip(applied as usize) {
        tx.execute_batch(script)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
            params![i as i64 + 1, now_ms()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path, durability: Durability) -> Result<Self> {
        let mut writer = Connection::open(path)?;
        // Room for every statement the store uses, so none is parsed twice.
        writer.set_prepared_statement_cache_capacity(256);
        writer.busy_timeout(std::time::Duration::from_secs(10))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(
            None,
            "synchronous",
            match durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            },
        )?;
        writer.pragma_update(None, "foreign_keys", "OFF")?;
        // Keep the hot pages in memory: 64 MiB of page cache, and reads through mmap.
        writer.pragma_update(None, "cache_size", -65536)?;
        writer.pragma_update(None, "mmap_size", 1i64 << 30)?;
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoints run on their own thread (see `Checkpointer`). Under sustained writes
        // that thread never copies the whole log, and only the writer can start the log
        // over: past 4,000 pages (16 MiB) the writer checkpoints too (cheaply: most pages
        // are copied already) and the log is reused instead of growing.
        writer.pragma_update(None, "wal_autocheckpoint", 4000)?;
        writer.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
        migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(10))?;
            r.set_prepared_statement_cache_capacity(256);
            r.pragma_update(None, "mmap_size", 1i64 << 30)?;
            readers.push(Mutex::new(r));
        }
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let checkpointer = Checkpointer::start(path)?;
        let handle = std::thread::Builder::new()
            .name("cirrus-sqlite-writer".into())
            .spawn(move || write_loop(writer, rx, checkpointer))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            jobs: Mutex::new(Some(tx)),
            readers: Arc::new(readers),
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Runs `f` on the writer thread, inside the next group commit.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnMut(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Call {
            f,
            result: None,
            reply: tx,
        });
        {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` with a read connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            // Take a free connection if there is one, else wait for the first.
            let guard = readers
                .iter()
                .find_map(|m| m.try_lock().ok())
                .unwrap_or_else(|| readers[0].lock().unwrap_or_else(|p| p.into_inner()));
            f(&guard)
        })
        .await
        .map_err(|e| StoreError::Database(format!("read task failed: {e}")))?
    }

    /// Stops the writer after the jobs already sent, and waits for it.
    pub fn close(&self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(conn: Connection, rx: mpsc::Receiver<Box<dyn Job>>, checkpointer: Checkpointer) {
    let mut batch: Vec<Box<dyn Job>> = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // The whole batch in one transaction; if any job fails, none of the batch is kept
        // and each job runs again in a transaction of its own, so it fails alone.
        let together = conn.execute_batch("BEGIN IMMEDIATE").is_ok() && {
            let mut ok = true;
            for job in batch.iter_mut() {
                ok &= job.run(&conn);
                if !ok {
                    break;
                }
            }
            ok
        };
        if together {
            let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
            if committed.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            for job in batch.drain(..) {
                job.finish(match &committed {
                    Ok(()) => Ok(()),
                    Err(e) => Err(StoreError::Database(e.to_string())),
                });
            }
        } else {
            let _ = conn.execute_batch("ROLLBACK");
            for mut job in batch.drain(..) {
                if conn.execute_batch("BEGIN IMMEDIATE").is_err() {
                    job.finish(Err(StoreError::Database(
                        "cannot begin a transaction".into(),
                    )));
                    continue;
                }
                let commit = if job.run(&conn) {
                    conn.execute_batch("COMMIT").map_err(StoreError::from)
                } else {
                    Ok(())
                };
                if commit.is_err() || !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                job.finish(commit);
            }
        }
        checkpointer.written();
    }
}

/// Copies the write-ahead log into the database on a thread of its own (a passive
/// checkpoint, beside the writer), a moment after writes, instead of on the writer's
/// time. With no writes it sleeps.
struct Checkpointer {
    state: Arc<(Mutex<CheckpointState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct CheckpointState {
    dirty: bool,
    closed: bool,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let state: Arc<(Mutex<CheckpointState>, std::sync::Condvar)> = Arc::default();
        let shared = state.clone();
        std::thread::Builder::new()
            .name("cirrus-sqlite-checkpoint".into())
            .spawn(move || {
                let (lock, signal) = &*shared;
                loop {
                    {
                        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                        while !s.dirty && !s.closed {
                            s = signal.wait(s).unwrap_or_else(|p| p.into_inner());
                        }
                        if s.closed {
                            return;
                        }
                        s.dirty = false;
                    }
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    // Let writes gather before the next copy.
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    let quiet = {
                        let s = lock.lock().unwrap_or_else(|p| p.into_inner());
                        !s.dirty && !s.closed
                    };
                    if quiet {
                        // Nothing new: copy the rest and empty the log's file.
                        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                    }
                }
            })
            .map_err(|e| {
                StoreError::Database(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer { state })
    }

    fn written(&self) {
        let (lock, signal) = &*self.state;
        lock.lock().unwrap_or_else(|p| p.into_inner()).dirty = true;
        signal.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, signal) = &*self.state;
        lock.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        signal.notify_one();
    }
}

/// A step with its history encoded beforehand, off the writer thread.
pub(super) struct Encoded {
    pub(super) step: Step,
    /// First id, last id and the events' text, if the step has history.
    pub(super) history: Option<(i64, i64, String)>,
}

impl Encoded {
    pub(super) fn new(step: Step) -> Result<Encoded> {
        let history = if step.history.is_empty() {
            None
        } else {
            let (first, last) = sql::id_range(&step.history)?;
            Some((first, last, sql::encode_events(&step.history)))
        };
        Ok(Encoded { step, history })
    }
}

fn apply_step(conn: &Connection, encoded: &Encoded) -> Result<()> {
    let step = &encoded.step;
    let e = step.execution.execution();
    match &step.execution {
        ExecutionWrite::Insert(_) => {
            prep(conn, sql::INSERT_EXECUTION)?.execute(params![
                e.arn,
                e.machine_arn,
                e.version_arn,
                e.alias_arn,
                e.name,
                e.status,
                e.input,
                e.output,
                e.error,
                e.cause,
                e.start_ms,
                e.stop_ms,
                e.redrive_count,
                e.redrive_ms,
                signed(e.event_count)?,
                e.parent,
                e.ready as i64,
                e.definition_digest,
                step.checkpoint,
            ])?;
        }
        ExecutionWrite::Update(_) => {
            let n = prep(conn, sql::UPDATE_EXECUTION)?.execute(params![
                e.arn,
                e.status,
                e.output,
                e.error,
                e.cause,
                e.stop_ms,
                e.redrive_count,
                e.redrive_ms,
                signed(e.event_count)?,
                e.ready as i64,
                step.checkpoint,
            ])?;
            if n == 0 {
                return Err(StoreError::NotFound(e.arn.clone()));
            }
        }
    }
    if let Some((first, last, events)) = &encoded.history {
        prep(conn, sql::INSERT_EVENTS)?.execute(params![e.arn, first, last, events])?;
    }
    if !step.timers_cleared.is_empty() {
        let mut st = prep(conn, sql::CLEAR_TIMER)?;
        for t in &step.timers_cleared {
            st.execute(params![e.arn, signed(*t)?])?;
        }
    }
    if !step.timers_set.is_empty() {
        let mut st = prep(conn, sql::SET_TIMER)?;
        for t in &step.timers_set {
            st.execute(params![e.arn, signed(t.timer)?, t.due_ms])?;
        }
    }
    if !step.tasks_finished.is_empty() {
        let mut st = prep(conn, sql::FINISH_TASK)?;
        for t in &step.tasks_finished {
            st.execute(params![e.arn, signed(*t)?])?;
        }
    }
    if !step.tasks_added.is_empty() {
        let mut st = prep(conn, sql::INSERT_TASK)?;
        for t in &step.tasks_added {
            st.execute(params![
                e.arn,
                signed(t.task)?,
                t.kind.as_str(),
                t.token,
                t.resource,
                t.state,
                t.invocation,
                t.worker,
                t.created_ms,
                t.delivered as i64
            ])?;
        }
    }
    if !step.tasks_delivered.is_empty() {
        let mut st = prep(conn, sql::DELIVER_TASK)?;
        for t in &step.tasks_delivered {
            st.execute(params![e.arn, signed(*t)?])?;
        }
    }
    if !step.events.is_empty() {
        let mut st = prep(conn, sql::INSERT_OUTBOX)?;
        for ev in &step.events {
            st.execute(params![ev.time_ms, ev.detail_type, ev.detail])?;
        }
    }
    Ok(())
}

/// Prepares a statement written with PostgreSQL's `$n` placeholders: SQLite reads `$n` as
/// a named parameter numbered by first appearance, so they become `?n`.
fn prep<'c>(conn: &'c Connection, sql: &str) -> Result<rusqlite::CachedStatement<'c>> {
    if !sql.contains('$') {
        return Ok(conn.prepare_cached(sql)?);
    }
    thread_local! {
        /// Converted texts by original text, so each is converted once per thread.
        static CONVERTED: std::cell::RefCell<std::collections::HashMap<String, String>> =
            std::cell::RefCell::default();
    }
    let cached = CONVERTED.with(|c| c.borrow().get(sql).cloned());
    let text = match cached {
        Some(t) => t,
        None => {
            let mut text = String::with_capacity(sql.len());
            let mut chars = sql.chars().peekable();
            while let Some(ch) = chars.next() {
                if ch == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    text.push('?');
                } else {
                    text.push(ch);
                }
            }
            CONVERTED.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() < 256 {
                    c.insert(sql.to_owned(), text.clone());
                }
            });
            text
        }
    };
    Ok(conn.prepare_cached(&text)?)
}

fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut st = prep(conn, sql)?;
    let mut rows = st.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut st = prep(conn, sql)?;
    let mut rows = st.query(params)?;
    match rows.next()? {
        Some(row) => Ok(Some(map(row)?)),
        None => Ok(None),
    }
}

fn limit(n: usize) -> i64 {
    if n == 0 { -1 } else { n as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database made before functions existed (schema version 1) gains their tables and
    /// keeps its data.
    #[tokio::test]
    async fn a_version_1_database_migrates() {
        let dir = std::env::temp_dir().join(format!("cirrus-store-v1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v1.db");
        let _ = std::fs::remove_file(&path);
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
            )
            .unwrap();
            c.execute_batch(SCHEMA[0]).unwrap();
            c.execute(
                "INSERT INTO schema_migrations (version, applied_ms) VALUES (1, 0)",
                [],
            )
            .unwrap();
            c.execute(
                sql::PUT_DEFINITION.replace('$', "?").as_str(),
                params!["d", "{}"],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Normal).expect("migrate");
        assert_eq!(store.definition("d").await.unwrap().as_deref(), Some("{}"));
        assert_eq!(store.queued_invocations().await.unwrap(), 0);
        assert!(store.routes().await.unwrap().is_empty());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A database at `path` as schema version `version` left it.
    fn database_at(path: &std::path::Path, version: usize) -> Connection {
        let c = Connection::open(path).unwrap();
        c.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
        )
        .unwrap();
        for (i, script) in SCHEMA[..version].iter().enumerate() {
            c.execute_batch(script).unwrap();
            c.execute(
                "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, 0)",
                params![i as i64 + 1],
            )
            .unwrap();
        }
        c
    }

    /// Routes stored before routes could start workflows (schema version 3) run the
    /// functions they ran.
    #[tokio::test]
    async fn a_version_3_route_stays_a_function_route() {
        let dir = std::env::temp_dir().join(format!("cirrus-store-v3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v3.db");
        let _ = std::fs::remove_file(&path);
        {
            let c = database_at(&path, 3);
            c.execute(
                "INSERT INTO routes (route_key, function, qualifier, created_ms) VALUES ('GET /a', 'fa', 'live', 7)",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Normal).expect("migrate");
        assert_eq!(
            store.routes().await.unwrap(),
            vec![Route {
                route_key: "GET /a".into(),
                target: RouteTarget::Function {
                    name: "fa".into(),
                    qualifier: "live".into()
                },
                created_ms: 7,
            }]
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A callback task stored before deliveries were recorded (schema version 4) counts as
    /// not delivered: it is dispatched again after the upgrade, as it was before.
    #[tokio::test]
    async fn a_version_4_callback_task_is_dispatched_again() {
        let dir = std::env::temp_dir().join(format!("cirrus-store-v4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v4.db");
        let _ = std::fs::remove_file(&path);
        {
            let c = database_at(&path, 4);
            c.execute(
                "INSERT INTO tasks (execution_arn, task, kind, token, resource, state, invocation, worker, created_ms)
                 VALUES ('x', 1, 'callback', 'tok', 'r', 'S', '{}', NULL, 5)",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Normal).expect("migrate");
        let tasks = store.dispatch_tasks().await.unwrap();
        assert_eq!(
            tasks
                .iter()
                .map(|t| (t.task, t.delivered))
                .collect::<Vec<_>>(),
            vec![(1, false)]
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
