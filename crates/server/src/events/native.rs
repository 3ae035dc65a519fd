//! The native `/v1` routes of the event system (behind the node's bearer token):
//!
//! - `POST /v1/events` puts CloudEvents on a bus: one event, an array, or
//!   `{"bus": NAME, "events": [...]}` (`?bus=` works too; the default bus otherwise);
//! - `GET /v1/buses`; `PUT`/`GET`/`DELETE /v1/buses/{bus}`;
//! - `GET /v1/buses/{bus}/rules`; `PUT`/`GET`/`DELETE /v1/buses/{bus}/rules/{rule}` (a
//!   rule with its pattern or schedule and its targets, replaced whole);
//! - `POST /v1/patterns/test` (`{"pattern": ..., "event": ...}`);
//! - `GET /v1/schedules`; `PUT`/`GET`/`DELETE /v1/schedules/{name}`; `POST
//!   /v1/schedules` creates many at once; `GET /v1/scheduler` tells ticks fired and skew;
//! - `GET /v1/dead-events` (`?bus=&rule=&limit=`), `DELETE /v1/dead-events/{id}`;
//! - `GET /v1/sources`; `PUT`/`GET`/`DELETE /v1/sources/{name}` (NATS and MQTT);
//! - `GET /v1/webhooks`; `PUT`/`GET`/`DELETE /v1/webhooks/{name}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use cirrus_events::{CloudEvent, Pattern};
use cirrus_store::{Expect, Page, Schedule};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::rules::{BusDoc, DEFAULT_BUS, RuleDoc, TargetDoc};
use super::scheduler::{Missed, ScheduleDoc, schedule_name};
use super::webhooks::{RESOURCE_WEBHOOK, WebhookDoc};
use super::{Events, EventsError};
use crate::native::NativeError;
use crate::{Node, read_body};

pub const RESOURCE_SOURCE: &str = "source";
const SCHEDULE_GROUP: &str = "default";

impl From<EventsError> for NativeError {
    fn from(e: EventsError) -> Self {
        match e {
            EventsError::NotFound(m) => {
                NativeError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", m)
            }
            EventsError::Conflict(m) => {
                NativeError::new(StatusCode::CONFLICT, "ResourceAlreadyExistsException", m)
            }
            EventsError::Invalid(m) => NativeError::bad(m),
            EventsError::Store(e) => {
                tracing::error!(err = %e, "an events request failed in the store");
                NativeError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalException",
                    e.to_string(),
                )
            }
        }
    }
}

type Reply = Result<Response, NativeError>;
type Params = Query<HashMap<String, String>>;

fn ok(v: Value) -> Reply {
    Ok(axum::Json(v).into_response())
}

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/buses", get(list_buses))
        .route("/buses/{bus}", put(put_bus).get(get_bus).delete(delete_bus))
        .route("/buses/{bus}/rules", get(list_rules))
        .route(
            "/buses/{bus}/rules/{rule}",
            put(put_rule).get(get_rule).delete(delete_rule),
        )
        .route("/patterns/test", post(test_pattern))
        .route("/schedules", get(list_schedules).post(put_schedules))
        .route(
            "/schedules/{name}",
            put(put_schedule).get(get_schedule).delete(delete_schedule),
        )
        .route(
            "/scheduler",
            get(scheduler_stats).delete(reset_scheduler_stats),
        )
        .route("/dead-events", get(dead_events))
        .route(
            "/dead-events/{id}",
            axum::routing::delete(delete_dead_event),
        )
        .route("/sources", get(list_sources))
        .route(
            "/sources/{name}",
            put(put_source).get(get_source).delete(delete_source),
        )
        .route("/webhooks", get(list_webhooks))
        .route(
            "/webhooks/{name}",
            put(put_webhook).get(get_webhook).delete(delete_webhook),
        )
}

