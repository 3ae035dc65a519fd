//! The PostgreSQL backend, for clusters of nodes sharing one database. Steps are committed
//! by a few writer connections, each taking every step waiting when it becomes free and
//! sending the whole batch's statements pipelined inside one transaction (group commit).
//! If a batch fails, its steps are retried one transaction each, so one bad step fails
//! alone. Reads and the rare definition writes share one pipelined connection.
//!
//! Functions and invocations are written on that connection too, one committed statement
//! per call. Writes that touch several tables (publishing a version, deleting a function
//! with everything naming it, dead-lettering) are single statements with data-modifying
//! `WITH` clauses, atomic without a transaction on the shared client. Their parts all see
//! the rows as they were before the statement, which the SQL accounts for. Publishing
//! increments the function's `next_version` with an `UPDATE`, whose row lock makes
//! concurrent publishes (from any node) take numbers one after another. Code is a BYTEA
//! parameter; a put of tens of megabytes delays the reads pipelined behind it.
//!
//! The event system's records (`events`) are written on a few connections of their own,
//! each write one transaction; schedules fire once and queue messages are received once
//! across nodes (row locks, `FOR UPDATE SKIP LOCKED`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::future::try_join_all;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use crate::sql::{self, Columns, signed};
use crate::*;

mod events;
mod records;

