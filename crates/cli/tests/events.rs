//! Events as a user wires them, with the real binary and the README's commands: three
//! workflows chained by status-change rules (every hop checked), an MQTT sensor on the
//! machine's Mosquitto firing a function and a workflow through a transformed input,
//! schedules (`at`, `rate`) firing once per tick across a restart, a signed webhook,
//! delivery failures that end in the dead letters with their reason, and EventBridge's API
//! from boto3 and the aws CLI (PutEvents, rules and targets, archives and replays).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use support::{NodeProcess, eventually, http, ok, temp_dir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn examples() -> PathBuf {
    repo().join("examples/events")
}

fn cirrus(node: &NodeProcess, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(args)
        .arg("--data")
        .arg(&node.data)
        .current_dir(repo())
        .output()
        .expect("cirrus runs")
}

fn run(node: &NodeProcess, args: &[&str]) -> String {
    ok(&cirrus(node, args), &args.join(" "))
}

fn pattern(name: &str) -> String {
    format!("@{}", examples().join("patterns").join(name).display())
}

fn deploy_recorder(node: &NodeProcess) {
    let code = examples().join("recorder");
    run(
        node,
        &[
            "deploy",
            "recorder",
            "--code",
            code.to_str().unwrap(),
            "--runtime",
            "python3",
            "--handler",
            "app.handler",
        ],
    );
}

fn create_workflow(node: &NodeProcess, name: &str) {
    let def = examples().join("workflows").join(format!("{name}.json"));
    run(
        node,
        &[
            "workflow",
            "create",
            name,
            "--definition",
            def.to_str().unwrap(),
        ],
    );
}

/// The recorder's log lines so far.
fn recorded(node: &NodeProcess) -> Vec<String> {
    let (_, v) = node.call("GET", "/v1/functions/recorder/logs?limit=1000", None);
    v["records"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r["output"]
                .as_str()
                .unwrap_or("")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with("EVENT "))
        .collect()
}

