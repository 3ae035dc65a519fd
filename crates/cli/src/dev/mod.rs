//! `cirrus dev [DIR]`: the loop a user runs while writing an application.
//!
//! It starts a node in this process ([`crate::serve::start`]) with its state in
//! `DIR/.cirrus` (SQLite, the credentials and `node.json`, which client commands run in
//! `DIR` find through [`running_in`]). It checks and applies `DIR/cirrus.toml`
//! ([`crate::manifest`], [`crate::apply`]), prints a banner (where the node listens, each
//! route as a URL, the manifest's `[app] try` hints), and then, until Ctrl-C:
//!
//! - [`watch`] polls the folder's files and, once a change has been quiet for a moment,
//!   the manifest is checked and applied again. A problem or a failed build is reported and
//!   the previous deployment keeps running;
//! - [`follow`] tails function logs and workflow executions through the node's native API,
//!   printed as [`show`] formats them.
//!
//! Ctrl-C (SIGINT or SIGTERM) stops the node as `cirrus serve` stops and removes
//! `node.json`.

mod follow;
mod show;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::client::Client;
use crate::manifest::Manifest;
use crate::serve::{RunningNode, ServeArgs};
use show::Style;

/// How often the folder is scanned.
const SCAN_EVERY: Duration = Duration::from_millis(200);
/// How long changes must be quiet before they are applied.
const QUIET: Duration = Duration::from_millis(300);

pub struct DevArgs {
    pub dir: PathBuf,
    pub listen: SocketAddr,
    pub routes_listen: SocketAddr,
}

/// The data directory of a `cirrus dev` running for `dir` or a folder above it.
pub fn running_in(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().find_map(|d| {
        let data = d.join(".cirrus");
        let running = d.join("cirrus.toml").is_file()
            && data.join("node.json").is_file()
            // The node holds this lock while it runs.
            && std::fs::File::open(data.join("node.lock"))
                .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        running.then_some(data)
    })
}

