//! A typed function: the JSON body becomes a `Greeting`, the `Reply` goes back as JSON. A body
//! that is not a `Greeting` is a 400 that says why.
//!
//! ```sh
//! cargo run -p functions-framework --example typed
//! curl -X POST http://127.0.0.1:8080/ -d '{"name": "Ada"}'     # {"message":"Hello, Ada!"}
//! ```

use std::process::ExitCode;

use functions_framework::Functions;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Greeting {
    name: String,
}

#[derive(Serialize)]
struct Reply {
    message: String,
}

fn main() -> ExitCode {
    Functions::new()
        .typed("greet", |greeting: Greeting| async move {
            Ok(Reply {
                message: format!("Hello, {}!", greeting.name),
            })
        })
        .run()
}
