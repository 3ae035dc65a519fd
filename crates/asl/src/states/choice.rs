//! Choice: picks the next state by the first rule whose condition holds, else `Default`,
//! else fails with `States.NoChoiceMatched`. The conditions themselves live in
//! [`crate::choice`].

use crate::choice::{Condition, parse_rule};
use crate::definition::GraphBuilder;
use crate::definition::fields::Fields;
use crate::payload::Template;
use crate::states::StateId;

#[derive(Debug)]
pub struct Rule {
    pub condition: Condition,
    pub next: StateId,
    pub assign: Option<Template>,
}

#[derive(Debug)]
pub struct Choice {
    pub rules: Vec<Rule>,
    pub default: Option<StateId>,
}

impl Choice {
    pub(crate) fn parse(f: &Fields<'_>, b: &mut GraphBuilder<'_>) -> Option<Choice> {
        if !f.has("Choices") {
            b.d.schema("These fields are required: [Choices]", f.loc.clone());
            return None;
        }
        let items = f.array("Choices", b.d)?;
        if items.is_empty() {
            b.d.schema("Choices must be a non-empty array", f.at("Choices"));
        }
        let mut rules = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let loc = format!("{}[{i}]", f.at("Choices"));
            match parse_rule(item, &loc) {
                Ok(rule) => {
                    let next = crate::definition::resolve_name(
                        &b.names,
                        &rule.next,
                        format!("{loc}/Next"),
                        b.d,
                    );
                    let assign = rule
                        .assign
                        .as_ref()
                        .and_then(|v| Template::compile_object(v, &format!("{loc}/Assign"), b.d));
                    if let Some(next) = next {
                        rules.push(Rule {
                            condition: rule.condition,
                            next,
                            assign,
                        });
                    }
                }
                Err(errors) => b.d.extend(errors),
            }
        }
        let default = match f.str("Default", b.d) {
            Some(name) => crate::definition::resolve_name(&b.names, name, f.at("Default"), b.d),
            None => None,
        };
        Some(Choice { rules, default })
    }
}
