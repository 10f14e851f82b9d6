#!/usr/bin/env bash
# Clients: the served OpenAPI document must generate clients that work.
#
# Serves the debug build of exsvc on a free port against a fresh PostgreSQL
# database (dropped at exit) with an admin token, then
#   1. generates a Python client with openapi-python-client (the pinned
#      version below) and runs clients/python/flow.py through it alone;
#   2. generates TypeScript types with openapi-typescript (pinned in
#      clients/typescript/package-lock.json; `npm ci` there first) and
#      type-checks clients/typescript/src/check.ts with `tsc --strict`.
# Generated code goes to a temporary directory, never into the repository.
# A missing tool is an error, never a skip.
#
# Environment:
#   EXSVC_TEST_DATABASE_URL   maintenance database (default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
cd "$(dirname "$0")/.."

OPENAPI_PYTHON_CLIENT_VERSION=0.29.1

die() { printf 'clients: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/lib/exsvc.sh
. scripts/lib/exsvc.sh

command -v psql >/dev/null 2>&1 || die "needs psql (PostgreSQL client)"
command -v curl >/dev/null 2>&1 || die "needs curl"
command -v openapi-python-client >/dev/null 2>&1 \
  || die "needs openapi-python-client (pip install 'openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION')"
found="$(openapi-python-client --version | awk '{print $NF}')"
[ "$found" = "$OPENAPI_PYTHON_CLIENT_VERSION" ] \
  || die "needs openapi-python-client $OPENAPI_PYTHON_CLIENT_VERSION, found $found"
ts=clients/typescript
[ -x "$ts/node_modules/.bin/openapi-typescript" ] && [ -x "$ts/node_modules/.bin/tsc" ] \
  || die "needs the TypeScript tools: (cd $ts && npm ci)"

trap 'scratch_cleanup "$ts/generated"' EXIT
trap 'exit 130' INT TERM
serve_scratch clients clients1
token="$("$bin" token --tenant clients --role admin --sub clients-flow --ttl 1h)"

curl -fsS "$base/api-docs/openapi.json" -o "$workdir/openapi.json"

echo "==> openapi-python-client $OPENAPI_PYTHON_CLIENT_VERSION"
# --fail-on-warning: a schema the generator cannot parse is dropped with only
# a warning, and the client then breaks on import (as issue 11 found).
(cd "$workdir" && openapi-python-client generate --path openapi.json --meta none \
  --output-path exsvc_client --fail-on-warning)
echo "==> the Python flow"
EXSVC_BASE_URL="$base" EXSVC_TOKEN="$token" PYTHONPATH="$workdir" python3 clients/python/flow.py

echo "==> openapi-typescript $("$ts/node_modules/.bin/openapi-typescript" --version | tr -d v) and tsc $("$ts/node_modules/.bin/tsc" --version | awk '{print $NF}')"
mkdir -p "$ts/generated"
"$ts/node_modules/.bin/openapi-typescript" "$workdir/openapi.json" -o "$ts/generated/schema.d.ts"
"$ts/node_modules/.bin/tsc" -p "$ts/tsconfig.json" --strict --noEmit
echo "clients: the Python flow and the TypeScript check passed"
