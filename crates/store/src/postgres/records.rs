//! The store traits on PostgreSQL: one method, one statement (or one job).

use crate::sql::{self, Columns, signed};
use crate::*;
use async_trait::async_trait;
use tokio::sync::oneshot;

use super::*;

#[async_trait]
impl Machines for PostgresStore {
    async fn create_machine(&self, m: &Machine) -> Result<()> {
        self.client()
            .await?
            .execute(
                sql::INSERT_MACHINE,
                &[
                    &m.arn,
                    &m.name,
                    &m.kind,
                    &m.definition,
                    &m.role_arn,
                    &m.description,
                    &m.logging,
                    &m.revision_id,
                    &m.created_ms,
                    &m.updated_ms,
                ],
            )
            .await?;
        Ok(())
    }

    async fn update_machine(&self, m: &Machine) -> Result<()> {
        let n = self
            .client()
            .await?
            .execute(
                sql::UPDATE_MACHINE,
                &[
                    &m.arn,
                    &m.name,
                    &m.kind,
                    &m.definition,
                    &m.role_arn,
                    &m.description,
                    &m.logging,
                    &m.revision_id,
                    &m.created_ms,
                    &m.updated_ms,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(m.arn.clone()));
        }
        Ok(())
    }

    async fn machine(&self, arn: &str) -> Result<Option<Machine>> {
        self.one(
            &format!(
                "SELECT {} FROM machines WHERE arn = $1",
                sql::MACHINE_COLUMNS
            ),
            &[&arn],
            sql::machine,
        )
        .await
    }

    async fn machines(&self, page: Page<'_>) -> Result<Vec<Machine>> {
        let after = page.after.unwrap_or("");
        self.all(
            &format!(
                "SELECT {} FROM machines WHERE arn > $1 ORDER BY arn LIMIT $2",
                sql::MACHINE_COLUMNS
            ),
            &[&after, &page_limit(page.limit)],
            sql::machine,
        )
        .await
    }

    async fn delete_machine(&self, arn: &str) -> Result<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "WITH v AS (DELETE FROM versions WHERE machine_arn = $1),
                      a AS (DELETE FROM aliases WHERE machine_arn = $1)
                 DELETE FROM machines WHERE arn = $1",
                &[&arn],
            )
            .await?;
        Ok(n > 0)
    }

    async fn create_version(&self, v: &Version) -> Result<()> {
        self.client()
            .await?
            .execute(
                sql::INSERT_VERSION,
                &[
                    &v.arn,
                    &v.machine_arn,
                    &signed(v.number)?,
                    &v.definition,
                    &v.role_arn,
                    &v.kind,
                    &v.description,
                    &v.revision_id,
                    &v.created_ms,
                ],
            )
            .await?;
        Ok(())
    }

    async fn version(&self, arn: &str) -> Result<Option<Version>> {
        self.one(
            &format!(
                "SELECT {} FROM versions WHERE arn = $1",
                sql::VERSION_COLUMNS
            ),
            &[&arn],
            sql::version,
        )
        .await
    }

    async fn versions(&self, machine_arn: &str) -> Result<Vec<Version>> {
        self.all(
            &format!(
                "SELECT {} FROM versions WHERE machine_arn = $1 ORDER BY number DESC",
                sql::VERSION_COLUMNS
            ),
            &[&machine_arn],
            sql::version,
        )
        .await
    }

    async fn delete_version(&self, arn: &str) -> Result<bool> {
        Ok(self
            .client()
            .await?
            .execute("DELETE FROM versions WHERE arn = $1", &[&arn])
            .await?
            > 0)
    }

    async fn put_alias(&self, a: &Alias) -> Result<()> {
        self.client()
            .await?
            .execute(
                sql::PUT_ALIAS,
                &[
                    &a.arn,
                    &a.machine_arn,
                    &a.name,
                    &a.description,
                    &a.routing,
                    &a.created_ms,
                    &a.updated_ms,
                ],
            )
            .await?;
        Ok(())
    }

    async fn alias(&self, arn: &str) -> Result<Option<Alias>> {
        self.one(
            &format!("SELECT {} FROM aliases WHERE arn = $1", sql::ALIAS_COLUMNS),
            &[&arn],
            sql::alias,
        )
        .await
    }

    async fn aliases(&self, machine_arn: &str) -> Result<Vec<Alias>> {
        self.all(
            &format!(
                "SELECT {} FROM aliases WHERE machine_arn = $1 ORDER BY arn",
                sql::ALIAS_COLUMNS
            ),
            &[&machine_arn],
            sql::alias,
        )
        .await
    }

    async fn put_definition(&self, digest: &str, definition: &str) -> Result<()> {
        self.client()
            .await?
            .execute(sql::PUT_DEFINITION, &[&digest, &definition])
            .await?;
        Ok(())
    }

    async fn definition(&self, digest: &str) -> Result<Option<String>> {
        self.one(
            "SELECT definition FROM definitions WHERE digest = $1",
            &[&digest],
            |r| r.text(0),
        )
        .await
    }

    async fn delete_alias(&self, arn: &str) -> Result<bool> {
        Ok(self
            .client()
            .await?
            .execute("DELETE FROM aliases WHERE arn = $1", &[&arn])
            .await?
            > 0)
    }
}

