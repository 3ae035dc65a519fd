//! Running the real `cirrus serve` binary in tests: start it on a free port with a data
//! directory of its own, talk to it, kill it with SIGKILL, start it again.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cirrus-e2e-{}-{name}-{}",
        std::process::id(),
        now_ms()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A node process.
pub struct NodeProcess {
    pub data: PathBuf,
    pub args: Vec<String>,
    pub child: Option<Child>,
    pub endpoint: String,
    /// Where user routes are served.
    pub routes: String,
    pub token: String,
    /// Keep the data directory when dropped (for a node started again on it).
    pub keep_data: bool,
}

impl NodeProcess {
    /// Starts `cirrus serve --data DATA --listen 127.0.0.1:0 ARGS...` and waits until it
    /// answers.
    pub fn start(data: &Path, args: &[&str]) -> NodeProcess {
        let mut n = NodeProcess {
            data: data.to_owned(),
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
            endpoint: String::new(),
            routes: String::new(),
            token: String::new(),
            keep_data: false,
        };
        n.launch();
        n
    }

    fn launch(&mut self) {
        let _ = std::fs::remove_file(self.data.join("node.json"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("node.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .arg("serve")
            .arg("--data")
            .arg(&self.data)
            .args(["--listen", "127.0.0.1:0", "--routes-listen", "127.0.0.1:0"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cirrus serve starts");
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(self.data.join("node.json"))
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && v["pid"].as_u64() == Some(u64::from(pid))
            {
                self.endpoint = v["endpoint"].as_str().unwrap_or_default().to_owned();
                self.routes = v["routes"].as_str().unwrap_or_default().to_owned();
                break;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "the node exited with {status} before it listened; its log:\n{}",
                    std::fs::read_to_string(self.data.join("node.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the node did not start in 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(self.data.join("credentials.json")).expect("credentials"),
        )
        .expect("credentials JSON");
        self.token = creds["token"].as_str().unwrap_or_default().to_owned();
    }

    /// SIGKILL: no shutdown, no flushing.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the node (if it still runs) and starts it again on the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// SIGINT, as Ctrl-C: the node stops cleanly; waits until it exited, successfully.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let sent = Command::new("kill")
            .args(["-INT", &c.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGINT was not sent");
        let status = eventually(Duration::from_secs(30), "the node to stop", || {
            c.try_wait().ok().flatten()
        });
        assert!(status.success(), "the node exited with {status}");
    }

    /// Environment variables that point the aws CLI and SDKs at the node (`cirrus env`).
    pub fn aws_env(&self) -> Vec<(String, String)> {
        let out = Command::new(env!("CARGO_BIN_EXE_cirrus"))
            .args(["env", "--data"])
            .arg(&self.data)
            .env("CIRRUS_ENDPOINT", &self.endpoint)
            .output()
            .expect("cirrus env");
        assert!(out.status.success(), "cirrus env failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Calls the native API: (status, JSON body or Null).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_with(method, path, body, Some(&self.token))
    }

    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let text = body.map(Value::to_string);
        let (status, raw) = http(
            &self.endpoint,
            method,
            path,
            token,
            text.as_deref().map(str::as_bytes),
        );
        let value = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw)
                .unwrap_or(Value::String(String::from_utf8_lossy(&raw).into_owned()))
        };
        (status, value)
    }
}

impl Drop for NodeProcess {
    /// Kills the node; its data directory stays only when the test failed, for its log.
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() && !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data);
        }
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
pub fn http(
    endpoint: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, Vec<u8>) {
    let host = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect to the node");
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let body = body.unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    s.write_all(body).expect("send body");
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let mut out = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).expect("chunk");
            out.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        out.resize(n, 0);
        reader.read_exact(&mut out).expect("body");
    } else {
        reader.read_to_end(&mut out).ok();
    }
    (status, out)
}

/// Polls `f` until it returns Some, or panics after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One call received by a [`Service`].
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub body: Value,
    pub at_ms: i64,
}

/// A microservice for HTTP Tasks: answers every POST with `{"ok": true, "echo": body}`,
/// after `delay` (with status 500 on paths starting `/fail`), and records each call.
pub struct Service {
    pub url: String,
    pub calls: Arc<Mutex<Vec<Call>>>,
}

impl Service {
    pub fn start(delay: Duration) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let recorded = calls.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = recorded.clone();
                std::thread::spawn(move || serve_connection(stream, &recorded, delay));
            }
        });
        Service { url, calls }
    }
}

