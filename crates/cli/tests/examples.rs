//! The examples under `examples/`, end to end, as their READMEs tell a user to run them:
//! `cirrus dev` in a copy of the example's folder (the real binary, building the Rust
//! functions for wasm32-wasip2 and starting the Python and Node ones), then the example's
//! own scripts (`warehouse.py`, `sensor.py`) and HTTP calls against it.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::{encode, http, temp_dir};

/// `cirrus dev` running on a copy of an example.
struct Dev {
    dir: PathBuf,
    /// The manifest's `[app] name`.
    app: String,
    child: Option<Child>,
    output: Arc<Mutex<String>>,
    endpoint: String,
    routes: String,
    token: String,
}

impl Dev {
    /// Copies `examples/NAME` to a temporary folder, lets `edit` change its manifest, and
    /// runs `cirrus dev` there until the manifest is deployed.
    fn start(example: &str, edit: impl FnOnce(String) -> String) -> Dev {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(example);
        let dir = temp_dir(example);
        copy_dir(&source, &dir);
        let manifest = dir.join("cirrus.toml");
        let text = std::fs::read_to_string(&manifest).expect("the example has a cirrus.toml");
        std::fs::write(&manifest, edit(text)).expect("write cirrus.toml");
        let mut dev = Dev {
            dir,
            app: example.to_owned(),
            child: None,
            output: Arc::default(),
            endpoint: String::new(),
            routes: String::new(),
            token: String::new(),
        };
        dev.launch();
        dev
    }

