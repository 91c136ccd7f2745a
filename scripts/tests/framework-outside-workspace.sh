#!/usr/bin/env bash
# The framework as a Rust developer outside this repository meets it: a new crate whose
# Cargo.toml is the framework README's Quick start (this checkout's path instead of the
# version) runs every Rust example of that README as a doc test, and a handler of its own
# that uses `?` on serde_json::Error, called in-process. Offline, from the workspace's
# Cargo.lock and what cargo has already fetched. Fails if any example is not run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"
case ${1:-} in -h|--help) usage "$0"; exit 0 ;; esac

framework=$repo/shared/framework
readme=$framework/README.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The Quick start's toml block, each `functions-framework` version replaced by this checkout.
quick_start=$(awk '/^## Quick start/ { in_section = 1 }
  in_section && /^```toml/ { in_block = 1; next }
  in_block && /^```/ { exit }
  in_block' "$readme")
[ -n "$quick_start" ] || die "no toml block under '## Quick start' in $readme"
pinned=$(printf '%s\n' "$quick_start" | grep -c '^functions-framework = ' || true)
[ "$pinned" -ge 1 ] || die "the Quick start does not depend on functions-framework"
mkdir -p "$work/src"
{
  printf '[package]\nname = "outside"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
  # Its own workspace: cargo must not take it for a member of this repository's.
  printf '[workspace]\n\n'
  printf '%s\n' "$quick_start" | sed -E \
    -e "s|^functions-framework = \"[^\"]*\"|functions-framework = { path = \"$framework\" }|" \
    -e "s|^(functions-framework = \\{ *)version = \"[^\"]*\"|\\1path = \"$framework\"|"
} >"$work/Cargo.toml"
if grep -E '^functions-framework' "$work/Cargo.toml" | grep -qv "path = \"$framework\""; then
  die "a functions-framework line of the Quick start was not pointed at this checkout: $(grep -E '^functions-framework' "$work/Cargo.toml")"
fi

cp "$readme" "$work/README.md"
cat >"$work/src/lib.rs" <<'RUST'
//! The framework's README, every example a doc test of a crate that has only the Quick
//! start's dependencies.
#![doc = include_str!("../README.md")]

use functions_framework::prelude::*;

#[derive(serde::Deserialize)]
struct Signup {
    name: String,
}

/// An HTTP function whose body must be a `Signup`: `?` on serde_json's error.
pub fn signup() -> Function {
    Function::http(|request: Request| async move {
        let signup: Signup = serde_json::from_slice(request.body())?;
        Ok(Response::new(full(format!("welcome, {}", signup.name))))
    })
}

#[cfg(test)]
mod tests {
    use functions_framework::{http, testing::Reply};

    #[tokio::test]
    async fn question_mark_on_serde_json_is_a_500_and_a_good_body_passes() {
        let post = |body: &'static str| http::Request::post("/").body(body.into()).unwrap();
        let bad = Reply::read(super::signup().call(post("{")).await).await;
        assert_eq!(bad.status, http::StatusCode::INTERNAL_SERVER_ERROR);
        let good = Reply::read(super::signup().call(post(r#"{"name": "Ada"}"#)).await).await;
        assert_eq!(&good.body[..], b"welcome, Ada");
    }
}
RUST
cp "$repo/Cargo.lock" "$work/Cargo.lock"

step "the framework README's examples and a \`?\` handler, in a crate of the Quick start's dependencies only"
# The workspace's target directory: what is built there with the same features is reused.
log=$work/test.log
CARGO_TARGET_DIR=$repo/target cargo test --offline \
  --manifest-path "$work/Cargo.toml" 2>&1 | tee "$log" >&2

# Every ```rust block of the README must have run, and the handler's test.
examples=$(grep -cE '^```rust' "$readme")
ran_doc=$(grep -cE '^test src/lib\.rs - \(line [0-9]+\)( - compile)? \.\.\. ok$' "$log" || true)
ran_unit=$(grep -cE '^test tests::question_mark_on_serde_json_is_a_500_and_a_good_body_passes \.\.\. ok$' "$log" || true)
[ "$ran_doc" -eq "$examples" ] || die "$ran_doc doc tests passed, but the README has $examples Rust examples"
[ "$ran_unit" -eq 1 ] || die "the \`?\` handler's test did not run"
note "$examples README examples and the \`?\` handler built and passed outside the workspace"
