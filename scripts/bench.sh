#!/usr/bin/env bash
# Issue 7's benchmark (make bench): the release server on PostgreSQL with
# 100,000 services across 100 tenants, against pgbench on the same machine in
# the same run. Prints one table; docs/benchmarks.md keeps the figures.
#
# Data (database exsvc_bench_<pid>, dropped at exit):
#   - tenants t000..t099 with 1,000 services each (the 100,000), bulk-inserted
#     as the service writes them (UUIDv7 id, name_key = lowercase name,
#     version 1, empty metadata, no credential);
#   - tenant "big" with 100,000 services of its own, for the listing reading;
#   - 1,000 of the services (10 per tenant) get a bearer credential through
#     the API (credentials are encrypted by the server).
# Listing reading (keyset pagination: the cost of a page does not grow with the
# number of rows before it): GET ?limit=20 on a 1,000-row tenant against the
# page of "big" that has 99,000 rows before it (a cursor reached by walking the
# listing), plus big's first page for reference.
#
# Every load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; pgbench with
# the same connection count (-c$CONNECTIONS -j$THREADS -T<seconds>) in its own
# database after `pgbench -i -s 10`.
#
# Needs wrk, pgbench, psql, curl, python3 and PostgreSQL on 127.0.0.1:5432
# (EXSVC_TEST_DATABASE_URL names the maintenance database).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/lib/exsvc.sh
. scripts/lib/exsvc.sh
for tool in wrk pgbench psql curl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "needs $tool (wrk: apt-get install wrk; pgbench and psql: postgresql-client)"
done

THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-16}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
maintenance_url="${EXSVC_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="exsvc_bench_$$"
pgdb="exsvc_bench_pgbench_$$"
workdir="$(mktemp -d)"
server_pid=""


