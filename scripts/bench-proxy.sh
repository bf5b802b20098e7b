#!/usr/bin/env bash
# Proxy benchmark (not a test): accepted unlinks per second and p50/p99 latency, with wrk at
# concurrency 16 against a zero-latency fake Mono, for
#   - SQLite: one process;
#   - PostgreSQL: two replicas behind nginx (the reference set-up of scripts/replicas.sh).
# Every request is a new unlink (its own Idempotency-Key) of one of 5,000 accounts, through
# the whole path: limits, authoriser, key, intent, Mono, outcome. Release build.
#
#   scripts/bench-proxy.sh [SECONDS]   # default 10 per engine; prints a Markdown table
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}

cargo build -p unlink-proxy --release --quiet
proxy=target/release/unlink-proxy
work=$(mktemp -d)
chmod 755 "$work"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/pg.sh destroy "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop EXIT

wait_for() {
  local file=$1 pattern=$2
  for _ in $(seq 1 300); do
    if grep -q "$pattern" "$file" 2>/dev/null; then
      grep -o "$pattern[^ ]*" "$file" | head -1 | sed "s|$pattern||"
      return
    fi
    sleep 0.1
  done
  echo "bench: timed out waiting for \"$pattern\" in $file" >&2
  cat "$file" >&2
  exit 1
}

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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
user_line=""
if [ "$(id -u)" -eq 0 ]; then user_line="user root root;"; fi
cat >"$work/nginx/nginx.conf" <<NGINX
$user_line
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  upstream replicas {
$upstreams    keepalive 32;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
row "PostgreSQL, two replicas behind nginx" "$(run_wrk "127.0.0.1:$port")"
echo
echo "($seconds s each, wrk -t2 -c16, $(nproc) cores, zero-latency fake Mono, release build)"