pub fn dev(args: DevArgs) -> Result<ExitCode> {
    let dir = args.dir;
    if !dir.is_dir() {
        bail!(
            "{} is not a folder: pass the folder that holds the application's cirrus.toml",
            dir.display()
        );
    }
    let manifest = dir.join("cirrus.toml");
    if !manifest.is_file() {
        bail!(
            "there is no cirrus.toml in {}: `cirrus dev` runs the application it describes \
             (pass its folder, or write one: see `cirrus check`)",
            dir.display()
        );
    }
    let shown_dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    let data = dir.join(".cirrus");
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot make the folder {}", data.display()))?;
    let ignore = data.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "*\n")
            .with_context(|| format!("cannot write {}", ignore.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let node = runtime.block_on(crate::serve::start(&ServeArgs {
        data: data.clone(),
        postgres: None,
        listen: args.listen,
        region: "us-east-1".into(),
        max_payload_bytes: 256 * 1024,
        max_definition_bytes: 1024 * 1024,
        max_request_bytes: 2 * 1024 * 1024,
        // Committed data survives a crash of the process, as it should; only a power cut
        // could cost the last commits of a development store.
        fast_commits: true,
        express_history: true,
        routes_listen: args.routes_listen,
        // A failed asynchronous invocation or event delivery is retried soon, to be seen.
        async_retry_base: Duration::from_secs(1),
        event_retry_base: Duration::from_secs(1),
        given_keys: None,
    }))?;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    runtime.spawn(async move {
        crate::serve::shutdown_signal().await;
        let _ = stop_tx.send(());
    });
    let api = format!("http://{}", node.api);
    let token = node.node.credentials.token.clone();
    let style = Arc::new(Style::detect());
    let reader = follow::Api {
        base: api.clone(),
        token: token.clone(),
        http: reqwest::Client::new(),
    };
    let followers = [
        runtime.spawn(follow::logs(reader.clone(), style.clone())),
        runtime.spawn(follow::executions(reader, style.clone())),
    ];
    let mut session = Session {
        client: Client::at(
            &api,
            &token,
            Some(format!("http://{}", node.routes)),
            node.node.credentials.region.clone(),
        )?,
        dir: dir.clone(),
        manifest,
        style: style.clone(),
        routes: format!("http://{}", node.routes),
        api,
        shown_routes: None,
        banner_shown: false,
    };
    session.apply();
    session.banner(&node, &shown_dir);
    let mut watcher = watch::Watcher::new(&dir, QUIET);
    // Files changed while an apply ran (an edit saved during a build) are applied once
    // more; if that follow-up finds changes again, they are what the build writes, and the
    // folder as it then is counts as unchanged.
    let mut follow_up = false;
    // Until Ctrl-C (or the signal task's end).
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(SCAN_EVERY) {
        match watcher.poll(Instant::now()) {
            Some(changed) => {
                session.changed(&changed);
                if follow_up {
                    watcher.rescan();
                }
                follow_up = !follow_up;
            }
            None if !watcher.pending() => follow_up = false,
            None => {}
        }
    }
    println!("{}", style.dev(now_ms(), "stopping the node"));
    for f in &followers {
        f.abort();
    }
    let stopped = runtime.block_on(node.stop());
    let _ = std::fs::remove_file(data.join("node.json"));
    // Ends every task, so that the last holder of the store closes it.
    runtime.shutdown_timeout(Duration::from_secs(10));
    stopped?;
    println!("{}", style.dev(now_ms(), "stopped"));
    Ok(ExitCode::SUCCESS)
}

/// The application being developed.
struct Session {
    client: Client,
    dir: PathBuf,
    manifest: PathBuf,
    style: Arc<Style>,
    api: String,
    routes: String,
    /// The routes last printed, to print them again when they change.
    shown_routes: Option<Vec<String>>,
    banner_shown: bool,
}

impl Session {
    /// Checks and applies the manifest; true if it was applied.
    fn apply(&mut self) -> bool {
        let began = Instant::now();
        let manifest = match Manifest::load(&self.manifest) {
            Ok(m) => m,
            Err(problems) => {
                for p in &problems {
                    println!("{p}");
                }
                self.say_failed(&format!(
                    "{} problem(s) in {}: fix and save; what was deployed keeps running",
                    problems.len(),
                    self.manifest.display()
                ));
                return false;
            }
        };
        let result = crate::apply::apply(&self.client, &manifest, &self.dir);
        match result {
            Ok(code) if code == ExitCode::SUCCESS => {
                let took = show::duration(began.elapsed().as_millis() as i64);
                println!(
                    "{}",
                    self.style.dev_ok(now_ms(), &format!("deployed in {took}"))
                );
                let routes = self.route_lines(&manifest);
                // The banner shows the first; later ones when they change.
                if self.banner_shown && self.shown_routes.as_ref() != Some(&routes) {
                    for r in &routes {
                        println!("    {r}");
                    }
                }
                self.shown_routes = Some(routes);
                true
            }
            Ok(_) => {
                self.say_failed("the deploy failed: what was deployed before keeps running");
                false
            }
            Err(e) => {
                self.say_failed(&format!(
                    "the deploy failed: {e:#}; what was deployed before keeps running"
                ));
                false
            }
        }
    }

    fn say_failed(&self, message: &str) {
        println!("{}", self.style.dev_failed(now_ms(), message));
    }

    /// Reports what changed and applies the manifest again.
    fn changed(&mut self, files: &[PathBuf]) {
        let mut names: Vec<String> = files
            .iter()
            .take(5)
            .map(|p| p.display().to_string())
            .collect();
        if files.len() > 5 {
            names.push(format!("and {} more", files.len() - 5));
        }
        println!(
            "{}",
            self.style.dev(
                now_ms(),
                &format!("changed: {}; deploying again", names.join(", "))
            )
        );
        self.apply();
    }

    /// `POST http://127.0.0.1:9080/orders → function accept` for each route.
    fn route_lines(&self, manifest: &Manifest) -> Vec<String> {
        manifest
            .routes
            .iter()
            .map(|r| {
                let r = r.get_ref();
                let (method, path) = r
                    .route
                    .get_ref()
                    .split_once(' ')
                    .unwrap_or(("ANY", r.route.get_ref()));
                let target = match (&r.function, &r.workflow) {
                    (Some(f), _) => format!("function {}", f.get_ref()),
                    (None, Some(w)) => format!("workflow {}", w.get_ref()),
                    (None, None) => "nothing".to_owned(),
                };
                format!("{method} {}{} → {target}", self.routes, path.trim())
            })
            .collect()
    }

    fn banner(&mut self, node: &RunningNode, dir: &Path) {
        let manifest = Manifest::load(&self.manifest).ok();
        let name = manifest
            .as_ref()
            .and_then(|m| m.app.as_ref())
            .map_or("", |a| a.name.as_str());
        println!();
        println!(
            "cirrus dev {name}: node running, state in {}",
            dir.join(".cirrus").display()
        );
        println!(
            "  API     {}   (cirrus commands run in this folder use it)",
            self.api
        );
        println!("  Routes  http://{}", node.routes);
        if let Some(m) = &manifest {
            for r in self.route_lines(m) {
                println!("    {r}");
            }
            let hints = m.app.as_ref().map(|a| a.try_commands.as_slice());
            if let Some(hints) = hints.filter(|h| !h.is_empty()) {
                let cwd = std::env::current_dir().ok();
                let cd = (cwd.as_deref() != Some(dir)).then(|| {
                    let shown = cwd
                        .as_deref()
                        .and_then(|c| dir.strip_prefix(c).ok())
                        .unwrap_or(dir);
                    shell_word(&shown.display().to_string())
                });
                let places = Places {
                    routes: &self.routes,
                    api: &self.api,
                    cirrus: &cirrus_command(),
                };
                println!("Try, in another shell:");
                for line in hint_lines(hints, cd.as_deref(), &places) {
                    println!("  {line}");
                }
            }
        }
        println!("Watching {} for changes (Ctrl-C stops)", dir.display());
        self.banner_shown = true;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What hints' placeholders stand for.
struct Places<'a> {
    /// `{routes}`: the user routes' base URL.
    routes: &'a str,
    /// `{api}`: the control plane's base URL.
    api: &'a str,
    /// `{cirrus}`: how to run this binary.
    cirrus: &'a str,
}

/// The manifest's `try` hints as printed: placeholders filled, and first a `cd` into the
/// project when dev was started from elsewhere (hints name the project's files).
fn hint_lines(hints: &[String], cd: Option<&str>, places: &Places<'_>) -> Vec<String> {
    cd.map(|d| format!("cd {d}"))
        .into_iter()
        .chain(hints.iter().map(|h| {
            h.replace("{routes}", places.routes)
                .replace("{api}", places.api)
                .replace("{cirrus}", places.cirrus)
        }))
        .collect()
}

/// `cirrus` when that name on the `PATH` is this binary, else this binary's full path
/// (as after `cargo run`, which puts nothing on the `PATH`).
fn cirrus_command() -> String {
    let Ok(me) = std::env::current_exe() else {
        return "cirrus".into();
    };
    let me = me.canonicalize().unwrap_or(me);
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|p| {
            p.join("cirrus")
                .canonicalize()
                .is_ok_and(|found| found == me)
        })
    });
    if on_path {
        "cirrus".into()
    } else {
        shell_word(&me.display().to_string())
    }
}

/// A path as one shell word.
fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_get_their_places_and_a_cd_when_started_elsewhere() {
        let places = Places {
            routes: "http://127.0.0.1:9080",
            api: "http://127.0.0.1:9070",
            cirrus: "/opt/cirrus/bin/cirrus",
        };
        let hints = vec![
            "curl -X POST {routes}/orders -d @order.json".to_owned(),
            "{cirrus} start order --wait   # via {api}".to_owned(),
        ];
        assert_eq!(
            hint_lines(&hints, Some("examples/order-pipeline"), &places),
            [
                "cd examples/order-pipeline",
                "curl -X POST http://127.0.0.1:9080/orders -d @order.json",
                "/opt/cirrus/bin/cirrus start order --wait   # via http://127.0.0.1:9070",
            ]
        );
        assert_eq!(hint_lines(&hints, None, &places).len(), 2);
    }

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(
            shell_word("examples/order-pipeline"),
            "examples/order-pipeline"
        );
        assert_eq!(shell_word("my shop"), "'my shop'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
