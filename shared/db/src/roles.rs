//! The roles the functions log in as. Migration 0009 makes two groups with the least each
//! function needs (`pipeline_reader`, `pipeline_writer`); this makes the login roles in each,
//! for the schema's owner to run at deploy time (the `migrate` binary) and in `scripts/dev`,
//! and brings back to what it should be a login or a group someone changed by hand.
//!
//! Each function has two logins in its group, slots A and B, each with its own password: the
//! services log in with one while the other's password changes, so a password rotation never
//! changes the password of a login a running revision uses (docs/operations.md, "Rotating the
//! functions' passwords").
//!
//! The owner is no superuser (on Cloud SQL nobody is: the user the API makes has CREATEROLE
//! and CREATEDB and belongs to `cloudsqlsuperuser`), and PostgreSQL lets only a superuser
//! name SUPERUSER, REPLICATION or BYPASSRLS, or alter a role that has the first two. So each
//! attribute is changed only when it differs, and a role that has one of those (which only a
//! superuser can have given it) is reported as such, with what to do, instead of failing
//! every deploy on a statement that names them.

use crate::{error::DbError, Database};

/// A function whose logins these are, and the group whose rights they have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionRole {
    /// `read`: may only `SELECT` the users table.
    Read,
    /// `ingest`: writes users and its bookkeeping, keeps dead letters; owns nothing.
    Ingest,
}

/// Which of a function's two logins: the deploy picks one for the services (the stack
/// setting `dbLoginSlot`) and may change the other's password meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginSlot {
    /// The login a fresh deploy and `scripts/dev` use.
    A,
    /// The other, named with `_b`.
    B,
}

impl LoginSlot {
    /// Both slots, in the order they are provisioned.
    pub const ALL: [LoginSlot; 2] = [LoginSlot::A, LoginSlot::B];
}

impl FunctionRole {
    /// Every function role, in the order they are provisioned.
    pub const ALL: [FunctionRole; 2] = [FunctionRole::Read, FunctionRole::Ingest];

    /// The role the function logs in as (its `PGUSER`) when `slot` is the active one.
    pub fn login(self, slot: LoginSlot) -> &'static str {
        match (self, slot) {
            (FunctionRole::Read, LoginSlot::A) => "pipeline_read",
            (FunctionRole::Read, LoginSlot::B) => "pipeline_read_b",
            (FunctionRole::Ingest, LoginSlot::A) => "pipeline_ingest",
            (FunctionRole::Ingest, LoginSlot::B) => "pipeline_ingest_b",
        }
    }

    /// The group, made by migration 0009, whose grants both its logins have.
    pub fn group(self) -> &'static str {
        match self {
            FunctionRole::Read => "pipeline_reader",
            FunctionRole::Ingest => "pipeline_writer",
        }
    }
}

/// The databases every cluster has, which the functions never need: PUBLIC may connect to
/// them and make temporary tables there by default.
const MAINTENANCE_DATABASES: &str = "'postgres', 'template1'";

impl Database {
    /// Takes CONNECT and TEMPORARY on the cluster's maintenance databases (`postgres`,
    /// `template1`) back from PUBLIC, so the functions' roles reach no database but their
    /// own, where the role migrating may: only a database's owner, or a member of the role
    /// that owns it, can (Cloud SQL's admin belongs to `cloudsqlsuperuser`, which owns both).
    /// The database being migrated is left alone. Returns the databases the functions' roles
    /// can still reach and that this role cannot close, each with its owner, for the caller
    /// to report. Call it after [`Database::provision_login`].
    pub async fn close_maintenance_databases(&self) -> Result<Vec<(String, String)>, DbError> {
        let client = self.client().await?;
        let fail =
            |e: tokio_postgres::Error| provisioning_error("closing the maintenance databases", &e);
        let open = client
            .query(
                &format!(
                    "SELECT datname::text, pg_get_userbyid(datdba)::text,
                            pg_has_role(current_user, datdba, 'USAGE')
                     FROM pg_database
                     WHERE datname IN ({MAINTENANCE_DATABASES}) AND datname <> current_database()
                       AND EXISTS (SELECT FROM unnest(ARRAY['pipeline_reader', 'pipeline_writer']) g,
                                                 unnest(ARRAY['CONNECT', 'TEMPORARY']) p
                                   WHERE has_database_privilege(g, oid, p))
                     ORDER BY 1"
                ),
                &[],
            )
            .await
            .map_err(fail)?;
        let mut left = Vec::new();
        for row in open {
            let (name, owner, may): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
            if may {
                client
                    .batch_execute(&format!(
                        "REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC",
                        ident(&name)
                    ))
                    .await
                    .map_err(fail)?;
            } else {
                left.push((name, owner));
            }
        }
        Ok(left)
    }
}