#[async_trait]
impl Activities for PostgresStore {
    async fn create_activity(&self, a: &Activity) -> Result<()> {
        self.client()
            .await?
            .execute(sql::INSERT_ACTIVITY, &[&a.arn, &a.name, &a.created_ms])
            .await?;
        Ok(())
    }

    async fn activity(&self, arn: &str) -> Result<Option<Activity>> {
        self.one(
            "SELECT arn, name, created_ms FROM activities WHERE arn = $1",
            &[&arn],
            sql::activity,
        )
        .await
    }

    async fn activities(&self, page: Page<'_>) -> Result<Vec<Activity>> {
        let after = page.after.unwrap_or("");
        self.all(
            "SELECT arn, name, created_ms FROM activities WHERE arn > $1 ORDER BY arn LIMIT $2",
            &[&after, &page_limit(page.limit)],
            sql::activity,
        )
        .await
    }

    async fn delete_activity(&self, arn: &str) -> Result<bool> {
        Ok(self
            .client()
            .await?
            .execute("DELETE FROM activities WHERE arn = $1", &[&arn])
            .await?
            > 0)
    }
}

#[async_trait]
impl Executions for PostgresStore {
    async fn execution(&self, arn: &str) -> Result<Option<Execution>> {
        self.one(
            &format!(
                "SELECT {} FROM executions WHERE arn = $1",
                sql::EXECUTION_COLUMNS
            ),
            &[&arn],
            sql::execution,
        )
        .await
    }

    async fn executions(&self, f: ExecutionFilter<'_>) -> Result<Vec<Execution>> {
        let (before_ms, before_arn) = f.before.unwrap_or((i64::MAX, ""));
        let has_before = i64::from(f.before.is_some());
        self.all(
            &format!(
                "SELECT {} FROM executions
                 WHERE ($1::TEXT IS NULL OR machine_arn = $1) AND ($2::TEXT IS NULL OR version_arn = $2)
                   AND ($3::TEXT IS NULL OR status = $3)
                   AND ($4::BIGINT = 0 OR start_ms < $5 OR (start_ms = $5 AND arn < $6))
                 ORDER BY start_ms DESC, arn DESC LIMIT $7",
                sql::EXECUTION_COLUMNS
            ),
            &[
                &f.machine_arn,
                &f.version_arn,
                &f.status,
                &has_before,
                &before_ms,
                &before_arn,
                &page_limit(f.limit),
            ],
            sql::execution,
        )
        .await
    }

