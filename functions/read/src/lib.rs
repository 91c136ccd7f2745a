//! The read function: the public face of the data, an HTTP function.
//!
//! - `GET /`: `Hello, World!`
//! - `GET /data?limit=&after=`: users in id order as `{"data": [...], "next": "..."}`
//!   (keyset pagination), each page read whole and shared by identical requests
//! - `GET /openapi.yaml`: the OpenAPI 3.1 document of this API

mod coalesce;
mod cors;
mod page;
mod routes;
mod timings;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use shared::{
    db::{Database, DbError},
    framework::Function,
};

use coalesce::Coalescer;
use page::PageQuery;
use timings::Timings;

/// Page reads, shared by identical requests waiting at the same time, up to the pool's size of
/// rounds a page in flight (see `coalesce`).
type Pages = Coalescer<PageQuery, Result<Bytes, DbError>>;

/// Distinct pages read at once, at most; past it a request gets 503 with Retry-After. A
/// page is at most 1,001 rows (about 80 KB), so this bounds what waiting reads can hold.
const MOST_PAGES_IN_FLIGHT: usize = 256;

/// How `/data` is read: the shared page reads, how long one request may wait for its page
/// from its arrival (the database's reply timeout), and where that time went.
pub(crate) struct Reads {
    pages: Arc<Pages>,
    wait: Duration,
    timings: Arc<Timings>,
}

/// What every request shares.
struct Served {
    reads: Reads,
    settings: Settings,
}

pub use cors::Cors;

/// The OpenAPI document, served at `/openapi.yaml`.
pub const OPENAPI: &str = include_str!("../openapi.yaml");

/// What the read function is configured with besides the database.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cors: Cors,
    /// How often the INFO line on `/data`'s timings is written when pages were served.
    pub summary_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cors: Cors::default(),
            summary_every: Duration::from_secs(60),
        }
    }
}

impl shared::FunctionSettings for Settings {
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins allowed to read from browsers, or `*`.
    /// Unset: CORS is off. `LOG_SUMMARY_SECS`, default 60: how often `/data`'s timings are
    /// summed up in an INFO line.
    fn read(reader: &mut shared::settings::Reader) -> Self {
        let defaults = Self::default();
        Self {
            cors: Cors::new(reader.text("CORS_ALLOWED_ORIGINS").as_deref()),
            summary_every: reader.seconds("LOG_SUMMARY_SECS", defaults.summary_every),
        }
    }
}

/// The function, reading through `database`.
pub fn function(database: Database, settings: Settings) -> Function {
    let cors = settings.cors.clone();
    let warm = database.clone();
    let wait = database.reply_timeout();
    let timings = Arc::new(Timings::default());
    let pages: Arc<Pages> = Coalescer::new(MOST_PAGES_IN_FLIGHT, database.pool_size(), {
        let timings = timings.clone();
        move |query| {
            let (database, timings) = (database.clone(), timings.clone());
            async move { page::fetch(database, query, &timings).await }
        }
    });
    let served = Served {
        reads: Reads {
            pages,
            wait,
            timings,
        },
        settings,
    };
    let stateful = Function::with_state(served);
    let state = stateful.state();
    let function = stateful
        .http(|served, request| async move {
            routes::route(request, &served.reads, &served.settings).await
        })
        // Only GET and HEAD are served: a body sent anyway is never read or held.
        .without_request_bodies()
        .warm_up(move || {
            state.reads.timings.summarize(state.settings.summary_every);
            let database = warm.clone();
            // What the first request would wait for (a connection, the schema check, the prepared
            // statement), done at start instead.
            shared::warn_if_not_ready(async move { database.prepare_reads().await })
        });
    if cors.is_on() {
        function.on_every_response(move |request, response| cors.apply(request, response))
    } else {
        // No hook: a response then needs nothing of the request's headers kept.
        function
    }
}
