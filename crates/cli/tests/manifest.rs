//! An application in one file: `cirrus deploy` applies a `cirrus.toml` to a running node
//! (queues, a function, a workflow, a route, a rule and a schedule), an event then flows
//! through what it made, applying it again changes nothing, and a manifest with a problem
//! is refused before anything is deployed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::json;
use support::{NodeProcess, eventually, temp_dir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn cirrus(node: &NodeProcess, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(args)
        .arg("--data")
        .arg(&node.data)
        .output()
        .expect("cirrus runs")
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
    let out = cirrus(&node, &["deploy", "--file", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "applied 1 function(s), 1 workflow(s), 1 route(s), 1 rule(s), 1 schedule(s), 2 queue(s)"
        ),
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
    let out = cirrus(&node, &["deploy", "--file", file.to_str().unwrap()]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("unchanged"), "{said}");
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
    let out = cirrus(&node, &["deploy", "--file", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("schedule tick: deleted")
            && err.contains("route POST /record: deleted")
            && err.contains("queue work: deleted"),
        "{err}"
    );
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cirrus.toml:")
            && err.contains("functions.other.source: 'nowhere' does not exist"),
        "{err}"
    );
    let (s, _) = node.call("GET", "/v1/functions/other", None);
    assert_eq!(s, 404);
}
