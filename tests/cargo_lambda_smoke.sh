#!/usr/bin/env bash
# Smoke test of the local Lambda emulator on this workspace: starts
# `cargo lambda watch` from the repository root on a free port (functions on
# the embedded in-memory adapters), sends one sample event per function with
# `cargo lambda invoke`, checks each response equals its
# events/<name>.expected.json (as JSON), and stops the emulator.
#
# cargo-lambda comes from .ci/requirements/cargo-lambda.txt, installed into
# .venv/cargo-lambda on first use. The functions are debug builds in target/,
# shared with `cargo test`. Usage: bash tests/cargo_lambda_smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

python=${PYTHON:-python3}
source .ci/lib.sh

# function:event-name, one sample per function.
cases=(
  inventory:inventory-all-valid
  shipping:shipping-all-valid
  notification:notification-routing
  order-api:order-api-valid
  order-relay:order-relay-batch
)

install_venv cargo-lambda .ci/requirements/cargo-lambda.txt
export PATH="$PWD/.venv/cargo-lambda/bin:$PATH"

# watch's log lives outside the repository: watch reacts to changes in the tree.
scratch=$(mktemp -d)
watch_pid=
cleanup() {
  if [ -n "$watch_pid" ]; then
    # watch runs in its own process group (setsid): stop it and the functions it started.
    kill -TERM -- "-$watch_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 -- "-$watch_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$watch_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

port=$(free_port)
# --ignore-changes: serve the code as it was at start, even if files change meanwhile.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes \
  --env-var ORDERFLOW_ADAPTERS=embedded >"$scratch/watch.log" 2>&1 &
watch_pid=$!

ready=false
for _ in $(seq 1 600); do
  if "$python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' \
    "$port" 2>/dev/null; then
    ready=true
    break
  fi
  kill -0 "$watch_pid" 2>/dev/null || break
  sleep 0.2
done
if ! "$ready"; then
  echo "cargo_lambda_smoke: cargo lambda watch did not listen on 127.0.0.1:$port; its log:" >&2
  cat "$scratch/watch.log" >&2
  exit 1
fi

failed=0
for case in "${cases[@]}"; do
  function=${case%%:*} name=${case#*:}
  event=events/$name.json expected=events/$name.expected.json
  # The first invocation of a function compiles it; the retries cover that wait.
  if ! cargo lambda invoke "$function" --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file "$event" --output-format json --retry-attempts 5 >"$scratch/$name.out" 2>"$scratch/$name.err"; then
    echo "FAIL $function $event: cargo lambda invoke failed:" >&2
    cat "$scratch/$name.err" >&2
    failed=1
    continue
  fi
  if "$python" - "$scratch/$name.out" "$expected" <<'EOF'; then
import json, sys
actual, expected = (json.load(open(path)) for path in sys.argv[1:3])
if actual != expected:
    sys.exit(f"expected {json.dumps(expected)}\n  actual   {json.dumps(actual)}")
EOF
    echo "ok   $function $event -> $expected"
  else
    echo "FAIL $function $event: the response differs from $expected" >&2
    failed=1
  fi
done

if [ "$failed" != 0 ]; then
  echo "cargo_lambda_smoke: cargo lambda watch's log:" >&2
  cat "$scratch/watch.log" >&2
  exit 1
fi
echo "cargo_lambda_smoke: ${#cases[@]} functions answered as expected"
