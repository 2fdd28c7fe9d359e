#!/usr/bin/env bash
# A driver run longer than one device call (nas-search, nas-fidelity, nas-ablate), as calls of under 10 minutes.
#   benchmarks/chained_gpu.sh CMD NAME OUT PREV [CMD options]
# CMD options start a new run; a resumed run gets them too, so that where it runs may change (e.g. --gpus-per-trial 1:
# the default preset's 40-epoch stage-2 trainings are estimated at ~5 minutes alone and ~20 four to a GPU, so only
# trainings alone fit a 10-minute call under STOP=pause), while the driver refuses any that change what it computes.
# Each call: the host and GPU into OUT/device.txt (a chained call on a warm machine shows the same ones); the run
# folder found (a warm machine's $CHAIN_RUNS/NAME is the newest state; else PREV: an earlier call's NAME.tgz, or a
# folder holding NAME/; else '-' and a new run with the options given); the driver run or resumed until END_BY (Unix
# seconds; default 560 s after this script starts: on an H200 everything in a call outside the driver (installing,
# unpacking, packing, the report) took 13-16 s, so a 10-minute call keeps ~25 s even when the driver is killed), GPU
# utilisation sampled every 0.5 s into OUT/util.csv, the log's lines prefixed with Unix times (OUT/NAME.log); then
# the run folder's small files (no checkpoints, Ray files, lock) packed into OUT/NAME.tgz and, where it renders, its
# nas-report into OUT/report.
#
# STOP=pause (default) passes --time-limit: no training starts that would not end by END_BY, running ones finish,
#   the driver exits 75. Nothing is cut; the call to end a session with.
# STOP=interrupt lets trainings run into END_BY, then stops the driver alone with SIGTERM (its clean stop, exit 130; SIGINT
#   is not used: a command started in the background inherits it ignored). A training cut there continues from its
#   last checkpoint (every 5th epoch) in the next call if that call finds the machine warm (chain calls within the device's
#   idle release); on a fresh machine it starts again. For trainings longer than one call.
# DATA=embedded (default): the driver makes its embedded synthetic set under $CHAIN_RUNS/.data (again on a fresh
#   machine: same seed, same frames). DATA=bench: the default preset's synthetic cache made by bench_stage1.py,
#   passed as --data to a new run.
set -uo pipefail
bad() { echo "chained_gpu: $*" >&2; exit 2; }
[ $# -ge 4 ] || bad "usage: chained_gpu.sh CMD NAME OUT PREV|- [CMD options]"
cmd=$1 name=$2 out=$3 prev=$4
shift 4
t0=$(date +%s); end_by=${END_BY:-$((t0 + 560))}; stop=${STOP:-pause}; runs=${CHAIN_RUNS:-/tmp/chained_runs}
[[ $end_by =~ ^[0-9]+$ ]] || bad "END_BY must be Unix seconds, not '$end_by'"
case $stop in pause|interrupt) ;; *) bad "STOP must be pause or interrupt, not '$stop'";; esac
case $cmd in nas-search|nas-fidelity|nas-ablate) ;; *) bad "CMD must be nas-search, nas-fidelity or nas-ablate, not '$cmd'";; esac
[ "$prev" = - ] || [ -f "$prev" ] || [ -d "$prev/$name" ] || bad "PREV $prev: neither a $name.tgz nor a folder holding $name/"
mkdir -p "$out" "$runs" 2>/dev/null && [ -w "$out" ] && [ -w "$runs" ] || bad "cannot write to $out or $runs"
{ hostname; nvidia-smi --query-gpu=name,uuid,memory.total,driver_version --format=csv,noheader 2>/dev/null; } \
    | tee "$out/device.txt"
export PYTHONUNBUFFERED=1 RAY_AUTH_MODE=disabled

args=(--resume "$@")
if [ -f "$runs/$name/config.yaml" ]; then echo "chained_gpu: warm machine: resuming $runs/$name"
elif [ -f "$prev" ]; then tar -xzf "$prev" -C "$runs" || exit 1
elif [ -d "$prev/$name" ]; then cp -r "$prev/$name" "$runs/" || exit 1
else args=("$@")
fi
if [ "${DATA:-embedded}" = bench ]; then  # made on every fresh machine: a resumed run names this same path
    cache=$(python benchmarks/bench_stage1.py --out "$out" --phases data | tail -1) || exit 1
    [ "${args[0]:-}" = --resume ] || args+=(--data "$cache")
fi

left=$((end_by - $(date +%s) - 40))  # 40 s for the driver's own stop, the packing and the report
if [ "$stop" = pause ]; then
    args+=(--time-limit "$(python -c "print(max(round($left / 60 - 0.5, 2), 0.1))")")  # 30 s for the last report
fi
echo "chained_gpu: $cmd $name: $left s left; ${args[*]}"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 \
    > "$out/util.csv" 2>/dev/null &
smi=$!
start=$(date +%s)
timeout --foreground -s TERM -k 25 "$((left > 1 ? left : 1))" "$cmd" --name "$name" --out "$runs" "${args[@]}" 2>&1 |
    while IFS= read -r line; do printf '%s %s\n' "$(date +%s)" "$line"; done > "$out/$name.log"
code=${PIPESTATUS[0]}
case $code in 75) why=" (paused at its time limit)";; 124) why=" (stopped at END_BY)";; 130) why=" (interrupted)";; *) why="";; esac
echo "chained_gpu: $cmd exited $code$why after $(( $(date +%s) - start )) s" | tee -a "$out/$name.log"
kill "$smi" 2>/dev/null
tar -czf "$out/$name.tgz" -C "$runs" --exclude=ray --exclude='*.pt' --exclude=.lock "$name"
nas-report "$runs/$name" --out "$out/report" > /dev/null 2>&1 || echo "chained_gpu: no report yet"
tail -15 "$out/$name.log"
cat "$runs/$name/summary.json" 2>/dev/null | head -30