async fn body_value(node: &Node, body: Body) -> Result<Value, NativeError> {
    let bytes = read_body(node, body)
        .await
        .map_err(|(s, m)| NativeError::new(s, "ValidationException", m))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| NativeError::bad(format!("the request body is not valid JSON: {e}")))
}

fn from_doc<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, NativeError> {
    serde_json::from_value(v).map_err(|e| NativeError::bad(format!("invalid {what}: {e}")))
}

/// `POST /v1/events`.
pub async fn put_events(State(node): State<Arc<Node>>, Query(q): Params, body: Body) -> Reply {
    let v = body_value(&node, body).await?;
    let (bus, list) = match v {
        Value::Array(a) => (q.get("bus").cloned(), a),
        Value::Object(mut m) if m.contains_key("events") => {
            let bus = match m.remove("bus") {
                Some(Value::String(b)) => Some(b),
                None | Some(Value::Null) => q.get("bus").cloned(),
                Some(_) => return Err(NativeError::bad("'bus' must be a string")),
            };
            match m.remove("events") {
                Some(Value::Array(a)) => (bus, a),
                _ => return Err(NativeError::bad("'events' must be an array of CloudEvents")),
            }
        }
        obj @ Value::Object(_) => (q.get("bus").cloned(), vec![obj]),
        _ => {
            return Err(NativeError::bad(
                "the body must be a CloudEvent, an array of them, or {\"bus\", \"events\"}",
            ));
        }
    };
    if list.is_empty() || list.len() > 100 {
        return Err(NativeError::bad(format!(
            "put 1 to 100 events at once, not {}",
            list.len()
        )));
    }
    let mut events = Vec::with_capacity(list.len());
    for (i, mut e) in list.into_iter().enumerate() {
        // Conveniences: a missing id, specversion or time is filled in.
        if let Value::Object(m) = &mut e {
            m.entry("specversion").or_insert_with(|| json!("1.0"));
            m.entry("id")
                .or_insert_with(|| json!(cirrus_engine::uuid()));
        }
        let ce = CloudEvent::from_json(e)
            .map_err(|err| NativeError::bad(format!("events[{i}]: {err}")))?;
        events.push(ce);
    }
    let bus = bus.unwrap_or_else(|| DEFAULT_BUS.into());
    let deliveries = node
        .events
        .accept(&bus, &events, None)
        .await
        .map_err(EventsError::from)?;
    ok(json!({
        "bus": bus,
        "ids": events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        "deliveries": deliveries,
    }))
}

async fn list_buses(State(node): State<Arc<Node>>) -> Reply {
    let buses = node.events.buses().await?;
    ok(json!({ "buses": buses }))
}

async fn put_bus(State(node): State<Arc<Node>>, Path(bus): Path<String>, body: Body) -> Reply {
    let v = body_value(&node, body).await?;
    let description = v
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match node
        .events
        .create_bus(BusDoc {
            name: bus.clone(),
            description,
        })
        .await
    {
        Ok(()) => Ok((
            StatusCode::CREATED,
            axum::Json(json!({ "name": bus, "created": true })),
        )
            .into_response()),
        Err(EventsError::Conflict(_)) => ok(json!({ "name": bus, "created": false })),
        Err(e) => Err(e.into()),
    }
}

async fn get_bus(State(node): State<Arc<Node>>, Path(bus): Path<String>) -> Reply {
    let doc = node.events.bus(&bus).await?;
    let rules = node.events.rules(&bus).await?;
    ok(
        json!({ "name": doc.name, "description": doc.description, "rules": rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>() }),
    )
}

async fn delete_bus(State(node): State<Arc<Node>>, Path(bus): Path<String>) -> Reply {
    node.events.bus(&bus).await?;
    node.events.delete_bus(&bus).await?;
    ok(json!({ "deleted": bus }))
}

async fn list_rules(State(node): State<Arc<Node>>, Path(bus): Path<String>) -> Reply {
    node.events.bus(&bus).await?;
    ok(json!({ "rules": node.events.rules(&bus).await? }))
}

