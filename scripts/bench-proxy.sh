#!/usr/bin/env bash
# Proxy benchmark (not a test): accepted unlinks per second and p50/p99 latency, with wrk at
# concurrency 16 against a zero-latency fake Mono, for
#   - SQLite: one process;
#   - PostgreSQL: two replicas behind nginx (the reference set-up of scripts/replicas.sh).
# Every request is a new unlink (its own Idempotency-Key) of an account not unlinked before,
# through the whole path: limits, authoriser, key, intent, Mono, outcome. Then the company side:
# `unlink-proxy unlink` offboarding 10,000 accounts against a fake Mono that allows 200 calls/s
# and answers 429 beyond it, printing accounts/s and the share of 429s. Release build.
#
#   scripts/bench-proxy.sh [SECONDS]   # default 10 per engine; prints a Markdown table
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}

cargo build -p unlink-proxy --features cli --release --quiet
proxy=target/release/unlink-proxy
source scripts/cluster.sh

"$proxy" fake-mono --listen 127.0.0.1:0 --demo-owns-all >"$work/fake.out" 2>/dev/null &
pids+=($!)
mono=$(wait_for "$work/fake.out" "Fake Mono: ")

# Starts a replica on the given record (in this shell, so `stop` can end it).
replica() {
  local name=$1
  shift
  MONO_SEC_KEY=test_sk_benchmark0000000000 "$proxy" \
    --listen 127.0.0.1:0 --mono-base-url "$mono" --authorize-url "$mono/demo/can-unlink" \
    --public-origin http://127.0.0.1 --rate-limit-per-minute 1000000 \
    --ip-rate-limit-per-minute 1000000 "$@" >/dev/null 2>"$work/$name.log" &
  pids+=($!)
}

run_wrk() {
  wrk -t2 -c16 -d"${seconds}s" --latency -s bench/unlink.lua "http://$1" 2>/dev/null | grep "^{"
}

row() {
  node -e '
    const [name, json] = process.argv.slice(1);
    const r = JSON.parse(json);
    const rate = (r.accepted / r.seconds).toFixed(0);
    console.log(`| ${name} | ${rate} | ${r.p50_ms.toFixed(1)} ms | ${r.p99_ms.toFixed(1)} ms | ${r.requests - r.accepted} |`);
  ' "$1" "$2"
}

echo "| record | accepted unlinks/s | p50 | p99 | not accepted |"
echo "| --- | ---: | ---: | ---: | ---: |"

replica sqlite --audit-db "$work/audit.sqlite3"
address=$(wait_for "$work/sqlite.log" "listening on http://")
row "SQLite, one process" "$(run_wrk "$address")"

database=$(scripts/pg.sh start "$work/pg")
upstreams=""
for n in 1 2; do
  replica "pg$n" --database-url "$database"
  upstreams+="    server $(wait_for "$work/pg$n.log" "listening on http://");"$'\n'
done
port=$(free_port)
start_nginx "$port" "$upstreams"
row "PostgreSQL, two replicas behind nginx" "$(run_wrk "127.0.0.1:$port")"
echo
echo "($seconds s each, wrk -t2 -c16, $(nproc) cores, zero-latency fake Mono, release build)"

# The bulk run: its own fake Mono, which knows exactly these 10,000 accounts.
echo
seq -f "bench%05g" 1 10000 >"$work/ids"
"$proxy" fake-mono --listen 127.0.0.1:0 --accounts-from "$work/ids" --fake-mono-rate 200 \
  >"$work/fake-bulk.out" 2>/dev/null &
pids+=($!)
limited=$(wait_for "$work/fake-bulk.out" "Fake Mono: ")
summary=$(MONO_SEC_KEY=test_sk_benchmark0000000000 "$proxy" unlink --from "$work/ids" \
  --reason offboarding --principal cli:bench --mono-base-url "$limited" \
  --audit-db "$work/bulk.sqlite3" --concurrency 8 --rate 200 2>"$work/bulk.log" | tail -1) || {
  cat "$work/bulk.log" >&2
  exit 1
}
echo "Bulk: \`unlink-proxy unlink\` of 10,000 accounts against a Mono allowing 200 calls/s:"
echo "${summary#unlink-proxy unlink: }"
