#!/usr/bin/env bash
# Every test, in the order that fails fastest. `make test` and CI (.ci/run) run this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lint (native and wasm)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p unlink-widget --all-targets --target wasm32-unknown-unknown --quiet -- -D warnings

step "unit tests (widget logic) and proxy tests (router, loopback HTTP, CLI)"
cargo test --workspace

step "widget browser tests (wasm-bindgen-test in headless Chromium)"
cargo test -p unlink-widget --target wasm32-unknown-unknown

step "release bundle and size budget"
scripts/build.sh
node scripts/size.mjs dist

step "TypeScript declarations"
tsc -p tests/types

step "end to end (Playwright: demo page, real proxy, fake Mono)"
cargo build -p unlink-proxy --quiet
playwright test

step "all tests passed"
