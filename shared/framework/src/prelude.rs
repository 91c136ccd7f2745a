//! What most functions use, in one import: `use functions_framework::prelude::*;`.
//!
//! ```no_run
//! use functions_framework::prelude::*;
//!
//! fn main() -> std::process::ExitCode {
//!     Functions::new()
//!         .http("hello", |_request: Request| async { Ok(Response::new(full("Hello"))) })
//!         .run()
//! }
//! ```

pub use crate::{
    body::{empty, full, json_response, Body},
    cloudevents::{AttributesReader, Event},
    http::StatusCode,
    pubsub::PubsubMessage,
    Context, EventContext, EventExt, EventResult, Function, FunctionError, Functions, HttpResult,
    Request, Response,
};
