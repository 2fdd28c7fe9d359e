#!/usr/bin/env bash
# Issue 13's measurements on a GPU machine, in calls of under 10 minutes; every result is a small file under OUT,
# and a later call skips the phases whose results an earlier call left in DONE.
#   benchmarks/issue13_gpu.sh OUT DONE profile          data; where a proxy trial's time goes (bench_trial)
#   benchmarks/issue13_gpu.sh OUT DONE before,after     data; stage 1 phases of bench_stage1 (any of before, after,
#                                                       repeat, stage2; stage2 needs after in the same call)
#   benchmarks/issue13_gpu.sh OUT DONE eval             nas-eval's scoring of 90,545 faces (bench_eval)
#   benchmarks/issue13_gpu.sh OUT DONE pose             the pose solver's starts apart vs in one batch (bench_pose)
#   benchmarks/issue13_gpu.sh OUT DONE mps              data; after_k4_mps and after_k6_mps under an NVIDIA MPS
#                                                       daemon started for them (mps.txt: clients it served after each)
#   benchmarks/issue13_gpu.sh OUT DONE after_mps        data; the new default: `after` (probe, memory rule) with the
#                                                       daemon the toolkit starts itself (nas-search's --mps auto)
# Several words may be joined with '+', e.g. `after,stage2+eval`.
set -uo pipefail
out=$1 done=${2:-/nonexistent} what=${3:-profile}
export PYTHONUNBUFFERED=1 RAY_AUTH_MODE=disabled
mkdir -p "$out"
{ hostname; nvidia-smi --query-gpu=name,uuid,memory.total,driver_version --format=csv,noheader; } | tee "$out/device.txt"  # a chained call on the same machine shows the same host and GPU
for step in ${what//+/ }; do
    case $step in
    eval)
        python benchmarks/bench_eval.py --json "$out/eval.json" > "$out/eval.log" 2>&1; tail -22 "$out/eval.log" ;;
    pose)
        python benchmarks/bench_pose.py --faces 2000,5000,20000 --json "$out/pose.json" > "$out/pose.log" 2>&1 \
            || { echo "bench_pose failed:"; tail -5 "$out/pose.log"; }
        grep '^{' "$out/pose.log" ;;
    mps)  # a daemon of its own (fresh folders), stopped however the step ends
        mps=$(mktemp -d /tmp/issue13_mps.XXXX); mkdir -p "$mps/pipe" "$mps/log"
        export CUDA_MPS_PIPE_DIRECTORY=$mps/pipe CUDA_MPS_LOG_DIRECTORY=$mps/log
        if ! nvidia-cuda-mps-control -d; then
            echo "no MPS daemon could be started on this machine" | tee "$out/mps.txt"
            unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY; continue
        fi
        trap 'echo quit | nvidia-cuda-mps-control' EXIT
        for phase in after_k4_mps after_k6_mps; do
            python benchmarks/bench_stage1.py --out "$out" --done "$done" --phases $phase >> "$out/stage1_mps.log" 2>&1 \
                || { echo "$phase failed:"; tail -5 "$out/stage1_mps.log"; }
            echo "$phase: MPS clients served so far: $(grep -c 'NEW CLIENT' "$mps/log/control.log")" | tee -a "$out/mps.txt"
        done
        echo quit | nvidia-cuda-mps-control; trap - EXIT
        unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
        grep '^{"phase"' "$out/stage1_mps.log" ;;
    profile)
        cache=$(python benchmarks/bench_stage1.py --out "$out" --phases data | tail -1)
        python benchmarks/bench_trial.py --cache "$cache" --archs 2 --epochs 2 --train-fraction 0.25 --val-max 2000 \
            --pnp cv2,torch > "$out/profile.txt" 2>&1; tail -8 "$out/profile.txt" ;;
    *)
        python benchmarks/bench_stage1.py --out "$out" --done "$done" --phases "$step" > "$out/stage1.log" 2>&1
        grep '^{"phase"\|packing:\|data ready' "$out/stage1.log"; grep -A30 '^{$' "$out/stage1.log" | tail -31 ;;
    esac
done
