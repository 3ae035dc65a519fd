//! The AWS EventBridge protocol (JSON 1.1, `X-Amz-Target: AWSEvents.<Operation>`): events
//! (`PutEvents`, `TestEventPattern`), buses, rules and targets, archives and replays, with
//! EventBridge's error names. A target's `Arn` says where it delivers (see
//! [`super::rules::action_from_arn`]).

use axum::http::StatusCode;
use cirrus_events::{CloudEvent, Pattern};
use serde_json::{Value, json};

use super::archive::{ArchiveDoc, ReplayDoc};
use super::rules::{self, BusDoc, DEFAULT_BUS, RuleDoc, bus_name};
use super::{Events, EventsError};
use crate::Node;
use crate::aws::{ApiError, ApiResult, Body};

/// PutEvents takes at most this many entries, and this many bytes of them.
const MAX_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;

impl From<EventsError> for ApiError {
    fn from(e: EventsError) -> Self {
        match e {
            EventsError::NotFound(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "ResourceNotFoundException", m)
            }
            EventsError::Conflict(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "ResourceAlreadyExistsException", m)
            }
            EventsError::Invalid(m) => ApiError::validation(m),
            EventsError::Store(e) => {
                tracing::error!(err = %e, "an EventBridge request failed in the store");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalException",
                    e.to_string(),
                )
            }
        }
    }
}

