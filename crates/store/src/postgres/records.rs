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
                "SELECT {} FROM tasks WHERE {} ORDER BY created_ms, execution_arn, task",
                sql::TASK_COLUMNS,
                sql::DISPATCH_TASKS_WHERE
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

#[async_trait]
impl Functions for PostgresStore {
    async fn create_function(&self, f: &Function) -> Result<()> {
        self.execute(
            sql::INSERT_FUNCTION,
            &[
                &f.name,
                &f.config,
                &f.code_digest,
                &f.revision_id,
                &signed(f.next_version)?,
                &f.created_ms,
                &f.updated_ms,
            ],
        )
        .await?;
        Ok(())
    }

    async fn update_function(&self, f: &Function, expected_revision: &str) -> Result<()> {
        // One statement: the update, and (in the same snapshot) whether the function
        // exists, to tell a revision conflict from a missing function.
        let row = self
            .client()
            .await?
            .query_one(
                &format!(
                    "WITH u AS ({} RETURNING 1)
                     SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM functions WHERE name = $1)",
                    sql::UPDATE_FUNCTION
                ),
                &[
                    &f.name,
                    &f.config,
                    &f.code_digest,
                    &f.revision_id,
                    &f.created_ms,
                    &f.updated_ms,
                    &expected_revision,
                ],
            )
            .await?;
        match (row.try_get::<_, bool>(0)?, row.try_get::<_, bool>(1)?) {
            (true, _) => Ok(()),
            (false, true) => Err(StoreError::Conflict(format!(
                "function {} at another revision than {expected_revision}",
                f.name
            ))),
            (false, false) => Err(StoreError::NotFound(format!("function {}", f.name))),
        }
    }

    async fn function(&self, name: &str) -> Result<Option<Function>> {
        self.one(
            &format!(
                "SELECT {} FROM functions WHERE name = $1",
                sql::FUNCTION_COLUMNS
            ),
            &[&name],
            sql::function,
        )
        .await
    }

    async fn functions(&self, page: Page<'_>) -> Result<Vec<Function>> {
        let after = page.after.unwrap_or("");
        self.all(
            &format!(
                "SELECT {} FROM functions WHERE name > $1 ORDER BY name LIMIT $2",
                sql::FUNCTION_COLUMNS
            ),
            &[&after, &page_limit(page.limit)],
            sql::function,
        )
        .await
    }

    async fn delete_function(&self, name: &str) -> Result<bool> {
        // One statement, so that it is atomic on the shared session. Its parts all see the
        // rows as they were before it, so the code check leaves out this function's rows.
        let row = self
            .client()
            .await?
            .query_one(
                "WITH v AS (DELETE FROM function_versions WHERE function = $1 RETURNING code_digest),
                      a AS (DELETE FROM function_aliases WHERE function = $1),
                      r AS (DELETE FROM routes WHERE target = $1 AND kind = 'function'),
                      f AS (DELETE FROM functions WHERE name = $1 RETURNING code_digest),
                      c AS (DELETE FROM code WHERE digest IN (SELECT code_digest FROM v
                                                            UNION SELECT code_digest FROM f)
                              AND NOT EXISTS (SELECT 1 FROM functions o
                                              WHERE o.code_digest = code.digest AND o.name <> $1)
                              AND NOT EXISTS (SELECT 1 FROM function_versions o
                                              WHERE o.code_digest = code.digest AND o.function <> $1))
                 SELECT EXISTS (SELECT 1 FROM f)",
                &[&name],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn publish_function_version(
        &self,
        v: &FunctionVersion,
        expected_revision: Option<&str>,
    ) -> Result<FunctionVersion> {
        // One statement: the function's row is locked by the update, so concurrent
        // publishes take numbers one after another; a failed insert undoes the increment.
        let row = self
            .client()
            .await?
            .query_one(
                "WITH f AS (UPDATE functions SET next_version = next_version + 1
                            WHERE name = $1 AND ($2::TEXT IS NULL OR revision_id = $2)
                            RETURNING next_version - 1 AS number),
                      v AS (INSERT INTO function_versions
                              (function, number, config, code_digest, revision_id, created_ms)
                            SELECT $1, number, $3::TEXT, $4::TEXT, $5::TEXT, $6::BIGINT FROM f
                            RETURNING number)
                 SELECT (SELECT number FROM v), EXISTS (SELECT 1 FROM functions WHERE name = $1)",
                &[
                    &v.function,
                    &expected_revision,
                    &v.config,
                    &v.code_digest,
                    &v.revision_id,
                    &v.created_ms,
                ],
            )
            .await?;
        match (
            row.try_get::<_, Option<i64>>(0)?,
            row.try_get::<_, bool>(1)?,
        ) {
            (Some(number), _) => Ok(FunctionVersion {
                number: u64::try_from(number)
                    .map_err(|_| StoreError::Corrupt(format!("version number {number}")))?,
                ..v.clone()
            }),
            (None, true) => Err(StoreError::Conflict(format!(
                "function {} at another revision than {}",
                v.function,
                expected_revision.unwrap_or_default()
            ))),
            (None, false) => Err(StoreError::NotFound(format!("function {}", v.function))),
        }
    }

    async fn function_version(
        &self,
        function: &str,
        number: u64,
    ) -> Result<Option<FunctionVersion>> {
        self.one(
            &format!(
                "SELECT {} FROM function_versions WHERE function = $1 AND number = $2",
                sql::FUNCTION_VERSION_COLUMNS
            ),
            &[&function, &signed(number)?],
            sql::function_version,
        )
        .await
    }

    async fn function_versions(&self, function: &str) -> Result<Vec<FunctionVersion>> {
        self.all(
            &format!(
                "SELECT {} FROM function_versions WHERE function = $1 ORDER BY number",
                sql::FUNCTION_VERSION_COLUMNS
            ),
            &[&function],
            sql::function_version,
        )
        .await
    }

    async fn delete_function_version(&self, function: &str, number: u64) -> Result<bool> {
        Ok(self
            .execute(
                "DELETE FROM function_versions WHERE function = $1 AND number = $2",
                &[&function, &signed(number)?],
            )
            .await?
            > 0)
    }

    async fn create_function_alias(&self, a: &FunctionAlias) -> Result<()> {
        self.execute(
            sql::INSERT_FUNCTION_ALIAS,
            &[
                &a.function,
                &a.name,
                &a.version,
                &a.routing,
                &a.description,
                &a.revision_id,
                &a.created_ms,
                &a.updated_ms,
            ],
        )
        .await?;
        Ok(())
    }

    async fn update_function_alias(&self, a: &FunctionAlias) -> Result<()> {
        let n = self
            .execute(
                sql::UPDATE_FUNCTION_ALIAS,
                &[
                    &a.function,
                    &a.name,
                    &a.version,
                    &a.routing,
                    &a.description,
                    &a.revision_id,
                    &a.created_ms,
                    &a.updated_ms,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "alias {} of function {}",
                a.name, a.function
            )));
        }
        Ok(())
    }

    async fn function_alias(&self, function: &str, name: &str) -> Result<Option<FunctionAlias>> {
        self.one(
            &format!(
                "SELECT {} FROM function_aliases WHERE function = $1 AND name = $2",
                sql::FUNCTION_ALIAS_COLUMNS
            ),
            &[&function, &name],
            sql::function_alias,
        )
        .await
    }

    async fn function_aliases(&self, function: &str) -> Result<Vec<FunctionAlias>> {
        self.all(
            &format!(
                "SELECT {} FROM function_aliases WHERE function = $1 ORDER BY name",
                sql::FUNCTION_ALIAS_COLUMNS
            ),
            &[&function],
            sql::function_alias,
        )
        .await
    }

    async fn delete_function_alias(&self, function: &str, name: &str) -> Result<bool> {
        Ok(self
            .execute(
                "DELETE FROM function_aliases WHERE function = $1 AND name = $2",
                &[&function, &name],
            )
            .await?
            > 0)
    }

    async fn put_code(&self, digest: &str, code: &[u8]) -> Result<()> {
        self.execute(sql::PUT_CODE, &[&digest, &code]).await?;
        Ok(())
    }

    async fn code(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        self.one("SELECT code FROM code WHERE digest = $1", &[&digest], |r| {
            r.bytes(0)
        })
        .await
    }

    async fn put_route(&self, r: &Route) -> Result<()> {
        self.execute(
            sql::PUT_ROUTE,
            &[
                &r.route_key,
                &r.target.kind(),
                &r.target.name(),
                &r.target.qualifier(),
                &r.created_ms,
            ],
        )
        .await?;
        Ok(())
    }

    async fn delete_route(&self, route_key: &str) -> Result<bool> {
        Ok(self
            .execute("DELETE FROM routes WHERE route_key = $1", &[&route_key])
            .await?
            > 0)
    }

    async fn routes(&self) -> Result<Vec<Route>> {
        self.all(
            &format!(
                "SELECT {} FROM routes ORDER BY route_key",
                sql::ROUTE_COLUMNS
            ),
            &[],
            sql::route,
        )
        .await
    }
}

