# Sourced by the other scripts: tool versions, PATH and build environments, in one place.

# The nightly used only to build the release wasm (see scripts/build.sh for why).
WASM_NIGHTLY="nightly-2026-05-20"
TRUNK_VERSION="0.21.14"
GECKODRIVER_VERSION="0.37.1"

# cargo-installed tools (trunk, wasm-bindgen, geckodriver) and npm ones (wasm-opt, terser,
# playwright). Browser drivers are chosen per test step (scripts/test.sh), never globally.
export PATH="$PWD/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# The wasm-bindgen version the crate resolved to; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock
}

# The release wasm build: the pinned nightly rebuilds the standard library with panics that
# abort at once. Its own target dir, so switching toolchains never rebuilds everything.
nightly_build_env() {
  export RUSTUP_TOOLCHAIN="$WASM_NIGHTLY"
  export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
  export RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort"
  export CARGO_TARGET_DIR="$PWD/target/nightly"
}

# Downloads every crate a build needs, because trunk runs cargo offline: the workspace's for
# all platforms, and the standard library's, which the release build compiles from source
# (a plain `cargo fetch` never sees those). scripts/check-fetch.sh proves this is enough.
fetch_crates() {
  cargo fetch --quiet
  (nightly_build_env && cargo fetch --quiet --target wasm32-unknown-unknown)
}
