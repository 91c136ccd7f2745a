//! A Google Cloud Functions Framework for Rust: one function per process on `$PORT`, HTTP or
//! CloudEvent, following the contract of the official frameworks
//! (GoogleCloudPlatform/functions-framework).
//!
//! A binary registers its functions and hands over:
//!
//! ```no_run
//! use functions_framework::{body::full, Functions};
//!
//! fn main() -> std::process::ExitCode {
//!     Functions::new()
//!         .http("hello", |_request| async { Ok(http::Response::new(full("Hello, World!"))) })
//!         .run()
//! }
//! ```

#![warn(missing_docs)]

pub mod body;
mod budget;
mod call;
pub mod config;
mod config_error;
mod connection;
mod context;
mod dispatch;
pub mod error;
pub mod event;
mod event_data;
mod event_types;
#[cfg(feature = "google-events")]
pub mod events;
pub mod function;
mod json_budget;
pub mod logging;
mod memory;
pub mod pubsub;
pub mod server;
mod service;
mod signature;
mod start;
#[cfg(feature = "testing")]
pub mod testing;

pub mod prelude;

/// The crates a handler's signature names, at the versions this crate uses: no need to add
/// them yourself, or to match their versions.
pub use bytes;
/// The CloudEvents SDK (crate `cloudevents-sdk`), whose `Event` a CloudEvent function gets.
pub use cloudevents;
/// Request, response, status and header types.
pub use http;
/// The trait of a tower service, which [`Function::service`] serves.
pub use tower_service;

/// What an HTTP function gets: the request as sent, its whole body read.
pub type Request = http::Request<bytes::Bytes>;
/// What an HTTP function answers: a response whose body is a buffer or a stream.
pub type Response = http::Response<body::Body>;

pub use config::{Config, ServerOptions};
pub use config_error::ConfigError;
pub use context::{Context, Trace};
pub use error::FunctionError;
pub use event::EventContext;
pub use event_data::{DataError, EventExt};
pub use function::{EventResult, Function, Functions, HttpResult, SignatureType, WithState};
pub use server::{serve, shutdown_signal};
pub use start::StartError;

/// The README's examples, compiled as doc tests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