async fn put_rule(
    State(node): State<Arc<Node>>,
    Path((bus, rule)): Path<(String, String)>,
    body: Body,
) -> Reply {
    let mut v = body_value(&node, body).await?;
    let Value::Object(m) = &mut v else {
        return Err(NativeError::bad("the rule must be a JSON object"));
    };
    m.insert("name".into(), json!(rule));
    m.insert("bus".into(), json!(bus));
    let doc: RuleDoc = from_doc(v, "rule")?;
    let doc = node.events.put_rule(doc, true).await?;
    ok(serde_json::to_value(doc).unwrap_or(Value::Null))
}

async fn get_rule(
    State(node): State<Arc<Node>>,
    Path((bus, rule)): Path<(String, String)>,
) -> Reply {
    let doc = node.events.rule(&bus, &rule).await?;
    ok(serde_json::to_value(doc).unwrap_or(Value::Null))
}

async fn delete_rule(
    State(node): State<Arc<Node>>,
    Path((bus, rule)): Path<(String, String)>,
) -> Reply {
    node.events.rule(&bus, &rule).await?;
    node.events.delete_rule(&bus, &rule, true).await?;
    ok(json!({ "deleted": rule }))
}

async fn test_pattern(State(node): State<Arc<Node>>, body: Body) -> Reply {
    let v = body_value(&node, body).await?;
    let pattern = v
        .get("pattern")
        .ok_or_else(|| NativeError::bad("'pattern' is required"))?;
    let event = v
        .get("event")
        .ok_or_else(|| NativeError::bad("'event' is required"))?;
    let p = Pattern::from_value(pattern).map_err(|e| NativeError::bad(e.to_string()))?;
    // A CloudEvent is matched as the EventBridge event it corresponds to.
    let eb = if event.get("specversion").is_some() {
        let ce = CloudEvent::from_json(event.clone())
            .map_err(|e| NativeError::bad(format!("event: {e}")))?;
        ce.to_eventbridge(
            &node.events.partition.account,
            &node.events.partition.region,
        )
    } else {
        event.clone()
    };
    ok(json!({ "matches": p.matches(&eb), "event": eb }))
}

/// A schedule as the native API takes it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    #[serde(default)]
    name: Option<String>,
    expression: String,
    #[serde(default = "utc")]
    timezone: String,
    target: TargetDoc,
    #[serde(default)]
    missed: Missed,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    description: String,
    /// Where `rate(...)` counts from (now by default); schedules made together can
    /// spread their ticks with it.
    #[serde(default)]
    anchor_ms: Option<i64>,
}

fn utc() -> String {
    "UTC".into()
}

fn yes() -> bool {
    true
}

fn schedule_json(s: &Schedule) -> Value {
    let doc: Value = serde_json::from_str(&s.document).unwrap_or(Value::Null);
    let short = s
        .name
        .strip_prefix(&format!("schedule/{SCHEDULE_GROUP}/"))
        .unwrap_or(&s.name);
    json!({
        "name": short,
        "expression": s.expression,
        "timezone": s.timezone,
        "next": s.next_ms.map(super::timestamp),
        "next_ms": s.next_ms,
        "target": doc.get("target"),
        "rule": doc.get("rule"),
        "missed": doc.get("missed"),
        "enabled": doc.get("enabled"),
        "description": doc.get("description"),
    })
}

async fn put_schedule(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Body,
) -> Reply {
    let v = body_value(&node, body).await?;
    let b: ScheduleBody = from_doc(v, "schedule")?;
    super::rules::check_name(&name, "schedule").map_err(EventsError::from)?;
    let doc = ScheduleDoc {
        rule: None,
        target: Some(b.target),
        missed: b.missed,
        anchor_ms: b.anchor_ms.unwrap_or_else(cirrus_engine::now_ms),
        enabled: b.enabled,
        description: b.description,
    };
    let s = node
        .events
        .put_schedule(
            schedule_name(SCHEDULE_GROUP, &name),
            &b.expression,
            &b.timezone,
            doc,
        )
        .await?;
    ok(schedule_json(&s))
}

