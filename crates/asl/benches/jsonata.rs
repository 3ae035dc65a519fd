//! JSONata expression evaluation: each expression of `bench/jsonata-vs-js/workload.json`
//! against its order document, as a JSONata state evaluates it (input converted once).

use cirrus_asl::jsonata::{Data, Expression, Limits};
use cirrus_asl::random::Rng;
use serde_json::Value;

fn main() {
    divan::main();
}

fn workload() -> (Vec<Expression>, Value) {
    let path = format!(
        "{}/../../bench/jsonata-vs-js/workload.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("workload file");
    let w: Value = serde_json::from_str(&text).expect("workload JSON");
    let exprs = w["expressions"]
        .as_array()
        .expect("expressions")
        .iter()
        .map(|e| Expression::compile(e.as_str().expect("text")).expect("compiles"))
        .collect();
    (exprs, w["data"].clone())
}

#[divan::bench(args = 0..12)]
fn expression(bencher: divan::Bencher, index: usize) {
    let (exprs, data) = workload();
    let expr = &exprs[index];
    let input = Data::new(&data);
    let mut rng = Rng::from_seed(1);
    bencher.bench_local(|| expr.eval_data(&input, &[], &mut rng, Limits::default()));
}

#[divan::bench]
fn whole_workload(bencher: divan::Bencher) {
    let (exprs, data) = workload();
    let input = Data::new(&data);
    let mut rng = Rng::from_seed(1);
    bencher
        .counter(divan::counter::ItemsCount::new(exprs.len()))
        .bench_local(|| {
            exprs
                .iter()
                .map(|e| {
                    e.eval_data(&input, &[], &mut rng, Limits::default())
                        .is_ok()
                })
                .count()
        });
}
