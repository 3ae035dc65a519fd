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
                    "SELECT {} FROM tasks WHERE {} ORDER BY created_ms, execution_arn, task",
                    sql::TASK_COLUMNS,
                    sql::DISPATCH_TASKS_WHERE
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

/// Whether a function of this name exists, on the writer's connection.
fn function_exists(c: &Connection, name: &str) -> Result<bool> {
    Ok(prep(c, "SELECT 1 FROM functions WHERE name = ?1")?
        .query_row(params![name], |_| Ok(()))
        .optional()?
        .is_some())
}

#[async_trait]
impl Functions for SqliteStore {
    async fn create_function(&self, f: &Function) -> Result<()> {
        let f = f.clone();
        self.write(move |c| {
            prep(c, sql::INSERT_FUNCTION)?.execute(params![
                f.name,
                f.config,
                f.code_digest,
                f.revision_id,
                signed(f.next_version)?,
                f.created_ms,
                f.updated_ms
            ])?;
            Ok(())
        })
        .await
    }

    async fn update_function(&self, f: &Function, expected_revision: &str) -> Result<()> {
        let (f, expected) = (f.clone(), expected_revision.to_owned());
        self.write(move |c| {
            let n = prep(c, sql::UPDATE_FUNCTION)?.execute(params![
                f.name,
                f.config,
                f.code_digest,
                f.revision_id,
                f.created_ms,
                f.updated_ms,
                expected
            ])?;
            if n > 0 {
                Ok(())
            } else if function_exists(c, &f.name)? {
                Err(StoreError::Conflict(format!(
                    "function {} at another revision than {expected}",
                    f.name
                )))
            } else {
                Err(StoreError::NotFound(format!("function {}", f.name)))
            }
        })
        .await
    }

