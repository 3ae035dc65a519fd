//! Routes that start workflows, as a user makes and calls them: `cirrus route add
//! --workflow`, `cirrus route list`, and HTTP requests on the routes listener that start a
//! STANDARD execution (202) or run an EXPRESS one to its output (200, or 500 when it
//! fails); a body that is not JSON is a 400.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{NodeProcess, cirrus, encode, eventually, ok, temp_dir};

fn machine(node: &NodeProcess, name: &str, kind: &str, definition: Value) {
    let (s, v) = node.call(
        "POST",
        "/v1/state-machines",
        Some(&json!({ "name": name, "type": kind, "definition": definition })),
    );
    assert_eq!(s, 201, "{v}");
}

/// POSTs `body` to a user route: (status, JSON body).
async fn post(
    http: &reqwest::Client,
    node: &NodeProcess,
    path: &str,
    body: &str,
    name: Option<&str>,
) -> (u16, Value) {
    let mut r = http
        .post(format!("{}{path}", node.routes))
        .body(body.to_owned());
    if let Some(n) = name {
        r = r.header("X-Cirrus-Execution-Name", n);
    }
    let resp = r.send().await.expect("the routes listener answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_start_standard_and_run_express_workflows() {
    let node = NodeProcess::start(&temp_dir("workflow-routes"), &[]);
    machine(
        &node,
        "order",
        "STANDARD",
        json!({ "StartAt": "Accept", "States": { "Accept": { "Type": "Pass", "Parameters": { "accepted.$": "$" }, "End": true } } }),
    );
    machine(
        &node,
        "quote",
        "EXPRESS",
        json!({ "StartAt": "Price", "States": { "Price": { "Type": "Pass", "Parameters": { "item.$": "$.item", "price": 12 }, "End": true } } }),
    );
    machine(
        &node,
        "refuse",
        "EXPRESS",
        json!({ "StartAt": "No", "States": { "No": { "Type": "Fail", "Error": "Refused", "Cause": "out of stock" } } }),
    );

    ok(
        &cirrus(
            &node,
            &["route", "add", "POST /orders", "--workflow", "order"],
        ),
        "route add --workflow",
    );
    ok(
        &cirrus(
            &node,
            &["route", "add", "POST /quote", "--workflow", "quote"],
        ),
        "route add --workflow",
    );
    // The native API takes what the manifest sends.
    let (s, v) = node.call(
        "PUT",
        "/v1/routes",
        Some(&json!({ "route": "POST /refuse", "workflow": "refuse" })),
    );
    assert_eq!(
        (s, &v),
        (
            200,
            &json!({ "route": "POST /refuse", "workflow": "refuse" })
        )
    );
    let (s, v) = node.call(
        "PUT",
        "/v1/routes",
        Some(&json!({ "route": "POST /x", "workflow": "no-such-flow" })),
    );
    assert_eq!(s, 404, "{v}");
    assert!(v.to_string().contains("no-such-flow"), "{v}");
    let (s, v) = node.call(
        "PUT",
        "/v1/routes",
        Some(&json!({ "route": "POST /x", "workflow": "order", "function": "f" })),
    );
    assert_eq!(s, 400, "{v}");
    // The old positional form still names a function.
    let out = cirrus(&node, &["route", "add", "GET /x", "no-such-fn"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-fn"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = ok(&cirrus(&node, &["route", "list"]), "route list");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("POST /orders") && l.ends_with("workflow order")),
        "{listed}"
    );
    let (_, v) = node.call("GET", "/v1/routes", None);
    assert!(
        v["routes"]
            .as_array()
            .unwrap()
            .contains(&json!({ "route": "POST /quote", "workflow": "quote" })),
        "{v}"
    );

    let http = reqwest::Client::new();
    // STANDARD: 202 with the execution, which runs on with the body as input.
    let (s, v) = post(&http, &node, "/orders", r#"{"id": 7}"#, Some("order-7")).await;
    assert_eq!(s, 202, "{v}");
    let arn = v["executionArn"]
        .as_str()
        .expect("an execution ARN")
        .to_owned();
    assert!(arn.ends_with(":execution:order:order-7"), "{arn}");
    assert!(v["startDate"].is_number(), "{v}");
    let done = eventually(Duration::from_secs(20), "the execution to succeed", || {
        let (_, x) = node.call("GET", &format!("/v1/executions/{}", encode(&arn)), None);
        (x["status"] == "SUCCEEDED").then_some(x)
    });
    assert_eq!(done["output"], json!({ "accepted": { "id": 7 } }));
    // The same name again names an execution that exists.
    let (s, _) = post(&http, &node, "/orders", "{}", Some("order-7")).await;
    assert_eq!(s, 409);
    // An empty body is `{}`.
    let (s, v) = post(&http, &node, "/orders", "", None).await;
    assert_eq!(s, 202, "{v}");
    let arn = v["executionArn"].as_str().unwrap().to_owned();
    let done = eventually(Duration::from_secs(20), "the execution to succeed", || {
        let (_, x) = node.call("GET", &format!("/v1/executions/{}", encode(&arn)), None);
        (x["status"] == "SUCCEEDED").then_some(x)
    });
    assert_eq!(done["output"], json!({ "accepted": {} }));
    // A body that is not JSON is refused, saying why.
    let (s, v) = post(&http, &node, "/orders", "{id: 7", None).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("JSON"), "{v}");

    // EXPRESS: the output is the answer.
    let (s, v) = post(&http, &node, "/quote", r#"{"item": "lamp"}"#, None).await;
    assert_eq!((s, v), (200, json!({ "item": "lamp", "price": 12 })));
    let (s, v) = post(&http, &node, "/refuse", "{}", None).await;
    assert_eq!(
        (s, v),
        (500, json!({ "error": "Refused", "cause": "out of stock" }))
    );

    // A workflow deleted under its route.
    let (s, _) = node.call("DELETE", "/v1/state-machines/quote", None);
    assert!((200..300).contains(&s));
    let (s, v) = post(&http, &node, "/quote", "{}", None).await;
    assert_eq!(s, 404, "{v}");
    assert!(v["message"].as_str().unwrap().contains("'quote'"), "{v}");
}
