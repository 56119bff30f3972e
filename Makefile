# oauth2-sendmail: the commands a developer and CI use.
#
#   make try       build, then send a sample message through the loopback sandbox
#   make test      everything CI checks (needs root: Postfix runs in the sandbox)
#   make lint      cargo fmt --check, clippy, mandoc -Tlint
#   make release   optimised binary in target/release/
#   make install   install into the running system (or DESTDIR), PREFIX=/usr
#   make uninstall remove what make install put there (keeps config and queue)
#   make packages  .deb and .rpm in target/packages/
#   make package-test  build both, check the .rpm, install the .deb in a
#                  throwaway Debian root and send mail from it (root)
#   make bench     oauth2-sendmail against msmtp; writes BENCHMARKS.md (root)
#   make bench-quick  the same with few iterations (CI), target/BENCHMARKS.quick.md

CARGO ?= cargo
# Not /usr/local: PHP, cron and scripts call /usr/sbin/sendmail.
PREFIX ?= /usr
DESTDIR ?=

.PHONY: try test lint release deps install uninstall packages package-test bench bench-quick

deps:
	scripts/setup-deps

release:
	$(CARGO) build --release --locked

try: deps release
	python3 sandbox/sandbox.py demo --binary target/release/oauth2-sendmail
	python3 sandbox/sandbox.py demo --transport graph --binary target/release/oauth2-sendmail

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	mandoc -Tlint -W warning man/*.8 man/*.5

test: deps lint
	$(CARGO) test --locked

install: release
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" packaging/install

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" packaging/install --uninstall

packages:
	packaging/build-packages

package-test: deps packages
	packaging/test-rpm
	packaging/test-install

bench: deps release
	python3 bench/test_turns.py
	bench/run --binary target/release/oauth2-sendmail

bench-quick: deps release
	python3 bench/test_turns.py
	bench/run --quick --binary target/release/oauth2-sendmail
