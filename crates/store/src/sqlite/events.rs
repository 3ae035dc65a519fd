//! The event system's records on SQLite: resources, deliveries and their dead letters,
//! archives, schedules and queue messages (tables of migration 3).
//!
//! Every write is one writer job, so it joins the next group commit and is durable when
//! its call returns; a job that fails is rolled back alone (see the module above). The
//! batch writes (`accept`, `fire_schedules`, `put_schedules`, `send_messages`) run one
//! cached statement per row inside their job: SQLite's per-statement cost is a few
//! microseconds, so a batch of hundreds costs about as much as its commit. Receiving
//! messages is a job too: the single writer is what keeps two receivers from taking the
//! same message.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::{SqliteStore, limit, prep, query_all, query_one};
use crate::sql::{self, Columns, signed};
use crate::*;

fn insert_accepted(c: &Connection, accepted: &Accepted) -> Result<()> {
    if !accepted.deliveries.is_empty() {
        let mut st = prep(c, sql::INSERT_DELIVERY)?;
        for d in &accepted.deliveries {
            st.execute(params![
                d.id,
                d.bus,
                d.rule,
                d.target,
                d.payload,
                d.attempts,
                d.due_ms,
                d.created_ms,
                d.last_error
            ])?;
        }
    }
    if !accepted.archived.is_empty() {
        let mut st = prep(c, sql::INSERT_ARCHIVED)?;
        for e in &accepted.archived {
            st.execute(params![
                e.archive,
                e.time_ms,
                e.id,
                e.event.len() as i64,
                e.event
            ])?;
        }
    }
    Ok(())
}

fn insert_message(c: &Connection, m: &QueueMessage) -> Result<()> {
    prep(c, sql::INSERT_MESSAGE)?.execute(params![
        m.queue,
        m.id,
        m.body,
        m.attributes,
        m.sent_ms,
        m.visible_ms,
        m.receive_count,
        m.first_receive_ms
    ])?;
    Ok(())
}

fn put_schedule(c: &Connection, s: &Schedule) -> Result<()> {
    prep(c, sql::PUT_SCHEDULE)?.execute(params![
        s.name,
        s.expression,
        s.timezone,
        s.next_ms,
        s.document,
        s.created_ms,
        s.updated_ms
    ])?;
    Ok(())
}

