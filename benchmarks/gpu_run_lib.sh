# Shared steps of the GPU run scripts (example_run.sh, e2e_gpu.sh); source it, do not run it.

# make_data WORK SUBJECTS FRAMES_PER_SUBJECT: synthetic WCPA data and its crop cache under WORK, once
make_data() {
    local work=$1
    [ -f "$work/cache/manifest.json" ] && return 0
    nas-data synth --out "$work/wcpa" --subjects "$2" --frames-per-subject "$3" --overwrite \
        && nas-data cache --data "$work/wcpa" --out "$work/cache" --overwrite
}

# report_run RUN_DIR DEST: nas-report of the run into DEST/report, and the run's tables (what nas-report
# reads: no checkpoints, Ray files or study database) into DEST/run
report_run() {
    nas-report "$1" --out "$2/report"
    mkdir -p "$2/run" && find "$1" -maxdepth 1 -type f ! -name '*.db' -exec cp {} "$2/run/" \;
}
