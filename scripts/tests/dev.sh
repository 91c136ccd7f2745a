#!/usr/bin/env bash
# Tests the local-pipeline scripts as a newcomer meets them, with real parts: every script's
# --help (no side effects), scripts/dev's checks before any work (a flag without its value, a
# port in use, named by its option), a second scripts/dev on the same state refusing and
# touching nothing, scripts/dev noticing a part that dies, and scripts/publish reporting what
# became of a message, and refusing at once once the pipeline is gone.
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
for script in dev test e2e publish deploy pg-cluster bootstrap dead-letters; do
  expect "scripts/$script --help" 0 "scripts/$script" "scripts/$script" --help
done
expect "scripts/check-pulumi --help, without .venv's Python" 0 "scripts/check-pulumi [PROGRAM_DIR]" python3 scripts/check-pulumi --help
expect "scripts/bench --help" 0 "--repeat" python3 scripts/bench --help
if [ -x "$repo/.venv/bin/python" ]; then
  expect "scripts/check-pulumi runs as it is, with .venv's Python found by itself" 0 "check out" \
    scripts/check-pulumi
fi
after=$(cd "$repo" && git status --porcelain --ignored | sort)
if [ "$before" = "$after" ]; then pass "nothing created or changed by --help"; else fail "--help changed files" "$(diff <(echo "$before") <(echo "$after"))"; fi

echo "arguments are checked before anything else, and a typo gets the valid choices"
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

# start_dev NAME ARGS...: scripts/dev in the background on state $work/state-NAME, output in
# $work/NAME.out; waits until the pipeline runs.
start_dev() {
  local name=$1
  shift
  (cd "$repo" && exec setsid scripts/dev --state-dir "$work/state-$name" "$@") >"$work/$name.out" 2>&1 &
  echo $! >"$work/$name.pid"
  running() { grep -q "The pipeline is running" "$work/$name.out"; }
  wait_for 300 running || { fail "scripts/dev $name started" "$(cat "$work/$name.out")"; return 1; }
}

echo "scripts/dev and scripts/publish through the emulator (when installed)"
ingest_port=$(free_port) read_port=$(free_port)
emulator_args=(--no-emulator)
if stack_find_emulator; then emulator_args=(--pubsub-port "$(free_port)"); fi
start_dev a --ingest-port "$ingest_port" --read-port "$read_port" ${emulator_args[@]+"${emulator_args[@]}"}
export PIPELINE_ENV=$work/state-a/env
expect "a message is published and reported stored" 0 ": stored" \
  scripts/publish '{"email": "ada@example.com", "name": "Ada Lovelace"}'
# The followed logs stream: the line reaches scripts/dev's output within a second or two, not
# when some buffer fills.
shown() { grep -q "stored user" "$work/a.out"; }
if wait_for 2 shown; then
  pass "ingest's log line reaches scripts/dev's output at once"
else
  fail "ingest's 'stored user' line did not reach scripts/dev's output within 2 s" "$(tail -n 5 "$work/a.out")"
fi
out=$(cd "$repo" && timeout 40 scripts/publish 'not json' 2>&1) && status=0 || status=$?
if [ "$status" -eq 1 ] && grep -qE "^(message [^ ]+: )?message data is not JSON: " <<<"$out"; then
  pass "a poison message exits 1 with the reason on a line of its own"
else
  fail "a poison message (exit $status)" "$out"
fi

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
  scripts/publish '{"email": "late@example.com", "name": "Late"}'

echo "scripts/publish straight to ingest (--no-emulator)"
start_dev b --ingest-port "$(free_port)" --read-port "$(free_port)" --no-emulator
export PIPELINE_ENV=$work/state-b/env
expect "stored, without the emulator" 0 ": stored" scripts/publish '{"email": "grace@example.com", "name": "Grace"}'
out=$(cd "$repo" && timeout 20 scripts/publish '{"email": "no-at-sign", "name": "X"}' 2>&1) && status=0 || status=$?
if [ "$status" -eq 1 ] && grep -q "^message .*: .*email" <<<"$out"; then
  pass "a poison message without the emulator exits 1 with the reason"
else
  fail "a poison message without the emulator (exit $status)" "$out"
fi
if ! grep -q "pubsub-emulator.log" "$work/b.out"; then
  pass "--no-emulator follows no emulator log"
else
  fail "--no-emulator follows an emulator log" "$(cat "$work/b.out")"
fi
kill -TERM "$(cat "$work/b.pid")"
b_gone() { process_gone "$(cat "$work/b.pid")"; }
wait_for 30 b_gone || true

echo
echo "scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