cleanup() {
  local status=$?
  stop_exsvc
  if [ -n "${upstream_pid:-}" ]; then kill "$upstream_pid" 2>/dev/null || true; fi
  for name in "$db" "$pgdb"; do
    psql -w -q "$maintenance_url" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 \
      || echo "bench: could not drop database $name" >&2
  done
  if [ "$status" -ne 0 ] && [ -s "$workdir/server.log" ]; then
    echo "bench: last lines of the server log:" >&2
    tail -n 20 "$workdir/server.log" >&2
  fi
  rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql -w -q "$maintenance_url" -c 'SELECT 1' >/dev/null || die "PostgreSQL is not reachable at $maintenance_url"

echo "==> building the release binaries (exsvc, bench-upstream)"
cargo build --release --quiet --bin exsvc --bin bench-upstream
bin=target/release/exsvc

# Figures from a machine that builds or tests something else are not valid.
others_busy() { pgrep -x rustc >/dev/null 2>&1 || pgrep -f 'bin/st |/target/debug/' >/dev/null 2>&1; }
if others_busy; then
  echo "bench: WARNING: rustc or schemathesis is running on this machine: the figures will not be valid" >&2
fi
echo "==> load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"

psql -w -q "$maintenance_url" -c "CREATE DATABASE $db" >/dev/null
psql -w -q "$maintenance_url" -c "CREATE DATABASE $pgdb" >/dev/null
db_url="$(with_db "$maintenance_url" "$db")"
pg_url="$(with_db "$maintenance_url" "$pgdb")"
configure_exsvc "$bin" "$db_url" "$workdir" bench1 json

echo "==> inserting 100,000 services across 100 tenants, and 100,000 in tenant 'big'"
psql -w -q -v ON_ERROR_STOP=1 "$db_url" <<'SQL'
-- A UUIDv7 for instant ts: 48 bits of Unix milliseconds, version 7, random rest.
CREATE FUNCTION pg_temp.uuid_v7(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
    PLACING substring(int8send(floor(extract(epoch FROM ts) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
    52, 1), 53, 1), 'hex')::uuid
$$;
-- Exactly the row POST /api/v1/services writes for
-- {"name": N, "type": "payment", "base_url": "https://api.example.com/v1"}.
INSERT INTO services (id, tenant_id, name, name_key, description, service_type, status,
                      base_url, api_version, metadata, created_at, updated_at, version,
                      credential_auth_type, credential_expires_at, credential_version_issued)
SELECT pg_temp.uuid_v7(ts), tenant, name, lower(name), '', 'payment', 'active',
       'https://api.example.com/v1', NULL, '{}'::jsonb, ts, ts, 1, NULL, NULL, 0
FROM (
  SELECT format('t%s', lpad(((g - 1) / 1000)::text, 3, '0')) AS tenant,
         format('Service %s', lpad(g::text, 6, '0')) AS name,
         timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' + (g % 997) * interval '1 microsecond' AS ts
  FROM generate_series(1, 100000) AS g
  UNION ALL
  SELECT 'big', format('Big %s', lpad(g::text, 6, '0')),
         timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' + (g % 991) * interval '1 microsecond'
  FROM generate_series(1, 100000) AS g
) AS rows;
VACUUM ANALYZE services;
SQL

# Issue 13: a local HTTPS upstream (and token endpoint at /token) that exsvc
# is told to trust and to reach on loopback, as the tests do.
upstream_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
target/release/bench-upstream --port "$upstream_port" --ca-out "$workdir/upstream-ca.pem" 2>"$workdir/upstream.log" &
upstream_pid=$!
for _ in $(seq 1 50); do [ -s "$workdir/upstream-ca.pem" ] && break; sleep 0.1; done
upstream="https://127.0.0.1:$upstream_port"
export EXSVC_EGRESS_ALLOW_CIDRS=127.0.0.0/8 EXSVC_EGRESS_CA_FILE="$workdir/upstream-ca.pem"
start_exsvc "$bin" "$workdir"

echo "==> tokens, credentials (through the API) and a deep cursor"
: >"$workdir/tokens"
for i in $(seq 0 99); do
  "$bin" token --tenant "$(printf 't%03d' "$i")" --role admin --sub bench --ttl 2h >>"$workdir/tokens"
done
big_token="$("$bin" token --tenant big --role admin --sub bench --ttl 2h)"
small_token="$(sed -n 1p "$workdir/tokens")"
writer_token="$("$bin" token --tenant writer --role admin --sub bench --ttl 2h)"
psql -w -q -At -F ' ' "$db_url" \
  -c "SELECT id, substr(tenant_id, 2)::int FROM services WHERE tenant_id <> 'big' ORDER BY random()" \
  >"$workdir/ids"
python3 scripts/bench/setup.py credentials "$base" "$workdir/ids" "$workdir/tokens" "$workdir/creds" 1000
python3 scripts/bench/setup.py usage "$base" "$workdir/tokens" "$upstream" "$workdir/proxy_ids" "$workdir/oauth_ids"
# Each OAuth service's first call fetches its token; the load then measures cached ones.
while read -r id tenant; do
  curl -fsS -o /dev/null -X POST "$base/api/v1/services/$id/token" \
    -H "Authorization: Bearer $(sed -n "$((tenant + 1))p" "$workdir/tokens")"
done <"$workdir/oauth_ids"
deep_cursor="$(python3 scripts/bench/setup.py cursor "$base" "$big_token" 99000)"
# Callers whose read comes from a role binding, not from their token.
python3 scripts/bench/setup.py bindings "$base" "$workdir/tokens"
: >"$workdir/bound_tokens"
for i in $(seq 0 99); do
  "$bin" token --tenant "$(printf 't%03d' "$i")" --sub bench-worker --claim client_id=bench-worker --ttl 2h >>"$workdir/bound_tokens"
done

pid_status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$server_pid/status"; }

# Runs wrk, prints "rps p50 p99 errors" (errors: non-2xx answers and socket errors).
run_wrk() {
  local out
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$@")"
  printf '%s\n' "$out" >>"$workdir/wrk.log"
  printf '%s\n' "$out" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2}
    /^ +99%/ {p99=$2}
    /Non-2xx or 3xx responses/ {errors+=$NF}
    /Socket errors/ {gsub(",", ""); errors+=$4+$6+$8+$10}
    END {printf "%s %s %s %d\n", rps, p50, p99, errors}'
}

# Runs pgbench, prints "tps latency-average".
run_pgbench() {
  pgbench -M prepared -c"$CONNECTIONS" -j"$THREADS" -T"$SECONDS_PER_RUN" "$@" "$pg_url" 2>/dev/null | awk '
    /latency average/ {lat=$4 $5}
    /^tps/ {tps=$3}
    END {printf "%.0f %s\n", tps, lat}'
}

echo "==> pgbench -i -s 10"
pgbench -i -q -s 10 "$pg_url" >/dev/null 2>&1

declare -A result
measure() { # name, then the command
  local name=$1
  shift
  result[$name]="$("$@")"
  result["$name.rss"]="$(pid_status VmRSS)"
  if others_busy; then result["$name"]="${result[$name]} (machine busy)"; fi
  printf '    %-22s %s\n' "$name" "${result[$name]}"
}

echo "==> load ($THREADS threads, $CONNECTIONS connections, ${SECONDS_PER_RUN}s each)"
measure pgbench_S run_pgbench -S
measure get_by_id run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/ids" "$workdir/tokens"
# The binding decision against the tenant-wide one, in both orders (issue 12).
measure get_by_id_bound run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/ids" "$workdir/bound_tokens"
measure get_by_id_bound_2 run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/ids" "$workdir/bound_tokens"
measure get_by_id_2 run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/ids" "$workdir/tokens"
measure list_1k run_wrk -H "Authorization: Bearer $small_token" "$base/api/v1/services?limit=20"
measure list_100k_deep run_wrk -H "Authorization: Bearer $big_token" "$base/api/v1/services?limit=20&cursor=$deep_cursor"
measure list_100k_first run_wrk -H "Authorization: Bearer $big_token" "$base/api/v1/services?limit=20"
measure pgbench_N run_pgbench -N
# Issue 13's loads sit between two runs of the credential read they are
# compared with, proxy first and last, so that no side always runs first.
measure get_credentials run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/creds" "$workdir/tokens" /credentials
measure upstream_direct run_wrk "$upstream/"
measure proxy_get run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/proxy_ids" "$workdir/tokens" /proxy/
measure token_cached run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/oauth_ids" "$workdir/tokens" /token POST
measure proxy_get_2 run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/proxy_ids" "$workdir/tokens" /proxy/
measure get_credentials_2 run_wrk -s scripts/bench/random_get.lua "$base" -- "$workdir/creds" "$workdir/tokens" /credentials
measure create run_wrk -s scripts/bench/create.lua "$base" -- "$writer_token" "$$"
peak_kib="$(pid_status VmHWM)"
if others_busy; then
  echo "bench: WARNING: rustc or schemathesis ran during the load: the figures are not valid" >&2
fi
echo "==> load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"

# Ratio of a wrk row's rps to a pgbench row's tps.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
field() { printf '%s\n' "${result[$1]}" | awk -v n="$2" '{print $n}'; }

echo
printf '| %-44s | %10s | %8s | %8s | %6s | %-18s |\n' "load" "requests/s" "p50" "p99" "errors" "ratio"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "------------" "----------" "----------" "--------" "--------------------"
printf '| %-44s | %10s | %8s | %8s | %6s | %-18s |\n' \
  "pgbench -S -M prepared (select)" "$(field pgbench_S 1)" "avg $(field pgbench_S 2)" "" "" "" \
  "pgbench -N -M prepared (simple update)" "$(field pgbench_N 1)" "avg $(field pgbench_N 2)" "" "" ""
row() { # name, label, baseline name, baseline label
  printf '| %-44s | %10s | %8s | %8s | %6s | %-18s |\n' "$2" "$(field "$1" 1)" "$(field "$1" 2)" \
    "$(field "$1" 3)" "$(field "$1" 4)" "$(ratio "$(field "$1" 1)" "$(field "$3" 1)") × $4"
}
row get_by_id "GET /services/{id} (random, 100 tenants)" pgbench_S "pgbench -S"
row get_by_id_bound "same, read granted by a role binding" get_by_id "tenant-wide"
row get_by_id_bound_2 "same, bound, again" get_by_id_2 "tenant-wide, again"
row get_by_id_2 "same, tenant-wide, again" pgbench_S "pgbench -S"
row list_1k "GET /services?limit=20, 1,000-row tenant" pgbench_S "pgbench -S"
row list_100k_deep "same, 100,000 rows, 99,000 before the page" pgbench_S "pgbench -S"
row list_100k_first "same, 100,000 rows, first page" pgbench_S "pgbench -S"
row get_credentials "GET /services/{id}/credentials (random)" pgbench_N "pgbench -N"
row create "POST /services (unique names)" pgbench_N "pgbench -N"
row upstream_direct "GET upstream directly (HTTPS, no exsvc)" upstream_direct "itself"
row proxy_get "GET /services/{id}/proxy/ (bearer, random)" get_credentials "GET …/credentials"
row token_cached "POST /services/{id}/token (cached, random)" get_credentials "GET …/credentials"
row proxy_get_2 "same proxied GET, again" get_credentials_2 "GET …/credentials, again"
row get_credentials_2 "GET /services/{id}/credentials, again" get_credentials "first run"
echo
bound_mean="$(awk -v a="$(field get_by_id_bound 1)" -v b="$(field get_by_id_bound_2 1)" 'BEGIN {print (a + b) / 2}')"
wide_mean="$(awk -v a="$(field get_by_id 1)" -v b="$(field get_by_id_2 1)" 'BEGIN {print (a + b) / 2}')"
echo "GET by id, bound caller / tenant-wide caller (mean of both orders): $(ratio "$bound_mean" "$wide_mean")×"
echo "list page at 100,000 rows (99,000 before it) / at 1,000 rows, by requests/s: $(ratio "$(field list_1k 1)" "$(field list_100k_deep 1)")× the time"
# wrk prints latencies as 812.00us, 1.23ms or 1.01s: in milliseconds.
ms() { awk -v t="$1" 'BEGIN {u = t; sub(/[0-9.]+/, "", u); v = t + 0; if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.3f", v}'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (a + b) / 2}'; }
proxy_rps="$(mean "$(field proxy_get 1)" "$(field proxy_get_2 1)")"
credentials_rps="$(mean "$(field get_credentials 1)" "$(field get_credentials_2 1)")"
echo "proxied GET / GET …/credentials (means of both runs): $(ratio "$proxy_rps" "$credentials_rps")× (target ≥ 0.8)"
echo "cached broker call / GET …/credentials (mean of both runs): $(ratio "$(field token_cached 1)" "$credentials_rps")× (target ≥ 0.8)"
proxy_p50="$(mean "$(ms "$(field proxy_get 2)")" "$(ms "$(field proxy_get_2 2)")")"
credentials_p50="$(mean "$(ms "$(field get_credentials 2)")" "$(ms "$(field get_credentials_2 2)")")"
added="$(awk -v p="$proxy_p50" -v d="$(ms "$(field upstream_direct 2)")" 'BEGIN {printf "%.3f", p - d}')"
echo "proxy p50 minus direct p50: $added ms; GET …/credentials p50 + 1 ms: $(awk -v c="$credentials_p50" 'BEGIN {printf "%.3f", c + 1}') ms (target: the first ≤ the second)"
echo "peak RSS of the server (VmHWM): $((peak_kib / 1024)) MiB ($peak_kib kB); VmRSS after each load (kB):"
for name in get_by_id get_by_id_bound list_1k list_100k_deep list_100k_first get_credentials proxy_get token_cached create; do
  printf '  %s=%s' "$name" "${result[$name.rss]}"
done
echo
