//! The roles the functions log in as. Migration 0009 makes two groups with the least each
//! function needs (`pipeline_reader`, `pipeline_writer`); this makes a login role in each,
//! for the schema's owner to run at deploy time (the `migrate` binary) and in `scripts/dev`.

use crate::{error::DbError, Database};

/// A function's login role: its name, and the group whose rights it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionRole {
    /// `read`: may only `SELECT` the users table.
    Read,
    /// `ingest`: writes users and its bookkeeping, keeps dead letters; owns nothing.
    Ingest,
}

impl FunctionRole {
    /// Every function role, in the order they are provisioned.
    pub const ALL: [FunctionRole; 2] = [FunctionRole::Read, FunctionRole::Ingest];

    /// The role the function logs in as (its `PGUSER`).
    pub fn login(self) -> &'static str {
        match self {
            FunctionRole::Read => "pipeline_read",
            FunctionRole::Ingest => "pipeline_ingest",
        }
    }

    /// The group, made by migration 0009, whose grants the login has.
    pub fn group(self) -> &'static str {
        match self {
            FunctionRole::Read => "pipeline_reader",
            FunctionRole::Ingest => "pipeline_writer",
        }
    }
}

impl Database {
    /// Makes `role`'s login (or brings an existing one back to what it should be: a member of
    /// its group, with no other power) and, when `password` is given, sets its password.
    ///
    /// Needs a role that may create roles (the schema's owner: on Cloud SQL the user the API
    /// made). The password travels as a SCRAM-SHA-256 verifier computed here, so the plain
    /// text never reaches the server, its statement log or `pg_stat_statements`.
    pub async fn provision_login(
        &self,
        role: FunctionRole,
        password: Option<&str>,
    ) -> Result<(), DbError> {
        let fail = |e: tokio_postgres::Error| {
            DbError::from_postgres(&format!("provisioning the role {}", role.login()), &e)
        };
        let client = self.client().await?;
        let (login, group) = (role.login(), role.group());
        // Names are our own constants; a verifier is base64, digits, '$' and ':' only. Each
        // change is made only when needed: deploys and tests provision the same cluster-wide
        // roles again and again, and concurrent catalog updates of one role collide.
        let mut sql = format!(
            "DO $$
             DECLARE other name;
             BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{login}') THEN
                     BEGIN
                         CREATE ROLE {login} LOGIN;
                     EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                     END;
                 END IF;
                 IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{login}'
                            AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication
                                 OR rolbypassrls OR NOT rolinherit OR NOT rolcanlogin)) THEN
                     ALTER ROLE {login} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
                         NOBYPASSRLS INHERIT;
                 END IF;
                 FOR other IN SELECT g.rolname FROM pg_auth_members m
                              JOIN pg_roles g ON g.oid = m.roleid
                              JOIN pg_roles u ON u.oid = m.member
                              WHERE u.rolname = '{login}' AND g.rolname <> '{group}' LOOP
                     EXECUTE format('REVOKE %I FROM {login}', other);
                 END LOOP;
                 IF NOT pg_has_role('{login}', '{group}', 'MEMBER') THEN
                     GRANT {group} TO {login};
                 END IF;
             END $$;"
        );
        if let Some(password) = password {
            let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
            sql.push_str(&format!("ALTER ROLE {login} PASSWORD '{verifier}';"));
        }
        client.batch_execute(&sql).await.map_err(fail)
    }
}
