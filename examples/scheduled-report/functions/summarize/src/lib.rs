//! `summarize`: sums up a day of sales (see [`report`]). Called with an event (the report
//! workflow's second Task), it answers the report; sales it cannot read get a 400 whose
//! JSON names the error type `InvalidSales` and the field.

pub mod report;

#[cfg(target_arch = "wasm32")]
mod component {
    use serde_json::{Value, json};
    use wasi::http::types::{
        Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
    };

    struct Summarize;

    wasi::http::proxy::export!(Summarize);

    impl wasi::exports::http::incoming_handler::Guest for Summarize {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let body = read_body(&request);
            let report = match serde_json::from_slice::<Value>(&body) {
                Ok(sales) => super::report::summarize(&sales),
                Err(e) => Err(format!("the sales are not JSON: {e}")),
            };
            match report {
                Ok(report) => {
                    println!("{}", report["text"].as_str().unwrap_or(""));
                    respond(out, 200, report.to_string().as_bytes());
                }
                Err(message) => {
                    println!("cannot summarize: {message}");
                    let error = json!({ "errorType": "InvalidSales", "errorMessage": message });
                    respond(out, 400, error.to_string().as_bytes());
                }
            }
        }
    }

    /// The request body, up to 1 MiB (orders are small).
    fn read_body(request: &IncomingRequest) -> Vec<u8> {
        let mut body = Vec::new();
        let Ok(incoming) = request.consume() else {
            return body;
        };
        let Ok(stream) = incoming.stream() else {
            return body;
        };
        while body.len() < 1 << 20 {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) if !chunk.is_empty() => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body
    }

    fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
        let headers = Fields::new();
        let _ = headers.set("content-type", &[b"application/json".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(status);
        let Ok(outgoing) = response.body() else {
            return;
        };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(stream) = outgoing.write() {
            for chunk in body.chunks(4096) {
                if stream.blocking_write_and_flush(chunk).is_err() {
                    break;
                }
            }
            drop(stream);
        }
        let _ = OutgoingBody::finish(outgoing, None);
    }
}