#[async_trait]
impl Resources for SqliteStore {
    async fn put_resource(&self, resource: &Resource, expect: Expect) -> Result<Resource> {
        let (resource, now) = (resource.clone(), now_ms());
        self.write(move |c| {
            let what = || format!("{} {}", resource.kind, resource.name);
            let old = prep(
                c,
                "SELECT revision, created_ms FROM resources WHERE kind = ?1 AND name = ?2",
            )?
            .query_row(params![resource.kind, resource.name], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
            let (revision, created_ms) = match (old, expect) {
                (Some(_), Expect::Absent) => return Err(StoreError::Conflict(what())),
                (None, Expect::Revision(_)) => return Err(StoreError::NotFound(what())),
                (Some((rev, _)), Expect::Revision(want)) if rev != signed(want)? => {
                    return Err(StoreError::Conflict(format!(
                        "{} at revision {rev} (not {want})",
                        what()
                    )));
                }
                (Some((rev, created)), _) => (rev + 1, created),
                (None, _) => (1, now),
            };
            prep(
                c,
                "INSERT INTO resources (kind, name, document, revision, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (kind, name) DO UPDATE SET document = excluded.document,
                   revision = excluded.revision, updated_ms = excluded.updated_ms",
            )?
            .execute(params![
                resource.kind,
                resource.name,
                resource.document,
                revision,
                created_ms,
                now
            ])?;
            Ok(Resource {
                revision: u64::try_from(revision)
                    .map_err(|_| StoreError::Corrupt(format!("{} revision", what())))?,
                created_ms,
                updated_ms: now,
                ..resource.clone()
            })
        })
        .await
    }

    async fn resource(&self, kind: &str, name: &str) -> Result<Option<Resource>> {
        let (kind, name) = (kind.to_owned(), name.to_owned());
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {} FROM resources WHERE kind = ?1 AND name = ?2",
                    sql::RESOURCE_COLUMNS
                ),
                params![kind, name],
                |r| sql::resource(r),
            )
        })
        .await
    }

    async fn resources(&self, kind: &str) -> Result<Vec<Resource>> {
        let kind = kind.to_owned();
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM resources WHERE kind = ?1 ORDER BY name",
                    sql::RESOURCE_COLUMNS
                ),
                params![kind],
                |r| sql::resource(r),
            )
        })
        .await
    }

    async fn delete_resource(&self, kind: &str, name: &str) -> Result<bool> {
        let (kind, name) = (kind.to_owned(), name.to_owned());
        self.write(move |c| {
            Ok(
                prep(c, "DELETE FROM resources WHERE kind = ?1 AND name = ?2")?
                    .execute(params![kind, name])?
                    > 0,
            )
        })
        .await
    }
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn accept(&self, accepted: &Accepted) -> Result<()> {
        if accepted.deliveries.is_empty() && accepted.archived.is_empty() {
            return Ok(());
        }
        let accepted = accepted.clone();
        self.write(move |c| insert_accepted(c, &accepted)).await
    }

    async fn due_deliveries(&self, until_ms: i64, n: usize) -> Result<Vec<Delivery>> {
        let n = limit(n);
        self.read(move |c| {
            query_all(
                c,
                &format!(
                    "SELECT {} FROM deliveries WHERE due_ms <= ?1 ORDER BY due_ms, id LIMIT ?2",
                    sql::DELIVERY_COLUMNS
                ),
                params![until_ms, n],
                |r| sql::delivery(r),
            )
        })
        .await
    }

    async fn next_delivery_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(prep(c, "SELECT MIN(due_ms) FROM deliveries")?
                .query_row([], |r| r.get::<_, Option<i64>>(0))?)
        })
        .await
    }

    async fn reschedule_delivery(&self, d: &Delivery) -> Result<()> {
        let d = d.clone();
        self.write(move |c| {
            let n = prep(c, sql::RESCHEDULE_DELIVERY)?.execute(params![
                d.id,
                d.attempts,
                d.due_ms,
                d.last_error
            ])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("delivery {}", d.id)));
            }
            Ok(())
        })
        .await
    }

    async fn finish_deliveries(&self, ids: &[String]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids = ids.to_vec();
        self.write(move |c| {
            let mut st = prep(c, "DELETE FROM deliveries WHERE id = ?1")?;
            let mut n = 0;
            for id in &ids {
                n += st.execute(params![id])? as u64;
            }
            Ok(n)
        })
        .await
    }

    async fn dead_letter_delivery(
        &self,
        dead: &DeadEvent,
        message: Option<&QueueMessage>,
    ) -> Result<()> {
        let (dead, message) = (dead.clone(), message.cloned());
        self.write(move |c| {
            let d = &dead.delivery;
            // All in the job's transaction: if the letter or the message cannot be stored,
            // the delivery stays queued.
            let n = prep(c, "DELETE FROM deliveries WHERE id = ?1")?.execute(params![d.id])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("delivery {}", d.id)));
            }
            prep(
                c,
                "INSERT INTO dead_events (id, bus, rule, target, payload, attempts, due_ms,
                   created_ms, last_error, reason, failed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                d.id,
                d.bus,
                d.rule,
                d.target,
                d.payload,
                d.attempts,
                d.due_ms,
                d.created_ms,
                d.last_error,
                dead.reason,
                dead.failed_ms
            ])?;
            if let Some(m) = &message {
                insert_message(c, m)?;
            }
            Ok(())
        })
        .await
    }

    async fn dead_events(&self, rule: Option<(&str, &str)>, n: usize) -> Result<Vec<DeadEvent>> {
        let rule = rule.map(|(b, r)| (b.to_owned(), r.to_owned()));
        let n = limit(n);
        self.read(move |c| match rule {
            Some((bus, rule)) => query_all(
                c,
                &format!(
                    "SELECT {} FROM dead_events WHERE bus = ?1 AND rule = ?2
                     ORDER BY failed_ms DESC, id DESC LIMIT ?3",
                    sql::DEAD_EVENT_COLUMNS
                ),
                params![bus, rule, n],
                |r| sql::dead_event(r),
            ),
            None => query_all(
                c,
                &format!(
                    "SELECT {} FROM dead_events ORDER BY failed_ms DESC, id DESC LIMIT ?1",
                    sql::DEAD_EVENT_COLUMNS
                ),
                params![n],
                |r| sql::dead_event(r),
            ),
        })
        .await
    }

    async fn delete_dead_event(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            Ok(prep(c, "DELETE FROM dead_events WHERE id = ?1")?.execute(params![id])? > 0)
        })
        .await
    }

    async fn queued_deliveries(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = prep(c, "SELECT COUNT(*) FROM deliveries")?.query_row([], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn archived_events(
        &self,
        archive: &str,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, &str)>,
        n: usize,
    ) -> Result<Vec<ArchivedEvent>> {
        let archive = archive.to_owned();
        let after = after.map(|(t, id)| (t, id.to_owned()));
        let n = limit(n);
        self.read(move |c| match after {
            Some((t, id)) => query_all(
                c,
                &format!(
                    "SELECT {} FROM archived_events
                     WHERE archive = ?1 AND time_ms >= ?2 AND time_ms < ?3 AND (time_ms, id) > (?4, ?5)
                     ORDER BY time_ms, id LIMIT ?6",
                    sql::ARCHIVED_COLUMNS
                ),
                params![archive, from_ms, to_ms, t, id, n],
                |r| sql::archived(r),
            ),
            None => query_all(
                c,
                &format!(
                    "SELECT {} FROM archived_events
                     WHERE archive = ?1 AND time_ms >= ?2 AND time_ms < ?3
                     ORDER BY time_ms, id LIMIT ?4",
                    sql::ARCHIVED_COLUMNS
                ),
                params![archive, from_ms, to_ms, n],
                |r| sql::archived(r),
            ),
        })
        .await
    }

    async fn archive_size(&self, archive: &str) -> Result<(u64, u64)> {
        let archive = archive.to_owned();
        self.read(move |c| {
            let (n, size) = prep(
                c,
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM archived_events WHERE archive = ?1",
            )?
            .query_row(params![archive], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?;
            Ok((n as u64, size as u64))
        })
        .await
    }

    async fn trim_archive(&self, archive: &str, before_ms: Option<i64>) -> Result<u64> {
        let archive = archive.to_owned();
        self.write(move |c| {
            let n = match before_ms {
                Some(b) => prep(
                    c,
                    "DELETE FROM archived_events WHERE archive = ?1 AND time_ms < ?2",
                )?
                .execute(params![archive, b])?,
                None => prep(c, "DELETE FROM archived_events WHERE archive = ?1")?
                    .execute(params![archive])?,
            };
            Ok(n as u64)
        })
        .await
    }
}

#[async_trait]
impl Schedules for SqliteStore {
    async fn put_schedule(&self, schedule: &Schedule) -> Result<()> {
        let s = schedule.clone();
        self.write(move |c| put_schedule(c, &s)).await
    }

    async fn put_schedules(&self, schedules: &[Schedule]) -> Result<()> {
        if schedules.is_empty() {
            return Ok(());
        }
        let schedules = schedules.to_vec();
        self.write(move |c| {
            let mut st = prep(c, sql::PUT_SCHEDULE)?;
            for s in &schedules {
                st.execute(params![
                    s.name,
                    s.expression,
                    s.timezone,
                    s.next_ms,
                    s.document,
                    s.created_ms,
                    s.updated_ms
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn schedule(&self, name: &str) -> Result<Option<Schedule>> {
        let name = name.to_owned();
        self.read(move |c| {
            query_one(
                c,
                &format!(
                    "SELECT {} FROM schedules WHERE name = ?1",
                    sql::SCHEDULE_COLUMNS
                ),
                params![name],
                |r| sql::schedule(r),
            )
        })
        .await
    }

    async fn schedules(&self, prefix: &str, page: Page<'_>) -> Result<Vec<Schedule>> {
        let (low, exclusive, high) = sql::prefix_range(prefix, page.after);
        let n = limit(page.limit);
        self.read(move |c| {
            let op = if exclusive { ">" } else { ">=" };
            let mut args = vec![Value::Text(low)];
            let upper = match high {
                Some(h) => {
                    args.push(Value::Text(h));
                    "AND name < ?2"
                }
                None => "",
            };
            args.push(Value::Integer(n));
            query_all(
                c,
                &format!(
                    "SELECT {} FROM schedules WHERE name {op} ?1 {upper} ORDER BY name LIMIT ?{}",
                    sql::SCHEDULE_COLUMNS,
                    args.len()
                ),
                params_from_iter(args),
                |r| sql::schedule(r),
            )
        })
        .await
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |c| {
            Ok(prep(c, "DELETE FROM schedules WHERE name = ?1")?.execute(params![name])? > 0)
        })
        .await
    }

    async fn due_schedules(
        &self,
        until_ms: i64,
        after: Option<(i64, &str)>,
        n: usize,
    ) -> Result<Vec<Schedule>> {
        let after = after.map(|(t, name)| (t, name.to_owned()));
        let n = limit(n);
        self.read(move |c| match after {
            Some((t, name)) => query_all(
                c,
                &format!(
                    "SELECT {} FROM schedules
                     WHERE next_ms IS NOT NULL AND next_ms <= ?1 AND (next_ms, name) > (?2, ?3)
                     ORDER BY next_ms, name LIMIT ?4",
                    sql::SCHEDULE_COLUMNS
                ),
                params![until_ms, t, name, n],
                |r| sql::schedule(r),
            ),
            None => query_all(
                c,
                &format!(
                    "SELECT {} FROM schedules WHERE next_ms IS NOT NULL AND next_ms <= ?1
                     ORDER BY next_ms, name LIMIT ?2",
                    sql::SCHEDULE_COLUMNS
                ),
                params![until_ms, n],
                |r| sql::schedule(r),
            ),
        })
        .await
    }

    async fn next_schedule_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(prep(
                c,
                "SELECT MIN(next_ms) FROM schedules WHERE next_ms IS NOT NULL",
            )?
            .query_row([], |r| r.get::<_, Option<i64>>(0))?)
        })
        .await
    }

    async fn fire_schedules(&self, fires: &[ScheduleFire]) -> Result<Vec<bool>> {
        if fires.is_empty() {
            return Ok(Vec::new());
        }
        let fires = fires.to_vec();
        self.write(move |c| {
            // In order, so that a later fire of the same schedule sees the earlier one.
            let mut cas = prep(
                c,
                "UPDATE schedules SET next_ms = ?3 WHERE name = ?1 AND next_ms = ?2",
            )?;
            let mut applied = Vec::with_capacity(fires.len());
            for f in &fires {
                let ok = cas.execute(params![f.name, f.expected_ms, f.next_ms])? > 0;
                if ok {
                    insert_accepted(c, &f.accepted)?;
                }
                applied.push(ok);
            }
            Ok(applied)
        })
        .await
    }

    async fn schedule_count(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = prep(c, "SELECT COUNT(*) FROM schedules")?.query_row([], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }
}

#[async_trait]
impl Queues for SqliteStore {
    async fn send_messages(&self, messages: &[QueueMessage]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let messages = messages.to_vec();
        self.write(move |c| {
            for m in &messages {
                insert_message(c, m)?;
            }
            Ok(())
        })
        .await
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
        let (queue, redrive) = (queue.to_owned(), redrive.cloned());
        self.write(move |c| {
            // Walk the visible messages in order until `max` are received; with redrive,
            // the exhausted ones met on the way move to the dead-letter queue.
            let mut received: Vec<String> = Vec::new();
            let mut moved: Vec<String> = Vec::new();
            let mut after: Option<(i64, i64, String)> = None;
            loop {
                let need = max - received.len();
                let n = i64::try_from(need).unwrap_or(i64::MAX);
                let map = |r: &rusqlite::Row<'_>| {
                    Ok((r.text(0)?, r.int(1)?, r.int(2)?, r.int(3)?))
                };
                let rows = match &after {
                    None => query_all(
                        c,
                        "SELECT id, receive_count, visible_ms, sent_ms FROM queue_messages
                         WHERE queue = ?1 AND visible_ms <= ?2
                         ORDER BY visible_ms, sent_ms, id LIMIT ?3",
                        params![queue, now_ms, n],
                        map,
                    )?,
                    Some((v, s, id)) => query_all(
                        c,
                        "SELECT id, receive_count, visible_ms, sent_ms FROM queue_messages
                         WHERE queue = ?1 AND visible_ms <= ?2 AND (visible_ms, sent_ms, id) > (?3, ?4, ?5)
                         ORDER BY visible_ms, sent_ms, id LIMIT ?6",
                        params![queue, now_ms, v, s, id, n],
                        map,
                    )?,
                };
                let fetched = rows.len();
                for (id, count, visible, sent) in rows {
                    after = Some((visible, sent, id.clone()));
                    match &redrive {
                        Some(r) if count >= i64::from(r.max_receives) => moved.push(id),
                        _ => received.push(id),
                    }
                }
                if received.len() >= max || fetched < need {
                    break;
                }
            }
            let mut out = Vec::with_capacity(received.len());
            let mut receive = prep(
                c,
                &format!(
                    "UPDATE queue_messages SET receive_count = receive_count + 1,
                       first_receive_ms = COALESCE(first_receive_ms, ?3), visible_ms = ?4
                     WHERE queue = ?1 AND id = ?2 RETURNING {}",
                    sql::MESSAGE_COLUMNS
                ),
            )?;
            for id in &received {
                let mut rows = receive.query(params![queue, id, now_ms, now_ms + visibility_ms])?;
                if let Some(row) = rows.next()? {
                    out.push(sql::message(row)?);
                }
            }
            if let Some(r) = &redrive {
                let mut take = prep(
                    c,
                    "DELETE FROM queue_messages WHERE queue = ?1 AND id = ?2
                     RETURNING body, attributes, sent_ms",
                )?;
                let mut put = prep(
                    c,
                    "INSERT INTO queue_messages (queue, id, body, attributes, sent_ms, visible_ms,
                       receive_count, first_receive_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, NULL)
                     ON CONFLICT (queue, id) DO UPDATE SET body = excluded.body,
                       attributes = excluded.attributes, sent_ms = excluded.sent_ms,
                       visible_ms = excluded.visible_ms, receive_count = 0, first_receive_ms = NULL",
                )?;
                for id in &moved {
                    let row = take
                        .query_row(params![queue, id], |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, String>(1)?,
                                row.get::<_, i64>(2)?,
                            ))
                        })
                        .optional()?;
                    if let Some((body, attributes, sent_ms)) = row {
                        put.execute(params![
                            r.dead_letter_queue,
                            id,
                            body,
                            attributes,
                            sent_ms,
                            now_ms
                        ])?;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete_messages(&self, queue: &str, receipts: &[String]) -> Result<Vec<bool>> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let (queue, receipts) = (queue.to_owned(), receipts.to_vec());
        self.write(move |c| {
            let mut st = prep(
                c,
                "DELETE FROM queue_messages WHERE queue = ?1 AND id = ?2 AND receive_count = ?3",
            )?;
            let mut out = Vec::with_capacity(receipts.len());
            for r in &receipts {
                out.push(match sql::parse_receipt(r) {
                    Some((id, n)) => st.execute(params![queue, id, n])? > 0,
                    None => false,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn change_visibility(&self, queue: &str, receipt: &str, visible_ms: i64) -> Result<bool> {
        let (queue, receipt) = (queue.to_owned(), receipt.to_owned());
        self.write(move |c| {
            let Some((id, n)) = sql::parse_receipt(&receipt) else {
                return Ok(false);
            };
            Ok(prep(
                c,
                "UPDATE queue_messages SET visible_ms = ?4
                 WHERE queue = ?1 AND id = ?2 AND receive_count = ?3",
            )?
            .execute(params![queue, id, n, visible_ms])?
                > 0)
        })
        .await
    }

    async fn purge_queue(&self, queue: &str) -> Result<u64> {
        let queue = queue.to_owned();
        self.write(move |c| {
            Ok(
                prep(c, "DELETE FROM queue_messages WHERE queue = ?1")?.execute(params![queue])?
                    as u64,
            )
        })
        .await
    }

    async fn expire_messages(&self, queue: &str, before_ms: i64) -> Result<u64> {
        let queue = queue.to_owned();
        self.write(move |c| {
            Ok(prep(
                c,
                "DELETE FROM queue_messages WHERE queue = ?1 AND sent_ms < ?2",
            )?
            .execute(params![queue, before_ms])? as u64)
        })
        .await
    }

    async fn queue_counts(&self, queue: &str, now_ms: i64) -> Result<QueueCounts> {
        let queue = queue.to_owned();
        self.read(move |c| {
            let (visible, in_flight, delayed) = prep(
                c,
                "SELECT COALESCE(SUM(visible_ms <= ?2), 0),
                        COALESCE(SUM(visible_ms > ?2 AND receive_count > 0), 0),
                        COALESCE(SUM(visible_ms > ?2 AND receive_count = 0), 0)
                 FROM queue_messages WHERE queue = ?1",
            )?
            .query_row(params![queue, now_ms], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            Ok(QueueCounts {
                visible: visible as u64,
                in_flight: in_flight as u64,
                delayed: delayed as u64,
            })
        })
        .await
    }

    async fn next_visible(&self, queue: &str) -> Result<Option<i64>> {
        let queue = queue.to_owned();
        self.read(move |c| {
            Ok(prep(
                c,
                "SELECT MIN(visible_ms) FROM queue_messages WHERE queue = ?1",
            )?
            .query_row(params![queue], |r| r.get::<_, Option<i64>>(0))?)
        })
        .await
    }
}
