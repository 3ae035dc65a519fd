//! Runtimes that misbehave: they must be refused or fail cleanly, never confuse the host.

use super::*;

#[tokio::test]
async fn runtime_that_exits_at_once_is_an_init_error_with_its_output() {
    let root = code(&[(
        "bootstrap",
        "#!/bin/sh\necho 'config is broken' >&2\nexit 3\n",
    )]);
    let (t, m) = init_error(&spec(ProcessRuntime::Provided, root.path(), "x")).await;
    assert_eq!(t, "Runtime.ExitError");
    assert!(m.contains("status 3"), "{m}");
    assert!(m.contains("config is broken"), "{m}");
}

#[tokio::test]
async fn missing_bootstrap_is_an_invalid_entrypoint() {
    let root = code(&[("README", "no bootstrap here")]);
    let (t, _) = init_error(&spec(ProcessRuntime::Provided, root.path(), "x")).await;
    assert_eq!(t, "Runtime.InvalidEntrypoint");
}

#[tokio::test]
async fn runtime_that_never_asks_for_work_times_out_at_init() {
    let root = code(&[("bootstrap", "#!/bin/sh\necho started\nexec sleep 60\n")]);
    let mut spec = spec(ProcessRuntime::Provided, root.path(), "x");
    spec.timeout = Duration::from_millis(500);
    let (t, m) = init_error(&spec).await;
    assert_eq!(t, "Sandbox.Timedout");
    assert!(m.contains("started"), "{m}");
}

/// A runtime written to poke at the API: it prints garbage, sends requests that must be
/// refused, answers with the wrong id, and reports the statuses it got in its real answer.
const HOSTILE: &str = r#"
import http.client, json, os, sys
sys.stdout.buffer.write(b"\x00\xffgarbage\x1b[31m\n"); sys.stdout.flush()
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
def call(method, path, body=None, headers={}):
    c = http.client.HTTPConnection(api)
    c.request(method, path, body, headers)
    r = c.getresponse()
    return r, r.read()
seen = {}
seen["unknown path"] = call("GET", "/nothing")[0].status
seen["wrong method"] = call("DELETE", "/2018-06-01/runtime/invocation/next")[0].status
seen["answer before next"] = call("POST", "/2018-06-01/runtime/invocation/x/response", b"{}")[0].status
while True:
    r, event = call("GET", "/2018-06-01/runtime/invocation/next")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    mode = json.loads(event).get("mode")
    if mode == "exit":
        print("exiting mid-invocation", file=sys.stderr, flush=True)
        os._exit(7)
    seen["wrong id"] = call("POST", "/2018-06-01/runtime/invocation/not-" + rid + "/response", b"{}")[0].status
    r, _ = call("POST", "/2018-06-01/runtime/invocation/" + rid + "/response", json.dumps(seen).encode())
    seen["twice"] = call("POST", "/2018-06-01/runtime/invocation/" + rid + "/response", b"{}")[0].status
"#;

#[tokio::test]
async fn hostile_runtime_is_refused_and_cannot_confuse_the_instance() {
    let (python, _) = support::interpreters();
    let bootstrap = format!("#!{} -S\n{HOSTILE}", python.display());
    let root = code(&[("bootstrap", &bootstrap)]);
    let spec = spec(ProcessRuntime::Provided, root.path(), "x");
    let (mut instance, _work) = start(&spec).await;
    let first = reply_json(&instance.invoke(&spec, event("{}")).await);
    assert_eq!(first["unknown path"], 404);
    assert_eq!(first["wrong method"], 405);
    assert_eq!(first["answer before next"], 400);
    assert_eq!(first["wrong id"], 400);
    let second = reply_json(&instance.invoke(&spec, event("{}")).await);
    assert_eq!(second["twice"], 400, "a second answer is refused");

    let pid = instance.pid();
    let outcome = instance.invoke(&spec, event(r#"{"mode":"exit"}"#)).await;
    let e = error(&outcome);
    assert_eq!(e.error_type, "Runtime.ExitError");
    assert!(e.message.contains("status 7"), "{}", e.message);
    assert!(
        e.message.contains("exiting mid-invocation"),
        "{}",
        e.message
    );
    assert!(outcome.logs.contains("exiting mid-invocation"));
    assert!(!instance.is_alive());
    assert!(!process_exists(pid));
    instance.stop().await;
}

#[tokio::test]
async fn garbage_error_posts_and_init_errors_from_a_provided_runtime() {
    let (python, _) = support::interpreters();
    let script = format!(
        "#!{} -S\n{}",
        python.display(),
        r#"
import http.client, os
c = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
c.request("GET", "/2018-06-01/runtime/invocation/next"); r = c.getresponse(); r.read()
rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
c.request("POST", "/2018-06-01/runtime/invocation/" + rid + "/error", b"\xff not json")
c.getresponse().read()
c.request("POST", "/2018-06-01/runtime/init/error", b'{"errorType":"Late","errorMessage":"too late"}')
c.getresponse().read()
"#
    );
    let root = code(&[("bootstrap", &script)]);
    let spec = spec(ProcessRuntime::Provided, root.path(), "x");
    let (mut instance, _work) = start(&spec).await;
    let outcome = instance.invoke(&spec, event("{}")).await;
    let e = error(&outcome);
    assert_eq!(e.error_type, "Unhandled");
    assert!(e.message.contains("not json"));
    instance.stop().await;

    let root = code(&[(
        "bootstrap",
        &format!(
            "#!{} -S\n{}",
            python.display(),
            r#"
import http.client, os, sys
print("cannot load the model", file=sys.stderr, flush=True)
c = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
c.request("POST", "/2018-06-01/runtime/init/error", b'{"errorType":"Model.Missing","errorMessage":"no weights"}',
          {"Lambda-Runtime-Function-Error-Type": "Model.Missing"})
c.getresponse().read()
"#
        ),
    )]);
    let (t, m) = init_error(&support::spec(ProcessRuntime::Provided, root.path(), "x")).await;
    assert_eq!(t, "Model.Missing");
    assert!(
        m.contains("no weights") && m.contains("cannot load the model"),
        "{m}"
    );
}
