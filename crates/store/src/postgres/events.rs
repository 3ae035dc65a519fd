//! The event system's records on PostgreSQL: resources, deliveries and their dead
//! letters, archives, schedules and queue messages (tables of migration 3).
//!
//! Reads use the shared session. Writes use `Writers`, a few connections of their own
//! with their statements prepared once, so that a batch of hundreds of deliveries does
//! not hold up the reads pipelined on the session, and so that the writes that need a
//! transaction have one. Each write is one transaction (often one statement), committed
//! before its call returns. Batches travel as arrays (`UNNEST`), one statement per table.
//!
//! Nodes sharing the database are kept apart by row locks: `fire_schedules` locks the
//! schedules it fires (in name order, so two firers never deadlock) and compares their
//! `next_ms` under the lock, so a tick applies once; `receive_messages` claims rows with
//! `FOR UPDATE SKIP LOCKED`, so two receivers never take the same message.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::{PostgresStore, connect_one, page_limit};
use crate::sql::{self, Columns, signed};
use crate::*;

const WRITERS: usize = 3;
/// Schedules per statement in `put_schedules`.
const SCHEDULE_CHUNK: usize = 5000;

type Params<'a> = Vec<&'a (dyn ToSql + Sync)>;

/// The connections the event system writes on.
pub(super) struct Writers {
    url: String,
    conns: Vec<Mutex<Conn>>,
    next: AtomicUsize,
}

/// One writer connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Writers {
    pub(super) async fn connect(url: &str) -> Result<Writers> {
        let mut conns = Vec::with_capacity(WRITERS);
        for _ in 0..WRITERS {
            conns.push(Mutex::new(Conn {
                client: connect_one(url).await?,
                statements: HashMap::new(),
            }));
        }
        Ok(Writers {
            url: url.to_owned(),
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// A free connection if there is one, else the next in turn; connected again if it
    /// was lost.
    async fn get(&self) -> Result<MutexGuard<'_, Conn>> {
        let mut conn = match self.conns.iter().find_map(|c| c.try_lock().ok()) {
            Some(c) => c,
            None => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
                self.conns[i].lock().await
            }
        };
        if conn.client.is_closed() {
            conn.client = connect_one(&self.url).await?;
            conn.statements.clear();
            tracing::info!("an event writer reconnected to PostgreSQL");
        }
        Ok(conn)
    }

    async fn execute(&self, query: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let mut conn = self.get().await?;
        let st = conn.prepare(query).await?;
        Ok(conn.client.execute(&st, params).await?)
    }

    async fn query(&self, query: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut conn = self.get().await?;
        let st = conn.prepare(query).await?;
        Ok(conn.client.query(&st, params).await?)
    }
}

impl Conn {
    async fn prepare(&mut self, query: &str) -> Result<Statement> {
        if let Some(st) = self.statements.get(query) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(query).await?;
        self.statements.insert(query.to_owned(), st.clone());
        Ok(st)
    }
}

/// Inserts the deliveries (`$1`..`$9`) and archived events (`$10`..`$14`) of
/// [`AcceptColumns`]; a queued delivery id fails the statement.
const ACCEPT_CTES: &str = "d AS (INSERT INTO deliveries (id, bus, rule, target, payload, attempts, due_ms, created_ms, last_error)
      SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::INT8[], $7::INT8[], $8::INT8[], $9::TEXT[])),
 a AS (INSERT INTO archived_events (archive, time_ms, id, size, event)
      SELECT * FROM UNNEST($10::TEXT[], $11::INT8[], $12::TEXT[], $13::INT8[], $14::TEXT[])
      ON CONFLICT (archive, time_ms, id) DO NOTHING)";

fn accept_sql() -> String {
    format!("WITH {ACCEPT_CTES} SELECT 1")
}

/// Moves the schedules `$15` to their next ticks `$16` and writes the fires' records.
fn fire_sql() -> String {
    format!(
        "WITH {ACCEPT_CTES},
         u AS (UPDATE schedules s SET next_ms = x.next_ms
               FROM UNNEST($15::TEXT[], $16::INT8[]) AS x(name, next_ms) WHERE s.name = x.name)
         SELECT 1"
    )
}

