#!/usr/bin/env bash
# Installs what the demo and the tests need, from registries only (crates.io, npm, apt,
# rustup): never a binary from GitHub. Idempotent: a second run checks versions and returns
# in seconds. On a fresh machine the two cargo installs take ~15 minutes (they run together).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '==> %s\n' "$*"; }
has() { command -v "$1" >/dev/null 2>&1; }

# 1. Rust toolchains: the pinned stable (rust-toolchain.toml) for everything, and the pinned
#    nightly that builds the release wasm (scripts/build.sh says why).
stable=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
ensure_toolchain() {
  local toolchain=$1; shift
  if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1 ||
    ! rustup target list --installed --toolchain "$toolchain" | grep -qx wasm32-unknown-unknown; then
    step "installing Rust $toolchain"
    rustup toolchain install "$toolchain" --profile minimal --target wasm32-unknown-unknown "$@"
  fi
}
ensure_toolchain "$stable" --component rustfmt,clippy
ensure_toolchain "$WASM_NIGHTLY" --component rust-src
if ! rustup component list --installed --toolchain "$WASM_NIGHTLY" | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain "$WASM_NIGHTLY"
fi

# 2. trunk and wasm-bindgen-cli, at exactly the versions the build pins.
bindgen=$(wasm_bindgen_version)
pids=()
mkdir -p target/setup
if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  step "installing trunk $TRUNK_VERSION (about 10 minutes; log: target/setup/trunk.log)"
  cargo install trunk --version "$TRUNK_VERSION" --locked >target/setup/trunk.log 2>&1 &
  pids+=($!)
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen" ]; then
  step "installing wasm-bindgen-cli $bindgen (about 6 minutes; log: target/setup/wasm-bindgen.log)"
  # No --locked: its lock file pins a webpki-roots release that is gone from crates.io.
  cargo install wasm-bindgen-cli --version "$bindgen" >target/setup/wasm-bindgen.log 2>&1 &
  pids+=($!)
fi

# 3. Chromium and its driver, for both kinds of browser test.
if ! has chromium || ! has chromedriver; then
  step "installing chromium and chromium-driver (apt)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# 4. npm tools: wasm-opt (binaryen), terser, Playwright, axe, TypeScript. Reinstalled only
#    when package-lock.json changes.
stamp=node_modules/.setup-stamp
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  step "installing npm dev tools"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >"$stamp"
fi

# 5. Crates, so later builds need no network.
cargo fetch --quiet

for pid in "${pids[@]}"; do
  if ! wait "$pid"; then
    echo "setup: a cargo install failed; see target/setup/*.log" >&2
    exit 1
  fi
done
step "setup ok: $(trunk --version), $(wasm-bindgen --version), wasm-opt $(wasm-opt --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -1)"
