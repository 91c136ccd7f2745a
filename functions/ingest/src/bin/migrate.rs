//! Brings a database up to date as its owner, before the functions run on it: applies the
//! migrations, and makes the login roles the two functions use (least privilege; see
//! migration 0009). The deploy runs it as a Cloud Run job; `scripts/dev` runs it locally.
//!
//! Connection settings are the functions' (`PG*`, `DATABASE_URL`), for the owner's role.
//! Each login's password comes from the variable named after it, in capitals, with
//! `_PASSWORD`: `PIPELINE_READ_PASSWORD`, `PIPELINE_READ_B_PASSWORD`,
//! `PIPELINE_INGEST_PASSWORD`, `PIPELINE_INGEST_B_PASSWORD`. Set, it becomes that login's
//! password (the deploy passes each slot's secret at a pinned version, so a login's password
//! changes only when its own secret gets a new version); unset, a password is left as it is
//! (locally, over a Unix socket with trust authentication, none is needed).

use std::process::ExitCode;

use shared::db::{Database, DbError, FunctionRole, LoginSlot};

fn password_variable(login: &str) -> String {
    format!("{}_PASSWORD", login.to_ascii_uppercase())
}

/// Migrates, then provisions every role: a role that cannot be set right is said, and the
/// others are still provisioned; it fails if any could not be. Then closes the maintenance
/// databases to the functions' roles, or says why it cannot.
async fn migrate(database: &Database) -> Result<(), DbError> {
    database.check().await?;
    let mut failed = None;
    let logins = FunctionRole::ALL
        .into_iter()
        .flat_map(|role| LoginSlot::ALL.map(|slot| (role, slot)));
    for (role, slot) in logins {
        let password = std::env::var(password_variable(role.login(slot)))
            .ok()
            .filter(|p| !p.is_empty());
        match database
            .provision_login(role, slot, password.as_deref())
            .await
        {
            Ok(()) => log::info!(
                "role {} ready (member of {}{})",
                role.login(slot),
                role.group(),
                if password.is_some() {
                    ", password set"
                } else {
                    ""
                }
            ),
            Err(e) => {
                if let Some(earlier) = failed.replace(e) {
                    log::error!("migrating failed: {earlier}");
                }
            }
        }
    }
    if let Some(error) = failed {
        return Err(error);
    }
    for (name, owner) in database.close_maintenance_databases().await? {
        log::warn!(
            "the functions' roles can still connect to the database {name} (PUBLIC may): only \
             its owner, {owner}, can run REVOKE CONNECT, TEMPORARY ON DATABASE {name} FROM PUBLIC"
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    shared::logging::init_with_default_level("info");
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "-h" || a == "--help")
    {
        println!("migrate: applies the migrations and makes the functions' login roles, as the schema's owner (PG* settings; PIPELINE_READ_PASSWORD, PIPELINE_READ_B_PASSWORD, PIPELINE_INGEST_PASSWORD, PIPELINE_INGEST_B_PASSWORD)");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = Database::from_env().map(|database| runtime.block_on(migrate(&database)));
    match result.and_then(|r| r) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("migrating failed: {e}");
            ExitCode::FAILURE
        }
    }
}
