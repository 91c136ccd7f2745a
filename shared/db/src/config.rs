//! Where the database is and how to reach it, from the standard libpq environment
//! (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`) or
//! `DATABASE_URL`, plus the pool's settings. The password never appears in `Debug` output.

use settings_reader::Reader;
use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use super::error::DbError;

/// libpq's `sslmode`, including the verifying modes tokio-postgres does not parse itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never encrypt.
    Disable,
    /// Encrypt when the server offers it (libpq's default; `allow` reads as this).
    Prefer,
    /// Encrypt; do not verify the server (libpq's `require` without a root certificate).
    Require,
    /// Encrypt and verify the server's certificate chain, not its name.
    VerifyCa,
    /// Encrypt and verify the chain and that the certificate names the host.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = DbError;

    fn from_str(value: &str) -> Result<Self, DbError> {
        match value {
            "disable" => Ok(Self::Disable),
            "allow" | "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(DbError::config(format!(
                "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ))),
        }
    }
}

/// Everything needed to open and pool connections.
#[derive(Clone)]
pub struct DbConfig {
    pub(crate) postgres: tokio_postgres::Config,
    /// The `options` the settings gave, before the session timeouts are added.
    pub(crate) base_options: String,
    pub(crate) ssl_mode: SslMode,
    pub(crate) ssl_root_cert: Option<PathBuf>,
    /// `DB_POOL_SIZE`: connections this process may hold.
    pub pool_size: usize,
    /// `DB_ACQUIRE_TIMEOUT_SECS`: how long a request waits for a free connection before it is
    /// answered 503.
    pub acquire_timeout: Duration,
    /// `DB_LOCK_TIMEOUT_MS`: the longest a statement waits for a lock another session holds
    /// (PostgreSQL's `lock_timeout`), so one held row cannot stall the writer.
    pub lock_timeout: Duration,
    /// `DB_STATEMENT_TIMEOUT_SECS`: the longest any statement runs (`statement_timeout`).
    pub statement_timeout: Duration,
    /// `DB_REPLY_TIMEOUT_SECS`: the longest a read (from its request's arrival) or a schema
    /// check waits for the database on our own clock; a write waits the statement timeout
    /// plus this. The server enforces the two timeouts above only while it runs: a frozen
    /// database, or a path that silently drops packets, is caught by this one, and the
    /// connection is dropped and replaced.
    pub reply_timeout: Duration,
}

/// Connections a process may hold when `DB_POOL_SIZE` is unset.
pub const DEFAULT_POOL_SIZE: usize = 4;
const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Rows another writer holds are skipped without waiting (SKIP LOCKED); this bounds the waits
/// that cannot be skipped (a key or a new id another transaction is inserting right now).
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_millis(2000);
/// Well inside Cloud Run's request timeout (60 s for ingest, 30 s for read).
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Past the lock timeout, so a read that met a held lock is answered by the server's error.
const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(3);
/// PostgreSQL's `lock_timeout` and `statement_timeout` are `int` milliseconds: a larger value
/// in the startup packet makes the server refuse the connection (FATAL 22023).
const POSTGRES_MOST_MS: u64 = i32::MAX as u64;
const POSTGRES_MOST_SECS: u64 = POSTGRES_MOST_MS / 1000;
/// PostgreSQL's `max_connections` is at most 2^18 - 1 (MAX_BACKENDS): no pool can use more.
const MOST_CONNECTIONS: u64 = (1 << 18) - 1;
/// TCP keepalives find a dead path under an idle connection (Unix sockets have none).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

