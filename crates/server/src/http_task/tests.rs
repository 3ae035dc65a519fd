use super::*;
use serde_json::json;
use std::io;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

/// A request as the test server received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A canned answer; `None` from the handler means "never answer".
struct Reply {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    content_length: bool,
}

impl Reply {
    fn new(status: u16, reason: &'static str, content_type: &'static str, body: &str) -> Self {
        Reply {
            status,
            reason,
            headers: vec![("Content-Type", content_type)],
            body: body.as_bytes().to_vec(),
            content_length: true,
        }
    }

    fn json(body: &str) -> Self {
        Reply::new(200, "OK", "application/json", body)
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Option<Reply> + Send + Sync>;

struct TestServer {
    base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl TestServer {
    fn last(&self) -> Recorded {
        self.requests
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("the server received a request")
    }
}

async fn serve(handler: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = Arc::new(handler);
    let recorded = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = Arc::clone(&handler);
            let recorded = Arc::clone(&recorded);
            tokio::spawn(async move {
                let _ = handle(stream, handler, recorded).await;
            });
        }
    });
    TestServer { base, requests }
}

async fn handle(
    stream: TcpStream,
    handler: Handler,
    recorded: Arc<Mutex<Vec<Recorded>>>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = read_some(&stream, &mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = read_some(&stream, &mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let request = Recorded {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    recorded.lock().expect("lock").push(request.clone());

    let Some(reply) = handler(&request) else {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return Ok(());
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nConnection: close\r\n",
        reply.status, reply.reason
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.content_length {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reply.body);
    write_all(&stream, &bytes).await
}

async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn tasks() -> HttpTasks {
    HttpTasks::new(256 * 1024)
}

fn cause_json(failure: &Failure) -> Value {
    serde_json::from_str(failure.cause.as_deref().expect("a cause")).expect("cause is JSON")
}

#[tokio::test]
async fn get_with_query_parameters() {
    let server = serve(|_| {
        let mut reply = Reply::json(r#"{"customers":[{"id":"c1"}]}"#);
        reply.headers.push(("X-Multi", "one"));
        reply.headers.push(("X-Multi", "two"));
        Some(reply)
    })
    .await;
    let params = json!({
        "ApiEndpoint": format!("{}/v1/customers/search?limit=10", server.base),
        "Method": "GET",
        "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/x/y"},
        "QueryParameters": {"currency": "usd", "q": "a b&c=d", "page": 2, "tags": ["x", "y"]}
    });
    let result = tasks().invoke(&params, None).await.expect("success");

    let request = server.last();
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.target,
        "/v1/customers/search?limit=10&currency=usd&q=a%20b%26c%3Dd&page=2\
         &tags%5B0%5D=x&tags%5B1%5D=y"
    );
    assert_eq!(request.body, "");
    assert_eq!(request.header("content-type"), None);
    assert_eq!(
        request.header("user-agent"),
        Some("Amazon|StepFunctions|HttpInvoke|local")
    );

    assert_eq!(result["StatusCode"], json!(200));
    assert_eq!(result["StatusText"], json!("OK"));
    assert_eq!(result["ResponseBody"], json!({"customers": [{"id": "c1"}]}));
    assert_eq!(
        result["Headers"]["content-type"],
        json!(["application/json"])
    );
    assert_eq!(result["Headers"]["x-multi"], json!(["one", "two"]));
    let keys: Vec<&str> = result
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["Headers", "ResponseBody", "StatusCode", "StatusText"]
    );
}

#[tokio::test]
async fn query_arrays_follow_array_format() {
    let server = serve(|_| Some(Reply::json("{}"))).await;
    let params = json!({
        "ApiEndpoint": format!("{}/items", server.base),
        "Method": "GET",
        "QueryParameters": {"id": ["1", "2"]},
        "Transform": {"RequestEncodingOptions": {"ArrayFormat": "REPEAT"}}
    });
    tasks().invoke(&params, None).await.expect("success");
    assert_eq!(server.last().target, "/items?id=1&id=2");
}

#[tokio::test]
async fn post_json_body() {
    let server = serve(|_| Some(Reply::new(201, "Created", "text/plain", "created"))).await;
    let params = json!({
        "ApiEndpoint": format!("{}/v1/orders", server.base),
        "Method": "POST",
        "RequestBody": {"Job": "Software Engineer", "Company": "AnyCompany", "n": [1, 2.5, true, null]}
    });
    let result = tasks().invoke(&params, None).await.expect("success");

    let request = server.last();
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/v1/orders");
    assert_eq!(
        request.body,
        r#"{"Job":"Software Engineer","Company":"AnyCompany","n":[1,2.5,true,null]}"#
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    assert_eq!(result["StatusCode"], json!(201));
    assert_eq!(result["StatusText"], json!("Created"));
    assert_eq!(result["ResponseBody"], json!("created"));
}

#[tokio::test]
async fn json_response_that_does_not_parse_is_text() {
    let server = serve(|_| Some(Reply::json("not json"))).await;
    let params = json!({"ApiEndpoint": server.base, "Method": "GET"});
    let result = tasks().invoke(&params, None).await.expect("success");
    assert_eq!(result["ResponseBody"], json!("not json"));
}

#[tokio::test]
async fn url_encoded_body_with_each_array_format() {
    let server = serve(|_| Some(Reply::json(r#"{"ok":true}"#))).await;
    let body = json!({
        "array": ["a", "b", "c,d"],
        "name": "John Doe",
        "meta": {"k": "v w"}
    });
    let cases = [
        (
            Some("INDICES"),
            "array%5B0%5D=a&array%5B1%5D=b&array%5B2%5D=c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
        ),
        (
            Some("REPEAT"),
            "array=a&array=b&array=c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
        ),
        (
            Some("COMMAS"),
            "array=a,b,c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
        ),
        (
            Some("BRACKETS"),
            "array%5B%5D=a&array%5B%5D=b&array%5B%5D=c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
        ),
        // INDICES is the default.
        (
            None,
            "array%5B0%5D=a&array%5B1%5D=b&array%5B2%5D=c%2Cd&name=John%20Doe&meta%5Bk%5D=v%20w",
        ),
    ];
    for (format, expected) in cases {
        let mut transform = json!({"RequestBodyEncoding": "URL_ENCODED"});
        if let Some(format) = format {
            transform["RequestEncodingOptions"] = json!({"ArrayFormat": format});
        }
        let params = json!({
            "ApiEndpoint": format!("{}/form", server.base),
            "Method": "PATCH",
            "Headers": {"Content-Type": "application/x-www-form-urlencoded"},
            "RequestBody": body,
            "Transform": transform
        });
        tasks().invoke(&params, None).await.expect("success");
        let request = server.last();
        assert_eq!(request.method, "PATCH");
        assert_eq!(request.body, expected, "ArrayFormat {format:?}");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }
}

#[tokio::test]
async fn url_encoded_body_matches_the_aws_example() {
    let server = serve(|_| Some(Reply::json("{}"))).await;
    // The AWS guide's Stripe invoice example (customer moved first: JSON order is kept).
    let params = json!({
        "ApiEndpoint": format!("{}/v1/invoices", server.base),
        "Method": "POST",
        "RequestBody": {
            "customer": "1234567890",
            "description": "Monthly subscription",
            "metadata": {"order_details": "monthly report data"}
        },
        "Transform": {
            "RequestBodyEncoding": "URL_ENCODED",
            "RequestEncodingOptions": {"ArrayFormat": "INDICES"}
        }
    });
    tasks().invoke(&params, None).await.expect("success");
    let request = server.last();
    assert_eq!(
        request.body,
        "customer=1234567890&description=Monthly%20subscription\
         &metadata%5Border_details%5D=monthly%20report%20data"
    );
    // No Content-Type in the task: the form type is supplied.
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn headers_are_passed() {
    let server = serve(|_| Some(Reply::json("{}"))).await;
    let params = json!({
        "ApiEndpoint": server.base,
        "Method": "PUT",
        "Headers": {"Request-Id": "my_request_id", "content-type": "text/plain", "Accept": "*/*"},
        "RequestBody": "raw text"
    });
    tasks()
        .with_region("eu-west-1")
        .invoke(&params, None)
        .await
        .expect("success");
    let request = server.last();
    assert_eq!(request.method, "PUT");
    assert_eq!(request.header("request-id"), Some("my_request_id"));
    assert_eq!(request.header("content-type"), Some("text/plain"));
    assert_eq!(request.header("accept"), Some("*/*"));
    assert_eq!(
        request.header("user-agent"),
        Some("Amazon|StepFunctions|HttpInvoke|eu-west-1")
    );
    // Encoding NONE sends the serialized JSON of RequestBody.
    assert_eq!(request.body, r#""raw text""#);
}

#[tokio::test]
async fn non_2xx_fails_with_status_code_error() {
    let server = serve(|_| {
        Some(Reply::new(
            404,
            "Not Found",
            "application/json",
            r#"{"message":"no such customer"}"#,
        ))
    })
    .await;
    let params =
        json!({"ApiEndpoint": format!("{}/v1/customers/x", server.base), "Method": "DELETE"});
    let failure = tasks().invoke(&params, None).await.expect_err("failure");
    assert_eq!(failure.error, "States.Http.StatusCode.404");
    let cause = cause_json(&failure);
    assert_eq!(cause["StatusCode"], json!(404));
    assert_eq!(cause["StatusText"], json!("Not Found"));
    assert_eq!(
        cause["ResponseBody"],
        json!({"message": "no such customer"})
    );
    assert_eq!(
        cause["Headers"]["content-type"],
        json!(["application/json"])
    );
    assert_eq!(server.last().method, "DELETE");

    let server = serve(|_| {
        Some(Reply::new(
            503,
            "Service Unavailable",
            "text/html",
            "<p>down</p>",
        ))
    })
    .await;
    let params = json!({"ApiEndpoint": server.base, "Method": "GET"});
    let failure = tasks().invoke(&params, None).await.expect_err("failure");
    assert_eq!(failure.error, "States.Http.StatusCode.503");
    assert_eq!(cause_json(&failure)["ResponseBody"], json!("<p>down</p>"));
    assert!(
        failure
            .to_string()
            .starts_with("States.Http.StatusCode.503: {")
    );
}

#[tokio::test]
async fn unreachable_port_is_a_socket_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let params = json!({"ApiEndpoint": format!("http://{addr}/"), "Method": "GET"});
    let failure = tasks().invoke(&params, None).await.expect_err("failure");
    assert_eq!(failure.error, "States.Http.Socket");
    assert!(
        failure
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("connect"),
        "{failure}"
    );
}

#[tokio::test]
async fn timeout_is_a_socket_error() {
    let server = serve(|_| None).await;
    let params = json!({"ApiEndpoint": server.base, "Method": "GET"});
    let failure = tasks()
        .invoke(&params, Some(Duration::from_millis(200)))
        .await
        .expect_err("failure");
    assert_eq!(failure.error, "States.Http.Socket");
    assert!(
        failure
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("200 ms")
    );
}

#[tokio::test]
async fn oversized_response_exceeds_the_data_limit() {
    let server = serve(|request| {
        let mut reply = Reply::new(200, "OK", "text/plain", &"x".repeat(100));
        // Without Content-Length the limit is enforced while streaming.
        reply.content_length = request.target != "/sized";
        Some(reply)
    })
    .await;
    for path in ["/sized", "/streamed"] {
        let params = json!({"ApiEndpoint": format!("{}{path}", server.base), "Method": "GET"});
        let failure = HttpTasks::new(10)
            .invoke(&params, None)
            .await
            .expect_err("failure");
        assert_eq!(failure.error, "States.DataLimitExceeded", "{path}");
    }
    let params = json!({"ApiEndpoint": format!("{}/sized", server.base), "Method": "GET"});
    let result = HttpTasks::new(100)
        .invoke(&params, None)
        .await
        .expect("fits");
    assert_eq!(result["ResponseBody"], json!("x".repeat(100)));
}

#[tokio::test]
async fn unsupported_responses_are_runtime_errors() {
    let server = serve(|request| {
        Some(if request.target == "/image" {
            Reply::new(200, "OK", "image/png", "png")
        } else {
            let mut reply = Reply::new(200, "OK", "text/plain", "");
            reply.body = vec![0xff, 0xfe, 0x00];
            reply
        })
    })
    .await;
    for path in ["/image", "/binary"] {
        let params = json!({"ApiEndpoint": format!("{}{path}", server.base), "Method": "GET"});
        let failure = tasks().invoke(&params, None).await.expect_err("failure");
        assert_eq!(failure.error, "States.Runtime", "{path}");
    }
}

#[tokio::test]
async fn malformed_parameters_are_runtime_errors() {
    let ok = json!({"ApiEndpoint": "http://127.0.0.1:1/", "Method": "GET"});
    let with = |key: &str, value: Value| {
        let mut params = ok.clone();
        params[key] = value;
        params
    };
    let without = |key: &str| {
        let mut params = ok.clone();
        params.as_object_mut().expect("object").remove(key);
        params
    };
    let cases = [
        (json!("GET http://x"), "must be an object"),
        (json!([]), "must be an object"),
        (without("ApiEndpoint"), "'ApiEndpoint' is required"),
        (
            with("ApiEndpoint", json!(42)),
            "'ApiEndpoint' must be a string",
        ),
        (
            with("ApiEndpoint", json!("not a url")),
            "'ApiEndpoint' is not a valid URL",
        ),
        (
            with("ApiEndpoint", json!("ftp://example.com/f")),
            "http or https",
        ),
        (
            with("ApiEndpoint", json!("file:///etc/passwd")),
            "http or https",
        ),
        (without("Method"), "'Method' is required"),
        (with("Method", json!("FETCH")), "'Method' must be one of"),
        (with("Method", json!("get")), "'Method' must be one of"),
        (with("Method", json!(["GET"])), "'Method' must be a string"),
        (with("Body", json!({})), "'Body' is not supported"),
        (
            with("Authentication", json!("arn")),
            "'Authentication' must be an object",
        ),
        (
            with("Authentication", json!({"ConnectionArn": 7})),
            "'Authentication.ConnectionArn' must be a string",
        ),
        (
            with("Authentication", json!({})),
            "'Authentication.ConnectionArn' is required",
        ),
        (
            with("Authentication", json!({"ConnectionArn": "a", "Extra": 1})),
            "'Authentication.Extra' is not supported",
        ),
        (with("Headers", json!(["a"])), "'Headers' must be an object"),
        (
            with("Headers", json!({"X-Count": 3})),
            "'Headers.X-Count' must be a string",
        ),
        (
            with("Headers", json!({"Authorization": "Basic x"})),
            "'Authorization'",
        ),
        (
            with("Headers", json!({"X-Amz-Date": "now"})),
            "'X-Amz-Date'",
        ),
        (
            with("Headers", json!({"bad header": "v"})),
            "not a valid HTTP header name",
        ),
        (
            with("QueryParameters", json!("a=b")),
            "'QueryParameters' must be an object",
        ),
        (
            with("QueryParameters", json!({"q": {"nested": 1}})),
            "'QueryParameters.q' must be a string",
        ),
        (
            with("QueryParameters", json!({"q": [["x"]]})),
            "'QueryParameters.q' must be a string",
        ),
        (
            with("Transform", json!("URL_ENCODED")),
            "'Transform' must be an object",
        ),
        (
            with("Transform", json!({"RequestBodyEncoding": "GZIP"})),
            "'Transform.RequestBodyEncoding' must be NONE or URL_ENCODED",
        ),
        (
            with(
                "Transform",
                json!({"RequestEncodingOptions": {"ArrayFormat": "PIPES"}}),
            ),
            "'Transform.RequestEncodingOptions.ArrayFormat' must be",
        ),
        (
            with("Transform", json!({"Encoding": "NONE"})),
            "'Transform.Encoding' is not supported",
        ),
        (
            with("Transform", json!({"RequestBodyEncoding": "URL_ENCODED"}))
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("RequestBody".into(), json!([1, 2]));
                    Value::Object(o)
                })
                .expect("object"),
            "'RequestBody' must be an object",
        ),
    ];
    let tasks = tasks();
    for (params, expected) in cases {
        let failure = tasks.invoke(&params, None).await.expect_err("failure");
        assert_eq!(failure.error, "States.Runtime", "{params}");
        let cause = failure.cause.clone().unwrap_or_default();
        assert!(cause.contains(expected), "{params}: {cause}");
    }

    let mut both = ok.clone();
    both["Authentication"] = json!({"ConnectionArn": "a"});
    both["InvocationConfig"] = json!({"ConnectionArn": "a"});
    let failure = tasks.invoke(&both, None).await.expect_err("failure");
    assert_eq!(failure.error, "States.Runtime");
}

#[test]
fn percent_encoding_keeps_only_unreserved_characters() {
    assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
    assert_eq!(percent_encode("a b+c/é"), "a%20b%2Bc%2F%C3%A9");
}

#[test]
fn nested_arrays_and_objects_encode() {
    let body = json!({"items": [{"id": 1, "tags": ["x"]}, {"id": 2}], "empty": [], "none": null});
    let fields = body.as_object().expect("object");
    assert_eq!(
        url_encode_object(fields, ArrayFormat::Indices),
        "items%5B0%5D%5Bid%5D=1&items%5B0%5D%5Btags%5D%5B0%5D=x&items%5B1%5D%5Bid%5D=2&none="
    );
    assert_eq!(
        url_encode_object(fields, ArrayFormat::Commas),
        "items%5B0%5D%5Bid%5D=1&items%5B0%5D%5Btags%5D=x&items%5B1%5D%5Bid%5D=2&none="
    );
}
