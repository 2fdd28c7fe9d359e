#!/usr/bin/env bash
# Issue 13's measurements on a GPU machine, in calls of under 10 minutes; every result is a small file under OUT,
# and a later call skips what an earlier call's results (DONE) hold.
#   benchmarks/issue13_gpu.sh OUT DONE 1   data, where a proxy trial's time goes (bench_trial), stage 1 before and after
#   benchmarks/issue13_gpu.sh OUT DONE 2   data, stage 1 again with seed 1, stage 2, nas-eval's scoring (bench_eval)
set -uo pipefail
out=$1 done=${2:-/nonexistent} call=${3:-1}
export PYTHONUNBUFFERED=1 RAY_AUTH_MODE=disabled
mkdir -p "$out"
cache=$(python benchmarks/bench_stage1.py --out "$out" --phases data | tail -1)
echo "cache: $cache"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device_$call.txt"
if [ "$call" = 1 ]; then
    python benchmarks/bench_trial.py --cache "$cache" --archs 2 --epochs 2 --train-fraction 0.25 --val-max 2000 \
        --pnp cv2,torch > "$out/profile.txt" 2>&1
    tail -8 "$out/profile.txt"
    python benchmarks/bench_stage1.py --out "$out" --done "$done" --phases before,after > "$out/stage1_$call.log" 2>&1
else
    python benchmarks/bench_stage1.py --out "$out" --done "$done" --phases before,after,repeat,stage2 \
        > "$out/stage1_$call.log" 2>&1
    python benchmarks/bench_eval.py --json "$out/eval.json" > "$out/eval.log" 2>&1
    tail -20 "$out/eval.log"
fi
grep '^{"phase"' "$out/stage1_$call.log"
tail -30 "$out/stage1_$call.log" | grep -v '^[│╭╰├]'
