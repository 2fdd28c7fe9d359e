#!/usr/bin/env bash
# Issue 7's end-to-end run on every GPU of one machine: synthetic data (50 subjects, 20% held out,
# about 20,000 training frames), a 5 GFLOP search (24 proxy trials), stage 2 (top 2 beside
# resnet18d/34d/50d), then nas-report. Usage: benchmarks/e2e_gpu.sh OUT_DIR
# With E2E_SEARCHED=ARCH it runs nas-ablate instead on the same data: Table 1 with that searched net,
# 10 epochs, seeds 1 and 2 (the search's stage 2 was seed 0), to see whether its gain holds over seeds.
# Each call works for at most E2E_LIMIT seconds (default 540, under the device tool's 10 minutes) and
# resumes the run a previous call left in E2E_WORK; call it again until it prints "e2e: done".
# OUT_DIR receives the log, nvidia-smi samples and e2e.tgz (or ablate.tgz): the run tables and report.
set -uo pipefail
out=${1:?output folder}; work=${E2E_WORK:-/tmp/e2e}; limit=${E2E_LIMIT:-540}
t0=$(date +%s); mkdir -p "$work" "$out"
log="$out/e2e.log"
echo "e2e: call at $(date -u +%FT%TZ) on $(nvidia-smi -L | wc -l) GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader | sort | uniq -c | xargs)" | tee -a "$log"
nvidia-smi --query-gpu=timestamp,index,utilization.gpu,memory.used --format=csv,noheader -l 2 >> "$out/gpu_util.csv" &
smi=$!; trap 'kill $smi 2>/dev/null' EXIT

source "$(dirname "$0")/gpu_run_lib.sh"
if [ ! -f "$work/cache/manifest.json" ]; then
    s=$(date +%s)
    make_data "$work" 50 625 >> "$log" 2>&1 || { echo "e2e: data failed (see $log)"; exit 1; }
    echo "e2e: data took $(( $(date +%s) - s )) s" | tee -a "$log"
fi

left=$(( limit - ($(date +%s) - t0) - 30 ))   # 30 s kept for the report and the copy
if [ -n "${E2E_SEARCHED:-}" ]; then
    name=ablate; done_key=ablation
    if [ -f "$work/runs/$name/config.yaml" ]; then cmd=(nas-ablate --resume --name $name --out "$work/runs")
    else cmd=(nas-ablate --data "$work/cache" --searched "$E2E_SEARCHED" --epochs 10 --seeds 2 --seed 1
              --gpus-per-trial 0.5 --out "$work/runs" --name $name); fi
else
    name=e2e; done_key=stage2
    if [ -f "$work/runs/$name/config.yaml" ]; then cmd=(nas-search --resume --name $name --out "$work/runs")
    else
        # val-max 500: PnP on the CPU scores each proxy epoch; 2,000 frames would cost more than the epoch
        cmd=(nas-search --budget 5G --data "$work/cache" --trials 24 --proxy-score final --proxy-epochs 4 --val-max 500
             --gpus-per-trial 0.5 --top-k 2 --final-epochs 10 --baselines resnet18d,resnet34d,resnet50d
             --out "$work/runs" --name $name)
    fi
fi
echo "e2e: ${cmd[*]} (for at most $left s)" | tee -a "$log"
timeout -s KILL "$left" "${cmd[@]}" >> "$log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    ray stop --force > /dev/null 2>&1   # this machine runs nothing else; a killed driver leaves workers
    echo "e2e: ${cmd[0]} stopped with $rc; call again to resume" | tee -a "$log"
fi
grep -h "took" "$log" | tail -3
report_run "$work/runs/$name" "$work/out-$name" >> "$log" 2>&1
tar czf "$out/$name.tgz" -C "$work/out-$name" run report
if python3 -c "import json,sys; sys.exit(json.load(open('$work/runs/$name/summary.json')).get('$done_key') != 'done')"; then
    echo "e2e: done"
fi
