//! The SQLite backend: one database file, WAL mode. All writes go to one writer thread,
//! which takes every job waiting when it becomes free and commits them in one transaction
//! (group commit); if one job fails, the batch is rolled back and each job runs again in a
//! transaction of its own, so that it fails alone and changes nothing. A second thread
//! copies the write-ahead log into the database (checkpoints) off the writer's time.
//! Reads use a small pool of read-only connections on blocking threads, which WAL lets
//! run beside the writer.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::sql::{self, Columns, signed};
use crate::*;

const SCHEMA: &[&str] = &[r#"
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
"#];

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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path, durability: Durability) -> Result<Self> {
        let mut writer = Connection::open(path)?;
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

fn apply_step(conn: &Connection, step: &Step) -> Result<()> {
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
    if !step.history.is_empty() {
        let (first, last) = sql::id_range(&step.history)?;
        prep(conn, sql::INSERT_EVENTS)?.execute(params![
            e.arn,
            first,
            last,
            sql::encode_events(&step.history)
        ])?;
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
                t.created_ms
            ])?;
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
    let mut text = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            text.push('?');
        } else {
            text.push(ch);
        }
    }
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

#[async_trait]
impl Machines for SqliteStore {
    async fn create_machine(&self, m: &Machine) -> Result<()> {
        let m = m.clone();
        self.write(move |c| {
            prep(c, sql::INSERT_MACHINE)?.execute(params![
                m.arn,
                m.name,
                m.kind,
                m.definition,
                m.role_arn,
                m.description,
                m.logging,
                m.revision_id,
                m.created_ms,
                m.updated_ms
            ])?;
            Ok(())
        })
        .await
    }

    async fn update_machine(&self, m: &Machine) -> Result<()> {
        let m = m.clone();
        self.write(move |c| {
            let n = prep(c, sql::UPDATE_MACHINE)?.execute(params![
                m.arn,
                m.name,
                m.kind,
                m.definition,
                m.role_arn,
                m.description,
                m.logging,
                m.revision_id,
                m.created_ms,
                m.updated_ms
            ])?;
            if n == 0 {
                return Err(StoreError::NotFound(m.arn.clone()));
            }
            Ok(())
        })
        .await
    }

    async fn machine(&self, arn: &str) -> Result<Option<Machine>> {
        let arn = arn.to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {} FROM machines WHERE arn = ?1",
                    sql::MACHINE_COLUMNS
                ),
                params![arn],
                |r| sql::machine(r),
            )
        })
        .await
    }

    async fn machines(&self, page: Page<'_>) -> Result<Vec<Machine>> {
        let after = page.after.unwrap_or("").to_owned();
        let n = limit(page.limit);
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM machines WHERE arn > ?1 ORDER BY arn LIMIT ?2",
                    sql::MACHINE_COLUMNS
                ),
                params![after, n],
                |r| sql::machine(r),
            )
        })
        .await
    }

    async fn delete_machine(&self, arn: &str) -> Result<bool> {
        let arn = arn.to_owned();
        self.write(move |c| {
            c.execute("DELETE FROM versions WHERE machine_arn = ?1", params![arn])?;
            c.execute("DELETE FROM aliases WHERE machine_arn = ?1", params![arn])?;
            Ok(c.execute("DELETE FROM machines WHERE arn = ?1", params![arn])? > 0)
        })
        .await
    }

    async fn create_version(&self, v: &Version) -> Result<()> {
        let v = v.clone();
        self.write(move |c| {
            prep(c, sql::INSERT_VERSION)?.execute(params![
                v.arn,
                v.machine_arn,
                signed(v.number)?,
                v.definition,
                v.role_arn,
                v.kind,
                v.description,
                v.revision_id,
                v.created_ms
            ])?;
            Ok(())
        })
        .await
    }

    async fn version(&self, arn: &str) -> Result<Option<Version>> {
        let arn = arn.to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {} FROM versions WHERE arn = ?1",
                    sql::VERSION_COLUMNS
                ),
                params![arn],
                |r| sql::version(r),
            )
        })
        .await
    }

    async fn versions(&self, machine_arn: &str) -> Result<Vec<Version>> {
        let arn = machine_arn.to_owned();
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM versions WHERE machine_arn = ?1 ORDER BY number DESC",
                    sql::VERSION_COLUMNS
                ),
                params![arn],
                |r| sql::version(r),
            )
        })
        .await
    }

    async fn delete_version(&self, arn: &str) -> Result<bool> {
        let arn = arn.to_owned();
        self.write(move |c| Ok(c.execute("DELETE FROM versions WHERE arn = ?1", params![arn])? > 0))
            .await
    }

    async fn put_alias(&self, a: &Alias) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            prep(c, sql::PUT_ALIAS)?.execute(params![
                a.arn,
                a.machine_arn,
                a.name,
                a.description,
                a.routing,
                a.created_ms,
                a.updated_ms
            ])?;
            Ok(())
        })
        .await
    }

    async fn alias(&self, arn: &str) -> Result<Option<Alias>> {
        let arn = arn.to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!("SELECT {} FROM aliases WHERE arn = ?1", sql::ALIAS_COLUMNS),
                params![arn],
                |r| sql::alias(r),
            )
        })
        .await
    }

    async fn aliases(&self, machine_arn: &str) -> Result<Vec<Alias>> {
        let arn = machine_arn.to_owned();
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM aliases WHERE machine_arn = ?1 ORDER BY arn",
                    sql::ALIAS_COLUMNS
                ),
                params![arn],
                |r| sql::alias(r),
            )
        })
        .await
    }

    async fn put_definition(&self, digest: &str, definition: &str) -> Result<()> {
        let (digest, definition) = (digest.to_owned(), definition.to_owned());
        self.write(move |c| {
            prep(c, sql::PUT_DEFINITION)?.execute(params![digest, definition])?;
            Ok(())
        })
        .await
    }

    async fn definition(&self, digest: &str) -> Result<Option<String>> {
        let digest = digest.to_owned();
        self.read(move |c| {
            query_one(
                c,
                "SELECT definition FROM definitions WHERE digest = ?1",
                params![digest],
                |r| r.text(0),
            )
        })
        .await
    }

    async fn delete_alias(&self, arn: &str) -> Result<bool> {
        let arn = arn.to_owned();
        self.write(move |c| Ok(c.execute("DELETE FROM aliases WHERE arn = ?1", params![arn])? > 0))
            .await
    }
}