pub(crate) async fn operation(node: &Node, operation: &str, b: &Body) -> ApiResult {
    let ev = &node.events;
    match operation {
        "PutEvents" => put_events(ev, b).await,
        "TestEventPattern" => test_event_pattern(b),
        "CreateEventBus" => {
            let name = b.str("Name")?;
            ev.create_bus(BusDoc {
                name: name.into(),
                description: b.opt_str("Description")?.unwrap_or("").into(),
            })
            .await?;
            Ok(json!({ "EventBusArn": rules::bus_arn(&ev.partition, name) }))
        }
        "DescribeEventBus" => {
            let name = bus_name(b.opt_str("Name")?.unwrap_or(DEFAULT_BUS));
            let bus = ev.bus(name).await?;
            Ok(
                json!({ "Name": bus.name, "Arn": rules::bus_arn(&ev.partition, &bus.name), "Description": bus.description }),
            )
        }
        "DeleteEventBus" => {
            ev.delete_bus(bus_name(b.str("Name")?)).await?;
            Ok(json!({}))
        }
        "ListEventBuses" => {
            let prefix = b.opt_str("NamePrefix")?.unwrap_or("");
            let buses: Vec<Value> = ev
                .buses()
                .await?
                .into_iter()
                .filter(|x| x.name.starts_with(prefix))
                .map(|x| json!({ "Name": x.name, "Arn": rules::bus_arn(&ev.partition, &x.name) }))
                .collect();
            Ok(json!({ "EventBuses": buses }))
        }
        "PutRule" => put_rule(ev, b).await,
        "DescribeRule" => {
            let bus = bus_of(b)?;
            let rule = ev.rule(bus, b.str("Name")?).await?;
            Ok(rule_to_aws(ev, &rule))
        }
        "ListRules" => {
            let bus = bus_of(b)?;
            ev.bus(bus).await?;
            let prefix = b.opt_str("NamePrefix")?.unwrap_or("");
            let rules: Vec<Value> = ev
                .rules(bus)
                .await?
                .iter()
                .filter(|r| r.name.starts_with(prefix))
                .map(|r| rule_to_aws(ev, r))
                .collect();
            Ok(json!({ "Rules": rules }))
        }
        "DeleteRule" => {
            ev.delete_rule(bus_of(b)?, b.str("Name")?, b.opt_bool("Force")?)
                .await?;
            Ok(json!({}))
        }
        "EnableRule" | "DisableRule" => {
            ev.set_rule_enabled(bus_of(b)?, b.str("Name")?, operation == "EnableRule")
                .await?;
            Ok(json!({}))
        }
        "PutTargets" => put_targets(ev, b).await,
        "RemoveTargets" => {
            let ids = string_list(b, "Ids")?;
            let missing = ev.remove_targets(bus_of(b)?, b.str("Rule")?, &ids).await?;
            let failed: Vec<Value> = missing
                .iter()
                .map(|id| json!({ "TargetId": id, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": format!("Target {id} does not exist") }))
                .collect();
            Ok(json!({ "FailedEntryCount": failed.len(), "FailedEntries": failed }))
        }
        "ListTargetsByRule" => {
            let rule = ev.rule(bus_of(b)?, b.str("Rule")?).await?;
            let targets: Vec<Value> = rule
                .targets
                .iter()
                .map(|t| rules::target_to_aws(&ev.partition, t))
                .collect();
            Ok(json!({ "Targets": targets }))
        }
        "CreateArchive" => {
            let doc = archive_from_aws(b)?;
            ev.create_archive(doc.clone()).await?;
            Ok(
                json!({ "ArchiveArn": archive_arn(ev, &doc.name), "State": "ENABLED", "CreationTime": crate::aws::epoch(cirrus_engine::now_ms()) }),
            )
        }
        "UpdateArchive" => {
            let name = b.str("ArchiveName")?;
            let mut doc = ev.archive(name).await?;
            if let Some(p) = b.opt_str("EventPattern")? {
                doc.pattern = Some(parse_pattern_json(p)?);
            }
            if let Some(d) = b.opt_str("Description")? {
                doc.description = d.into();
            }
            if let Some(n) = b.get("RetentionDays") {
                doc.retention_days = n
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| ApiError::validation("RetentionDays must be a number"))?;
            }
            ev.update_archive(doc).await?;
            Ok(json!({ "ArchiveArn": archive_arn(ev, name), "State": "ENABLED" }))
        }
        "DescribeArchive" => {
            let name = b.str("ArchiveName")?;
            let doc = ev.archive(name).await?;
            let (count, bytes) = ev
                .store
                .archive_size(name)
                .await
                .map_err(EventsError::from)?;
            Ok(json!({
                "ArchiveArn": archive_arn(ev, name),
                "ArchiveName": name,
                "EventSourceArn": rules::bus_arn(&ev.partition, &doc.bus),
                "EventPattern": doc.pattern.as_ref().map(|p| p.to_string()),
                "Description": doc.description,
                "State": doc.state,
                "RetentionDays": doc.retention_days,
                "SizeBytes": bytes,
                "EventCount": count,
            }))
        }
        "DeleteArchive" => {
            ev.delete_archive(b.str("ArchiveName")?).await?;
            Ok(json!({}))
        }
        "ListArchives" => {
            let prefix = b.opt_str("NamePrefix")?.unwrap_or("");
            let mut out = Vec::new();
            for (doc, _) in ev
                .list_docs::<ArchiveDoc>(super::archive::RESOURCE_ARCHIVE)
                .await?
            {
                if doc.name.starts_with(prefix) {
                    out.push(json!({
                        "ArchiveName": doc.name,
                        "EventSourceArn": rules::bus_arn(&ev.partition, &doc.bus),
                        "State": doc.state,
                        "RetentionDays": doc.retention_days,
                    }));
                }
            }
            Ok(json!({ "Archives": out }))
        }
        "StartReplay" => start_replay(node, b).await,
        "DescribeReplay" => {
            let doc = ev.replay(b.str("ReplayName")?).await?;
            Ok(replay_to_aws(ev, &doc))
        }
        "ListReplays" => {
            let prefix = b.opt_str("NamePrefix")?.unwrap_or("");
            let mut out = Vec::new();
            for (doc, _) in ev
                .list_docs::<ReplayDoc>(super::archive::RESOURCE_REPLAY)
                .await?
            {
                if doc.name.starts_with(prefix) {
                    out.push(replay_to_aws(ev, &doc));
                }
            }
            Ok(json!({ "Replays": out }))
        }
        "CancelReplay" => {
            let doc = ev.cancel_replay(b.str("ReplayName")?).await?;
            Ok(json!({ "ReplayArn": replay_arn(ev, &doc.name), "State": doc.state }))
        }
        "ListTagsForResource" => Ok(json!({ "Tags": [] })),
        "TagResource" | "UntagResource" => Ok(json!({})),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("Cirrus does not implement the EventBridge operation '{operation}'"),
        )),
    }
}

fn bus_of(b: &Body) -> Result<&str, ApiError> {
    Ok(bus_name(b.opt_str("EventBusName")?.unwrap_or(DEFAULT_BUS)))
}