/// The columns of accepted records, as arrays for [`ACCEPT_CTES`].
#[derive(Default)]
struct AcceptColumns<'a> {
    id: Vec<&'a str>,
    bus: Vec<&'a str>,
    rule: Vec<&'a str>,
    target: Vec<&'a str>,
    payload: Vec<&'a str>,
    attempts: Vec<i64>,
    due_ms: Vec<i64>,
    created_ms: Vec<i64>,
    last_error: Vec<Option<&'a str>>,
    archive: Vec<&'a str>,
    time_ms: Vec<i64>,
    event_id: Vec<&'a str>,
    size: Vec<i64>,
    event: Vec<&'a str>,
}

impl<'a> AcceptColumns<'a> {
    fn push(&mut self, accepted: &'a Accepted) {
        for d in &accepted.deliveries {
            self.id.push(&d.id);
            self.bus.push(&d.bus);
            self.rule.push(&d.rule);
            self.target.push(&d.target);
            self.payload.push(&d.payload);
            self.attempts.push(i64::from(d.attempts));
            self.due_ms.push(d.due_ms);
            self.created_ms.push(d.created_ms);
            self.last_error.push(d.last_error.as_deref());
        }
        for e in &accepted.archived {
            self.archive.push(&e.archive);
            self.time_ms.push(e.time_ms);
            self.event_id.push(&e.id);
            self.size.push(e.event.len() as i64);
            self.event.push(&e.event);
        }
    }

    fn is_empty(&self) -> bool {
        self.id.is_empty() && self.archive.is_empty()
    }

    fn params(&self) -> Params<'_> {
        vec![
            &self.id,
            &self.bus,
            &self.rule,
            &self.target,
            &self.payload,
            &self.attempts,
            &self.due_ms,
            &self.created_ms,
            &self.last_error,
            &self.archive,
            &self.time_ms,
            &self.event_id,
            &self.size,
            &self.event,
        ]
    }
}

/// `schedules` with at most one row per name, in name order (so that concurrent writers
/// lock rows in one order): the last of a name wins, with the first one's `created_ms`
/// (as if they were put one after another).
fn unique_schedules(schedules: &[Schedule]) -> Vec<Schedule> {
    let mut by_name: std::collections::BTreeMap<&str, Schedule> = Default::default();
    for s in schedules {
        match by_name.get_mut(s.name.as_str()) {
            Some(kept) => {
                *kept = Schedule {
                    created_ms: kept.created_ms,
                    ..s.clone()
                }
            }
            None => {
                by_name.insert(&s.name, s.clone());
            }
        }
    }
    by_name.into_values().collect()
}