/// `POST /v1/schedules`: `{"schedules": [{"name", "expression", "timezone", "target",
/// ...}]}`, up to 10,000, in one commit.
async fn put_schedules(State(node): State<Arc<Node>>, body: Body) -> Reply {
    let bytes = axum::body::to_bytes(body, 64 << 20).await.map_err(|_| {
        NativeError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ValidationException",
            "the body is over 64 MiB",
        )
    })?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| NativeError::bad(format!("the request body is not valid JSON: {e}")))?;
    let Some(Value::Array(list)) = v.get("schedules") else {
        return Err(NativeError::bad("'schedules' must be an array"));
    };
    if list.len() > 10_000 {
        return Err(NativeError::bad(format!(
            "at most 10000 schedules at once, not {}",
            list.len()
        )));
    }
    let now = cirrus_engine::now_ms();
    let mut out = Vec::with_capacity(list.len());
    let mut exprs: HashMap<
        (String, String),
        (cirrus_events::ScheduleExpression, cirrus_events::TimeZone),
    > = HashMap::new();
    for (i, item) in list.iter().enumerate() {
        let b: ScheduleBody = serde_json::from_value(item.clone())
            .map_err(|e| NativeError::bad(format!("schedules[{i}]: {e}")))?;
        let name = b
            .name
            .clone()
            .ok_or_else(|| NativeError::bad(format!("schedules[{i}]: 'name' is required")))?;
        super::rules::check_name(&name, "schedule")
            .map_err(|e| NativeError::bad(format!("schedules[{i}]: {}", e.0)))?;
        b.target
            .validate()
            .map_err(|e| NativeError::bad(format!("schedules[{i}]: {}", e.0)))?;
        let key = (b.expression.clone(), b.timezone.clone());
        if !exprs.contains_key(&key) {
            let e = cirrus_events::ScheduleExpression::parse(&b.expression)
                .map_err(|e| NativeError::bad(format!("schedules[{i}]: {e}")))?;
            let tz = cirrus_events::TimeZone::parse(&b.timezone)
                .map_err(|e| NativeError::bad(format!("schedules[{i}]: {e}")))?;
            exprs.insert(key.clone(), (e, tz));
        }
        let Some((expr, tz)) = exprs.get(&key) else {
            continue;
        };
        // Schedules created together may name their own anchor, to spread rate ticks.
        let anchor_ms = b.anchor_ms.unwrap_or(now);
        let doc = ScheduleDoc {
            rule: None,
            target: Some(b.target),
            missed: b.missed,
            anchor_ms,
            enabled: b.enabled,
            description: b.description,
        };
        out.push(Schedule {
            name: schedule_name(SCHEDULE_GROUP, &name),
            expression: b.expression,
            timezone: tz.name().to_owned(),
            next_ms: if b.enabled {
                expr.next_after(now, tz, anchor_ms)
            } else {
                None
            },
            document: serde_json::to_string(&doc).unwrap_or_default(),
            created_ms: now,
            updated_ms: now,
        });
    }
    let n = out.len();
    node.events.put_schedules(out).await?;
    ok(json!({ "created": n }))
}

async fn list_schedules(State(node): State<Arc<Node>>, Query(q): Params) -> Reply {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(1000usize)
        .min(10_000);
    let after = q.get("after").map(|a| schedule_name(SCHEDULE_GROUP, a));
    let list = node
        .events
        .store
        .schedules(
            "schedule/",
            Page {
                after: after.as_deref(),
                limit,
            },
        )
        .await
        .map_err(EventsError::from)?;
    let total = node
        .events
        .store
        .schedule_count()
        .await
        .map_err(EventsError::from)?;
    ok(json!({ "schedules": list.iter().map(schedule_json).collect::<Vec<_>>(), "total": total }))
}

