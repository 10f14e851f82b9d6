#!/usr/bin/env bash
# `make run`: start exsvc for development on this machine's PostgreSQL
# (127.0.0.1:5432, user postgres). Until the embedded SQLite store lands, the
# local PostgreSQL is the development database.
#
# It creates the database `exsvc` if needed, keeps a random HMAC secret in
# data/dev-jwt-secret (mode 0600) so tokens survive restarts, prints an admin
# token for tenant `dev` valid 24 h, and serves on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."

default_url="postgres://postgres@127.0.0.1:5432/exsvc"
export EXSVC_DATABASE_URL="${EXSVC_DATABASE_URL:-$default_url}"
if [ "$EXSVC_DATABASE_URL" = "$default_url" ]; then
  if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'exsvc'" | grep -q 1; then
    createdb -h 127.0.0.1 -U postgres exsvc
  fi
fi

if [ -z "${EXSVC_JWT_SECRET:-}" ]; then
  secret_file=data/dev-jwt-secret
  mkdir -p data
  if [ ! -s "$secret_file" ]; then
    (umask 077 && head -c 48 /dev/urandom | base64 -w0 > "$secret_file")
  fi
  EXSVC_JWT_SECRET="$(cat "$secret_file")"
  export EXSVC_JWT_SECRET
fi

cargo build --quiet --bin exsvc
exsvc=target/debug/exsvc
listen="${EXSVC_LISTEN:-127.0.0.1:8080}"
token="$("$exsvc" token --tenant dev --role admin --ttl 24h --sub dev-admin)"
cat <<MSG

  exsvc (development) — database: $EXSVC_DATABASE_URL
  Admin token for tenant 'dev', valid 24 h:

    export TOKEN=$token

  Swagger UI: http://$listen${EXSVC_BASE_PATH:-}/swagger-ui/

MSG
exec "$exsvc" serve