#[async_trait]
impl Resources for PostgresStore {
    async fn put_resource(&self, resource: &Resource, expect: Expect) -> Result<Resource> {
        let now = now_ms();
        let what = || format!("{} {}", resource.kind, resource.name);
        let cols = sql::RESOURCE_COLUMNS;
        let (kind, name, doc) = (&resource.kind, &resource.name, &resource.document);
        match expect {
            Expect::Absent | Expect::Any => {
                let upsert = if expect == Expect::Any {
                    "ON CONFLICT (kind, name) DO UPDATE SET document = excluded.document,
                       revision = resources.revision + 1, updated_ms = excluded.updated_ms"
                } else {
                    ""
                };
                let rows = self
                    .events
                    .query(
                        &format!(
                            "INSERT INTO resources ({cols}) VALUES ($1, $2, $3, 1, $4, $4) {upsert}
                             RETURNING {cols}"
                        ),
                        &[kind, name, doc, &now],
                    )
                    .await
                    .map_err(|e| match e {
                        StoreError::Conflict(_) => StoreError::Conflict(what()),
                        e => e,
                    })?;
                let row = rows
                    .first()
                    .ok_or_else(|| StoreError::Database(format!("{} was not stored", what())))?;
                sql::resource(row)
            }
            Expect::Revision(want) => {
                // One statement: the update, or (in the same snapshot) the revision that
                // stopped it.
                let want = signed(want)?;
                let rows = self
                    .events
                    .query(
                        &format!(
                            "WITH u AS (UPDATE resources SET document = $3, revision = revision + 1,
                                          updated_ms = $4
                                        WHERE kind = $1 AND name = $2 AND revision = $5
                                        RETURNING {cols})
                             SELECT {cols}, NULL::INT8 FROM u
                             UNION ALL
                             SELECT NULL, NULL, NULL, NULL, NULL, NULL, revision FROM resources
                             WHERE kind = $1 AND name = $2 AND NOT EXISTS (SELECT 1 FROM u)"
                        ),
                        &[kind, name, doc, &now, &want],
                    )
                    .await?;
                let Some(row) = rows.first() else {
                    return Err(StoreError::NotFound(what()));
                };
                match row.try_get::<_, Option<i64>>(6)? {
                    None => sql::resource(row),
                    Some(rev) => Err(StoreError::Conflict(format!(
                        "{} at revision {rev} (not {want})",
                        what()
                    ))),
                }
            }
        }
    }

    async fn resource(&self, kind: &str, name: &str) -> Result<Option<Resource>> {
        self.one(
            &format!(
                "SELECT {} FROM resources WHERE kind = $1 AND name = $2",
                sql::RESOURCE_COLUMNS
            ),
            &[&kind, &name],
            sql::resource,
        )
        .await
    }

    async fn resources(&self, kind: &str) -> Result<Vec<Resource>> {
        self.all(
            &format!(
                "SELECT {} FROM resources WHERE kind = $1 ORDER BY name",
                sql::RESOURCE_COLUMNS
            ),
            &[&kind],
            sql::resource,
        )
        .await
    }

    async fn delete_resource(&self, kind: &str, name: &str) -> Result<bool> {
        Ok(self
            .events
            .execute(
                "DELETE FROM resources WHERE kind = $1 AND name = $2",
                &[&kind, &name],
            )
            .await?
            > 0)
    }
}

#[async_trait]
impl EventLog for PostgresStore {
    async fn accept(&self, accepted: &Accepted) -> Result<()> {
        let mut cols = AcceptColumns::default();
        cols.push(accepted);
        if cols.is_empty() {
            return Ok(());
        }
        self.events.execute(&accept_sql(), &cols.params()).await?;
        Ok(())
    }

    async fn due_deliveries(&self, until_ms: i64, n: usize) -> Result<Vec<Delivery>> {
        self.all(
            &format!(
                "SELECT {} FROM deliveries WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $2",
                sql::DELIVERY_COLUMNS
            ),
            &[&until_ms, &page_limit(n)],
            sql::delivery,
        )
        .await
    }

    async fn next_delivery_due(&self) -> Result<Option<i64>> {
        Ok(self
            .one("SELECT MIN(due_ms) FROM deliveries", &[], |r| r.opt_int(0))
            .await?
            .flatten())
    }

