//! The store traits on SQLite: one method, one statement (or one job).

use crate::sql::{self, Columns, signed};
use crate::*;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::*;

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
        let encoded = Encoded::new(step)?;
        self.write(move |c| apply_step(c, &encoded)).await
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