    async fn checkpoint(&self, arn: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT checkpoint FROM executions WHERE arn = $1", &[&arn])
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<_, Option<Vec<u8>>>(0)?,
            None => None,
        })
    }

    async fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>> {
        let (lo, hi) = (signed(from)?, signed(to.min(i64::MAX as u64))?);
        let rows = self
            .all(sql::SELECT_EVENTS, &[&arn, &lo, &hi], |r| r.text(0))
            .await?;
        let mut out = Vec::new();
        sql::decode_events(rows, from, to, &mut out)?;
        Ok(out)
    }

    async fn ready_executions(&self) -> Result<Vec<String>> {
        self.all(
            "SELECT arn FROM executions WHERE ready <> 0 AND status = 'RUNNING' ORDER BY arn",
            &[],
            |r| r.text(0),
        )
        .await
    }

    async fn finished_before(&self, before_ms: i64, n: usize) -> Result<Vec<String>> {
        self.all(
            "SELECT arn FROM executions WHERE stop_ms IS NOT NULL AND stop_ms < $1
               AND status <> 'RUNNING' ORDER BY stop_ms, arn LIMIT $2",
            &[&before_ms, &page_limit(n)],
            |r| r.text(0),
        )
        .await
    }

    async fn delete_execution(&self, arn: &str) -> Result<()> {
        // One statement, so that it is atomic without a transaction on the shared client.
        self.client()
            .await?
            .execute(
                "WITH h AS (DELETE FROM history WHERE execution_arn = $1),
                      t AS (DELETE FROM timers WHERE execution_arn = $1),
                      k AS (DELETE FROM tasks WHERE execution_arn = $1)
                 DELETE FROM executions WHERE arn = $1",
                &[&arn],
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Steps for PostgresStore {
    async fn commit(&self, step: Step) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.steps
            .send((step, tx))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl Timers for PostgresStore {
    async fn due_timers(&self, until_ms: i64, n: usize) -> Result<Vec<Timer>> {
        self.all(
            "SELECT execution_arn, timer, due_ms FROM timers WHERE due_ms <= $1 ORDER BY due_ms LIMIT $2",
            &[&until_ms, &page_limit(n)],
            sql::timer,
        )
        .await
    }

    async fn next_due_after(&self, after_ms: i64) -> Result<Option<i64>> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT MIN(due_ms) FROM timers WHERE due_ms > $1",
                &[&after_ms],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn timer_count(&self) -> Result<u64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT COUNT(*) FROM timers", &[])
            .await?;
        Ok(row.try_get::<_, i64>(0)? as u64)
    }
}

#[async_trait]
impl Tasks for PostgresStore {
    async fn task_by_token(&self, token: &str) -> Result<Option<Task>> {
        self.one(
            &format!("SELECT {} FROM tasks WHERE token = $1", sql::TASK_COLUMNS),
            &[&token],
            sql::task,
        )
        .await
    }

    async fn dispatch_tasks(&self) -> Result<Vec<Task>> {
        self.all(
            &format!(
                "SELECT {} FROM tasks WHERE kind <> 'activity' ORDER BY created_ms, execution_arn, task",
                sql::TASK_COLUMNS
            ),
            &[],
            sql::task,
        )
        .await
    }

    async fn claim_activity_task(&self, activity_arn: &str, worker: &str) -> Result<Option<Task>> {
        self.one(
            &format!(
                "UPDATE tasks SET worker = $2 WHERE (execution_arn, task) = (
                    SELECT execution_arn, task FROM tasks WHERE kind = 'activity' AND worker IS NULL
                      AND resource = $1 ORDER BY created_ms, execution_arn, task LIMIT 1
                      FOR UPDATE SKIP LOCKED)
                 RETURNING {}",
                sql::TASK_COLUMNS
            ),
            &[&activity_arn, &worker],
            sql::task,
        )
        .await
    }
}

#[async_trait]
impl Outbox for PostgresStore {
    async fn events_after(&self, after: u64, n: usize) -> Result<Vec<Event>> {
        self.all(
            "SELECT seq, time_ms, detail_type, detail FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&signed(after)?, &page_limit(n)],
            sql::event,
        )
        .await
    }

    async fn acknowledge_events(&self, upto: u64) -> Result<()> {
        self.client()
            .await?
            .execute("DELETE FROM outbox WHERE seq <= $1", &[&signed(upto)?])
            .await?;
        Ok(())
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
}