impl fmt::Debug for DbConfig {
    // tokio_postgres::Config's own Debug already hides the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field("postgres", &self.postgres)
            .field("ssl_mode", &self.ssl_mode)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl DbConfig {
    /// Reads the settings from the process environment (see [`DbConfig::from_lookup`]).
    pub fn from_env() -> Result<Self, DbError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`; `DATABASE_URL` wins over the `PG*` variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, DbError> {
        let mut reader = Reader::new(lookup);
        let config = Self::read(&mut reader);
        reader
            .finish()
            .map_err(|errors| DbError::config(errors.to_string()))?;
        Ok(config)
    }

    /// Reads the database's settings through `reader`, which keeps any bad one for its
    /// `finish` (a binary reads every crate's settings first, then reports them all at once).
    /// Values that hold a password are never repeated in a complaint.
    pub fn read(reader: &mut Reader) -> Self {
        let (mut postgres, mut ssl_mode, mut ssl_root_cert) = match reader.text("DATABASE_URL") {
            Some(url) => parse_url(&url).unwrap_or_else(|e| {
                reader.refuse("DATABASE_URL", HIDDEN, e.to_string());
                (tokio_postgres::Config::new(), None, None)
            }),
            None => (tokio_postgres::Config::new(), None, None),
        };
        if postgres.get_hosts().is_empty() {
            postgres.host(reader.text("PGHOST").as_deref().unwrap_or("localhost"));
        }
        if postgres.get_ports().is_empty() && reader.text("PGPORT").is_some() {
            postgres.port(reader.port("PGPORT", 5432));
        }
        if postgres.get_user().is_none() {
            postgres.user(reader.text("PGUSER").unwrap_or_else(|| "postgres".into()));
        }
        if postgres.get_dbname().is_none() {
            if let Some(name) = reader.text("PGDATABASE") {
                postgres.dbname(name);
            }
        }
        if postgres.get_password().is_none() {
            if let Some(password) = password(reader) {
                postgres.password(password);
            }
        }
        if ssl_mode.is_none() {
            ssl_mode = reader.parsed(
                "PGSSLMODE",
                "one of disable, allow, prefer, require, verify-ca, verify-full",
            );
        }
        if ssl_root_cert.is_none() {
            ssl_root_cert = reader.text("PGSSLROOTCERT").map(PathBuf::from);
        }
        postgres.application_name(
            reader
                .text("K_SERVICE")
                .as_deref()
                .unwrap_or("rust-pubsub-pipeline"),
        );
        postgres.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        let lock_timeout = Duration::from_millis(reader.whole_number_in(
            "DB_LOCK_TIMEOUT_MS",
            DEFAULT_LOCK_TIMEOUT.as_millis() as u64,
            1..=POSTGRES_MOST_MS,
            &format!(
                "a whole number of milliseconds from 1 to {POSTGRES_MOST_MS} (PostgreSQL's \
                 lock_timeout is an int of milliseconds; past it every connection is refused)"
            ),
        ));
        let statement_timeout = Duration::from_secs(reader.whole_number_in(
            "DB_STATEMENT_TIMEOUT_SECS",
            DEFAULT_STATEMENT_TIMEOUT.as_secs(),
            1..=POSTGRES_MOST_SECS,
            &format!(
                "a whole number of seconds from 1 to {POSTGRES_MOST_SECS} (PostgreSQL's \
                 statement_timeout is an int of milliseconds; past it every connection is \
                 refused)"
            ),
        ));
        // Our own clock's: any duration works (the TCP user timeout made of it saturates).
        let reply_timeout = reader.seconds("DB_REPLY_TIMEOUT_SECS", DEFAULT_REPLY_TIMEOUT);
        if reply_timeout <= lock_timeout {
            // A read that meets a held lock would be cut off before the server can say so.
            reader.refuse(
                "DB_REPLY_TIMEOUT_SECS",
                &reply_timeout.as_secs().to_string(),
                format!(
                    "more than DB_LOCK_TIMEOUT_MS ({} ms)",
                    lock_timeout.as_millis()
                ),
            );
        }
        let base_options = postgres.get_options().unwrap_or_default().to_owned();
        postgres
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES);
        Self {
            postgres,
            base_options,
            ssl_mode: ssl_mode.unwrap_or(SslMode::Prefer),
            ssl_root_cert,
            pool_size: reader.whole_number_in(
                "DB_POOL_SIZE",
                DEFAULT_POOL_SIZE as u64,
                1..=MOST_CONNECTIONS,
                &format!(
                    "a whole number from 1 to {MOST_CONNECTIONS} (the most connections any \
                     PostgreSQL server takes; the pool sets room aside for each at start)"
                ),
            ) as usize,
            acquire_timeout: reader.seconds("DB_ACQUIRE_TIMEOUT_SECS", DEFAULT_ACQUIRE_TIMEOUT),
            lock_timeout,
            statement_timeout,
            reply_timeout,
        }
        .with_session_timeouts()
    }

    /// The connection settings, for a plain (unpooled) connection.
    pub fn postgres(&self) -> &tokio_postgres::Config {
        &self.postgres
    }

    /// The same connections with other timeouts (tests of time and outages use short ones).
    pub fn with_timeouts(mut self, lock: Duration, statement: Duration, reply: Duration) -> Self {
        self.lock_timeout = lock;
        self.statement_timeout = statement;
        self.reply_timeout = reply;
        self.with_session_timeouts()
    }

    /// Puts the lock and statement timeouts in the startup packet: no extra round trip per
    /// connection.
    fn with_session_timeouts(mut self) -> Self {
        let mut options = self.base_options.clone();
        for (setting, value) in [
            ("lock_timeout", self.lock_timeout),
            ("statement_timeout", self.statement_timeout),
        ] {
            options.push_str(&format!(" -c {setting}={}", value.as_millis()));
        }
        self.postgres.options(options.trim_start());
        // Data sent and not acknowledged for this long: the path is gone.
        self.postgres
            .tcp_user_timeout(self.statement_timeout + self.reply_timeout);
        self
    }

    /// The same server and credentials, another database (tests create their own).
    pub fn with_database(&self, name: &str) -> Self {
        let mut copy = self.clone();
        copy.postgres.dbname(name);
        copy
    }

    /// The same server and database, as another role (the functions' least-privilege ones).
    pub fn with_user(&self, name: &str) -> Self {
        let mut copy = self.clone();
        copy.postgres.user(name);
        copy
    }

    /// Where connections go, for messages: `host:port` or the socket file; never credentials.
    pub fn target(&self) -> String {
        use tokio_postgres::config::Host;
        let ports = self.postgres.get_ports();
        let targets: Vec<String> = self
            .postgres
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                match host {
                    Host::Tcp(name) => format!("{name}:{port}"),
                    Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
                }
            })
            .collect();
        match targets.len() {
            0 => "localhost:5432".into(),
            _ => targets.join(", "),
        }
    }

    /// True when every host is a Unix socket directory, where TLS does not apply.
    pub(crate) fn is_unix_socket(&self) -> bool {
        self.postgres
            .get_hosts()
            .iter()
            .all(|h| matches!(h, tokio_postgres::config::Host::Unix(_)))
    }
}

/// `PGPASSWORD`, or the contents of `PGPASSWORD_FILE` (a mounted secret), trailing newline
/// removed.
fn password(reader: &mut Reader) -> Option<String> {
    // Not trimmed: a password may begin or end with a space.
    if let Some(password) = reader.raw("PGPASSWORD") {
        return Some(password);
    }
    let path = reader.text("PGPASSWORD_FILE")?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text.trim_end_matches(['\r', '\n']).to_owned()),
        Err(e) => {
            reader.refuse(
                "PGPASSWORD_FILE",
                &path,
                format!("a file this process can read ({e})"),
            );
            None
        }
    }
}

/// What a complaint shows instead of a value that may hold a password.
const HIDDEN: &str = "(not shown: it may hold a password)";

/// Refuses a URL whose user name or password holds a raw `?`, `#`, `/` or `@`. The authority
/// (`user:password@host:port`) ends at the first `/`, `?` or `#`, so such a character cuts
/// the password short and turns the rest into a path or query: a `?` there used to move
/// `sslmode=require` out of reach (a plaintext connection). A raw `@` belongs only in the
/// authority, once; a `#` nowhere. Says nothing of the value: it holds a password.
fn check_url_delimiters(url: &str) -> Result<(), DbError> {
    let Some((_, rest)) = url.split_once("://") else {
        return Ok(());
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if tail.contains('@') || authority.matches('@').count() > 1 || url.contains('#') {
        return Err(DbError::config(
            "DATABASE_URL is malformed: a raw '?', '#', '/' or '@' in its user name or password \
             ends them early (and would move the parameters, sslmode among them, out of \
             reach); percent-encode them: ? as %3F, # as %23, / as %2F, @ as %40 (the value \
             is not shown: it may hold a password)",
        ));
    }
    Ok(())
}

/// A query parameter's value as written, percent-decoded (tokio-postgres decodes the others).
fn decoded(name: &str, value: &str) -> Result<String, DbError> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| {
            DbError::config(format!(
                "DATABASE_URL: its {name} is not UTF-8 once decoded"
            ))
        })
}

/// Parses a `postgres://` URL or a `key=value` string, taking out the `sslmode` and
/// `sslrootcert` that tokio-postgres would reject or ignore. No complaint repeats any part of
/// the value: it may hold a password.
fn parse_url(
    url: &str,
) -> Result<(tokio_postgres::Config, Option<SslMode>, Option<PathBuf>), DbError> {
    check_url_delimiters(url)?;
    let mut ssl_mode = None;
    let mut root_cert = None;
    let mut take = |key: &str, value: &str| -> Result<bool, DbError> {
        let said_before = match key {
            "sslmode" => ssl_mode.is_some(),
            "sslrootcert" => root_cert.is_some(),
            _ => false,
        };
        if said_before {
            // Which one wins differs between clients (libpq takes the last): an appended
            // `sslmode=disable` must not quietly undo a `require`.
            return Err(DbError::config(format!(
                "DATABASE_URL gives {key} more than once; give it once"
            )));
        }
        match key {
            "sslmode" => {
                let mode = decoded(key, value)?.parse().map_err(|_| {
                    DbError::config(
                        "DATABASE_URL: its sslmode is not one of disable, allow, prefer, require, \
                         verify-ca, verify-full",
                    )
                })?;
                ssl_mode = Some(mode);
            }
            "sslrootcert" => root_cert = Some(PathBuf::from(decoded(key, value)?)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if let Some((base, query)) = url.split_once('?') {
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(key, value)? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else if url.contains("://") {
        url.to_owned()
    } else {
        let mut kept = Vec::new();
        for pair in url.split_whitespace() {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(key, value)? {
                kept.push(pair);
            }
        }
        kept.join(" ")
    };
    // tokio-postgres's parse errors do not echo the input, so no password can leak here.
    let config = rest.parse::<tokio_postgres::Config>().map_err(|e| {
        DbError::config(format!(
            "DATABASE_URL is not a valid connection string: {e}"
        ))
    })?;
    Ok((config, ssl_mode, root_cert))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<DbConfig, DbError> {
        DbConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn reads_the_libpq_variables() {
        let c = config(&[
            ("PGHOST", "/cloudsql/p:r:i"),
            ("PGUSER", "admin"),
            ("PGPASSWORD", "hunter2"),
            ("PGDATABASE", "challenge_db"),
            ("DB_POOL_SIZE", "7"),
        ])
        .unwrap();
        assert!(c.is_unix_socket());
        assert_eq!(c.postgres.get_user(), Some("admin"));
        assert_eq!(c.postgres.get_password(), Some(&b"hunter2"[..]));
        assert_eq!(c.postgres.get_dbname(), Some("challenge_db"));
        assert_eq!(c.pool_size, 7);
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.target(), "/cloudsql/p:r:i/.s.PGSQL.5432");
    }

    #[test]
    fn the_target_names_host_and_port_never_the_password() {
        let c = config(&[
            ("PGHOST", "db.internal"),
            ("PGPORT", "6432"),
            ("PGPASSWORD", "hunter2"),
        ]);
        assert_eq!(c.unwrap().target(), "db.internal:6432");
        let c = config(&[("DATABASE_URL", "postgres://u:hunter2@10.0.0.5:5433/db")]);
        assert_eq!(c.unwrap().target(), "10.0.0.5:5433");
    }

    #[test]
    fn reads_a_url_with_verifying_sslmode() {
        let c = config(&[(
            "DATABASE_URL",
            "postgres://admin:s3cret@db.example.com:5433/app?sslmode=verify-full&sslrootcert=/ca.pem",
        )])
        .unwrap();
        assert_eq!(c.ssl_mode, SslMode::VerifyFull);
        assert_eq!(c.ssl_root_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(c.postgres.get_ports(), &[5433]);
        assert!(!c.is_unix_socket());
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn reads_the_password_from_a_file() {
        let path = std::env::temp_dir().join(format!("pgpass-test-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        let c = config(&[("PGPASSWORD_FILE", path.to_str().unwrap())]).unwrap();
        assert_eq!(c.postgres.get_password(), Some(&b"from-file"[..]));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_raw_delimiter_in_the_userinfo_is_refused_naming_percent_encoding_never_the_value() {
        for url in [
            "postgres://u:Secret?Part@h/db?sslmode=require",
            "postgres://u:Secret#Part@h/db?sslmode=require",
            "postgres://u:Secret@Part@h/db?sslmode=require",
            "postgres://u:Secret/Part@h/db?sslmode=require",
            "postgres://u:Secret?sslmode=Part@h/db",
            "postgresql://Secret?Part@h/db",
        ] {
            let e = config(&[("DATABASE_URL", url)]).unwrap_err().to_string();
            assert!(e.contains("percent-encode"), "{url}: {e}");
            assert!(!e.contains("Secret") && !e.contains("Part"), "{url}: {e}");
        }
        // Percent-encoded, the same password is read whole and sslmode is kept.
        let c = config(&[(
            "DATABASE_URL",
            "postgres://u:Secret%3FPart%23%2F%40@h/db?sslmode=require&sslrootcert=%2Fca%20dir%2Fca.pem",
        )])
        .unwrap();
        assert_eq!(c.postgres.get_password(), Some(&b"Secret?Part#/@"[..]));
        assert_eq!(c.ssl_mode, SslMode::Require);
        assert_eq!(c.ssl_root_cert, Some(PathBuf::from("/ca dir/ca.pem")));
        assert_eq!(c.target(), "h:5432");
        // A repeated TLS setting is refused, in either form: no order decides the security.
        for url in [
            "postgres://u:p@h/db?sslmode=require&sslmode=disable",
            "postgres://u:p@h/db?sslrootcert=/a.pem&sslmode=verify-full&sslrootcert=/b.pem",
            "host=h user=u sslmode=verify-full sslmode=prefer",
        ] {
            let e = config(&[("DATABASE_URL", url)]).unwrap_err().to_string();
            assert!(e.contains("more than once"), "{url}: {e}");
        }
        // A wrong sslmode in the URL is named, its value is not (it may be a password's tail).
        let e = config(&[("DATABASE_URL", "postgres://u:p@h/db?sslmode=SecretPart")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sslmode is not one of"), "{e}");
        assert!(!e.contains("Secret"), "{e}");
    }

    #[test]
    fn bad_settings_are_named_without_echoing_secrets() {
        let e = config(&[("PGSSLMODE", "sometimes")]).unwrap_err();
        assert!(e.to_string().contains("sometimes"));
        let e = config(&[("DATABASE_URL", "postgres://u:topsecret@h:notaport/db")]).unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
        assert!(config(&[("DB_POOL_SIZE", "0")])
            .unwrap_err()
            .to_string()
            .contains("DB_POOL_SIZE"));
    }
}