fn string_list(b: &Body, field: &str) -> Result<Vec<String>, ApiError> {
    match b.get(field) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::validation(format!("{field} must be a list of strings"))
                })
            })
            .collect(),
        None => Err(ApiError::validation(format!("{field} is required"))),
        Some(_) => Err(ApiError::validation(format!(
            "{field} must be a list of strings"
        ))),
    }
}

fn parse_pattern_json(text: &str) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidEventPatternException",
            format!("Event pattern is not valid JSON: {e}"),
        )
    })?;
    Pattern::from_value(&v).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidEventPatternException",
            e.to_string(),
        )
    })?;
    Ok(v)
}

/// A timestamp given as epoch seconds (a number) or RFC 3339 text, in milliseconds.
fn time_ms(v: &Value, field: &str) -> Result<i64, ApiError> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e11)
            .map(|f| (f * 1000.0) as i64)
            .ok_or_else(|| ApiError::validation(format!("{field} is not a valid timestamp"))),
        Value::String(s) => cirrus_asl::timestamp::Timestamp::parse(s)
            .map(|t| t.unix_millis())
            .ok_or_else(|| ApiError::validation(format!("{field} '{s}' is not a valid timestamp"))),
        _ => Err(ApiError::validation(format!(
            "{field} is not a valid timestamp"
        ))),
    }
}

async fn put_events(ev: &Events, b: &Body) -> ApiResult {
    let Some(Value::Array(entries)) = b.get("Entries") else {
        return Err(ApiError::validation(
            "Entries is required and must be a list",
        ));
    };
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {MAX_ENTRIES}"
        )));
    }
    let size: usize = entries.iter().map(|e| e.to_string().len()).sum();
    if size > MAX_BATCH_BYTES {
        return Err(ApiError::validation(format!(
            "Total size of the entries in the request is over the limit of {MAX_BATCH_BYTES} bytes."
        )));
    }
    // Per entry: the event and its bus, or why it was refused.
    let results: Vec<EntryResult> = entries.iter().map(entry_event).collect();
    Ok(put_entries(ev, &results).await)
}

/// Accepts the entries that were read (grouped by bus, one commit per bus) and answers
/// as PutEvents does: `{"FailedEntryCount", "Entries": [{"EventId"} or {"ErrorCode",
/// "ErrorMessage"}]}`, in the entries' order.
pub(crate) async fn put_entries(ev: &Events, results: &[EntryResult]) -> Value {
    let mut buses: Vec<&str> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(b, _)| b.as_str()))
        .collect();
    buses.sort_unstable();
    buses.dedup();
    let mut bus_errors: std::collections::HashMap<String, (&str, String)> = Default::default();
    for bus in buses {
        let batch: Vec<CloudEvent> = results
            .iter()
            .filter_map(|r| {
                r.as_ref()
                    .ok()
                    .filter(|(b, _)| b == bus)
                    .map(|(_, e)| e.clone())
            })
            .collect();
        if let Err(e) = ev.accept(bus, &batch, None).await {
            let failure = match e {
                super::SinkError::NoSuchBus(b) => (
                    "ResourceNotFoundException",
                    format!("Event bus {b} does not exist."),
                ),
                other => ("InternalFailure", other.to_string()),
            };
            bus_errors.insert(bus.to_owned(), failure);
        }
    }
    let mut failed = 0;
    let out: Vec<Value> = results
        .iter()
        .map(|r| match r {
            Ok((bus, e)) => match bus_errors.get(bus) {
                Some((code, message)) => {
                    failed += 1;
                    json!({ "ErrorCode": code, "ErrorMessage": message })
                }
                None => json!({ "EventId": e.id }),
            },
            Err((code, message)) => {
                failed += 1;
                json!({ "ErrorCode": code, "ErrorMessage": message })
            }
        })
        .collect();
    json!({ "FailedEntryCount": failed, "Entries": out })
}

