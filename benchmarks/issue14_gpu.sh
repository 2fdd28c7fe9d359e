#!/usr/bin/env bash
# Issue 14's study (nas-fidelity, default preset) on a GPU machine, in device calls of under 10 minutes each.
# Each call makes the default preset's synthetic data anew (same seed, same path), restores the study's small files
# from what an earlier call left (PREV: its study.tgz, or a folder holding study/, e.g.
# docs/results/fidelity, where the finished study now lies), runs or resumes `nas-fidelity` with --time-limit LIMIT (it starts no
# training that would not end in time, lets running ones finish and pauses; finished trainings are in jobs.csv),
# and packs the run folder's small files into OUT/study.tgz. GPU utilisation is sampled every 0.5 s into OUT/util.csv and the
# log's lines carry Unix times, so the utilisation of the proxy and full stages can be read apart.
#   benchmarks/issue14_gpu.sh OUT PREV_TGZ|PREV_DIR|- LIMIT_S [nas-fidelity options]
# With END_BY (Unix seconds) set, LIMIT_S is whatever is left once the data is ready, less the SIGINT margin and
# packing. On a machine still warm from an earlier call the study's folder in /tmp is newer than any PREV: it is used.
# 45 s past LIMIT_S a SIGINT stops it regardless (what was running is then re-run by the next call).
set -uo pipefail
out=$1 prev=$2 limit=${3:-450}
export PYTHONUNBUFFERED=1 RAY_AUTH_MODE=disabled
mkdir -p "$out"
{ hostname; nvidia-smi --query-gpu=name,uuid,memory.total,driver_version --format=csv,noheader; } | tee "$out/device.txt"  # a chained call on the same machine shows the same host and GPU
cache=$(python benchmarks/bench_stage1.py --out "$out" --phases data | tail -1)
runs=/tmp/fidelity_runs
if [ -n "${END_BY:-}" ]; then limit=$((END_BY - $(date +%s) - 60)); fi
echo "time limit $limit s"
args=(--data "$cache")
if [ -f "$runs/study/config.yaml" ]; then args=(--resume)  # warm machine: this folder is the newest state
else
    mkdir -p "$runs"
    if [ -f "$prev" ]; then tar -xzf "$prev" -C "$runs" && args=(--resume); fi
    if [ -d "$prev/study" ]; then cp -r "$prev/study" "$runs/" && args=(--resume); fi
fi
args+=(--time-limit "$(python -c "print(round($limit / 60, 2))")")
args+=("${@:4}")
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 \
    > "$out/util.csv" 2>/dev/null &
smi=$!
start=$(date +%s)
timeout -s INT -k 20 "$((limit + 45))" nas-fidelity --name study --out "$runs" "${args[@]}" 2>&1 |
    while IFS= read -r line; do printf '%s %s\n' "$(date +%s)" "$line"; done > "$out/fidelity.log"
echo "study call: $(( $(date +%s) - start )) s" | tee -a "$out/fidelity.log"
kill "$smi" 2>/dev/null
tar -czf "$out/study.tgz" -C "$runs" --exclude=ray --exclude='*.pt' --exclude=.lock study
tail -25 "$out/fidelity.log"
cat "$runs/study/summary.json" 2>/dev/null | head -40
