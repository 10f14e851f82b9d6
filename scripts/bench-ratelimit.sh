#!/usr/bin/env bash
# What the rate limiter costs per request: GET by id with the limiter off,
# in-process and on Redis, in the same run (release build, PostgreSQL and Redis
# on this machine, wrk). Figures go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet -p exsvc-testkit --example ratelimit_bench_server
for round in 1 2; do
  for mode in off memory redis; do
    LIMITER=$mode target/release/examples/ratelimit_bench_server > /tmp/exsvc-bench-url 2>/dev/null &
    server=$!
    for _ in $(seq 1 100); do [ -s /tmp/exsvc-bench-url ] && break; sleep 0.1; done
    read -r url token < /tmp/exsvc-bench-url
    printf '%-7s round %s: ' "$mode" "$round"
    wrk -t2 -c16 -d8s --latency -H "Authorization: Bearer $token" "$url" \
      | awk '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} END {printf "%s req/s  p50 %s  p99 %s\n", rps, p50, p99}'
    kill -INT $server; wait $server 2>/dev/null || true
    rm -f /tmp/exsvc-bench-url
  done
done
