//! Helpers shared by the ingest test files.

/// The test cluster's settings for `database`, but with a role that does not exist: a
/// configuration error, which no retry mends.
pub fn wrong_user(database: &str) -> shared::db::DbConfig {
    shared::db::DbConfig::from_lookup(|name| match name {
        "PGUSER" => Some("no_such_role".into()),
        _ => std::env::var(name).ok(),
    })
    .unwrap()
    .with_database(database)
}
