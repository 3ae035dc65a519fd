//! What the SQL backends share: statements (SQLite accepts PostgreSQL's `$n` placeholders)
//! and the mapping from rows to records.

use crate::*;

pub(crate) const MACHINE_COLUMNS: &str = "arn, name, kind, definition, role_arn, description, logging, revision_id, created_ms, updated_ms";
pub(crate) const INSERT_MACHINE: &str = "INSERT INTO machines (arn, name, kind, definition, role_arn, description, logging, revision_id, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub(crate) const UPDATE_MACHINE: &str = "UPDATE machines SET name = $2, kind = $3, definition = $4, role_arn = $5, description = $6, logging = $7, revision_id = $8, created_ms = $9, updated_ms = $10 WHERE arn = $1";

pub(crate) const VERSION_COLUMNS: &str =
    "arn, machine_arn, number, definition, role_arn, kind, description, revision_id, created_ms";
pub(crate) const INSERT_VERSION: &str = "INSERT INTO versions (arn, machine_arn, number, definition, role_arn, kind, description, revision_id, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const ALIAS_COLUMNS: &str =
    "arn, machine_arn, name, description, routing, created_ms, updated_ms";
pub(crate) const PUT_ALIAS: &str = "INSERT INTO aliases (arn, machine_arn, name, description, routing, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (arn) DO UPDATE SET description = excluded.description, routing = excluded.routing, updated_ms = excluded.updated_ms";

pub(crate) const PUT_DEFINITION: &str =
    "INSERT INTO definitions (digest, definition) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING";
pub(crate) const INSERT_ACTIVITY: &str = "INSERT INTO activities (arn, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (arn) DO NOTHING";

pub(crate) const EXECUTION_COLUMNS: &str = "arn, machine_arn, version_arn, alias_arn, name, status, input, output, error, cause, start_ms, stop_ms, redrive_count, redrive_ms, event_count, parent, ready, definition_digest";
pub(crate) const INSERT_EXECUTION: &str = "INSERT INTO executions (arn, machine_arn, version_arn, alias_arn, name, status, input, output, error, cause, start_ms, stop_ms, redrive_count, redrive_ms, event_count, parent, ready, definition_digest, checkpoint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";
pub(crate) const UPDATE_EXECUTION: &str = "UPDATE executions SET status = $2, output = $3, error = $4, cause = $5, stop_ms = $6, redrive_count = $7, redrive_ms = $8, event_count = $9, ready = $10, checkpoint = COALESCE($11, checkpoint) WHERE arn = $1";
/// A step's history events are one row: `[[id, previous_id, timestamp_ms, kind, details], ...]`.
pub(crate) const INSERT_EVENTS: &str =
    "INSERT INTO history (execution_arn, first_id, last_id, events) VALUES ($1, $2, $3, $4)";
pub(crate) const SELECT_EVENTS: &str = "SELECT events FROM history WHERE execution_arn = $1 AND first_id <= $3 AND last_id >= $2 ORDER BY first_id";
pub(crate) const SET_TIMER: &str = "INSERT INTO timers (execution_arn, timer, due_ms) VALUES ($1, $2, $3) ON CONFLICT (execution_arn, timer) DO UPDATE SET due_ms = excluded.due_ms";
pub(crate) const CLEAR_TIMER: &str = "DELETE FROM timers WHERE execution_arn = $1 AND timer = $2";
pub(crate) const TASK_COLUMNS: &str =
    "execution_arn, task, kind, token, resource, state, invocation, worker, created_ms, delivered";
pub(crate) const INSERT_TASK: &str = "INSERT INTO tasks (execution_arn, task, kind, token, resource, state, invocation, worker, created_ms, delivered) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub(crate) const FINISH_TASK: &str = "DELETE FROM tasks WHERE execution_arn = $1 AND task = $2";
/// Touches no row when the task is gone (answered already) or is not a callback.
pub(crate) const DELIVER_TASK: &str =
    "UPDATE tasks SET delivered = 1 WHERE execution_arn = $1 AND task = $2 AND kind = 'callback'";
