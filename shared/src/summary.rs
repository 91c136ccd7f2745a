//! A summary line every interval instead of a line per request: at thousands of requests a
//! second, an INFO line each is a Cloud Logging bill.

use std::time::Duration;

/// Logs at INFO, under `target` (a module path, for `RUST_LOG`), `last N s: {line}` every
/// `every`, with what `line` says of the interval just ended; nothing for an interval it
/// says was idle (`None`). Call once, inside the runtime serving requests.
pub fn log_every<F>(target: &'static str, every: Duration, mut line: F)
where
    F: FnMut() -> Option<String> + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Some(line) = line() {
                log::info!(target: target, "last {} s: {line}", every.as_secs());
            }
        }
    });
}
