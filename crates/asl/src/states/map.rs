//! Map: runs its item processor once per item of an array, up to `MaxConcurrency` at a time,
//! and outputs the array of the iterations' outputs.

use serde_json::Value;

use crate::definition::fields::{Diagnostics, Fields, codes};
use crate::definition::{GraphBuilder, GraphId};
use crate::error::Failure;
use crate::path::{Reference, Scope};
use crate::payload::Template;
use crate::random::Rng;
use crate::retry::{Catcher, Retrier};
use crate::states::{Amount, ResultSpec};

/// `ToleratedFailurePercentage` given literally or by path.
#[derive(Debug)]
pub enum Percentage {
    Fixed(f64),
    Path(Reference),
    /// JSONata: a `{% %}` expression.
    Expr(Template),
}

#[derive(Debug)]
pub struct Map {
    pub processor: GraphId,
    pub items_path: Option<Reference>,
    /// JSONata's `Items`: the array to iterate over (default: the state input).
    pub items: Option<Template>,
    pub item_selector: Option<Template>,
    pub max_concurrency: Option<Amount>,
    pub tolerated_failure_count: Option<Amount>,
    pub tolerated_failure_percentage: Option<Percentage>,
    pub result_selector: Option<Template>,
    pub result_path: ResultSpec,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

impl Map {
    pub(crate) fn parse(f: &Fields<'_>, b: &mut GraphBuilder<'_>, jsonata: bool) -> Option<Map> {
        for unsupported in ["ItemReader", "ResultWriter", "ItemBatcher"] {
            if f.has(unsupported) {
                b.d.push(
                    codes::UNSUPPORTED,
                    format!(
                        "The distributed Map field '{unsupported}' is not supported by Cirrus yet"
                    ),
                    f.at(unsupported),
                );
            }
        }
        let _ = f.str("Label", b.d);
        if !f.exclusive("ItemProcessor", "Iterator", b.d)
            || !f.exclusive("ItemSelector", "Parameters", b.d)
        {
            return None;
        }
        let key = if f.has("ItemProcessor") {
            "ItemProcessor"
        } else {
            "Iterator"
        };
        let Some(processor_value) = f.get(key) else {
            b.d.schema("These fields are required: [ItemProcessor]", f.loc.clone());
            return None;
        };
        let processor = b.nested_graph(processor_value, &f.at(key), Some(key));
        let items_path = match f.str("ItemsPath", b.d) {
            Some(text) => match Reference::parse(text) {
                Ok(r) => Some(r),
                Err(e) => {
                    b.d.schema(format!("The value for the field 'ItemsPath' must be a valid reference path: {e}"), f.at("ItemsPath"));
                    None
                }
            },
            None => None,
        };
        let d = &mut *b.d;
        let selector_key = if f.has("ItemSelector") {
            "ItemSelector"
        } else {
            "Parameters"
        };
        let items = if jsonata {
            crate::states::jsonata_value(f, "Items", d)
        } else {
            None
        };
        let item_selector = if jsonata {
            crate::states::jsonata_value(f, "ItemSelector", d)
        } else {
            f.get(selector_key)
                .and_then(|v| Template::compile_object(v, &f.at(selector_key), d))
        };
        let (max_concurrency, tolerated_failure_count, tolerated_failure_percentage) = if jsonata {
            let percentage = match f.get("ToleratedFailurePercentage") {
                Some(Value::String(_)) => {
                    crate::states::jsonata_value(f, "ToleratedFailurePercentage", d)
                        .map(Percentage::Expr)
                }
                Some(_) => f
                    .number("ToleratedFailurePercentage", d)
                    .map(Percentage::Fixed),
                None => None,
            };
            (
                Amount::parse_jsonata(f, "MaxConcurrency", u32::MAX as u64, true, d),
                Amount::parse_jsonata(f, "ToleratedFailureCount", u32::MAX as u64, true, d),
                percentage,
            )
        } else {
            Self::parse_jsonpath_limits(f, d)
        };
        let result_selector = f
            .get("ResultSelector")
            .and_then(|v| Template::compile_object(v, &f.at("ResultSelector"), d));
        let result_path = ResultSpec::parse(f, d);
        let (retry, catch) = crate::retry::parse_handlers(f, b, jsonata);
        Some(Map {
            processor: processor?,
            items_path,
            items,
            item_selector,
            max_concurrency,
            tolerated_failure_count,
            tolerated_failure_percentage,
            result_selector,
            result_path,
            retry,
            catch,
        })
    }

