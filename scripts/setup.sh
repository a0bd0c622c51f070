#!/usr/bin/env bash
# Set up everything mldock's tests and examples need on a Debian/Ubuntu machine (idempotent):
# the project venv, a Docker Engine API (Podman's service when no engine answers), Azurite,
# the distribution registry server (for the push tests) and the local Python base image.
# Re-running it is cheap: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "Python environment (.venv)"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"

step "System packages (curl, debootstrap for the local base image)"
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install ${missing[*]} (this script installs them only as root on Debian/Ubuntu)" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; }
else
  echo "curl and debootstrap are present"
fi

step "Container engine (Docker Engine API)"
bash scripts/install-podman.sh
if [ -z "${DOCKER_HOST:-}" ] && [ -S /run/mldock/podman.sock ]; then
  export DOCKER_HOST=unix:///run/mldock/podman.sock
fi

step "Azurite (Azure Blob emulator, pinned)"
bash scripts/install-azurite.sh

step "Container registry server (docker-registry, for the push tests)"
bash scripts/install-registry.sh

step "Local Python base image (no registry needed)"
.venv/bin/mldock base-image

printf '\nmldock is set up in %ss. Engine: DOCKER_HOST=%s\n' "$(( $(date +%s) - start ))" "${DOCKER_HOST:-default socket}"
