//! ingest's tests against real PostgreSQL, one binary so an edit relinks once (logs.rs stays a
//! binary of its own: it installs a process-wide logger).

#[path = "../common/mod.rs"]
mod common;
mod ingest;
mod inputs;
mod memory;
mod ordering;
mod signals;
mod stalled_log_reader;
