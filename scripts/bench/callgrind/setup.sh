#!/usr/bin/env bash
# Seeds database exsvc_cgbench as scripts/bench.sh does (without credentials),
# writes env, tokens, ids, big token and deep cursor to /tmp/cg/work.
set -euo pipefail
bin=$1
cd "$(dirname "$0")/../../.."
die() { echo "setup: $*" >&2; exit 1; }
. scripts/lib/exsvc.sh
maint=postgres://postgres@127.0.0.1:5432/postgres
db=exsvc_cgbench
work=${CG_DIR:-/tmp/cg}/work
rm -rf "$work"; mkdir -p "$work"
psql -w -q "$maint" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
psql -w -q "$maint" -c "CREATE DATABASE $db"
db_url="$(with_db "$maint" "$db")"
configure_exsvc "$bin" "$db_url" "$work" cg1 json
env | grep '^EXSVC_' | sed 's/^/export /; s/=\(.*\)$/="\1"/' > "$work/env"
# the seeding SQL of scripts/bench.sh, verbatim
sed -n "/^psql -w -q -v ON_ERROR_STOP=1 \"\$db_url\" <<'SQL'/,/^SQL$/p" scripts/bench.sh | sed '1d;$d' > "$work/seed.sql"
psql -w -q -v ON_ERROR_STOP=1 "$db_url" -f "$work/seed.sql"
start_exsvc "$bin" "$work"
for i in $(seq 0 99); do
  "$bin" token --tenant "$(printf 't%03d' "$i")" --role admin --sub bench --ttl 12h >>"$work/tokens"
done
"$bin" token --tenant big --role admin --sub bench --ttl 12h > "$work/big_token"
psql -w -q -At -F ' ' "$db_url" \
  -c "SELECT id, substr(tenant_id, 2)::int FROM services WHERE tenant_id <> 'big' ORDER BY md5(id::text) LIMIT 5000" >"$work/ids"
stop_exsvc
echo "base=$base" >> "$work/env"
echo setup done
