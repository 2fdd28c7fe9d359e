"""Issue 16's probe, reproducible: every command run as a careless or unlucky user would, and classified.

Each case is one subprocess (a console script, with a timeout) in a fresh folder holding copies of small
fixtures made once (a synthetic WCPA root, its crop cache, a 1-epoch checkpoint, and the example run folders of
nas-search, nas-ablate and nas-fidelity). Every file in the folder is snapshot before and after, so a case that
changes or deletes a file that was there before is caught. Outcomes:

    ok-clean-error  should fail: exit 2, exactly one stderr line, naming the bad file or value
    ok-success      should succeed, and did (exit 0)
    TRACEBACK       a Python traceback on stdout or stderr
    SILENT          should fail, but exited 0
    DAMAGED         a file that existed before was changed or removed
    MULTILINE       exit 2, but more than one stderr line
    UNNAMED         exit 2 and one line, but the line does not name what was wrong
    OTHER-EXIT      should fail, but with an exit code other than 2 (and no traceback)
    TIMEOUT         ran past the per-case timeout (went on to real work it should not have)
    FAILED          should succeed, but did not
    PROBE-ERROR     the probe itself could not set the case up
    SKIPPED         needs what this machine cannot give (a tmpfs mount)

Unwritable outputs: as root, chmod does not stop writes, so a read-only folder is a tmpfs mounted `ro` and a full
disk a tiny tmpfs (both need `mount`; without it those cases are SKIPPED), besides paths under a regular file
(NotADirectoryError) and under /proc. Run from the repository root:

    PYTHONPATH=. RAY_AUTH_MODE=disabled python benchmarks/probe_cli.py --out docs/results/probe
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_cases import DATA, EVAL_CASES, SPACE, TRAIN_CASES, Case  # noqa: E402
from probe_cases_runs import CASES as RUN_CASES  # noqa: E402

ALL_CASES = [*SPACE, *DATA, *TRAIN_CASES, *EVAL_CASES, *RUN_CASES]

REPO = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"
BAD = ("PROBE-ERROR", "TRACEBACK", "SILENT", "DAMAGED", "MULTILINE", "UNNAMED", "OTHER-EXIT", "TIMEOUT", "FAILED")
SMALL_TRAIN = "--arch d1.1.1.1_w8.16.16.16 --epochs 1 --batch 16 --lr 16 --res 32 --device cpu --warmup-steps 5"
RUNS = {"search": REPO / "tests" / "data" / "h100_search_30trials", "ablate": REPO / "docs" / "example_ablation" / "run",
        "fidelity": REPO / "docs" / "results" / "fidelity" / "study"}


def script(name: str) -> str:
    """The console script `name` beside this Python, else on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else (shutil.which(name) or name)


def environment() -> dict[str, str]:
    """The commands' environment: this checkout first on the import path, Ray without token auth."""
    env = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def make_fixtures(base: Path) -> dict[str, Path]:
    """The fixtures every case copies from: root, cache, ckpt (made here, a few seconds) and the three runs."""
    base.mkdir(parents=True, exist_ok=True)
    steps = [("root", ["nas-data", "synth", "--out", "{root}", "--subjects", "6", "--frames-per-subject", "8",
                       "--frames-per-action", "4", "--size", "128", "--workers", "1", "--test-subjects", "0.34"]),
             ("cache", ["nas-data", "cache", "--data", "{root}", "--out", "{cache}", "--res", "32", "--val-subjects",
                        "0.34", "--workers", "1"]),
             ("ckpt", ["nas-train", "--data", "{cache}", *SMALL_TRAIN.split(), "--out", "{ckpt}"])]
    paths = {name: base / name for name in ("root", "cache", "ckpt")}
    for name, argv in steps:
        if not paths[name].exists():
            argv = [a.format(**paths) for a in argv]
            subprocess.run([script(argv[0]), *argv[1:]], check=True, env=environment(), capture_output=True)
    for name, src in RUNS.items():
        if not (base / name).exists():
            shutil.copytree(src, base / name)
        paths[name] = base / name
    return paths