/// What a restart dispatches again: [`Tasks::dispatch_tasks`].
pub(crate) const DISPATCH_TASKS_WHERE: &str = "kind <> 'activity' AND delivered = 0";
pub(crate) const INSERT_OUTBOX: &str =
    "INSERT INTO outbox (time_ms, detail_type, detail) VALUES ($1, $2, $3)";

pub(crate) const FUNCTION_COLUMNS: &str =
    "name, config, code_digest, revision_id, next_version, created_ms, updated_ms";
pub(crate) const INSERT_FUNCTION: &str = "INSERT INTO functions (name, config, code_digest, revision_id, next_version, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// `$7` is the revision the caller expects; `next_version` belongs to publishing.
pub(crate) const UPDATE_FUNCTION: &str = "UPDATE functions SET config = $2, code_digest = $3, revision_id = $4, created_ms = $5, updated_ms = $6 WHERE name = $1 AND revision_id = $7";
pub(crate) const FUNCTION_VERSION_COLUMNS: &str =
    "function, number, config, code_digest, revision_id, created_ms";
pub(crate) const INSERT_FUNCTION_VERSION: &str = "INSERT INTO function_versions (function, number, config, code_digest, revision_id, created_ms) VALUES ($1, $2, $3, $4, $5, $6)";
pub(crate) const FUNCTION_ALIAS_COLUMNS: &str =
    "function, name, version, routing, description, revision_id, created_ms, updated_ms";
pub(crate) const INSERT_FUNCTION_ALIAS: &str = "INSERT INTO function_aliases (function, name, version, routing, description, revision_id, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const UPDATE_FUNCTION_ALIAS: &str = "UPDATE function_aliases SET version = $3, routing = $4, description = $5, revision_id = $6, created_ms = $7, updated_ms = $8 WHERE function = $1 AND name = $2";
pub(crate) const PUT_CODE: &str =
    "INSERT INTO code (digest, code) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING";
pub(crate) const ROUTE_COLUMNS: &str = "route_key, kind, target, qualifier, created_ms";
pub(crate) const PUT_ROUTE: &str = "INSERT INTO routes (route_key, kind, target, qualifier, created_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (route_key) DO UPDATE SET kind = excluded.kind, target = excluded.target, qualifier = excluded.qualifier, created_ms = excluded.created_ms";

pub(crate) const INVOCATION_COLUMNS: &str =
    "id, function, qualifier, payload, attempts, due_ms, created_ms, last_error";
pub(crate) const INSERT_INVOCATION: &str = "INSERT INTO invocations (id, function, qualifier, payload, attempts, due_ms, created_ms, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const RESCHEDULE_INVOCATION: &str =
    "UPDATE invocations SET attempts = $2, due_ms = $3, last_error = $4 WHERE id = $1";
pub(crate) const DEAD_LETTER_COLUMNS: &str =
    "id, function, qualifier, payload, attempts, due_ms, created_ms, last_error, reason, failed_ms";

/// Reads columns by position from either driver's rows.
pub(crate) trait Columns {
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<i64>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>>;
}

fn unsigned(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}: {v}")))
}

pub(crate) fn machine(r: &impl Columns) -> Result<Machine> {
    Ok(Machine {
        arn: r.text(0)?,
        name: r.text(1)?,
        kind: r.text(2)?,
        definition: r.text(3)?,
        role_arn: r.text(4)?,
        description: r.text(5)?,
        logging: r.opt_text(6)?,
        revision_id: r.text(7)?,
        created_ms: r.int(8)?,
        updated_ms: r.int(9)?,
    })
}

pub(crate) fn version(r: &impl Columns) -> Result<Version> {
    Ok(Version {
        arn: r.text(0)?,
        machine_arn: r.text(1)?,
        number: unsigned(r.int(2)?, "version number")?,
        definition: r.text(3)?,
        role_arn: r.text(4)?,
        kind: r.text(5)?,
        description: r.text(6)?,
        revision_id: r.text(7)?,
        created_ms: r.int(8)?,
    })
}

pub(crate) fn alias(r: &impl Columns) -> Result<Alias> {
    Ok(Alias {
        arn: r.text(0)?,
        machine_arn: r.text(1)?,
        name: r.text(2)?,
        description: r.text(3)?,
        routing: r.text(4)?,
        created_ms: r.int(5)?,
        updated_ms: r.int(6)?,
    })
}

