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

step "format"
cargo fmt --all -- --check

step "set-up fetches every crate the offline release build needs (empty cargo home)"
scripts/check-fetch.sh

step "lint (native and wasm)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p unlink-widget --all-targets --target wasm32-unknown-unknown --quiet -- -D warnings

step "unit tests (widget logic) and proxy tests (router, loopback HTTP, CLI)"
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

step "end to end in Chromium (Playwright: demo page, real proxy, fake Mono)"
cargo build -p unlink-proxy --quiet
playwright test

for engine in chromium firefox webkit; do
  step "end to end in $engine (WebDriver: keyboard, outcomes, axe)"
  ENGINE=$engine "in_$engine" node --test --test-concurrency=1 --test-reporter=spec tests/webdriver/
done

step "all tests passed"
