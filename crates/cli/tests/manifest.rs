//! An application in one file: `cirrus deploy` applies a `cirrus.toml` to a running node
//! (queues, a function, a workflow, a route, a rule and a schedule) after printing its
//! plan, an event then flows through what it made, applying it again changes nothing, a
//! changed or dropped resource shows as `~` or `-` and is applied, `--dry-run` changes
//! nothing, and a manifest with a problem is refused before anything is deployed. `cirrus
//! new` writes a project that `cirrus check` accepts.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;
use support::{NodeProcess, cirrus, eventually, temp_dir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// stdout and stderr of a run, which must have succeeded.
fn said(out: &Output) -> (String, String) {
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{o}{e}");
    (o, e)
}

#[test]
fn cirrus_deploy_applies_a_manifest_once() {
    let node = NodeProcess::start(&temp_dir("manifest"), &[]);
    let app = temp_dir("manifest-app");
    std::fs::create_dir_all(&app).unwrap();
    let events = repo().join("examples/events");
    let manifest = format!(
        r#"[app]
name = "sensors"

[functions.recorder]
runtime = "python3"
source = "{recorder}"
handler = "app.handler"
memory = 128

[workflows.heat-alert]
definition = "{workflow}"

[[routes]]
route = "POST /record"
function = "recorder"

[queues.dead]

[queues.work]
dead_letter_queue = "dead"
max_receives = 2

[rules.hot]
pattern = {{ source = ["sensors"], detail = {{ celsius = [{{ numeric = [">", 30] }}] }} }}
targets = ["workflow:heat-alert", "queue:work"]
input_path = "$.detail"

[schedules.tick]
expression = "rate(5 minutes)"
target = "function:recorder"
"#,
        recorder = events.join("recorder").display(),
        workflow = events.join("workflows/heat-alert.json").display(),
    );
    let file = app.join("cirrus.toml");
    std::fs::write(&file, &manifest).unwrap();
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "--file", file.to_str().unwrap()];
        args.extend(extra);
        said(&cirrus(&node, &args))
    };

    // A dry run prints the plan and makes nothing.
    let (plan, _) = deploy(&["--dry-run"]);
    assert!(
        plan.contains("+ function recorder\n")
            && plan.contains("+ queue work\n")
            && plan.contains("+ rule default/hot\n")
            && plan.contains("7 to create, 0 to update, 0 to delete, 0 unchanged"),
        "{plan}"
    );
    let (s, _) = node.call("GET", "/v1/functions/recorder", None);
    assert_eq!(s, 404, "a dry run deploys nothing");

    let (out, err) = deploy(&[]);
    for line in [
        "+ queue dead",
        "+ queue work",
        "+ function recorder",
        "+ workflow heat-alert",
        "+ route POST /record",
        "+ rule default/hot",
        "+ schedule tick",
        "deployed: 7 created, 0 updated, 0 deleted, 0 unchanged",
    ] {
        assert!(out.lines().any(|l| l == line), "no '{line}' in {out}");
    }
    // Not a terminal: the upload is one plain line.
    assert!(
        err.lines()
            .any(|l| l.starts_with("uploading recorder (") && l.contains(") ... done in ")),
        "{err}"
    );

    // An event flows through the rule to the workflow and the queue.
    let (s, v) = node.call("POST", "/v1/events", Some(&json!({"source": "sensors", "type": "Reading", "data": {"room": "lab", "celsius": 41}})));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["deliveries"], 2, "{v}");
    eventually(Duration::from_secs(20), "the alert", || {
        let (_, v) = node.call("GET", "/v1/executions?stateMachine=heat-alert", None);
        (v["executions"][0]["status"] == "SUCCEEDED").then_some(())
    });
    let (_, v) = node.call(
        "POST",
        "/v1/queues/work/receive",
        Some(&json!({"max": 10, "waitSeconds": 5})),
    );
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(1), "{v}");
    let (_, v) = node.call("GET", "/v1/queues/work", None);
    assert!(v.to_string().contains("maxReceiveCount"), "{v}");
    let (_, v) = node.call("GET", "/v1/schedules/tick", None);
    assert_eq!(v["expression"], "rate(5 minutes)", "{v}");
    let (_, v) = node.call("GET", "/v1/routes", None);
    assert!(v.to_string().contains("POST /record"), "{v}");

    // Again: nothing changes.
    let (out, err) = deploy(&[]);
    assert_eq!(out.trim(), "no changes (7 unchanged)", "{err}");
    assert!(!err.contains("uploading"), "{err}");
    let (_, v) = node.call("GET", "/v1/functions/recorder", None);
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(0), "{v}");

    // A manifest that drops the schedule, the route and the queue `work` (and its rule's
    // queue target): the next deploy deletes them.
    let smaller = manifest
        .replace(
            "[schedules.tick]\nexpression = \"rate(5 minutes)\"\ntarget = \"function:recorder\"\n",
            "",
        )
        .replace(
            "[[routes]]\nroute = \"POST /record\"\nfunction = \"recorder\"\n",
            "",
        )
        .replace(
            "[queues.work]\ndead_letter_queue = \"dead\"\nmax_receives = 2\n",
            "",
        )
        .replace(", \"queue:work\"", "");
    assert!(
        !smaller.contains("schedules.tick") && !smaller.contains("queue:work"),
        "{smaller}"
    );
    std::fs::write(&file, &smaller).unwrap();
    let (out, _) = deploy(&[]);
    for line in [
        "~ rule default/hot: targets",
        "- schedule tick",
        "- route POST /record",
        "- queue work",
        "deployed: 0 created, 1 updated, 3 deleted, 3 unchanged",
    ] {
        assert!(out.lines().any(|l| l == line), "no '{line}' in {out}");
    }
    let (s, _) = node.call("GET", "/v1/schedules/tick", None);
    assert_eq!(s, 404);
    let (s, _) = node.call("GET", "/v1/queues/work", None);
    assert_eq!(s, 404);
    let (_, v) = node.call("GET", "/v1/routes", None);
    assert!(!v.to_string().contains("POST /record"), "{v}");
    let (s, _) = node.call("GET", "/v1/functions/recorder", None);
    assert_eq!(s, 200, "what the manifest still names stays");

    // A manifest with a problem deploys nothing.
    let bad = manifest.replace("[schedules.tick]", "[functions.other]\nruntime = \"python3\"\nsource = \"nowhere\"\nhandler = \"a.b\"\n\n[schedules.tick]");
    std::fs::write(&file, bad).unwrap();
    let out = cirrus(&node, &["deploy", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "no plan for a manifest with problems"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cirrus.toml:")
            && err.contains("functions.other.source: 'nowhere' does not exist"),
        "{err}"
    );
    let (s, _) = node.call("GET", "/v1/functions/other", None);
    assert_eq!(s, 404);
}

