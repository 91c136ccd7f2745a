#!/usr/bin/env bash
# Tests scripts/test's own choices: a stage misspelt is answered with the stage meant before
# anything is built or started, and a filter says how many of how many tests it ran.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "    PASS $1"; }
fail() { failed=$((failed + 1)); echo "    FAIL $1"; [ $# -lt 2 ] || printf '%s\n' "$2" | tail -n 30 | sed 's/^/      /'; }

echo "a stage misspelt by one edit gets the stage meant, before anything is built or started"
for typo in unti:unit lnit:lint lin:lint scripst:scripts scrpts:scripts apii:api e2f:e2e; do
  word=${typo%%:*} meant=${typo#*:}
  out=$(cd "$repo" && timeout 20 scripts/test "$word" 2>&1) && status=0 || status=$?
  if [ "$status" -eq 2 ] && [[ $out == *"did you mean $meant?"*"scripts/test unit $word"* ]] \
      && [[ $out != *PostgreSQL* ]] && [[ $out != *Compiling* ]] && [[ $out != *Finished* ]]; then
    pass "scripts/test $word: did you mean $meant?"
  else
    fail "scripts/test $word (exit $status)" "$out"
  fi
done

out=$(cd "$repo" && timeout 20 scripts/test xyzzy 2>&1) && status=0 || status=$?
if [ "$status" -eq 2 ] && [[ $out == *"'xyzzy' is neither a stage (lint, scripts, unit, api, e2e)"* ]] \
    && [[ $out != *PostgreSQL* ]] && [[ $out != *Compiling* ]]; then
  pass "a word that is neither a stage nor in a test's name gets the stages, before anything is built"
else
  fail "scripts/test xyzzy (exit $status)" "$out"
fi

echo "a filter says how many of how many tests it ran"
# A unit test of the dead-letters tool's rendering: one test, no database needed.
filter=control_characters_from_a_sender
out=$(cd "$repo" && timeout 900 scripts/test "$filter" 2>&1) && status=0 || status=$?
last=$(printf '%s\n' "$out" | tail -n 1)
if [ "$status" -eq 0 ] && [[ $last =~ ^"==> passed: $filter (1 of "([0-9]+)" tests matched '$filter')"$ ]] \
    && [ "${BASH_REMATCH[1]}" -gt 100 ]; then
  pass "scripts/test $filter: $last"
else
  fail "scripts/test $filter (exit $status)" "$out"
fi

echo "docs/testing.md counts the integration-test binaries there are, and names those outside tests/it"
targets=$(cd "$repo" && cargo metadata --no-deps --locked --format-version 1 | python3 -c '
import json, os, sys
root = os.getcwd() + "/"
for package in json.load(sys.stdin)["packages"]:
    for target in package["targets"]:
        if "test" in target["kind"]:
            print(target["src_path"].replace(root, "", 1))')
count=$(printf '%s\n' "$targets" | grep -c .)
said=$(tr '\n' ' ' <"$repo/docs/testing.md" | grep -oE 'There are [0-9]+ integration-test binaries' | grep -oE '[0-9]+' || true)
if [ "$said" = "$count" ]; then
  pass "docs/testing.md: $count integration-test binaries"
else
  fail "docs/testing.md says ${said:-nothing of} the $count integration-test binaries" "$targets"
fi
for target in $targets; do
  case $target in */tests/it/main.rs) continue ;; esac
  if grep -qF "\`$target\`" "$repo/docs/testing.md"; then
    pass "docs/testing.md names $target"
  else
    fail "docs/testing.md does not name the test binary $target"
  fi
done

echo
echo "scripts/test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