    async fn reschedule_delivery(&self, d: &Delivery) -> Result<()> {
        let n = self
            .events
            .execute(
                sql::RESCHEDULE_DELIVERY,
                &[&d.id, &i64::from(d.attempts), &d.due_ms, &d.last_error],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("delivery {}", d.id)));
        }
        Ok(())
    }

    async fn finish_deliveries(&self, ids: &[String]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.events
            .execute("DELETE FROM deliveries WHERE id = ANY($1)", &[&ids])
            .await
    }

    async fn dead_letter_delivery(
        &self,
        dead: &DeadEvent,
        message: Option<&QueueMessage>,
    ) -> Result<()> {
        // One statement: the letter and the message take the row the delete removed, so
        // nothing is written if the delivery is not queued, and a failed insert keeps it
        // queued.
        let d = &dead.delivery;
        let (attempts, reason) = (i64::from(d.attempts), &dead.reason);
        let mut params: Params<'_> = vec![
            &d.id,
            &d.bus,
            &d.rule,
            &d.target,
            &d.payload,
            &attempts,
            &d.due_ms,
            &d.created_ms,
            &d.last_error,
            reason,
            &dead.failed_ms,
        ];
        let count;
        let send = match message {
            Some(m) => {
                count = i64::from(m.receive_count);
                params.extend::<Params<'_>>(vec![
                    &m.queue,
                    &m.id,
                    &m.body,
                    &m.attributes,
                    &m.sent_ms,
                    &m.visible_ms,
                    &count,
                    &m.first_receive_ms,
                ]);
                ", m AS (INSERT INTO queue_messages (queue, id, body, attributes, sent_ms,
                           visible_ms, receive_count, first_receive_ms)
                         SELECT $12::TEXT, $13::TEXT, $14::TEXT, $15::TEXT, $16::INT8, $17::INT8,
                           $18::INT8, $19::INT8 FROM q)"
            }
            None => "",
        };
        let rows = self
            .events
            .query(
                &format!(
                    "WITH q AS (DELETE FROM deliveries WHERE id = $1 RETURNING id),
                          l AS (INSERT INTO dead_events (id, bus, rule, target, payload, attempts,
                                  due_ms, created_ms, last_error, reason, failed_ms)
                                SELECT id, $2::TEXT, $3::TEXT, $4::TEXT, $5::TEXT, $6::INT8,
                                  $7::INT8, $8::INT8, $9::TEXT, $10::TEXT, $11::INT8 FROM q)
                          {send}
                     SELECT COUNT(*) FROM q"
                ),
                &params,
            )
            .await?;
        let n: i64 = match rows.first() {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        if n == 0 {
            return Err(StoreError::NotFound(format!("delivery {}", d.id)));
        }
        Ok(())
    }

    async fn dead_events(&self, rule: Option<(&str, &str)>, n: usize) -> Result<Vec<DeadEvent>> {
        match rule {
            Some((bus, rule)) => {
                self.all(
                    &format!(
                        "SELECT {} FROM dead_events WHERE bus = $1 AND rule = $2
                         ORDER BY failed_ms DESC, id DESC LIMIT $3",
                        sql::DEAD_EVENT_COLUMNS
                    ),
                    &[&bus, &rule, &page_limit(n)],
                    sql::dead_event,
                )
                .await
            }
            None => {
                self.all(
                    &format!(
                        "SELECT {} FROM dead_events ORDER BY failed_ms DESC, id DESC LIMIT $1",
                        sql::DEAD_EVENT_COLUMNS
                    ),
                    &[&page_limit(n)],
                    sql::dead_event,
                )
                .await
            }
        }
    }

    async fn delete_dead_event(&self, id: &str) -> Result<bool> {
        Ok(self
            .events
            .execute("DELETE FROM dead_events WHERE id = $1", &[&id])
            .await?
            > 0)
    }

    async fn queued_deliveries(&self) -> Result<u64> {
        let n = self
            .one("SELECT COUNT(*) FROM deliveries", &[], |r| r.int(0))
            .await?
            .unwrap_or(0);
        Ok(n as u64)
    }

    async fn archived_events(
        &self,
        archive: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, &str)>,
        n: usize,
    ) -> Result<Vec<ArchivedEvent>> {
        match after {
            Some((t, id)) => {
                self.all(
                    &format!(
                        "SELECT {} FROM archived_events
                         WHERE archive = $1 AND time_ms >= $2 AND time_ms < $3
                           AND (time_ms, id) > ($4, $5::TEXT)
                         ORDER BY time_ms, id LIMIT $6",
                        sql::ARCHIVED_COLUMNS
                    ),
                    &[&archive, &from_ms, &to_ms, &t, &id, &page_limit(n)],
                    sql::archived,
                )
                .await
            }
            None => {
                self.all(
                    &format!(
                        "SELECT {} FROM archived_events
                         WHERE archive = $1 AND time_ms >= $2 AND time_ms < $3
                         ORDER BY time_ms, id LIMIT $4",
                        sql::ARCHIVED_COLUMNS
                    ),
                    &[&archive, &from_ms, &to_ms, &page_limit(n)],
                    sql::archived,
                )
                .await
            }
        }
    }

    async fn archive_size(&self, archive: &str) -> Result<(u64, u64)> {
        let (n, size) = self
            .one(
                "SELECT COUNT(*), COALESCE(SUM(size), 0)::INT8 FROM archived_events WHERE archive = $1",
                &[&archive],
                |r| Ok((r.int(0)?, r.int(1)?)),
            )
            .await?
            .unwrap_or((0, 0));
        Ok((n as u64, size as u64))
    }

    async fn trim_archive(&self, archive: &str, before_ms: Option<i64>) -> Result<u64> {
        match before_ms {
            Some(b) => {
                self.events
                    .execute(
                        "DELETE FROM archived_events WHERE archive = $1 AND time_ms < $2",
                        &[&archive, &b],
                    )
                    .await
            }
            None => {
                self.events
                    .execute(
                        "DELETE FROM archived_events WHERE archive = $1",
                        &[&archive],
                    )
                    .await
            }
        }
    }
}

