//! Cirrus's built-in Python runtime.

use super::*;

const PY_APP: &str = r#"
import os, time

class OrderRejected(Exception):
    pass

def handler(event, context):
    action = event.get("action")
    if action == "context":
        return {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "client_context": context.client_context.custom if context.client_context else None,
            "identity": context.identity.cognito_identity_id,
            "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        }
    if action == "raise":
        raise OrderRejected("order 42 is out of stock")
    if action == "print":
        print("hello from", event["n"])
        return {"printed": event["n"]}
    if action == "env":
        return {"env": dict(os.environ), "cwd": os.getcwd()}
    if action == "sleep":
        import subprocess
        child = subprocess.Popen(["sleep", "60"])
        print("child", child.pid, flush=True)
        time.sleep(event["seconds"])
    if action == "allocate":
        hog = bytearray(event["mb"] * 1024 * 1024)
        return len(hog)
    if action == "big":
        return "x" * (7 * 1024 * 1024)
    return {"pid": os.getpid(), "echo": event}
"#;

fn python_spec(root: &Scratch) -> FunctionSpec {
    spec(ProcessRuntime::Python3, root.path(), "app.handler")
}

#[tokio::test]
async fn python_handler_returns_a_dict_and_sees_its_context() {
    let root = code(&[("app.py", PY_APP)]);
    let spec = python_spec(&root);
    let (mut instance, _work) = start(&spec).await;

    let mut invocation = event(r#"{"action":"context"}"#);
    invocation.client_context = Some("eyJjdXN0b20iOnsiayI6InYifX0=".into()); // {"custom":{"k":"v"}}
    invocation.trace_id = Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1".into());
    let request_id = invocation.request_id.clone();
    let outcome = instance.invoke(&spec, invocation).await;
    let context = reply_json(&outcome);
    assert_eq!(context["function_name"], "orders");
    assert_eq!(context["function_version"], "$LATEST");
    assert_eq!(
        context["invoked_function_arn"],
        "arn:aws:lambda:eu-west-1:000000000000:function:orders"
    );
    assert_eq!(context["memory_limit_in_mb"], "128");
    assert_eq!(context["aws_request_id"], request_id.as_str());
    assert_eq!(context["log_group_name"], "/aws/lambda/orders");
    assert!(
        context["log_stream_name"]
            .as_str()
            .unwrap()
            .contains("[$LATEST]")
    );
    let remaining = context["remaining"].as_u64().unwrap();
    assert!(remaining > 9_000 && remaining <= 10_000, "{remaining}");
    assert_eq!(context["client_context"], json!({"k": "v"}));
    assert_eq!(context["identity"], Value::Null);
    assert_eq!(
        context["trace"],
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"
    );
    assert!(!outcome.cold_start);
    assert!(outcome.duration < Duration::from_secs(1));

    let echo = reply_json(&instance.invoke(&spec, event(r#"{"a":[1,2]}"#)).await);
    assert_eq!(echo["echo"], json!({"a": [1, 2]}));
    instance.stop().await;
}

#[tokio::test]
async fn python_exception_is_a_function_error_named_by_its_class() {
    let root = code(&[("app.py", PY_APP)]);
    let spec = python_spec(&root);
    let (mut instance, _work) = start(&spec).await;
    let outcome = instance.invoke(&spec, event(r#"{"action":"raise"}"#)).await;
    let e = error(&outcome);
    assert_eq!(e.error_type, "OrderRejected");
    assert_eq!(e.message, "order 42 is out of stock");
    let doc: Value = serde_json::from_slice(&e.body).unwrap();
    assert_eq!(doc["errorType"], "OrderRejected");
    assert!(doc["stackTrace"][0].as_str().unwrap().contains("app.py"));
    assert!(
        outcome
            .logs
            .contains("OrderRejected: order 42 is out of stock")
    );
    // A handled error leaves the instance serving.
    assert!(instance.is_alive());
    reply_json(&instance.invoke(&spec, event("{}")).await);
    instance.stop().await;
}

#[tokio::test]
async fn python_print_shows_in_that_invocations_logs_only() {
    let root = code(&[("app.py", PY_APP)]);
    let spec = python_spec(&root);
    let (mut instance, _work) = start(&spec).await;
    for n in 0..20 {
        let outcome = instance
            .invoke(&spec, event(&format!(r#"{{"action":"print","n":{n}}}"#)))
            .await;
        assert_eq!(reply_json(&outcome)["printed"], n);
        // Exactly this invocation's line: nothing late, nothing from the one before.
        assert_eq!(outcome.logs, format!("hello from {n}\n"));
    }
    instance.stop().await;
}

#[tokio::test]
async fn python_instance_is_reused_across_50_invocations() {
    let root = code(&[("app.py", PY_APP)]);
    let spec = python_spec(&root);
    let (mut instance, work) = start(&spec).await;
    let pid = instance.pid();
    for i in 0..50 {
        let reply = reply_json(
            &instance
                .invoke(&spec, event(&format!(r#"{{"i":{i}}}"#)))
                .await,
        );
        assert_eq!(reply["pid"], pid);
        assert_eq!(reply["echo"]["i"], i);
    }
    assert!(instance.is_alive());
    let private = work.path().join("instances").join(instance.id());
    assert!(private.exists());
    instance.stop().await;
    assert!(!process_exists(pid));
    assert!(!private.exists(), "stop removes the private directory");
}

#[tokio::test]
async fn python_environment_is_clean_and_lambda_shaped() {
    // Cargo gives the test process this variable; the function must not see it.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let root = code(&[("app.py", PY_APP)]);
    let mut spec = python_spec(&root);
    spec.environment.insert("GREETING".into(), "hi".into());
    spec.environment
        .insert("AWS_REGION".into(), "spoofed".into());
    let (mut instance, work) = start(&spec).await;
    let reply = reply_json(&instance.invoke(&spec, event(r#"{"action":"env"}"#)).await);
    let env = reply["env"].as_object().unwrap();
    let mut names: Vec<&str> = env.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "AWS_DEFAULT_REGION",
            "AWS_EXECUTION_ENV",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_REGION",
            "GREETING",
            "HOME",
            "LAMBDA_RUNTIME_DIR",
            "LAMBDA_TASK_ROOT",
            "LANG",
            "PATH",
            "PYTHONUNBUFFERED",
            "TMPDIR",
            "TZ",
            "_HANDLER",
        ]
    );
    assert_eq!(env["GREETING"], "hi");
    assert_eq!(env["AWS_REGION"], "eu-west-1", "reserved variables win");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["_HANDLER"], "app.handler");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let home = env["HOME"].as_str().unwrap();
    assert!(home.starts_with(work.path().to_str().unwrap()), "{home}");
    assert_eq!(env["TMPDIR"], home);
    assert_eq!(reply["cwd"], root.path().to_str().unwrap());
    assert_eq!(env["LAMBDA_TASK_ROOT"], root.path().to_str().unwrap());
    instance.stop().await;
}

#[tokio::test]
async fn python_timeout_kills_the_process_group() {
    let root = code(&[("app.py", PY_APP)]);
    let mut spec = python_spec(&root);
    spec.timeout = Duration::from_secs(1);
    let (mut instance, _work) = start(&spec).await;
    let pid = instance.pid();
    let outcome = instance
        .invoke(&spec, event(r#"{"action":"sleep","seconds":30}"#))
        .await;
    let e = error(&outcome);
    assert_eq!(e.error_type, "Sandbox.Timedout");
    assert_eq!(e.message, "Task timed out after 1.00 seconds");
    assert!(outcome.duration >= Duration::from_secs(1));
    assert!(outcome.duration < Duration::from_secs(3));
    assert!(!instance.is_alive());
    assert!(!process_exists(pid));
    // The handler's own child (`sleep 60`) died with the group.
    let child: u32 = outcome
        .logs
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("the handler printed its child's pid");
    for _ in 0..100 {
        if !process_exists(child) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !process_exists(child),
        "the handler's child outlived the timeout"
    );
    // A dead instance says so instead of hanging.
    let again = instance.invoke(&spec, event("{}")).await;
    assert_eq!(error(&again).error_type, "Runtime.ExitError");
    instance.stop().await;
}

#[tokio::test]
async fn python_memory_cap_fails_an_allocation_past_it() {
    let root = code(&[("app.py", PY_APP)]);
    let spec = python_spec(&root); // 128 MB
    let (mut instance, _work) = start(&spec).await;
    let fits = instance
        .invoke(&spec, event(r#"{"action":"allocate","mb":32}"#))
        .await;
    assert_eq!(reply_json(&fits), json!(32 * 1024 * 1024));
    let outcome = instance
        .invoke(&spec, event(r#"{"action":"allocate","mb":400}"#))
        .await;
    let e = error(&outcome);
    assert_eq!(e.error_type, "Runtime.OutOfMemory", "{e:?}");
    assert!(
        !instance.is_alive(),
        "an instance that ran out of memory is recycled"
    );
    instance.stop().await;
}

#[tokio::test]
async fn python_oversized_response_is_refused() {
    let root = code(&[("app.py", PY_APP)]);
    let spec = python_spec(&root);
    let (mut instance, _work) = start(&spec).await;
    let outcome = instance.invoke(&spec, event(r#"{"action":"big"}"#)).await;
    assert_eq!(error(&outcome).error_type, "Function.ResponseSizeTooLarge");
    // Our bootstrap carries on after the 413.
    reply_json(&instance.invoke(&spec, event("{}")).await);
    instance.stop().await;
}

#[tokio::test]
async fn python_http_route_gets_an_api_gateway_event_and_returns_a_response() {
    let web = r#"
def handler(event, context):
    return {"statusCode": 201, "headers": {"x-path": event["rawPath"]},
            "cookies": ["a=1"], "body": event["queryStringParameters"]["q"]}
"#;
    let root = code(&[("web.py", web)]);
    let spec = spec(ProcessRuntime::Python3, root.path(), "web.handler");
    let (mut instance, _work) = start(&spec).await;
    let mut headers = http::HeaderMap::new();
    headers.insert("host", "api.example.com".parse().unwrap());
    let invocation = Invocation {
        payload: Payload::Http(HttpRequest {
            method: http::Method::GET,
            uri: "/orders/42?q=found".parse().unwrap(),
            headers,
            body: Bytes::new(),
            route_key: "GET /orders/{id}".into(),
            path_parameters: [("id".to_owned(), "42".to_owned())].into(),
            source_ip: "127.0.0.1".into(),
        }),
        ..event("{}")
    };
    let outcome = instance.invoke(&spec, invocation).await;
    let Ok(Reply::Http(response)) = &outcome.result else {
        panic!("expected an HTTP reply, got {:?}", outcome.result);
    };
    assert_eq!(response.status, 201);
    assert_eq!(response.headers["x-path"], "/orders/42");
    assert_eq!(response.headers["set-cookie"], "a=1");
    assert_eq!(response.body, "found");
    instance.stop().await;
}

#[tokio::test]
async fn python_nested_handler_path() {
    let root = code(&[(
        "src/orders/app.py",
        "def handler(event, context):\n    return 'nested'\n",
    )]);
    let spec = spec(
        ProcessRuntime::Python3,
        root.path(),
        "src/orders/app.handler",
    );
    let (mut instance, _work) = start(&spec).await;
    assert_eq!(
        reply_json(&instance.invoke(&spec, event("{}")).await),
        "nested"
    );
    instance.stop().await;
}

#[tokio::test]
async fn python_site_packages_are_added_when_the_handler_needs_them() {
    // The bootstrap runs with -S; `pip` lives in the interpreter's site-packages.
    let root = code(&[(
        "app.py",
        "import sys, pip\ndef handler(event, context):\n    return [pip.__name__, 'site' in sys.modules]\n",
    )]);
    let spec = spec(ProcessRuntime::Python3, root.path(), "app.handler");
    let (mut instance, _work) = start(&spec).await;
    let reply = reply_json(&instance.invoke(&spec, event("{}")).await);
    assert_eq!(reply, json!(["pip", true]));
    instance.stop().await;
}

#[tokio::test]
async fn python_init_errors() {
    let root = code(&[
        ("app.py", PY_APP),
        ("broken.py", "import no_such_package\n"),
        ("raises.py", "raise RuntimeError('config missing')\n"),
    ]);
    let (t, m) = init_error(&spec(
        ProcessRuntime::Python3,
        root.path(),
        "missing.handler",
    ))
    .await;
    assert_eq!(t, "Runtime.ImportModuleError");
    assert!(m.contains("Unable to import module 'missing'"), "{m}");
    let (t, m) = init_error(&spec(
        ProcessRuntime::Python3,
        root.path(),
        "broken.handler",
    ))
    .await;
    assert_eq!(t, "Runtime.ImportModuleError");
    assert!(m.contains("No module named 'no_such_package'"), "{m}");
    let (t, m) = init_error(&spec(ProcessRuntime::Python3, root.path(), "app.nope")).await;
    assert_eq!(t, "Runtime.HandlerNotFound");
    assert!(m.contains("Handler 'nope' missing on module 'app'"), "{m}");
    let (t, m) = init_error(&spec(
        ProcessRuntime::Python3,
        root.path(),
        "raises.handler",
    ))
    .await;
    assert_eq!(t, "RuntimeError");
    assert!(m.contains("config missing"), "{m}");
}
