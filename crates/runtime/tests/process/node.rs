//! Cirrus's built-in Node.js runtime.

use super::*;

const NODE_APP: &str = r#"
exports.asyncHandler = async (event, context) => {
  await new Promise((r) => setTimeout(r, 5));
  console.log('async for', context.awsRequestId);
  return {
    echo: event,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    remaining: context.getRemainingTimeInMillis(),
    waits: context.callbackWaitsForEmptyEventLoop,
    pid: process.pid,
  };
};

exports.callbackHandler = (event, context, callback) => {
  setTimeout(() => callback(null, { called: 'back', n: event.n }), 5);
};

exports.promiseHandler = (event) => Promise.resolve({ promised: event.n });

exports.throwing = async () => {
  class OrderRejected extends Error {}
  const e = new OrderRejected('out of stock');
  e.name = 'OrderRejected';
  throw e;
};

exports.typeError = () => null.property;

exports.callbackError = (event, context, callback) => callback(new RangeError('too far'));
"#;

fn node_spec(root: &Scratch, handler: &str) -> FunctionSpec {
    spec(ProcessRuntime::Nodejs, root.path(), handler)
}

#[tokio::test]
async fn node_async_handler_with_context() {
    let root = code(&[("index.js", NODE_APP)]);
    let spec = node_spec(&root, "index.asyncHandler");
    let (mut instance, _work) = start(&spec).await;
    let pid = instance.pid();
    for n in 0..5 {
        let invocation = event(&format!(r#"{{"n":{n}}}"#));
        let id = invocation.request_id.clone();
        let outcome = instance.invoke(&spec, invocation).await;
        let reply = reply_json(&outcome);
        assert_eq!(reply["echo"]["n"], n);
        assert_eq!(reply["functionName"], "orders");
        assert_eq!(reply["functionVersion"], "$LATEST");
        assert_eq!(
            reply["invokedFunctionArn"],
            "arn:aws:lambda:eu-west-1:000000000000:function:orders"
        );
        assert_eq!(reply["memoryLimitInMB"], "128");
        assert_eq!(reply["logGroupName"], "/aws/lambda/orders");
        assert_eq!(reply["waits"], true);
        assert!(reply["remaining"].as_u64().unwrap() > 9_000);
        assert_eq!(reply["pid"], pid);
        assert_eq!(outcome.logs, format!("async for {id}\n"));
    }
    instance.stop().await;
}

#[tokio::test]
async fn node_callback_and_promise_handlers() {
    let root = code(&[("index.js", NODE_APP)]);
    let spec = node_spec(&root, "index.callbackHandler");
    let (mut instance, _work) = start(&spec).await;
    let reply = reply_json(&instance.invoke(&spec, event(r#"{"n":7}"#)).await);
    assert_eq!(reply, json!({"called": "back", "n": 7}));
    instance.stop().await;

    let spec = node_spec(&root, "index.promiseHandler");
    let (mut instance, _work) = start(&spec).await;
    let reply = reply_json(&instance.invoke(&spec, event(r#"{"n":8}"#)).await);
    assert_eq!(reply, json!({"promised": 8}));
    instance.stop().await;
}

#[tokio::test]
async fn node_errors_are_named_by_the_error() {
    let root = code(&[
        ("index.js", NODE_APP),
        (
            "esm/app.mjs",
            "export const handler = async () => ({ esm: true });\n",
        ),
    ]);
    for (handler, error_type, message) in [
        ("index.throwing", "OrderRejected", "out of stock"),
        (
            "index.typeError",
            "TypeError",
            "Cannot read properties of null",
        ),
        ("index.callbackError", "RangeError", "too far"),
    ] {
        let spec = node_spec(&root, handler);
        let (mut instance, _work) = start(&spec).await;
        let outcome = instance.invoke(&spec, event("{}")).await;
        let e = error(&outcome);
        assert_eq!(e.error_type, error_type, "{handler}");
        assert!(e.message.contains(message), "{handler}: {}", e.message);
        let doc: Value = serde_json::from_slice(&e.body).unwrap();
        assert!(doc["stackTrace"].is_array());
        assert!(instance.is_alive());
        instance.stop().await;
    }
    let spec = node_spec(&root, "esm/app.handler");
    let (mut instance, _work) = start(&spec).await;
    assert_eq!(
        reply_json(&instance.invoke(&spec, event("{}")).await),
        json!({"esm": true})
    );
    instance.stop().await;

    let (t, _) = init_error(&node_spec(&root, "missing.handler")).await;
    assert_eq!(t, "Runtime.ImportModuleError");
    let (t, _) = init_error(&node_spec(&root, "index.nope")).await;
    assert_eq!(t, "Runtime.HandlerNotFound");
}

#[tokio::test]
async fn node_memory_cap_ends_the_instance() {
    let root = code(&[(
        "index.js",
        "exports.handler = async () => { const a = []; for (;;) a.push({ n: a.length }); };\n",
    )]);
    let spec = node_spec(&root, "index.handler"); // 128 MB
    let (mut instance, _work) = start(&spec).await;
    let outcome = instance.invoke(&spec, event("{}")).await;
    let e = error(&outcome);
    assert_eq!(
        e.error_type, "Runtime.OutOfMemory",
        "{e:?}\n{}",
        outcome.logs
    );
    assert!(!instance.is_alive());
    instance.stop().await;
}
