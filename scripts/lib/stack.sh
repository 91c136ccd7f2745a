# The local pipeline's parts, wired as in production: PostgreSQL on a Unix socket (as Cloud
# SQL's /cloudsql/...), the Pub/Sub emulator with a push subscription to ingest (as Eventarc),
# and the two functions. Used by scripts/dev and scripts/e2e.
#
# Settings (set before calling stack_init): STACK_DIR (the state folder), BIN_DIR (where the
# function binaries are), INGEST_PORT, READ_PORT, PUBSUB_PORT, PROJECT, TOPIC.
# shellcheck shell=bash

STACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=common.sh
. "$STACK_ROOT/scripts/lib/common.sh"
# shellcheck source=postgres.sh
. "$STACK_ROOT/scripts/lib/postgres.sh"

DATABASE=challenge_db
SUBSCRIPTION=ingest-push

stack_init() {
  mkdir -p "$STACK_DIR/logs" "$STACK_DIR/pids"
  : "${PROJECT:=local-project}" "${TOPIC:=ingestion-topic}"
}

# stack_other_owner: the live process, not this one, that runs the stack in STACK_DIR, if any.
stack_other_owner() {
  local owner
  owner=$(cat "$STACK_DIR/owner" 2>/dev/null) || return 1
  [ -n "$owner" ] && [ "$owner" != $$ ] && ! process_gone "$owner" && printf '%s' "$owner"
}

# stack_claim: makes this process the one that runs the stack in STACK_DIR; fails, touching
# nothing, when another live process already does. stack_release gives it up.
stack_claim() {
  if stack_other_owner >/dev/null; then
    return 1
  fi
  echo $$ >"$STACK_DIR/owner"
}

stack_release() {
  [ "$(cat "$STACK_DIR/owner" 2>/dev/null)" = $$ ] && rm -f "$STACK_DIR/owner"
  return 0
}

stack_start_postgres() {
  mkdir -p "$STACK_DIR/postgres"
  pg_start "$STACK_DIR/postgres"
  local owner
  owner=$(psql -X -tAc "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$DATABASE'")
  if [ -z "$owner" ]; then
    psql -X -q -c "CREATE DATABASE $DATABASE"
  elif [ "$owner" != "$PGUSER" ]; then
    die "the database $DATABASE in $STACK_DIR belongs to $owner, not to $PGUSER (made by an older version, as the superuser); start afresh with --wipe"
  fi
  export PGDATABASE=$DATABASE
  # As in production, the schema's owner (admin, no superuser: see lib/postgres.sh) migrates
  # and makes the functions' login roles before they start; each function then logs in as
  # its own least-privilege role.
  "$BIN_DIR/migrate" >>"$STACK_DIR/logs/migrate.log" 2>&1 \
    || { tail -n 20 "$STACK_DIR/logs/migrate.log" >&2; die "the migrations failed (log: $STACK_DIR/logs/migrate.log)"; }
}

stack_stop_postgres() {
  pg_stop "$STACK_DIR/postgres" "${1:-fast}"
}

# Answers anything over HTTP on PORT (any status)?
http_up() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/")" != "000" ]
}

# stack_start_function NAME PORT: runs a function binary in the background, logging to
# $STACK_DIR/logs/NAME.log, and waits until it answers.
stack_start_function() {
  local name=$1 port=$2
  require_free_port "$port" "$name"
  PORT=$port FUNCTION_TARGET=$name PGUSER=pipeline_$name RUST_LOG=${RUST_LOG:-info,ingest=debug} \
    "$BIN_DIR/$name" >>"$STACK_DIR/logs/$name.log" 2>&1 &
  echo $! >"$STACK_DIR/pids/$name"
  wait_for 20 http_up "$port" || { tail -n 20 "$STACK_DIR/logs/$name.log" >&2; die "$name did not start (its log: $STACK_DIR/logs/$name.log)"; }
}

# stack_stop_function NAME [SIGNAL]: stops it (SIGTERM: gracefully) and waits for it to exit.
stack_stop_function() {
  local name=$1 signal=${2:-TERM} pid
  pid=$(cat "$STACK_DIR/pids/$name" 2>/dev/null) || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  wait_for 15 process_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STACK_DIR/pids/$name"
}

# Loads the six sample users (as the owner: the functions' roles cannot).
stack_load_sample_users() {
  psql -X -q -v ON_ERROR_STOP=1 -f "$STACK_ROOT/shared/db/sql/sample_users.sql" >/dev/null
}

# The Pub/Sub emulator's start script in the Cloud SDK, if installed.
stack_find_emulator() {
  local gcloud sdk
  gcloud=$(command -v gcloud) || return 1
  command -v java >/dev/null || return 1
  sdk=$(dirname "$(dirname "$(readlink -f "$gcloud")")")
  EMULATOR=$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator
  [ -x "$EMULATOR" ]
}

