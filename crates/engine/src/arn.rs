//! ARNs as Step Functions spells them, and the names inside them.

/// Where this node says its resources live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub region: String,
    pub account: String,
}

impl Default for Partition {
    fn default() -> Self {
        Partition {
            region: "us-east-1".into(),
            account: "000000000000".into(),
        }
    }
}

impl Partition {
    pub fn machine(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.region, self.account
        )
    }

    pub fn activity(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:activity:{name}",
            self.region, self.account
        )
    }

    /// `execution` for STANDARD, `express` for EXPRESS executions.
    pub fn execution(&self, machine_name: &str, name: &str, express: bool) -> String {
        let kind = if express { "express" } else { "execution" };
        format!(
            "arn:aws:states:{}:{}:{kind}:{machine_name}:{name}",
            self.region, self.account
        )
    }
}

/// What a state machine ARN names: the machine, one version, or an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineRef {
    Machine { arn: String },
    Version { machine_arn: String, number: u64 },
    Alias { machine_arn: String, name: String },
}

/// Parses `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME[:VERSION|:ALIAS]`.
pub fn machine_ref(arn: &str) -> Option<MachineRef> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" {
        return None;
    }
    if parts[6].is_empty() {
        return None;
    }
    let machine_arn = parts[..7].join(":");
    match parts.len() {
        7 => Some(MachineRef::Machine { arn: machine_arn }),
        8 if !parts[7].is_empty() => Some(match parts[7].parse::<u64>() {
            Ok(number) => MachineRef::Version {
                machine_arn,
                number,
            },
            Err(_) => MachineRef::Alias {
                machine_arn,
                name: parts[7].to_owned(),
            },
        }),
        _ => None,
    }
}

/// The machine name of a state machine ARN.
pub fn machine_name(machine_arn: &str) -> &str {
    machine_arn.split(':').nth(6).unwrap_or("")
}

/// Whether an execution ARN names an EXPRESS execution.
pub fn is_express(execution_arn: &str) -> bool {
    execution_arn.split(':').nth(5) == Some("express")
}

/// Checks an execution ARN's shape: `arn:aws:states:R:A:execution|express:MACHINE:NAME`.
pub fn is_execution_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() >= 8
        && parts[0] == "arn"
        && parts[2] == "states"
        && matches!(parts[5], "execution" | "express")
        && !parts[6].is_empty()
        && !parts[7].is_empty()
}

pub fn is_activity_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "activity"
}

/// Validates a resource name as AWS does: 1–80 characters, none of whitespace, brackets,
/// wildcards, special characters or control characters.
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 80 {
        return Err(format!(
            "Invalid Name: '{name}' ({what} names are 1 to 80 characters)"
        ));
    }
    const FORBIDDEN: &str = " <>{}[]?*\"#%\\^|~`$&,;:/";
    if let Some(c) = name
        .chars()
        .find(|c| FORBIDDEN.contains(*c) || c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "Invalid Name: '{name}' ({what} names cannot contain {c:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_refs() {
        let m = "arn:aws:states:us-east-1:1:stateMachine:orders";
        assert_eq!(machine_ref(m), Some(MachineRef::Machine { arn: m.into() }));
        assert_eq!(
            machine_ref(&format!("{m}:3")),
            Some(MachineRef::Version {
                machine_arn: m.into(),
                number: 3
            })
        );
        assert_eq!(
            machine_ref(&format!("{m}:live")),
            Some(MachineRef::Alias {
                machine_arn: m.into(),
                name: "live".into()
            })
        );
        assert_eq!(machine_ref("arn:aws:states:us-east-1:1:activity:x"), None);
        assert_eq!(machine_ref("nonsense"), None);
        assert_eq!(machine_ref(&format!("{m}:1:2")), None);
    }

    #[test]
    fn names() {
        assert!(check_name("order-42_x.y", "execution").is_ok());
        assert!(check_name("", "execution").is_err());
        assert!(check_name("a b", "execution").is_err());
        assert!(check_name("a:b", "execution").is_err());
        assert!(check_name(&"x".repeat(81), "execution").is_err());
    }

    #[test]
    fn execution_arns() {
        assert!(is_execution_arn("arn:aws:states:r:1:execution:m:e"));
        assert!(is_express("arn:aws:states:r:1:express:m:e:u"));
        assert!(!is_execution_arn("arn:aws:states:r:1:stateMachine:m"));
    }
}
