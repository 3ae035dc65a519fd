//! `validate`: checks an order and prices it (see [`order`]). Called with an event (the
//! workflow's first Task), it answers the checked order; a bad order gets a 400 whose JSON
//! names the error type `InvalidOrder` and the field, which the workflow catches.

pub mod order;

#[cfg(target_arch = "wasm32")]
mod component {
    use serde_json::{Value, json};
    use wasi::http::types::{
        Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
    };

    struct Validate;

    wasi::http::proxy::export!(Validate);

    impl wasi::exports::http::incoming_handler::Guest for Validate {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let body = read_body(&request);
            let checked = match serde_json::from_slice::<Value>(&body) {
                Ok(order) => super::order::check(&order),
                Err(e) => Err(format!("the order is not JSON: {e}")),
            };
            match checked {
                Ok(order) => {
                    println!(
                        "order {} ok: {} item(s), {} {}",
                        order["orderId"].as_str().unwrap_or("?"),
                        order["itemCount"],
                        order["total"],
                        order["currency"].as_str().unwrap_or("")
                    );
                    respond(out, 200, order.to_string().as_bytes());
                }
                Err(message) => {
                    println!("order refused: {message}");
                    let error = json!({ "errorType": "InvalidOrder", "errorMessage": message });
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
