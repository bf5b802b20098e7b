#!/usr/bin/env bash
# Builds the widget's release bundle into dist/: unlink.js, unlink-widget.js,
# unlink-widget_bg.wasm, unlink.css, unlink.d.ts (plus the demo page).
#
# The wasm is compiled with a pinned nightly so the standard library can be rebuilt with
# panics that abort at once instead of formatting a message nobody sees (docs/size.md has
# the measurement). Everything else (tests, clippy, the proxy) uses the stable toolchain
# from rust-toolchain.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

nightly_build_env
# No update check, no downloads: Trunk.toml pins wasm-bindgen and wasm-opt, and runs cargo
# offline, so scripts/setup.sh must have fetched every crate (fetch_crates in env.sh).
export TRUNK_SKIP_VERSION_CHECK=true

trunk build --release "$@"

# trunk's bundled JS minifier cannot parse wasm-bindgen's glue (it warns and copies it), and
# the two hand-written modules are marked data-no-minify; terser does all three.
for file in dist/unlink-widget.js dist/unlink.js dist/demo.js; do
  terser "$file" --module --compress --mangle --output "$file"
done
# With inject_scripts off, trunk leaves its own <link data-trunk rel=rust> in the page.
sed -i 's/<link[^>]*data-trunk[^>]*>//g' dist/index.html
echo "built dist/ ($(ls dist | tr '\n' ' '))"