#[async_trait]
impl Invocations for PostgresStore {
    async fn enqueue_invocation(&self, i: &QueuedInvocation) -> Result<()> {
        self.execute(
            sql::INSERT_INVOCATION,
            &[
                &i.id,
                &i.function,
                &i.qualifier,
                &i.payload,
                &i64::from(i.attempts),
                &i.due_ms,
                &i.created_ms,
                &i.last_error,
            ],
        )
        .await?;
        Ok(())
    }

    async fn due_invocations(&self, until_ms: i64, n: usize) -> Result<Vec<QueuedInvocation>> {
        self.all(
            &format!(
                "SELECT {} FROM invocations WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $2",
                sql::INVOCATION_COLUMNS
            ),
            &[&until_ms, &page_limit(n)],
            sql::invocation,
        )
        .await
    }

    async fn next_invocation_due(&self) -> Result<Option<i64>> {
        let row = self
            .client()
            .await?
            .query_one("SELECT MIN(due_ms) FROM invocations", &[])
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn reschedule_invocation(&self, i: &QueuedInvocation) -> Result<()> {
        let n = self
            .execute(
                sql::RESCHEDULE_INVOCATION,
                &[&i.id, &i64::from(i.attempts), &i.due_ms, &i.last_error],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("invocation {}", i.id)));
        }
        Ok(())
    }

    async fn finish_invocation(&self, id: &str) -> Result<bool> {
        Ok(self
            .execute("DELETE FROM invocations WHERE id = $1", &[&id])
            .await?
            > 0)
    }

    async fn dead_letter_invocation(&self, d: &DeadLetter) -> Result<()> {
        // One statement: the insert takes the row the delete removed, so nothing is
        // inserted if the invocation is not queued, and a failed insert keeps it queued.
        let i = &d.invocation;
        let n = self
            .execute(
                "WITH q AS (DELETE FROM invocations WHERE id = $1 RETURNING id)
                 INSERT INTO dead_letters (id, function, qualifier, payload, attempts, due_ms,
                   created_ms, last_error, reason, failed_ms)
                 SELECT id, $2::TEXT, $3::TEXT, $4::BYTEA, $5::BIGINT, $6::BIGINT, $7::BIGINT,
                   $8::TEXT, $9::TEXT, $10::BIGINT FROM q",
                &[
                    &i.id,
                    &i.function,
                    &i.qualifier,
                    &i.payload,
                    &i64::from(i.attempts),
                    &i.due_ms,
                    &i.created_ms,
                    &i.last_error,
                    &d.reason,
                    &d.failed_ms,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("invocation {}", i.id)));
        }
        Ok(())
    }

    async fn dead_letters(&self, function: Option<&str>, n: usize) -> Result<Vec<DeadLetter>> {
        match function {
            Some(f) => {
                self.all(
                    &format!(
                        "SELECT {} FROM dead_letters WHERE function = $1
                         ORDER BY failed_ms DESC, id DESC LIMIT $2",
                        sql::DEAD_LETTER_COLUMNS
                    ),
                    &[&f, &page_limit(n)],
                    sql::dead_letter,
                )
                .await
            }
            None => {
                self.all(
                    &format!(
                        "SELECT {} FROM dead_letters ORDER BY failed_ms DESC, id DESC LIMIT $1",
                        sql::DEAD_LETTER_COLUMNS
                    ),
                    &[&page_limit(n)],
                    sql::dead_letter,
                )
                .await
            }
        }
    }

    async fn delete_dead_letter(&self, id: &str) -> Result<bool> {
        Ok(self
            .execute("DELETE FROM dead_letters WHERE id = $1", &[&id])
            .await?
            > 0)
    }

    async fn queued_invocations(&self) -> Result<u64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT COUNT(*) FROM invocations", &[])
            .await?;
        Ok(row.try_get::<_, i64>(0)? as u64)
    }
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
}
