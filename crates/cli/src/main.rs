//! The `cirrus` command.
//!
//! - `cirrus asl run DEFINITION --input FILE [--functions FILE]` runs one state machine in
//!   this process ([`asl_run`]), with Lambda functions played by the stand-ins of
//!   [`standin`], and prints the result object `{"status": ..., "output" | "error", "cause"}`.
//! - `cirrus asl validate DEFINITION` prints what is wrong with a definition (exit 2) or
//!   nothing (exit 0).
//! - `cirrus serve` runs a node ([`serve`]); `cirrus env` prints the `export` lines that
//!   point the aws CLI and SDKs at it.
//! - `cirrus dev [DIR]` runs a node for an application's folder, applies its manifest on
//!   every change, and shows function logs and workflow executions as they happen
//!   ([`dev`]). Client commands run in that folder find its node.
//! - `cirrus workflow create|list`, `cirrus start`, `describe`, `history`, `stop` and
//!   `redrive` are clients of a node's native API ([`client`]); so are `cirrus deploy`,
//!   `invoke`, `logs`, `functions` and `route` ([`functions`]).
//! - `cirrus check` reads an application's `cirrus.toml` ([`manifest`]); `cirrus deploy`
//!   without a function name plans and applies it as a diff ([`desired`], [`plan`],
//!   [`apply`]), showing builds and uploads as they go ([`progress`]).
//! - `cirrus new DIR [--from EXAMPLE]` writes a project from an example built in ([`new`]).

