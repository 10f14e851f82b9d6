# Shared by scripts/conformance.sh, scripts/clients.sh and scripts/bench.sh
# (sourced, not run): an exsvc server in production mode on a free port against
# a database of its own. The sourcing script defines `die` and cleans up with
# `stop_exsvc` (or `scratch_cleanup`, after `serve_scratch`).

# The URL of database $2 on the server of maintenance URL $1.
with_db() { printf '%s' "$1" | sed -E 's#/[^/?]*(\?|$)#/'"$2"'\1#'; }

# Exports the configuration of a server for binary $1 on database URL $2, with
# its data directory $3, a fresh master key named $4, logs in format $5 at
# warn, and budgets no run spends (the limiter stays in the path, as in
# production); then migrates the database. Sets $base.
configure_exsvc() {
  local bin=$1 db_url=$2 workdir=$3 key_id=$4 log_format=$5 port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  base="http://127.0.0.1:$port"
  export EXSVC_ENV=production
  export EXSVC_LISTEN="127.0.0.1:$port"
  export EXSVC_DATABASE_URL="$db_url"
  EXSVC_JWT_SECRET="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
  export EXSVC_JWT_SECRET
  EXSVC_MASTER_KEYS="$("$bin" keys generate --id "$key_id")"
  export EXSVC_MASTER_KEYS
  export EXSVC_RATE_LIMIT_PER_MINUTE=10000000
  export EXSVC_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE=10000000
  export EXSVC_LOG=warn
  export EXSVC_LOG_FORMAT="$log_format"
  export EXSVC_DATA_DIR="$workdir"
  "$bin" migrate >"$workdir/migrate.log" 2>&1 || { cat "$workdir/migrate.log" >&2; die "exsvc migrate failed"; }
}

# Serves binary $1 (configured by configure_exsvc) in the background, logging
# to $2/server.log, and waits until it is ready. Sets $server_pid.
start_exsvc() {
  local bin=$1 workdir=$2
  "$bin" serve >"$workdir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$base/readyz" >/dev/null 2>&1; then return; fi
    kill -0 "$server_pid" 2>/dev/null || die "exsvc serve exited during start-up"
    sleep 0.2
  done
  die "exsvc did not become ready at $base/readyz"
}

# Stops the server start_exsvc started, if it runs.
stop_exsvc() {
  if [ -n "${server_pid:-}" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}

# The debug build, served on a fresh database of its own: what a script that
# tests the running server needs first. $1 names the script (in messages and in
# the database's name), $2 the master key. Run `scratch_cleanup` at exit.
# Settings exported before the call reach the server. Sets $bin, $base, $db,
# $workdir and $server_pid.
serve_scratch() {
  local name=$1 key_id=$2
  maintenance_url="${EXSVC_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  scratch_name=$name
  db="exsvc_${name}_$$"
  workdir="$(mktemp -d)"
  server_pid=""
  psql -w -q "$maintenance_url" -c 'SELECT 1' >/dev/null \
    || die "PostgreSQL is not reachable at $maintenance_url"
  echo "==> building the debug binary"
  cargo build --quiet --bin exsvc
  bin=target/debug/exsvc
  psql -w -q "$maintenance_url" -c "CREATE DATABASE $db" >/dev/null
  configure_exsvc "$bin" "$(with_db "$maintenance_url" "$db")" "$workdir" "$key_id" text
  start_exsvc "$bin" "$workdir"
}

# Stops what serve_scratch started and drops its database; on a failure shows
# the end of the server's log. $@: more paths to remove. Exits with the status
# the script was exiting with.
scratch_cleanup() {
  local status=$?
  stop_exsvc
  if [ -n "${db:-}" ]; then
    psql -w -q "$maintenance_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
      || echo "$scratch_name: could not drop database $db" >&2
  fi
  if [ "$status" -ne 0 ] && [ -s "${workdir:-}/server.log" ]; then
    echo "$scratch_name: last lines of the server log:" >&2
    tail -n 20 "$workdir/server.log" >&2
  fi
  rm -rf "${workdir:-}" "$@"
  exit "$status"
}
