#!/usr/bin/env bash
# Set up everything mldock's tests and examples need on a Debian/Ubuntu machine (idempotent):
# the project venv, a Docker Engine API (Podman's service when no engine answers), Azurite,
# and the local Python base image. Re-running it is cheap: each step skips what is already there.
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

step "Container engine (Docker Engine API)"
bash scripts/install-podman.sh
if [ -z "${DOCKER_HOST:-}" ] && [ -S /run/mldock/podman.sock ]; then
  export DOCKER_HOST=unix:///run/mldock/podman.sock
fi

step "Azurite (Azure Blob emulator, pinned)"
bash scripts/install-azurite.sh

step "Local Python base image (no registry needed)"
.venv/bin/mldock base-image

printf '\nmldock is set up in %ss. Engine: DOCKER_HOST=%s\n' "$(( $(date +%s) - start ))" "${DOCKER_HOST:-default socket}"
