//! State machines, their versions and aliases, and activities: validated here, kept in the
//! store. Definitions are also kept by content digest, so an execution runs the definition
//! it started with whatever happens to its machine afterwards.

use std::sync::Arc;

use cirrus_asl::StateMachine;
use cirrus_store::{Activity, Alias, Machine, Page, Version};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::arn::{self, MachineRef};
use crate::{Engine, EngineError, Result, lock, now_ms, uuid};

/// What `CreateStateMachine` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewMachine {
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    /// `STANDARD` (default) or `EXPRESS`.
    pub kind: Option<String>,
    pub description: Option<String>,
    pub logging: Option<Value>,
    pub publish: bool,
    pub version_description: Option<String>,
}

/// What `UpdateStateMachine` changes.
#[derive(Debug, Clone, Default)]
pub struct MachineUpdate {
    pub definition: Option<String>,
    pub role_arn: Option<String>,
    pub logging: Option<Value>,
    pub publish: bool,
    pub version_description: Option<String>,
}

/// A version with its weight in an alias's routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub version_arn: String,
    pub weight: u32,
}

/// What an execution runs: the machine, the version it is pinned to, and the definition.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub machine: Machine,
    pub version_arn: Option<String>,
    pub alias_arn: Option<String>,
    pub digest: String,
    pub definition: Arc<StateMachine>,
}

