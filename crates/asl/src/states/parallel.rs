//! Parallel: runs every branch on the same input and outputs the array of their outputs.

use crate::definition::fields::Fields;
use crate::definition::{GraphBuilder, GraphId};
use crate::payload::Template;
use crate::retry::{Catcher, Retrier};
use crate::states::ResultSpec;

#[derive(Debug)]
pub struct Parallel {
    pub branches: Vec<GraphId>,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultSpec,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

impl Parallel {
    pub(crate) fn parse(
        f: &Fields<'_>,
        b: &mut GraphBuilder<'_>,
        jsonata: bool,
    ) -> Option<Parallel> {
        if !f.has("Branches") {
            b.d.schema("These fields are required: [Branches]", f.loc.clone());
            return None;
        }
        let items = f.array("Branches", b.d)?;
        if items.is_empty() {
            b.d.schema("Branches must be a non-empty array", f.at("Branches"));
        }
        let mut branches = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(g) = b.nested_graph(item, &format!("{}[{i}]", f.at("Branches")), None) {
                branches.push(g);
            }
        }
        let d = &mut *b.d;
        let parameters = if jsonata {
            crate::states::jsonata_value(f, "Arguments", d)
        } else {
            f.get("Parameters")
                .and_then(|v| Template::compile_object(v, &f.at("Parameters"), d))
        };
        let result_selector = f
            .get("ResultSelector")
            .and_then(|v| Template::compile_object(v, &f.at("ResultSelector"), d));
        let result_path = ResultSpec::parse(f, d);
        let (retry, catch) = crate::retry::parse_handlers(f, b, jsonata);
        Some(Parallel {
            branches,
            parameters,
            result_selector,
            result_path,
            retry,
            catch,
        })
    }
}
