#!/usr/bin/env bash
# A throwaway PostgreSQL 15 (Debian's package) for the tests and the reference set-up: its
# own data directory, loopback only, a free port, fsync on. PostgreSQL refuses to run as
# root, so as root it runs as the unprivileged `postgres` user.
#
#   scripts/pg.sh start DIR   # create (first time) and start; prints the URL
#   scripts/pg.sh stop DIR    # stop (the data stays: start again to resume)
#   scripts/pg.sh url DIR     # the URL of the superuser `unlink`
#   scripts/pg.sh destroy DIR # stop and delete
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
command=${1:?usage: pg.sh start|stop|url|destroy DIR}
dir=${2:?usage: pg.sh start|stop|url|destroy DIR}

as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgresql://unlink@127.0.0.1:$(cat "$dir/port")/postgres"; }

case $command in
  start)
    if [ ! -d "$dir/data" ]; then
      mkdir -p "$dir"
      if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
      as_server_user "$bin/initdb" -D "$dir/data" -A trust -U unlink -E UTF8 >/dev/null
      # A free port, chosen once and kept, so a restart is the same server.
      python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$dir/port"
    fi
    as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $(cat "$dir/port") -k $dir -c max_connections=300" >/dev/null
    url
    ;;
  stop)
    as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  url)
    url
    ;;
  destroy)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_server_user "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "pg.sh: unknown command $command" >&2
    exit 2
    ;;
esac