const SCHEMA: &[&str] = &[
    r#"
CREATE TABLE machines (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, definition TEXT NOT NULL,
    role_arn TEXT NOT NULL, description TEXT NOT NULL, logging TEXT, revision_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL
);
CREATE TABLE versions (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, number BIGINT NOT NULL,
    definition TEXT NOT NULL, role_arn TEXT NOT NULL, kind TEXT NOT NULL,
    description TEXT NOT NULL, revision_id TEXT NOT NULL, created_ms BIGINT NOT NULL,
    UNIQUE (machine_arn, number)
);
CREATE TABLE aliases (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, routing TEXT NOT NULL, created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE definitions (digest TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE activities (arn TEXT PRIMARY KEY, name TEXT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE executions (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, version_arn TEXT, alias_arn TEXT,
    name TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL, output TEXT, error TEXT,
    cause TEXT, start_ms BIGINT NOT NULL, stop_ms BIGINT, redrive_count BIGINT NOT NULL,
    redrive_ms BIGINT, event_count BIGINT NOT NULL, parent TEXT, ready BIGINT NOT NULL,
    definition_digest TEXT NOT NULL, checkpoint BYTEA
);
CREATE INDEX executions_by_start ON executions (start_ms DESC, arn DESC);
CREATE INDEX executions_by_machine ON executions (machine_arn, start_ms DESC, arn DESC);
CREATE INDEX executions_ready ON executions (ready) WHERE ready <> 0;
CREATE INDEX executions_stopped ON executions (stop_ms) WHERE stop_ms IS NOT NULL;
CREATE TABLE history (
    execution_arn TEXT NOT NULL, first_id BIGINT NOT NULL, last_id BIGINT NOT NULL,
    events TEXT NOT NULL, PRIMARY KEY (execution_arn, first_id)
);
CREATE TABLE timers (
    execution_arn TEXT NOT NULL, timer BIGINT NOT NULL, due_ms BIGINT NOT NULL,
    PRIMARY KEY (execution_arn, timer)
);
CREATE INDEX timers_due ON timers (due_ms);
CREATE TABLE tasks (
    execution_arn TEXT NOT NULL, task BIGINT NOT NULL, kind TEXT NOT NULL, token TEXT,
    resource TEXT NOT NULL, state TEXT NOT NULL, invocation TEXT NOT NULL, worker TEXT,
    created_ms BIGINT NOT NULL, PRIMARY KEY (execution_arn, task)
);
CREATE UNIQUE INDEX tasks_token ON tasks (token) WHERE token IS NOT NULL;
CREATE INDEX tasks_waiting ON tasks (resource, created_ms) WHERE kind = 'activity' AND worker IS NULL;
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY, time_ms BIGINT NOT NULL, detail_type TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE functions (
    name TEXT PRIMARY KEY, config TEXT NOT NULL, code_digest TEXT NOT NULL,
    revision_id TEXT NOT NULL, next_version BIGINT NOT NULL, created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX functions_by_code ON functions (code_digest);
CREATE TABLE function_versions (
    function TEXT NOT NULL, number BIGINT NOT NULL, config TEXT NOT NULL,
    code_digest TEXT NOT NULL, revision_id TEXT NOT NULL, created_ms BIGINT NOT NULL,
    PRIMARY KEY (function, number)
);
CREATE INDEX function_versions_by_code ON function_versions (code_digest);
CREATE TABLE function_aliases (
    function TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, routing TEXT NOT NULL,
    description TEXT NOT NULL, revision_id TEXT NOT NULL, created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL, PRIMARY KEY (function, name)
);
CREATE TABLE code (digest TEXT PRIMARY KEY, code BYTEA NOT NULL);
CREATE TABLE routes (
    route_key TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX routes_by_function ON routes (function);
CREATE TABLE invocations (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT NOT NULL, payload BYTEA NOT NULL,
    attempts BIGINT NOT NULL, due_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX invocations_due ON invocations (due_ms, id);
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY, function TEXT NOT NULL, qualifier TEXT NOT NULL, payload BYTEA NOT NULL,
    attempts BIGINT NOT NULL, due_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL,
    last_error TEXT, reason TEXT NOT NULL, failed_ms BIGINT NOT NULL
);
CREATE INDEX dead_letters_by_function ON dead_letters (function, failed_ms, id);
CREATE INDEX dead_letters_by_time ON dead_letters (failed_ms, id);
"#,
    // Text keys compare by bytes (COLLATE "C"), as the other backends' do, so that listings,
    // prefix ranges and `after` keys agree whatever the database's collation.
    r#"
CREATE TABLE resources (
    kind TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, document TEXT NOT NULL,
    revision BIGINT NOT NULL, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE deliveries (
    id TEXT COLLATE "C" PRIMARY KEY, bus TEXT NOT NULL, rule TEXT NOT NULL, target TEXT NOT NULL,
    payload TEXT NOT NULL, attempts BIGINT NOT NULL, due_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL, last_error TEXT
);
CREATE INDEX deliveries_due ON deliveries (due_ms, id);
CREATE TABLE dead_events (
    id TEXT COLLATE "C" PRIMARY KEY, bus TEXT NOT NULL, rule TEXT NOT NULL, target TEXT NOT NULL,
    payload TEXT NOT NULL, attempts BIGINT NOT NULL, due_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL, last_error TEXT, reason TEXT NOT NULL, failed_ms BIGINT NOT NULL
);
CREATE INDEX dead_events_by_time ON dead_events (failed_ms, id);
CREATE INDEX dead_events_by_rule ON dead_events (bus, rule, failed_ms, id);
CREATE TABLE archived_events (
    archive TEXT COLLATE "C" NOT NULL, time_ms BIGINT NOT NULL, id TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL, event TEXT NOT NULL, PRIMARY KEY (archive, time_ms, id)
);
CREATE TABLE schedules (
    name TEXT COLLATE "C" PRIMARY KEY, expression TEXT NOT NULL, timezone TEXT NOT NULL,
    next_ms BIGINT, document TEXT NOT NULL, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_ms, name) WHERE next_ms IS NOT NULL;
CREATE TABLE queue_messages (
    queue TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, body TEXT NOT NULL,
    attributes TEXT NOT NULL, sent_ms BIGINT NOT NULL, visible_ms BIGINT NOT NULL,
    receive_count BIGINT NOT NULL, first_receive_ms BIGINT, PRIMARY KEY (queue, id)
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
ALTER TABLE tasks ADD COLUMN delivered BIGINT NOT NULL DEFAULT 0;
"#,
];

const WRITERS: usize = 3;
const MAX_BATCH: usize = 512;

type Job = (Step, oneshot::Sender<Result<()>>);

pub struct PostgresStore {
    url: String,
    /// The session for reads and definition writes, which also holds the node's lock;
    /// replaced when the connection is lost.
    session: tokio::sync::RwLock<Arc<Client>>,
    steps: mpsc::UnboundedSender<Job>,
    /// Connections for the event system's writes (see `events`).
    events: events::Writers,
    /// Whether the session holds the node's lock.
    node_lock: bool,
}

impl Columns for Row {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        Ok(self.try_get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        Ok(self.try_get(i)?)
    }
}

async fn connect_one(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        // The connection ends when its client is dropped, or on a network error, which
        // surfaces as an error on the client's next query.
        let _ = connection.await;
    });
    Ok(client)
}

async fn migrate(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await?;
    // Nodes starting together migrate one at a time.
    tx.execute("SELECT pg_advisory_xact_lock(727274)", &[])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .await?;
    let applied: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    let known = SCHEMA.len() as i64;
    if applied > known {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {applied}, newer than this build's {known}; use a newer cirrus"
        )));
    }
    for (i, script) in SCHEMA.iter().enumerate().skip(applied as usize) {
        tx.batch_execute(script).await?;
        let version = i as i64 + 1;
        let now = now_ms();
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
            &[&version, &now],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, libpq's key=value form works
    /// too; `options=-csearch_path%3Dschema` picks a schema) and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::open(url, true).await
    }

    /// Connects like [`PostgresStore::connect`] without taking the node's lock, so that
    /// several stores share one database. For tests of what nodes sharing a database
    /// will do (schedules firing once, queue messages received once); a node uses
    /// `connect`.
    #[doc(hidden)]
    pub async fn connect_without_node_lock(url: &str) -> Result<Self> {
        Self::open(url, false).await
    }

    async fn open(url: &str, node_lock: bool) -> Result<Self> {
        let mut client = connect_one(url).await?;
        migrate(&mut client).await?;
        if node_lock {
            take_node_lock(&client).await?;
        }
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            let writer = Writer::new(url, connect_one(url).await?).await?;
            tokio::spawn(writer.run(rx.clone()));
        }
        Ok(PostgresStore {
            url: url.to_owned(),
            session: tokio::sync::RwLock::new(Arc::new(client)),
            steps: tx,
            events: events::Writers::connect(url).await?,
            node_lock,
        })
    }

    /// The session, connected again (and the node's lock taken again) if it was lost.
    async fn client(&self) -> Result<Arc<Client>> {
        let current = self.session.read().await.clone();
        if !current.is_closed() {
            return Ok(current);
        }
        let mut session = self.session.write().await;
        if session.is_closed() {
            let fresh = connect_one(&self.url).await?;
            if self.node_lock {
                take_node_lock(&fresh).await?;
            }
            *session = Arc::new(fresh);
            tracing::info!("reconnected to PostgreSQL");
        }
        Ok(session.clone())
    }

    async fn all<T>(
        &self,
        query: &str,
        params: &[&(dyn ToSql + Sync)],
        map: impl Fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = self.client().await?.query(query, params).await?;
        rows.iter().map(map).collect()
    }

    /// Runs one statement on the session; rows changed.
    async fn execute(&self, query: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        Ok(self.client().await?.execute(query, params).await?)
    }

    async fn one<T>(
        &self,
        query: &str,
        params: &[&(dyn ToSql + Sync)],
        map: impl Fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.client().await?.query_opt(query, params).await? {
            Some(row) => Ok(Some(map(&row)?)),
            None => Ok(None),
        }
    }
}

/// One node per database until nodes share work through leases: the session holds this
/// lock for the node's lifetime. A node killed a moment ago may still hold it until the
/// server notices, so wait a little for it.
async fn take_node_lock(client: &Client) -> Result<()> {
    {
        let mut held = false;
        for _ in 0..50 {
            held = client
                .query_one("SELECT pg_try_advisory_lock(727275)", &[])
                .await?
                .try_get::<_, bool>(0)?;
            if held {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if !held {
            return Err(StoreError::Database(
                "another Cirrus node is using this database (its schema); stop it first, or give this node a schema of its own with options=-csearch_path%3DNAME"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// One writer connection with its statements prepared.
struct Writer {
    url: String,
    client: Client,
    insert_execution: Statement,
    update_execution: Statement,
    insert_events: Statement,
    set_timer: Statement,
    clear_timer: Statement,
    insert_task: Statement,
    finish_task: Statement,
    deliver_task: Statement,
    insert_outbox: Statement,
}

/// Parameters for `execute_raw`, which keeps them in its future.
macro_rules! params {
    ($($p:expr),* $(,)?) => {
        vec![$($p as &(dyn ToSql + Sync)),*]
    };
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// A step's values, converted for binding.
struct Bound {
    arn: String,
    update: Option<i64>,
    execution: Execution,
    event_count: i64,
    redrive_count: i64,
    ready: i64,
    /// The step's history row: first id, last id, events.
    history: Option<(i64, i64, String)>,
    timers_set: Vec<i64>,
    timers_cleared: Vec<i64>,
    tasks_added: Vec<i64>,
    task_kinds: Vec<&'static str>,
    task_delivered: Vec<i64>,
    tasks_finished: Vec<i64>,
    tasks_delivered: Vec<i64>,
}

impl Bound {
    fn of(step: &Step) -> Result<Bound> {
        let e = step.execution.execution();
        Ok(Bound {
            arn: e.arn.clone(),
            update: matches!(step.execution, ExecutionWrite::Update(_)).then_some(0),
            execution: e.clone(),
            event_count: signed(e.event_count)?,
            redrive_count: i64::from(e.redrive_count),
            ready: i64::from(e.ready),
            history: if step.history.is_empty() {
                None
            } else {
                let (first, last) = sql::id_range(&step.history)?;
                Some((first, last, sql::encode_events(&step.history)))
            },
            timers_set: step
                .timers_set
                .iter()
                .map(|t| signed(t.timer))
                .collect::<Result<_>>()?,
            timers_cleared: step
                .timers_cleared
                .iter()
                .map(|t| signed(*t))
                .collect::<Result<_>>()?,
            tasks_added: step
                .tasks_added
                .iter()
                .map(|t| signed(t.task))
                .collect::<Result<_>>()?,
            task_kinds: step.tasks_added.iter().map(|t| t.kind.as_str()).collect(),
            task_delivered: step
                .tasks_added
                .iter()
                .map(|t| i64::from(t.delivered))
                .collect(),
            tasks_finished: step
                .tasks_finished
                .iter()
                .map(|t| signed(*t))
                .collect::<Result<_>>()?,
            tasks_delivered: step
                .tasks_delivered
                .iter()
                .map(|t| signed(*t))
                .collect::<Result<_>>()?,
        })
    }
}

impl Writer {
    async fn new(url: &str, client: Client) -> Result<Writer> {
        Ok(Writer {
            url: url.to_owned(),
            insert_execution: client.prepare(sql::INSERT_EXECUTION).await?,
            update_execution: client.prepare(sql::UPDATE_EXECUTION).await?,
            insert_events: client.prepare(sql::INSERT_EVENTS).await?,
            set_timer: client.prepare(sql::SET_TIMER).await?,
            clear_timer: client.prepare(sql::CLEAR_TIMER).await?,
            insert_task: client.prepare(sql::INSERT_TASK).await?,
            finish_task: client.prepare(sql::FINISH_TASK).await?,
            deliver_task: client.prepare(sql::DELIVER_TASK).await?,
            insert_outbox: client.prepare(sql::INSERT_OUTBOX).await?,
            client,
        })
    }

    async fn run(mut self, jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
        loop {
            let mut batch: Vec<Job> = Vec::new();
            {
                let mut rx = jobs.lock().await;
                match rx.recv().await {
                    Some(job) => batch.push(job),
                    None => return,
                }
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
            }
            if self.client.is_closed() {
                self = self.reconnect().await;
            }
            let steps: Vec<&Step> = batch.iter().map(|(s, _)| s).collect();
            match self.apply(&steps).await {
                Ok(()) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Ok(()));
                    }
                }
                Err(e) if batch.len() == 1 => {
                    if let Some((_, reply)) = batch.pop() {
                        let _ = reply.send(Err(e));
                    }
                }
                Err(_) => {
                    for (step, reply) in batch {
                        let r = self.apply(&[&step]).await;
                        let _ = reply.send(r);
                    }
                }
            }
        }
    }

    /// A new connection with its statements, retrying every second until the server
    /// answers; the steps waiting meanwhile stay queued.
    async fn reconnect(self) -> Writer {
        loop {
            match connect_one(&self.url).await {
                Ok(client) => match Writer::new(&self.url, client).await {
                    Ok(w) => {
                        tracing::info!("a PostgreSQL writer reconnected");
                        return w;
                    }
                    Err(err) => tracing::warn!(%err, "preparing statements failed"),
                },
                Err(err) => tracing::warn!(%err, "PostgreSQL is unreachable; retrying"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// Applies `steps` in one transaction, all statements pipelined.
    async fn apply(&mut self, steps: &[&Step]) -> Result<()> {
        let bound: Vec<Bound> = steps.iter().map(|s| Bound::of(s)).collect::<Result<_>>()?;
        let tx = self.client.transaction().await?;
        let mut pending: Vec<Pending<'_>> = Vec::new();
        let mut updates: Vec<(usize, &str)> = Vec::new();
        for (step, b) in steps.iter().zip(&bound) {
            let e = &b.execution;
            if b.update.is_some() {
                updates.push((pending.len(), &b.arn));
                pending.push(Box::pin(tx.execute_raw(
                    &self.update_execution,
                    params![
                        &b.arn,
                        &e.status,
                        &e.output,
                        &e.error,
                        &e.cause,
                        &e.stop_ms,
                        &b.redrive_count,
                        &e.redrive_ms,
                        &b.event_count,
                        &b.ready,
                        &step.checkpoint,
                    ],
                )));
            } else {
                pending.push(Box::pin(tx.execute_raw(
                    &self.insert_execution,
                    params![
                        &b.arn,
                        &e.machine_arn,
                        &e.version_arn,
                        &e.alias_arn,
                        &e.name,
                        &e.status,
                        &e.input,
                        &e.output,
                        &e.error,
                        &e.cause,
                        &e.start_ms,
                        &e.stop_ms,
                        &b.redrive_count,
                        &e.redrive_ms,
                        &b.event_count,
                        &e.parent,
                        &b.ready,
                        &e.definition_digest,
                        &step.checkpoint,
                    ],
                )));
            }
            if let Some((first, last, events)) = &b.history {
                pending.push(Box::pin(tx.execute_raw(
                    &self.insert_events,
                    params![&b.arn, first, last, events],
                )));
            }
            for id in &b.timers_cleared {
                pending.push(Box::pin(
                    tx.execute_raw(&self.clear_timer, params![&b.arn, id]),
                ));
            }
            for (t, id) in step.timers_set.iter().zip(&b.timers_set) {
                pending.push(Box::pin(
                    tx.execute_raw(&self.set_timer, params![&b.arn, id, &t.due_ms]),
                ));
            }
            for id in &b.tasks_finished {
                pending.push(Box::pin(
                    tx.execute_raw(&self.finish_task, params![&b.arn, id]),
                ));
            }
            for (k, (t, id)) in step.tasks_added.iter().zip(&b.tasks_added).enumerate() {
                pending.push(Box::pin(tx.execute_raw(
                    &self.insert_task,
                    params![
                        &b.arn,
                        id,
                        &b.task_kinds[k],
                        &t.token,
                        &t.resource,
                        &t.state,
                        &t.invocation,
                        &t.worker,
                        &t.created_ms,
                        &b.task_delivered[k],
                    ],
                )));
            }
            for id in &b.tasks_delivered {
                pending.push(Box::pin(
                    tx.execute_raw(&self.deliver_task, params![&b.arn, id]),
                ));
            }
            for ev in &step.events {
                pending.push(Box::pin(tx.execute_raw(
                    &self.insert_outbox,
                    params![&ev.time_ms, &ev.detail_type, &ev.detail],
                )));
            }
        }
        let counts = try_join_all(pending).await?;
        for (i, arn) in updates {
            if counts.get(i).copied().unwrap_or(0) == 0 {
                return Err(StoreError::NotFound(arn.to_owned()));
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

fn page_limit(n: usize) -> i64 {
    if n == 0 { i64::MAX } else { n as i64 }
}
