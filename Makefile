# oauth2-sendmail: the commands a developer and CI use.
#
#   make try       build, then send a sample message through the loopback sandbox
#   make test      everything CI checks (needs root: Postfix runs in the sandbox)
#   make lint      cargo fmt --check, clippy, mandoc -Tlint
#   make release   optimised binary in target/release/
#   make bench     oauth2-sendmail against msmtp; writes BENCHMARKS.md (root)
#   make bench-quick  the same with few iterations (CI), target/BENCHMARKS.quick.md

CARGO ?= cargo

.PHONY: try test lint release deps bench bench-quick

deps:
	scripts/setup-deps

release:
	$(CARGO) build --release --locked

try: deps release
	python3 sandbox/sandbox.py demo --binary target/release/oauth2-sendmail

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test: deps lint
	$(CARGO) test --locked

bench: deps release
	python3 bench/test_turns.py
	bench/run --binary target/release/oauth2-sendmail

bench-quick: deps release
	python3 bench/test_turns.py
	bench/run --quick --binary target/release/oauth2-sendmail
