//! The `cirrus asl` commands as a user runs them: the README's example, validation exit
//! codes, and clear errors for bad files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cirrus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(args)
        .output()
        .expect("cirrus runs")
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/order-check")
        .join(name)
        .display()
        .to_string()
}

fn temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("cirrus-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("temp file");
    path
}

fn last_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn the_readme_example_accepts_the_order() {
    let out = cirrus(&[
        "asl",
        "run",
        &example("definition.json"),
        "--input",
        &example("input.json"),
        "--functions",
        &example("functions.json"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = last_json(&out);
    assert_eq!(result["status"], "SUCCEEDED");
    assert_eq!(result["output"]["status"], "ACCEPTED");
    assert_eq!(
        result["output"]["customer"],
        "Ada Lovelace <ada@example.com>"
    );
    assert_eq!(result["output"]["lines"][2]["line"], 2);
}

#[test]
fn a_failing_function_routes_the_order_to_rejected() {
    let functions = temp(
        "raise.json",
        r#"[{"name": "price", "behaviour": "echo"},
            {"name": "stock", "behaviour": "raise", "errorType": "OutOfStock", "errorMessage": "sold out"}]"#,
    );
    let out = cirrus(&[
        "asl",
        "run",
        &example("definition.json"),
        "--input",
        &example("input.json"),
        "--functions",
        &functions.display().to_string(),
        "--history",
    ]);
    let result = last_json(&out);
    assert_eq!(result["status"], "FAILED");
    assert_eq!(result["error"], "OrderRejected");
    assert_eq!(result["cause"], "order o-1001 cannot be filled");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .next()
            .unwrap_or_default()
            .contains("\"ExecutionStarted\""),
        "{stdout}"
    );
}

#[test]
fn validate_reports_problems_with_exit_2() {
    let bad = temp(
        "bad.json",
        r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}"#,
    );
    let out = cirrus(&["asl", "validate", &bad.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next"
    );
    let out = cirrus(&["asl", "validate", &example("definition.json")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_files_get_clear_errors() {
    let out = cirrus(&["asl", "run", "/no/such/definition.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /no/such/definition.json"));

    let not_json = temp("input.json", "{ nope");
    let out = cirrus(&[
        "asl",
        "run",
        &example("definition.json"),
        "--input",
        &not_json.display().to_string(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not valid JSON"));

    let invalid = temp(
        "invalid.json",
        r#"{"StartAt": "A", "States": {"A": {"Type": "Wait", "End": true}}}"#,
    );
    let out = cirrus(&["asl", "run", &invalid.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(last_json(&out)["status"], "INVALID_DEFINITION");

    let functions = temp(
        "functions.json",
        r#"[{"name": "f", "behaviour": "teleport"}]"#,
    );
    let out = cirrus(&[
        "asl",
        "run",
        &example("definition.json"),
        "--functions",
        &functions.display().to_string(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown behaviour 'teleport'"));
}

#[test]
fn cirrus_check_names_the_line_and_field_of_each_problem() {
    let dir = std::env::temp_dir().join(format!("cirrus-cli-{}-check", std::process::id()));
    std::fs::create_dir_all(dir.join("recorder")).unwrap();
    let manifest = dir.join("cirrus.toml");
    let good = "[functions.recorder]\nruntime = \"python3.12\"\nsource = \"recorder\"\nhandler = \"app.handler\"\n\n[[routes]]\nroute = \"POST /events\"\nfunction = \"recorder\"\n\n[schedules.tick]\nexpression = \"rate(5 minutes)\"\ntarget = \"function:recorder\"\n";
    std::fs::write(&manifest, good).unwrap();
    let out = cirrus(&["check", "--file", manifest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 function(s)"));

    std::fs::write(
        &manifest,
        good.replace("function = \"recorder\"", "function = \"missing\"")
            .replace("rate(5 minutes)", "rate(0 minutes)"),
    )
    .unwrap();
    let out = cirrus(&["check", "--file", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cirrus.toml:8: routes[0].function: no function 'missing'"),
        "{err}"
    );
    assert!(
        err.contains("cirrus.toml:11: schedules.tick.expression"),
        "{err}"
    );
}
