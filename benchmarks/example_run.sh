#!/usr/bin/env bash
# The GPU runs behind docs/example_report and docs/example_ablation: synthetic data, then a search or the
# Table 1 ablation, then nas-report. Usage: benchmarks/example_run.sh search|ablate OUT_DIR
# Sizes fit one H100 in under ten minutes; every setting is written to the run's config.yaml.
set -euo pipefail
mode=${1:?search or ablate}; out=${2:?output folder}
work=${WORK:-/tmp/example}; mkdir -p "$work" "$out"
source "$(dirname "$0")/gpu_run_lib.sh"
make_data "$work" 40 150
case $mode in
search)
    timeout 480 nas-search --budget 5G --data "$work/cache" --trials 48 --proxy-epochs 3 --gpus-per-trial 0.5 \
        --top-k 5 --final-epochs 15 --baselines resnet18d,resnet34d,resnet50d --out "$work/runs" --name search \
        || echo "nas-search stopped with $? (the report below says how far it got)";;
ablate)
    timeout 420 nas-ablate --data "$work/cache" --epochs 15 --gpus-per-trial 0.5 --out "$work/runs" --name ablate \
        || echo "nas-ablate stopped with $?";;
*) echo "unknown mode $mode" >&2; exit 2;;
esac
report_run "$work/runs/$mode" "$out"