fn executions(node: &NodeProcess, machine: &str) -> Vec<Value> {
    let (status, v) = node.call(
        "GET",
        &format!("/v1/executions?stateMachine={machine}"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["executions"].as_array().cloned().unwrap_or_default()
}

fn succeeded(node: &NodeProcess, machine: &str, n: usize) -> Vec<Value> {
    eventually(
        Duration::from_secs(20),
        &format!("{n} succeeded executions of {machine}"),
        || {
            let list: Vec<Value> = executions(node, machine)
                .into_iter()
                .filter(|x| x["status"] == "SUCCEEDED")
                .collect();
            (list.len() >= n).then_some(list)
        },
    )
}

#[test]
fn three_workflows_chain_by_status_change_rules() {
    let node = NodeProcess::start(&temp_dir("events-chain"), &[]);
    for w in ["validate-order", "charge-order", "ship-order"] {
        create_workflow(&node, w);
    }
    deploy_recorder(&node);
    run(
        &node,
        &[
            "rule",
            "put",
            "charge-after-validate",
            "--pattern",
            &pattern("validated.json"),
            "--target",
            "workflow:charge-order",
            "--input-path",
            "$.detail.output",
        ],
    );
    run(
        &node,
        &[
            "rule",
            "put",
            "ship-after-charge",
            "--pattern",
            &pattern("charged.json"),
            "--target",
            "workflow:ship-order",
            "--input-path",
            "$.detail.output",
        ],
    );
    run(
        &node,
        &[
            "rule",
            "put",
            "record-failures",
            "--pattern",
            &pattern("failed.json"),
            "--target",
            "function:recorder",
        ],
    );
    let rules = run(&node, &["rule", "list"]);
    assert!(
        rules.contains("charge-after-validate") && rules.contains("ship-after-charge"),
        "{rules}"
    );

    run(
        &node,
        &[
            "start",
            "validate-order",
            "--input",
            r#"{"id": "o-1", "total": 42}"#,
            "--wait",
        ],
    );

    // Hop 1 → 2: charge-order ran once, on validate-order's output.
    let charge = succeeded(&node, "charge-order", 1);
    assert_eq!(charge.len(), 1, "{charge:?}");
    assert_eq!(
        charge[0]["output"]["previous"],
        json!({"order": {"id": "o-1", "total": 42}, "validated": true})
    );
    // Hop 2 → 3: ship-order ran once, on charge-order's output.
    let ship = succeeded(&node, "ship-order", 1);
    assert_eq!(ship.len(), 1, "{ship:?}");
    assert_eq!(ship[0]["output"]["shipped"], true);
    assert_eq!(
        ship[0]["output"]["previous"]["previous"]["order"]["id"],
        "o-1"
    );
    assert_eq!(ship[0]["output"]["previous"]["charged"], true);

    // Nothing failed, so the failure rule recorded nothing; a failing execution is recorded.
    let bad = json!({"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "OutOfStock", "Cause": "none left"}}});
    let (s, v) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({"name": "boom", "definition": bad})),
    );
    assert!(s < 300, "{v}");
    let (s, v) = node.call(
        "POST",
        "/v1/state-machines/boom/executions",
        Some(&json!({"input": {}})),
    );
    assert!(s < 300, "{v}");
    let lines = eventually(
        Duration::from_secs(20),
        "the recorder sees the failure",
        || {
            let l = recorded(&node);
            (!l.is_empty()).then_some(l)
        },
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("aws.states | Step Functions Execution Status Change"),
        "{lines:?}"
    );
    assert!(lines[0].contains("\"error\": \"OutOfStock\""), "{lines:?}");
    // Exactly once each, even after the relay settles.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(executions(&node, "charge-order").len(), 1);
    assert_eq!(executions(&node, "ship-order").len(), 1);
}

#[test]
fn an_mqtt_sensor_fires_a_function_and_a_workflow() {
    let node = NodeProcess::start(&temp_dir("events-mqtt"), &[]);
    deploy_recorder(&node);
    create_workflow(&node, "heat-alert");
    // A prefix of our own, so that parallel runs on the same broker do not meet.
    let prefix = format!("t{}", support::now_ms());
    let filter = format!("{prefix}/sensors/+/temperature");
    run(&node, &["source", "mqtt", "sensors", "--topic", &filter]);
    let hot = json!({
        "source": ["cirrus.mqtt"],
        "detail": {
            "topic": [{"wildcard": format!("{prefix}/sensors/*/temperature")}],
            "payload": {"celsius": [{"numeric": [">", 30]}]}
        }
    });
    run(
        &node,
        &[
            "rule",
            "put",
            "hot",
            "--pattern",
            &hot.to_string(),
            "--target",
            "workflow:heat-alert",
            "--target",
            "function:recorder",
            "--template",
            r#"{"room": <room>, "celsius": <celsius>}"#,
            "--var",
            "room=$.detail.topic",
            "--var",
            "celsius=$.detail.payload.celsius",
        ],
    );
    // Hot readings are also published back to the broker, on an alerts topic that a real
    // subscriber (mosquitto_sub) watches.
    let alerts_topic = format!("{prefix}/alerts");
    run(
        &node,
        &[
            "rule",
            "put",
            "hot-to-alerts",
            "--pattern",
            &hot.to_string(),
            "--target",
            &format!("mqtt://127.0.0.1:1883/{alerts_topic}"),
            "--input-path",
            "$.detail.payload",
        ],
    );
    let subscriber = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-q",
            "1",
            "-t",
            &alerts_topic,
            "-C",
            "2",
            "-W",
            "30",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub runs (package mosquitto-clients)");
    std::thread::sleep(Duration::from_millis(300));
    // The source is connected before anything is published.
    eventually(
        Duration::from_secs(10),
        "the MQTT source to connect",
        || {
            let (_, v) = node.call("GET", "/v1/sources/sensors", None);
            (v["status"]["connected"] == true).then_some(())
        },
    );
    for (room, celsius) in [("kitchen", 31.5), ("hall", 20.0), ("attic", 35.0)] {
        let topic = format!("{prefix}/sensors/{room}/temperature");
        let out = Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-q",
                "1",
                "-t",
                &topic,
                "-m",
                &json!({"celsius": celsius}).to_string(),
            ])
            .output()
            .expect("mosquitto_pub runs (package mosquitto-clients)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let published = subscriber.wait_with_output().unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&published.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [r#"{"celsius":31.5}"#, r#"{"celsius":35.0}"#],
        "alerts published back to MQTT"
    );
    let alerts = succeeded(&node, "heat-alert", 2);
    let mut rooms: Vec<String> = alerts
        .iter()
        .map(|x| {
            x["output"]["room"]
                .as_str()
                .unwrap_or("")
                .rsplit('/')
                .nth(1)
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    rooms.sort();
    assert_eq!(rooms, ["attic", "kitchen"], "{alerts:?}");
    let lines = eventually(Duration::from_secs(20), "two recorded readings", || {
        let l = recorded(&node);
        (l.len() >= 2).then_some(l)
    });
    assert!(lines.iter().any(|l| l.contains("31.5")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("hall")), "{lines:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(executions(&node, "heat-alert").len(), 2);
}

#[test]
fn schedules_fire_once_per_tick_across_a_restart() {
    let mut node = NodeProcess::start(&temp_dir("events-schedules"), &[]);
    node.keep_data = true;
    deploy_recorder(&node);
    // A one-time schedule two seconds from now (UTC).
    let at = chrono_like(support::now_ms() + 2000);
    let out = run(
        &node,
        &[
            "schedule",
            "put",
            "soon",
            &format!("at({at})"),
            "--target",
            "function:recorder?sync",
            "--input",
            r#"{"job": "soon"}"#,
        ],
    );
    assert!(out.contains("next at"), "{out}");
    // A rate schedule whose first tick is about three seconds away: anchors are
    // settable through the batch API (they spread the ticks of many schedules).
    let anchor = support::now_ms() + 3000 - 60_000;
    let (s, v) = node.call("POST", "/v1/schedules", Some(&json!({"schedules": [{
        "name": "every-minute", "expression": "rate(1 minute)", "anchor_ms": anchor,
        "target": {"id": "t", "action": {"type": "function", "function": "recorder", "sync": true}}
    }]})));
    assert_eq!(s, 200, "{v}");
    let lines = eventually(Duration::from_secs(20), "both schedules fire", || {
        let l = recorded(&node);
        (l.len() >= 2).then_some(l)
    });
    assert!(
        lines.iter().any(|l| l.contains("\"job\": \"soon\"")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("aws.scheduler | Scheduled Event")),
        "{lines:?}"
    );
    let list = run(&node, &["schedule", "list"]);
    assert!(
        list.contains("every-minute") && list.contains("rate(1 minute)"),
        "{list}"
    );
    // The `at` schedule has no tick left; the rate one moved a minute on.
    let (_, v) = node.call("GET", "/v1/schedules/soon", None);
    assert!(v["next"].is_null(), "{v}");
    let (_, v) = node.call("GET", "/v1/schedules/every-minute", None);
    assert_eq!(v["next_ms"].as_i64().unwrap(), anchor + 120_000, "{v}");

    // After a restart, neither tick fires again.
    node.restart();
    std::thread::sleep(Duration::from_secs(2));
    let (_, v) = node.call("GET", "/v1/scheduler", None);
    assert_eq!(v["fired"], 0, "{v}");
    let (_, v) = node.call("GET", "/v1/functions/recorder/logs?limit=1000", None);
    assert!(v["records"].as_array().is_none_or(|r| r.is_empty()), "{v}");
    assert!(
        cirrus(
            &node,
            &[
                "schedule",
                "put",
                "bad",
                "cron(0 0 * * * *)",
                "--target",
                "function:recorder"
            ]
        )
        .status
        .code()
            == Some(1)
    );
    let err = String::from_utf8_lossy(
        &cirrus(
            &node,
            &[
                "schedule",
                "put",
                "bad",
                "cron(0 0 * * * *)",
                "--target",
                "function:recorder",
            ],
        )
        .stderr,
    )
    .into_owned();
    assert!(err.contains("cron(0 0 * * * *)"), "{err}");
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC for Unix milliseconds.
fn chrono_like(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[test]
fn a_signed_webhook_starts_a_workflow_and_an_unsigned_one_is_refused() {
    let node = NodeProcess::start(&temp_dir("events-webhook"), &[]);
    create_workflow(&node, "heat-alert");
    let mut set = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["secret", "set", "HOOK_KEY", "--data"])
        .arg(&node.data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    set.stdin.take().unwrap().write_all(b"s3cret").unwrap();
    assert!(set.wait().unwrap().success());
    run(&node, &["webhook", "put", "github", "--secret", "HOOK_KEY"]);
    let pat = json!({"source": ["webhook.github"], "detail": {"celsius": [{"exists": true}]}});
    run(
        &node,
        &[
            "rule",
            "put",
            "from-hook",
            "--pattern",
            &pat.to_string(),
            "--target",
            "workflow:heat-alert",
            "--input-path",
            "$.detail",
        ],
    );
    let body = br#"{"room": "lab", "celsius": 40}"#;
    // HMAC-SHA256 of the body with the key, as GitHub signs.
    let sig = hmac_sha256_hex(b"s3cret", body);
    let (status, answer) = http_with(
        &node.routes,
        "/webhooks/github",
        &[("x-hub-signature-256", &format!("sha256={sig}"))],
        body,
    );
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = http_with(
        &node.routes,
        "/webhooks/github",
        &[("x-hub-signature-256", "sha256=00")],
        body,
    );
    assert_eq!(status, 401, "{answer}");
    let (status, _) = http_with(&node.routes, "/webhooks/github", &[], body);
    assert_eq!(status, 401);
    let runs = succeeded(&node, "heat-alert", 1);
    assert_eq!(runs[0]["output"]["room"], "lab");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(executions(&node, "heat-alert").len(), 1);
}

fn http_with(base: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "--data-binary",
        "@-",
    ]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    cmd.arg(format!("{base}{path}"));
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    let out = Command::new("python3")
        .args(["-c", "import hmac,hashlib,sys; k=sys.argv[1].encode(); print(hmac.new(k, sys.stdin.buffer.read(), hashlib.sha256).hexdigest())", std::str::from_utf8(key).unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn failed_deliveries_end_in_the_dead_letters_with_the_reason() {
    let node = NodeProcess::start(&temp_dir("events-dead"), &["--event-retry-base-ms", "50"]);
    // A target that answers 500 every time: retried, then RetriesExhausted.
    let service = support::Service::start(Duration::ZERO);
    let failing = json!({
        "targets": [
            {"id": "down", "action": {"type": "http", "url": format!("{}/fail", service.url)}, "retry": {"maximum_retry_attempts": 2, "maximum_event_age_seconds": 60}},
            {"id": "gone", "action": {"type": "function", "function": "no-such-function"}}
        ],
        "pattern": {"source": ["shop"]}
    });
    let (s, v) = node.call("PUT", "/v1/buses/default/rules/failing", Some(&failing));
    assert_eq!(s, 200, "{v}");
    let out = run(
        &node,
        &[
            "event",
            "put",
            "--source",
            "shop",
            "--type",
            "Order Placed",
            "--detail",
            r#"{"id": 7}"#,
        ],
    );
    assert!(out.contains("(2 deliveries)"), "{out}");
    let dead = eventually(Duration::from_secs(20), "two dead letters", || {
        let (_, v) = node.call("GET", "/v1/dead-events?rule=failing", None);
        let list = v["dead_events"].as_array().cloned().unwrap_or_default();
        (list.len() >= 2).then_some(list)
    });
    let by_target = |t: &str| dead.iter().find(|d| d["target"] == t).cloned().unwrap();
    assert_eq!(by_target("down")["reason"], "RetriesExhausted");
    assert_eq!(by_target("down")["attempts"], 3);
    assert_eq!(by_target("gone")["reason"], "FunctionNotFound");
    assert_eq!(by_target("down")["event"]["detail"]["id"], 7);
    assert_eq!(
        service.calls.lock().unwrap().len(),
        3,
        "one try and two retries"
    );
    let listed = run(&node, &["event", "dead-letters"]);
    assert!(
        listed.contains("RetriesExhausted") && listed.contains("FunctionNotFound"),
        "{listed}"
    );
    // Bad rules are refused with the reason.
    for (rule, needle) in [
        (
            json!({"pattern": {"source": "shop"}, "targets": []}),
            "source",
        ),
        (
            json!({"pattern": {"detail": {"n": [{"numeric": [">"]}]}}, "targets": []}),
            "numeric",
        ),
        (json!({"targets": []}), "pattern or a schedule"),
        (
            json!({"pattern": {"source": ["a"]}, "targets": [{"id": "x", "action": {"type": "http", "url": "ftp://x"}}]}),
            "http://",
        ),
        (
            json!({"schedule": "rate(0 minutes)", "targets": []}),
            "rate(0 minutes)",
        ),
    ] {
        let (s, v) = node.call("PUT", "/v1/buses/default/rules/bad", Some(&rule));
        assert_eq!(s, 400, "{rule}: {v}");
        assert!(v.to_string().contains(needle), "{rule}: {v}");
    }
}

#[test]
fn boto3_and_the_aws_cli_speak_eventbridge() {
    let node = NodeProcess::start(&temp_dir("events-aws"), &[]);
    create_workflow(&node, "heat-alert");
    let venv = support::venv();
    let out = Command::new(venv.join("bin/python"))
        .arg(repo().join("crates/cli/tests/aws/events_clients.py"))
        .envs(node.aws_env())
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "events_clients.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = http;
}

#[test]
fn an_invocation_that_runs_out_of_retries_is_a_lifecycle_event() {
    let node = NodeProcess::start(
        &temp_dir("events-lambda-failure"),
        &["--async-retry-base-ms", "50"],
    );
    deploy_recorder(&node);
    let code = examples().join("boom");
    run(
        &node,
        &[
            "deploy",
            "boom",
            "--code",
            code.to_str().unwrap(),
            "--runtime",
            "python3",
            "--handler",
            "app.handler",
        ],
    );
    let failures = json!({"source": ["aws.lambda"], "detail-type": ["Lambda Function Invocation Result - Failure"]});
    run(
        &node,
        &[
            "rule",
            "put",
            "lambda-failures",
            "--pattern",
            &failures.to_string(),
            "--target",
            "function:recorder?sync",
        ],
    );
    run(
        &node,
        &["invoke", "boom", "--async", "--payload", r#"{"order": 9}"#],
    );
    let lines = eventually(Duration::from_secs(30), "the failure event", || {
        let l = recorded(&node);
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(
        line.contains("aws.lambda | Lambda Function Invocation Result - Failure"),
        "{line}"
    );
    assert!(
        line.contains("\"condition\": \"RetriesExhausted\""),
        "{line}"
    );
    assert!(
        line.contains("\"requestPayload\": {\"order\": 9}"),
        "{line}"
    );
    assert!(line.contains("RuntimeError"), "{line}");
}

#[test]
fn queues_take_events_and_dead_letters() {
    let node = NodeProcess::start(&temp_dir("events-queues"), &["--event-retry-base-ms", "50"]);
    for q in ["orders", "undeliverable"] {
        let (s, v) = node.call("POST", "/v1/queues", Some(&json!({"name": q})));
        assert!(s < 300, "{v}");
    }
    run(
        &node,
        &[
            "rule",
            "put",
            "to-queue",
            "--pattern",
            r#"{"source": ["shop"]}"#,
            "--target",
            "queue:orders",
            "--input-path",
            "$.detail",
        ],
    );
    // An endpoint that refuses: after one retry the event goes to the dead-letter queue,
    // with EventBridge's attributes saying why.
    let service = support::Service::start(Duration::ZERO);
    let url = format!("{}/fail", service.url);
    run(
        &node,
        &[
            "rule",
            "put",
            "to-down",
            "--pattern",
            r#"{"source": ["shop"]}"#,
            "--target",
            &url,
            "--dead-letter-queue",
            "undeliverable",
            "--max-retries",
            "1",
            "--max-age",
            "60",
        ],
    );
    run(
        &node,
        &[
            "event",
            "put",
            "--source",
            "shop",
            "--type",
            "Order Placed",
            "--detail",
            r#"{"id": 11}"#,
        ],
    );
    let receive = |q: &str| {
        let (s, v) = node.call(
            "POST",
            &format!("/v1/queues/{q}/receive"),
            Some(&json!({"max": 10, "waitSeconds": 5})),
        );
        assert_eq!(s, 200, "{v}");
        v["messages"].as_array().cloned().unwrap_or_default()
    };
    let got = receive("orders");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        serde_json::from_str::<Value>(got[0]["body"].as_str().unwrap()).unwrap(),
        json!({"id": 11})
    );
    let dead = eventually(Duration::from_secs(20), "the dead-letter message", || {
        let m = receive("undeliverable");
        (!m.is_empty()).then_some(m)
    });
    let body: Value = serde_json::from_str(dead[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["detail"]["id"], 11, "{body}");
    let attrs = dead[0]["attributes"].to_string();
    assert!(
        attrs.contains("ERROR_CODE") && attrs.contains("HttpError") && attrs.contains("RULE_ARN"),
        "{attrs}"
    );
    assert_eq!(service.calls.lock().unwrap().len(), 2);
    // The routes used here are described for clients.
    let (_, doc) = node.call_with("GET", "/openapi.json", None, None);
    for path in [
        "/v1/events",
        "/v1/buses/{bus}/rules/{rule}",
        "/v1/schedules/{name}",
        "/v1/sources/{name}",
        "/v1/queues",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} is not in /openapi.json"
        );
    }
}
