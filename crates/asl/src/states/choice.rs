//! Choice: picks the next state by the first rule whose condition holds, else `Default`,
//! else fails with `States.NoChoiceMatched`. The conditions themselves live in
//! [`crate::choice`].

use crate::choice::{Condition, parse_rule};
use crate::definition::GraphBuilder;
use crate::definition::fields::Fields;
use crate::payload::Template;
use crate::states::StateId;

/// A rule's test: a JSONPath condition, or JSONata's `Condition` (a boolean or a `{% %}`
/// expression that must evaluate to one).
#[derive(Debug)]
pub enum Test {
    Path(Condition),
    Jsonata(Template),
}

#[derive(Debug)]
pub struct Rule {
    pub test: Test,
    pub next: StateId,
    pub assign: Option<Template>,
    /// JSONata: the state output when this rule matches.
    pub output: Option<Template>,
}

#[derive(Debug)]
pub struct Choice {
    pub rules: Vec<Rule>,
    pub default: Option<StateId>,
}

impl Choice {
    pub(crate) fn parse(f: &Fields<'_>, b: &mut GraphBuilder<'_>, jsonata: bool) -> Option<Choice> {
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
            if jsonata {
                rules.extend(parse_jsonata_rule(item, &loc, b));
                continue;
            }
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
                            test: Test::Path(rule.condition),
                            next,
                            assign,
                            output: None,
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

/// A JSONata rule: `Condition`, `Next`, and optionally `Assign`, `Output`, `Comment`.
fn parse_jsonata_rule(
    item: &serde_json::Value,
    loc: &str,
    b: &mut GraphBuilder<'_>,
) -> Option<Rule> {
    let serde_json::Value::Object(map) = item else {
        b.d.schema("A Choice rule must be a JSON object", loc);
        return None;
    };
    let f = Fields::new(map, loc);
    f.only(
        &["Condition", "Next", "Assign", "Output", "Comment"],
        "a Choice rule in JSONata",
        b.d,
    );
    let _ = f.str("Comment", b.d);
    let test = match f.get("Condition") {
        None => {
            b.d.schema("These fields are required: [Condition]", loc);
            return None;
        }
        Some(serde_json::Value::Bool(v)) => {
            Test::Jsonata(Template::Literal(serde_json::Value::Bool(*v)))
        }
        Some(serde_json::Value::String(s)) if crate::payload::jsonata_text(s).is_some() => {
            Test::Jsonata(crate::states::jsonata_value(&f, "Condition", b.d)?)
        }
        Some(_) => {
            b.d.schema(
                "The value of 'Condition' must be a boolean or a JSONata expression {% ... %}",
                f.at("Condition"),
            );
            return None;
        }
    };
    let next = f
        .required_str("Next", b.d)
        .and_then(|n| crate::definition::resolve_name(&b.names, n, f.at("Next"), b.d));
    let assign = f
        .get("Assign")
        .and_then(|v| crate::states::compile_assign(v, &f.at("Assign"), true, b.d));
    let output = f
        .get("Output")
        .and_then(|v| Template::compile_jsonata(v, "Output", &f.at("Output"), b.d));
    Some(Rule {
        test,
        next: next?,
        assign,
        output,
    })
}