    /// `MaxConcurrency`, `ToleratedFailureCount` and `ToleratedFailurePercentage` of a
    /// JSONPath Map, each literal or by path.
    fn parse_jsonpath_limits(
        f: &Fields<'_>,
        d: &mut Diagnostics,
    ) -> (Option<Amount>, Option<Amount>, Option<Percentage>) {
        let max_concurrency = Amount::parse(
            f,
            "MaxConcurrency",
            "MaxConcurrencyPath",
            u32::MAX as u64,
            true,
            d,
        );
        let tolerated_failure_count = Amount::parse(
            f,
            "ToleratedFailureCount",
            "ToleratedFailureCountPath",
            u32::MAX as u64,
            true,
            d,
        );
        let tolerated_failure_percentage = if !f.exclusive(
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
            d,
        ) {
            None
        } else if let Some(p) = f.number("ToleratedFailurePercentage", d) {
            if !(0.0..=100.0).contains(&p) {
                d.schema(
                    "ToleratedFailurePercentage must be between 0 and 100",
                    f.at("ToleratedFailurePercentage"),
                );
            }
            Some(Percentage::Fixed(p))
        } else if let Some(text) = f.str("ToleratedFailurePercentagePath", d) {
            match Reference::parse(text) {
                Ok(r) => Some(Percentage::Path(r)),
                Err(e) => {
                    d.schema(format!("The value for the field 'ToleratedFailurePercentagePath' must be a valid reference path: {e}"), f.at("ToleratedFailurePercentagePath"));
                    None
                }
            }
        } else {
            None
        };
        (
            max_concurrency,
            tolerated_failure_count,
            tolerated_failure_percentage,
        )
    }

    /// `MaxConcurrency` resolved against the effective input; 0 means no limit.
    pub fn resolve_max_concurrency(
        &self,
        scope: &Scope<'_>,
        rng: &mut Rng,
    ) -> Result<u64, Failure> {
        resolve_count(&self.max_concurrency, "MaxConcurrencyPath", scope, rng)
    }

    /// The number of failed iterations tolerated, from the count and the percentage of
    /// `items` iterations (`None`: no failure is tolerated).
    pub fn resolve_tolerance(
        &self,
        scope: &Scope<'_>,
        rng: &mut Rng,
        items: usize,
    ) -> Result<Option<u64>, Failure> {
        let count = match &self.tolerated_failure_count {
            None => None,
            Some(_) => Some(resolve_count(
                &self.tolerated_failure_count,
                "ToleratedFailureCountPath",
                scope,
                rng,
            )?),
        };
        let percentage = match &self.tolerated_failure_percentage {
            None => None,
            Some(Percentage::Fixed(p)) => Some(*p),
            Some(Percentage::Expr(t)) => match t.eval(scope, rng)? {
                Value::Number(n) => n.as_f64(),
                other => {
                    return Err(Failure::new(
                        crate::error::names::QUERY_EVALUATION_ERROR,
                        format!(
                            "The ToleratedFailurePercentage field must be a number, but was: {other}"
                        ),
                    ));
                }
            },
            Some(Percentage::Path(r)) => {
                let v = r
                    .eval(scope)
                    .map_err(|e| Failure::runtime(format!("Invalid path '{}' : {e}", r.text())))?;
                match v.as_ref() {
                    Value::Number(n) => n.as_f64(),
                    other => {
                        return Err(Failure::runtime(format!(
                            "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {}",
                            plain(other),
                            r.text()
                        )));
                    }
                }
            }
        };
        if let Some(p) = percentage
            && !(0.0..=100.0).contains(&p)
        {
            return Err(Failure::runtime(
                "ToleratedFailurePercentage must be between 0 and 100.",
            ));
        }
        let from_percentage = percentage.map(|p| ((p / 100.0) * items as f64).floor() as u64);
        Ok(match (count, from_percentage) {
            (None, None) => None,
            (Some(c), None) => Some(c),
            (None, Some(p)) => Some(p),
            (Some(c), Some(p)) => Some(c.max(p)),
        })
    }
}

fn resolve_count(
    amount: &Option<Amount>,
    field: &str,
    scope: &Scope<'_>,
    rng: &mut Rng,
) -> Result<u64, Failure> {
    match amount {
        None => Ok(0),
        Some(Amount::Fixed(n)) => Ok(*n),
        Some(Amount::Expr(t)) => {
            let name = field.trim_end_matches("Path");
            match t.eval(scope, rng)? {
                Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(0)),
                other => Err(Failure::new(
                    crate::error::names::QUERY_EVALUATION_ERROR,
                    format!("The {name} field must be a non-negative integer, but was: {other}"),
                )),
            }
        }
        Some(Amount::Path(r)) => {
            let v = r
                .eval(scope)
                .map_err(|e| Failure::runtime(format!("Invalid path '{}' : {e}", r.text())))?;
            match v.as_ref() {
                Value::Number(n) if n.as_i64().is_some_and(|i| i < 0) => Err(Failure::runtime(
                    format!("{} cannot be negative.", field.trim_end_matches("Path")),
                )),
                Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(0)),
                other => Err(Failure::runtime(format!(
                    "The {field} field refers to value \"{}\" which is not a valid integer: {}",
                    plain(other),
                    r.text()
                ))),
            }
        }
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
