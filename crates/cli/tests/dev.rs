//! `cirrus dev` as a user runs it: on a folder with a Python function on a route and a
//! workflow that calls it, it deploys them, shows the function's log and the execution's
//! end, deploys again when the function's source changes, and stops cleanly on SIGINT.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{eventually, http, temp_dir};

/// The child's stdout, a line at a time, with what has been read kept: lines from
/// concurrent sources (function logs, executions) come in either order, so a wait looks
/// at every line since the last [`Output::mark`].
struct Output {
    lines: Receiver<String>,
    seen: Vec<String>,
    from: usize,
}

impl Output {
    /// Waits for a line since the mark containing every one of `needles`; returns it.
    fn wait_for(&mut self, needles: &[&str], timeout: Duration) -> String {
        let found = |line: &String| needles.iter().all(|n| line.contains(n));
        if let Some(line) = self.seen[self.from..].iter().find(|l| found(l)) {
            return line.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if found(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no line with {needles:?} in {timeout:?}; cirrus dev printed:\n{}",
                    self.seen.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "cirrus dev ended before printing {needles:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Later waits look only at lines printed from now on.
    fn mark(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.from = self.seen.len();
    }
}

/// Kills the child if the test fails before it stopped.
struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_app(dir: &Path, greeting: &str) {
    std::fs::write(
        dir.join("fn/app.py"),
        format!(
            r#"import json

def handler(event, context):
    if "requestContext" in event:
        print("route {greeting}")
        return {{"statusCode": 200, "body": json.dumps({{"greeting": "{greeting}"}})}}
    print("task {greeting}", json.dumps(event, sort_keys=True))
    return {{"greeting": "{greeting}", "order": event.get("order")}}
"#
        ),
    )
    .unwrap();
}

#[test]
fn cirrus_dev_deploys_shows_and_redeploys_an_application() {
    let dir = temp_dir("dev-app");
    std::fs::create_dir_all(dir.join("fn")).unwrap();
    write_app(&dir, "hello v1");
    std::fs::write(
        dir.join("flow.json"),
        json!({
            "StartAt": "Greet",
            "States": {
                "Greet": {
                    "Type": "Task",
                    "Resource": "arn:aws:lambda:us-east-1:000000000000:function:greet",
                    "Next": "Done"
                },
                "Done": { "Type": "Pass", "End": true }
            }
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("cirrus.toml"),
        r#"[app]
name = "greeter"
try = ["curl -X POST {routes}/greet", "curl {api}/health"]

[functions.greet]
runtime = "python3"
source = "fn"
handler = "app.handler"

[workflows.greeting]
definition = "flow.json"

[[routes]]
route = "POST /greet"
function = "greet"
"#,
    )
    .unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .arg("dev")
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--routes-listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cirrus dev starts");
    let mut dev = Dev(child);
    let stdout = dev.0.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Output {
        lines: rx,
        seen: Vec::new(),
        from: 0,
    };

    // The node records where it listens in DIR/.cirrus, which git is told to leave alone.
    let pid = u64::from(dev.0.id());
    let node: Value = eventually(Duration::from_secs(60), "DIR/.cirrus/node.json", || {
        let text = std::fs::read_to_string(dir.join(".cirrus/node.json")).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        (v["pid"].as_u64() == Some(pid)).then_some(v)
    });
    let api = node["endpoint"].as_str().unwrap().to_owned();
    let routes = node["routes"].as_str().unwrap().to_owned();
    assert_eq!(
        std::fs::read_to_string(dir.join(".cirrus/.gitignore")).unwrap(),
        "*\n"
    );

    // The banner: each route as a URL, the hints with the base URLs in them.
    out.wait_for(&["deployed in"], Duration::from_secs(120));
    out.wait_for(
        &[&format!("POST {routes}/greet"), "function greet"],
        Duration::from_secs(5),
    );
    out.wait_for(&["Try, in another shell:"], Duration::from_secs(5));
    out.wait_for(
        &[&format!("curl -X POST {routes}/greet")],
        Duration::from_secs(5),
    );
    out.wait_for(&[&format!("curl {api}/health")], Duration::from_secs(5));
    out.wait_for(&["Watching", "(Ctrl-C stops)"], Duration::from_secs(5));

    // A request on the route: the answer, and the function's log line.
    let (status, body) = http(&routes, "POST", "/greet", None, Some(b"{}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["greeting"], "hello v1");
    out.wait_for(&["greet", "| route hello v1"], Duration::from_secs(10));

    // An execution, started by a client command run in the folder (it finds the dev node).
    let started = Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(["start", "greeting", "--input", r#"{"order": 7}"#])
        .current_dir(&dir)
        .env_remove("CIRRUS_DATA")
        .env_remove("CIRRUS_ENDPOINT")
        .env_remove("CIRRUS_TOKEN")
        .output()
        .expect("cirrus start runs");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let execution: Value = serde_json::from_slice(&started.stdout).unwrap();
    let short: String = execution["name"]
        .as_str()
        .unwrap()
        .chars()
        .take(8)
        .collect();
    out.wait_for(
        &["greeting", &short, "▶ started", r#"{"order":7}"#],
        Duration::from_secs(10),
    );
    out.wait_for(
        &["| task hello v1", r#"{"order": 7}"#],
        Duration::from_secs(10),
    );
    out.wait_for(&["greeting", &short, "→ Greet"], Duration::from_secs(10));
    out.wait_for(&["greeting", &short, "← Greet"], Duration::from_secs(10));
    let end = out.wait_for(
        &["greeting", &short, "✔ succeeded in"],
        Duration::from_secs(10),
    );
    assert!(end.contains(r#""greeting":"hello v1""#), "{end}");

    // An edit of the function: deployed again, and the route answers the new way.
    out.mark();
    write_app(&dir, "hello again");
    out.wait_for(&["changed: fn/app.py"], Duration::from_secs(10));
    out.wait_for(&["deployed in"], Duration::from_secs(60));
    let (status, body) = http(&routes, "POST", "/greet", None, Some(b"{}"));
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["greeting"], "hello again");
    out.wait_for(&["| route hello again"], Duration::from_secs(10));

    // A broken manifest is reported with its line; what was deployed keeps serving.
    out.mark();
    let manifest = std::fs::read_to_string(dir.join("cirrus.toml")).unwrap();
    std::fs::write(
        dir.join("cirrus.toml"),
        manifest.replace("runtime = \"python3\"", "runtime = \"cobol\""),
    )
    .unwrap();
    out.wait_for(
        &["cirrus.toml:6: functions.greet.runtime", "'cobol'"],
        Duration::from_secs(10),
    );
    out.wait_for(&["what was deployed keeps running"], Duration::from_secs(5));
    let (status, _) = http(&routes, "POST", "/greet", None, Some(b"{}"));
    assert_eq!(status, 200);

    // SIGINT: the node stops, exits 0, and no longer names itself in node.json.
    out.mark();
    let killed = Command::new("kill")
        .args(["-INT", &dev.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    out.wait_for(&["stopped"], Duration::from_secs(30));
    let status = eventually(Duration::from_secs(30), "cirrus dev to exit", || {
        dev.0.try_wait().ok().flatten()
    });
    assert!(status.success(), "cirrus dev exited with {status}");
    assert!(!dir.join(".cirrus/node.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
