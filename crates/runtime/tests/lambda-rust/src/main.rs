//! Echoes its event with the function name and request id from the context, and fails when
//! the event is `{"fail": true}`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    println!("lambda-rust handling {}", context.request_id);
    if payload.get("fail") == Some(&Value::Bool(true)) {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "echo": payload,
        "function": context.env_config.function_name,
        "request_id": context.request_id,
        "pid": std::process::id(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
