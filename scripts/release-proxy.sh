#!/usr/bin/env bash
# The proxy as partners without a Rust toolchain install it: one static Linux binary
# (x86_64-unknown-linux-musl, so it runs on any distribution, in a scratch container, with no
# libc of its own), with the README, the licences, a hardened example systemd unit and
# SHA256SUMS, in
#   target/release-artifacts/unlink-proxy-<version>-x86_64-unknown-linux-musl.tar.gz
# and the archive's own SHA256SUMS beside it. `make release-proxy` runs this;
# scripts/check-release.sh tests what it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

target=x86_64-unknown-linux-musl
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
name="unlink-proxy-$version-$target"
out=target/release-artifacts

# musl-gcc builds the C inside (SQLite, ring) for musl; set-up installs it and the target.
CC_x86_64_unknown_linux_musl=musl-gcc cargo build -p unlink-proxy --release --locked \
  --features cli --target "$target" --quiet
binary="target/$target/release/unlink-proxy"
# A static(-pie) binary maps no shared library: ldd lists none (and says so).
if ldd "$binary" 2>&1 | grep -q "=>"; then
  echo "release-proxy: $binary is not static:" >&2
  ldd "$binary" >&2
  exit 1
fi

rm -rf "${out:?}/$name" "$out/$name.tar.gz"
mkdir -p "$out/$name"
install -m 0755 "$binary" "$out/$name/unlink-proxy"
# Symbols only make the download bigger; panics still name their place.
strip "$out/$name/unlink-proxy"
install -m 0644 proxy/README.md "$out/$name/README.md"
install -m 0644 LICENSE-MIT LICENSE-APACHE proxy/dist/unlink-proxy.service "$out/$name/"
(cd "$out/$name" && sha256sum unlink-proxy README.md LICENSE-MIT LICENSE-APACHE \
  unlink-proxy.service >SHA256SUMS)
# The same bytes every time for the same inputs: sorted, owned by nobody in particular, and
# dated by the release's commit.
stamp=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$stamp" \
  -C "$out" -cf - "$name" | gzip -9n >"$out/$name.tar.gz"
(cd "$out" && sha256sum "$name.tar.gz" >SHA256SUMS)
rm -rf "${out:?}/$name"
echo "$out/$name.tar.gz ($(du -k "$out/$name.tar.gz" | cut -f1) KB)"