/// Changed memory, code and definition show as `~` with what changed and are applied;
/// substitutions reach the deployed definition; the alias follows the definition; the
/// destinations and retries reach the function as ARNs.
#[test]
fn cirrus_deploy_updates_what_changed() {
    let node = NodeProcess::start(&temp_dir("manifest-update"), &[]);
    let app = temp_dir("manifest-update-app");
    let code = app.join("recorder");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::copy(
        repo().join("examples/events/recorder/app.py"),
        code.join("app.py"),
    )
    .unwrap();
    let definition = r#"{
  "StartAt": "Call",
  "States": {
    "Call": {
      "Type": "Pass",
      "Result": { "url": "${PaymentsUrl}", "region": "${Region}", "account": "${AccountId}" },
      "End": true
    }
  }
}
"#;
    std::fs::write(app.join("order.json"), definition).unwrap();
    let manifest = r#"[app]
name = "shop"

[functions.recorder]
runtime = "python3"
source = "recorder"
handler = "app.handler"
memory = 128
on_success = "workflow:order"
on_failure = "function:recorder"
retries = 0
max_event_age = 120

[workflows.order]
definition = "order.json"
alias = "live"
substitutions = { PaymentsUrl = "${RoutesUrl}/payments" }
"#;
    let file = app.join("cirrus.toml");
    std::fs::write(&file, manifest).unwrap();
    let deploy = || {
        said(&cirrus(
            &node,
            &["deploy", "--file", file.to_str().unwrap()],
        ))
    };
    let (out, _) = deploy();
    assert!(
        out.contains("deployed: 2 created, 0 updated, 0 deleted, 0 unchanged"),
        "{out}"
    );

    let (_, v) = node.call("GET", "/v1/state-machines/order", None);
    let result = &v["definition"]["States"]["Call"]["Result"];
    assert_eq!(result["url"], format!("{}/payments", node.routes), "{v}");
    assert_eq!(result["region"], "us-east-1", "{v}");
    assert_eq!(result["account"], "000000000000", "{v}");
    let (_, a) = node.call("GET", "/v1/state-machines/order/aliases/live", None);
    assert!(
        a["routing"][0]["stateMachineVersionArn"]
            .as_str()
            .is_some_and(|arn| arn.ends_with(":order:1")),
        "{a}"
    );
    let (_, f) = node.call("GET", "/v1/functions/recorder", None);
    let e = &f["config"]["event_invoke"];
    assert_eq!(
        e["on_success"], "arn:aws:states:us-east-1:000000000000:stateMachine:order",
        "{f}"
    );
    assert_eq!(
        e["on_failure"], "arn:aws:lambda:us-east-1:000000000000:function:recorder",
        "{f}"
    );
    assert_eq!(e["maximum_retry_attempts"], 0, "{f}");
    assert_eq!(e["maximum_event_age_seconds"], 120, "{f}");
    let sha = f["config"]["code_sha256"].clone();

    // Memory and the definition change: two updates, saying what changed.
    std::fs::write(&file, manifest.replace("memory = 128", "memory = 256")).unwrap();
    std::fs::write(
        app.join("order.json"),
        definition.replace(
            "\"Type\": \"Pass\",",
            "\"Type\": \"Pass\", \"Comment\": \"v2\",",
        ),
    )
    .unwrap();
    let (out, err) = deploy();
    for line in [
        "~ function recorder: memory 128 → 256",
        "~ workflow order: definition",
        "deployed: 0 created, 2 updated, 0 deleted, 0 unchanged",
    ] {
        assert!(out.lines().any(|l| l == line), "no '{line}' in {out}");
    }
    assert!(!err.contains("uploading"), "settings only: {err}");
    let (_, f) = node.call("GET", "/v1/functions/recorder", None);
    assert_eq!(f["config"]["memory_mb"], 256, "{f}");
    assert_eq!(f["config"]["code_sha256"], sha, "the code stayed");
    let (_, v) = node.call("GET", "/v1/state-machines/order", None);
    assert_eq!(v["definition"]["States"]["Call"]["Comment"], "v2", "{v}");
    let (_, a) = node.call("GET", "/v1/state-machines/order/aliases/live", None);
    assert!(
        a["routing"][0]["stateMachineVersionArn"]
            .as_str()
            .is_some_and(|arn| arn.ends_with(":order:2")),
        "the alias follows the new definition: {a}"
    );

    // The code changes: an update of the code, uploaded.
    let mut py = std::fs::read_to_string(code.join("app.py")).unwrap();
    py.push_str("\n# changed\n");
    std::fs::write(code.join("app.py"), py).unwrap();
    let (out, err) = deploy();
    assert!(
        out.lines().any(|l| l == "~ function recorder: code"),
        "{out}"
    );
    assert!(err.contains("uploading recorder ("), "{err}");
    let (_, f) = node.call("GET", "/v1/functions/recorder", None);
    assert_ne!(f["config"]["code_sha256"], sha, "{f}");

    let (out, _) = deploy();
    assert_eq!(out.trim(), "no changes (2 unchanged)");
    let (_, versions) = node.call("GET", "/v1/state-machines/order/versions", None);
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(2),
        "{versions}"
    );
}

