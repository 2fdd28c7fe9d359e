#!/usr/bin/env bash
# Issue 14's study (nas-fidelity, default preset's synthetic data) on a GPU machine, in device calls of under
# 10 minutes each: benchmarks/chained_gpu.sh with DATA=bench and STOP=pause (see there).
#   benchmarks/issue14_gpu.sh OUT PREV_TGZ|PREV_DIR|- LIMIT_S [nas-fidelity options for a new study]
# Without END_BY (Unix seconds), the call ends about LIMIT_S + 120 s after it began (the data takes ~90 s).
# The study now lies finished in docs/results/fidelity/study.
set -uo pipefail
[ $# -ge 2 ] || { echo "issue14_gpu: usage: issue14_gpu.sh OUT PREV|- [LIMIT_S] [nas-fidelity options]" >&2; exit 2; }
out=$1 prev=$2 limit=${3:-450}
case $limit in ''|*[!0-9]*) echo "issue14_gpu: LIMIT_S must be whole seconds, not '$limit'" >&2; exit 2;; esac
export END_BY=${END_BY:-$(( $(date +%s) + limit + 120 ))} DATA=bench STOP=pause
exec "$(dirname "$0")/chained_gpu.sh" nas-fidelity study "$out" "$prev" "${@:4}"
