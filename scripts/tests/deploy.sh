#!/usr/bin/env bash
# Tests scripts/deploy's decisions in a throwaway clone of this repository: when it refuses,
# what it says, that it never rewrites a stack file git tracks, and the smoke test that ends a
# deploy (scripts/smoke-test). There is no Pulumi CLI or GCP access here, so `pulumi`,
# `gcloud`, `curl` and `docker` are small stand-ins on PATH that keep a stack's settings in
# pulumi/Pulumi.<stack>.yaml (as the real CLI does) and log every call; the gcloud stand-in
# keeps what is published, and the curl one answers /data with it, as a working pipeline
# would; git is the real one.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/repo"
# The scripts under test are the working tree's, committed or not.
cp "$repo/scripts/deploy" "$work/repo/scripts/deploy"
cp "$repo/scripts/smoke-test" "$work/repo/scripts/smoke-test"
cp "$repo/scripts/lib/common.sh" "$work/repo/scripts/lib/common.sh"
mkdir -p "$work/bin" "$work/stacks"
log=$work/calls.log
export FAKE_STACKS=$work/stacks FAKE_LOG=$log

cat >"$work/bin/pulumi" <<'EOF'
#!/usr/bin/env bash
# Stand-in for the Pulumi CLI: stacks are folders, settings live in ./Pulumi.<stack>.yaml.
echo "pulumi $*" >>"$FAKE_LOG"
current=$(cat "$FAKE_STACKS/.current" 2>/dev/null || true)
key() { case $1 in *:*) echo "$1" ;; *) echo "rust-pubsub-pipeline:$1" ;; esac; }
case "$1 $2" in
  "stack select") [ -d "$FAKE_STACKS/$3" ] || { echo "no stack named '$3' found" >&2; exit 255; }
                  echo "$3" >"$FAKE_STACKS/.current" ;;
  "stack init") mkdir -p "$FAKE_STACKS/$3"; echo "$3" >"$FAKE_STACKS/.current" ;;
  "config get") k=$(key "$3")
                line=$(grep -E "^  $k:" "Pulumi.$current.yaml" 2>/dev/null) || exit 255
                echo "${line#*: }" ;;
  "config set") k=$(key "$3"); [ -f "Pulumi.$current.yaml" ] || echo "config:" >"Pulumi.$current.yaml"
                echo "  $k: $4" >>"Pulumi.$current.yaml" ;;
  "stack output") case ${3:-} in
                    readUrl) echo "https://read-test-uc.a.run.app" ;;
                    topicName) echo "ingestion-topic" ;;
                  esac ;;
  *) ;;
esac
EOF
cat >"$work/bin/gcloud" <<'EOF'
#!/usr/bin/env bash
# Stand-in for gcloud: its account is FAKE_ACCOUNT, a user account (which cannot name an
# audience) with FAKE_USER_ACCOUNT; `alpha` is missing with FAKE_NO_ALPHA; the enabled APIs are
# FAKE_ENABLED_APIS (one a line); enabling fails with FAKE_ENABLE_DENIED; FAKE_FEDERATED: a
# federated credential (CI's), for which gcloud mints no identity token. A published message
# is kept in FAKE_STACKS/stored, where a working pipeline would store it, unless FAKE_LOST.
echo "gcloud $*" >>"$FAKE_LOG"
case "$*" in
  "config get-value account") echo "${FAKE_ACCOUNT:-deployer@example.com}" ;;
  "services list"*) printf '%s\n' "${FAKE_ENABLED_APIS:-}" ;;
  "services enable"*) [ -z "${FAKE_ENABLE_DENIED:-}" ] || { echo "PERMISSION_DENIED" >&2; exit 1; } ;;
  "auth application-default print-access-token") echo "adc-token" ;;
  "auth print-identity-token --audiences="*)
    [ -z "${FAKE_USER_ACCOUNT:-}${FAKE_FEDERATED:-}" ] || exit 1; echo "id-token" ;;
  "auth print-identity-token") [ -z "${FAKE_FEDERATED:-}" ] || exit 1; echo "id-token" ;;
  "pubsub topics publish "*)
    while [ $# -gt 0 ]; do
      if [ "$1" = --message ] && [ -z "${FAKE_LOST:-}" ]; then printf '%s\n' "$2" >"$FAKE_STACKS/stored"; fi
      shift
    done ;;
  alpha*) [ -z "${FAKE_NO_ALPHA:-}" ] || exit 1 ;;
