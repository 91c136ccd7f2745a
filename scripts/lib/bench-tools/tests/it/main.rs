//! The bench tools' integration tests, one binary (see docs/testing.md): each runs the real
//! binary against a small server of its own.

mod delays;
mod open_loop;
