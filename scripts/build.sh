#!/usr/bin/env bash
# Builds the widget's release bundle into dist/: unlink.js (loader and wasm-bindgen glue in
# one module), unlink.wasm, unlink.css, unlink.d.ts, each shipped file with
# precompressed .br and .gz copies beside it (plus the demo page).
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

# One module: esbuild inlines the glue into unlink.js (a request saved, and the glue is then
# covered by unlink.js's own integrity hash) and drops the parts of it nothing calls. The
# wasm's SHA-384 and the version are written in; unlink.js refuses a wasm that differs.
mv dist/unlink-widget_bg.wasm dist/unlink.wasm
# The glue's own default URL (unused: unlink.js passes its checked fetch) names the file too;
# bundlers such as Vite look for every `new URL("…", import.meta.url)`, so it must exist.
grep -q "new URL('unlink-widget_bg.wasm', import.meta.url)" dist/unlink-widget.js
sed -i "s|new URL('unlink-widget_bg.wasm', import.meta.url)|new URL('unlink.wasm', import.meta.url)|" \
  dist/unlink-widget.js
# Leptos brings wasm-streams, whose classes are exports the widget never calls: out they go,
# from the wasm and from the glue (docs/size.md: 1.1 KB gzip).
node scripts/prune-wasm.mjs dist/unlink.wasm dist/unlink-widget.js
# Then its imports and exports get short names, in the wasm and in the glue (docs/size.md).
node scripts/shorten-wasm-names.mjs dist/unlink.wasm dist/unlink-widget.js
integrity=$(node -e 'const c = require("node:crypto"), f = require("node:fs");
  console.log("sha384-" + c.createHash("sha384").update(f.readFileSync(process.argv[1])).digest("base64"))' \
  dist/unlink.wasm)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
esbuild dist/unlink.js --bundle --format=esm --minify --log-level=warning \
  --define:UNLINK_WASM_INTEGRITY="\"$integrity\"" --define:UNLINK_VERSION="\"$version\"" \
  --outfile=dist/unlink.js --allow-overwrite
rm dist/unlink-widget.js
if grep -q intounderlying dist/unlink.js; then
  echo "build: unlink.js still calls the pruned wasm-streams exports" >&2
  exit 1
fi
# terser squeezes a little more out of esbuild's output (0.1 KB gzip).
for file in dist/unlink.js dist/demo.js; do
  terser "$file" --module --compress passes=2 --mangle --output "$file"
done
# With inject_scripts off, trunk leaves its own <link data-trunk rel=rust> in the page. The
# demo page uses the embed snippet the README recommends, with a preload of the wasm (no
# integrity on it: Chromium ignores it there and warns; unlink.js's fetch checks the hash).
sed -i -e 's/<link[^>]*data-trunk[^>]*>//g' \
  -e "s|<script src=./unlink.js|<link as=fetch crossorigin href=./unlink.wasm rel=preload type=application/wasm><script src=./unlink.js|" \
  dist/index.html
grep -q 'href=./unlink.wasm' dist/index.html || { echo "build: no preload in dist/index.html" >&2; exit 1; }
node scripts/precompress.mjs dist unlink.js unlink.wasm unlink.css
echo "built dist/ ($(ls dist | tr '\n' ' '))"
