# Sourced by the other scripts: tool versions and PATH, in one place.

# The nightly used only to build the release wasm (see scripts/build.sh for why).
WASM_NIGHTLY="nightly-2026-05-20"
TRUNK_VERSION="0.21.14"

# cargo-installed tools (trunk, wasm-bindgen) and npm ones (wasm-opt, terser, playwright).
export PATH="$PWD/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

# The wasm-bindgen version the crate resolved to; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock
}
