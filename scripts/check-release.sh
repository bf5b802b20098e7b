#!/usr/bin/env bash
# Tries the release archive as a partner with no Rust would: unpacks it into an empty
# folder, checks the sums, and runs the binary there with a PATH that has no cargo or rustc:
# --version, `check`, a demo unlink over HTTP and the audit row it left, and the example
# systemd unit checked by systemd-analyze. Stops everything it starts.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
archive="$PWD/target/release-artifacts/unlink-proxy-$version-x86_64-unknown-linux-musl.tar.gz"
[ -f "$archive" ] || { echo "check-release: no $archive (make release-proxy)" >&2; exit 1; }

work=$(mktemp -d)
proxy_pid=""
cleanup() {
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$(dirname "$archive")" && sha256sum --quiet -c SHA256SUMS)
tar -xzf "$archive" -C "$work"
dir="$work/unlink-proxy-$version-x86_64-unknown-linux-musl"
(cd "$dir" && sha256sum --quiet -c SHA256SUMS)
for file in unlink-proxy README.md LICENSE-MIT LICENSE-APACHE unlink-proxy.service SHA256SUMS; do
  [ -f "$dir/$file" ] || { echo "check-release: $file is missing from the archive" >&2; exit 1; }
done

# No Rust anywhere on this PATH, and a home of its own.
bare() { env -i PATH=/usr/bin:/bin HOME="$work" LANG=C.UTF-8 "$@"; }
if bare sh -c 'command -v cargo || command -v rustc'; then
  echo "check-release: the bare PATH still finds Rust" >&2
  exit 1
fi
cd "$dir"
[ "$(bare ./unlink-proxy --version)" = "unlink-proxy $version" ]
check_plan() {
  bare "$@" MONO_SEC_KEY=test_sk_releasecheck000000 ./unlink-proxy check \
    --authorize-url https://app.example/internal/can-unlink --public-origin https://app.example \
    --audit-db "$work/audit.sqlite3"
}
check_plan | grep -q "the configuration is usable"
check_plan | grep -q "TLS roots *the system's CA certificates"
# A scratch container has no CA bundle: the binary trusts Mozilla's roots, built in.
mkdir "$work/no-certs"
: >"$work/no-certs/none.pem"
check_plan SSL_CERT_FILE="$work/no-certs/none.pem" SSL_CERT_DIR="$work/no-certs" |
  grep -q "TLS roots *Mozilla's, built in"

# The demo, unlinking one account over HTTP.
mkdir "$work/site"
echo '<!doctype html><title>release check</title>' >"$work/site/index.html"
# Started directly (not through `bare`, a function: `$!` would be its subshell, and the
# binary would outlive the script).
env -i PATH=/usr/bin:/bin HOME="$work" LANG=C.UTF-8 ./unlink-proxy --fake-mono \
  --listen 127.0.0.1:0 --static-dir "$work/site" --audit-db "$work/audit.sqlite3" \
  >"$work/out" 2>"$work/log" &
proxy_pid=$!
for _ in $(seq 1 100); do grep -q "^Demo: " "$work/out" && break; sleep 0.1; done
url=$(sed -n 's/^Demo: \(http[^ ]*\)\/$/\1/p' "$work/out")
[ -n "$url" ] || { cat "$work/log"; exit 1; }
answer=$(curl -sS -X POST -H "Idempotency-Key: release-check" \
  "$url/api/mono/accounts/60770aa8c5878a2af69ed849/unlink")
echo "$answer" | grep -q '"already_unlinked":false' || { echo "unexpected answer: $answer" >&2; exit 1; }
kill "$proxy_pid"
wait "$proxy_pid" || true
proxy_pid=""
bare ./unlink-proxy audit --audit-db "$work/audit.sqlite3" |
  grep -q '"outcome":"unlinked","source":"upstream"'

# The example unit, as systemd reads it (with the binary where the unit expects one here).
if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/local/bin/unlink-proxy|$dir/unlink-proxy|" unlink-proxy.service >"$work/unlink-proxy.service"
  systemd-analyze verify --man=no "$work/unlink-proxy.service"
fi
echo "check-release: $(basename "$archive") runs with no Rust installed: --version, check, a demo unlink, its audit row"
