# Shared by scripts/conformance.sh and scripts/bench.sh (sourced, not run): an
# exsvc server in production mode on a free port against a database of its
# own. The sourcing script defines `die` and cleans up with `stop_exsvc`.

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