/// What a role is now, as far as provisioning cares (`pg_roles`, readable by anyone).
struct RoleState {
    superuser: bool,
    replication: bool,
    bypassrls: bool,
    /// Differs from what it should be in an attribute the owner may change: LOGIN, CREATEDB,
    /// CREATEROLE, INHERIT, CONNECTION LIMIT, VALID UNTIL.
    ordinary_drift: bool,
    /// The roles it belongs to, with whether each is a superuser, and whether it may
    /// grant that membership on (ADMIN OPTION).
    memberships: Vec<(String, bool, bool)>,
}

const ROLE_STATE: &str = "
    SELECT r.rolsuper, r.rolreplication, r.rolbypassrls,
           r.rolcanlogin <> $2 OR r.rolcreatedb OR r.rolcreaterole OR NOT r.rolinherit
               OR r.rolconnlimit <> -1
               OR (r.rolvaliduntil IS NOT NULL AND r.rolvaliduntil <> 'infinity'),
           ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                 WHERE m.member = r.oid ORDER BY 1),
           ARRAY(SELECT g.rolsuper FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                 WHERE m.member = r.oid ORDER BY g.rolname::text),
           ARRAY(SELECT m.admin_option FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                 WHERE m.member = r.oid ORDER BY g.rolname::text)
    FROM pg_roles r WHERE r.rolname = $1";

impl Database {
    /// Makes `role`'s login in `slot` (or brings an existing one back to what it should be: a
    /// member of its group only, with no other power) and, when `password` is given, sets its
    /// password; the other slot's login is left alone. Its group is brought back too: NOLOGIN,
    /// no power, a member of nothing.
    ///
    /// Needs a role with CREATEROLE (the schema's owner: on Cloud SQL the user the API made);
    /// never a superuser. A role given SUPERUSER, REPLICATION or BYPASSRLS, or made a member
    /// of a superuser, can be set right only by a superuser: that is a configuration error
    /// that names the role, what it has, and the way out.
    ///
    /// The password travels as a SCRAM-SHA-256 verifier computed here, so the plain text
    /// never reaches the server, its statement log or `pg_stat_statements`.
    pub async fn provision_login(
        &self,
        role: FunctionRole,
        slot: LoginSlot,
        password: Option<&str>,
    ) -> Result<(), DbError> {
        let client = self.client().await?;
        let (login, group) = (role.login(slot), role.group());
        // The group first: while it has a power it must not, so has its login.
        repair(&client, group, false, None).await?;
        repair(&client, login, true, Some(group)).await?;
        if let Some(password) = password {
            let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
            // A verifier is base64, digits, '$' and ':' only; the name is our own constant.
            run(
                &client,
                login,
                &format!("ALTER ROLE {login} PASSWORD '{verifier}'"),
            )
            .await?;
        }
        Ok(())
    }
}