esac
EOF
cat >"$work/bin/curl" <<'EOF'
#!/usr/bin/env bash
# Stand-in for Google's tokeninfo (the application-default credentials are FAKE_ADC_ACCOUNT's)
# and for read's /data: 401 unless the identity token (FAKE_TOKEN, or id-token) came on
# standard input (-K -), else
# FAKE_READ_STATUS or 200 with the stored user (FAKE_STALE: a row of an earlier run).
echo "curl $*" >>"$FAKE_LOG"
case "$*" in
  *"/data?"*)
    grep -q "Authorization: Bearer ${FAKE_TOKEN:-id-token}" || { printf '{"error": "no token"}\n401'; exit 0; }
    if [ -n "${FAKE_READ_STATUS:-}" ]; then printf '{"error": "refused"}\n%s' "$FAKE_READ_STATUS"; exit 0; fi
    user=$(cat "$FAKE_STACKS/stored" 2>/dev/null || true)
    [ -z "${FAKE_STALE:-}" ] || user='{"user_id": 2147483647, "email": "deploy-smoke-test@example.invalid", "name": "deploy smoke test 20240101T000000Z-1-1"}'
    printf '{"data": [%s]}\n200' "$user" ;;
  *) printf '{\n  "email": "%s",\n  "email_verified": "true"\n}\n' "${FAKE_ADC_ACCOUNT:-deployer@example.com}" ;;
esac
EOF
cat >"$work/bin/docker" <<'EOF'
#!/usr/bin/env bash
echo "docker $*" >>"$FAKE_LOG"
EOF
chmod +x "$work/bin/"*
export PATH=$work/bin:$PATH

passed=0 failed=0
# run NAME EXPECTED_EXIT EXPECTED_OUTPUT ARGS...: runs scripts/deploy, checks its exit code and
# that its output contains EXPECTED_OUTPUT.
run() {
  local name=$1 want=$2 expect=$3 out status=0
  shift 3
  : >"$log"
  out=$(cd "$work/repo" && scripts/deploy "$@" 2>&1) || status=$?
  if [ "$status" -eq "$want" ] && [[ $out == *"$expect"* ]]; then
    passed=$((passed + 1)); echo "    PASS $name"
  else
    failed=$((failed + 1)); echo "    FAIL $name (exit $status, wanted $want; output:)"; printf '%s\n' "$out" | sed 's/^/      /'
  fi
}
# expect_log NAME PATTERN / refute_log NAME PATTERN: what the last run called.
expect_log() { if grep -qE "$2" "$log"; then passed=$((passed + 1)); echo "    PASS $1"; else failed=$((failed + 1)); echo "    FAIL $1"; sed 's/^/      /' "$log"; fi; }
refute_log() { if grep -qE "$2" "$log"; then failed=$((failed + 1)); echo "    FAIL $1"; sed 's/^/      /' "$log"; else passed=$((passed + 1)); echo "    PASS $1"; fi; }

run "--help has no side effects" 0 "--preview" --help
refute_log "--help calls nothing" .
run "a flag without its value is a usage error" 2 "--stack needs a value" --stack
run "an invalid project id is a usage error" 2 "is not a GCP project id" --project My_Project

run "a new stack needs --project" 1 "create it with: scripts/deploy --stack prod --project" --stack prod
run "no dbPassword: refuses and says how to set it" 1 "pulumi config set --secret dbPassword" \
  --stack prod --project pipeline-test-1 --preview
expect_log "the new stack records its project" "pulumi config set gcp:project pipeline-test-1"
refute_log "nothing is enabled or deployed without the password" "services enable|pulumi preview|pulumi up"

echo "  rust-pubsub-pipeline:dbPassword: {secure: v1:abc}" >>"$work/repo/pulumi/Pulumi.prod.yaml"
run "with the password it previews" 0 "pulumi preview" --stack prod --preview
expect_log "the APIs that are off are enabled: the two prerequisites first, then the program's" \
  "gcloud services enable cloudresourcemanager.googleapis.com serviceusage.googleapis.com run.googleapis.com .*monitoring.googleapis.com --project pipeline-test-1"
expect_log "then pulumi preview" "pulumi preview --diff"
expect_log "the token goes to tokeninfo on standard input, not as an argument" "curl .*access_token@-"
refute_log "no token on a command line" "adc-token"
# What the program uses: the two prerequisites and each gcp:projects:Service of Pulumi.yaml.
all_apis=$(printf 'cloudresourcemanager.googleapis.com\nserviceusage.googleapis.com\n'; \
  grep -A3 'type: gcp:projects:Service$' "$work/repo/pulumi/Pulumi.yaml" | sed -n 's/^ *service: //p')
FAKE_ENABLED_APIS=$all_apis run "every API on (CI's deployer): nothing enabled" 0 "the program's APIs are on" --stack prod --preview
refute_log "no services enable when all are on (the deployer may not enable)" "services enable"
FAKE_ENABLED_APIS=$(printf '%s\n' "$all_apis" | grep -v '^run\.') FAKE_ENABLE_DENIED=1 \
  run "an API off and no right to enable it: refused, with the owner's command" 1 \
  "gcloud services enable run.googleapis.com --project pipeline-test-1" --stack prod --preview
refute_log "nothing previewed with an API off" "pulumi preview"
run "one principal for gcloud and the providers is said" 0 "both act as deployer@example.com" --stack prod --preview
FAKE_ADC_ACCOUNT=someone-else@example.com \
  run "two principals are said, with the fix" 0 "but the Pulumi providers use the application-default credentials of someone-else@example.com" \
  --stack prod --preview
