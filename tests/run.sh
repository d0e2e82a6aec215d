#!/usr/bin/env bash
# The whole test suite: unit tests, the replay of events/, and the tests that
# talk to local servers speaking the AWS protocols (moto for SQS and DynamoDB,
# LocalStack for CloudWatch and SQS's message-move tasks) and to Redis (the
# idempotency store). Installs the servers' pinned Python packages into .venv/
# on first use and redis-server from Debian's packages when it is missing,
# starts the servers on free ports, and stops them at exit.
# Extra arguments go to `cargo test` (e.g. `bash tests/run.sh -p orderflow-batch`).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
source .ci/lib.sh

# Waits until GET <url> answers 200, or fails naming the server and its log.
wait_ready() {
  local name=$1 url=$2 log=$3
  for _ in $(seq 1 300); do
    if "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null; then
      return
    fi
    sleep 0.3
  done
  echo "tests/run.sh: $name did not start; its log:" >&2
  cat "$log" >&2
  exit 1
}

install_venv moto .ci/requirements/moto.txt
install_venv localstack .ci/requirements/localstack.txt
install_debian_program redis-server redis-server

scratch=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

moto_port=$(free_port)
.venv/moto/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$scratch/moto.log" 2>&1 &
pids+=($!)

localstack_port=$(free_port)
GATEWAY_LISTEN="127.0.0.1:$localstack_port" LOCALSTACK_HOST="127.0.0.1:$localstack_port" \
  SERVICES=cloudwatch,sqs SQS_ENDPOINT_STRATEGY=path DISABLE_EVENTS=1 DNS_ADDRESS=0 SKIP_SSL_CERT_DOWNLOAD=1 \
  LOCALSTACK_VOLUME_DIR="$scratch/localstack/volume" FILESYSTEM_ROOT="$scratch/localstack/fs" \
  .venv/localstack/bin/python -m localstack.runtime.main >"$scratch/localstack.log" 2>&1 &
pids+=($!)

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$scratch/redis.log" 2>&1 &
pids+=($!)

wait_ready moto "http://127.0.0.1:$moto_port/moto-api/" "$scratch/moto.log"
wait_ready localstack "http://127.0.0.1:$localstack_port/_localstack/health" "$scratch/localstack.log"
export ORDERFLOW_MOTO_URL="http://127.0.0.1:$moto_port"
export ORDERFLOW_LOCALSTACK_URL="http://127.0.0.1:$localstack_port"
for _ in $(seq 1 100); do
  redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG || { echo "tests/run.sh: redis-server did not start; its log:" >&2; cat "$scratch/redis.log" >&2; exit 1; }
export ORDERFLOW_REDIS_URL="redis://127.0.0.1:$redis_port"

cargo test --workspace --locked "$@"

# The functions under the local Lambda emulator, as `cargo lambda watch` users run them.
bash tests/cargo_lambda_smoke.sh
