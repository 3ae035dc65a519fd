//! Hostile requests against every AWS-protocol operation and the native API: wrong
//! types, missing and oversized fields, junk tokens and ARNs, deep nesting, random JSON.
//! Every answer must be a clear 4xx in the API's error shape (or a success), never a 5xx,
//! a hang or a dropped connection.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cirrus_server::sigv4::{self, Credentials};
use cirrus_server::{Node, NodeOptions};
use serde_json::{Value, json};

const OPERATIONS: &[&str] = &[
    "CreateStateMachine",
    "UpdateStateMachine",
    "DescribeStateMachine",
    "ListStateMachines",
    "DeleteStateMachine",
    "ValidateStateMachineDefinition",
    "PublishStateMachineVersion",
    "ListStateMachineVersions",
    "DeleteStateMachineVersion",
    "CreateStateMachineAlias",
    "DescribeStateMachineAlias",
    "UpdateStateMachineAlias",
    "DeleteStateMachineAlias",
    "ListStateMachineAliases",
    "DescribeStateMachineForExecution",
    "StartExecution",
    "StartSyncExecution",
    "DescribeExecution",
    "ListExecutions",
    "StopExecution",
    "RedriveExecution",
    "GetExecutionHistory",
    "CreateActivity",
    "DescribeActivity",
    "ListActivities",
    "DeleteActivity",
    "GetActivityTask",
    "SendTaskSuccess",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "NoSuchOperation",
];

const FIELDS: &[&str] = &[
    "name",
    "definition",
    "roleArn",
    "type",
    "stateMachineArn",
    "executionArn",
    "activityArn",
    "input",
    "output",
    "taskToken",
    "error",
    "cause",
    "maxResults",
    "nextToken",
    "reverseOrder",
    "statusFilter",
    "publish",
    "routingConfiguration",
    "stateMachineAliasArn",
    "stateMachineVersionArn",
    "revisionId",
    "workerName",
    "includeExecutionData",
    // Lambda's
    "FunctionName",
    "Runtime",
    "Handler",
    "Code",
    "ZipFile",
    "MemorySize",
    "Timeout",
    "Environment",
    "Variables",
    "Publish",
    "FunctionVersion",
    "RoutingConfig",
    "AdditionalVersionWeights",
    "ReservedConcurrentExecutions",
    "MaximumRetryAttempts",
    "DestinationConfig",
    "RevisionId",
    "Cirrus",
    // EventBridge's
    "Entries",
    "Source",
    "DetailType",
    "Detail",
    "EventBusName",
    "Name",
    "EventPattern",
    "ScheduleExpression",
    "State",
    "Rule",
    "Targets",
    "Id",
    "Arn",
    "Ids",
    "Input",
    "InputPath",
    "InputTransformer",
    "InputPathsMap",
    "InputTemplate",
    "RetryPolicy",
    "DeadLetterConfig",
    "ArchiveName",
    "EventSourceArn",
    "RetentionDays",
    "ReplayName",
    "Destination",
    "EventStartTime",
    "EventEndTime",
    "Event",
    "Time",
    "Resources",
];

const EVENTS_OPERATIONS: &[&str] = &[
    "PutEvents",
    "TestEventPattern",
    "CreateEventBus",
    "DescribeEventBus",
    "DeleteEventBus",
    "ListEventBuses",
    "PutRule",
    "DescribeRule",
    "ListRules",
    "DeleteRule",
    "EnableRule",
    "DisableRule",
    "PutTargets",
    "RemoveTargets",
    "ListTargetsByRule",
    "CreateArchive",
    "UpdateArchive",
    "DescribeArchive",
    "DeleteArchive",
    "ListArchives",
    "StartReplay",
    "DescribeReplay",
    "ListReplays",
    "CancelReplay",
    "NoSuchOperation",
];

struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn value(&mut self, depth: u32) -> Value {
        let arn_like = [
            "arn:aws:states:us-east-1:000000000000:stateMachine:m",
            "arn:aws:states:us-east-1:000000000000:stateMachine:m:1",
            "arn:aws:states:us-east-1:000000000000:stateMachine:m:live",
            "arn:aws:states:us-east-1:000000000000:execution:m:e",
            "arn:aws:states:us-east-1:000000000000:activity:a",
            "arn:aws:states:::",
            "arn:::::::::::::",
            "arn:aws:events:us-east-1:000000000000:event-bus/default",
            "arn:aws:events:us-east-1:000000000000:archive/a",
            "arn:aws:sqs:us-east-1:000000000000:q",
            r#"{"source": ["s"], "detail": {"n": [{"numeric": [">", 1]}]}}"#,
            r#"{"source": [{"wildcard": "****************************************"}]}"#,
            "rate(1 minute)",
            "cron(0 0 31 2 ? *)",
            "http://127.0.0.1:1/x",
            "",
            "\u{0000}\u{ffff}",
        ];
        match self.below(if depth > 3 { 6 } else { 9 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => json!(-(self.below(1000) as i64)),
            4 => json!(arn_like[self.below(arn_like.len() as u64) as usize]),
            5 => json!("x".repeat(self.below(3000) as usize)),
            6 => json!(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#),
            7 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(5) {
                    let k = FIELDS[self.below(FIELDS.len() as u64) as usize];
                    m.insert(k.into(), self.value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }
}

async fn start(name: &str) -> (Arc<Node>, String) {
    let dir = std::env::temp_dir().join(format!("cirrus-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut options = NodeOptions::new(&dir);
    options.max_request_bytes = 64 * 1024;
    options.engine.activity_poll = Duration::from_millis(50);
    let node = Node::open(options).await.expect("node");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let serving = node.clone();
    tokio::spawn(async move {
        let _ = cirrus_server::serve(serving, listener, std::future::pending()).await;
    });
    (node, endpoint)
}

/// Sends one signed AWS-protocol request; returns the status and body.
async fn aws(
    http: &reqwest::Client,
    node: &Node,
    endpoint: &str,
    operation: &str,
    body: &[u8],
) -> (u16, Value) {
    let target = if operation.contains('.') {
        operation.to_owned()
    } else {
        format!("AWSStepFunctions.{operation}")
    };
    let host = endpoint.trim_start_matches("http://");
    let mut headers = http::HeaderMap::new();
    headers.insert("host", host.parse().unwrap());
    headers.insert("x-amz-target", target.parse().unwrap());
    headers.insert(
        "content-type",
        "application/x-amz-json-1.0".parse().unwrap(),
    );
    let creds = Credentials {
        access_key_id: node.credentials.access_key_id.clone(),
        secret_access_key: node.credentials.secret_access_key.clone(),
    };
    sigv4::sign(
        "POST",
        "/",
        None,
        &mut headers,
        body,
        &creds,
        "us-east-1",
        "states",
        SystemTime::now(),
    );
    headers.remove("host");
    let resp = http
        .post(format!("{endpoint}/"))
        .headers(headers)
        .body(body.to_vec())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{operation}: no answer ({e})"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn check(operation: &str, body: &[u8], status: u16, answer: &Value) {
    let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    assert!(
        status < 500,
        "{operation} answered {status} to {shown}: {answer}"
    );
    if status >= 400 {
        assert!(
            answer["__type"].is_string() && answer["message"].is_string(),
            "{operation}: a {status} without AWS's error shape for {shown}: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_aws_protocol_requests_get_4xx() {
    let (node, endpoint) = start("aws").await;
    let http = reqwest::Client::new();
    // Something to find, so that some requests reach deeper.
    let create = json!({"name": "m", "roleArn": "arn:aws:iam::000000000000:role/r",
        "definition": r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}"#});
    let (status, _) = aws(
        &http,
        &node,
        &endpoint,
        "CreateStateMachine",
        create.to_string().as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = aws(
        &http,
        &node,
        &endpoint,
        "CreateActivity",
        br#"{"name":"a"}"#,
    )
    .await;
    assert_eq!(status, 200);

    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let fixed: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"null".to_vec(),
        b"\xff\xfe\x00".to_vec(),
        deep.into_bytes(),
        format!(r#"{{"name": "{}"}}"#, "n".repeat(50_000)).into_bytes(),
        format!(r#"{{"name": "{}"}}"#, "n".repeat(100_000)).into_bytes(),
        br#"{"stateMachineArn": 7, "executionArn": [], "name": {}}"#.to_vec(),
        br#"{"stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:m", "input": "{\"a\":"}"#.to_vec(),
        br#"{"executionArn": "arn:aws:states:us-east-1:000000000000:execution:m:nope", "maxResults": -5, "nextToken": "zzz"}"#.to_vec(),
        br#"{"taskToken": "", "output": "{}"}"#.to_vec(),
        br#"{"routingConfiguration": [{"stateMachineVersionArn": 1, "weight": 1000}], "name": "1"}"#.to_vec(),
    ];
    let mut random = Random(0x5eed_1234_abcd_0001);
    for op in OPERATIONS {
        for body in &fixed {
            let (status, answer) = aws(&http, &node, &endpoint, op, body).await;
            check(op, body, status, &answer);
        }
        for _ in 0..40 {
            let body = random.value(0).to_string().into_bytes();
            let (status, answer) = aws(&http, &node, &endpoint, op, &body).await;
            check(op, &body, status, &answer);
        }
    }
    // The node still works (the random requests may have deleted what was made).
    let (status, answer) = aws(&http, &node, &endpoint, "ListStateMachines", b"{}").await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["stateMachines"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_eventbridge_requests_get_4xx() {
    let (node, endpoint) = start("events").await;
    let http = reqwest::Client::new();
    // A rule with a target and an archive, so that some requests reach deeper.
    for (op, body) in [
        (
            "PutRule",
            json!({"Name": "r", "EventPattern": r#"{"source": ["s"]}"#}),
        ),
        (
            "PutTargets",
            json!({"Rule": "r", "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}]}),
        ),
        (
            "CreateArchive",
            json!({"ArchiveName": "a", "EventSourceArn": "arn:aws:events:us-east-1:000000000000:event-bus/default"}),
        ),
    ] {
        let (status, answer) = aws(
            &http,
            &node,
            &endpoint,
            &format!("AWSEvents.{op}"),
            body.to_string().as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{op}: {answer}");
    }
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let deep_pattern = format!("{}{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    let fixed: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"\xff\xfe\x00".to_vec(),
        deep.into_bytes(),
        json!({"Entries": []}).to_string().into_bytes(),
        json!({"Entries": (0..11).map(|_| json!({"Source": "s", "DetailType": "d", "Detail": "{}"})).collect::<Vec<_>>()}).to_string().into_bytes(),
        json!({"Entries": [{"Source": "s", "DetailType": "d", "Detail": "x".repeat(70_000)}]}).to_string().into_bytes(),
        json!({"Entries": [{"Source": 5, "DetailType": [], "Detail": {}, "Time": "yesterday", "Resources": "r"}]}).to_string().into_bytes(),
        json!({"Name": "r", "EventPattern": deep_pattern}).to_string().into_bytes(),
        json!({"Name": "r", "ScheduleExpression": "cron(99 99 * * ? *)"}).to_string().into_bytes(),
        json!({"Name": "r", "EventPattern": "{\"source\": [{\"numeric\": [\">\", \"x\"]}]}"}).to_string().into_bytes(),
        json!({"Rule": "r", "Targets": [{"Id": "t", "Arn": "arn:aws:lambda:x", "InputTransformer": {"InputPathsMap": {"a": "$$$"}, "InputTemplate": "<a"}}]}).to_string().into_bytes(),
        json!({"ReplayName": "x", "EventSourceArn": "arn:aws:events:us-east-1:000000000000:archive/a", "EventStartTime": 1e300, "EventEndTime": -1, "Destination": {"Arn": 5}}).to_string().into_bytes(),
        json!({"EventPattern": "{}", "Event": "{}"}).to_string().into_bytes(),
    ];
    let mut random = Random(0x5eed_1234_abcd_0002);
    for op in EVENTS_OPERATIONS {
        let target = format!("AWSEvents.{op}");
        for body in &fixed {
            let (status, answer) = aws(&http, &node, &endpoint, &target, body).await;
            check(op, body, status, &answer);
        }
        for _ in 0..40 {
            let body = random.value(0).to_string().into_bytes();
            let (status, answer) = aws(&http, &node, &endpoint, &target, &body).await;
            check(op, &body, status, &answer);
        }
    }
    let (status, answer) = aws(&http, &node, &endpoint, "AWSEvents.ListEventBuses", b"{}").await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["EventBuses"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_native_requests_get_4xx() {
    let (node, endpoint) = start("native").await;
    let http = reqwest::Client::new();
    let paths = [
        ("POST", "/v1/state-machines"),
        ("PUT", "/v1/state-machines/m"),
        ("POST", "/v1/state-machines/m/versions"),
        ("PUT", "/v1/state-machines/m/aliases/live"),
        ("POST", "/v1/state-machines/m/executions"),
        (
            "POST",
            "/v1/executions/arn:aws:states:us-east-1:000000000000:execution:m:e/stop",
        ),
        ("POST", "/v1/executions/not-an-arn/redrive"),
        ("GET", "/v1/executions/%00/history?from=x&limit=0"),
        ("GET", "/v1/executions?limit=-1&after=junk"),
        ("POST", "/v1/activities"),
        ("POST", "/v1/activities/a/poll?wait=1000"),
        ("POST", "/v1/events"),
        ("POST", "/v1/events?bus=nope"),
        ("PUT", "/v1/buses/b"),
        ("PUT", "/v1/buses/default/rules/r"),
        ("PUT", "/v1/buses/nope/rules/r"),
        ("POST", "/v1/patterns/test"),
        ("PUT", "/v1/schedules/s"),
        ("POST", "/v1/schedules"),
        ("PUT", "/v1/sources/s"),
        ("PUT", "/v1/webhooks/w"),
        ("GET", "/v1/dead-events?limit=-1&rule=%00"),
        ("PUT", "/v1/apps/a"),
        ("PUT", "/v1/apps/%00"),
        ("POST", "/v1/tasks/success"),
        ("POST", "/v1/tasks/failure"),
        ("POST", "/v1/tasks/heartbeat"),
        ("POST", "/v1/validate"),
        ("GET", "/v1/events?after=-1"),
        ("PUT", "/v1/functions/f"),
        ("PUT", "/v1/functions/bad%20name"),
        ("POST", "/v1/functions/f/invoke?qualifier=%00"),
        ("POST", "/v1/functions/f/invoke?async=true"),
        ("POST", "/v1/functions/f/versions"),
        ("PUT", "/v1/functions/f/aliases/live"),
        ("GET", "/v1/functions/f/logs?after=-1&wait=x"),
        ("GET", "/v1/functions/f/dead-letters?limit=0"),
        ("PUT", "/v1/routes"),
        ("DELETE", "/v1/routes?route=%FF"),
    ];
    let mut random = Random(0xfeed_0000_1111_2222);
    for (method, path) in paths {
        for _ in 0..25 {
            let body = random.value(0).to_string();
            let resp = http
                .request(method.parse().unwrap(), format!("{endpoint}{path}"))
                .bearer_auth(&node.credentials.token)
                .body(body.clone())
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: no answer ({e})"));
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            assert!(
                status < 500,
                "{method} {path} answered {status} to {body}: {text}"
            );
            if status >= 400 {
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{method} {path}: {status} not JSON: {text}"));
                assert!(v["error"]["code"].is_string(), "{method} {path}: {text}");
            }
        }
    }
}

/// Lambda's operations: method, path.
const LAMBDA: &[(&str, &str)] = &[
    ("POST", "/2015-03-31/functions"),
    ("GET", "/2015-03-31/functions/"),
    ("GET", "/2015-03-31/functions?MaxItems=0&Marker=%00"),
    ("GET", "/2015-03-31/functions/f"),
    ("GET", "/2015-03-31/functions/f?Qualifier=nope"),
    ("DELETE", "/2015-03-31/functions/f?Qualifier=1"),
    ("GET", "/2015-03-31/functions/f/configuration"),
    ("PUT", "/2015-03-31/functions/f/configuration"),
    ("PUT", "/2015-03-31/functions/f/code"),
    ("POST", "/2015-03-31/functions/f/invocations"),
    (
        "POST",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3A%3A%3A/invocations",
    ),
    ("POST", "/2015-03-31/functions/f/versions"),
    ("GET", "/2015-03-31/functions/f/versions"),
    ("POST", "/2015-03-31/functions/f/aliases"),
    ("PUT", "/2015-03-31/functions/f/aliases/live"),
    ("DELETE", "/2015-03-31/functions/f/aliases/live"),
    ("PUT", "/2017-10-31/functions/f/concurrency"),
    ("GET", "/2019-09-30/functions/f/concurrency"),
    ("PUT", "/2019-09-25/functions/f/event-invoke-config"),
    ("POST", "/2019-09-25/functions/f/event-invoke-config"),
    ("PATCH", "/2015-03-31/functions/f"),
    ("GET", "/2099-01-01/functions/f"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_lambda_requests_get_4xx() {
    let (node, endpoint) = start("lambda").await;
    let http = reqwest::Client::new();
    let host = endpoint.trim_start_matches("http://").to_owned();
    let creds = Credentials {
        access_key_id: node.credentials.access_key_id.clone(),
        secret_access_key: node.credentials.secret_access_key.clone(),
    };
    // A function to find, so that some requests reach deeper.
    let zip = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    let fixed: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"\xff\xfe".to_vec(),
        format!("{}{}", "[".repeat(30_000), "]".repeat(30_000)).into_bytes(),
        br#"{"FunctionName": "f", "Runtime": "python3.12", "Handler": "app.handler", "Code": {"ZipFile": "!!!"}}"#.to_vec(),
        format!(r#"{{"FunctionName": "f", "Runtime": "provided.al2023", "Code": {{"ZipFile": "{}"}}}}"#, base64_of(zip)).into_bytes(),
        br#"{"FunctionName": "f", "Runtime": "wasm", "Code": {"ZipFile": "AGFzbQEAAAA="}}"#.to_vec(),
        br#"{"FunctionName": "../../etc", "Code": {"S3Bucket": "b"}}"#.to_vec(),
        br#"{"MemorySize": -1, "Timeout": 1e99, "Environment": {"Variables": {"A": 1}}}"#.to_vec(),
        br#"{"ReservedConcurrentExecutions": -3, "MaximumRetryAttempts": 99}"#.to_vec(),
        br#"{"Name": "1", "FunctionVersion": "$LATEST", "RoutingConfig": {"AdditionalVersionWeights": {"2": 7}}}"#.to_vec(),
        format!(r#"{{"FunctionName": "{}"}}"#, "n".repeat(50_000)).into_bytes(),
    ];
    let mut random = Random(0x1a3b_da00_7777_0001);
    for (method, path) in LAMBDA {
        let bodies = fixed
            .iter()
            .cloned()
            .chain((0..30).map(|_| random.value(0).to_string().into_bytes()));
        for body in bodies {
            let (p, q) = path.split_once('?').unwrap_or((path, ""));
            let mut headers = http::HeaderMap::new();
            headers.insert("host", host.parse().unwrap());
            sigv4::sign(
                method,
                p,
                (!q.is_empty()).then_some(q),
                &mut headers,
                &body,
                &creds,
                "us-east-1",
                "lambda",
                SystemTime::now(),
            );
            headers.remove("host");
            let resp = http
                .request(method.parse().unwrap(), format!("{endpoint}{path}"))
                .headers(headers)
                .body(body.clone())
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: no answer ({e})"));
            let status = resp.status().as_u16();
            let error_type = resp
                .headers()
                .get("x-amzn-errortype")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            let text = resp.text().await.unwrap_or_default();
            let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            assert!(
                status < 500,
                "{method} {path} answered {status} to {shown}: {text}"
            );
            if status >= 400 {
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{method} {path}: {status} not JSON: {text}"));
                assert!(v["message"].is_string(), "{method} {path}: {text}");
                assert!(
                    error_type.is_some(),
                    "{method} {path}: {status} without x-amzn-ErrorType"
                );
            }
        }
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
