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
            let definition = read(&definition)?;
            let input = match input {
                Some(path) => parse_json(&read(&path)?, &path)?,
                None => serde_json::json!({}),
            };
            let functions = match functions {
                Some(path) => standin::Functions::parse(&parse_json(&read(&path)?, &path)?)
                    .with_context(|| format!("in {}", path.display()))?,
                None => standin::Functions::default(),
            };
            asl_run::run(&definition, input, functions, history)
        }
        Command::Asl(AslCommand::Validate { definition }) => {
            let text = read(&definition)?;
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

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn parse_json(text: &str, path: &Path) -> Result<serde_json::Value> {
    serde_json::from_str(text).with_context(|| format!("{} is not valid JSON", path.display()))
}
