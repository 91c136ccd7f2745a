//! The dead-letters tool's tests, against real PostgreSQL.

mod dead_letters;
