#!/usr/bin/env bash
# summary.sh LABEL: instructions per request of each phase
declare -A n=([get]=2000 [list20]=500 [list100]=500 [deep20]=500 [big20]=500)
for f in ${CG_DIR:-/tmp/cg}/out/$1/callgrind.out.*.*; do
  phase=$(sed -n 's/^desc: Trigger: dump //p' "$f")
  total=$(sed -n 's/^summary: //p' "$f")
  [ -n "${n[$phase]:-}" ] && printf '%-8s %12s total %10d per request\n' "$phase" "$total" $((total / n[$phase]))
done
