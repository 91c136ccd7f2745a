#!/usr/bin/env bash
# Tests the local-pipeline scripts as a newcomer meets them, with real parts: every script's
# --help (no side effects), scripts/dev's checks before any work (a flag without its value, a
# port in use, named by its option; one taken during the build), a second scripts/dev on the
# same state refusing and touching nothing, scripts/dev noticing a part that dies and stopping
# on SIGINT, scripts/publish reporting what became of a message, and refusing at once once the
# pipeline is gone, and every command a second pipeline prints reaching that pipeline.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/stack.sh
. "$repo/scripts/lib/stack.sh"
work=$(mktemp -d /tmp/dev-test.XXXXXX)
chmod 755 "$work" # PostgreSQL runs as the postgres user when this runs as root
listener=
cleanup() {
  local file
  for file in "$work"/*.pid; do
    if [ -f "$file" ]; then kill -TERM "$(cat "$file")" 2>/dev/null || true; fi
  done
  [ -z "$listener" ] || kill "$listener" 2>/dev/null || true
  for state in "$work"/state-*; do
    [ -d "$state" ] || continue
    STACK_DIR=$state stack_stop_all >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "    PASS $1"; }
fail() { failed=$((failed + 1)); echo "    FAIL $1"; [ $# -lt 2 ] || printf '%s\n' "$2" | tail -n 30 | sed 's/^/      /'; }

# expect NAME STATUS TEXT COMMAND...: COMMAND exits with STATUS (any non-zero for "fail")
# within 20 s and prints TEXT.
expect() {
  local name=$1 want=$2 text=$3 out status=0
  shift 3
  out=$(cd "$repo" && timeout 20 "$@" 2>&1) || status=$?
  if { [ "$want" = fail ] && [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; } || [ "$status" = "$want" ]; then
    if [[ $out == *"$text"* ]]; then pass "$name"; return; fi
  fi
  fail "$name (exit $status)" "$out"
}

echo "--help everywhere, with no side effects"
before=$(cd "$repo" && git status --porcelain --ignored | sort)
for script in dev test e2e publish deploy pg-cluster bootstrap dead-letters conformance smoke-test; do
  expect "scripts/$script --help" 0 "scripts/$script" "scripts/$script" --help
done
# Without .venv (before scripts/bootstrap): a copy of scripts/ alone, where the checks cannot
# find the Python packages they check with.
mkdir -p "$work/bare"
cp -R "$repo/scripts" "$work/bare/"
for check in check-pulumi check-workflows check-bash32 check-links check-gcloud-docs; do
  out=$(cd "$work/bare" && timeout 20 "scripts/$check" --help 2>&1) && status=0 || status=$?
  if [ "$status" -eq 0 ] && [[ $out == *"scripts/$check"* ]]; then
    pass "scripts/$check --help, without .venv"
  else
    fail "scripts/$check --help, without .venv (exit $status)" "$out"
  fi
done
expect "scripts/bench --help, its usage line named as it is run" 0 "usage: scripts/bench [-h]" scripts/bench --help
if [ -x "$repo/.venv/bin/python" ]; then
  expect "scripts/check-pulumi runs as it is, with .venv's Python found by itself" 0 "check out" \
    scripts/check-pulumi
fi
after=$(cd "$repo" && git status --porcelain --ignored | sort)
if [ "$before" = "$after" ]; then pass "nothing created or changed by --help"; else fail "--help changed files" "$(diff <(echo "$before") <(echo "$after"))"; fi

echo "arguments are checked before anything else, and a typo gets the valid choices"
# One rule for every script: a command line it cannot take exits 2 (as clap, getopt and the
# shell's builtins do), before anything is done; a failure exits 1.
for line in "dev --bogus" "dev --read-port" "dev --ingest-port 99999" "dev --read-port 8089 --ingest-port 8089" \
    "test --bogus" "test unti" "e2e extra" "publish --bogus" "publish" "publish --state-dir" \
    "deploy --bogus" "deploy --project My_Project" "pg-cluster bogus $work/never" "pg-cluster start" \
    "bootstrap --bogus" "dead-letters bogus" "dead-letters --state-dir" "bench --bogus" \
    "conformance" "conformance /bin/true bogus" "smoke-test --bogus" "smoke-test --timeout 0"; do
  # shellcheck disable=SC2086 # the words of $line are the arguments
  expect "scripts/$line: a usage error" 2 "" env PGHOST=/nonexistent scripts/$line
done
if [ ! -e "$work/never" ]; then pass "a usage error touches nothing"; else fail "scripts/pg-cluster bogus DIR made DIR"; fi
expect "scripts/dead-letters with an unknown command" fail \
  "unknown command 'bogus': scripts/dead-letters takes list, show, replay or purge" \
  env -u PGHOST -u DATABASE_URL scripts/dead-letters bogus
expect "scripts/publish with an unknown option" fail "unknown option --bogus: scripts/publish takes one message" \
  scripts/publish --bogus
stubs=$work/stubs
mkdir -p "$stubs"
printf '#!/bin/sh\nexit 1\n' >"$stubs/cargo"
cp "$stubs/cargo" "$stubs/rustup"
chmod +x "$stubs/cargo" "$stubs/rustup"
out=$(cd "$repo" && PATH=$stubs:$PATH timeout 60 scripts/test lint 2>&1) && status=0 || status=$?
if [ "$status" -ne 0 ] && [[ $(printf '%s\n' "$out" | tail -n 1) == "==> failed: lint (exit "* ]]; then
  pass "a failing scripts/test ends with one line naming the stage"
else
  fail "a failing scripts/test's last line (exit $status)" "$out"
fi

echo "scripts/dev checks its options and ports before any work"
expect "a flag without its value" fail "--ingest-port needs a value (see scripts/dev --help)" scripts/dev --ingest-port
expect "a port that is not one" fail "--read-port takes a port number" scripts/dev --read-port 99999
taken=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' "$taken" &
listener=$!
wait_for 5 port_in_use "$taken"
for option in --ingest-port --read-port; do
  out=$(cd "$repo" && timeout 20 scripts/dev --state-dir "$work/state-ports" "$option" "$taken" 2>&1) || true
  if [[ $out == *"port $taken"*"already in use; pick another with $option"* ]] && [[ $out != *building* ]] \
      && [ ! -e "$work/state-ports" ]; then
    pass "$option in use: named at once, nothing built or created"
  else
    fail "$option in use" "$out"
  fi
done
if stack_find_emulator; then
  expect "--pubsub-port in use" fail "pick another with --pubsub-port" \
    scripts/dev --state-dir "$work/state-ports" --pubsub-port "$taken" --ingest-port "$(free_port)" --read-port "$(free_port)"
fi

# Another program takes a port while scripts/dev builds (the first build takes minutes): cargo
# here is the real one, after it has started a listener on that port.
late=$(free_port)
mkdir -p "$work/late-bin"
cat >"$work/late-bin/cargo" <<EOF
#!/usr/bin/env bash
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' $late >/dev/null 2>&1 &
echo \$! >$work/late-listener.pid
for _ in \$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$late) 2>/dev/null && break; sleep 0.1; done
exec $(command -v cargo) "\$@"
EOF
chmod +x "$work/late-bin/cargo"
out=$(cd "$repo" && PATH=$work/late-bin:$PATH timeout 300 scripts/dev --state-dir "$work/state-late" \
  --ingest-port "$(free_port)" --read-port "$late" --no-emulator 2>&1) && status=0 || status=$?
if [ "$status" -eq 1 ] \
    && [[ $out == *"port $late (for read) is already in use (taken while the functions were built); pick another with --read-port"* ]] \
    && [[ $out != *"==> PostgreSQL"* ]]; then
  pass "a port taken during the build: named with its option after the build, before anything starts"
else
  fail "a port taken during the build (exit $status)" "$out"
fi
kill "$(cat "$work/late-listener.pid")" 2>/dev/null || true

# start_dev NAME ARGS...: scripts/dev in the background on state $work/state-NAME, output in
# $work/NAME.out; waits until the pipeline runs.
start_dev() {
  local name=$1
  shift
  # As a script starts it: a simple command with &, which a non-interactive shell starts with
  # SIGINT ignored.
  cd "$repo"
  setsid scripts/dev --state-dir "$work/state-$name" "$@" >"$work/$name.out" 2>&1 &
  echo $! >"$work/$name.pid"
  cd - >/dev/null
  running() { grep -q "The pipeline is running" "$work/$name.out"; }
  wait_for 300 running || { fail "scripts/dev $name started" "$(cat "$work/$name.out")"; return 1; }
}

echo "scripts/dev and scripts/publish through the emulator (when installed)"
ingest_port=$(free_port) read_port=$(free_port)
emulator_args=(--no-emulator)
if stack_find_emulator; then emulator_args=(--pubsub-port "$(free_port)"); fi
start_dev a --ingest-port "$ingest_port" --read-port "$read_port" ${emulator_args[@]+"${emulator_args[@]}"}
if stack_find_emulator; then
  # The README's walkthrough: its gcloud step, then scripts/publish says what the README says.
  walkthrough=$(sed -n "s/^gcloud pubsub topics publish ingestion-topic --message '\(.*\)'$/\1/p" "$repo/README.md")
  # shellcheck source=/dev/null
  (. "$work/state-a/env" && CLOUDSDK_CONFIG=$work/gcloud timeout 60 gcloud pubsub topics publish ingestion-topic \
    --message "$walkthrough" >/dev/null 2>&1) || fail "the README's gcloud step"
  said=$(tr '\n' ' ' <"$repo/README.md" | grep -o 'gcloud step above, .message [0-9]*: stored.' \
    | grep -o 'message [0-9]*: stored' || true)
  expect "after the README's gcloud step, scripts/publish says what the README says: ${said:-(nothing found)}" 0 \
    "${said:-the README names no result}" \
    scripts/publish --state-dir "$work/state-a" '{"email": "grace.hopper@example.com", "name": "Grace Hopper"}'
fi
expect "a message is published and reported stored" 0 ": stored" \
  scripts/publish --state-dir "$work/state-a" '{"email": "ada@example.com", "name": "Ada Lovelace"}'
# The followed logs stream: the line reaches scripts/dev's output within a second or two, not
# when some buffer fills.
shown() { grep -q "stored user" "$work/a.out"; }
if wait_for 2 shown; then
  pass "ingest's log line reaches scripts/dev's output at once"
else
  fail "ingest's 'stored user' line did not reach scripts/dev's output within 2 s" "$(tail -n 5 "$work/a.out")"
fi

# poison NAME MESSAGE: scripts/publish MESSAGE to pipeline NAME exits 1, saying the message was
# kept, with the reason on the next line exactly as the dead letter keeps it (with or without
# the emulator).
poison() {
  local name=$1 message=$2 out status=0 reason
  out=$(cd "$repo" && timeout 40 scripts/publish --state-dir "$work/state-$name" "$message" 2>&1) || status=$?
  # shellcheck source=/dev/null
  reason=$(. "$work/state-$name/env" && psql -X -tA -c "SELECT reason FROM dead_letters ORDER BY id DESC LIMIT 1")
  if [ "$status" -eq 1 ] && [ -n "$reason" ] \
      && [ "$(printf '%s\n' "$out" | grep -A1 "kept as a dead letter" | tail -n 1)" = "$reason" ]; then
    pass "a poison message ($name) exits 1 with the reason the letter keeps, on a line of its own"
  else
    fail "a poison message ($name; exit $status; the letter's reason: $reason)" "$out"
  fi
  poisoned=$out
}
poison a 'not json'

expect "a second scripts/dev on the same state refuses at once" fail "scripts/dev already runs on" \
  scripts/dev --state-dir "$work/state-a" --ingest-port "$(free_port)" --read-port "$(free_port)" --no-emulator
expect "... and says so, not that its ports are taken, when it asks for the same ports" fail \
  "scripts/dev already runs on" scripts/dev --state-dir "$work/state-a" --ingest-port "$ingest_port" \
  --read-port "$read_port" --no-emulator
if curl -fsS "http://127.0.0.1:$read_port/data" | grep -q "Ada Lovelace"; then
  pass "the first one still serves after the refusal"
else
  fail "the first one was disturbed" "$(cat "$work/a.out")"
fi

echo "scripts/dev notices a part that dies"
kill -KILL "$(cat "$work/state-a/pids/ingest")"
dev_gone() { process_gone "$(cat "$work/a.pid")"; }
if wait_for 30 dev_gone && grep -q "ingest stopped unexpectedly" "$work/a.out" \
    && ! port_in_use "$read_port" && ! pg_running "$work/state-a/postgres"; then
  pass "ingest killed: scripts/dev says so with its log, and stops the rest"
else
  fail "ingest killed" "$(cat "$work/a.out")"
fi

expect "scripts/publish after the pipeline stopped says so at once" fail "the local pipeline is not running" \
  scripts/publish --state-dir "$work/state-a" '{"email": "late@example.com", "name": "Late"}'

echo "a second pipeline (--state-dir, --no-emulator): every command it prints reaches it, as printed"
b_read=$(free_port)
start_dev b --ingest-port "$(free_port)" --read-port "$b_read" --no-emulator
printed=$(grep -m 1 '^ *scripts/publish' "$work/b.out" | sed 's/^ *//')
out=$(cd "$repo" && timeout 40 bash -c "$printed" 2>&1) && status=0 || status=$?
if [ "$status" -eq 0 ] && [[ $out == *": stored" ]] \
    && curl -fsS "http://127.0.0.1:$b_read/data" | grep -q "Linda Williams"; then
  pass "the scripts/publish it printed stores into it: $printed"
else
  fail "the printed '$printed' (exit $status)" "$out"
fi
poison b '{"email": "no-at-sign", "name": "X"}'
hint=$(printf '%s\n' "$poisoned" | sed -n 's/.*(\(scripts\/dead-letters.* list\)).*/\1/p')
# The tool is rebuilt (a source file touched), as on first use: it must say so, not be silent.
touch "$repo/functions/ingest/dead-letters/src/main.rs"
out=$(cd "$repo" && timeout 300 bash -c "${hint:-false}" 2>&1) && status=0 || status=$?
if [ "$status" -eq 0 ] && [[ $hint == *"--state-dir"* ]] && [[ $out == *"no-at-sign"* ]]; then
  pass "the scripts/dead-letters it printed lists the letter of that pipeline: $hint"
else
  fail "the printed '$hint' (exit $status)" "$out"
fi
if [[ $out == *"==> building the dead-letters tool"* ]]; then
  pass "scripts/dead-letters says it is building the tool"
else
  fail "scripts/dead-letters built the tool without saying so" "$out"
fi
if ! grep -q "pubsub-emulator.log" "$work/b.out"; then
  pass "--no-emulator follows no emulator log"
else
  fail "--no-emulator follows an emulator log" "$(cat "$work/b.out")"
fi

echo "scripts/dev started with & by a script: SIGINT stops it as Ctrl-C does"
# The background job of a non-interactive shell starts with SIGINT ignored (start_dev's &).
kill -INT "$(cat "$work/b.pid")"
b_gone() { process_gone "$(cat "$work/b.pid")"; }
if wait_for 30 b_gone && ! port_in_use "$b_read" && ! pg_running "$work/state-b/postgres"; then
  pass "SIGINT stopped it all"
else
  fail "SIGINT did not stop scripts/dev" "$(tail -n 5 "$work/b.out")"
fi
if grep -q "(scripts/dev --state-dir $work/state-b --wipe starts afresh)" "$work/b.out"; then
  pass "its stop message names its own --state-dir"
else
  fail "its stop message" "$(tail -n 3 "$work/b.out")"
fi

echo
echo "scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
