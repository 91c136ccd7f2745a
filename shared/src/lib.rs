//! What both functions of the pipeline share: a Google Cloud Functions Framework for Rust
//! ([`framework`]), Cloud Logging friendly logs ([`logging`]), the typed Pub/Sub payload
//! ([`pubsub`]) and PostgreSQL access ([`db`]).
//!
//! The framework knows nothing of PostgreSQL and the database layer nothing of HTTP; the
//! functions join the two.

pub mod db;
pub mod framework;
pub mod logging;
pub mod pubsub;
mod status;
mod wiring;
pub use wiring::serve_with_database;
#[cfg(feature = "test-support")]
pub mod testing;
