//! How long a connection may be held without doing anything. An exchange (a request and its
//! response, body included) keeps it open; without one it is closed once its idle limit has
//! passed: the header-read timeout before its first request (a client that connects and says
//! nothing), the idle timeout after it (a keep-alive connection, HTTP/1 or HTTP/2, left open).
//! HTTP/2 keep-alive pings do not count as activity, and neither does a response the client
//! does not read: once every handler of the connection has answered, a response body that
//! makes no progress for the idle timeout (an HTTP/2 window held at zero, a full socket) is a
//! stall, and the connection is closed with what it holds.

use std::{
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::time::Instant;

use super::{
    body::{Body, BoxError},
    config::ServerOptions,
};

/// What one connection is doing. Shared by its requests and its watchdog.
pub(crate) struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` when the last exchange ended (0: none yet).
    quiet_since_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Exchanges whose response is being sent (their handler has answered).
    sending: AtomicUsize,
    /// Milliseconds after `opened` when a response body last moved.
    progress_ms: AtomicU64,
    exchanges: AtomicU64,
}

/// Held for as long as an exchange runs; ending it starts the idle clock.
pub(crate) struct Exchange(Arc<Activity>);

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            quiet_since_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            sending: AtomicUsize::new(0),
            progress_ms: AtomicU64::new(0),
            exchanges: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn progressed(&self) {
        self.progress_ms.fetch_max(self.now_ms(), Ordering::AcqRel);
    }

    pub(crate) fn begin(self: &Arc<Self>) -> Exchange {
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Exchange(self.clone())
    }

    /// When the connection may be closed if nothing starts before then; None while busy.
    fn deadline(&self, options: &ServerOptions) -> Option<Instant> {
        let in_flight = self.in_flight.load(Ordering::Acquire);
        if in_flight > 0 {
            if self.sending.load(Ordering::Acquire) < in_flight {
                return None; // a handler is still working
            }
            let progress = Duration::from_millis(self.progress_ms.load(Ordering::Acquire));
            return Some(self.opened + progress + options.idle_timeout);
        }
        let limit = if self.exchanges.load(Ordering::Relaxed) == 0 {
            options.header_read_timeout
        } else {
            options.idle_timeout
        };
        let quiet_since = Duration::from_millis(self.quiet_since_ms.load(Ordering::Acquire));
        Some(self.opened + quiet_since + limit)
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let activity = &self.0;
        let ended = activity.opened.elapsed().as_millis() as u64;
        activity.quiet_since_ms.fetch_max(ended, Ordering::AcqRel);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Completes when the connection has been idle past its limit. It looks at the connection
/// at its deadline, and at least every `min(header-read, idle)` timeout, since an exchange may
/// begin or end meanwhile; requests themselves never wake it (measured: a wake-up per request
/// cost `read` a few percent of its throughput).
pub(crate) async fn idle(activity: Arc<Activity>, options: Arc<ServerOptions>) {
    let step = options.header_read_timeout.min(options.idle_timeout);
    loop {
        let now = Instant::now();
        match activity.deadline(&options) {
            Some(deadline) if now >= deadline => return,
            Some(deadline) => tokio::time::sleep_until(deadline.min(now + step)).await,
            None => tokio::time::sleep(step).await,
        }
    }
}

/// A response body that keeps its exchange open until it is sent or dropped, and tells the
/// connection's watchdog whenever it moves.
pub(crate) struct ExchangeBody {
    body: Body,
    exchange: Exchange,
}

impl ExchangeBody {
    pub(crate) fn new(body: Body, exchange: Exchange) -> Self {
        let activity = &exchange.0;
        activity.progressed();
        activity.sending.fetch_add(1, Ordering::AcqRel);
        Self { body, exchange }
    }
}

impl Drop for ExchangeBody {
    fn drop(&mut self) {
        self.exchange.0.sending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl hyper::body::Body for ExchangeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if polled.is_ready() {
            self.exchange.0.progressed();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