pub(crate) fn activity(r: &impl Columns) -> Result<Activity> {
    Ok(Activity {
        arn: r.text(0)?,
        name: r.text(1)?,
        created_ms: r.int(2)?,
    })
}

pub(crate) fn execution(r: &impl Columns) -> Result<Execution> {
    Ok(Execution {
        arn: r.text(0)?,
        machine_arn: r.text(1)?,
        version_arn: r.opt_text(2)?,
        alias_arn: r.opt_text(3)?,
        name: r.text(4)?,
        status: r.text(5)?,
        input: r.text(6)?,
        output: r.opt_text(7)?,
        error: r.opt_text(8)?,
        cause: r.opt_text(9)?,
        start_ms: r.int(10)?,
        stop_ms: r.opt_int(11)?,
        redrive_count: u32::try_from(r.int(12)?)
            .map_err(|_| StoreError::Corrupt("redrive count".into()))?,
        redrive_ms: r.opt_int(13)?,
        event_count: unsigned(r.int(14)?, "event count")?,
        parent: r.opt_text(15)?,
        ready: r.int(16)? != 0,
        definition_digest: r.text(17)?,
    })
}

/// The text of a step's events, for one history row.
pub(crate) fn encode_events(events: &[HistoryEvent]) -> String {
    let rows: Vec<(u64, u64, i64, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e.id,
                e.previous_id,
                e.timestamp_ms,
                e.kind.as_str(),
                e.details.as_str(),
            )
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_default()
}

/// The events of history rows, keeping those with ids in `from..=to`.
pub(crate) fn decode_events(
    rows: Vec<String>,
    from: u64,
    to: u64,
    out: &mut Vec<HistoryEvent>,
) -> Result<()> {
    for text in rows {
        let events: Vec<(u64, u64, i64, String, String)> = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("history row: {e}")))?;
        out.extend(
            events
                .into_iter()
                .filter(|(id, ..)| *id >= from && *id <= to)
                .map(
                    |(id, previous_id, timestamp_ms, kind, details)| HistoryEvent {
                        id,
                        previous_id,
                        timestamp_ms,
                        kind,
                        details,
                    },
                ),
        );
    }
    Ok(())
}

/// The first and last ids of a step's events.
pub(crate) fn id_range(events: &[HistoryEvent]) -> Result<(i64, i64)> {
    let first = events.first().map_or(0, |e| e.id);
    let last = events.last().map_or(0, |e| e.id);
    if events.windows(2).any(|w| w[1].id <= w[0].id) {
        return Err(StoreError::Conflict("history ids must increase".into()));
    }
    Ok((signed(first)?, signed(last)?))
}

pub(crate) fn timer(r: &impl Columns) -> Result<Timer> {
    Ok(Timer {
        execution_arn: r.text(0)?,
        timer: unsigned(r.int(1)?, "timer id")?,
        due_ms: r.int(2)?,
    })
}

pub(crate) fn task(r: &impl Columns) -> Result<Task> {
    let kind = r.text(2)?;
    Ok(Task {
        execution_arn: r.text(0)?,
        task: unsigned(r.int(1)?, "task id")?,
        kind: TaskKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("task kind {kind}")))?,
        token: r.opt_text(3)?,
        resource: r.text(4)?,
        state: r.text(5)?,
        invocation: r.text(6)?,
        worker: r.opt_text(7)?,
        created_ms: r.int(8)?,
        delivered: r.int(9)? != 0,
    })
}

pub(crate) fn event(r: &impl Columns) -> Result<Event> {
    Ok(Event {
        seq: unsigned(r.int(0)?, "event sequence")?,
        time_ms: r.int(1)?,
        detail_type: r.text(2)?,
        detail: r.text(3)?,
    })
}

pub(crate) fn function(r: &impl Columns) -> Result<Function> {
    Ok(Function {
        name: r.text(0)?,
        config: r.text(1)?,
        code_digest: r.text(2)?,
        revision_id: r.text(3)?,
        next_version: unsigned(r.int(4)?, "next version")?,
        created_ms: r.int(5)?,
        updated_ms: r.int(6)?,
    })
}

