# A throwaway PostgreSQL cluster: initdb into a folder, a Unix socket (as Cloud SQL's
# /cloudsql/... in production) plus 127.0.0.1 on a free port. Works as a normal user and, for
# CI, as root (the server then runs as the `postgres` user, since PostgreSQL refuses root).
#
# Shaped like Cloud SQL, whose users are never superusers: clients log in as `admin`, a LOGIN
# role with CREATEROLE and CREATEDB and a member of `cloudsqlsuperuser` (a NOLOGIN role with
# the same two attributes, which owns the `postgres` and `template1` databases), as the user
# the Cloud SQL API makes is: what needs a superuser fails here as it would there. The
# bootstrap superuser (PG_SUPERUSER, `postgres`) is kept for what only a superuser can do (a
# benchmark's extensions, a test that plays someone with more power than Cloud SQL gives).
# shellcheck shell=bash

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

pg_find_bin() {
  local dir
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  return 1
}

pg_ensure_installed() {
  PG_BIN=$(pg_find_bin) && return
  note "PostgreSQL server binaries not found; installing Debian's postgresql"
  apt_install postgresql || die "PostgreSQL (initdb, pg_ctl) is not installed and could not be installed; install PostgreSQL 15 or later and retry"
  PG_BIN=$(pg_find_bin) || die "postgresql installed but pg_ctl not found"
}

# Runs a PostgreSQL program as the user that owns the cluster.
pg_as_owner() {
  if is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pg_start DIR: starts a cluster whose data lives in DIR (created if needed, kept if it
# exists) and exports PGHOST, PGPORT, PGUSER, PGDATABASE for it. As root, DIR must be a
# folder the postgres user can reach: a folder under /tmp always is.
pg_start() {
  local dir=$1
  pg_ensure_installed
  PG_DATA=$dir/data
  PG_SOCKET=$dir/socket
  mkdir -p "$PG_SOCKET"
  if pg_running "$dir"; then
    die "PostgreSQL in $dir is already running (another scripts/dev, or a test, uses this folder)"
  fi
  PG_PORT=$(cat "$dir/port" 2>/dev/null) || PG_PORT=
  if [ -z "$PG_PORT" ] || port_in_use "$PG_PORT"; then
    # Clients use the socket; the TCP port is only kept stable while it is free.
    [ -z "$PG_PORT" ] || note "PostgreSQL's port $PG_PORT is taken by another program; using another"
    PG_PORT=$(free_port)
    echo "$PG_PORT" >"$dir/port"
  fi
  if is_root; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    chown -R postgres "$dir"
    runuser -u postgres -- test -w "$dir" || die "$dir is not reachable by the postgres user"
  fi
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$dir/postgres.log" -w -t 60 \
    -o "-k $PG_SOCKET -p $PG_PORT -c listen_addresses=127.0.0.1 -c max_connections=200 ${PG_OPTIONS:-}" \
    start >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  export PGHOST=$PG_SOCKET PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=postgres
  unset PGPASSWORD DATABASE_URL
  pg_shape_like_cloud_sql
  export PGUSER=admin PG_SUPERUSER=postgres
}

# The roles and ownership a Cloud SQL instance has (see the top of this file); idempotent.
pg_shape_like_cloud_sql() {
  psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || die "could not make the Cloud SQL-shaped admin role"
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cloudsqlsuperuser') THEN
        CREATE ROLE cloudsqlsuperuser NOLOGIN CREATEROLE CREATEDB;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'admin') THEN
        CREATE ROLE admin LOGIN CREATEROLE CREATEDB IN ROLE cloudsqlsuperuser;
    END IF;
END $$;
ALTER DATABASE postgres OWNER TO cloudsqlsuperuser;
ALTER DATABASE template1 OWNER TO cloudsqlsuperuser;
SQL
}

# pg_running DIR: is the cluster in DIR running?
pg_running() {
  local pid
  pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null) && [ -n "$pid" ] && ! process_gone "$pid"
}

# pg_stop DIR [MODE]: stops the cluster in DIR; MODE immediate stops it as a crash would.
pg_stop() {
  local dir=$1 mode=${2:-fast}
  [ -d "$dir/data" ] || return 0
  PG_BIN=${PG_BIN:-$(pg_find_bin)} || return 0
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m "$mode" -w stop >/dev/null 2>&1 || true
}
