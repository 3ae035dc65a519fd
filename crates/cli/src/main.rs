//! The `cirrus` command.
//!
//! - `cirrus asl run DEFINITION --input FILE [--functions FILE]` runs one state machine in
//!   this process ([`asl_run`]), with Lambda functions played by the stand-ins of
//!   [`standin`], and prints the result object `{"status": ..., "output" | "error", "cause"}`.
//! - `cirrus asl validate DEFINITION` prints what is wrong with a definition (exit 2) or
//!   nothing (exit 0).

mod asl_run;
mod standin;

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
