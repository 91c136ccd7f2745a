//! The one place where a database failure becomes a framework error, and so a status code:
//! transient failures ask for a retry (503), everything else is an internal error (500).

use crate::{db::DbError, framework::FunctionError};

/// Seconds a client should wait before retrying a request that met an unavailable database.
const RETRY_AFTER_SECS: u32 = 2;

impl From<DbError> for FunctionError {
    fn from(error: DbError) -> Self {
        if error.is_transient() {
            FunctionError::Unavailable {
                reason: error.message,
                retry_after_secs: RETRY_AFTER_SECS,
            }
        } else {
            FunctionError::Internal(error.message)
        }
    }
}
