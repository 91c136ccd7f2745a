//! The one place where a database failure becomes a framework error, and so a status code:
//! transient failures and wrong settings ask for a retry (503: a message waits in Pub/Sub
//! until the database is back or the settings are fixed), everything else is an internal
//! error (500). Neither layer knows the other, so the mapping is a function of this glue
//! crate: `result.map_err(shared::function_error)?`.

use crate::{
    db::{DbError, DbErrorKind},
    framework::FunctionError,
};

/// Seconds a client should wait before retrying a request that met an unavailable database.
const RETRY_AFTER_SECS: u32 = 2;

/// What a function answers when the database failed with `error`.
pub fn function_error(error: DbError) -> FunctionError {
    if error.is_transient() || *error.kind() == DbErrorKind::Config {
        FunctionError::Unavailable {
            reason: error.into_message(),
            retry_after_secs: RETRY_AFTER_SECS,
        }
    } else {
        FunctionError::Internal(error.into_message())
    }
}