#[async_trait]
impl Schedules for PostgresStore {
    async fn put_schedule(&self, s: &Schedule) -> Result<()> {
        self.events
            .execute(
                sql::PUT_SCHEDULE,
                &[
                    &s.name,
                    &s.expression,
                    &s.timezone,
                    &s.next_ms,
                    &s.document,
                    &s.created_ms,
                    &s.updated_ms,
                ],
            )
            .await?;
        Ok(())
    }

    async fn put_schedules(&self, schedules: &[Schedule]) -> Result<()> {
        if schedules.is_empty() {
            return Ok(());
        }
        let schedules = unique_schedules(schedules);
        let mut conn = self.events.get().await?;
        let st = conn
            .prepare(
                "INSERT INTO schedules (name, expression, timezone, next_ms, document, created_ms, updated_ms)
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::INT8[], $5::TEXT[],
                                      $6::INT8[], $7::INT8[])
                 ON CONFLICT (name) DO UPDATE SET expression = excluded.expression,
                   timezone = excluded.timezone, next_ms = excluded.next_ms,
                   document = excluded.document, updated_ms = excluded.updated_ms",
            )
            .await?;
        let tx = conn.client.transaction().await?;
        for chunk in schedules.chunks(SCHEDULE_CHUNK) {
            let name: Vec<&str> = chunk.iter().map(|s| s.name.as_str()).collect();
            let expression: Vec<&str> = chunk.iter().map(|s| s.expression.as_str()).collect();
            let timezone: Vec<&str> = chunk.iter().map(|s| s.timezone.as_str()).collect();
            let next_ms: Vec<Option<i64>> = chunk.iter().map(|s| s.next_ms).collect();
            let document: Vec<&str> = chunk.iter().map(|s| s.document.as_str()).collect();
            let created_ms: Vec<i64> = chunk.iter().map(|s| s.created_ms).collect();
            let updated_ms: Vec<i64> = chunk.iter().map(|s| s.updated_ms).collect();
            tx.execute(
                &st,
                &[
                    &name,
                    &expression,
                    &timezone,
                    &next_ms,
                    &document,
                    &created_ms,
                    &updated_ms,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn schedule(&self, name: &str) -> Result<Option<Schedule>> {
        self.one(
            &format!(
                "SELECT {} FROM schedules WHERE name = $1",
                sql::SCHEDULE_COLUMNS
            ),
            &[&name],
            sql::schedule,
        )
        .await
    }

    async fn schedules(&self, prefix: &str, page: Page<'_>) -> Result<Vec<Schedule>> {
        let (low, exclusive, high) = sql::prefix_range(prefix, page.after);
        let op = if exclusive { ">" } else { ">=" };
        let n = page_limit(page.limit);
        match &high {
            Some(h) => {
                self.all(
                    &format!(
                        "SELECT {} FROM schedules WHERE name {op} $1 AND name < $2
                         ORDER BY name LIMIT $3",
                        sql::SCHEDULE_COLUMNS
                    ),
                    &[&low, h, &n],
                    sql::schedule,
                )
                .await
            }
            None => {
                self.all(
                    &format!(
                        "SELECT {} FROM schedules WHERE name {op} $1 ORDER BY name LIMIT $2",
                        sql::SCHEDULE_COLUMNS
                    ),
                    &[&low, &n],
                    sql::schedule,
                )
                .await
            }
        }
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        Ok(self
            .events
            .execute("DELETE FROM schedules WHERE name = $1", &[&name])
            .await?
            > 0)
    }

    async fn due_schedules(
        &self,
        until_ms: i64,
        after: Option<(i64, &str)>,
        n: usize,
    ) -> Result<Vec<Schedule>> {
        match after {
            Some((t, name)) => {
                self.all(
                    &format!(
                        "SELECT {} FROM schedules
                         WHERE next_ms IS NOT NULL AND next_ms <= $1
                           AND (next_ms, name) > ($2, $3::TEXT)
                         ORDER BY next_ms, name LIMIT $4",
                        sql::SCHEDULE_COLUMNS
                    ),
                    &[&until_ms, &t, &name, &page_limit(n)],
                    sql::schedule,
                )
                .await
            }
            None => {
                self.all(
                    &format!(
                        "SELECT {} FROM schedules WHERE next_ms IS NOT NULL AND next_ms <= $1
                         ORDER BY next_ms, name LIMIT $2",
                        sql::SCHEDULE_COLUMNS
                    ),
                    &[&until_ms, &page_limit(n)],
                    sql::schedule,
                )
                .await
            }
        }
    }

    async fn next_schedule_due(&self) -> Result<Option<i64>> {
        Ok(self
            .one(
                "SELECT MIN(next_ms) FROM schedules WHERE next_ms IS NOT NULL",
                &[],
                |r| r.opt_int(0),
            )
            .await?
            .flatten())
    }

    async fn fire_schedules(&self, fires: &[ScheduleFire]) -> Result<Vec<bool>> {
        if fires.is_empty() {
            return Ok(Vec::new());
        }
        let mut names: Vec<&str> = fires.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut conn = self.events.get().await?;
        let lock = conn
            .prepare(
                "SELECT name, next_ms FROM schedules WHERE name = ANY($1) ORDER BY name FOR UPDATE",
            )
            .await?;
        let apply = conn.prepare(&fire_sql()).await?;
        let tx = conn.client.transaction().await?;
        // Lock the schedules (in name order, as every firer does), then compare under the
        // lock: a firer that waited sees the winner's ticks.
        let mut current: HashMap<String, Option<i64>> = HashMap::new();
        for row in tx.query(&lock, &[&names]).await? {
            current.insert(row.text(0)?, row.opt_int(1)?);
        }
        let mut applied = Vec::with_capacity(fires.len());
        let mut cols = AcceptColumns::default();
        for f in fires {
            let ok = match current.get_mut(&f.name) {
                Some(next) if *next == Some(f.expected_ms) => {
                    *next = f.next_ms;
                    true
                }
                _ => false,
            };
            if ok {
                cols.push(&f.accepted);
            }
            applied.push(ok);
        }
        let moved: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| {
                fires
                    .iter()
                    .zip(&applied)
                    .any(|(f, ok)| *ok && f.name == *n)
            })
            .collect();
        if !moved.is_empty() {
            let next: Vec<Option<i64>> = moved
                .iter()
                .map(|n| current.get(*n).copied().flatten())
                .collect();
            let mut params = cols.params();
            params.push(&moved);
            params.push(&next);
            tx.execute(&apply, &params).await?;
        }
        tx.commit().await?;
        Ok(applied)
    }

    async fn schedule_count(&self) -> Result<u64> {
        let n = self
            .one("SELECT COUNT(*) FROM schedules", &[], |r| r.int(0))
            .await?
            .unwrap_or(0);
        Ok(n as u64)
    }
}

#[async_trait]
impl Queues for PostgresStore {
    async fn send_messages(&self, messages: &[QueueMessage]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let queue: Vec<&str> = messages.iter().map(|m| m.queue.as_str()).collect();
        let id: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        let body: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
        let attributes: Vec<&str> = messages.iter().map(|m| m.attributes.as_str()).collect();
        let sent_ms: Vec<i64> = messages.iter().map(|m| m.sent_ms).collect();
        let visible_ms: Vec<i64> = messages.iter().map(|m| m.visible_ms).collect();
        let count: Vec<i64> = messages
            .iter()
            .map(|m| i64::from(m.receive_count))
            .collect();
        let first: Vec<Option<i64>> = messages.iter().map(|m| m.first_receive_ms).collect();
        self.events
            .execute(
                "INSERT INTO queue_messages (queue, id, body, attributes, sent_ms, visible_ms,
                   receive_count, first_receive_ms)
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::INT8[],
                                      $6::INT8[], $7::INT8[], $8::INT8[])",
                &[
                    &queue,
                    &id,
                    &body,
                    &attributes,
                    &sent_ms,
                    &visible_ms,
                    &count,
                    &first,
                ],
            )
            .await?;
        Ok(())
    }

