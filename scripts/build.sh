#!/usr/bin/env bash
# Builds the widget's release bundle into dist/: unlink.js, unlink-widget.js,
# unlink-widget_bg.wasm, unlink.css, unlink.d.ts (plus the demo page).
#
# The wasm is compiled with a pinned nightly so the standard library can be rebuilt with
# panics that abort at once instead of formatting a message nobody sees. Measured on this
# widget: 58.0 KB -> 46.7 KB gzip (docs/size.md). Everything else (tests, clippy, the proxy)
# uses the stable toolchain from rust-toolchain.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

export RUSTUP_TOOLCHAIN="$WASM_NIGHTLY"
export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
export RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort"
# No update check, no downloads: Trunk.toml pins wasm-bindgen and wasm-opt.
export TRUNK_SKIP_VERSION_CHECK=true
# Apart from the stable builds, so switching toolchains never rebuilds everything.
export CARGO_TARGET_DIR="$PWD/target/nightly"

trunk build --release "$@"

# trunk's bundled JS minifier cannot parse wasm-bindgen's glue (it warns and copies it), and
# the two hand-written modules are marked data-no-minify; terser does all three.
for file in dist/unlink-widget.js dist/unlink.js dist/demo.js; do
  terser "$file" --module --compress --mangle --output "$file"
done
# With inject_scripts off, trunk leaves its own <link data-trunk rel=rust> in the page.
sed -i 's/<link[^>]*data-trunk[^>]*>//g' dist/index.html
echo "built dist/ ($(ls dist | tr '\n' ' '))"