#[async_trait]
impl Activities for SqliteStore {
    async fn create_activity(&self, a: &Activity) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            c.execute(sql::INSERT_ACTIVITY, params![a.arn, a.name, a.created_ms])?;
            Ok(())
        })
        .await
    }

    async fn activity(&self, arn: &str) -> Result<Option<Activity>> {
        let arn = arn.to_owned();
        self.read(move |c| {
            query_one(
                c,
                "SELECT arn, name, created_ms FROM activities WHERE arn = ?1",
                params![arn],
                |r| sql::activity(r),
            )
        })
        .await
    }

    async fn activities(&self, page: Page<'_>) -> Result<Vec<Activity>> {
        let after = page.after.unwrap_or("").to_owned();
        let n = limit(page.limit);
        self.read(move |c| {
            query_all(
                c,
                "SELECT arn, name, created_ms FROM activities WHERE arn > ?1 ORDER BY arn LIMIT ?2",
                params![after, n],
                |r| sql::activity(r),
            )
        })
        .await
    }

    async fn delete_activity(&self, arn: &str) -> Result<bool> {
        let arn = arn.to_owned();
        self.write(move |c| {
            Ok(c.execute("DELETE FROM activities WHERE arn = ?1", params![arn])? > 0)
        })
        .await
    }
}

