# oauth2-sendmail: the commands a developer and CI use.
#
#   make try       build, then send a sample message through the loopback sandbox
#   make test      everything CI checks (needs root: Postfix runs in the sandbox)
#   make lint      cargo fmt --check, clippy (fuzz targets too), mandoc -Tlint
#   make release   optimised binary in target/release/
#   make install   install into the running system (or DESTDIR), PREFIX=/usr
#   make uninstall remove what make install put there (keeps config and queue)
#   make packages  .deb and .rpm in target/packages/ (the system flavour:
#                  the distribution's OpenSSL 3, glibc 2.34+)
#   make portable  the portable flavour (glibc 2.17+, OpenSSL built in):
#                  .deb, .rpm and oauth2-sendmail-VERSION-x86_64-linux-gnu.tar.gz
#                  in target/packages/; installs cargo-zigbuild and zig itself
#   make package-test  build both flavours, check the .rpms, install each
#                  .deb, the .rpm and the tarball/make install in a throwaway
#                  Debian root (12, and 11 for the portable flavour) and send
#                  mail from it (root)
#   make bench     oauth2-sendmail against msmtp; writes BENCHMARKS.md (root)
#   make bench-quick  the same with few iterations (CI), target/BENCHMARKS.quick.md

CARGO ?= cargo
# Not /usr/local: PHP, cron and scripts call /usr/sbin/sendmail.
PREFIX ?= /usr
DESTDIR ?=

.PHONY: try test lint release deps install uninstall packages portable package-test bench bench-quick

deps:
	scripts/setup-deps

release:
	$(CARGO) build --release --locked

try: deps release
	python3 sandbox/sandbox.py demo --binary target/release/oauth2-sendmail
	python3 sandbox/sandbox.py demo --transport graph --binary target/release/oauth2-sendmail

# The fuzz targets are their own workspace: clippy type-checks them
# without building libFuzzer, so they cannot rot.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --manifest-path fuzz/Cargo.toml --bins --no-default-features --target-dir target -- -D warnings
	mandoc -Tlint -W warning man/*.8 man/*.5

test: deps lint
	$(CARGO) test --locked

install: release
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" packaging/install

uninstall:
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" packaging/install --uninstall

packages:
	packaging/build-packages

portable: deps
	packaging/build-packages --portable

package-test: deps packages portable
	packaging/test-rpm
	packaging/test-rpm --portable
	packaging/test-install
	packaging/test-install --portable

bench: deps release
	python3 bench/test_turns.py
	bench/run --binary target/release/oauth2-sendmail

bench-quick: deps release
	python3 bench/test_turns.py
	bench/run --quick --binary target/release/oauth2-sendmail