pubsub_api() {
  local method=$1 path=$2 body=${3:-}
  curl -fsS -X "$method" -H 'content-type: application/json' ${body:+--data "$body"} \
    "http://127.0.0.1:$PUBSUB_PORT/v1/projects/$PROJECT/$path"
}

# Starts the emulator in a process group of its own (its Java child must stop with it), then
# creates the topic and a push subscription to ingest whose path carries the topic, so the
# CloudEvent's source is the topic's, as with Eventarc.
stack_start_emulator() {
  require_free_port "$PUBSUB_PORT" "the Pub/Sub emulator"
  setsid "$EMULATOR" --host=127.0.0.1 --port="$PUBSUB_PORT" >>"$STACK_DIR/logs/pubsub-emulator.log" 2>&1 &
  echo $! >"$STACK_DIR/pids/pubsub-emulator"
  wait_for 60 http_up "$PUBSUB_PORT" || { tail -n 20 "$STACK_DIR/logs/pubsub-emulator.log" >&2; die "the Pub/Sub emulator did not start"; }
  pubsub_api PUT "topics/$TOPIC" >/dev/null
  pubsub_api PUT "subscriptions/$SUBSCRIPTION" "{
    \"topic\": \"projects/$PROJECT/topics/$TOPIC\",
    \"pushConfig\": {\"pushEndpoint\": \"http://127.0.0.1:$INGEST_PORT/projects/$PROJECT/topics/$TOPIC\"},
    \"ackDeadlineSeconds\": 20,
    \"retryPolicy\": {\"minimumBackoff\": \"1s\", \"maximumBackoff\": \"10s\"}
  }" >/dev/null
}

stack_stop_emulator() {
  local pid
  pid=$(cat "$STACK_DIR/pids/pubsub-emulator" 2>/dev/null) || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait_for 15 group_gone "$pid" || kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$STACK_DIR/pids/pubsub-emulator"
}

# The logs of the parts that run, followed: the emulator's per-request "Forwarding key" pairs
# are left out (they stay in its log file).
stack_follow_logs() {
  local logs=("$STACK_DIR/logs/read.log" "$STACK_DIR/logs/ingest.log")
  [ -n "${EMULATOR:-}" ] && logs+=("$STACK_DIR/logs/pubsub-emulator.log")
  exec tail -n 0 -F ${logs[@]+"${logs[@]}"} > >(stack_quiet_emulator)
}

# Line by line in bash: awk, sed and grep block-buffer a pipe on some machines (Debian's
# mawk held lines back for about 100 s), and a log that follows must not.
stack_quiet_emulator() {
  local line held=
  while IFS= read -r line; do
    if [ -n "$held" ]; then
      case $line in *"orwarding key:"*) ;; *) printf '%s\n%s\n' "$held" "$line" ;; esac
      held=
      continue
    fi
    case $line in
      *"HttpAdapter\$StubMethodHandler handle") held=$line ;;
      *) printf '%s\n' "$line" ;;
    esac
  done
}

# The first part of the stack that is no longer running (read, ingest, pubsub-emulator,
# postgres), or nothing.
stack_first_dead() {
  local name pid
  for name in read ingest pubsub-emulator; do
    pid=$(cat "$STACK_DIR/pids/$name" 2>/dev/null) || continue
    if process_gone "$pid"; then echo "$name"; return; fi
  done
  pg_running "$STACK_DIR/postgres" || echo postgres
}

# stack_report_death NAME: says that NAME stopped, with the end of its log.
stack_report_death() {
  local name=$1 log=$STACK_DIR/logs/$1.log
  [ "$name" = postgres ] && log=$STACK_DIR/postgres/postgres.log
  rm -f "$STACK_DIR/pids/$name"
  printf '\nerror: %s stopped unexpectedly; the end of %s:\n' "$name" "$log" >&2
  tail -n 20 "$log" >&2 || true
}

# The environment gcloud and scripts/publish need, in a file to source.
stack_write_env() {
  {
    echo "# Source this file to talk to the local pipeline: . $STACK_DIR/env"
    echo "export PIPELINE_INGEST_URL=http://127.0.0.1:$INGEST_PORT"
    echo "export PIPELINE_READ_URL=http://127.0.0.1:$READ_PORT"
    echo "export PIPELINE_TOPIC=$TOPIC"
    if [ -n "${EMULATOR:-}" ]; then
      echo "export PUBSUB_EMULATOR_HOST=127.0.0.1:$PUBSUB_PORT"
      echo "export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=http://127.0.0.1:$PUBSUB_PORT/"
      echo "export CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true"
      echo "export CLOUDSDK_CORE_PROJECT=$PROJECT"
    fi
    printf 'export PGHOST=%q PGPORT=%q PGUSER=%q PGDATABASE=%q\n' "$PGHOST" "$PGPORT" "$PGUSER" "$PGDATABASE"
  } >"$STACK_DIR/env"
}

stack_stop_all() {
  stack_stop_emulator
  stack_stop_function ingest
  stack_stop_function read
  stack_stop_postgres fast
}
