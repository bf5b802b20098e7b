#!/usr/bin/env bash
# Builds the widget and serves the demo partner page from the reference proxy, which runs
# against its built-in fake Mono: no key, no network. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh
scripts/build.sh
cargo build -p unlink-proxy --features cli --quiet
# Prints "Demo: http://127.0.0.1:8080/" once it is listening.
exec target/debug/unlink-proxy --fake-mono --static-dir dist \
  --audit-db target/demo-audit.sqlite3 --listen "127.0.0.1:${PORT:-8080}"