fn serve_connection(stream: TcpStream, calls: &Mutex<Vec<Call>>, delay: Duration) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let failing = path.starts_with("/fail");
        calls.lock().unwrap().push(Call {
            path,
            body: body.clone(),
            at_ms: now_ms(),
        });
        std::thread::sleep(delay);
        let reply = serde_json::json!({ "ok": true, "echo": body }).to_string();
        // `/fail...` answers 500, for delivery retries.
        let status = if failing {
            "500 Internal Server Error"
        } else {
            "200 OK"
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if writer.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// The venv with boto3, the aws CLI and awslambdaric: `$CIRRUS_VENV`, else
/// `~/.cache/cirrus/venv`, made (from PyPI) if it is missing.
pub fn venv() -> PathBuf {
    let dir = match std::env::var_os("CIRRUS_VENV") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/cirrus/venv"),
    };
    let ready = dir.join("bin/aws").exists()
        && Command::new(dir.join("bin/python"))
            .args(["-c", "import boto3, awslambdaric"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let lock = dir.with_extension("lock");
        std::fs::create_dir_all(dir.parent().expect("parent")).ok();
        // Two test binaries may get here at once; the first makes the venv.
        let _guard = FileLock::take(&lock);
        if !dir.join("bin/python").exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "python3 -m venv failed");
        }
        let ok = Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "boto3", "awscli", "awslambdaric"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install boto3 awscli awslambdaric failed");
    }
    dir
}

/// An exclusive lock held while the file exists (created with create_new).
struct FileLock(PathBuf);

impl FileLock {
    fn take(path: &Path) -> FileLock {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return FileLock(path.to_owned()),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fresh PostgreSQL schema (`CIRRUS_TEST_POSTGRES`, default the machine's server), made
/// with psql and dropped when the test passes.
pub struct Schema {
    base: String,
    name: String,
    /// The URL that puts a node in the schema.
    pub url: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = Command::new("psql")
                .arg(&self.base)
                .args(["-q", "-c"])
                .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub fn postgres_schema(name: &str) -> Schema {
    let base = std::env::var("CIRRUS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("{name}_{}_{}", std::process::id(), now_ms());
    let ok = Command::new("psql")
        .arg(&base)
        .args(["-q", "-c"])
        .arg(format!("CREATE SCHEMA {schema}"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "cannot create a schema in PostgreSQL at {base} (is it running?)"
    );
    Schema {
        url: format!("{base}?options=-csearch_path%3D{schema}"),
        base,
        name: schema,
    }
}

/// Builds `examples/functions/hello-wasm` for wasm32-wasip2 (installing the target if it
/// is missing) in the tests' own target directory, and returns the component.
#[allow(dead_code)]
pub fn hello_component() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/functions/hello-wasm");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests");
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
        .unwrap_or(false);
    if !installed {
        let ok = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "rustup target add wasm32-wasip2 failed");
    }
    let ok = Command::new("cargo")
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "building {} failed", dir.display());
    target.join("wasm32-wasip2/release/hello_wasm.wasm")
}

/// The stdout of a command that must have succeeded (else its output, in the panic).
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cirrus ARGS --data DATA` against `node`.
pub fn cirrus(node: &NodeProcess, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cirrus"))
        .args(args)
        .arg("--data")
        .arg(&node.data)
        .output()
        .expect("cirrus runs")
}

/// Percent-encodes a path segment or query value (an ARN in a URL, say): everything but
/// RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
