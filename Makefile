# The two commands a fresh machine needs: `make demo` and `make test` (see README.md).
.PHONY: demo test setup build size clean

demo:
	scripts/demo.sh

test:
	scripts/test.sh

setup:
	scripts/setup.sh

build: setup
	scripts/build.sh

size: build
	node scripts/size.mjs dist

clean:
	rm -rf dist target/playwright target/demo-audit.sqlite3*
