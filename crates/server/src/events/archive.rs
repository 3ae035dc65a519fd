//! Archives and replays. An archive keeps the events of a bus (those its optional pattern
//! matches) as they are accepted, in the same commit as their deliveries, for its
//! retention. A replay puts an archive's events from a time range back on a bus, to every
//! rule or to the rules it names, marked with `replay-name`; it runs in the background,
//! records its progress, and resumes after a restart.

use std::sync::Arc;
use std::time::Duration;

use cirrus_events::CloudEvent;
use cirrus_store::Expect;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rules::{RESOURCE_BUS, check_name};
use super::{Events, EventsError};

pub const RESOURCE_ARCHIVE: &str = "archive";
pub const RESOURCE_REPLAY: &str = "replay";
pub const ENABLED: &str = "ENABLED";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveDoc {
    pub name: String,
    pub bus: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Value>,
    /// Days events are kept; 0 keeps them forever.
    #[serde(default)]
    pub retention_days: u32,
    #[serde(default)]
    pub description: String,
    #[serde(default = "enabled")]
    pub state: String,
}

fn enabled() -> String {
    ENABLED.into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayDoc {
    pub name: String,
    pub archive: String,
    /// Where the events go.
    pub bus: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only these rules of the bus see the events (all when `None`).
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// `STARTING`, `RUNNING`, `CANCELLING`, `CANCELLED`, `COMPLETED`, `FAILED`.
    pub state: String,
    #[serde(default)]
    pub reason: String,
    pub started_ms: i64,
    #[serde(default)]
    pub ended_ms: Option<i64>,
    /// Events put back so far.
    #[serde(default)]
    pub replayed: u64,
    /// The last event put back, `(time_ms, id)`.
    #[serde(default)]
    pub position: Option<(i64, String)>,
    #[serde(default)]
    pub description: String,
}

/// Which rules a replayed event may reach.
pub struct ReplayScope {
    pub name: String,
    pub rules: Option<Vec<String>>,
}

impl ReplayScope {
    pub fn includes(&self, rule: &str) -> bool {
        self.rules
            .as_ref()
            .is_none_or(|r| r.iter().any(|n| n == rule))
    }
}

impl Events {
    pub async fn create_archive(&self, doc: ArchiveDoc) -> Result<(), EventsError> {
        check_name(&doc.name, "archive")?;
        if self.store.resource(RESOURCE_BUS, &doc.bus).await?.is_none() {
            return Err(EventsError::NotFound(format!(
                "Event bus {} does not exist.",
                doc.bus
            )));
        }
        if let Some(p) = &doc.pattern {
            cirrus_events::Pattern::from_value(p)
                .map_err(|e| EventsError::Invalid(e.to_string()))?;
        }
        self.put_doc(RESOURCE_ARCHIVE, &doc.name, &doc, Expect::Absent)
            .await
            .map_err(|e| match e {
                EventsError::Store(cirrus_store::StoreError::Conflict(_)) => {
                    EventsError::Conflict(format!("Archive {} already exists.", doc.name))
                }
                e => e,
            })?;
        self.invalidate(&doc.bus);
        Ok(())
    }

    pub async fn update_archive(&self, doc: ArchiveDoc) -> Result<(), EventsError> {
        if let Some(p) = &doc.pattern {
            cirrus_events::Pattern::from_value(p)
                .map_err(|e| EventsError::Invalid(e.to_string()))?;
        }
        self.put_doc(RESOURCE_ARCHIVE, &doc.name, &doc, Expect::Any)
            .await?;
        self.invalidate(&doc.bus);
        Ok(())
    }

    pub async fn archive(&self, name: &str) -> Result<ArchiveDoc, EventsError> {
        match self.get_doc::<ArchiveDoc>(RESOURCE_ARCHIVE, name).await? {
            Some((d, _)) => Ok(d),
            None => Err(EventsError::NotFound(format!(
                "Archive {name} does not exist."
            ))),
        }
    }

    pub async fn delete_archive(&self, name: &str) -> Result<(), EventsError> {
        let doc = self.archive(name).await?;
        self.store.delete_resource(RESOURCE_ARCHIVE, name).await?;
        self.invalidate(&doc.bus);
        self.store.trim_archive(name, None).await?;
        Ok(())
    }

    /// Starts a replay (in the background).
    pub async fn start_replay(
        self: &Arc<Self>,
        mut doc: ReplayDoc,
    ) -> Result<ReplayDoc, EventsError> {
        check_name(&doc.name, "replay")?;
        self.archive(&doc.archive).await?;
        if self.store.resource(RESOURCE_BUS, &doc.bus).await?.is_none() {
            return Err(EventsError::NotFound(format!(
                "Event bus {} does not exist.",
                doc.bus
            )));
        }
        if doc.from_ms >= doc.to_ms {
            return Err(EventsError::Invalid(
                "the replay's EventStartTime must be before its EventEndTime".into(),
            ));
        }
        if doc.to_ms > cirrus_engine::now_ms() {
            return Err(EventsError::Invalid(
                "the replay's EventEndTime is in the future".into(),
            ));
        }
        doc.state = "STARTING".into();
        doc.started_ms = cirrus_engine::now_ms();
        self.put_doc(RESOURCE_REPLAY, &doc.name, &doc, Expect::Absent)
            .await
            .map_err(|e| match e {
                EventsError::Store(cirrus_store::StoreError::Conflict(_)) => {
                    EventsError::Conflict(format!("Replay {} already exists.", doc.name))
                }
                e => e,
            })?;
        tokio::spawn(run_replay(self.clone(), doc.name.clone()));
        Ok(doc)
    }

    pub async fn replay(&self, name: &str) -> Result<ReplayDoc, EventsError> {
        match self.get_doc::<ReplayDoc>(RESOURCE_REPLAY, name).await? {
            Some((d, _)) => Ok(d),
            None => Err(EventsError::NotFound(format!(
                "Replay {name} does not exist."
            ))),
        }
    }

    pub async fn cancel_replay(&self, name: &str) -> Result<ReplayDoc, EventsError> {
        let mut doc = self.replay(name).await?;
        if !matches!(doc.state.as_str(), "STARTING" | "RUNNING") {
            return Err(EventsError::Invalid(format!(
                "Replay {name} is {} and cannot be cancelled.",
                doc.state
            )));
        }
        doc.state = "CANCELLING".into();
        self.put_doc(RESOURCE_REPLAY, name, &doc, Expect::Any)
            .await?;
        Ok(doc)
    }

    /// Resumes replays that were running when the node stopped.
    pub(crate) async fn resume_replays(self: &Arc<Self>) {
        let Ok(replays) = self.list_docs::<ReplayDoc>(RESOURCE_REPLAY).await else {
            return;
        };
        for (doc, _) in replays {
            if matches!(doc.state.as_str(), "STARTING" | "RUNNING" | "CANCELLING") {
                tokio::spawn(run_replay(self.clone(), doc.name));
            }
        }
    }
}

async fn run_replay(events: Arc<Events>, name: String) {
    const BATCH: usize = 500;
    loop {
        let mut doc = match events.replay(&name).await {
            Ok(d) => d,
            Err(_) => return,
        };
        if doc.state == "CANCELLING" {
            doc.state = "CANCELLED".into();
            doc.ended_ms = Some(cirrus_engine::now_ms());
            let _ = events
                .put_doc(RESOURCE_REPLAY, &name, &doc, Expect::Any)
                .await;
            return;
        }
        let after = doc.position.as_ref().map(|(t, id)| (*t, id.as_str()));
        let batch = match events
            .store
            .archived_events(&doc.archive, doc.from_ms, doc.to_ms, after, BATCH)
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(replay = %name, err = %e, "cannot read the archive; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(last) = batch.last().map(|e| (e.time_ms, e.id.clone())) else {
            doc.state = "COMPLETED".into();
            doc.ended_ms = Some(cirrus_engine::now_ms());
            let _ = events
                .put_doc(RESOURCE_REPLAY, &name, &doc, Expect::Any)
                .await;
            return;
        };
        let cloud: Vec<CloudEvent> = batch
            .iter()
            .filter_map(|a| {
                serde_json::from_str::<Value>(&a.event)
                    .ok()
                    .and_then(|v| CloudEvent::from_json(v).ok())
            })
            .collect();
        let scope = ReplayScope {
            name: name.clone(),
            rules: doc.rules.clone(),
        };
        if let Err(e) = events.accept(&doc.bus, &cloud, Some(&scope)).await {
            doc.state = "FAILED".into();
            doc.reason = e.to_string();
            doc.ended_ms = Some(cirrus_engine::now_ms());
            let _ = events
                .put_doc(RESOURCE_REPLAY, &name, &doc, Expect::Any)
                .await;
            return;
        }
        doc.state = "RUNNING".into();
        doc.replayed += batch.len() as u64;
        doc.position = Some(last);
        if let Err(e) = events
            .put_doc(RESOURCE_REPLAY, &name, &doc, Expect::Any)
            .await
        {
            tracing::warn!(replay = %name, err = %e, "cannot record the replay's progress");
        }
    }
}

/// Deletes archived events past their archive's retention, hourly.
pub(crate) async fn retention(events: Arc<Events>) {
    loop {
        if let Ok(archives) = events.list_docs::<ArchiveDoc>(RESOURCE_ARCHIVE).await {
            for (a, _) in archives {
                if a.retention_days > 0 {
                    let before = cirrus_engine::now_ms() - i64::from(a.retention_days) * 86_400_000;
                    if let Err(e) = events.store.trim_archive(&a.name, Some(before)).await {
                        tracing::warn!(archive = %a.name, err = %e, "cannot trim the archive");
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