echo "  rust-pubsub-pipeline:alertEmail: ops@example.com" >>"$work/repo/pulumi/Pulumi.prod.yaml"
FAKE_NO_ALPHA=1 run "an alert address without gcloud alpha is refused" 1 "gcloud components install alpha" \
  --stack prod --preview
refute_log "nothing previewed without the component" "pulumi preview"
run "an alert address with gcloud alpha and beta previews" 0 "pulumi preview" --stack prod --preview
run "another --project than the stack's is refused" 1 "has gcp:project=pipeline-test-1, not other-project-2" \
  --stack prod --project other-project-2

run "a new stack takes --secrets-provider (CI's Cloud KMS key)" 1 "no dbPassword" --stack kms --project pipeline-test-1 \
  --secrets-provider gcpkms://projects/pipeline-test-1/locations/global/keyRings/pulumi/cryptoKeys/stack-secrets
expect_log "the stack is made with it" \
  "pulumi stack init kms --secrets-provider gcpkms://projects/pipeline-test-1/locations/global/keyRings/pulumi/cryptoKeys/stack-secrets"
run "--secrets-provider for an existing stack is refused" 1 "pulumi stack change-secrets-provider" --stack prod \
  --secrets-provider gcpkms://projects/pipeline-test-1/locations/global/keyRings/pulumi/cryptoKeys/stack-secrets

# A committed stack file is only ever read.
mkdir -p "$FAKE_STACKS/ci"
printf 'config:\n  rust-pubsub-pipeline:region: us-central1\n' >"$work/repo/pulumi/Pulumi.ci.yaml"
git -C "$work/repo" add pulumi/Pulumi.ci.yaml
git -C "$work/repo" -c user.name=t -c user.email=t@example.com commit -q -m "ci stack"
run "a tracked stack file is not rewritten" 1 "is tracked by git and has no gcp:project" --stack ci --project pipeline-test-1
if git -C "$work/repo" diff --quiet -- pulumi/Pulumi.ci.yaml; then
  passed=$((passed + 1)); echo "    PASS the tracked file is unchanged"
else
  failed=$((failed + 1)); echo "    FAIL the tracked file was changed"
fi
printf '  gcp:project: REPLACE_WITH_YOUR_PROJECT_ID\n  rust-pubsub-pipeline:dbPassword: {secure: v1:abc}\n' \
  >>"$work/repo/pulumi/Pulumi.ci.yaml"
run "a placeholder project is refused" 1 "a placeholder?" --stack ci --yes
refute_log "nothing deployed to a placeholder" "pulumi up"

# The smoke test that ends a deploy: one message published, then read back from /data.
run "a preview publishes nothing" 0 "pulumi preview" --stack prod --preview
refute_log "no message published by a preview" "pubsub topics publish"
run "a deploy ends with the smoke test" 0 "smoke test passed" --stack prod --yes
expect_log "after pulumi up" "pulumi up --yes"
expect_log "one message published to the stack's topic and project" \
  'gcloud pubsub topics publish ingestion-topic --project pipeline-test-1 --quiet --message \{"user_id": 2147483647, "email": "deploy-smoke-test@example.invalid", "name": "deploy smoke test [0-9TZ]+-[0-9]+-[0-9]+"\}'
expect_log "read back from read's /data, the smoke user's page only" \
  "curl .* https://read-test-uc.a.run.app/data\?after=2147483646&limit=1"
expect_log "a service account's token names read's URL" "gcloud auth print-identity-token --audiences=https://read-test-uc.a.run.app"
refute_log "the identity token is on no command line" "id-token"
FAKE_USER_ACCOUNT=1 run "a user account's token (no audience) works too" 0 "smoke test passed" --stack prod --yes
FAKE_FEDERATED=1 SMOKE_ID_TOKEN=ci-token FAKE_TOKEN=ci-token \
  run "CI's federated credential reads back with the token it hands in" 0 "smoke test passed" --stack prod --yes
refute_log "the handed-in token is on no command line" "ci-token"
FAKE_FEDERATED=1 run "without a token handed in, a federated credential says what to do" 1 \
  "hand one in as SMOKE_ID_TOKEN" --stack prod --yes
FAKE_READ_STATUS=403 run "read refusing the deployer says which role is missing" 1 "needs roles/run.invoker on read" \
  --stack prod --yes
FAKE_LOST=1 SMOKE_TIMEOUT_SECS=2 run "a message that never comes back fails the deploy, saying where to look" 1 \
  "did not come back from https://read-test-uc.a.run.app/data within 2 s" --stack prod --yes
rm -f "$FAKE_STACKS/stored"
FAKE_STALE=1 SMOKE_TIMEOUT_SECS=2 run "an earlier run's row does not pass for this one" 1 "did not come back" \
  --stack prod --yes
run "--no-smoke-test skips it" 0 "==> outputs" --stack prod --yes --no-smoke-test
refute_log "nothing published without the smoke test" "pubsub topics publish"

echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
