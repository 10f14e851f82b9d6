# The project's entry points. `make run` and `make test` are the README's quick start.
.PHONY: run test lint fmt build

run:
	./scripts/dev-run.sh

# The whole suite: unit, contract (PostgreSQL), end-to-end and CLI tests.
# Needs PostgreSQL on 127.0.0.1:5432 (EXSVC_TEST_DATABASE_URL overrides it).
test:
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace --no-fail-fast; \
	else \
		cargo test --workspace --no-fail-fast; \
	fi

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

build:
	cargo build --workspace
