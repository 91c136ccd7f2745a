//! What the pipeline's two functions share, as three crates:
//!
//! - [`framework`] (the `functions-framework` crate, `shared/framework`): a Google Cloud
//!   Functions Framework for Rust, with Cloud Logging friendly logs ([`logging`]) and the typed
//!   Pub/Sub payload ([`pubsub`]). It knows nothing of PostgreSQL.
//! - [`db`] (the `pipeline-db` crate, `shared/db`): PostgreSQL access. It knows nothing of HTTP.
//! - this crate: the glue the functions use to join the two: how a database failure becomes
//!   a status code ([`function_error`]) and how a binary serves a function on the database
//!   its environment names ([`serve`]), every setting read first; and the periodic summary
//!   line both log instead of a line per request ([`summary`]).
//!
//! The compiler holds the layers apart: neither of the two crates depends on the other.

pub use functions_framework as framework;
pub use functions_framework::{logging, pubsub};
pub use pipeline_db as db;

mod status;
pub mod summary;
mod wiring;
pub use settings_reader as settings;
pub use status::function_error;
pub use wiring::{serve, warn_if_not_ready, FunctionSettings};
#[cfg(feature = "test-support")]
pub mod testing;