mod apply;
mod asl_run;
mod client;
mod desired;
mod dev;
mod events;
mod functions;
mod manifest;
mod new;
mod plan;
mod progress;
mod serve;
mod standin;
mod substitutions;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cirrus",
    version,
    about = "Cirrus: event-driven serverless functions and workflows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Amazon States Language: run and validate state machines locally.
    #[command(subcommand)]
    Asl(AslCommand),
    /// JSONata: evaluate expressions as Step Functions' JSONata states do.
    #[command(subcommand)]
    Jsonata(JsonataCommand),
    /// Run a node: durable workflows on an embedded store (or PostgreSQL), with the AWS
    /// Step Functions API and the native API on one listener.
    Serve {
        #[command(flatten)]
        data: DataDir,
        /// Keep state in this PostgreSQL database instead of SQLite in the data directory.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// Where the control plane listens.
        #[arg(long, default_value = "127.0.0.1:9070")]
        listen: std::net::SocketAddr,
        /// The region the node's ARNs name.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// The largest execution input, state output or task result, in bytes.
        #[arg(long, default_value_t = 256 * 1024)]
        max_payload_bytes: usize,
        /// The largest state machine definition, in bytes.
        #[arg(long, default_value_t = 1024 * 1024)]
        max_definition_bytes: usize,
        /// The largest request body, in bytes.
        #[arg(long, default_value_t = 2 * 1024 * 1024)]
        max_request_bytes: usize,
        /// Commit without waiting for the disk to flush (SQLite `synchronous=NORMAL`):
        /// survives a crash of the node, not a power loss.
        #[arg(long)]
        fast_commits: bool,
        /// Keep the history of EXPRESS executions (in memory, for a while after they end).
        #[arg(long)]
        express_history: bool,
        /// Where user routes (HTTP requests to functions) are served.
        #[arg(long, default_value = "127.0.0.1:9080")]
        routes_listen: std::net::SocketAddr,
        /// The wait before the first retry of a failed asynchronous invocation, in
        /// milliseconds (doubling after).
        #[arg(long, default_value_t = 60_000)]
        async_retry_base_ms: u64,
        /// The wait before the first retry of a failed event delivery, in milliseconds
        /// (doubling, with jitter, up to 5 minutes).
        #[arg(long, default_value_t = 1000)]
        event_retry_base_ms: u64,
        /// Accept this access key id (with --secret-access-key) instead of the node's own.
        #[arg(long, env = "CIRRUS_ACCESS_KEY_ID", requires = "secret_access_key")]
        access_key_id: Option<String>,
        #[arg(
            long,
            env = "CIRRUS_SECRET_ACCESS_KEY",
            requires = "access_key_id",
            hide_env_values = true
        )]
        secret_access_key: Option<String>,
    },
    /// Develop an application: run a node for the folder holding cirrus.toml (state in
    /// DIR/.cirrus), apply the manifest, apply it again whenever a file changes, and show
    /// function logs and workflow executions as they happen, until Ctrl-C.
    Dev {
        /// The application's folder (holding cirrus.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where the control plane listens (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:9070")]
        listen: std::net::SocketAddr,
        /// Where user routes are served (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:9080")]
        routes_listen: std::net::SocketAddr,
    },
    /// Print the `export` lines that point the aws CLI, the AWS SDKs and cirrus at a node.
    Env {
        #[command(flatten)]
        data: DataDir,
    },
    /// State machines on a node.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Start an execution of a workflow.
    Start {
        /// The state machine's name.
        workflow: String,
        /// The input, as JSON text, or @FILE to read it from a file.
        #[arg(long)]
        input: Option<String>,
        /// The execution's name (unique per workflow); generated when omitted.
        #[arg(long)]
        name: Option<String>,
        /// Run this published version.
        #[arg(long, conflicts_with = "alias")]
        version: Option<u64>,
        /// Run the version this alias points at.
        #[arg(long)]
        alias: Option<String>,
        /// Wait for the execution to end; print its output (exit 1 unless it succeeded).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Describe an execution.
    Describe {
        execution_arn: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Show an execution's history as a timeline.
    History {
        execution_arn: String,
        /// One JSON event a line instead of the timeline.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Stop a running execution.
    Stop {
        execution_arn: String,
        #[arg(long)]
        error: Option<String>,
        #[arg(long)]
        cause: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Run a failed, timed-out or stopped execution again from where it ended.
    Redrive {
        execution_arn: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Deploy a function: a .wasm component, a .zip, a directory, or a Rust crate (built
    /// for wasm32-wasip2). Deploying unchanged code and settings changes nothing. Without
    /// a name, apply the application's manifest (--file, cirrus.toml by default): check
    /// it, then create or update everything it names.
    Deploy {
        /// The function; omitted: apply the manifest.
        #[arg(requires = "code")]
        name: Option<String>,
        /// The code: a .wasm component, a .zip, a directory, or a Rust crate.
        #[arg(long, requires = "name")]
        code: Option<PathBuf>,
        /// The manifest to apply when no function is named.
        #[arg(long, default_value = "cirrus.toml", conflicts_with = "name")]
        file: PathBuf,
        /// Print what applying the manifest would change, and change nothing.
        #[arg(long, conflicts_with = "name")]
        dry_run: bool,
        /// wasm (default for components and Rust crates), python3 (python3.12, ...),
        /// nodejs (nodejs20.x, ...), or provided (a `bootstrap` speaking the Lambda
        /// Runtime API).
        #[arg(long)]
        runtime: Option<String>,
        /// MODULE.FUNCTION for python3 and nodejs (app.handler).
        #[arg(long)]
        handler: Option<String>,
        /// Memory cap per instance, in MB (128 to 10240).
        #[arg(long)]
        memory: Option<u32>,
        /// Seconds one invocation may run (1 to 900).
        #[arg(long)]
        timeout: Option<u32>,
        /// An environment variable, NAME=VALUE (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// A host a wasm function may call (repeatable): example.com, *.example.com, host:port.
        #[arg(long = "allow-host", value_name = "HOST")]
        allow_hosts: Vec<String>,
        /// A node secret the function sees as an environment variable (repeatable).
        #[arg(long = "secret", value_name = "NAME")]
        secrets: Vec<String>,
        /// Instances kept warm when idle.
        #[arg(long)]
        min_instances: Option<u32>,
        /// The most instances at once.
        #[arg(long)]
        max_instances: Option<u32>,
        /// Seconds an idle instance lives.
        #[arg(long)]
        idle_timeout: Option<u32>,
        /// Serve this route with the function, e.g. "GET /hello" (repeatable).
        #[arg(long = "route", value_name = "ROUTE")]
        routes: Vec<String>,
        /// Also publish the result as a new version.
        #[arg(long)]
        publish: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Invoke a function and print its result (its output goes to stderr).
    Invoke {
        name: String,
        /// The event, as JSON text, or @FILE.
        #[arg(long)]
        payload: Option<String>,
        /// A version or alias.
        #[arg(long)]
        qualifier: Option<String>,
        /// Queue the event and return at once (retries and dead letters apply).
        #[arg(long = "async")]
        asynchronous: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Show invocation logs of one function or all; -f follows new ones.
    Logs {
        name: Option<String>,
        #[arg(short, long)]
        follow: bool,
        /// How many recent records to show first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        data: DataDir,
    },
    /// List functions with their live instances.
    Functions {
        #[command(flatten)]
        data: DataDir,
    },
    /// User routes (served on the routes listener, 127.0.0.1:9080 by default).
    #[command(subcommand)]
    Route(RouteCommand),
    /// The node's secrets, granted to functions by name (`cirrus deploy --secret NAME`).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Check an application's manifest (cirrus.toml): fields, files and the references
    /// between functions, workflows, routes, rules, schedules and queues. Exits 2 with
    /// every problem (FILE:LINE: FIELD: MESSAGE) if there are any.
    Check {
        #[arg(long, default_value = "cirrus.toml")]
        file: PathBuf,
    },
    /// Start a project from an example built into cirrus (order-pipeline by default):
    /// writes it into DIR (new or empty) with `[app] name` set to DIR's name.
    New {
        /// The project's directory.
        #[arg(required_unless_present = "list")]
        dir: Option<PathBuf>,
        /// The example to start from (see --list).
        #[arg(long, default_value = new::DEFAULT)]
        from: String,
        /// List the examples.
        #[arg(long, conflicts_with = "dir")]
        list: bool,
    },
    /// Put events on a bus, test patterns, see events that could not be delivered.
    #[command(subcommand)]
    Event(events::EventCommand),
    /// Rules: an event pattern or a schedule, and the targets it fires.
    #[command(subcommand)]
    Rule(events::RuleCommand),
    /// Schedules (rate, cron, at) with one target each.
    #[command(subcommand)]
    Schedule(events::ScheduleCommand),
    /// MQTT and NATS subscriptions that put messages on a bus as events.
    #[command(subcommand)]
    Source(events::SourceCommand),
    /// Signed webhooks that put requests on a bus as events.
    #[command(subcommand)]
    Webhook(events::WebhookCommand),
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Set a secret; the value comes from --value or, safer, from stdin.
    Set {
        name: String,
        #[arg(long)]
        value: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the secrets' names.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    Delete {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum RouteCommand {
    /// Route requests like "GET /orders/{id}" to a function, or like "POST /orders" to a
    /// workflow (STANDARD: 202 with the execution; EXPRESS: 200 with its output).
    Add {
        route: String,
        /// The function (the same as --function).
        #[arg(value_name = "FUNCTION", conflicts_with_all = ["function", "workflow"])]
        target: Option<String>,
        /// The function the route runs (NAME or NAME:QUALIFIER).
        #[arg(long, value_name = "NAME", conflicts_with = "workflow")]
        function: Option<String>,
        /// The state machine the route starts, with the request body as input.
        #[arg(long, value_name = "NAME")]
        workflow: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    List {
        #[command(flatten)]
        data: DataDir,
    },
    Delete {
        route: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(clap::Args)]
pub(crate) struct DataDir {
    /// The node's data directory (default: $CIRRUS_DATA, else the `.cirrus` of a
    /// `cirrus dev` running in this folder or one above it, else ~/.local/share/cirrus).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

impl DataDir {
    /// The data directory of the node a client command talks to.
    pub(crate) fn path(&self) -> PathBuf {
        if let Some(d) = &self.data {
            return d.clone();
        }
        if std::env::var_os("CIRRUS_DATA").is_none()
            && let Ok(here) = std::env::current_dir()
            && let Some(d) = dev::running_in(&here)
        {
            return d;
        }
        serve::default_data_dir()
    }

    /// The data directory `cirrus serve` keeps its state in.
    fn serve_path(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(serve::default_data_dir)
    }
}

#[derive(Subcommand)]
enum WorkflowCommand {
    /// Create a state machine from a definition file, or update it if it exists.
    Create {
        name: String,
        /// The definition (ASL JSON).
        #[arg(long)]
        definition: PathBuf,
        /// STANDARD (durable, the default) or EXPRESS (in memory).
        #[arg(long = "type", value_parser = ["STANDARD", "EXPRESS"])]
        kind: Option<String>,
        /// Also publish the result as a new version.
        #[arg(long)]
        publish: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the node's state machines.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum JsonataCommand {
    /// Evaluate one case of the JSONata test suite format
    /// (`{"expr", "data", "undefined_input", "bindings", "timelimit"?, "depth"?}`) and print
    /// `{"result": ...}`, `{"undefined": true}` or `{"error": CODE, "message": ...}`.
    Eval {
        /// The case file (JSON).
        case: PathBuf,
    },
}

#[derive(Subcommand)]
enum AslCommand {
    /// Run one execution of a state machine in this process and print its result as JSON.
    Run {
        /// The state machine definition (ASL JSON).
        definition: PathBuf,
        /// The execution input (a JSON file); `{}` when omitted.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Lambda functions the definition calls, described as data (a JSON array of
        /// `{name, arn, behaviour, ...}`: echo, constant, raise, delay, oversized_payload).
        #[arg(long)]
        functions: Option<PathBuf>,
        /// Also print the execution history, one JSON event a line, before the result.
        #[arg(long)]
        history: bool,
    },
    /// Check a definition as Step Functions would; print the problems, exit 2 if any.
    Validate {
        /// The state machine definition (ASL JSON).
        definition: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cirrus: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve {
            data,
            postgres,
            listen,
            region,
            max_payload_bytes,
            max_definition_bytes,
            max_request_bytes,
            fast_commits,
            express_history,
            routes_listen,
            async_retry_base_ms,
            event_retry_base_ms,
            access_key_id,
            secret_access_key,
        } => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
                .init();
            serve::serve(serve::ServeArgs {
                data: data.serve_path(),
                postgres,
                listen,
                region,
                max_payload_bytes,
                max_definition_bytes,
                max_request_bytes,
                fast_commits,
                express_history,
                routes_listen,
                async_retry_base: std::time::Duration::from_millis(async_retry_base_ms),
                event_retry_base: std::time::Duration::from_millis(event_retry_base_ms),
                given_keys: access_key_id.zip(secret_access_key),
            })
        }
        Command::Dev {
            dir,
            listen,
            routes_listen,
        } => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
                .init();
            dev::dev(dev::DevArgs {
                dir,
                listen,
                routes_listen,
            })
        }
        Command::Env { data } => serve::env(&data.path()),
        Command::Workflow(WorkflowCommand::Create {
            name,
            definition,
            kind,
            publish,
            data,
        }) => {
            let text = read(&definition, MAX_DEFINITION)?;
            let c = client::Client::discover(&data.path())?;
            client::create_workflow(&c, &name, &text, kind.as_deref(), publish)
        }
        Command::Workflow(WorkflowCommand::List { data }) => {
            client::list_workflows(&client::Client::discover(&data.path())?)
        }
        Command::Start {
            workflow,
            input,
            name,
            version,
            alias,
            wait,
            data,
        } => {
            let input = match input {
                Some(i) => Some(match i.strip_prefix('@') {
                    Some(file) => {
                        let path = Path::new(file);
                        parse_json(&read(path, MAX_INPUT)?, path)?
                    }
                    None => serde_json::from_str(&i).context("--input is not valid JSON")?,
                }),
                None => None,
            };
            let c = client::Client::discover(&data.path())?;
            client::start(
                &c,
                client::Start {
                    workflow: &workflow,
                    input,
                    name: name.as_deref(),
                    version,
                    alias: alias.as_deref(),
                    wait,
                },
            )
        }
        Command::Describe {
            execution_arn,
            data,
        } => client::describe(&client::Client::discover(&data.path())?, &execution_arn),
        Command::History {
            execution_arn,
            json,
            data,
        } => client::history(
            &client::Client::discover(&data.path())?,
            &execution_arn,
            json,
        ),
        Command::Stop {
            execution_arn,
            error,
            cause,
            data,
        } => client::stop(
            &client::Client::discover(&data.path())?,
            &execution_arn,
            error.as_deref(),
            cause.as_deref(),
        ),
        Command::Redrive {
            execution_arn,
            data,
        } => client::redrive(&client::Client::discover(&data.path())?, &execution_arn),
        Command::Deploy {
            name: None,
            file,
            dry_run,
            data,
            ..
        } => {
            let manifest = match manifest::Manifest::load(&file) {
                Ok(m) => m,
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    return Ok(ExitCode::from(2));
                }
            };
            let dir = file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let client = client::Client::discover(&data.path())?;
            if dry_run {
                apply::deploy(&client, &manifest, dir, true)
            } else {
                apply::apply(&client, &manifest, dir)
            }
        }
        Command::Deploy {
            name: Some(name),
            code: None,
            ..
        } => anyhow::bail!("deploying function {name} needs --code PATH"),
        Command::Deploy {
            name: Some(name),
            code: Some(code),
            file: _,
            dry_run: _,
            runtime,
            handler,
            memory,
            timeout,
            env,
            allow_hosts,
            secrets,
            min_instances,
            max_instances,
            idle_timeout,
            routes,
            publish,
            data,
        } => functions::deploy(
            &client::Client::discover(&data.path())?,
            functions::Deploy {
                name,
                code,
                runtime,
                handler,
                memory,
                timeout,
                env,
                allow_hosts,
                secrets,
                min_instances,
                max_instances,
                idle_timeout,
                routes,
                publish,
            },
        ),
        Command::Invoke {
            name,
            payload,
            qualifier,
            asynchronous,
            data,
        } => {
            let payload = match payload {
                Some(p) => Some(match p.strip_prefix('@') {
                    Some(file) => parse_json(&read(Path::new(file), MAX_INPUT)?, Path::new(file))?,
                    None => serde_json::from_str(&p).context("--payload is not valid JSON")?,
                }),
                None => None,
            };
            functions::invoke(
                &client::Client::discover(&data.path())?,
                &name,
                payload,
                qualifier.as_deref(),
                asynchronous,
            )
        }
        Command::Logs {
            name,
            follow,
            limit,
            data,
        } => functions::logs(
            &client::Client::discover(&data.path())?,
            name.as_deref(),
            follow,
            limit.clamp(1, 1000),
        ),
        Command::Functions { data } => functions::list(&client::Client::discover(&data.path())?),
        Command::Route(RouteCommand::Add {
            route,
            target,
            function,
            workflow,
            data,
        }) => {
            let target = match (target.or(function), workflow) {
                (Some(f), None) => functions::RouteTo::Function(f),
                (None, Some(w)) => functions::RouteTo::Workflow(w),
                _ => anyhow::bail!("say what the route runs: --function NAME or --workflow NAME"),
            };
            functions::add_route(&client::Client::discover(&data.path())?, &route, &target)
        }
        Command::Route(RouteCommand::List { data }) => {
            functions::list_routes(&client::Client::discover(&data.path())?)
        }
        Command::Route(RouteCommand::Delete { route, data }) => {
            functions::delete_route(&client::Client::discover(&data.path())?, &route)
        }
        Command::Secret(SecretCommand::Set { name, value, data }) => {
            functions::set_secret(&client::Client::discover(&data.path())?, &name, value)
        }
        Command::Secret(SecretCommand::List { data }) => {
            functions::list_secrets(&client::Client::discover(&data.path())?)
        }
        Command::Secret(SecretCommand::Delete { name, data }) => {
            functions::delete_secret(&client::Client::discover(&data.path())?, &name)
        }
        Command::Check { file } => match manifest::Manifest::load(&file) {
            Ok(m) => {
                println!("{}: {}", file.display(), m.summary());
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                for p in &problems {
                    eprintln!("{p}");
                }
                Ok(ExitCode::from(2))
            }
        },
        Command::New { list: true, .. } => new::list(),
        Command::New {
            dir: Some(dir),
            from,
            ..
        } => new::new(&dir, &from),
        Command::New { dir: None, .. } => anyhow::bail!("cirrus new needs a directory"),
        Command::Event(cmd) => events::event(cmd),
        Command::Rule(cmd) => events::rule(cmd),
        Command::Schedule(cmd) => events::schedule(cmd),
        Command::Source(cmd) => events::source(cmd),
        Command::Webhook(cmd) => events::webhook(cmd),
        Command::Asl(AslCommand::Run {
            definition,
            input,
            functions,
            history,
        }) => {
            let definition = read(&definition, MAX_DEFINITION)?;
            let input = match input {
                Some(path) => parse_json(&read(&path, MAX_INPUT)?, &path)?,
                None => serde_json::json!({}),
            };
            let functions = match functions {
                Some(path) => {
                    standin::Functions::parse(&parse_json(&read(&path, MAX_FUNCTIONS)?, &path)?)
                        .with_context(|| format!("in {}", path.display()))?
                }
                None => standin::Functions::default(),
            };
            asl_run::run(&definition, input, functions, history)
        }
        Command::Jsonata(JsonataCommand::Eval { case }) => {
            let case_value = parse_json(&read(&case, MAX_INPUT)?, &case)?;
            println!("{}", jsonata_eval(&case_value));
            Ok(ExitCode::SUCCESS)
        }
        Command::Asl(AslCommand::Validate { definition }) => {
            let text = read(&definition, MAX_DEFINITION)?;
            match cirrus_asl::StateMachine::parse(&text) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(errors) => {
                    for e in errors {
                        println!(
                            "{}: {} at {}",
                            e.code,
                            e.message,
                            if e.location.is_empty() {
                                "/"
                            } else {
                                &e.location
                            }
                        );
                    }
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

/// The largest files `cirrus asl` reads: AWS's limits on definitions (1 MiB) and execution
/// inputs (256 KiB), with room for whitespace; function descriptions are small.
const MAX_DEFINITION: u64 = 2 << 20;
const MAX_INPUT: u64 = 1 << 20;
const MAX_FUNCTIONS: u64 = 16 << 20;

/// Reads a file of at most `limit` bytes.
/// `cirrus jsonata eval`: one expression, its input and bindings, from a case file.
fn jsonata_eval(case: &serde_json::Value) -> serde_json::Value {
    use cirrus_asl::jsonata::{Expression, Limits};
    use serde_json::json;
    let Some(expr) = case.get("expr").and_then(|v| v.as_str()) else {
        return json!({"error": "Cirrus.BadCase", "message": "the case has no \"expr\" string"});
    };
    let input = if case.get("undefined_input").and_then(|v| v.as_bool()) == Some(true) {
        None
    } else {
        Some(case.get("data").cloned().unwrap_or(serde_json::Value::Null))
    };
    let mut limits = Limits::default();
    if let Some(ms) = case.get("timelimit").and_then(|v| v.as_u64()) {
        limits.timeout_ms = ms;
    }
    if let Some(depth) = case.get("depth").and_then(|v| v.as_u64()) {
        limits.max_depth = usize::try_from(depth).unwrap_or(usize::MAX);
    }
    let bindings: Vec<(&str, &serde_json::Value)> = case
        .get("bindings")
        .and_then(|b| b.as_object())
        .map(|b| b.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default();
    let mut rng = cirrus_asl::random::Rng::from_seed(std::process::id().into());
    let result =
        Expression::compile(expr).and_then(|e| e.eval(input.as_ref(), &bindings, &mut rng, limits));
    match result {
        Ok(Some(v)) => json!({ "result": v }),
        Ok(None) => json!({ "undefined": true }),
        Err(e) => json!({ "error": e.code, "message": e.message }),
    }
}

fn read(path: &Path, limit: u64) -> Result<String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.len() as u64 > limit {
        anyhow::bail!("{} is larger than {limit} bytes", path.display());
    }
    Ok(text)
}

fn parse_json(text: &str, path: &Path) -> Result<serde_json::Value> {
    serde_json::from_str(text).with_context(|| format!("{} is not valid JSON", path.display()))
}