def mount_tmpfs(folder: Path, options: str) -> bool:
    """Mount a tmpfs at `folder` (`ro,size=64k` or `size=64k`); False where this machine does not allow it."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


def fill(path: Path) -> None:
    """Write `path` until its disk is full (a tmpfs of 64 KiB: a few writes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for _ in range(10_000):
            os.write(fd, b"x" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` and its bytes (the fixtures are small)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        try:
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(folder))] = p.read_bytes()
        except OSError:
            continue
    return out


def stage(case: Case, tmp: Path, fixtures: dict[str, Path]) -> tuple[dict[str, str], list[Path], str | None]:
    """Lay out the case folder; its placeholders, the mounts to undo, and why it was skipped (if it was)."""
    where = {"tmp": str(tmp), "file": str(tmp / "a-file")}
    (tmp / "a-file").write_text("keep me\n")
    for name in case.uses:
        shutil.copytree(fixtures[name], tmp / name)
    where.update({name: str(tmp / name) for name in fixtures})
    mounts: list[Path] = []
    for key, options in (("ro", "ro,size=64k"), ("full", "size=64k")):
        if "{" + key + "}" in case.args:
            folder = tmp / key
            if not mount_tmpfs(folder, options):
                return where, mounts, f"cannot mount a tmpfs ({options}) here"
            mounts.append(folder)
            where[key] = str(folder)
            if key == "full":
                fill(folder / "filler")
    return where, mounts, None


def execute(case: Case, tmp: Path, where: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run the case's command in `tmp`; exit code, stderr lines, traceback, time."""
    argv = [script(case.cmd), *[a.format(**where) for a in shlex.split(case.args)]]
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=tmp, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        timed_out = True
    lines = [line for line in err.splitlines() if line.strip()]
    return {"argv": [case.cmd, *argv[1:]], "exit": proc.returncode, "stderr_lines": len(lines),
            "stderr": "\n".join(lines[-8:])[-1500:], "traceback": TRACEBACK in out or TRACEBACK in err,
            "timed_out": timed_out, "seconds": round(time.monotonic() - start, 1)}


def named_in(word: str, line: str) -> bool:
    """Whether the error line names `word`; a flag may be named as its setting (`--val-max`: `val_max`)."""
    setting = word.lstrip("-")
    return word in line or (word.startswith("--") and (setting in line or setting.replace("-", "_") in line))


def classify(case: Case, r: dict[str, Any], named: bool) -> str:
    """The case's outcome class (see the module's docstring)."""
    if r["traceback"]:
        return "TRACEBACK"
    if r["damaged"]:
        return "DAMAGED"
    if r["timed_out"]:
        return "TIMEOUT"
    if case.ok:
        return "ok-success" if r["exit"] == 0 else "FAILED"
    if r["exit"] == 0:
        return "SILENT"
    if r["exit"] != 2:
        return "OTHER-EXIT"
    if r["stderr_lines"] != 1:
        return "MULTILINE"
    return "ok-clean-error" if named else "UNNAMED"


def probe(case: Case, fixtures: dict[str, Path], timeout: float, keep: bool) -> dict[str, Any]:
    """Run one case in a fresh folder and classify it."""
    tmp = Path(tempfile.mkdtemp(prefix=f"probe-{case.id}-"))
    record: dict[str, Any] = {"id": case.id, "cmd": case.cmd, "what": case.what, "expect": "ok" if case.ok else "fail"}
    where, mounts, skipped = stage(case, tmp, fixtures)
    try:
        if skipped:
            return {**record, "class": "SKIPPED", "why": skipped}
        undo = case.setup(tmp) if case.setup else None
        before = snapshot(tmp)
        try:
            r = execute(case, tmp, where, timeout)
        finally:
            if callable(undo):
                undo()
        after = snapshot(tmp)
        r["damaged"] = sorted(k for k, v in before.items() if after.get(k) != v)
        r["left_behind"] = sorted(set(after) - set(before))[:10] if not case.ok else []
        last = r["stderr"].splitlines()[-1] if r["stderr"] else ""
        named = all(named_in(w.format(**where), last) for w in case.words)
        return {**record, **r, "class": classify(case, r, named)}
    finally:
        for folder in mounts:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def guarded(case: Case, fixtures: dict[str, Path], timeout: float, keep: bool) -> dict[str, Any]:
    """`probe`, with a failure of the probe itself recorded as the case's outcome (PROBE-ERROR)."""
    try:
        return probe(case, fixtures, timeout, keep)
    except Exception as exc:  # a setup that does not fit the fixture: say so, run the other cases
        return {"id": case.id, "cmd": case.cmd, "what": case.what, "expect": "ok" if case.ok else "fail",
                "class": "PROBE-ERROR", "why": f"{type(exc).__name__}: {exc}"}


def tallies(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts per command and class, and in all."""
    out: dict[str, dict[str, int]] = {"all": {}}
    for r in records:
        for key in (r["cmd"], "all"):
            out.setdefault(key, {})
            out[key][r["class"]] = out[key].get(r["class"], 0) + 1
    return out


def markdown(records: list[dict[str, Any]], seconds: float) -> str:
    """probe.md: tallies, every case that is not ok, then every case."""
    t = tallies(records)
    classes = sorted({r["class"] for r in records}, key=lambda c: (c in BAD, c))
    lines = ["# Issue 16's probe: every command as a careless or unlucky user runs it", "",
             f"{len(records)} cases, {seconds / 60:.1f} min (`benchmarks/probe_cli.py`; each a subprocess in a fresh "
             "folder). ok-clean-error: exit 2 and one stderr line naming the bad file or value.", "",
             "| command | " + " | ".join(classes) + " | cases |", "|---|" + "---|" * (len(classes) + 1)]
    for cmd in [*sorted(k for k in t if k != "all"), "all"]:
        lines.append(f"| {cmd} | " + " | ".join(str(t[cmd].get(c, 0)) for c in classes) + f" | {sum(t[cmd].values())} |")
    bad = [r for r in records if r["class"] in BAD]
    lines += ["", f"## Cases that are not ok: {len(bad)}", ""]
    lines += [f"- `{r['id']}` {r['class']}: {r['what']} (exit {r.get('exit')}) — "
              f"`{(r.get('stderr') or '').splitlines()[-1][:200] if r.get('stderr') else ''}`" for r in bad] or ["none"]
    left = [f"`{r['id']}` ({', '.join(r['left_behind'])})" for r in records if r.get("left_behind")]
    lines += ["", f"New files left behind by cases that failed: {len(left)} " + ("; ".join(left) or "")]
    lines += ["", "## Every case", "", "| id | command | expect | class | exit | lines | s | what | last stderr line |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        last = (r.get("stderr") or "").splitlines()[-1:] or [r.get("why", "")]
        cell = last[0][:160].replace("|", "\\|")
        lines.append(f"| {r['id']} | {r['cmd']} | {r['expect']} | {r['class']} | {r.get('exit', '')} | "
                     f"{r.get('stderr_lines', '')} | {r.get('seconds', '')} | {r['what']} | {cell} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the probe."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/results/probe", help="folder of probe.json and probe.md")
    p.add_argument("--jobs", type=int, default=1, help="cases run at once (default 1; 2 cores: keep 1)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a case may run (default 120)")
    p.add_argument("--only", action="append", default=[], help="run the cases whose id contains this (repeatable)")
    p.add_argument("--fixtures", help="folder of the fixtures, made there once (default: a temporary folder)")
    p.add_argument("--update", action="store_true",
                   help="with --only: replace those cases' records in --out's probe.json (the others are kept)")
    p.add_argument("--keep", action="store_true", help="keep every case's folder")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the probe; exit 1 where any case is not ok."""
    args = build_parser().parse_args(argv)
    cases = [c for c in ALL_CASES if not args.only or any(o in c.id for o in args.only)]
    if args.list:
        print("\n".join(f"{c.id:28} {c.cmd:13} {'ok  ' if c.ok else 'fail'} {c.what}" for c in cases))
        return 0
    start = time.monotonic()
    fixtures = make_fixtures(Path(args.fixtures or tempfile.mkdtemp(prefix="probe-fixtures-")))
    records: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for r in pool.map(lambda c: guarded(c, fixtures, args.timeout, args.keep), cases):
            records.append(r)
            print(f"{r['id']:28} {r['class']:15} exit {str(r.get('exit', '-')):4} lines {r.get('stderr_lines', '-')!s:3}"
                  f" {r.get('seconds', 0):6}s  {r['what']}", flush=True)
    seconds = time.monotonic() - start
    out = Path(args.out)
    if args.update and (out / "probe.json").is_file():
        kept = json.loads((out / "probe.json").read_text())
        fresh = {r["id"]: r for r in records}
        records = [fresh.pop(r["id"], r) for r in kept["cases"]] + list(fresh.values())
        seconds += kept["seconds"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps({"seconds": round(seconds), "tallies": tallies(records),
                                                "cases": records}, indent=1) + "\n")
    (out / "probe.md").write_text(markdown(records, seconds))
    print(json.dumps(tallies(records)["all"]), f"in {seconds / 60:.1f} min; wrote {out}/probe.md and probe.json")
    return 1 if any(r["class"] in BAD for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
