//! `/data`: its query parameters and the streamed JSON page.

use bytes::{BufMut, BytesMut};
use std::task::Poll;

use futures_util::{stream, Stream};
use http_body::Frame;
use http_body_util::StreamBody;
use shared::{
    db::{DbError, UserRow},
    framework::{
        body::{Body, BoxError},
        FunctionError,
    },
};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// A large page goes out in pieces of about this size.
const CHUNK_BYTES: usize = 16 * 1024;

/// A validated `/data` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub limit: i64,
    pub after: i32,
}

impl PageQuery {
    /// Parses the query string; unknown, repeated, empty or out-of-range parameters are
    /// refused with a message that names the parameter.
    pub fn parse(query: Option<&str>) -> Result<Self, FunctionError> {
        let bad = |m: String| FunctionError::BadRequest(m);
        let (mut limit, mut after) = (None, None);
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let slot = match key.as_ref() {
                "limit" => &mut limit,
                "after" => &mut after,
                other => {
                    return Err(bad(format!(
                        "unknown query parameter {other:?}; /data takes limit and after"
                    )))
                }
            };
            if slot.is_some() {
                return Err(bad(format!(
                    "query parameter {key:?} is given more than once"
                )));
            }
            *slot = Some(value.into_owned());
        }
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| bad(format!("query parameter \"limit\" must be a whole number from 1 to {MAX_LIMIT}, not {v:?}")))?,
        };
        let after = match after {
            None => 0,
            Some(v) => v.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                bad(format!(
                    "query parameter \"after\" must be a user_id (0 to {}), not {v:?}",
                    i32::MAX
                ))
            })?,
        };
        Ok(Self { limit, after })
    }
}

/// The page as a streamed body: `{"data":[...]` then, if a further row exists, `"next"`.
/// `rows` must yield up to `limit + 1` rows; the extra one only says that more exist.
///
/// Whatever rows have arrived go out together, so a small page is one write; a large one
/// goes out in chunks of about `CHUNK_BYTES` as the database sends it.
pub fn body(
    query: PageQuery,
    rows: impl Stream<Item = Result<UserRow, DbError>> + Send + 'static,
) -> Body {
    let limit = query.limit as usize;
    let mut rows = Box::pin(rows);
    let mut encoder = Encoder {
        limit,
        sent: 0,
        last_id: None,
        more: false,
        started: false,
        done: false,
    };
    let frames = stream::poll_fn(move |cx| {
        if encoder.done {
            return Poll::Ready(None);
        }
        let mut out = BytesMut::new();
        if !encoder.started {
            out.extend_from_slice(b"{\"data\":[");
            encoder.started = true;
        }
        loop {
            match rows.as_mut().poll_next(cx) {
                Poll::Ready(Some(row)) => {
                    if let Err(e) = encoder.row(row, &mut out) {
                        encoder.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    if out.len() >= CHUNK_BYTES {
                        break;
                    }
                }
                Poll::Ready(None) => {
                    encoder.end(&mut out);
                    break;
                }
                Poll::Pending if out.is_empty() => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        Poll::Ready(Some(Ok(Frame::data(out.freeze()))))
    });
    http_body_util::BodyExt::boxed_unsync(StreamBody::new(frames))
}

struct Encoder {
    limit: usize,
    sent: usize,
    last_id: Option<i32>,
    more: bool,
    started: bool,
    done: bool,
}

impl Encoder {
    fn row(&mut self, row: Result<UserRow, DbError>, out: &mut BytesMut) -> Result<(), BoxError> {
        // A failure mid-stream ends the body abruptly: the client sees a broken response,
        // never a truncated page that looks whole.
        let row = row.map_err(|e| {
            log::warn!("reading users failed mid-page: {e}");
            Box::new(e) as BoxError
        })?;
        if self.sent == self.limit {
            self.more = true;
            return Ok(());
        }
        if self.sent > 0 {
            out.put_u8(b',');
        }
        serde_json::to_writer(out.writer(), &row)?;
        self.sent += 1;
        self.last_id = Some(row.user_id);
        Ok(())
    }

    fn end(&mut self, out: &mut BytesMut) {
        self.done = true;
        match (self.more, self.last_id) {
            (true, Some(last)) => {
                let limit = self.limit;
                out.extend_from_slice(
                    format!("],\"next\":\"/data?limit={limit}&after={last}\"}}").as_bytes(),
                );
            }
            _ => out.extend_from_slice(b"]}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_parameters() {
        assert_eq!(
            PageQuery::parse(None).unwrap(),
            PageQuery {
                limit: 100,
                after: 0
            }
        );
        assert_eq!(
            PageQuery::parse(Some("limit=5&after=9")).unwrap(),
            PageQuery { limit: 5, after: 9 }
        );
        assert_eq!(PageQuery::parse(Some("limit=1000")).unwrap().limit, 1000);
        for (query, names) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=ten", "limit"),
            ("limit=", "limit"),
            ("after=-1", "after"),
            ("after=2147483648", "after"),
            ("limit=5&limit=6", "limit"),
            ("after=1&after=1", "after"),
            ("offset=3", "offset"),
        ] {
            let error = PageQuery::parse(Some(query)).unwrap_err();
            assert!(error.to_string().contains(names), "{query}: {error}");
            assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
        }
    }
}
