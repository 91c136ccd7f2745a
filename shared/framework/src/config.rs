//! The framework's settings, read once from the environment at start-up.

use std::time::Duration;

use settings_reader::Reader;

use super::{config_error::ConfigError, signature::SignatureType};

/// Cloud Run sends SIGTERM and kills the instance 10 s later; leave room to exit cleanly.
const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(8);
/// A Pub/Sub message carries at most 10 MB of data, 13.4 MB once base64-encoded in a push or
/// an event, plus its attributes: 16 MiB holds the largest with room to spare.
const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Two bodies at the limit at once (and any number of small ones): measured, eight 16 MB
/// messages sent together then peak at ~180 MB, inside a 256 MiB instance.
const DEFAULT_MAX_INFLIGHT_BODY_BYTES: usize = 32 * 1024 * 1024;
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Cloud Run's front end reuses its connections to an instance; one unused this long is let go.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// A whole request body must arrive within this; Pub/Sub pushes at most ~14 MB in well under it.
const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2: ping a connection this often, and drop it if the ping is not answered in time.
const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the process is told by its environment, as the Functions Framework contract names it.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT`, default 8080.
    pub port: u16,
    /// `FUNCTION_TARGET`: which registered function to serve.
    pub target: Option<String>,
    /// `FUNCTION_SIGNATURE_TYPE`: `http` or `cloudevent`.
    pub signature_type: Option<SignatureType>,
    /// How connections and bodies are treated.
    pub server: ServerOptions,
    /// `K_SERVICE`, set by Cloud Run: the service's name.
    pub service: Option<String>,
    /// `K_REVISION`, set by Cloud Run: the revision's name.
    pub revision: Option<String>,
}

/// How the server treats connections and bodies; tests build it directly.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `MAX_REQUEST_BODY_BYTES`, default 16 MiB: a larger body gets 413.
    pub max_body_bytes: usize,
    /// `MAX_INFLIGHT_BODY_BYTES`, default 32 MiB: request bodies held at once; a request waits
    /// for room (up to the body-read timeout, then 503).
    pub max_inflight_body_bytes: usize,
    /// `HEADER_READ_TIMEOUT_SECS`, default 10: a client that has not sent its headers by then
    /// is disconnected.
    pub header_read_timeout: Duration,
    /// `SHUTDOWN_GRACE_SECS`, default 8: how long in-flight requests may run after SIGTERM.
    pub shutdown_grace: Duration,
    /// `IDLE_TIMEOUT_SECS`, default 90: a connection (HTTP/1 keep-alive or HTTP/2) with no
    /// request for this long is closed.
    pub idle_timeout: Duration,
    /// `BODY_READ_TIMEOUT_SECS`, default 30: a request body not fully received by then gets 408
    /// and the connection is closed.
    pub body_read_timeout: Duration,
    /// `HTTP2_KEEP_ALIVE_INTERVAL_SECS`, default 30: how often an HTTP/2 connection is pinged.
    pub keep_alive_interval: Duration,
    /// `HTTP2_KEEP_ALIVE_TIMEOUT_SECS`, default 10: an HTTP/2 peer that does not answer a ping
    /// within this is disconnected.
    pub keep_alive_timeout: Duration,
    /// `REQUEST_TIMEOUT_SECS`, unset by default: the platform's request timeout (Cloud Run's
    /// `timeout`, which it does not tell the container), what
    /// [`Context::deadline`](crate::Context::deadline) counts from.
    pub request_timeout: Option<Duration>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_inflight_body_bytes: DEFAULT_MAX_INFLIGHT_BODY_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            keep_alive_interval: DEFAULT_KEEP_ALIVE_INTERVAL,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            request_timeout: None,
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::checked(Reader::from_env())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::checked(Reader::new(lookup))
    }

    fn checked(mut reader: Reader) -> Result<Self, ConfigError> {
        let config = Self::read(&mut reader);
        reader.finish().map_err(ConfigError::Settings)?;
        Ok(config)
    }

    /// Reads the framework's settings through `reader`, which keeps any bad one for its
    /// `finish` (a binary reads every crate's settings first, then reports them all at once).
    pub fn read(reader: &mut Reader) -> Self {
        let defaults = ServerOptions::default();
        Self {
            port: reader.port("PORT", 8080),
            target: reader.text("FUNCTION_TARGET"),
            signature_type: reader.choice("FUNCTION_SIGNATURE_TYPE", &SignatureType::NAMED),
            server: ServerOptions {
                max_body_bytes: reader.bytes("MAX_REQUEST_BODY_BYTES", defaults.max_body_bytes),
                max_inflight_body_bytes: reader
                    .bytes("MAX_INFLIGHT_BODY_BYTES", defaults.max_inflight_body_bytes),
                header_read_timeout: reader
                    .seconds("HEADER_READ_TIMEOUT_SECS", defaults.header_read_timeout),
                shutdown_grace: reader.seconds("SHUTDOWN_GRACE_SECS", defaults.shutdown_grace),
                idle_timeout: reader.seconds("IDLE_TIMEOUT_SECS", defaults.idle_timeout),
                body_read_timeout: reader
                    .seconds("BODY_READ_TIMEOUT_SECS", defaults.body_read_timeout),
                keep_alive_interval: reader.seconds(
                    "HTTP2_KEEP_ALIVE_INTERVAL_SECS",
                    defaults.keep_alive_interval,
                ),
                keep_alive_timeout: reader
                    .seconds("HTTP2_KEEP_ALIVE_TIMEOUT_SECS", defaults.keep_alive_timeout),
                request_timeout: reader
                    .parsed::<std::num::NonZeroU64>(
                        "REQUEST_TIMEOUT_SECS",
                        "a positive whole number of seconds",
                    )
                    .map(|secs| Duration::from_secs(secs.get())),
            },
            service: reader.text("K_SERVICE"),
            revision: reader.text("K_REVISION"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        config_typed(pairs).map_err(|e| e.to_string())
    }

    fn config_typed(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[]).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.target, None);
        assert_eq!(c.signature_type, None);
        assert_eq!(c.server.max_body_bytes, 16 * 1024 * 1024);
        assert_eq!(c.server.shutdown_grace, Duration::from_secs(8));
    }

    #[test]
    fn reads_every_setting() {
        let c = config(&[
            ("PORT", "9090"),
            ("FUNCTION_TARGET", "ingest"),
            ("FUNCTION_SIGNATURE_TYPE", "cloudevent"),
            ("MAX_REQUEST_BODY_BYTES", "1024"),
            ("K_SERVICE", "svc"),
            ("K_REVISION", "svc-001"),
        ])
        .unwrap();
        assert_eq!(c.port, 9090);
        assert_eq!(c.target.as_deref(), Some("ingest"));
        assert_eq!(c.signature_type, Some(SignatureType::CloudEvent));
        assert_eq!(c.server.max_body_bytes, 1024);
        assert_eq!(c.service.as_deref(), Some("svc"));
        assert_eq!(c.revision.as_deref(), Some("svc-001"));
    }

    #[test]
    fn says_every_wrong_variable_and_how_at_once() {
        let ConfigError::Settings(errors) =
            config_typed(&[("IDLE_TIMEOUT_SECS", "soon"), ("PORT", "70000")]).unwrap_err()
        else {
            panic!("a settings error")
        };
        let variables: Vec<&str> = errors.0.iter().map(|e| e.variable.as_str()).collect();
        assert_eq!(variables, ["PORT", "IDLE_TIMEOUT_SECS"]);
        assert_eq!(
            errors.0[1].to_string(),
            "IDLE_TIMEOUT_SECS=\"soon\": expected a positive whole number of seconds"
        );
    }

    #[test]
    fn rejects_bad_values_with_the_variable_name() {
        assert!(config(&[("PORT", "eighty")]).unwrap_err().contains("PORT"));
        assert!(config(&[("PORT", "70000")]).unwrap_err().contains("PORT"));
        let e = config(&[("FUNCTION_SIGNATURE_TYPE", "legacyevent")]).unwrap_err();
        assert!(
            e.contains("FUNCTION_SIGNATURE_TYPE")
                && e.contains("legacyevent")
                && e.contains("event"),
            "{e}"
        );
        assert!(config(&[("MAX_REQUEST_BODY_BYTES", "-1")])
            .unwrap_err()
            .contains("MAX_REQUEST_BODY_BYTES"));
    }
}
