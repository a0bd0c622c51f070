#!/usr/bin/env sh
# Install the pinned Azurite (Azure Blob emulator) into ${MLDOCK_CACHE_DIR:-~/.cache/mldock}/azurite-<version>.
# Idempotent. Needs node >= 18 (< 21 for the pinned 3.35.0) and npm. Extra arguments: --prefix DIR, --force.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec "$PYTHON" -m mldock.emulators.install_azurite "$@"