/// The SHA-256 of a definition, in hex.
pub fn digest(definition: &str) -> String {
    let hash = Sha256::digest(definition.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

impl Engine {
    /// Parses a definition, or says why it is refused in AWS's words.
    pub fn check_definition(&self, definition: &str) -> Result<StateMachine> {
        let limit = self.inner.config.max_definition_bytes;
        if definition.len() > limit {
            return Err(EngineError::InvalidDefinition(format!(
                "Invalid State Machine Definition: 'the definition is {} bytes, more than the limit of {limit}'",
                definition.len()
            )));
        }
        StateMachine::parse(definition).map_err(|errors| {
            let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            EngineError::InvalidDefinition(format!(
                "Invalid State Machine Definition: '{}'",
                list.join(", ")
            ))
        })
    }

    /// The parsed definition with this digest.
    pub(crate) async fn definition(&self, digest: &str) -> Result<Arc<StateMachine>> {
        if let Some(m) = lock(&self.inner.definitions).get(digest) {
            return Ok(m.clone());
        }
        let text = self
            .inner
            .store
            .definition(digest)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("definition {digest} is missing")))?;
        let parsed = StateMachine::parse(&text).map_err(|e| {
            EngineError::Internal(format!(
                "stored definition {digest} no longer parses: {e:?}"
            ))
        })?;
        let parsed = Arc::new(parsed);
        lock(&self.inner.definitions).insert(digest.to_owned(), parsed.clone());
        Ok(parsed)
    }

    /// The definition text with this digest (what an execution runs).
    pub async fn definition_text(&self, digest: &str) -> Result<String> {
        self.inner
            .store
            .definition(digest)
            .await?
            .ok_or_else(|| EngineError::Internal(format!("definition {digest} is missing")))
    }

    async fn keep_definition(&self, text: &str, parsed: StateMachine) -> Result<String> {
        let d = digest(text);
        self.inner.store.put_definition(&d, text).await?;
        lock(&self.inner.definitions).insert(d.clone(), Arc::new(parsed));
        Ok(d)
    }

    pub async fn create_machine(&self, req: NewMachine) -> Result<(Machine, Option<Version>)> {
        arn::check_name(&req.name, "state machine").map_err(EngineError::InvalidName)?;
        let kind = req.kind.clone().unwrap_or_else(|| "STANDARD".into());
        if kind != "STANDARD" && kind != "EXPRESS" {
            return Err(EngineError::Validation(format!(
                "1 validation error detected: Value '{kind}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
            )));
        }
        let parsed = self.check_definition(&req.definition)?;
        self.keep_definition(&req.definition, parsed).await?;
        let now = now_ms();
        let machine = Machine {
            arn: self.inner.config.partition.machine(&req.name),
            name: req.name.clone(),
            kind,
            definition: req.definition.clone(),
            role_arn: req.role_arn.clone(),
            description: req.description.clone().unwrap_or_default(),
            logging: req.logging.as_ref().map(Value::to_string),
            revision_id: uuid(),
            created_ms: now,
            updated_ms: now,
        };
        match self.inner.store.create_machine(&machine).await {
            Ok(()) => {}
            Err(cirrus_store::StoreError::Conflict(_)) => {
                // Creating the same machine again is idempotent; a different one conflicts.
                let existing = self.inner.store.machine(&machine.arn).await?;
                return match existing {
                    Some(m)
                        if m.definition == machine.definition
                            && m.role_arn == machine.role_arn
                            && m.kind == machine.kind =>
                    {
                        Ok((m, None))
                    }
                    _ => Err(EngineError::StateMachineAlreadyExists(machine.arn)),
                };
            }
            Err(e) => return Err(e.into()),
        }
        let version = if req.publish {
            Some(
                self.publish_version(&machine.arn, req.version_description, None)
                    .await?,
            )
        } else {
            None
        };
        Ok((machine, version))
    }

    /// The machine itself (not a version or alias).
    pub async fn machine(&self, machine_arn: &str) -> Result<Machine> {
        self.inner
            .store
            .machine(machine_arn)
            .await?
            .ok_or_else(|| EngineError::StateMachineDoesNotExist(machine_arn.to_owned()))
    }

    pub async fn machines(&self, after: Option<&str>, limit: usize) -> Result<Vec<Machine>> {
        Ok(self.inner.store.machines(Page { after, limit }).await?)
    }

    pub async fn update_machine(
        &self,
        machine_arn: &str,
        update: MachineUpdate,
    ) -> Result<(Machine, Option<Version>)> {
        let mut m = self.machine(machine_arn).await?;
        if update.definition.is_none() && update.role_arn.is_none() && update.logging.is_none() {
            return Err(EngineError::Validation(
                "Request must contain at least one of definition, roleArn, loggingConfiguration"
                    .into(),
            ));
        }
        if let Some(d) = &update.definition {
            let parsed = self.check_definition(d)?;
            self.keep_definition(d, parsed).await?;
            if *d != m.definition {
                m.revision_id = uuid();
            }
            m.definition = d.clone();
        }
        if let Some(r) = update.role_arn {
            if r != m.role_arn {
                m.revision_id = uuid();
            }
            m.role_arn = r;
        }
        if let Some(l) = update.logging {
            m.logging = Some(l.to_string());
        }
        m.updated_ms = now_ms();
        self.inner.store.update_machine(&m).await?;
        self.forget_machine(&m.arn);
        let version = if update.publish {
            Some(
                self.publish_version(&m.arn, update.version_description, None)
                    .await?,
            )
        } else {
            None
        };
        Ok((m, version))
    }

    pub async fn delete_machine(&self, machine_arn: &str) -> Result<()> {
        self.inner.store.delete_machine(machine_arn).await?;
        self.forget_machine(machine_arn);
        Ok(())
    }

    /// Publishes the machine's current revision as a new version, or returns the newest
    /// version when it already holds that revision (as AWS does).
    pub async fn publish_version(
        &self,
        machine_arn: &str,
        description: Option<String>,
        revision_id: Option<String>,
    ) -> Result<Version> {
        let m = self.machine(machine_arn).await?;
        if let Some(r) = &revision_id
            && *r != m.revision_id
        {
            return Err(EngineError::Conflict(format!(
                "Failed to publish the State Machine version for revision {r}. The current State Machine revision is {}.",
                m.revision_id
            )));
        }
        loop {
            let versions = self.inner.store.versions(machine_arn).await?;
            if let Some(latest) = versions.first()
                && latest.revision_id == m.revision_id
            {
                return Ok(latest.clone());
            }
            let number = versions.first().map_or(1, |v| v.number + 1);
            let v = Version {
                arn: format!("{machine_arn}:{number}"),
                machine_arn: machine_arn.to_owned(),
                number,
                definition: m.definition.clone(),
                role_arn: m.role_arn.clone(),
                kind: m.kind.clone(),
                description: description.clone().unwrap_or_default(),
                revision_id: m.revision_id.clone(),
                created_ms: now_ms(),
            };
            match self.inner.store.create_version(&v).await {
                Ok(()) => return Ok(v),
                // Another publisher took the number: look again.
                Err(cirrus_store::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub async fn version(&self, version_arn: &str) -> Result<Version> {
        self.inner.store.version(version_arn).await?.ok_or_else(|| {
            EngineError::ResourceNotFound(format!("Version does not exist: '{version_arn}'"))
        })
    }

    pub async fn versions(&self, machine_arn: &str) -> Result<Vec<Version>> {
        self.machine(machine_arn).await?;
        Ok(self.inner.store.versions(machine_arn).await?)
    }

    pub async fn delete_version(&self, version_arn: &str) -> Result<()> {
        let Some(MachineRef::Version { machine_arn, .. }) = arn::machine_ref(version_arn) else {
            return Err(EngineError::InvalidArn(format!(
                "Invalid Arn: '{version_arn}'"
            )));
        };
        for a in self.inner.store.aliases(&machine_arn).await? {
            if a.routing.contains(&format!("\"{version_arn}\"")) {
                return Err(EngineError::Conflict(format!(
                    "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [{}]",
                    a.arn
                )));
            }
        }
        self.inner.store.delete_version(version_arn).await?;
        Ok(())
    }

    async fn check_routing(&self, machine_arn: &str, routing: &[Route]) -> Result<String> {
        if routing.is_empty() || routing.len() > 2 {
            return Err(EngineError::Validation(
                "Routing configuration must contain one or two versions".into(),
            ));
        }
        if routing.iter().map(|r| r.weight).sum::<u32>() != 100 {
            return Err(EngineError::Validation(
                "Sum of routing configuration weights must be equal to 100".into(),
            ));
        }
        if routing.len() == 2 && routing[0].version_arn == routing[1].version_arn {
            return Err(EngineError::Validation(
                "Routing configuration must contain distinct versions".into(),
            ));
        }
        for r in routing {
            match arn::machine_ref(&r.version_arn) {
                Some(MachineRef::Version { machine_arn: m, .. }) if m == machine_arn => {}
                _ => {
                    return Err(EngineError::Validation(format!(
                        "Invalid version ARN in the routing configuration: '{}'",
                        r.version_arn
                    )));
                }
            }
            self.version(&r.version_arn).await?;
        }
        let list: Vec<Value> = routing
            .iter()
            .map(|r| json!({ "stateMachineVersionArn": r.version_arn, "weight": r.weight }))
            .collect();
        Ok(Value::Array(list).to_string())
    }

    pub async fn create_alias(
        &self,
        name: &str,
        description: Option<String>,
        routing: &[Route],
    ) -> Result<Alias> {
        arn::check_name(name, "alias").map_err(EngineError::InvalidName)?;
        if name.parse::<u64>().is_ok() {
            return Err(EngineError::InvalidName(format!(
                "Invalid Name: '{name}' (an alias name cannot be a number)"
            )));
        }
        let machine_arn = match routing
            .first()
            .and_then(|r| arn::machine_ref(&r.version_arn))
        {
            Some(MachineRef::Version { machine_arn, .. }) => machine_arn,
            _ => {
                return Err(EngineError::Validation(
                    "Routing configuration must name a state machine version".into(),
                ));
            }
        };
        let routing_text = self.check_routing(&machine_arn, routing).await?;
        let alias_arn = format!("{machine_arn}:{name}");
        if let Some(existing) = self.inner.store.alias(&alias_arn).await? {
            if existing.routing == routing_text {
                return Ok(existing);
            }
            return Err(EngineError::Conflict(format!(
                "Alias already exists: '{alias_arn}'"
            )));
        }
        let now = now_ms();
        let alias = Alias {
            arn: alias_arn,
            machine_arn,
            name: name.to_owned(),
            description: description.unwrap_or_default(),
            routing: routing_text,
            created_ms: now,
            updated_ms: now,
        };
        self.inner.store.put_alias(&alias).await?;
        Ok(alias)
    }

    pub async fn alias(&self, alias_arn: &str) -> Result<Alias> {
        self.inner.store.alias(alias_arn).await?.ok_or_else(|| {
            EngineError::ResourceNotFound(format!("Alias does not exist: '{alias_arn}'"))
        })
    }

    pub async fn aliases(&self, machine_arn: &str) -> Result<Vec<Alias>> {
        self.machine(machine_arn).await?;
        Ok(self.inner.store.aliases(machine_arn).await?)
    }

    pub async fn update_alias(
        &self,
        alias_arn: &str,
        description: Option<String>,
        routing: Option<&[Route]>,
    ) -> Result<Alias> {
        let mut alias = self.alias(alias_arn).await?;
        if let Some(d) = description {
            alias.description = d;
        }
        if let Some(r) = routing {
            alias.routing = self.check_routing(&alias.machine_arn, r).await?;
        }
        alias.updated_ms = now_ms();
        self.inner.store.put_alias(&alias).await?;
        Ok(alias)
    }

    pub async fn delete_alias(&self, alias_arn: &str) -> Result<()> {
        self.inner.store.delete_alias(alias_arn).await?;
        Ok(())
    }

    /// What a `StartExecution` target names: a machine (its current definition), a
    /// version, or an alias (one of its versions, picked by weight).
    pub async fn resolve(&self, target: &str) -> Result<Resolved> {
        let invalid = || EngineError::InvalidArn(format!("Invalid Arn: '{target}'"));
        let reference = arn::machine_ref(target).ok_or_else(invalid)?;
        let (machine_arn, version_arn, alias_arn) = match reference {
            MachineRef::Machine { arn } => (arn, None, None),
            MachineRef::Version { machine_arn, .. } => (machine_arn, Some(target.to_owned()), None),
            MachineRef::Alias { machine_arn, .. } => {
                let alias = self
                    .alias(target)
                    .await
                    .map_err(|_| EngineError::StateMachineDoesNotExist(target.to_owned()))?;
                let routes: Vec<Value> = serde_json::from_str(&alias.routing)
                    .map_err(|e| EngineError::Internal(format!("alias routing: {e}")))?;
                let pick = crate::random_u64() % 100;
                let mut acc = 0u64;
                let mut chosen = None;
                for r in &routes {
                    acc += r.get("weight").and_then(Value::as_u64).unwrap_or(0);
                    if pick < acc {
                        chosen = r.get("stateMachineVersionArn").and_then(Value::as_str);
                        break;
                    }
                }
                let chosen = chosen
                    .or_else(|| {
                        routes
                            .first()
                            .and_then(|r| r.get("stateMachineVersionArn"))
                            .and_then(Value::as_str)
                    })
                    .ok_or_else(|| EngineError::Internal("alias without versions".into()))?;
                (
                    machine_arn,
                    Some(chosen.to_owned()),
                    Some(target.to_owned()),
                )
            }
        };
        let machine = self.machine_for_start(&machine_arn, target).await?;
        let text = match &version_arn {
            Some(v) => {
                self.inner
                    .store
                    .version(v)
                    .await?
                    .ok_or_else(|| EngineError::StateMachineDoesNotExist(v.clone()))?
                    .definition
            }
            None => machine.definition.clone(),
        };
        let digest = digest(&text);
        // A definition in the cache is in the store already.
        let cached = lock(&self.inner.definitions).get(&digest).cloned();
        let definition = match cached {
            Some(d) => d,
            None => {
                let parsed = Arc::new(self.check_definition(&text)?);
                self.inner.store.put_definition(&digest, &text).await?;
                lock(&self.inner.definitions).insert(digest.clone(), parsed.clone());
                parsed
            }
        };
        Ok(Resolved {
            machine,
            version_arn,
            alias_arn,
            digest,
            definition,
        })
    }

    /// The machine record for a start, from a cache that changes on this node invalidate
    /// and that otherwise holds a record for a second (what other nodes of a cluster
    /// change is seen within that).
    async fn machine_for_start(&self, machine_arn: &str, target: &str) -> Result<Machine> {
        const FRESH: std::time::Duration = std::time::Duration::from_secs(1);
        if let Some((m, at)) = lock(&self.inner.machine_cache).get(machine_arn)
            && at.elapsed() < FRESH
        {
            return Ok(m.clone());
        }
        let m = self
            .inner
            .store
            .machine(machine_arn)
            .await?
            .ok_or_else(|| EngineError::StateMachineDoesNotExist(target.to_owned()))?;
        let mut cache = lock(&self.inner.machine_cache);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(
            machine_arn.to_owned(),
            (m.clone(), std::time::Instant::now()),
        );
        Ok(m)
    }

    fn forget_machine(&self, machine_arn: &str) {
        lock(&self.inner.machine_cache).remove(machine_arn);
    }

    pub async fn create_activity(&self, name: &str) -> Result<Activity> {
        arn::check_name(name, "activity").map_err(EngineError::InvalidName)?;
        let activity = Activity {
            arn: self.inner.config.partition.activity(name),
            name: name.to_owned(),
            created_ms: now_ms(),
        };
        self.inner.store.create_activity(&activity).await?;
        Ok(self
            .inner
            .store
            .activity(&activity.arn)
            .await?
            .unwrap_or(activity))
    }

    pub async fn activity(&self, activity_arn: &str) -> Result<Activity> {
        self.inner
            .store
            .activity(activity_arn)
            .await?
            .ok_or_else(|| EngineError::ActivityDoesNotExist(activity_arn.to_owned()))
    }

    pub async fn activities(&self, after: Option<&str>, limit: usize) -> Result<Vec<Activity>> {
        Ok(self.inner.store.activities(Page { after, limit }).await?)
    }

    pub async fn delete_activity(&self, activity_arn: &str) -> Result<()> {
        self.inner.store.delete_activity(activity_arn).await?;
        Ok(())
    }
}