pub(crate) fn function_version(r: &impl Columns) -> Result<FunctionVersion> {
    Ok(FunctionVersion {
        function: r.text(0)?,
        number: unsigned(r.int(1)?, "function version")?,
        config: r.text(2)?,
        code_digest: r.text(3)?,
        revision_id: r.text(4)?,
        created_ms: r.int(5)?,
    })
}

pub(crate) fn function_alias(r: &impl Columns) -> Result<FunctionAlias> {
    Ok(FunctionAlias {
        function: r.text(0)?,
        name: r.text(1)?,
        version: r.text(2)?,
        routing: r.text(3)?,
        description: r.text(4)?,
        revision_id: r.text(5)?,
        created_ms: r.int(6)?,
        updated_ms: r.int(7)?,
    })
}

pub(crate) fn route(r: &impl Columns) -> Result<Route> {
    let route_key = r.text(0)?;
    let kind = r.text(1)?;
    let name = r.text(2)?;
    let target = match kind.as_str() {
        "function" => RouteTarget::Function {
            name,
            qualifier: r.text(3)?,
        },
        "workflow" => RouteTarget::Workflow { name },
        other => {
            return Err(StoreError::Corrupt(format!(
                "route '{route_key}' has the unknown kind '{other}'"
            )));
        }
    };
    Ok(Route {
        route_key,
        target,
        created_ms: r.int(4)?,
    })
}

pub(crate) fn invocation(r: &impl Columns) -> Result<QueuedInvocation> {
    Ok(QueuedInvocation {
        id: r.text(0)?,
        function: r.text(1)?,
        qualifier: r.text(2)?,
        payload: r.bytes(3)?,
        attempts: u32::try_from(r.int(4)?)
            .map_err(|_| StoreError::Corrupt("invocation attempts".into()))?,
        due_ms: r.int(5)?,
        created_ms: r.int(6)?,
        last_error: r.opt_text(7)?,
    })
}

/// A dead letter: the invocation's columns, then `reason, failed_ms`.
pub(crate) fn dead_letter(r: &impl Columns) -> Result<DeadLetter> {
    Ok(DeadLetter {
        invocation: invocation(r)?,
        reason: r.text(8)?,
        failed_ms: r.int(9)?,
    })
}

/// Converts an unsigned id for a BIGINT column.
pub(crate) fn signed(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Database(format!("{v} is out of range")))
}

// The event system's records (migration 3).

pub(crate) const RESOURCE_COLUMNS: &str = "kind, name, document, revision, created_ms, updated_ms";
pub(crate) const DELIVERY_COLUMNS: &str =
    "id, bus, rule, target, payload, attempts, due_ms, created_ms, last_error";
pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO deliveries (id, bus, rule, target, payload, attempts, due_ms, created_ms, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub(crate) const RESCHEDULE_DELIVERY: &str =
    "UPDATE deliveries SET attempts = $2, due_ms = $3, last_error = $4 WHERE id = $1";
/// A dead event: the delivery's columns, then `reason, failed_ms`.
pub(crate) const DEAD_EVENT_COLUMNS: &str =
    "id, bus, rule, target, payload, attempts, due_ms, created_ms, last_error, reason, failed_ms";
pub(crate) const ARCHIVED_COLUMNS: &str = "archive, time_ms, id, event";
/// Archiving an event again (same archive, time and id) keeps the first.
pub(crate) const INSERT_ARCHIVED: &str = "INSERT INTO archived_events (archive, time_ms, id, size, event) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (archive, time_ms, id) DO NOTHING";
pub(crate) const SCHEDULE_COLUMNS: &str =
    "name, expression, timezone, next_ms, document, created_ms, updated_ms";
/// Creates or replaces a schedule; a replaced schedule keeps its `created_ms`.
pub(crate) const PUT_SCHEDULE: &str = "INSERT INTO schedules (name, expression, timezone, next_ms, document, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO UPDATE SET expression = excluded.expression, timezone = excluded.timezone, next_ms = excluded.next_ms, document = excluded.document, updated_ms = excluded.updated_ms";
pub(crate) const MESSAGE_COLUMNS: &str =
    "queue, id, body, attributes, sent_ms, visible_ms, receive_count, first_receive_ms";
pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO queue_messages (queue, id, body, attributes, sent_ms, visible_ms, receive_count, first_receive_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(crate) fn resource(r: &impl Columns) -> Result<Resource> {
    Ok(Resource {
        kind: r.text(0)?,
        name: r.text(1)?,
        document: r.text(2)?,
        revision: unsigned(r.int(3)?, "resource revision")?,
        created_ms: r.int(4)?,
        updated_ms: r.int(5)?,
    })
}

pub(crate) fn delivery(r: &impl Columns) -> Result<Delivery> {
    Ok(Delivery {
        id: r.text(0)?,
        bus: r.text(1)?,
        rule: r.text(2)?,
        target: r.text(3)?,
        payload: r.text(4)?,
        attempts: u32::try_from(r.int(5)?)
            .map_err(|_| StoreError::Corrupt("delivery attempts".into()))?,
        due_ms: r.int(6)?,
        created_ms: r.int(7)?,
        last_error: r.opt_text(8)?,
    })
}

pub(crate) fn dead_event(r: &impl Columns) -> Result<DeadEvent> {
    Ok(DeadEvent {
        delivery: delivery(r)?,
        reason: r.text(9)?,
        failed_ms: r.int(10)?,
    })
}

pub(crate) fn archived(r: &impl Columns) -> Result<ArchivedEvent> {
    Ok(ArchivedEvent {
        archive: r.text(0)?,
        time_ms: r.int(1)?,
        id: r.text(2)?,
        event: r.text(3)?,
    })
}

pub(crate) fn schedule(r: &impl Columns) -> Result<Schedule> {
    Ok(Schedule {
        name: r.text(0)?,
        expression: r.text(1)?,
        timezone: r.text(2)?,
        next_ms: r.opt_int(3)?,
        document: r.text(4)?,
        created_ms: r.int(5)?,
        updated_ms: r.int(6)?,
    })
}

pub(crate) fn message(r: &impl Columns) -> Result<QueueMessage> {
    let id = r.text(1)?;
    let receive_count = u32::try_from(r.int(6)?)
        .map_err(|_| StoreError::Corrupt(format!("receive count of message {id}")))?;
    Ok(QueueMessage {
        queue: r.text(0)?,
        receipt: receipt(&id, receive_count),
        id,
        body: r.text(2)?,
        attributes: r.text(3)?,
        sent_ms: r.int(4)?,
        visible_ms: r.int(5)?,
        receive_count,
        first_receive_ms: r.opt_int(7)?,
    })
}

/// The receipt of a message's latest receive: `<id>#<receive_count>`, none before the
/// first. The SQL backends keep the count, not the receipt.
pub(crate) fn receipt(id: &str, receive_count: u32) -> Option<String> {
    (receive_count > 0).then(|| format!("{id}#{receive_count}"))
}

/// The message id and receive count a receipt names, if it is one the store could have
/// given out.
pub(crate) fn parse_receipt(receipt: &str) -> Option<(&str, i64)> {
    let (id, n) = receipt.rsplit_once('#')?;
    let count: u32 = n.parse().ok()?;
    (self::receipt(id, count).as_deref() == Some(receipt)).then_some((id, i64::from(count)))
}

/// The range of names starting with `prefix` after `after`, for an index range scan:
/// the lower bound with whether it is exclusive, and the upper bound (exclusive) if any.
/// Strings compare by bytes (code points), as the backends' key columns do.
pub(crate) fn prefix_range(prefix: &str, after: Option<&str>) -> (String, bool, Option<String>) {
    let (low, exclusive) = match after {
        Some(a) if a >= prefix => (a.to_owned(), true),
        _ => (prefix.to_owned(), false),
    };
    // The least string greater than every string with the prefix: bump the last
    // character that can be bumped, drop what follows it.
    let mut chars: Vec<char> = prefix.chars().collect();
    let mut high = None;
    while let Some(c) = chars.pop() {
        let next = match c as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(n) = next {
            chars.push(n);
            high = Some(chars.iter().collect());
            break;
        }
    }
    (low, exclusive, high)
}
