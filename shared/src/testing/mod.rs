//! Helpers for tests of the functions (feature `test-support`): a function served in-process
//! on an ephemeral port, and a fresh database in the throwaway cluster of `scripts/test`.

mod database;
mod server;

pub use database::{plain_client, OwnCluster, TestDatabase, SAMPLE_USERS_SQL};
pub use server::{Reply, TestServer};
