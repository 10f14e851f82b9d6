#!/usr/bin/env bash
# Conformance: schemathesis against the served OpenAPI document, every check on,
# with a valid admin token, a fixed seed and a bounded number of examples.
#
# Serves the debug build of exsvc on a free port against a fresh PostgreSQL
# database (dropped at exit) with an HMAC secret, a master key and a rate limit
# high enough that the run never meets it. Exit status: schemathesis's.
#
# Environment:
#   EXSVC_TEST_DATABASE_URL   maintenance database (default postgres://postgres@127.0.0.1:5432/postgres)
#   CONFORMANCE_SEED          schemathesis seed (default 20261128)
#   CONFORMANCE_EXAMPLES      examples per operation and phase (default 100: about 1.5 min)
#   CONFORMANCE_REPORT_DIR    where the JUnit/NDJSON reports go (default target/conformance)
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'conformance: %s\n' "$*" >&2; exit 1; }

command -v st >/dev/null 2>&1 || die "needs schemathesis (pip install 'schemathesis==4.32.5')"
command -v psql >/dev/null 2>&1 || die "needs psql (PostgreSQL client)"
command -v curl >/dev/null 2>&1 || die "needs curl"

maintenance_url="${EXSVC_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
seed="${CONFORMANCE_SEED:-20261128}"
examples="${CONFORMANCE_EXAMPLES:-100}"
report_dir="${CONFORMANCE_REPORT_DIR:-target/conformance}"
db="exsvc_conformance_$$"
server_pid=""
workdir="$(mktemp -d)"

cleanup() {
  local status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  psql -w -q "$maintenance_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
    || echo "conformance: could not drop database $db" >&2
  if [ "$status" -ne 0 ] && [ -s "$workdir/server.log" ]; then
    echo "conformance: last lines of the server log:" >&2
    tail -n 20 "$workdir/server.log" >&2
  fi
  rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql -w -q "$maintenance_url" -c 'SELECT 1' >/dev/null \
  || die "PostgreSQL is not reachable at $maintenance_url"

echo "==> building the debug binary"
cargo build --quiet --bin exsvc
bin=target/debug/exsvc

psql -w -q "$maintenance_url" -c "CREATE DATABASE $db" >/dev/null
# The same server and credentials, another database name.
db_url="$(printf '%s' "$maintenance_url" | sed -E 's#/[^/?]*(\?|$)#/'"$db"'\1#')"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
base="http://127.0.0.1:$port"

export EXSVC_ENV=production
export EXSVC_LISTEN="127.0.0.1:$port"
export EXSVC_DATABASE_URL="$db_url"
EXSVC_JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
export EXSVC_JWT_SECRET
EXSVC_MASTER_KEYS="$("$bin" keys generate --id conf1)"
export EXSVC_MASTER_KEYS
# The run sends a few thousand requests a minute with one token: the budget
# must never run out, or 429s would stand in for the answers under test.
export EXSVC_RATE_LIMIT_PER_MINUTE=10000000
export EXSVC_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE=10000000
export EXSVC_LOG=warn
export EXSVC_LOG_FORMAT=text
export EXSVC_DATA_DIR="$workdir"

"$bin" migrate >"$workdir/migrate.log" 2>&1 || { cat "$workdir/migrate.log" >&2; die "exsvc migrate failed"; }
"$bin" serve >"$workdir/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$server_pid" 2>/dev/null || die "exsvc serve exited during start-up"
  sleep 0.2
done
curl -fsS "$base/readyz" >/dev/null || die "exsvc did not become ready at $base/readyz"

token="$("$bin" token --tenant conformance --role admin --sub schemathesis --ttl 2h)"

mkdir -p "$report_dir"
# One worker: with several, hypothesis describes filter lambdas with `ast` from
# several threads, which CPython 3.11 does not survive ("AST constructor
# recursion depth mismatch", a runtime error of the tool, not of the API).
# No example database: a run depends on the seed alone.
echo "==> schemathesis $(st --version | awk '{print $NF}') against $base (seed $seed, $examples examples)"
st --config-file scripts/schemathesis.toml run "$base/api-docs/openapi.json" \
  --checks all \
  --seed "$seed" \
  --generation-database none \
  --max-examples "$examples" \
  --workers 1 \
  --header "Authorization: Bearer $token" \
  --request-timeout 10 \
  --no-color \
  --report junit,ndjson --report-dir "$report_dir"
