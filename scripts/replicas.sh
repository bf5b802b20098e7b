#!/usr/bin/env bash
# The reference set-up for several replicas, on this machine: PostgreSQL, the standalone fake
# Mono (with the demo user's authoriser), two proxy replicas sharing the record, and nginx
# balancing round-robin in front of them, serving the demo page. Ctrl-C stops everything.
#
#   scripts/replicas.sh [PORT]      # default 8088, 0 for any free one;
#                                   # prints "Replicas: http://127.0.0.1:PORT/"
#
# A production set-up swaps the fake for MONO_SEC_KEY and your --authorize-url, and this
# machine's PostgreSQL for yours (`--database-url`, TLS required off this machine).
set -euo pipefail
cd "$(dirname "$0")/.."

port=${1:-8088}
proxy=${UNLINK_PROXY_BIN:-target/debug/unlink-proxy}
source scripts/cluster.sh
if [ "$port" = 0 ]; then port=$(free_port); fi

[ -x "$proxy" ] || { echo "replicas: build the proxy first (cargo build -p unlink-proxy --features cli)" >&2; exit 1; }
[ -f dist/index.html ] || { echo "replicas: build the widget first (make build)" >&2; exit 1; }

database=$(scripts/pg.sh start "$work/pg")

"$proxy" fake-mono --listen 127.0.0.1:0 >"$work/fake.out" 2>"$work/fake.log" &
pids+=($!)
mono=$(wait_for "$work/fake.out" "Fake Mono: ")

upstreams=""
for replica in 1 2; do
  MONO_SEC_KEY=test_sk_referencesetup000000 "$proxy" \
    --listen 127.0.0.1:0 --database-url "$database" \
    --mono-base-url "$mono" --authorize-url "$mono/demo/can-unlink" \
    --public-origin "http://127.0.0.1:$port" --trust-forwarded-for \
    --static-dir dist >"$work/replica$replica.out" 2>"$work/replica$replica.log" &
  pids+=($!)
  address=$(wait_for "$work/replica$replica.log" "listening on http://")
  upstreams+="    server $address;"$'\n'
done

start_nginx "$port" "$upstreams"
echo "Replicas: http://127.0.0.1:$port/ (nginx → 2 replicas → PostgreSQL; fake Mono at $mono)"
wait "${pids[0]}"
