//! Log lines leave the thread that logs them through a bounded queue; a thread of their own
//! writes them to stderr. A reader that stalls (a pipe nobody drains) then stalls only that
//! thread, never a request: a line that finds the queue full is dropped and counted, and the
//! count is logged (at ERROR) once the queue has drained. Lines keep the order they were
//! queued in. At exit, what is queued is written first, for a bounded time.

use std::{
    cell::Cell,
    collections::VecDeque,
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError},
    time::{Duration, Instant},
};

/// Bytes of log lines held at most: about 1,000 JSON lines or 2,000 text lines, a few seconds
/// of a burst of failures, for a quarter of a megabyte.
pub const CAPACITY: usize = 256 * 1024;
/// Bytes written to stderr in one call at most (a pipe's default size on Linux).
const BATCH: usize = 64 * 1024;
/// While lines keep being dropped and the queue never empties, the count is logged this often.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// How long queued lines may take to be written at exit: Cloud Run kills an instance 10 s
/// after SIGTERM, 8 of which are the shutdown grace.
const EXIT_FLUSH_LIMIT: Duration = Duration::from_secs(2);

thread_local! {
    /// Set on the writer's own thread: its report of dropped lines is queued even when full.
    static IS_WRITER: Cell<bool> = const { Cell::new(false) };
}

/// The queue between the threads that log and the one that writes.
pub struct LineQueue {
    state: Mutex<State>,
    /// Signalled when there is something for the writer to do.
    work: Condvar,
    /// Signalled when the writer has written a batch (what a flush waits for).
    progress: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct State {
    lines: VecDeque<Vec<u8>>,
    /// Bytes queued, and bytes taken by the writer but not yet written.
    held_bytes: usize,
    /// Lines dropped since the count was last logged.
    dropped: u64,
    /// The writer holds a batch, or a count it has yet to log.
    busy: bool,
}

impl LineQueue {
    /// A queue holding at most `capacity` bytes of lines.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            work: Condvar::new(),
            progress: Condvar::new(),
            capacity,
        })
    }

    /// Queues `line`, or drops and counts it when it does not fit. Never waits for I/O.
    fn push(&self, line: &[u8]) {
        let mut state = self.lock();
        let fits = state.held_bytes + line.len() <= self.capacity;
        if fits || IS_WRITER.get() {
            state.held_bytes += line.len();
            state.lines.push_back(line.to_vec());
        } else {
            state.dropped += 1;
        }
        drop(state);
        self.work.notify_one();
    }

    /// Waits up to `within` until every queued line is written (and any count of dropped
    /// lines logged); whether it was.
    pub fn flush(&self, within: Duration) -> bool {
        let state = self.lock();
        let (_state, waited) = self
            .progress
            .wait_timeout_while(state, within, |s| {
                !s.lines.is_empty() || s.busy || s.dropped > 0
            })
            .unwrap_or_else(PoisonError::into_inner);
        !waited.timed_out()
    }

    /// Writes queued lines to `out` for ever; `report` logs a count of dropped lines (through
    /// the logger, so in the log's own format, back into this queue).
    pub fn write_to(&self, mut out: impl Write, report: impl Fn(u64)) {
        IS_WRITER.set(true);
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_report = Instant::now();
        loop {
            {
                let state = self.lock();
                let mut state = self
                    .work
                    .wait_while(state, |s| s.lines.is_empty() && s.dropped == 0)
                    .unwrap_or_else(PoisonError::into_inner);
                while let Some(line) = state.lines.front() {
                    if !batch.is_empty() && batch.len() + line.len() > BATCH {
                        break;
                    }
                    batch.extend_from_slice(line);
                    state.lines.pop_front();
                }
                state.busy = true;
            }
            // Nowhere to say that stderr failed: the lines are lost, the process goes on.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            let dropped = {
                let mut state = self.lock();
                state.held_bytes -= batch.len();
                let due = state.lines.is_empty() || last_report.elapsed() >= REPORT_EVERY;
                let dropped = if due {
                    std::mem::take(&mut state.dropped)
                } else {
                    0
                };
                state.busy = dropped > 0;
                dropped
            };
            self.progress.notify_all();
            batch.clear();
            if dropped > 0 {
                last_report = Instant::now();
                report(dropped);
                self.lock().busy = false;
                self.progress.notify_all();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the logger writes into: each formatted line is queued whole.
pub struct QueueWriter(pub Arc<LineQueue>);

impl Write for QueueWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.0.push(line);
        Ok(line.len())
    }

    /// Lines are written by the writer thread; waiting for it here is what must not happen.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

static INSTALLED: OnceLock<Arc<LineQueue>> = OnceLock::new();

/// Starts the thread that writes `queue` to stderr, and has the process write what is still
/// queued before it exits (main returning, or `std::process::exit`).
pub fn start(queue: Arc<LineQueue>) {
    if INSTALLED.set(queue.clone()).is_err() {
        return;
    }
    let started = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            queue.write_to(io::stderr(), |dropped| {
                log::error!(
                    "{dropped} log lines were dropped: stderr was not read fast enough \
                     (at most {} KiB of lines wait to be written)",
                    CAPACITY / 1024
                )
            })
        });
    if let Err(e) = started {
        // Without the thread, nothing would ever be written: say so where it can be seen.
        let _ = writeln!(io::stderr(), "cannot start the log writer thread: {e}");
        return;
    }
    // SAFETY: `flush_at_exit` is a plain function that never unwinds; atexit only keeps it.
    unsafe {
        libc::atexit(flush_at_exit);
    }
}

extern "C" fn flush_at_exit() {
    if let Some(queue) = INSTALLED.get() {
        queue.flush(EXIT_FLUSH_LIMIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A sink that hands each write to the test, blocking while the test does not take it.
    struct Gate(mpsc::SyncSender<Vec<u8>>);

    impl Write for Gate {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.send(bytes.to_vec()).unwrap();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_lines_and_keeps_the_order_of_the_rest() {
        let queue = LineQueue::new(24);
        let mut writer = QueueWriter(queue.clone());
        for line in ["one\n", "two\n", "three\n", "four\n", "five\n", "six\n"] {
            writer.write_all(line.as_bytes()).unwrap();
        }
        // 4 + 4 + 6 + 5 + 5 bytes fill the 24; "six" does not fit.
        let (to_test, written) = mpsc::sync_channel(0);
        let (reported, counts) = mpsc::channel();
        let writing = queue.clone();
        std::thread::spawn(move || {
            writing.write_to(Gate(to_test), move |n| reported.send(n).unwrap())
        });
        let batch = written.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(batch, b"one\ntwo\nthree\nfour\nfive\n");
        assert_eq!(counts.recv_timeout(Duration::from_secs(10)), Ok(1));
        assert!(queue.flush(Duration::from_secs(10)));
    }

    #[test]
    fn a_flush_waits_for_the_writer_and_gives_up_in_time() {
        let queue = LineQueue::new(1024);
        QueueWriter(queue.clone()).write_all(b"held\n").unwrap();
        // Nothing writes yet: the flush gives up after its time.
        let started = Instant::now();
        assert!(!queue.flush(Duration::from_millis(200)));
        assert!(started.elapsed() >= Duration::from_millis(200));
        let (to_test, written) = mpsc::sync_channel(0);
        let writing = queue.clone();
        std::thread::spawn(move || writing.write_to(Gate(to_test), |_| {}));
        let flushed = std::thread::spawn(move || queue.flush(Duration::from_secs(10)));
        assert_eq!(
            written.recv_timeout(Duration::from_secs(10)).unwrap(),
            b"held\n"
        );
        assert!(flushed.join().unwrap());
    }
}