async fn get_schedule(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    match node
        .events
        .store
        .schedule(&schedule_name(SCHEDULE_GROUP, &name))
        .await
        .map_err(EventsError::from)?
    {
        Some(s) => ok(schedule_json(&s)),
        None => Err(EventsError::NotFound(format!("Schedule {name} does not exist.")).into()),
    }
}

async fn delete_schedule(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    if !node
        .events
        .store
        .delete_schedule(&schedule_name(SCHEDULE_GROUP, &name))
        .await
        .map_err(EventsError::from)?
    {
        return Err(EventsError::NotFound(format!("Schedule {name} does not exist.")).into());
    }
    node.events.scheduler.wake();
    ok(json!({ "deleted": name }))
}

async fn scheduler_stats(State(node): State<Arc<Node>>) -> Reply {
    let mut v = node.events.scheduler.stats();
    v["schedules"] = json!(
        node.events
            .store
            .schedule_count()
            .await
            .map_err(EventsError::from)?
    );
    v["deliveries_queued"] = json!(
        node.events
            .store
            .queued_deliveries()
            .await
            .map_err(EventsError::from)?
    );
    ok(v)
}

async fn reset_scheduler_stats(State(node): State<Arc<Node>>) -> Reply {
    node.events.scheduler.reset_stats();
    ok(json!({ "reset": true }))
}

async fn dead_events(State(node): State<Arc<Node>>, Query(q): Params) -> Reply {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize);
    let bus = q.get("bus").map(String::as_str).unwrap_or(DEFAULT_BUS);
    let rule = q.get("rule").map(|r| (bus, r.as_str()));
    let list = node
        .events
        .store
        .dead_events(rule, limit)
        .await
        .map_err(EventsError::from)?;
    let items: Vec<Value> = list
        .iter()
        .map(|d| {
            let payload: Value = serde_json::from_str(&d.delivery.payload).unwrap_or(Value::Null);
            json!({
                "id": d.delivery.id,
                "bus": d.delivery.bus,
                "rule": d.delivery.rule,
                "target": d.delivery.target,
                "reason": d.reason,
                "attempts": d.delivery.attempts,
                "last_error": d.delivery.last_error.as_deref().map(|e| serde_json::from_str::<Value>(e).unwrap_or(json!(e))),
                "failed": super::timestamp(d.failed_ms),
                "event": payload.get("event"),
            })
        })
        .collect();
    ok(json!({ "dead_events": items }))
}

async fn delete_dead_event(State(node): State<Arc<Node>>, Path(id): Path<String>) -> Reply {
    if !node
        .events
        .store
        .delete_dead_event(&id)
        .await
        .map_err(EventsError::from)?
    {
        return Err(EventsError::NotFound(format!("Dead event {id} does not exist.")).into());
    }
    ok(json!({ "deleted": id }))
}

async fn list_sources(State(node): State<Arc<Node>>) -> Reply {
    let mut out = Vec::new();
    for r in node
        .events
        .store
        .resources(RESOURCE_SOURCE)
        .await
        .map_err(EventsError::from)?
    {
        let config: Value = serde_json::from_str(&r.document).unwrap_or(Value::Null);
        let status = node.events.brokers.source_status(&r.name);
        out.push(json!({ "name": r.name, "config": config, "status": status }));
    }
    ok(json!({ "sources": out }))
}

