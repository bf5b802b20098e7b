# Sourced by scripts/replicas.sh and scripts/bench-proxy.sh: what a local set-up of several
# processes needs. A scratch directory, every process started stopped (and PostgreSQL's data
# deleted) on exit, waiting for a line in a log, a free port, and nginx in front of replicas.

work=$(mktemp -d)
# PostgreSQL runs as its own user, which must reach its data directory in here.
chmod 755 "$work"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/pg.sh destroy "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

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
  echo "${0##*/}: timed out waiting for \"$pattern\" in $file:" >&2
  cat "$file" >&2
  exit 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nginx on 127.0.0.1:PORT balancing round-robin over UPSTREAMS (`server host:port;` lines),
# passing the Host header and adding X-Forwarded-For (which replicas started with
# --trust-forwarded-for read); returns once /healthz answers through it.
start_nginx() {
  local port=$1 upstreams=$2 user_line=""
  mkdir -p "$work/nginx"
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
$upstreams    keepalive 32;
  }
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
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
}
