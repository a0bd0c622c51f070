#!/usr/bin/env bash
# Run mldock's checks and test suite: lint, types, then every test (unit, plugin, integration, examples).
# pytest's exit code 5 (no tests collected) is a failure here, as is any other non-zero code.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DOCKER_HOST:-}" ] && [ -S /run/mldock/podman.sock ]; then
  export DOCKER_HOST=unix:///run/mldock/podman.sock
fi
.venv/bin/ruff check .
.venv/bin/mypy
set +e
.venv/bin/pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
fi
exit "$code"
