//! The conformance suites of `shared/conformance/`, run against the real `cirrus` binary
//! through each suite's own runner:
//!
//! - `asl`: 600 executions recorded on AWS Step Functions (`cirrus asl run`);
//! - `jsonata`: the JSONata test suite of the reference implementation (`cirrus jsonata eval`).
//!
//! Every case listed in `conformance/<suite>-expected-pass.txt` must pass; the lists only
//! grow. Cases that pass but are not listed yet are printed so that they can be added.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn suite_dir(suite: &str) -> PathBuf {
    let root = match std::env::var_os("CIRRUS_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"),
    };
    root.join(suite)
}

/// Runs a suite's runner with `args` and checks its report against the expected list.
fn run_suite(suite: &str, args: &[&str], passed_key: &str) {
    let dir = suite_dir(suite);
    let runner = dir.join("run_engine.py");
    assert!(
        runner.is_file(),
        "the {suite} conformance suite is not at {} (set CIRRUS_CONFORMANCE_DIR to the shared/conformance folder)",
        dir.display()
    );
    let report = std::env::temp_dir().join(format!(
        "cirrus-{suite}-conformance-{}.jsonl",
        std::process::id()
    ));
    let out = Command::new("python3")
        .arg(&runner)
        .args(args)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("python3 runs the conformance runner");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));

    let text = std::fs::read_to_string(&report).expect("the runner writes its report");
    let _ = std::fs::remove_file(&report);
    let mut passed = BTreeSet::new();
    let mut reasons = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).expect("report lines are JSON");
        let id = row["id"].as_str().unwrap_or_default().to_owned();
        if row[passed_key].as_bool() == Some(true) {
            passed.insert(id);
        } else {
            reasons.insert(id, row["reason"].as_str().unwrap_or_default().to_owned());
        }
    }

    let expected_file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/conformance/{suite}-expected-pass.txt"));
    let expected: BTreeSet<String> = std::fs::read_to_string(&expected_file)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let regressions: Vec<String> = expected
        .iter()
        .filter(|id| !passed.contains(*id))
        .map(|id| {
            format!(
                "{id}: {}",
                reasons.get(id).map(String::as_str).unwrap_or("not run")
            )
        })
        .collect();
    let new: Vec<&String> = passed.iter().filter(|id| !expected.contains(*id)).collect();
    if !new.is_empty() {
        println!(
            "{} cases pass that {} does not list yet:",
            new.len(),
            expected_file.display()
        );
        for id in &new {
            println!("  {id}");
        }
    }
    assert!(
        regressions.is_empty(),
        "{} expected cases no longer pass:\n{}",
        regressions.len(),
        regressions.join("\n")
    );
}

#[test]
fn asl_conformance_suite() {
    let cmd = format!(
        "{} asl run {{definition}} --input {{input}} --functions {{functions}}",
        env!("CARGO_BIN_EXE_cirrus")
    );
    run_suite(
        "asl",
        &[
            "--cmd",
            &cmd,
            "--jobs",
            "4",
            "--timeout",
            "60",
            "--show-failures",
            "40",
        ],
        "passed",
    );
}

#[test]
fn jsonata_conformance_suite() {
    let cmd = format!("{} jsonata eval {{case}}", env!("CARGO_BIN_EXE_cirrus"));
    run_suite(
        "jsonata",
        &[
            "--cmd",
            &cmd,
            "--jobs",
            "4",
            "--timeout",
            "60",
            "--failures",
            "20",
            "-q",
        ],
        "pass",
    );
}
