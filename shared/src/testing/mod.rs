//! Helpers for tests of the functions (feature `test-support`): a function served in-process
//! on an ephemeral port, a function's binary as a process of its own, a fresh database in
//! the throwaway cluster of `scripts/test`, and what a test binary logs.

mod logs;
mod process;

pub use functions_framework::testing::{Reply, TestServer};
pub use logs::{captured_logs, CapturedLogs};
pub use pipeline_db::testing::{plain_client, OwnCluster, TestDatabase, SAMPLE_USERS_SQL};
pub use process::{stderr_lines, FunctionProcess};
