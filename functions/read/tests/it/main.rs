//! read's tests against real PostgreSQL, one binary so an edit relinks once.

mod memory;
mod read;
mod signals;
