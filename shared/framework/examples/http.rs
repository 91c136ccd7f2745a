//! An HTTP function: `GET /` says hello, `GET /hello?name=Ada%20Lovelace` greets by name (the
//! query percent-decoded, `+` as a space, as forms send it), anything else is a 404 the
//! framework writes.
//!
//! ```sh
//! cargo run -p functions-framework --example http
//! curl 'http://127.0.0.1:8080/hello?name=Ada%20Lovelace'
//! ```

use std::process::ExitCode;

use std::borrow::Cow;

use functions_framework::{body::full, FunctionError, Functions};
use http::{Method, Response};
use percent_encoding::percent_decode_str;

fn main() -> ExitCode {
    Functions::new()
        .http("hello", |request| async move {
            match (request.method(), request.uri().path()) {
                (&Method::GET, "/") => Ok(Response::new(full("Hello, World!"))),
                (&Method::GET, "/hello") => {
                    let name = request
                        .uri()
                        .query()
                        .and_then(|query| query_value(query, "name"))
                        .unwrap_or(Cow::Borrowed("stranger"));
                    Ok(Response::new(full(format!("Hello, {name}!"))))
                }
                (_, path) => Err(FunctionError::NotFound(format!(
                    "nothing is served at {path}"
                ))),
            }
        })
        .run()
}

/// The first value of `key` in a query string, decoded.
fn query_value<'q>(query: &'q str, key: &str) -> Option<Cow<'q, str>> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == key).then(|| match value.contains('+') {
            true => Cow::Owned(
                percent_decode_str(&value.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned(),
            ),
            false => percent_decode_str(value).decode_utf8_lossy(),
        })
    })
}
