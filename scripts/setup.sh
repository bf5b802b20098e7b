#!/usr/bin/env bash
# Installs what the demo and the tests need, from registries only (crates.io, npm, apt,
# rustup): never a binary from GitHub, never a browser download. Idempotent: a second run
# checks versions and returns in seconds. On a fresh machine it takes about 10 minutes, most
# of it compiling trunk, wasm-bindgen-cli and geckodriver side by side (README: "The two
# commands" has the measured figures).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

step() { printf '==> %s\n' "$*"; }

# 1. Rust toolchains: the pinned stable (rust-toolchain.toml) for everything, and the pinned
#    nightly that builds the release wasm (scripts/build.sh says why).
stable=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
ensure_toolchain() {
  local toolchain=$1
  shift
  if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1 ||
    ! rustup target list --installed --toolchain "$toolchain" | grep -qx wasm32-unknown-unknown; then
    step "installing Rust $toolchain"
    rustup toolchain install "$toolchain" --profile minimal --target wasm32-unknown-unknown "$@"
  fi
}
ensure_toolchain "$stable" --component rustfmt,clippy
# The static Linux binary partners install without Rust (make release-proxy) is built for musl.
if ! rustup target list --installed --toolchain "$stable" | grep -qx x86_64-unknown-linux-musl; then
  step "installing the x86_64-unknown-linux-musl target"
  rustup target add x86_64-unknown-linux-musl --toolchain "$stable"
fi
ensure_toolchain "$WASM_NIGHTLY" --component rust-src
if ! rustup component list --installed --toolchain "$WASM_NIGHTLY" | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain "$WASM_NIGHTLY"
fi

# 2. Tools built from crates.io, at exactly the versions the build pins, side by side.
bindgen=$(wasm_bindgen_version)
pids=()
mkdir -p target/setup
cargo_install() {
  local name=$1 minutes=$2
  shift 2
  step "installing $name (about $minutes minutes; log: target/setup/$name.log)"
  cargo install "$@" >"target/setup/$name.log" 2>&1 &
  pids+=($!)
}
if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  cargo_install trunk 10 trunk --version "$TRUNK_VERSION" --locked
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen" ]; then
  # No --locked: its lock file pins a webpki-roots release that is gone from crates.io.
  cargo_install wasm-bindgen-cli 6 wasm-bindgen-cli --version "$bindgen"
fi
if [ "$(geckodriver --version 2>/dev/null | head -1)" != "geckodriver $GECKODRIVER_VERSION" ]; then
  cargo_install geckodriver 5 geckodriver --version "$GECKODRIVER_VERSION" --locked
fi

# 3. From Debian: Chromium, Firefox ESR and WebKitGTK (its WebDriver starts MiniBrowser,
#    which needs an X display: Xvfb) for the browser tests; PostgreSQL 15 and nginx for the
#    replica tests and the reference set-up (started by the scripts, never as services);
#    wrk for the proxy benchmark; faketime, for a replica whose clock runs fast; musl-tools,
#    whose musl-gcc builds the C in the static release binary; PHP with curl and Python's
#    requests, which run the README's service-route snippets as a partner would; Orca (the
#    screen reader), AT-SPI, a D-Bus session bus and xdotool, to hear what a blind user hears.
packages=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth postgresql nginx wrk
  faketime musl-tools php-cli php-curl python3-requests orca python3-pyatspi at-spi2-core
  dbus-daemon dbus-bin xdotool)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]} (apt)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A python3 ahead of Debian's on PATH (pyenv, a virtualenv) needs requests of its own.
if ! python3 -c 'import requests' 2>/dev/null; then
  step "installing requests for $(command -v python3) (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check requests
fi

# Node.js itself comes with the machine (README); say so clearly if it is too old for Vite 8.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "setup: Node.js 20.19 or later is needed (found $(node -v 2>/dev/null || echo none))" >&2
  exit 1
fi

# 4. npm tools: wasm-opt (binaryen), esbuild, terser, Playwright, selenium-webdriver, axe,
#    TypeScript.
#    Reinstalled only when package-lock.json changes.
stamp=node_modules/.setup-stamp
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  step "installing npm dev tools"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >"$stamp"
fi

# 5. Crates, so the offline release build needs no network.
fetch_crates

for pid in "${pids[@]}"; do
  if ! wait "$pid"; then
    echo "setup: a cargo install failed; see target/setup/*.log" >&2
    exit 1
  fi
done
step "setup ok: $(trunk --version), $(wasm-bindgen --version), wasm-opt $(wasm-opt --version | awk '{print $3}'), $(geckodriver --version | head -1)"
step "browsers: $(chromium --version 2>/dev/null | head -1), $(firefox-esr --version 2>/dev/null), WebKitGTK $(dpkg-query -W -f='${Version}' webkit2gtk-driver)"