/// A PutEvents entry's bus and event, or its error code and message.
pub(crate) type EntryResult = Result<(String, CloudEvent), (&'static str, String)>;

/// One PutEvents entry as a CloudEvent on its bus.
pub(crate) fn entry_event(entry: &Value) -> EntryResult {
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let source = field("Source").ok_or((
        "InvalidArgument",
        "Parameter Source is not valid. Reason: Source is a required argument.".to_string(),
    ))?;
    let detail_type = field("DetailType").ok_or((
        "InvalidArgument",
        "Parameter DetailType is not valid. Reason: DetailType is a required argument.".to_string(),
    ))?;
    let detail_text = field("Detail").ok_or((
        "InvalidArgument",
        "Parameter Detail is not valid. Reason: Detail is a required argument.".to_string(),
    ))?;
    let detail: Value = match serde_json::from_str(detail_text) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(("MalformedDetail", "Detail is malformed.".to_string())),
    };
    let bus = bus_name(field("EventBusName").unwrap_or(DEFAULT_BUS)).to_owned();
    let mut e = CloudEvent::new(cirrus_engine::uuid(), source, detail_type);
    e.datacontenttype = Some("application/json".into());
    e.data = Some(detail);
    if let Some(t) = entry.get("Time").filter(|t| !t.is_null()) {
        let ms = time_ms(t, "Time").map_err(|e| ("InvalidArgument", e.message))?;
        e.time = Some(super::timestamp(ms));
    }
    match entry.get("Resources") {
        None | Some(Value::Null) => {}
        Some(Value::Array(r)) if r.iter().all(Value::is_string) => {
            if !r.is_empty() {
                e.extensions
                    .insert("resources".into(), Value::Array(r.clone()));
            }
        }
        Some(_) => {
            return Err((
                "InvalidArgument",
                "Parameter Resources is not valid: it must be a list of strings.".to_string(),
            ));
        }
    }
    Ok((bus, e))
}

fn test_event_pattern(b: &Body) -> ApiResult {
    let pattern = parse_pattern_json(b.str("EventPattern")?)?;
    let event: Value = serde_json::from_str(b.str("Event")?)
        .map_err(|e| ApiError::validation(format!("Parameter Event is not valid JSON: {e}")))?;
    for field in ["id", "account", "source", "time", "region", "detail-type"] {
        if event.get(field).is_none() {
            return Err(ApiError::validation(format!(
                "Parameter Event is not valid. Reason: Provided Event is missing required field: {field}"
            )));
        }
    }
    let p = Pattern::from_value(&pattern).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidEventPatternException",
            e.to_string(),
        )
    })?;
    Ok(json!({ "Result": p.matches(&event) }))
}

async fn put_rule(ev: &Events, b: &Body) -> ApiResult {
    let bus = bus_of(b)?.to_owned();
    let name = b.str("Name")?.to_owned();
    let pattern = match b.opt_str("EventPattern")? {
        Some(p) => Some(parse_pattern_json(p)?),
        None => None,
    };
    let enabled = match b.opt_str("State")? {
        None | Some("ENABLED") | Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => true,
        Some("DISABLED") => false,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )));
        }
    };
    let doc = RuleDoc {
        name: name.clone(),
        bus: bus.clone(),
        pattern,
        schedule: b.opt_str("ScheduleExpression")?.map(str::to_owned),
        timezone: "UTC".into(),
        enabled,
        description: b.opt_str("Description")?.unwrap_or("").into(),
        targets: Vec::new(),
    };
    ev.put_rule(doc, false).await?;
    Ok(json!({ "RuleArn": rules::rule_arn(&ev.partition, &bus, &name) }))
}

fn rule_to_aws(ev: &Events, r: &RuleDoc) -> Value {
    let mut v = json!({
        "Name": r.name,
        "Arn": rules::rule_arn(&ev.partition, &r.bus, &r.name),
        "State": if r.enabled { "ENABLED" } else { "DISABLED" },
        "Description": r.description,
        "EventBusName": r.bus,
    });
    if let Some(p) = &r.pattern {
        v["EventPattern"] = json!(p.to_string());
    }
    if let Some(s) = &r.schedule {
        v["ScheduleExpression"] = json!(s);
    }
    v
}

async fn put_targets(ev: &Events, b: &Body) -> ApiResult {
    let bus = bus_of(b)?;
    let rule = b.str("Rule")?;
    let Some(Value::Array(given)) = b.get("Targets") else {
        return Err(ApiError::validation(
            "Targets is required and must be a list",
        ));
    };
    if given.is_empty() || given.len() > rules::MAX_TARGETS {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and {}",
            rules::MAX_TARGETS
        )));
    }
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for t in given {
        match rules::target_from_aws(t) {
            Ok(doc) => ok.push(doc),
            Err(e) => failed.push(json!({
                "TargetId": t.get("Id").and_then(Value::as_str).unwrap_or(""),
                "ErrorCode": "ValidationException",
                "ErrorMessage": e.0,
            })),
        }
    }
    if !ok.is_empty() {
        ev.put_targets(bus, rule, ok).await?;
    } else {
        ev.rule(bus, rule).await?;
    }
    Ok(json!({ "FailedEntryCount": failed.len(), "FailedEntries": failed }))
}