    async fn function(&self, name: &str) -> Result<Option<Function>> {
        let name = name.to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {} FROM functions WHERE name = ?1",
                    sql::FUNCTION_COLUMNS
                ),
                params![name],
                |r| sql::function(r),
            )
        })
        .await
    }

    async fn functions(&self, page: Page<'_>) -> Result<Vec<Function>> {
        let after = page.after.unwrap_or("").to_owned();
        let n = limit(page.limit);
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM functions WHERE name > ?1 ORDER BY name LIMIT ?2",
                    sql::FUNCTION_COLUMNS
                ),
                params![after, n],
                |r| sql::function(r),
            )
        })
        .await
    }

    async fn delete_function(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |c| {
            // The code this function and its versions name, to delete if nothing else does.
            let digests = query_all(
                c,
                "SELECT code_digest FROM functions WHERE name = ?1
                 UNION SELECT code_digest FROM function_versions WHERE function = ?1",
                params![name],
                |r| r.text(0),
            )?;
            for table in ["function_versions", "function_aliases"] {
                prep(c, &format!("DELETE FROM {table} WHERE function = ?1"))?
                    .execute(params![name])?;
            }
            prep(
                c,
                "DELETE FROM routes WHERE target = ?1 AND kind = 'function'",
            )?
            .execute(params![name])?;
            let existed =
                prep(c, "DELETE FROM functions WHERE name = ?1")?.execute(params![name])? > 0;
            let mut unnamed = prep(
                c,
                "DELETE FROM code WHERE digest = ?1
                   AND NOT EXISTS (SELECT 1 FROM functions WHERE code_digest = ?1)
                   AND NOT EXISTS (SELECT 1 FROM function_versions WHERE code_digest = ?1)",
            )?;
            for digest in digests {
                unnamed.execute(params![digest])?;
            }
            Ok(existed)
        })
        .await
    }

    async fn publish_function_version(
        &self,
        v: &FunctionVersion,
        expected_revision: Option<&str>,
    ) -> Result<FunctionVersion> {
        let (v, expected) = (v.clone(), expected_revision.map(str::to_owned));
        self.write(move |c| {
            let current = prep(
                c,
                "SELECT next_version, revision_id FROM functions WHERE name = ?1",
            )?
            .query_row(params![v.function], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
            let Some((next, revision)) = current else {
                return Err(StoreError::NotFound(format!("function {}", v.function)));
            };
            if expected.as_ref().is_some_and(|e| *e != revision) {
                return Err(StoreError::Conflict(format!(
                    "function {} at revision {revision}",
                    v.function
                )));
            }
            prep(c, sql::INSERT_FUNCTION_VERSION)?.execute(params![
                v.function,
                next,
                v.config,
                v.code_digest,
                v.revision_id,
                v.created_ms
            ])?;
            prep(
                c,
                "UPDATE functions SET next_version = next_version + 1 WHERE name = ?1",
            )?
            .execute(params![v.function])?;
            let number = u64::try_from(next)
                .map_err(|_| StoreError::Corrupt(format!("next version {next}")))?;
            Ok(FunctionVersion {
                number,
                ..v.clone()
            })
        })
        .await
    }

    async fn function_version(
        &self,
        function: &str,
        number: u64,
    ) -> Result<Option<FunctionVersion>> {
        let (function, number) = (function.to_owned(), signed(number)?);
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {} FROM function_versions WHERE function = ?1 AND number = ?2",
                    sql::FUNCTION_VERSION_COLUMNS
                ),
                params![function, number],
                |r| sql::function_version(r),
            )
        })
        .await
    }

    async fn function_versions(&self, function: &str) -> Result<Vec<FunctionVersion>> {
        let function = function.to_owned();
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM function_versions WHERE function = ?1 ORDER BY number",
                    sql::FUNCTION_VERSION_COLUMNS
                ),
                params![function],
                |r| sql::function_version(r),
            )
        })
        .await
    }

    async fn delete_function_version(&self, function: &str, number: u64) -> Result<bool> {
        let (function, number) = (function.to_owned(), signed(number)?);
        self.write(move |c| {
            Ok(prep(
                c,
                "DELETE FROM function_versions WHERE function = ?1 AND number = ?2",
            )?
            .execute(params![function, number])?
                > 0)
        })
        .await
    }

    async fn create_function_alias(&self, a: &FunctionAlias) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            prep(c, sql::INSERT_FUNCTION_ALIAS)?.execute(params![
                a.function,
                a.name,
                a.version,
                a.routing,
                a.description,
                a.revision_id,
                a.created_ms,
                a.updated_ms
            ])?;
            Ok(())
        })
        .await
    }

    async fn update_function_alias(&self, a: &FunctionAlias) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            let n = prep(c, sql::UPDATE_FUNCTION_ALIAS)?.execute(params![
                a.function,
                a.name,
                a.version,
                a.routing,
                a.description,
                a.revision_id,
                a.created_ms,
                a.updated_ms
            ])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "alias {} of function {}",
                    a.name, a.function
                )));
            }
            Ok(())
        })
        .await
    }

    async fn function_alias(&self, function: &str, name: &str) -> Result<Option<FunctionAlias>> {
        let (function, name) = (function.to_owned(), name.to_owned());
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {} FROM function_aliases WHERE function = ?1 AND name = ?2",
                    sql::FUNCTION_ALIAS_COLUMNS
                ),
                params![function, name],
                |r| sql::function_alias(r),
            )
        })
        .await
    }

    async fn function_aliases(&self, function: &str) -> Result<Vec<FunctionAlias>> {
        let function = function.to_owned();
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM function_aliases WHERE function = ?1 ORDER BY name",
                    sql::FUNCTION_ALIAS_COLUMNS
                ),
                params![function],
                |r| sql::function_alias(r),
            )
        })
        .await
    }

    async fn delete_function_alias(&self, function: &str, name: &str) -> Result<bool> {
        let (function, name) = (function.to_owned(), name.to_owned());
        self.write(move |c| {
            Ok(prep(
                c,
                "DELETE FROM function_aliases WHERE function = ?1 AND name = ?2",
            )?
            .execute(params![function, name])?
                > 0)
        })
        .await
    }

    async fn put_code(&self, digest: &str, code: &[u8]) -> Result<()> {
        let (digest, code) = (digest.to_owned(), code.to_vec());
        self.write(move |c| {
            prep(c, sql::PUT_CODE)?.execute(params![digest, code])?;
            Ok(())
        })
        .await
    }

    async fn code(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let digest = digest.to_owned();
        self.read(move |c| {
            query_one(
                c,
                "SELECT code FROM code WHERE digest = ?1",
                params![digest],
                |r| r.bytes(0),
            )
        })
        .await
    }

    async fn put_route(&self, r: &Route) -> Result<()> {
        let r = r.clone();
        self.write(move |c| {
            prep(c, sql::PUT_ROUTE)?.execute(params![
                r.route_key,
                r.target.kind(),
                r.target.name(),
                r.target.qualifier(),
                r.created_ms
            ])?;
            Ok(())
        })
        .await
    }

    async fn delete_route(&self, route_key: &str) -> Result<bool> {
        let key = route_key.to_owned();
        self.write(move |c| {
            Ok(prep(c, "DELETE FROM routes WHERE route_key = ?1")?.execute(params![key])? > 0)
        })
        .await
    }

    async fn routes(&self) -> Result<Vec<Route>> {
        self.read(|c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM routes ORDER BY route_key",
                    sql::ROUTE_COLUMNS
                ),
                [],
                |r| sql::route(r),
            )
        })
        .await
    }
}

