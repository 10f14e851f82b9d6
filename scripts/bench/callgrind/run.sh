#!/usr/bin/env bash
# run.sh BIN LABEL PHASES... : the deep cursor through BIN natively, then BIN
# under callgrind, the fixed workload, one dump per phase; outputs in /tmp/cg/out/LABEL.
set -euo pipefail
bin=$1 label=$2; shift 2
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
work=${CG_DIR:-/tmp/cg}/work
. "$work/env"
port=${base##*:}
out=${CG_DIR:-/tmp/cg}/out/$label
rm -rf "$out"; mkdir -p "$out"
wait_ready() {
  for _ in $(seq 1 600); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && return
    kill -0 "$1" 2>/dev/null || { echo "server exited"; tail "$out/server.log"; exit 1; }
    sleep 0.5
  done
  echo "not ready"; exit 1
}
"$bin" serve >"$out/native.log" 2>&1 &
pid=$!
wait_ready $pid
python3 "$repo/scripts/bench/setup.py" cursor "$base" "$(cat $work/big_token)" 99000 > "$work/deep_cursor"
kill -TERM $pid; wait $pid || true
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" \
  "$bin" serve >"$out/server.log" 2>&1 &
pid=$!
wait_ready $pid
python3 "$repo/scripts/bench/callgrind/drive.py" 127.0.0.1 "$port" "$work" "callgrind_control --dump={} $pid >/dev/null" "$@"
kill -TERM $pid; wait $pid || true
ls -la "$out"