#[async_trait]
impl Executions for SqliteStore {
    async fn execution(&self, arn: &str) -> Result<Option<Execution>> {
        let arn = arn.to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {} FROM executions WHERE arn = ?1",
                    sql::EXECUTION_COLUMNS
                ),
                params![arn],
                |r| sql::execution(r),
            )
        })
        .await
    }

    async fn executions(&self, f: ExecutionFilter<'_>) -> Result<Vec<Execution>> {
        let machine = f.machine_arn.map(str::to_owned);
        let version = f.version_arn.map(str::to_owned);
        let status = f.status.map(str::to_owned);
        let (before_ms, before_arn) = f
            .before
            .map_or((i64::MAX, String::new()), |(ms, a)| (ms, a.to_owned()));
        let has_before = f.before.is_some();
        let n = limit(f.limit);
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM executions
                     WHERE (?1 IS NULL OR machine_arn = ?1) AND (?2 IS NULL OR version_arn = ?2)
                       AND (?3 IS NULL OR status = ?3)
                       AND (?4 = 0 OR start_ms < ?5 OR (start_ms = ?5 AND arn < ?6))
                     ORDER BY start_ms DESC, arn DESC LIMIT ?7",
                    sql::EXECUTION_COLUMNS
                ),
                params![
                    machine,
                    version,
                    status,
                    has_before as i64,
                    before_ms,
                    before_arn,
                    n
                ],
                |r| sql::execution(r),
            )
        })
        .await
    }

    async fn checkpoint(&self, arn: &str) -> Result<Option<Vec<u8>>> {
        let arn = arn.to_owned();
        self.read(move |c| {
            Ok(prep(c, "SELECT checkpoint FROM executions WHERE arn = ?1")?
                .query_row(params![arn], |r| r.get::<_, Option<Vec<u8>>>(0))
                .optional()?
                .flatten())
        })
        .await
    }

    async fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>> {
        let arn = arn.to_owned();
        let (lo, hi) = (signed(from)?, signed(to.min(i64::MAX as u64))?);
        self.read(move |c| {
            let rows = query_all(c, sql::SELECT_EVENTS, params![arn, lo, hi], |r| r.text(0))?;
            let mut out = Vec::new();
            sql::decode_events(rows, from, to, &mut out)?;
            Ok(out)
        })
        .await
    }

    async fn ready_executions(&self) -> Result<Vec<String>> {
        self.read(|c| {
            query_all(
                c,
                "SELECT arn FROM executions WHERE ready <> 0 AND status = 'RUNNING' ORDER BY arn",
                [],
                |r| r.text(0),
            )
        })
        .await
    }

    async fn finished_before(&self, before_ms: i64, n: usize) -> Result<Vec<String>> {
        let n = limit(n);
        self.read(move |c| {
            query_all(
                c,
                "SELECT arn FROM executions WHERE stop_ms IS NOT NULL AND stop_ms < ?1
                   AND status <> 'RUNNING' ORDER BY stop_ms, arn LIMIT ?2",
                params![before_ms, n],
                |r| r.text(0),
            )
        })
        .await
    }

    async fn delete_execution(&self, arn: &str) -> Result<()> {
        let arn = arn.to_owned();
        self.write(move |c| {
            for table in ["history", "timers", "tasks"] {
                c.execute(
                    &format!("DELETE FROM {table} WHERE execution_arn = ?1"),
                    params![arn],
                )?;
            }
            c.execute("DELETE FROM executions WHERE arn = ?1", params![arn])?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl Steps for SqliteStore {
    async fn commit(&self, step: Step) -> Result<()> {
        self.write(move |c| apply_step(c, &step)).await
    }
}

#[async_trait]
impl Timers for SqliteStore {
    async fn due_timers(&self, until_ms: i64, n: usize) -> Result<Vec<Timer>> {
        let n = limit(n);
        self.read(move |c| {
            query_all(
                c,
                "SELECT execution_arn, timer, due_ms FROM timers WHERE due_ms <= ?1
                 ORDER BY due_ms LIMIT ?2",
                params![until_ms, n],
                |r| sql::timer(r),
            )
        })
        .await
    }

    async fn next_due_after(&self, after_ms: i64) -> Result<Option<i64>> {
        self.read(move |c| {
            Ok(prep(c, "SELECT MIN(due_ms) FROM timers WHERE due_ms > ?1")?
                .query_row(params![after_ms], |r| r.get::<_, Option<i64>>(0))?)
        })
        .await
    }

    async fn timer_count(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM timers", [], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }
}

#[async_trait]
impl Tasks for SqliteStore {
    async fn task_by_token(&self, token: &str) -> Result<Option<Task>> {
        let token = token.to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!("SELECT {} FROM tasks WHERE token = ?1", sql::TASK_COLUMNS),
                params![token],
                |r| sql::task(r),
            )
        })
        .await
    }

    async fn dispatch_tasks(&self) -> Result<Vec<Task>> {
        self.read(|c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM tasks WHERE kind <> 'activity' ORDER BY created_ms, execution_arn, task",
                    sql::TASK_COLUMNS
                ),
                [],
                |r| sql::task(r),
            )
        })
        .await
    }

    async fn claim_activity_task(&self, activity_arn: &str, worker: &str) -> Result<Option<Task>> {
        let (activity, worker) = (activity_arn.to_owned(), worker.to_owned());
        self.write(move |c| {
            query_one(
                c,
                &format!(
                    "UPDATE tasks SET worker = ?2 WHERE rowid = (
                        SELECT rowid FROM tasks WHERE kind = 'activity' AND worker IS NULL
                          AND resource = ?1 ORDER BY created_ms, execution_arn, task LIMIT 1)
                     RETURNING {}",
                    sql::TASK_COLUMNS
                ),
                params![activity, worker],
                |r| sql::task(r),
            )
        })
        .await
    }
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn events_after(&self, after: u64, n: usize) -> Result<Vec<Event>> {
        let after = signed(after)?;
        let n = limit(n);
        self.read(move |c| {
            query_all(
                c,
                "SELECT seq, time_ms, detail_type, detail FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                params![after, n],
                |r| sql::event(r),
            )
        })
        .await
    }

    async fn acknowledge_events(&self, upto: u64) -> Result<()> {
        let upto = signed(upto)?;
        self.write(move |c| {
            c.execute("DELETE FROM outbox WHERE seq <= ?1", params![upto])?;
            Ok(())
        })
        .await
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
