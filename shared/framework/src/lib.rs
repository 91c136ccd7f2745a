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
pub mod config;
mod config_error;
mod connection;
mod dispatch;
pub mod error;
pub mod event;
pub mod function;
pub mod logging;
mod memory;
pub mod pubsub;
pub mod server;
mod signature;
#[cfg(feature = "testing")]
pub mod testing;

use std::process::ExitCode;

pub use config::{Config, ServerOptions};
pub use config_error::ConfigError;
pub use error::FunctionError;
pub use function::{EventResult, Function, Functions, HttpResult, SignatureType};
pub use server::{serve, shutdown_signal};

impl Functions {
    /// Reads the environment, picks the function, serves it until SIGTERM or SIGINT.
    /// A configuration error ends the process at once with a message saying what to fix.
    pub fn run(self) -> ExitCode {
        crate::logging::init();
        match Config::from_env() {
            Ok(config) => self.run_with(config),
            Err(e) => {
                log::error!("{e}");
                ExitCode::FAILURE
            }
        }
    }

    /// As [`Functions::run`], with settings already read (and logging already started): a
    /// binary that reads other settings too reads them all first and reports every bad one
    /// at once.
    pub fn run_with(self, config: Config) -> ExitCode {
        match self.try_run(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                log::error!("{message}");
                ExitCode::FAILURE
            }
        }
    }

    fn try_run(self, config: Config) -> Result<(), String> {
        let (name, function) = self
            .select(config.target.as_deref(), config.signature_type)
            .map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.port))
                .await
                .map_err(|e| format!("cannot listen on port {}: {e}", config.port))?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            let deployment = match (&config.service, &config.revision) {
                (Some(service), Some(revision)) => {
                    format!(" (service {service}, revision {revision})")
                }
                (Some(service), None) => format!(" (service {service})"),
                _ => String::new(),
            };
            log::info!(
                "serving {} function {name:?} on http://{address}{deployment}",
                function.signature_type()
            );
            serve(listener, function, config.server, shutdown_signal()).await;
            Ok(())
        })
    }
}