async fn put_source(State(node): State<Arc<Node>>, Path(name): Path<String>, body: Body) -> Reply {
    super::rules::check_name(&name, "source").map_err(EventsError::from)?;
    let v = body_value(&node, body).await?;
    let config =
        super::brokers::SourceConfig::parse(&v).map_err(|e| NativeError::bad(e.to_string()))?;
    let bus = v.get("bus").and_then(Value::as_str).unwrap_or(DEFAULT_BUS);
    node.events.bus(bus).await?;
    node.events
        .put_doc(RESOURCE_SOURCE, &name, &v, Expect::Any)
        .await?;
    let sink: Arc<dyn super::EventSink> = node.events.clone();
    node.events
        .brokers
        .apply_source(&name, config, sink)
        .await
        .map_err(|e| NativeError::bad(e.to_string()))?;
    ok(json!({ "name": name, "config": v }))
}

async fn get_source(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    let Some(r) = node
        .events
        .store
        .resource(RESOURCE_SOURCE, &name)
        .await
        .map_err(EventsError::from)?
    else {
        return Err(EventsError::NotFound(format!("Source {name} does not exist.")).into());
    };
    let config: Value = serde_json::from_str(&r.document).unwrap_or(Value::Null);
    ok(
        json!({ "name": name, "config": config, "status": node.events.brokers.source_status(&name) }),
    )
}

async fn delete_source(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    if !node
        .events
        .store
        .delete_resource(RESOURCE_SOURCE, &name)
        .await
        .map_err(EventsError::from)?
    {
        return Err(EventsError::NotFound(format!("Source {name} does not exist.")).into());
    }
    node.events.brokers.remove_source(&name).await;
    ok(json!({ "deleted": name }))
}

/// Starts the stored broker sources and resumes replays, when the node starts.
pub(crate) async fn restore_sources(events: &Arc<Events>) {
    match events.store.resources(RESOURCE_SOURCE).await {
        Ok(list) => {
            for r in list {
                let parsed = serde_json::from_str::<Value>(&r.document)
                    .map_err(|e| e.to_string())
                    .and_then(|v| {
                        super::brokers::SourceConfig::parse(&v).map_err(|e| e.to_string())
                    });
                match parsed {
                    Ok(config) => {
                        let sink: Arc<dyn super::EventSink> = events.clone();
                        if let Err(e) = events.brokers.apply_source(&r.name, config, sink).await {
                            tracing::warn!(source = %r.name, err = %e, "cannot start the source");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(source = %r.name, err = %e, "a stored source is invalid")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(err = %e, "cannot read the stored sources"),
    }
    events.resume_replays().await;
    tokio::spawn(super::archive::retention(events.clone()));
}

async fn list_webhooks(State(node): State<Arc<Node>>) -> Reply {
    let list = node
        .events
        .list_docs::<WebhookDoc>(RESOURCE_WEBHOOK)
        .await?;
    let items: Vec<Value> = list.iter().map(|(d, _)| d.public()).collect();
    ok(json!({ "webhooks": items }))
}

async fn put_webhook(State(node): State<Arc<Node>>, Path(name): Path<String>, body: Body) -> Reply {
    let mut v = body_value(&node, body).await?;
    if let Value::Object(m) = &mut v {
        m.insert("name".into(), json!(name));
    }
    let doc: WebhookDoc = from_doc(v, "webhook")?;
    doc.validate().map_err(EventsError::from)?;
    node.events.bus(&doc.bus).await?;
    node.events
        .put_doc(RESOURCE_WEBHOOK, &name, &doc, Expect::Any)
        .await?;
    ok(doc.public())
}

async fn get_webhook(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    match node
        .events
        .get_doc::<WebhookDoc>(RESOURCE_WEBHOOK, &name)
        .await?
    {
        Some((d, _)) => ok(d.public()),
        None => Err(EventsError::NotFound(format!("Webhook {name} does not exist.")).into()),
    }
}

async fn delete_webhook(State(node): State<Arc<Node>>, Path(name): Path<String>) -> Reply {
    if !node
        .events
        .store
        .delete_resource(RESOURCE_WEBHOOK, &name)
        .await
        .map_err(EventsError::from)?
    {
        return Err(EventsError::NotFound(format!("Webhook {name} does not exist.")).into());
    }
    ok(json!({ "deleted": name }))
}
