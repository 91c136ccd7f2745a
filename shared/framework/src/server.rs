//! The accept loop: many connections at once, a header-read timeout, idle connections closed
//! (see `connection`), HTTP/2 keep-alive, and a graceful stop.

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::net::TcpListener;

pub(crate) mod host;

use super::{
    budget::BodyBudget,
    config::ServerOptions,
    connection::{self, Activity, ExchangeBody},
    dispatch,
    function::Function,
    memory,
};

/// HTTP/2 streams one connection may have open at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 100;

/// Serves `function` on `listener` until `shutdown` completes, then stops accepting and gives
/// in-flight requests up to `options.shutdown_grace` to finish. The function's warm-up, if
/// it has one, starts first, beside the accept loop.
pub async fn serve(
    listener: TcpListener,
    function: Function,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) {
    function.start_warm_up();
    let give_back = tokio::spawn(memory::give_back_freed_memory());
    let options = Arc::new(options);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(options.keep_alive_interval))
        .keep_alive_timeout(options.keep_alive_timeout)
        // What one connection may have in flight: Cloud Run sends an instance at most its
        // concurrency (80 here, 1,000 at most) across all its connections.
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    let budget = BodyBudget::new(options.max_inflight_body_bytes);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, usually: back off instead of spinning.
                        log::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let activity = Activity::new();
                let (function, options_for_requests) = (function.clone(), options.clone());
                let (requests, budget) = (activity.clone(), budget.clone());
                let service = service_fn(move |request| {
                    let (function, options) = (function.clone(), options_for_requests.clone());
                    let budget = budget.clone();
                    // The exchange lasts until the response body is sent (or dropped).
                    let exchange = requests.begin();
                    async move {
                        let response = dispatch::respond(request, function, options, budget).await;
                        Ok::<_, Infallible>(response.map(|body| ExchangeBody::new(body, exchange)))
                    }
                });
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                let idle = connection::idle(activity, options.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        closed = connection => if let Err(e) = closed {
                            log::debug!("connection closed with an error: {e}");
                        },
                        // Dropping the connection closes the socket.
                        () = idle => log::debug!("closed an idle connection"),
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }

    drop(listener);
    log::info!(
        "shutting down: waiting up to {} s for in-flight requests",
        options.shutdown_grace.as_secs_f32()
    );
    give_back.abort();
    tokio::select! {
        () = graceful.shutdown() => log::info!("all in-flight requests finished"),
        () = tokio::time::sleep(options.shutdown_grace) => {
            log::warn!("shutdown grace period over with requests still running");
        }
    }
}

/// Completes on SIGTERM (what Cloud Run sends), SIGINT (Ctrl-C) or SIGHUP, and logs which.
/// Each is a request to drain: SIGHUP is what a closed terminal or a supervisor sends, and
/// there is nothing to reload (settings are read once, at start), so it stops the process as
/// SIGTERM does instead of killing it on the spot (its default action). Once listened for, a
/// second signal during the drain changes nothing.
pub async fn shutdown_signal() {
    use tokio::signal::unix::SignalKind;
    let received = tokio::select! {
        name = received(SignalKind::terminate(), "SIGTERM") => name,
        name = received(SignalKind::interrupt(), "SIGINT") => name,
        name = received(SignalKind::hangup(), "SIGHUP") => name,
    };
    log::info!("received {received}");
}

/// Completes with `name` when the signal `kind` arrives; never, if it cannot be listened for.
async fn received(kind: tokio::signal::unix::SignalKind, name: &'static str) -> &'static str {
    match tokio::signal::unix::signal(kind) {
        Ok(mut signal) => {
            signal.recv().await;
            name
        }
        Err(e) => {
            log::warn!("cannot listen for {name}: {e}");
            std::future::pending().await
        }
    }
}
