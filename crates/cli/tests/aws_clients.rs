//! The real AWS clients against a node: boto3 and the aws CLI (from PyPI, in a venv) run
//! `tests/aws/sfn_clients.py` (Step Functions) and `tests/aws/lambda_clients.py` (Lambda,
//! with functions in Python, Node.js, wasm and on AWS's own `awslambdaric`) and
//! `tests/aws/sqs_clients.py` (SQS and event-source mappings) with the
//! environment `cirrus env` prints.

mod support;

use std::process::Command;

use support::{NodeProcess, hello_component, temp_dir, venv};

#[test]
fn boto3_and_the_aws_cli_drive_the_node() {
    run_script("sfn_clients.py", &[]);
}

#[test]
fn boto3_and_the_aws_cli_drive_functions() {
    let component = hello_component();
    let python = venv().join("bin/python");
    run_script(
        "lambda_clients.py",
        &[
            ("HELLO_WASM", component.to_string_lossy().into_owned()),
            ("AWSLAMBDARIC_PYTHON", python.to_string_lossy().into_owned()),
        ],
    );
}

/// SQS (JSON protocol) and Lambda's event-source mappings; needs the SQLite backend of
/// the event system's tables (queues and resources), as `cirrus serve` keeps state there.
#[test]
fn boto3_and_the_aws_cli_drive_queues() {
    run_script("sqs_clients.py", &[]);
}

fn run_script(name: &str, env: &[(&str, String)]) {
    let venv = venv();
    let node = NodeProcess::start(&temp_dir(&format!("aws-{name}")), &[]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/aws")
        .join(name);
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(venv.join("bin/python"))
        .arg(&script)
        .envs(node.aws_env())
        .env("PATH", path)
        // No profile or config file of the machine's user may interfere.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("python runs");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the AWS client tests ({name}) failed:\n{report}\nthe node's log:\n{}",
        std::fs::read_to_string(node.data.join("node.log")).unwrap_or_default()
    );
    assert!(report.contains("OK"), "{report}");
}
