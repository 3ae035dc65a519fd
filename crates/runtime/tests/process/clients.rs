//! The real Runtime API clients: awslambdaric (PyPI) and Rust's `lambda_runtime`.

use super::*;

const RIC_APP: &str = r#"
import os

def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    print("ric handling", context.aws_request_id)
    return {"pid": os.getpid(), "function": context.function_name, "echo": event}
"#;

fn ric_spec(root: &Scratch) -> FunctionSpec {
    let venv = venv_with(&["awslambdaric"]);
    let mut spec = spec(ProcessRuntime::Provided, root.path(), "app.handler");
    spec.environment
        .insert("VENV".into(), venv.to_string_lossy().into_owned());
    spec
}

fn ric_code() -> Scratch {
    code(&[
        ("app.py", RIC_APP),
        (
            "bootstrap",
            "#!/bin/sh\nexec \"$VENV/bin/python\" -m awslambdaric \"$_HANDLER\"\n",
        ),
    ])
}

#[tokio::test]
async fn awslambdaric_success_error_and_reuse() {
    let root = ric_code();
    let spec = ric_spec(&root);
    let (mut instance, _work) = start(&spec).await;
    let pid = instance.pid();
    for i in 0..10 {
        let invocation = event(&format!(r#"{{"i":{i}}}"#));
        let id = invocation.request_id.clone();
        let outcome = instance.invoke(&spec, invocation).await;
        let reply = reply_json(&outcome);
        assert_eq!(
            reply["pid"], pid,
            "exec keeps the pid, and the process is reused"
        );
        assert_eq!(reply["function"], "orders");
        assert_eq!(reply["echo"]["i"], i);
        assert!(
            outcome.logs.contains(&format!("ric handling {id}")),
            "{}",
            outcome.logs
        );
    }
    let outcome = instance.invoke(&spec, event(r#"{"fail":true}"#)).await;
    let e = error(&outcome);
    assert_eq!(
        e.error_type, "ValueError",
        "read from the body: awslambdaric sends no header"
    );
    assert_eq!(e.message, "asked to fail");
    reply_json(&instance.invoke(&spec, event("{}")).await);
    instance.stop().await;
}

// ---------------------------------------------------------------------------------------
// lambda_runtime, the real Rust client

#[tokio::test]
async fn lambda_rust_success_error_and_reuse() {
    let root = lambda_rust_code();
    let spec = spec(ProcessRuntime::Provided, root.path(), "unused");
    let (mut instance, _work) = start(&spec).await;
    let pid = instance.pid();
    for i in 0..10 {
        let invocation = event(&format!(r#"{{"i":{i}}}"#));
        let id = invocation.request_id.clone();
        let outcome = instance.invoke(&spec, invocation).await;
        let reply = reply_json(&outcome);
        assert_eq!(reply["echo"]["i"], i);
        assert_eq!(reply["function"], "orders");
        assert_eq!(reply["request_id"], id.as_str());
        assert_eq!(reply["pid"], pid);
        assert_eq!(outcome.logs, format!("lambda-rust handling {id}\n"));
    }
    let outcome = instance.invoke(&spec, event(r#"{"fail":true}"#)).await;
    let e = error(&outcome);
    assert!(e.message.contains("asked to fail"), "{e:?}");
    assert_eq!(
        e.error_type, "unhandled",
        "lambda_runtime's type for a boxed error"
    );
    reply_json(&instance.invoke(&spec, event(r#"{"after":"error"}"#)).await);
    instance.stop().await;
}