fn archive_arn(ev: &Events, name: &str) -> String {
    format!(
        "arn:aws:events:{}:{}:archive/{name}",
        ev.partition.region, ev.partition.account
    )
}

fn replay_arn(ev: &Events, name: &str) -> String {
    format!(
        "arn:aws:events:{}:{}:replay/{name}",
        ev.partition.region, ev.partition.account
    )
}

fn archive_from_aws(b: &Body) -> Result<ArchiveDoc, ApiError> {
    let name = b.str("ArchiveName")?.to_owned();
    let bus = bus_name(b.str("EventSourceArn")?).to_owned();
    let pattern = match b.opt_str("EventPattern")? {
        Some(p) => Some(parse_pattern_json(p)?),
        None => None,
    };
    let retention_days = match b.get("RetentionDays") {
        None => 0,
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| ApiError::validation("RetentionDays must be a number"))?,
    };
    Ok(ArchiveDoc {
        name,
        bus,
        pattern,
        retention_days,
        description: b.opt_str("Description")?.unwrap_or("").into(),
        state: super::archive::ENABLED.into(),
    })
}

async fn start_replay(node: &Node, b: &Body) -> ApiResult {
    let ev = &node.events;
    let name = b.str("ReplayName")?.to_owned();
    let source = b.str("EventSourceArn")?;
    let archive = source
        .rsplit_once(":archive/")
        .map_or(source, |(_, a)| a)
        .to_owned();
    let from_ms = time_ms(
        b.get("EventStartTime")
            .ok_or_else(|| ApiError::validation("EventStartTime is required"))?,
        "EventStartTime",
    )?;
    let to_ms = time_ms(
        b.get("EventEndTime")
            .ok_or_else(|| ApiError::validation("EventEndTime is required"))?,
        "EventEndTime",
    )?;
    let dest = b
        .get("Destination")
        .ok_or_else(|| ApiError::validation("Destination is required"))?;
    let bus = dest
        .get("Arn")
        .and_then(Value::as_str)
        .map(bus_name)
        .ok_or_else(|| ApiError::validation("Destination.Arn is required"))?
        .to_owned();
    let rules = match dest.get("FilterArns") {
        Some(Value::Array(a)) if !a.is_empty() => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_owned())
                .collect(),
        ),
        _ => None,
    };
    let doc = ReplayDoc {
        name,
        archive,
        bus,
        from_ms,
        to_ms,
        rules,
        state: String::new(),
        reason: String::new(),
        started_ms: 0,
        ended_ms: None,
        replayed: 0,
        position: None,
        description: b.opt_str("Description")?.unwrap_or("").into(),
    };
    let doc = node.events.start_replay(doc).await?;
    Ok(json!({
        "ReplayArn": replay_arn(ev, &doc.name),
        "State": doc.state,
        "ReplayStartTime": crate::aws::epoch(doc.started_ms),
    }))
}

fn replay_to_aws(ev: &Events, d: &ReplayDoc) -> Value {
    let mut v = json!({
        "ReplayName": d.name,
        "ReplayArn": replay_arn(ev, &d.name),
        "State": d.state,
        "StateReason": d.reason,
        "EventSourceArn": archive_arn(ev, &d.archive),
        "Destination": {
            "Arn": rules::bus_arn(&ev.partition, &d.bus),
            "FilterArns": d.rules.as_ref().map(|r| r.iter().map(|n| rules::rule_arn(&ev.partition, &d.bus, n)).collect::<Vec<_>>()).unwrap_or_default(),
        },
        "EventStartTime": crate::aws::epoch(d.from_ms),
        "EventEndTime": crate::aws::epoch(d.to_ms),
        "ReplayStartTime": crate::aws::epoch(d.started_ms),
    });
    if let Some((t, _)) = &d.position {
        v["EventLastReplayedTime"] = crate::aws::epoch(*t);
    }
    if let Some(t) = d.ended_ms {
        v["ReplayEndTime"] = crate::aws::epoch(t);
    }
    v
}
