#!/usr/bin/env bash
# Every test, in the order that fails fastest. `make test` and CI (.ci/run) run this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

step() { printf '\n==> %s\n' "$*"; }

# Each browser step names its engine's driver and unsets the others': wasm-bindgen-test
# takes the first of GECKODRIVER, SAFARIDRIVER, CHROMEDRIVER it finds, so a variable left in
# a developer's shell would otherwise swap engines silently.
drivers=(CHROMEDRIVER GECKODRIVER SAFARIDRIVER MSEDGEDRIVER
  CHROMEDRIVER_REMOTE GECKODRIVER_REMOTE SAFARIDRIVER_REMOTE MSEDGEDRIVER_REMOTE)
unset "${drivers[@]}"
in_chromium() { env CHROMEDRIVER=/usr/bin/chromedriver "$@"; }
in_firefox() { env GECKODRIVER="$(command -v geckodriver)" "$@"; }
# WebKitGTK has no headless mode: it draws into a virtual X display.
in_webkit() {
  env SAFARIDRIVER=/usr/bin/WebKitWebDriver \
    xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp" "$@"
}

# A throwaway PostgreSQL for the store and replica tests, stopped and deleted on exit.
mkdir -p target
pg_dir=$(mktemp -d -p "$PWD/target" pg.XXXXXX)
chmod 755 "$pg_dir"
cleanup() { scripts/pg.sh destroy "$pg_dir/server" >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap cleanup EXIT

step "format"
cargo fmt --all -- --check

step "set-up fetches every crate the offline release build needs (empty cargo home)"
scripts/check-fetch.sh

step "lint (native and wasm), and the proxy library with each record alone and with none"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p unlink-widget --all-targets --target wasm32-unknown-unknown --quiet -- -D warnings
for features in "" sqlite postgres; do
  cargo clippy -p unlink-proxy --lib --no-default-features --features "$features" --quiet -- -D warnings
done

step "unit tests (widget logic) and proxy tests (router, loopback HTTP, CLI, both stores, replicas)"
UNLINK_TEST_DATABASE_URL=$(scripts/pg.sh start "$pg_dir/server")
export UNLINK_TEST_DATABASE_URL
cargo test --workspace

for engine in chromium firefox webkit; do
  step "widget browser tests (wasm-bindgen-test in $engine)"
  "in_$engine" cargo test -p unlink-widget --target wasm32-unknown-unknown
done

step "release bundle and size budget"
scripts/build.sh
node scripts/size.mjs dist

step "TypeScript declarations"
tsc -p tests/types

step "packed as partners install it: npm tarball and CDN folder (files, versions, hashes)"
cargo build -p unlink-proxy --features cli --quiet
node scripts/package.mjs
node --test --test-reporter=spec tests/package/

step "the React example installs the tarball (npm ci), type-checks and builds (Vite)"
(cd examples/react && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)

step "end to end in Chromium (Playwright: demo page, React example, CDN folder; real proxy, fake Mono)"
playwright test --project chromium --project react --project package

step "end to end through the reference set-up (nginx, two replicas, PostgreSQL)"
scripts/replicas.sh 0 >"$pg_dir/replicas.out" 2>&1 &
replicas=$!
for _ in $(seq 1 300); do
  grep -q "^Replicas: " "$pg_dir/replicas.out" && break
  kill -0 "$replicas" 2>/dev/null || { cat "$pg_dir/replicas.out"; exit 1; }
  sleep 0.1
done
UNLINK_REPLICAS_URL=$(sed -n 's/^Replicas: \(http[^ ]*\).*/\1/p' "$pg_dir/replicas.out")
[ -n "$UNLINK_REPLICAS_URL" ] || { cat "$pg_dir/replicas.out"; exit 1; }
UNLINK_REPLICAS_URL=$UNLINK_REPLICAS_URL playwright test --project replicas
kill "$replicas"
wait "$replicas" || true

for engine in chromium firefox webkit; do
  step "end to end in $engine (WebDriver: keyboard, outcomes, axe)"
  ENGINE=$engine "in_$engine" node --test --test-concurrency=1 --test-reporter=spec tests/webdriver/
done

# Orca runs one instance per user: the engines take turns.
for engine in chromium firefox; do
  step "what a screen reader says in $engine (Orca, keyboard journeys; transcripts in target/screen-reader/)"
  ENGINE=$engine node --test --test-reporter=spec tests/screen-reader/
done

step "the proxy as partners without Rust install it: a static binary, unpacked and run with no Rust on PATH"
scripts/release-proxy.sh
scripts/check-release.sh

step "the proxy as a crate: cargo package (verified build) and cargo install --locked"
cargo package -p unlink-proxy --locked --allow-dirty --quiet
cargo install --path proxy --features cli --locked --quiet --root target/install --target-dir target
installed=$(target/install/bin/unlink-proxy --version)
[ "$installed" = "unlink-proxy $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" ] ||
  { echo "installed proxy says '$installed'" >&2; exit 1; }

step "all tests passed"
