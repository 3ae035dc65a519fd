//! Managing buses and rules, for both APIs (EventBridge's and the native one). A change
//! to a bus's rules clears its compiled rules on this node, and keeps a rule's schedule
//! in step.

use cirrus_store::{Expect, StoreError};

use super::rules::{self, BusDoc, DEFAULT_BUS, RESOURCE_BUS, RESOURCE_RULE, RuleDoc, TargetDoc};
use super::{Events, EventsError};

impl Events {
    pub async fn create_bus(&self, doc: BusDoc) -> Result<(), EventsError> {
        rules::check_name(&doc.name, "event bus")?;
        self.put_doc(RESOURCE_BUS, &doc.name, &doc, Expect::Absent)
            .await
            .map_err(|e| match e {
                EventsError::Store(StoreError::Conflict(_)) => {
                    EventsError::Conflict(format!("Event bus {} already exists.", doc.name))
                }
                e => e,
            })?;
        self.invalidate(&doc.name);
        Ok(())
    }

    pub async fn bus(&self, name: &str) -> Result<BusDoc, EventsError> {
        match self.get_doc::<BusDoc>(RESOURCE_BUS, name).await? {
            Some((d, _)) => Ok(d),
            None => Err(EventsError::NotFound(format!(
                "Event bus {name} does not exist."
            ))),
        }
    }

    pub async fn buses(&self) -> Result<Vec<BusDoc>, EventsError> {
        Ok(self
            .list_docs(RESOURCE_BUS)
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .collect())
    }

    /// Deletes a bus and its rules (EventBridge refuses while rules exist; Cirrus does
    /// too).
    pub async fn delete_bus(&self, name: &str) -> Result<(), EventsError> {
        if name == DEFAULT_BUS {
            return Err(EventsError::Invalid(
                "Cannot delete event bus default.".into(),
            ));
        }
        if !self.rules(name).await?.is_empty() {
            return Err(EventsError::Invalid(format!(
                "Event bus {name} has rules; delete them first."
            )));
        }
        self.store.delete_resource(RESOURCE_BUS, name).await?;
        self.invalidate(name);
        Ok(())
    }

    /// Creates or updates a rule (its targets are kept unless `doc` replaces them with
    /// `replace_targets`).
    pub async fn put_rule(
        &self,
        mut doc: RuleDoc,
        replace_targets: bool,
    ) -> Result<RuleDoc, EventsError> {
        self.bus(&doc.bus).await?;
        if doc.schedule.is_some() && doc.bus != DEFAULT_BUS {
            return Err(EventsError::Invalid(
                "ScheduleExpression is supported only on the default event bus.".into(),
            ));
        }
        if !replace_targets
            && let Some((old, _)) = self.get_doc::<RuleDoc>(RESOURCE_RULE, &doc.key()).await?
        {
            doc.targets = old.targets;
        }
        doc.validate()?;
        self.put_doc(RESOURCE_RULE, &doc.key(), &doc, Expect::Any)
            .await?;
        self.invalidate(&doc.bus);
        self.sync_rule_schedule(&doc).await?;
        Ok(doc)
    }

    pub async fn rule(&self, bus: &str, name: &str) -> Result<RuleDoc, EventsError> {
        match self
            .get_doc::<RuleDoc>(RESOURCE_RULE, &format!("{bus}/{name}"))
            .await?
        {
            Some((d, _)) => Ok(d),
            None => Err(EventsError::NotFound(format!(
                "Rule {name} does not exist on EventBus {bus}."
            ))),
        }
    }

    pub async fn rules(&self, bus: &str) -> Result<Vec<RuleDoc>, EventsError> {
        Ok(self
            .list_docs::<RuleDoc>(RESOURCE_RULE)
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| d.bus == bus)
            .collect())
    }

    pub async fn delete_rule(&self, bus: &str, name: &str, force: bool) -> Result<(), EventsError> {
        let doc = match self.rule(bus, name).await {
            Ok(d) => d,
            // Deleting a rule that is not there succeeds, as on EventBridge.
            Err(EventsError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if !doc.targets.is_empty() && !force {
            return Err(EventsError::Invalid(format!(
                "Rule can't be deleted since it has targets: remove the targets of {name} first."
            )));
        }
        self.store
            .delete_resource(RESOURCE_RULE, &doc.key())
            .await?;
        self.store
            .delete_schedule(&super::scheduler::rule_schedule_name(bus, name))
            .await?;
        self.invalidate(bus);
        Ok(())
    }

    pub async fn set_rule_enabled(
        &self,
        bus: &str,
        name: &str,
        enabled: bool,
    ) -> Result<(), EventsError> {
        let mut doc = self.rule(bus, name).await?;
        doc.enabled = enabled;
        self.put_rule(doc, true).await.map(|_| ())
    }

    /// Adds or replaces targets (by id); per target, the error if it was refused.
    pub async fn put_targets(
        &self,
        bus: &str,
        name: &str,
        targets: Vec<TargetDoc>,
    ) -> Result<(), EventsError> {
        let mut doc = self.rule(bus, name).await?;
        for t in targets {
            match doc.targets.iter_mut().find(|x| x.id == t.id) {
                Some(slot) => *slot = t,
                None => doc.targets.push(t),
            }
        }
        rules::check_targets(&doc.targets)?;
        self.put_rule(doc, true).await.map(|_| ())
    }

    /// Removes targets by id; the ids that were not there.
    pub async fn remove_targets(
        &self,
        bus: &str,
        name: &str,
        ids: &[String],
    ) -> Result<Vec<String>, EventsError> {
        let mut doc = self.rule(bus, name).await?;
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !doc.targets.iter().any(|t| &t.id == *id))
            .cloned()
            .collect();
        doc.targets.retain(|t| !ids.contains(&t.id));
        self.put_rule(doc, true).await?;
        Ok(missing)
    }
}
