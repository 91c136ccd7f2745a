//! How the real binary takes the signals a process is sent: SIGTERM, SIGINT and SIGHUP each
//! drain and exit 0, saying which arrived.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use shared::testing::{stderr_lines, FunctionProcess, TestDatabase};

#[tokio::test]
async fn sigterm_sigint_and_sighup_each_drain_and_exit_0() {
    let db = TestDatabase::with_sample_users().await;
    // Before, SIGHUP's default action ended the process at once (exit 129, nothing logged).
    for signal in ["TERM", "INT", "HUP"] {
        let (mut process, stderr) = FunctionProcess::start_logging_to_pipe(
            env!("CARGO_BIN_EXE_read"),
            &db.config,
            &[("RUST_LOG", "info")],
        );
        let lines = stderr_lines(stderr);
        assert_eq!(
            process.send(Method::GET, "/", &[], Bytes::new()).await,
            Ok(StatusCode::OK)
        );
        process.signal(signal);
        let status = process.wait_for_exit(Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.success()),
            "SIG{signal}: {status:?}"
        );
        let logged: Vec<String> = lines.iter().collect();
        let received = format!("received SIG{signal}");
        assert!(
            logged.iter().any(|line| line.ends_with(&received)),
            "SIG{signal}: {logged:?}"
        );
        assert!(
            logged
                .iter()
                .any(|line| line.ends_with("all in-flight requests finished")),
            "SIG{signal}: {logged:?}"
        );
    }
}
