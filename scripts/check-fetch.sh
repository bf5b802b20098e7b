#!/usr/bin/env bash
# Guard for a fresh machine: does scripts/setup.sh fetch every crate the offline release
# build needs? A machine that has built before has everything cached, so a missing fetch
# stays invisible there (it once did: the standard library's crates). This repeats the fetch
# into an empty cargo home and asks cargo to plan the release build offline from it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
ln -s "${CARGO_HOME:-$HOME/.cargo}/bin" "$home/bin"
export CARGO_HOME="$home"
fetch_crates
# --unit-graph resolves and reads every package the build would compile, without compiling.
(
  nightly_build_env
  cargo build --offline --profile wasm-release --target wasm32-unknown-unknown \
    -p unlink-widget --unit-graph -Zunstable-options >/dev/null
)
echo "check-fetch: the offline release build has every crate it needs"