    async fn receive_messages(
        &self,
        queue: &str,
        max: usize,
        now_ms: i64,
        visibility_ms: i64,
        redrive: Option<&Redrive>,
    ) -> Result<Vec<QueueMessage>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.events.get().await?;
        let first = conn
            .prepare(
                "SELECT id, receive_count, visible_ms, sent_ms FROM queue_messages
                 WHERE queue = $1 AND visible_ms <= $2
                 ORDER BY visible_ms, sent_ms, id LIMIT $3 FOR UPDATE SKIP LOCKED",
            )
            .await?;
        let more = conn
            .prepare(
                "SELECT id, receive_count, visible_ms, sent_ms FROM queue_messages
                 WHERE queue = $1 AND visible_ms <= $2 AND (visible_ms, sent_ms, id) > ($3, $4, $5::TEXT)
                 ORDER BY visible_ms, sent_ms, id LIMIT $6 FOR UPDATE SKIP LOCKED",
            )
            .await?;
        let receive = conn
            .prepare(&format!(
                "UPDATE queue_messages SET receive_count = receive_count + 1,
                   first_receive_ms = COALESCE(first_receive_ms, $3), visible_ms = $4
                 WHERE queue = $1 AND id = ANY($2) RETURNING {}",
                sql::MESSAGE_COLUMNS
            ))
            .await?;
        let redrive_st = conn
            .prepare(
                "WITH m AS (DELETE FROM queue_messages WHERE queue = $1 AND id = ANY($2)
                            RETURNING id, body, attributes, sent_ms)
                 INSERT INTO queue_messages (queue, id, body, attributes, sent_ms, visible_ms,
                   receive_count, first_receive_ms)
                 SELECT $3::TEXT, id, body, attributes, sent_ms, $4::INT8, 0, NULL FROM m
                 ON CONFLICT (queue, id) DO UPDATE SET body = excluded.body,
                   attributes = excluded.attributes, sent_ms = excluded.sent_ms,
                   visible_ms = excluded.visible_ms, receive_count = 0, first_receive_ms = NULL",
            )
            .await?;
        let tx = conn.client.transaction().await?;
        // Walk the visible messages in order until `max` are received; with redrive, the
        // exhausted ones met on the way move to the dead-letter queue. Rows another
        // receiver holds are skipped.
        let mut received: Vec<String> = Vec::new();
        let mut moved: Vec<String> = Vec::new();
        let mut after: Option<(i64, i64, String)> = None;
        loop {
            let need = max - received.len();
            let n = i64::try_from(need).unwrap_or(i64::MAX);
            let rows = match &after {
                None => tx.query(&first, &[&queue, &now_ms, &n]).await?,
                Some((v, s, id)) => tx.query(&more, &[&queue, &now_ms, v, s, id, &n]).await?,
            };
            let fetched = rows.len();
            for row in rows {
                let (id, count) = (row.text(0)?, row.int(1)?);
                after = Some((row.int(2)?, row.int(3)?, id.clone()));
                match redrive {
                    Some(r) if count >= i64::from(r.max_receives) => moved.push(id),
                    _ => received.push(id),
                }
            }
            if received.len() >= max || fetched < need {
                break;
            }
        }
        let mut out = Vec::with_capacity(received.len());
        if !received.is_empty() {
            let visible = now_ms + visibility_ms;
            let rows = tx
                .query(&receive, &[&queue, &received, &now_ms, &visible])
                .await?;
            let mut by_id: HashMap<String, QueueMessage> = HashMap::with_capacity(rows.len());
            for row in &rows {
                let m = sql::message(row)?;
                by_id.insert(m.id.clone(), m);
            }
            out.extend(received.iter().filter_map(|id| by_id.remove(id)));
        }
        if let Some(r) = redrive
            && !moved.is_empty()
        {
            tx.execute(
                &redrive_st,
                &[&queue, &moved, &r.dead_letter_queue, &now_ms],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn delete_messages(&self, queue: &str, receipts: &[String]) -> Result<Vec<bool>> {
        let parsed: Vec<Option<(&str, i64)>> =
            receipts.iter().map(|r| sql::parse_receipt(r)).collect();
        let ids: Vec<&str> = parsed.iter().flatten().map(|(id, _)| *id).collect();
        let counts: Vec<i64> = parsed.iter().flatten().map(|(_, n)| *n).collect();
        if ids.is_empty() {
            return Ok(vec![false; receipts.len()]);
        }
        let rows = self
            .events
            .query(
                "DELETE FROM queue_messages q USING UNNEST($2::TEXT[], $3::INT8[]) AS r(id, n)
                 WHERE q.queue = $1 AND q.id = r.id AND q.receive_count = r.n
                 RETURNING q.id, q.receive_count",
                &[&queue, &ids, &counts],
            )
            .await?;
        let mut deleted: HashSet<(String, i64)> = HashSet::with_capacity(rows.len());
        for row in &rows {
            deleted.insert((row.text(0)?, row.int(1)?));
        }
        // A receipt given twice deleted its message once.
        Ok(parsed
            .iter()
            .map(|p| p.is_some_and(|(id, n)| deleted.remove(&(id.to_owned(), n))))
            .collect())
    }

    async fn change_visibility(&self, queue: &str, receipt: &str, visible_ms: i64) -> Result<bool> {
        let Some((id, n)) = sql::parse_receipt(receipt) else {
            return Ok(false);
        };
        Ok(self
            .events
            .execute(
                "UPDATE queue_messages SET visible_ms = $4
                 WHERE queue = $1 AND id = $2 AND receive_count = $3",
                &[&queue, &id, &n, &visible_ms],
            )
            .await?
            > 0)
    }

    async fn purge_queue(&self, queue: &str) -> Result<u64> {
        self.events
            .execute("DELETE FROM queue_messages WHERE queue = $1", &[&queue])
            .await
    }

    async fn expire_messages(&self, queue: &str, before_ms: i64) -> Result<u64> {
        self.events
            .execute(
                "DELETE FROM queue_messages WHERE queue = $1 AND sent_ms < $2",
                &[&queue, &before_ms],
            )
            .await
    }

    async fn queue_counts(&self, queue: &str, now_ms: i64) -> Result<QueueCounts> {
        let (visible, in_flight, delayed) = self
            .one(
                "SELECT COUNT(*) FILTER (WHERE visible_ms <= $2),
                        COUNT(*) FILTER (WHERE visible_ms > $2 AND receive_count > 0),
                        COUNT(*) FILTER (WHERE visible_ms > $2 AND receive_count = 0)
                 FROM queue_messages WHERE queue = $1",
                &[&queue, &now_ms],
                |r| Ok((r.int(0)?, r.int(1)?, r.int(2)?)),
            )
            .await?
            .unwrap_or((0, 0, 0));
        Ok(QueueCounts {
            visible: visible as u64,
            in_flight: in_flight as u64,
            delayed: delayed as u64,
        })
    }

    async fn next_visible(&self, queue: &str) -> Result<Option<i64>> {
        Ok(self
            .one(
                "SELECT MIN(visible_ms) FROM queue_messages WHERE queue = $1",
                &[&queue],
                |r| r.opt_int(0),
            )
            .await?
            .flatten())
    }
}
