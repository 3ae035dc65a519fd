//! `cirrus-asl`: Amazon States Language, the JSON language of AWS Step Functions.
//!
//! No I/O and no async runtime live here: a definition goes in, effects come out.
//!
//! The path of a definition and an execution through the modules:
//!
//! 1. [`definition`] parses the JSON text into a [`definition::StateMachine`] of graphs
//!    (the top level, Parallel branches, Map processors) of [`states`], validating it as
//!    strictly as Step Functions does; each state type has its file under [`states`].
//!    Expressions inside are compiled once: [`path`] (JSONPath as Step Functions evaluates
//!    it, and what expressions read: [`path::Scope`]), [`intrinsic`] (`States.*` functions),
//!    [`jsonata`] (JSONata expressions, for states whose `QueryLanguage` is JSONata),
//!    [`payload`] (`Parameters`, `ResultSelector`, `ItemSelector` and `Assign` templates, and
//!    JSONata's `{% %}` templates),
//!    [`choice`] (Choice rules) and [`retry`] (`Retry` and `Catch`).
//! 2. [`interpreter`] runs an execution of it, sans IO: it hands out effects (invoke, sleep,
//!    finished), takes results back, builds the context object ([`context`]) and counts
//!    history events ([`interpreter::history`]). Its whole state serializes.
//! 3. Around them: [`timestamp`] (ISO-8601 instants), [`random`] (the seeded generator an
//!    execution carries) and [`error`] (run-time failures and validation errors).

pub mod choice;
pub mod context;
pub mod definition;
pub mod error;
pub mod interpreter;
pub mod intrinsic;
pub mod jsonata;
pub mod path;
pub mod payload;
pub mod random;
pub mod retry;
pub mod states;
pub mod timestamp;

pub use definition::StateMachine;
pub use error::{Failure, ValidationError};
pub use interpreter::{Effect, Execution, Invocation, Options, Outcome, TaskId, TimerId};
