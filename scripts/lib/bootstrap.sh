# Installing what the scripts need, each piece once and only when missing: scripts/bootstrap
# installs all of it; scripts/test and scripts/bench install the pieces they use.
# shellcheck shell=bash

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BOOTSTRAP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The Python tools pinned in scripts/requirements.txt, in .venv; again only when the list
# changed.
bootstrap_venv() {
  local root=$BOOTSTRAP_ROOT
  cmp -s "$root/scripts/requirements.txt" "$root/.venv/requirements.installed" 2>/dev/null && return 0
  note "installing the Python tools of scripts/requirements.txt into .venv"
  python3 -m venv "$root/.venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$root/.venv/bin/pip" install -q -r "$root/scripts/requirements.txt"
  cp "$root/scripts/requirements.txt" "$root/.venv/requirements.installed"
}

# bootstrap_tool COMMAND PACKAGE: COMMAND, installed from Debian's PACKAGE when missing.
bootstrap_tool() {
  command -v "$1" >/dev/null && return 0
  note "installing $1 (Debian package $2)"
  apt_install "$2" || die "$1 is not installed and could not be installed; install it (Debian: apt-get install $2)"
}

# rustfmt and clippy, which cargo fmt and cargo clippy run.
bootstrap_rust_components() {
  cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1 && return 0
  command -v rustup >/dev/null || die "cargo fmt and cargo clippy are missing: install rustfmt and clippy for your toolchain"
  note "installing rustfmt and clippy (rustup)"
  rustup component add rustfmt clippy
}
