//! An HTTP function: `GET /` says hello, `GET /hello?name=Ada` greets by name, anything else
//! is a 404 the framework writes.
//!
//! ```sh
//! cargo run -p functions-framework --example http
//! curl 'http://127.0.0.1:8080/hello?name=Ada'
//! ```

use std::process::ExitCode;

use functions_framework::{body::full, FunctionError, Functions};
use http::{Method, Response};

fn main() -> ExitCode {
    Functions::new()
        .http("hello", |request| async move {
            match (request.method(), request.uri().path()) {
                (&Method::GET, "/") => Ok(Response::new(full("Hello, World!"))),
                (&Method::GET, "/hello") => {
                    let name = request
                        .uri()
                        .query()
                        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("name=")))
                        .unwrap_or("stranger");
                    Ok(Response::new(full(format!("Hello, {name}!"))))
                }
                (_, path) => Err(FunctionError::NotFound(format!(
                    "nothing is served at {path}"
                ))),
            }
        })
        .run()
}
