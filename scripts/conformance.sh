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
# shellcheck source=scripts/lib/exsvc.sh
. scripts/lib/exsvc.sh

command -v st >/dev/null 2>&1 || die "needs schemathesis (pip install 'schemathesis==4.32.5')"
command -v psql >/dev/null 2>&1 || die "needs psql (PostgreSQL client)"
command -v curl >/dev/null 2>&1 || die "needs curl"

seed="${CONFORMANCE_SEED:-20261128}"
examples="${CONFORMANCE_EXAMPLES:-100}"
report_dir="${CONFORMANCE_REPORT_DIR:-target/conformance}"

trap scratch_cleanup EXIT
trap 'exit 130' INT TERM
# The run sends a few thousand requests a minute with one token: the budget
# never runs out (configure_exsvc), or 429s would stand in for the answers
# under test. GET /debug/auth is documented, so it is tested: production mode
# turns it off (404 NOT_FOUND for every request, also one without a token),
# which leaves the operation untested and fails "missing Authorization header
# is 401".
export EXSVC_DEBUG_ENDPOINTS=true
serve_scratch conformance conf1

token="$("$bin" token --tenant conformance --role admin --sub schemathesis --ttl 2h)"

mkdir -p "$report_dir"
# One worker: with several, hypothesis describes filter lambdas with `ast` from
# several threads, which CPython 3.11 does not survive ("AST constructor
# recursion depth mismatch", a runtime error of the tool, not of the API).
# No example database: a run depends on the seed alone.
echo "==> schemathesis $(st --version | awk '{print $NF}') against $base (seed $seed, $examples examples)"
st --config-file scripts/schemathesis.toml run "$base/api-docs/openapi.json" \
  --seed "$seed" \
  --generation-database none \
  --max-examples "$examples" \
  --workers 1 \
  --header "Authorization: Bearer $token" \
  --request-timeout 10 \
  --no-color \
  --report junit,ndjson --report-dir "$report_dir"
