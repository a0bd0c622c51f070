#!/usr/bin/env bash
# Make a Docker Engine API reachable for mldock (idempotent).
#
#   eval "$(bash scripts/install-podman.sh)"      # prints `export DOCKER_HOST=...` when it started Podman
#
# 1. An engine already answers (DOCKER_HOST, /var/run/docker.sock, a Podman socket): do nothing.
# 2. Otherwise, as root on Debian/Ubuntu: install podman + runc when missing, write the containers.conf
#    settings this machine kind needs (runc; ulimits podman may set) when they are absent, start
#    `podman system service` on unix:///run/mldock/podman.sock in the background (log:
#    /run/mldock/podman.log), wait until it answers `_ping`, and print the DOCKER_HOST to use.
# Progress goes to stderr; stdout carries only the `export` line, so `eval "$(...)"` works.
set -euo pipefail

SOCK_DIR=/run/mldock
SOCK=$SOCK_DIR/podman.sock
LOG=$SOCK_DIR/podman.log
CONF=/etc/containers/containers.conf
DROPIN=/etc/containers/containers.conf.d/50-mldock.conf

say() { printf 'install-podman: %s\n' "$*" >&2; }

# ping URL -> 0 when the Docker Engine API at URL (unix:///path or tcp://host:port) answers OK to /_ping
ping() {
  local url=$1
  case "$url" in
    unix://*)
      local path=${url#unix://}
      [ -S "$path" ] || return 1
      curl -fsS --max-time 3 --unix-socket "$path" http://d/_ping >/dev/null 2>&1
      ;;
    tcp://* | http://*)
      local hostport=${url#*://}
      curl -fsS --max-time 3 "http://${hostport%/}/_ping" >/dev/null 2>&1
      ;;
    *) return 1 ;;
  esac
}

if ! command -v curl >/dev/null 2>&1; then
  say "curl is needed to check the engine; install it (apt-get install -y curl)"
  exit 1
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  if ping "$DOCKER_HOST"; then
    say "an engine answers at DOCKER_HOST=$DOCKER_HOST; nothing to do"
    exit 0
  fi
  say "DOCKER_HOST=$DOCKER_HOST does not answer; looking further"
fi
for candidate in unix:///var/run/docker.sock unix:///run/podman/podman.sock "unix://$SOCK"; do
  if ping "$candidate"; then
    say "an engine answers at $candidate; nothing to do"
    if [ "$candidate" != unix:///var/run/docker.sock ]; then
      echo "export DOCKER_HOST=$candidate"
    fi
    exit 0
  fi
done

if [ "$(id -u)" -ne 0 ]; then
  say "no container engine answers and this is not root: start Docker or Podman's service yourself"
  say "(e.g. \`podman system service --time=0 unix://\$XDG_RUNTIME_DIR/podman/podman.sock &\`) and set DOCKER_HOST"
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "no container engine answers and this is not Debian/Ubuntu: install Docker or Podman and set DOCKER_HOST"
  exit 1
fi

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 \
    || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2; }
fi

# The settings measured on this machine kind: crun fails ("cgroups in hybrid mode not supported") and podman's
# default ulimits cannot be set ("setrlimit RLIMIT_NOFILE/NPROC: Operation not permitted").
SETTINGS='[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"'
has_settings() { grep -Eq '^[[:space:]]*runtime[[:space:]]*=' "$1" && grep -Eq '^[[:space:]]*default_ulimits[[:space:]]*=' "$1"; }
if [ ! -e "$CONF" ]; then
  say "writing $CONF (runtime runc, ulimits)"
  mkdir -p "$(dirname "$CONF")"
  printf '# written by mldock scripts/install-podman.sh\n%s\n' "$SETTINGS" >"$CONF"
elif has_settings "$CONF" || { [ -e "$DROPIN" ] && has_settings "$DROPIN"; }; then
  say "$CONF already sets the runtime and ulimits; leaving it alone"
else
  say "$CONF exists without the runtime/ulimits settings; adding them in $DROPIN"
  mkdir -p "$(dirname "$DROPIN")"
  printf '# written by mldock scripts/install-podman.sh\n%s\n' "$SETTINGS" >"$DROPIN"
fi

mkdir -p "$SOCK_DIR"
if [ -e "$SOCK" ] && ! ping "unix://$SOCK"; then
  rm -f "$SOCK"
fi
say "starting podman system service on unix://$SOCK (log: $LOG)"
# its own session (setsid), so it outlives the shell and the process group that ran this script
setsid nohup podman system service --time=0 "unix://$SOCK" >>"$LOG" 2>&1 </dev/null &
echo $! >"$SOCK_DIR/podman.pid"

for _ in $(seq 1 100); do
  if ping "unix://$SOCK"; then
    say "podman answers at unix://$SOCK"
    echo "export DOCKER_HOST=unix://$SOCK"
    exit 0
  fi
  sleep 0.2
done
say "podman system service did not answer within 20 s; its log says:"
tail -n 20 "$LOG" >&2 || true
exit 1
