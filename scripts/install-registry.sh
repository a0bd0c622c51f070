#!/usr/bin/env bash
# Install a container registry server for mldock's push tests (idempotent, fast when present):
# Debian's `docker-registry` package, the distribution registry server (`docker-registry serve CONFIG.yml`).
# The tests start their own instance on a free port (tests/integration/engine/test_push.py). Only the binary
# is wanted: when installing the package made systemd start its service (listening on :5000, all interfaces),
# this script stops and disables that service again.
set -euo pipefail

say() { printf 'install-registry: %s\n' "$*" >&2; }

if command -v docker-registry >/dev/null 2>&1; then
  say "docker-registry is present ($(command -v docker-registry)); nothing to do"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "please install Debian's docker-registry package (the distribution registry server), or run any"
  say "registry:2-compatible server yourself; this script installs it only as root on Debian/Ubuntu"
  exit 1
fi
say "installing docker-registry"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >&2 \
  || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >&2; }
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  say "stopping and disabling the packaged docker-registry service (the tests start their own registries)"
  systemctl disable --now docker-registry >&2 || true
fi
say "installed $(command -v docker-registry)"
