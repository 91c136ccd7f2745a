//! `/data`: its query parameters and the streamed JSON page.

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{stream, Stream, StreamExt};
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

/// Rows are sent in chunks of at most this many, as they arrive.
const ROWS_PER_CHUNK: usize = 128;

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
pub fn body(
    query: PageQuery,
    rows: impl Stream<Item = Result<UserRow, DbError>> + Send + 'static,
) -> Body {
    let limit = query.limit as usize;
    let state = Encoder {
        sent: 0,
        last_id: None,
        more: false,
    };
    let chunks = rows
        .ready_chunks(ROWS_PER_CHUNK)
        .map(Some)
        .chain(stream::once(async { None }))
        .scan(state, move |state, chunk| {
            let bytes = match chunk {
                Some(rows) => state.rows(rows, limit),
                None => Ok(state.end(limit)),
            };
            std::future::ready(Some(bytes))
        })
        .map(|bytes: Result<Bytes, BoxError>| bytes.map(Frame::data));
    let head = stream::once(async { Ok(Frame::data(Bytes::from_static(b"{\"data\":["))) });
    http_body_util::BodyExt::boxed_unsync(StreamBody::new(head.chain(chunks)))
}

struct Encoder {
    sent: usize,
    last_id: Option<i32>,
    more: bool,
}

impl Encoder {
    fn rows(
        &mut self,
        rows: Vec<Result<UserRow, DbError>>,
        limit: usize,
    ) -> Result<Bytes, BoxError> {
        let mut out = BytesMut::with_capacity(rows.len() * 96);
        for row in rows {
            // A failure mid-stream ends the body abruptly: the client sees a broken response,
            // never a truncated page that looks whole.
            let row = row.map_err(|e| {
                log::warn!("reading users failed mid-page: {e}");
                Box::new(e) as BoxError
            })?;
            if self.sent == limit {
                self.more = true;
                continue;
            }
            if self.sent > 0 {
                out.put_u8(b',');
            }
            serde_json::to_writer((&mut out).writer(), &row)?;
            self.sent += 1;
            self.last_id = Some(row.user_id);
        }
        Ok(out.freeze())
    }

    fn end(&self, limit: usize) -> Bytes {
        match (self.more, self.last_id) {
            (true, Some(last)) => {
                Bytes::from(format!("],\"next\":\"/data?limit={limit}&after={last}\"}}"))
            }
            _ => Bytes::from_static(b"]}"),
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
