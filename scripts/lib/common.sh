# Shared by the scripts: messages, process helpers, and running as the right user.
# shellcheck shell=bash

step() { printf '\n==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# A command line the script cannot take (an unknown option, a value missing): exit status 2,
# as clap, getopt and the shell's builtins do, apart from failures (1).
usage_error() { printf 'error: %s\n' "$*" >&2; exit 2; }
warn() { printf 'warning: %s\n' "$*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# A TCP port nobody listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Does something listen on 127.0.0.1:PORT?
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# require_free_port PORT WHAT [OPTION [WHEN]]: fails with a clear message, naming the option
# that changes the port (and when it was taken, if known), when something listens on PORT.
require_free_port() {
  local port=$1 what=$2 option=${3:-} when=${4:-}
  port_in_use "$port" || return 0
  die "port $port (for $what) is already in use${when:+ ($when)}${option:+; pick another with $option}"
}

# usage FILE: prints the comment block at the top of FILE, its help text.
usage() {
  sed -n '2,/^[^#]/{/^#/!d; s/^# \{0,1\}//; p;}' "$1"
}

# option_value OPTION VALUE: VALUE, or a usage error when OPTION came without one.
option_value() {
  if [ -z "${2:-}" ] || [ "${2#-}" != "$2" ]; then
    usage_error "$1 needs a value (see scripts/$(basename "$0") --help)"
  fi
  printf '%s' "$2"
}

# port_value OPTION VALUE: VALUE if it is a TCP port number, else a usage error.
port_value() {
  local value
  value=$(option_value "$1" "${2:-}") || exit 2
  if ! [[ $value =~ ^[0-9]+$ ]] || [ "$value" -lt 1 ] || [ "$value" -gt 65535 ]; then
    usage_error "$1 takes a port number (1-65535), not '$value'"
  fi
  printf '%s' "$value"
}

# restore_sigint SCRIPT ARGS...: a script started with & by a non-interactive shell inherits
# SIGINT ignored, which bash can neither trap nor reset, so Ctrl-C and kill -INT would do
# nothing; such a script runs itself again with SIGINT's default action, which it can trap.
restore_sigint() {
  python3 -c 'import signal, sys; sys.exit(signal.getsignal(signal.SIGINT) != signal.SIG_IGN)' || return 0
  exec python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$@"
}

# Is process PID gone?
process_gone() { ! kill -0 "$1" 2>/dev/null; }

# Is the process group PGID gone?
group_gone() { ! kill -0 -- "-$1" 2>/dev/null; }

# Waits until COMMAND succeeds, up to SECONDS. COMMAND is a command or a function, never a
# string for bash -c.
wait_for() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# Installs Debian packages when missing and allowed (root with apt-get).
apt_install() {
  is_root && command -v apt-get >/dev/null || return 1
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null || return 1
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# state_dir NAME: an ignored folder for NAME's state, inside the checkout (.state/NAME) when
# the postgres user can reach it, else under /tmp (CI runs as root in folders it cannot).
state_dir() {
  local name=$1 repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if ! is_root || runuser -u postgres -- test -x "$repo" 2>/dev/null; then
    echo "$repo/.state/$name"
  else
    echo "/tmp/rust-pubsub-pipeline-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)/$name"
  fi
}
