# The two commands a fresh machine needs: `make demo` and `make test` (see README.md).
.PHONY: demo test setup build package release-proxy size bench replicas clean

demo:
	scripts/demo.sh

test:
	scripts/test.sh

setup:
	scripts/setup.sh

build: setup
	scripts/build.sh

# What partners install: target/package/unlink-widget-<version>.tgz and cdn/<version>/.
package: setup
	scripts/package.sh

# What partners without Rust install: a static Linux binary with its README, licences, a
# systemd unit and SHA256SUMS, in target/release-artifacts/.
release-proxy: setup
	scripts/release-proxy.sh

size: build
	node scripts/size.mjs dist

# Benchmarks (not tests): how soon the widget is ready next to a plain-JS floor, with a
# mount/unmount leak check; then the proxy's throughput on each record.
bench: build
	node scripts/bench.mjs
	scripts/bench-proxy.sh

# The reference set-up for several replicas: PostgreSQL, the fake Mono, two proxies, nginx.
replicas: build
	cargo build -p unlink-proxy --features cli --quiet
	scripts/replicas.sh

clean:
	rm -rf dist target/playwright target/demo-audit.sqlite3*
