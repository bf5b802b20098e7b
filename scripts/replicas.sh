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
if [ "$port" = 0 ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
proxy=${UNLINK_PROXY_BIN:-target/debug/unlink-proxy}
work=$(mktemp -d)
# PostgreSQL runs as its own user, which must reach its data directory in here.
chmod 755 "$work"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/pg.sh destroy "$work/pg" || true
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

[ -x "$proxy" ] || { echo "replicas: build the proxy first (cargo build -p unlink-proxy)" >&2; exit 1; }
[ -f dist/index.html ] || { echo "replicas: build the widget first (make build)" >&2; exit 1; }

# Waits for `pattern` in `file` (a process's output) and prints what follows it.
wait_for() {
  local file=$1 pattern=$2
  for _ in $(seq 1 300); do
    if grep -q "$pattern" "$file" 2>/dev/null; then
      grep -o "$pattern[^ ]*" "$file" | head -1 | sed "s|$pattern||"
      return
    fi
    sleep 0.1
  done
  echo "replicas: timed out waiting for \"$pattern\" in $file:" >&2
  cat "$file" >&2
  exit 1
}

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
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream replicas {
$upstreams  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      # The replicas trust the last X-Forwarded-For entry: the one nginx adds.
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
echo "Replicas: http://127.0.0.1:$port/ (nginx → 2 replicas → PostgreSQL; fake Mono at $mono)"
wait "${pids[0]}"
