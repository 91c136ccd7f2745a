//! The database layer's tests against real PostgreSQL, one binary so an edit relinks once.

mod bookkeeping;
mod database;
mod roles;
mod user_writes;
