#!/usr/bin/env bash
# Issue 14's study (nas-fidelity, default preset's synthetic data) on a GPU machine, in device calls of under
# 10 minutes each: benchmarks/chained_gpu.sh with DATA=bench and STOP=pause (see there).
#   benchmarks/issue14_gpu.sh OUT PREV_TGZ|PREV_DIR|- LIMIT_S [nas-fidelity options for a new study]
# Without END_BY (Unix seconds), the call ends about LIMIT_S + 120 s after it began (the data takes ~90 s).
# The study now lies finished in docs/results/fidelity/study.
set -uo pipefail
out=${1:?output folder} prev=${2:?PREV or -} limit=${3:-450}
export END_BY=${END_BY:-$(( $(date +%s) + limit + 120 ))} DATA=bench STOP=pause
exec "$(dirname "$0")/chained_gpu.sh" nas-fidelity study "$out" "$prev" "${@:4}"
