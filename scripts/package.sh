#!/usr/bin/env bash
# `make package`: the release bundle, packed for partners (scripts/package.mjs says what and
# where: an npm tarball and a CDN folder under target/package/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
node scripts/package.mjs