#[async_trait]
impl Invocations for SqliteStore {
    async fn enqueue_invocation(&self, i: &QueuedInvocation) -> Result<()> {
        let i = i.clone();
        self.write(move |c| {
            prep(c, sql::INSERT_INVOCATION)?.execute(params![
                i.id,
                i.function,
                i.qualifier,
                i.payload,
                i.attempts,
                i.due_ms,
                i.created_ms,
                i.last_error
            ])?;
            Ok(())
        })
        .await
    }

    async fn due_invocations(&self, until_ms: i64, n: usize) -> Result<Vec<QueuedInvocation>> {
        let n = limit(n);
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM invocations WHERE due_ms <= ?1 ORDER BY due_ms, id LIMIT ?2",
                    sql::INVOCATION_COLUMNS
                ),
                params![until_ms, n],
                |r| sql::invocation(r),
            )
        })
        .await
    }

    async fn next_invocation_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(prep(c, "SELECT MIN(due_ms) FROM invocations")?
                .query_row([], |r| r.get::<_, Option<i64>>(0))?)
        })
        .await
    }

    async fn reschedule_invocation(&self, i: &QueuedInvocation) -> Result<()> {
        let i = i.clone();
        self.write(move |c| {
            let n = prep(c, sql::RESCHEDULE_INVOCATION)?.execute(params![
                i.id,
                i.attempts,
                i.due_ms,
                i.last_error
            ])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("invocation {}", i.id)));
            }
            Ok(())
        })
        .await
    }

    async fn finish_invocation(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            Ok(prep(c, "DELETE FROM invocations WHERE id = ?1")?.execute(params![id])? > 0)
        })
        .await
    }

    async fn dead_letter_invocation(&self, d: &DeadLetter) -> Result<()> {
        let d = d.clone();
        self.write(move |c| {
            let i = &d.invocation;
            // Both in the job's transaction: a failed insert puts nothing back in the queue
            // because the delete is rolled back with it.
            let n = prep(c, "DELETE FROM invocations WHERE id = ?1")?.execute(params![i.id])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("invocation {}", i.id)));
            }
            prep(
                c,
                "INSERT INTO dead_letters (id, function, qualifier, payload, attempts, due_ms,
                   created_ms, last_error, reason, failed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                i.id,
                i.function,
                i.qualifier,
                i.payload,
                i.attempts,
                i.due_ms,
                i.created_ms,
                i.last_error,
                d.reason,
                d.failed_ms
            ])?;
            Ok(())
        })
        .await
    }

    async fn dead_letters(&self, function: Option<&str>, n: usize) -> Result<Vec<DeadLetter>> {
        let function = function.map(str::to_owned);
        let n = limit(n);
        self.read(move |c| match function {
            Some(f) => query_all(
                c,
                &format!(
                    "SELECT {} FROM dead_letters WHERE function = ?1
                     ORDER BY failed_ms DESC, id DESC LIMIT ?2",
                    sql::DEAD_LETTER_COLUMNS
                ),
                params![f, n],
                |r| sql::dead_letter(r),
            ),
            None => query_all(
                c,
                &format!(
                    "SELECT {} FROM dead_letters ORDER BY failed_ms DESC, id DESC LIMIT ?1",
                    sql::DEAD_LETTER_COLUMNS
                ),
                params![n],
                |r| sql::dead_letter(r),
            ),
        })
        .await
    }

    async fn delete_dead_letter(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            Ok(prep(c, "DELETE FROM dead_letters WHERE id = ?1")?.execute(params![id])? > 0)
        })
        .await
    }

    async fn queued_invocations(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM invocations", [], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn close(&self) {
        SqliteStore::close(self);
    }
}