    /// Runs `cirrus dev` in the folder and waits until it has deployed and shown its
    /// banner.
    fn launch(&mut self) {
        let banners = self.output().matches("Watching").count();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .arg("dev")
            .arg(&self.dir)
            .args(["--listen", "127.0.0.1:0", "--routes-listen", "127.0.0.1:0"])
            // The examples' Rust functions build in the tests' target directory, so that
            // runs after the first one build incrementally.
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("examples"),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cirrus dev starts");
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = self.output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut o = output.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        let pid = u64::from(child.id());
        self.child = Some(child);
        let data = self.dir.join(".cirrus");
        let node: Value = self.wait(Duration::from_secs(60), "the node's node.json", |_| {
            let text = std::fs::read_to_string(data.join("node.json")).ok()?;
            serde_json::from_str::<Value>(&text)
                .ok()
                .filter(|v| v["pid"].as_u64() == Some(pid))
        });
        self.endpoint = node["endpoint"].as_str().unwrap_or_default().to_owned();
        self.routes = node["routes"].as_str().unwrap_or_default().to_owned();
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(data.join("credentials.json")).expect("credentials"),
        )
        .expect("credentials JSON");
        self.token = creds["token"].as_str().unwrap_or_default().to_owned();
        // The app record is written last, when the whole manifest is applied; building
        // the Rust functions from nothing takes minutes on a small machine. The banner
        // follows.
        let app = format!("/v1/apps/{}", self.app);
        self.wait(
            Duration::from_secs(600),
            "the manifest to be deployed",
            |d| (d.call("GET", &app, None).0 == 200).then_some(()),
        );
        self.wait(Duration::from_secs(30), "the banner", |d| {
            (d.output().matches("Watching").count() > banners).then_some(())
        });
    }

    /// Ctrl-C, as a user stops it; it must end cleanly.
    fn interrupt(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &c.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = c.try_wait() {
                assert!(
                    status.success() || std::thread::panicking(),
                    "cirrus dev ended with {status} on Ctrl-C; its output:\n{}",
                    self.output()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        assert!(
            std::thread::panicking(),
            "cirrus dev did not stop in 10 s on Ctrl-C; its output:\n{}",
            self.output()
        );
    }

    /// Stops dev with Ctrl-C and runs it again on the same folder (and store).
    fn restart(&mut self) {
        self.interrupt();
        self.launch();
    }

    /// Polls `f`, failing with dev's output if it does not answer in time or dev exits.
    fn wait<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&Dev) -> Option<T>,
    ) -> T {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "cirrus dev exited with {status}; its output:\n{}",
                    self.output()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; cirrus dev's output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Calls the native API.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let text = body.map(Value::to_string);
        let (status, raw) = http(
            &self.endpoint,
            method,
            path,
            Some(&self.token),
            text.as_deref().map(str::as_bytes),
        );
        (status, serde_json::from_slice(&raw).unwrap_or(Value::Null))
    }

    /// Calls a user route.
    fn route(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, raw) = http(&self.routes, method, path, None, Some(body.as_bytes()));
        (status, serde_json::from_slice(&raw).unwrap_or(Value::Null))
    }

    /// Runs one of the example's scripts with the node's address in its environment.
    fn script(&self, args: &[&str]) -> String {
        let out = Command::new("python3")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("python3 runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?} failed:\n{text}");
        text
    }

    /// An execution once it has ended.
    fn ended(&mut self, arn: &str) -> Value {
        let path = format!("/v1/executions/{}", encode(arn));
        self.wait(Duration::from_secs(60), "the execution to end", |d| {
            let (_, e) = d.call("GET", &path, None);
            (e["status"].as_str().is_some_and(|s| s != "RUNNING")).then_some(e)
        })
    }

    /// Receives (and deletes) the messages of a queue, waiting for at least one.
    fn messages(&mut self, queue: &str) -> Vec<Value> {
        let path = format!("/v1/queues/{queue}/receive");
        let got = self.wait(Duration::from_secs(60), "a message", |d| {
            let (_, v) = d.call("POST", &path, Some(&json!({"max": 10, "waitSeconds": 1})));
            let m = v["messages"].as_array().cloned().unwrap_or_default();
            (!m.is_empty()).then_some(m)
        });
        let receipts: Vec<&Value> = got.iter().map(|m| &m["receipt"]).collect();
        self.call(
            "POST",
            &format!("/v1/queues/{queue}/delete"),
            Some(&json!({ "receipts": receipts })),
        );
        got.iter()
            .map(|m| {
                serde_json::from_str(m["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
            })
            .collect()
    }

    /// A function's recent log text.
    fn logs(&self, function: &str) -> String {
        let (_, v) = self.call(
            "GET",
            &format!("/v1/functions/{function}/logs?limit=200"),
            None,
        );
        v.to_string()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.interrupt();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read the example").flatten() {
        let name = entry.file_name();
        if matches!(
            name.to_str(),
            Some("target" | ".cirrus" | "node_modules" | "__pycache__")
        ) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

fn order(id: &str, card: &str) -> String {
    json!({
        "orderId": id,
        "customer": { "name": "Ada", "email": format!("{id}@example.com") },
        "items": [
            { "sku": "TEA-GREEN-100G", "quantity": 2, "price": 4.5 },
            { "sku": "MUG-STONEWARE", "quantity": 1, "price": 12 }
        ],
        "currency": "EUR",
        "card": card
    })
    .to_string()
}

#[test]
fn order_pipeline() {
    let mut dev = Dev::start("order-pipeline", |m| m);
    let banner = dev.output();
    assert!(
        banner.contains("/orders"),
        "the banner names the routes:\n{banner}"
    );
    assert!(
        banner.contains("warehouse.py"),
        "the banner prints the hints:\n{banner}"
    );

    // The README's order: accepted, validated, charged after one refused attempt, waiting
    // for the warehouse.
    let sample = std::fs::read_to_string(dev.dir.join("order.json")).expect("order.json");
    let (status, started) = dev.route("POST", "/orders", &sample);
    assert_eq!(status, 202, "{started}");
    let arn = started["executionArn"]
        .as_str()
        .expect("an execution ARN")
        .to_owned();
    let shipped = dev.wait(Duration::from_secs(60), "the warehouse to ship", |d| {
        let out = d.script(&["warehouse.py", "--wait", "1"]);
        out.contains("o-1001: shipped").then_some(out)
    });
    assert!(shipped.contains("3 item(s)"), "{shipped}");
    let done = dev.ended(&arn);
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let output = match &done["output"] {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    };
    assert_eq!(output["status"], "shipped");
    assert_eq!(output["total"], 2100);
    assert!(
        output["paymentId"]
            .as_str()
            .is_some_and(|p| p.starts_with("pay_")),
        "{output}"
    );
    assert!(
        output["trackingNumber"]
            .as_str()
            .is_some_and(|t| t.starts_with("1Z")),
        "{output}"
    );
    let (_, history) = dev.call(
        "GET",
        &format!("/v1/executions/{}/history", encode(&arn)),
        None,
    );
    assert!(
        history.to_string().contains("States.Http.StatusCode.503"),
        "the first charge is refused and retried: {history}"
    );
    // The OrderShipped event reached the notifier through the rule.
    dev.wait(Duration::from_secs(30), "the customer's mail", |d| {
        d.logs("notify")
            .contains("mail to ada@example.com")
            .then_some(())
    });
    assert!(dev.logs("payments").contains("captured 21.00 EUR"));

    // A declined card: no retry, the order in the dead-letter queue with the reason.
    let (status, started) = dev.route("POST", "/orders", &order("o-1002", "4000000000000002"));
    assert_eq!(status, 202);
    let failed = dev.ended(started["executionArn"].as_str().unwrap());
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["error"], "States.Http.StatusCode.402", "{failed}");
    let dead = dev.messages("failed-orders");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["error"], "States.Http.StatusCode.402");
    assert_eq!(dead[0]["order"]["orderId"], "o-1002");

    // An invalid order: refused by the Rust function, naming the field.
    let mut bad: Value = serde_json::from_str(&order("o-1003", "4242424242424242")).unwrap();
    bad["items"][1]["quantity"] = json!(0);
    let (_, started) = dev.route("POST", "/orders", &bad.to_string());
    let failed = dev.ended(started["executionArn"].as_str().unwrap());
    assert_eq!(failed["error"], "InvalidOrder", "{failed}");
    let dead = dev.messages("failed-orders");
    assert!(
        dead[0]["cause"]
            .as_str()
            .is_some_and(|c| c.contains("items[1].quantity")),
        "{dead:?}"
    );

    // The warehouse cannot ship: the payment is refunded and the order recorded.
    let (_, started) = dev.route("POST", "/orders", &order("o-1004", "4242424242424242"));
    let arn = started["executionArn"].as_str().unwrap().to_owned();
    dev.wait(Duration::from_secs(60), "the warehouse to refuse", |d| {
        let out = d.script(&["warehouse.py", "--wait", "1", "--fail", "OutOfStock"]);
        out.contains("o-1004: refused").then_some(())
    });
    let failed = dev.ended(&arn);
    assert_eq!(failed["error"], "OutOfStock", "{failed}");
    assert!(dev.logs("payments").contains("refund pay_"));
    let dead = dev.messages("failed-orders");
    assert_eq!(dead[0]["order"]["orderId"], "o-1004");

    // Dev stopped (Ctrl-C) while an order waits for the warehouse, and started again: the
    // order still waits, and the warehouse got its message once.
    let (_, started) = dev.route("POST", "/orders", &order("o-1005", "4242424242424242"));
    let arn = started["executionArn"].as_str().unwrap().to_owned();
    let history = format!("/v1/executions/{}/history", encode(&arn));
    dev.wait(
        Duration::from_secs(60),
        "the order to reach the warehouse",
        |d| {
            let (_, h) = d.call("GET", &history, None);
            h.to_string().contains("TaskSubmitted").then_some(())
        },
    );
    dev.restart();
    let shipped = dev.wait(Duration::from_secs(60), "the warehouse to ship", |d| {
        let out = d.script(&["warehouse.py", "--wait", "1"]);
        out.contains("o-1005: shipped").then_some(out)
    });
    assert_eq!(shipped.matches("o-1005").count(), 1, "{shipped}");
    assert_eq!(dev.ended(&arn)["status"], "SUCCEEDED");
    let again = dev.script(&["warehouse.py", "--wait", "1"]);
    assert!(again.contains("no order is waiting"), "{again}");

    // Bad input on the route is refused at the door.
    let (status, body) = dev.route("POST", "/orders", "{not json");
    assert_eq!(status, 400, "{body}");

    // What the terminal showed while this ran.
    let out = dev.output();
    assert!(out.contains("o-1001"), "function logs are streamed:\n{out}");
    assert!(
        out.contains("succeeded") || out.contains("SUCCEEDED"),
        "executions are streamed:\n{out}"
    );
}

#[test]
fn iot_sensors() {
    // A sensor and a client id of this test's own, on the machine's Mosquitto.
    let sensor = format!("t{}", std::process::id());
    let mut dev = Dev::start("iot-sensors", |m| {
        m.replace(
            "cirrus-iot-sensors",
            &format!("cirrus-iot-test-{}", std::process::id()),
        )
    });
    // The source subscribes once it has connected.
    dev.wait(Duration::from_secs(30), "the MQTT source to connect", |d| {
        let (_, v) = d.call("GET", "/v1/sources/sensors", None);
        v.to_string().contains("connected").then_some(())
    });
    dev.script(&["sensor.py", &sensor, "24.5"]);
    dev.wait(Duration::from_secs(30), "the reading to be checked", |d| {
        d.logs("check-reading")
            .contains(&format!("{sensor}: 24.5"))
            .then_some(())
    });
    dev.script(&["sensor.py", &sensor, "47.5", "--humidity", "20"]);
    let alerts = dev.messages("alerts");
    let ours: Vec<&Value> = alerts.iter().filter(|a| a["sensor"] == sensor).collect();
    assert_eq!(
        ours.len(),
        1,
        "one alert, for the hot reading only: {alerts:?}"
    );
    assert_eq!(ours[0]["severity"], "critical");
    assert_eq!(ours[0]["temperature"], 47.5);
    assert!(
        dev.logs("page")
            .contains(&format!("CRITICAL: {sensor} is at 47.5"))
    );
    // A reading that is not one: retried twice, then kept as a dead letter; no alert.
    // Published with the example's own MQTT client (sensor.py only sends numbers).
    dev.script(&[
        "-c",
        &format!(
            "import sensor; c = sensor.Mqtt('127.0.0.1', 1883); \
             c.publish('sensors/{sensor}/readings', b'{{\"temperature\": \"hot\"}}'); c.close()"
        ),
    ]);
    let dead = dev.wait(Duration::from_secs(60), "the dead letter", |d| {
        let (_, v) = d.call("GET", "/v1/functions/check-reading/dead-letters", None);
        v.to_string()
            .contains("temperature must be a number")
            .then_some(v)
    });
    assert!(dead.to_string().contains(&sensor), "{dead}");
    assert!(
        dev.logs("check-reading")
            .matches("temperature must be a number")
            .count()
            >= 3
    );
    let (_, more) = dev.call(
        "POST",
        "/v1/queues/alerts/receive",
        Some(&json!({"max": 10, "waitSeconds": 1})),
    );
    assert!(
        !more.to_string().contains(&sensor),
        "no alert for it: {more}"
    );
}

#[test]
fn scheduled_report() {
    let mut dev = Dev::start("scheduled-report", |m| m);
    // A report now, for a given day, the way the README runs one.
    let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args([
            "start",
            "report",
            "--input",
            r#"{"day": "2026-11-01"}"#,
            "--wait",
        ])
        .env("CIRRUS_ENDPOINT", &dev.endpoint)
        .env("CIRRUS_TOKEN", &dev.token)
        .output()
        .expect("cirrus start");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Sales on 2026-11-01"), "{text}");
    let first = dev.messages("reports");
    assert_eq!(first[0]["day"], "2026-11-01");

    // The schedule: moved to a few seconds from now by editing the manifest, which dev
    // notices and deploys; the report it fires covers yesterday.
    let at = utc_in(10);
    let manifest = dev.dir.join("cirrus.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text
        .replace("cron(0 8 * * ? *)", &format!("at({at})"))
        .replace("Europe/Berlin", "UTC");
    std::fs::write(&manifest, text).unwrap();
    let report = dev.messages("reports");
    let yesterday = &yesterday_utc();
    assert_eq!(report[0]["day"], *yesterday, "{report:?}");
    assert!(
        report[0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("Sales on {yesterday}")))
    );
}

/// `yyyy-mm-ddThh:mm:ss` in UTC, `secs` from now.
fn utc_in(secs: i64) -> String {
    let now = support::now_ms() / 1000 + secs;
    let (days, rem) = (now.div_euclid(86_400), now.rem_euclid(86_400));
    let (y, m, d) = cirrus_asl::timestamp::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn yesterday_utc() -> String {
    let days = support::now_ms() / 1000 / 86_400 - 1;
    let (y, m, d) = cirrus_asl::timestamp::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The examples' Rust functions keep their logic in modules that build on the host; their
/// unit tests run here, so that the README's test command runs them too.
#[test]
fn example_functions_unit_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for krate in [
        "order-pipeline/functions/validate",
        "scheduled-report/functions/summarize",
    ] {
        let out = Command::new("cargo")
            .args(["test", "--quiet", "--manifest-path"])
            .arg(root.join(krate).join("Cargo.toml"))
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("examples-host"),
            )
            .output()
            .expect("cargo test runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{krate}: cargo test failed:\n{text}");
        assert!(
            text.contains("test result: ok"),
            "{krate} ran no test:\n{text}"
        );
    }
}
