#!/usr/bin/env bash
# Create .venv (Python 3.11 or 3.12) and install vdmine with its test and benchmark extras.
# Idempotent: a second call only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))'; then PY="$c"; break; fi
  done
fi
if [ -z "$PY" ]; then echo "setup: need Python 3.11 or 3.12 (scispacy 0.6.2 does not support 3.13)" >&2; exit 1; fi
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,bench]"
echo "setup: ok ($(.venv/bin/python --version), vdmine $(.venv/bin/python -c 'import vdmine; print(vdmine.__version__)'))" >&2
