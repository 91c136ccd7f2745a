//! TLS for TCP connections, following libpq's `sslmode`. Unix sockets (Cloud SQL's
//! `/cloudsql/...`) need none.

use std::path::Path;

use native_tls::{Certificate, TlsConnector};
use postgres_native_tls::MakeTlsConnector;

use super::{config::SslMode, error::DbError};

pub(super) fn postgres_ssl_mode(mode: SslMode) -> tokio_postgres::config::SslMode {
    use tokio_postgres::config::SslMode as Pg;
    match mode {
        SslMode::Disable => Pg::Disable,
        SslMode::Prefer => Pg::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Pg::Require,
    }
}

pub(super) fn connector(
    mode: SslMode,
    root_cert: Option<&Path>,
) -> Result<MakeTlsConnector, DbError> {
    let mut builder = TlsConnector::builder();
    if let Some(path) = root_cert {
        let pem = std::fs::read(path).map_err(|e| {
            DbError::config(format!("cannot read PGSSLROOTCERT {}: {e}", path.display()))
        })?;
        let certificate = Certificate::from_pem(&pem).map_err(|e| {
            DbError::config(format!(
                "PGSSLROOTCERT {} is not a PEM certificate: {e}",
                path.display()
            ))
        })?;
        builder.add_root_certificate(certificate);
    }
    match mode {
        // As libpq: `require` verifies the chain only when a root certificate is given.
        SslMode::Prefer | SslMode::Require if root_cert.is_none() => {
            builder
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        SslMode::Prefer | SslMode::Require | SslMode::VerifyCa => {
            builder.danger_accept_invalid_hostnames(true);
        }
        SslMode::VerifyFull | SslMode::Disable => {}
    }
    let connector = builder
        .build()
        .map_err(|e| DbError::config(format!("cannot set up TLS: {e}")))?;
    Ok(MakeTlsConnector::new(connector))
}
