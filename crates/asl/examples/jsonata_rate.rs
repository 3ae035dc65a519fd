//! Evaluates the expressions of a JSONata workload repeatedly and prints one JSON line,
//! `{"runner": "cirrus", "evaluations_per_second": ..., "results": [...]}`;
//! `bench/jsonata-vs-js` compares it with the reference implementation on the same workload.
//!
//! Usage: `jsonata_rate WORKLOAD SECONDS`

use std::time::Instant;

use cirrus_asl::jsonata::{Data, Expression, Limits};
use cirrus_asl::random::Rng;
use serde_json::{Value, json};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, seconds] = args.as_slice() else {
        return Err("usage: jsonata_rate WORKLOAD SECONDS".into());
    };
    let text = std::fs::read_to_string(workload).map_err(|e| format!("{workload}: {e}"))?;
    let workload: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let seconds: f64 = seconds.parse().map_err(|_| "SECONDS must be a number")?;
    let data = &workload["data"];
    let expressions = workload["expressions"]
        .as_array()
        .ok_or("the workload has no expressions")?
        .iter()
        .map(|e| Expression::compile(e.as_str().unwrap_or_default()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    // The input is converted once, as the reference implementation is handed its object once.
    let input = Data::new(data);
    let mut rng = Rng::from_seed(1);
    let limits = if std::env::var_os("NO_TIMEOUT").is_some() {
        Limits {
            timeout_ms: u64::MAX,
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    let mut results = Vec::new();
    for e in &expressions {
        results.push(
            e.eval_data(&input, &[], &mut rng, limits)
                .map_err(|e| e.to_string())?,
        );
    }
    for _ in 0..200 {
        for e in &expressions {
            let _ = e.eval_data(&input, &[], &mut rng, limits);
        }
    }
    let start = Instant::now();
    let mut evaluations = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        for e in &expressions {
            let _ = e.eval_data(&input, &[], &mut rng, limits);
        }
        evaluations += expressions.len() as u64;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "runner": "cirrus",
            "evaluations": evaluations,
            "seconds": elapsed,
            "evaluations_per_second": evaluations as f64 / elapsed,
            "results": results,
        })
    );
    Ok(())
}
