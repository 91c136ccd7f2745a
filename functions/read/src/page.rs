//! `/data`: its query parameters and the JSON page.

use bytes::{BufMut, Bytes, BytesMut};
use shared::{
    db::{Database, DbError, UserRow},
    framework::FunctionError,
};
use tokio::time::Instant;

use crate::timings::Timings;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// A validated `/data` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl PageQuery {
    /// Rows to ask the database for: one past the page says whether a next page exists.
    fn rows_wanted(&self) -> i64 {
        self.limit + 1
    }
}

/// The page `query` asks for, read from the database whole (1,000 rows at most: about
/// 80 KB), so that every request sharing the query can be answered with the same bytes.
pub(crate) async fn fetch(
    database: Database,
    query: PageQuery,
    timings: &Timings,
) -> Result<Bytes, DbError> {
    let sent = Instant::now();
    let rows = database
        .users_after(query.after, query.rows_wanted())
        .await?;
    let received = Instant::now();
    let page = render(query, rows);
    timings.fetched(received - sent, received.elapsed());
    Ok(page)
}

/// `{"data":[...]}`, with `"next"` when a row past the page exists.
fn render(query: PageQuery, rows: Vec<UserRow>) -> Bytes {
    let mut writer = PageWriter::new(query.limit);
    let mut out = writer.begin(rows.len());
    for row in rows {
        writer.row(row, &mut out);
    }
    writer.end(&mut out);
    out.freeze()
}

/// Writes a page's JSON.
struct PageWriter {
    limit: usize,
    sent: usize,
    last_id: Option<i32>,
    more: bool,
}

impl PageWriter {
    fn new(limit: i64) -> Self {
        Self {
            limit: limit as usize,
            sent: 0,
            last_id: None,
            more: false,
        }
    }

    /// The buffer for a page of `rows` rows, opened.
    fn begin(&self, rows: usize) -> BytesMut {
        let mut out = BytesMut::with_capacity(rows * 96 + 64);
        out.extend_from_slice(b"{\"data\":[");
        out
    }

    fn row(&mut self, row: UserRow, out: &mut BytesMut) {
        if self.sent == self.limit {
            self.more = true;
            return;
        }
        if self.sent > 0 {
            out.put_u8(b',');
        }
        // Serializing three plain fields into memory cannot fail.
        let _ = serde_json::to_writer(out.writer(), &row);
        self.sent += 1;
        self.last_id = Some(row.user_id);
    }

    fn end(&mut self, out: &mut BytesMut) {
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

    fn user(id: i32) -> UserRow {
        UserRow {
            user_id: id,
            email: format!("u{id}@example.com"),
            name: format!("U{id}"),
        }
    }

    fn page(limit: i64, rows: Vec<UserRow>) -> String {
        String::from_utf8(render(PageQuery { limit, after: 0 }, rows).to_vec()).unwrap()
    }

    #[test]
    fn a_page_says_where_the_next_one_starts_only_when_there_is_one() {
        assert_eq!(
            page(2, vec![user(1), user(2), user(3)]),
            concat!(
                r#"{"data":[{"user_id":1,"email":"u1@example.com","name":"U1"},"#,
                r#"{"user_id":2,"email":"u2@example.com","name":"U2"}],"#,
                r#""next":"/data?limit=2&after=2"}"#
            )
        );
        assert_eq!(
            page(2, vec![user(1), user(2)]),
            concat!(
                r#"{"data":[{"user_id":1,"email":"u1@example.com","name":"U1"},"#,
                r#"{"user_id":2,"email":"u2@example.com","name":"U2"}]}"#
            )
        );
        assert_eq!(page(5, vec![]), r#"{"data":[]}"#);
        let full: serde_json::Value =
            serde_json::from_str(&page(1000, (1..=1001).map(user).collect())).unwrap();
        assert_eq!(full["data"].as_array().unwrap().len(), 1000);
        assert_eq!(full["next"], "/data?limit=1000&after=1000");
    }
}
