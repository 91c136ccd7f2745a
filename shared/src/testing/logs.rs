//! What a test binary logs, kept: a process-wide logger at INFO, installed once. A test binary
//! that uses it runs as a process of its own (its own `tests/*.rs`), so no other test's lines
//! reach it.

use std::{
    sync::{Mutex, OnceLock},
    time::Duration,
};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The lines logged so far, with their levels.
pub struct CapturedLogs(Mutex<Vec<(Level, String)>>);

impl Log for CapturedLogs {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= Level::Info
    }
    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            self.0
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

impl CapturedLogs {
    /// Every line so far.
    pub fn lines(&self) -> Vec<(Level, String)> {
        self.0.lock().unwrap().clone()
    }

    /// The first line at `level` that `wanted` accepts, waiting up to `within` for it.
    pub async fn wait_for(
        &self,
        level: Level,
        within: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let found = async {
            loop {
                let line = self
                    .lines()
                    .into_iter()
                    .find(|(at, line)| *at == level && wanted(line));
                if let Some((_, line)) = line {
                    return line;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(within, found).await.ok()
    }
}

/// The process's captured logs, the logger installed on first use.
pub fn captured_logs() -> &'static CapturedLogs {
    static LOGGER: OnceLock<&'static CapturedLogs> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let logger: &'static CapturedLogs =
            Box::leak(Box::new(CapturedLogs(Mutex::new(Vec::new()))));
        log::set_logger(logger).expect("another logger is installed in this test binary");
        log::set_max_level(LevelFilter::Info);
        logger
    })
}