/// `cirrus new` writes the default example into a new directory, named after it, which
/// `cirrus check` accepts; it refuses a directory that is not empty.
#[test]
fn cirrus_new_writes_a_project_that_checks() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .args(args)
            .output()
            .expect("cirrus runs")
    };
    let (list, _) = said(&run(&["new", "--list"]));
    assert!(list.contains("order-pipeline"), "{list}");

    let dir = temp_dir("new").join("my-shop");
    let (out, _) = said(&run(&["new", dir.to_str().unwrap()]));
    assert!(
        out.contains(&format!("cd {} && cirrus dev", dir.display())),
        "{out}"
    );
    let toml = std::fs::read_to_string(dir.join("cirrus.toml")).unwrap();
    assert!(toml.contains("name = \"my-shop\""), "{toml}");
    let manifest = dir.join("cirrus.toml");
    let (out, _) = said(&run(&["check", "--file", manifest.to_str().unwrap()]));
    assert!(out.contains("function(s)"), "{out}");

    let again = run(&["new", dir.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not empty"),
        "{again:?}"
    );
    let unknown = run(&[
        "new",
        temp_dir("new2").join("x").to_str().unwrap(),
        "--from",
        "nope",
    ]);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("there is no example 'nope'"),
        "{unknown:?}"
    );
}
