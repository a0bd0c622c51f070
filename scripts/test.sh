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
# Two workers by default (the machines have 2 cores); MLDOCK_TEST_WORKERS=0 runs in one process.
.venv/bin/pytest -n "${MLDOCK_TEST_WORKERS:-2}" "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
fi
exit "$code"
