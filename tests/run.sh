#!/usr/bin/env bash
# The whole test suite: unit tests, the replay of events/, and the end-to-end
# tests. Installs what it needs on a fresh machine. Extra arguments go to
# `cargo test` (e.g. `bash tests/run.sh -p orderflow-shared`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked "$@"