/// Brings `name` to what it should be: LOGIN or NOLOGIN as `login` says, no other attribute,
/// no connection limit or expiry, a member of `member_of` only (without ADMIN OPTION). Made
/// first when missing. Each change is made only when needed: deploys and tests provision the
/// same cluster-wide roles again and again, and concurrent catalog updates of one role collide.
async fn repair(
    client: &tokio_postgres::Client,
    name: &str,
    login: bool,
    member_of: Option<&str>,
) -> Result<(), DbError> {
    let kind = if login { "LOGIN" } else { "NOLOGIN" };
    // Names are our own constants. Roles belong to the whole cluster: another database's
    // deploy (or a test) may be making the same one at this moment.
    run(
        client,
        name,
        &format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
                     CREATE ROLE {name} {kind};
                 END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$"
        ),
    )
    .await?;
    let state = role_state(client, name, login).await?;

    let mut superuser_only = Vec::new();
    if state.superuser {
        superuser_only.push("SUPERUSER".to_owned());
    }
    if state.replication {
        superuser_only.push("REPLICATION".to_owned());
    }
    if state.bypassrls {
        superuser_only.push("BYPASSRLS".to_owned());
    }
    for (other, is_superuser, _) in &state.memberships {
        if *is_superuser {
            superuser_only.push(format!("membership of the superuser {other}"));
        }
    }
    if !superuser_only.is_empty() {
        // Cloud SQL lets its admin take back some of these (REPLICATION): try; PostgreSQL
        // itself lets only a superuser.
        // Each named only when set: naming even NOSUPERUSER needs a superuser.
        let attempt = async {
            for (set, undo) in [
                (state.superuser, "NOSUPERUSER"),
                (state.replication, "NOREPLICATION"),
                (state.bypassrls, "NOBYPASSRLS"),
            ] {
                if set {
                    client
                        .batch_execute(&format!("ALTER ROLE {name} {undo}"))
                        .await?;
                }
            }
            for (other, is_superuser, _) in &state.memberships {
                if *is_superuser {
                    client
                        .batch_execute(&format!("REVOKE {} FROM {name}", ident(other)))
                        .await?;
                }
            }
            Ok::<_, tokio_postgres::Error>(())
        };
        if let Err(e) = attempt.await {
            return Err(superuser_only_drift(client, name, login, &superuser_only, &e).await);
        }
    }

    if state.ordinary_drift {
        run(
            client,
            name,
            &format!(
                "ALTER ROLE {name} {kind} NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT -1 \
                 VALID UNTIL 'infinity'"
            ),
        )
        .await?;
    }
    for (other, is_superuser, admin_option) in &state.memberships {
        if Some(other.as_str()) == member_of {
            if *admin_option {
                run(
                    client,
                    name,
                    &format!("REVOKE ADMIN OPTION FOR {other} FROM {name}"),
                )
                .await?;
            }
        } else if !is_superuser {
            run(
                client,
                name,
                &format!("REVOKE {} FROM {name}", ident(other)),
            )
            .await?;
        }
    }
    if let Some(group) = member_of {
        if !state.memberships.iter().any(|(g, _, _)| g == group) {
            run(client, name, &format!("GRANT {group} TO {name}")).await?;
        }
    }
    Ok(())
}

async fn role_state(
    client: &tokio_postgres::Client,
    name: &str,
    login: bool,
) -> Result<RoleState, DbError> {
    let row = client
        .query_one(ROLE_STATE, &[&name, &login])
        .await
        .map_err(|e| provisioning_error(name, &e))?;
    let names: Vec<String> = row.get(4);
    let superusers: Vec<bool> = row.get(5);
    let admin_options: Vec<bool> = row.get(6);
    Ok(RoleState {
        superuser: row.get(0),
        replication: row.get(1),
        bypassrls: row.get(2),
        ordinary_drift: row.get(3),
        memberships: names
            .into_iter()
            .zip(superusers)
            .zip(admin_options)
            .map(|((n, s), a)| (n, s, a))
            .collect(),
    })
}

/// A role name someone else chose, quoted for SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn run(client: &tokio_postgres::Client, name: &str, sql: &str) -> Result<(), DbError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| provisioning_error(name, &e))
}

/// A failure to make or repair `name`. Lacking a privilege here is the migrating role's
/// fault, not a function's: say what that role needs.
fn provisioning_error(name: &str, error: &tokio_postgres::Error) -> DbError {
    DbError::from_postgres_advised(
        &format!("provisioning the role {name}"),
        error,
        "; the role that migrates (PGUSER of the migrate job: the schema's owner) needs \
         CREATEROLE to make and repair the functions' roles, as Cloud SQL's admin user has",
    )
}

/// `name` has powers only a superuser can take back, and the migrating role could not.
async fn superuser_only_drift(
    client: &tokio_postgres::Client,
    name: &str,
    login: bool,
    what: &[String],
    error: &tokio_postgres::Error,
) -> DbError {
    let me: String = match client.query_one("SELECT current_user::text", &[]).await {
        Ok(row) => row.get(0),
        Err(_) => "the role that migrates".into(),
    };
    let cause = error
        .as_db_error()
        .map_or_else(|| error.to_string(), |db| db.message().to_owned());
    // A login holds nothing of its own (its group holds the grants), so it can be made
    // afresh; a group cannot (the migrations that granted it do not run again).
    let or_drop = if login {
        format!(
            ", or, unless it is a superuser itself, drop it (DROP ROLE {name}, as {me}) for the \
             next deploy to make it afresh"
        )
    } else {
        String::new()
    };
    DbError::config(format!(
        "provisioning the role {name}: it has {}, which only a superuser can give or take \
         back ({cause}), and {me} is not one; no function may run with that power, so the \
         deploy stops here. A superuser must run ALTER ROLE {name} NOSUPERUSER \
         NOREPLICATION NOBYPASSRLS (and revoke the superuser membership){or_drop} \
         (docs/operations.md, \"A function's role changed by hand\")",
        what.join(", ")
    ))
}
