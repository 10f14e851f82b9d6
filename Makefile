# The project's entry points. `make run` and `make test` are the README's quick start.
.PHONY: run test lint deny fmt build conformance clients bench

# Development mode on the embedded SQLite store: creates data/ and prints an admin token.
# Not --quiet: a first build takes minutes, and cargo's progress shows it is not hung.
run:
	cargo run --bin exsvc -- serve

# The whole suite: unit, contract (PostgreSQL and SQLite), CLI and end-to-end
# tests, then the end-to-end tests once more on SQLite (same build: --workspace
# keeps the feature set, so nothing is recompiled), then the client library's
# rustdoc examples, which nextest does not run.
# Needs PostgreSQL on 127.0.0.1:5432 (EXSVC_TEST_DATABASE_URL overrides it) and
# Redis on 127.0.0.1:6379 (the shared rate-limit tests), and the PostgreSQL
# server binaries (initdb, pg_ctl; EXSVC_TEST_PG_BIN, default
# /usr/lib/postgresql/15/bin): the outage tests run a cluster of their own.
# nextest reads .config/nextest.toml: the tests that need quiet timing run one
# at a time, and a test still running after 3 minutes is killed.
test:
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace --no-fail-fast && \
		EXSVC_TEST_BACKEND=sqlite cargo nextest run --workspace --no-fail-fast -E 'package(exsvc-e2e)' && \
		cargo test --doc -p exsvc-client; \
	else \
		cargo test --workspace --no-fail-fast && \
		EXSVC_TEST_BACKEND=sqlite cargo test --workspace --no-fail-fast; \
	fi

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# Licenses, sources and bans of the dependency tree (deny.toml; docs/architecture.md,
# "Dependency policy"). Advisories need the network: not checked here.
deny:
	cargo deny check bans licenses sources

fmt:
	cargo fmt --all

build:
	cargo build --workspace

# schemathesis against the served OpenAPI document, every check on, fixed seed
# (scripts/conformance.sh; needs PostgreSQL and `pip install schemathesis==4.32.5`).
conformance:
	scripts/conformance.sh

# Issue 11: clients generated from the served document work — a Python client
# (openapi-python-client) runs a whole flow, TypeScript types pass tsc --strict
# (scripts/clients.sh; needs PostgreSQL, `pip install openapi-python-client==0.29.1`
# and `npm ci` in clients/typescript).
clients:
	scripts/clients.sh

# Issue 7's benchmark: release server with 100,000 services against pgbench, same
# run (scripts/bench.sh; needs PostgreSQL, wrk and pgbench). Figures: docs/benchmarks.md.
bench:
	scripts/bench.sh
