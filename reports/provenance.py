"""The report's first lines (issue 15): which data the run trained on (synthetic procedural faces, or a WCPA root,
with its frames per split), its subject splits and which of them scored the final comparison, the seeds, the
preset and resolution, and the device the speeds were measured on. Read from summary.json, config.yaml and
final.csv; an older run that recorded less says so instead of guessing."""
from __future__ import annotations

from typing import Any

import pandas as pd

from reports.run import Run
from reports.versus import completed

SPLIT_ORDER = ("train", "selection", "test", "wcpa_test")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _frames(frames: Any) -> str:
    """`17,500 train / 3,750 selection / 3,750 test frames`, or '' where not recorded."""
    if not isinstance(frames, dict):
        return ""
    names = [k for k in SPLIT_ORDER if frames.get(k)] + [k for k in frames if k not in SPLIT_ORDER and frames[k]]
    parts = [f"{int(frames[k]):,} {k.replace('_', ' ')}" for k in names]
    return " / ".join(parts) + " frames" if parts else ""


def _synthetic(c: dict[str, Any]) -> str:
    size = (f", {c['synth_subjects']} subjects x {c.get('synth_frames_per_subject')} frames"
            if c.get("synth_subjects") and c.get("synth_frames_per_subject") else "")
    return f"synthetic procedural faces made by the toolkit{size} (not real WCPA scans)"


def data_line(run: Run) -> str:
    """**Data:** synthetic or the WCPA root, and its frames per split."""
    data, c = run.summary.get("data") or {}, run.config
    if not isinstance(data, dict):
        data = {}
    if data.get("synthetic") is True:
        what = _synthetic(c)
    elif data.get("synthetic") is False:
        root = c.get("data") or data.get("path")
        what = f"WCPA data from `{root}`" + (f" (prepared as `{data['path']}`)" if data.get("path") not in (None, root)
                                             else "")
    elif c.get("data"):
        what = (f"the prepared data at `{c['data']}`; whether it is synthetic or real WCPA data is not recorded "
                "(a run from before issue 15, or a cache made before caches recorded it)")
    elif c.get("synth_subjects"):
        what = _synthetic(c)
    else:
        what = "not recorded"
    frames = _frames(data.get("frames"))
    return f"**Data:** {what}" + (f"; {frames}" if frames else "") + "."


def _scored_on(run: Run) -> set[str]:
    f = run.final
    if f.empty or "scored_on" not in f.columns:
        return set()
    return {str(v) for v in completed(f)["scored_on"].dropna() if str(v)}


def _subject_counts(run: Run) -> dict[str, int]:
    splits = run.summary.get("splits") or {}
    if not isinstance(splits, dict):
        return {}
    return {k: len(v) for k, v in splits.items() if isinstance(v, list)}


def splits_line(run: Run) -> str:
    """**Subjects:** the splits, and whether the final comparison is scored on subjects nothing was picked on."""
    n, scored = _subject_counts(run), _scored_on(run)
    picked = "stage 1, ASHA and the top-k picks saw only the selection subjects, and " if run.kind == "search" else ""
    if n.get("test") and "selection" not in scored:
        counts = " / ".join(f"{n[k]} {k}" for k in ("train", "selection", "test") if k in n)
        return (f"**Subjects:** {counts}, disjoint; {picked}the final comparison is scored on the {n['test']} test "
                "subjects, which nothing was selected on.")
    if n:
        counts = " / ".join(f"{n[k]} {k}" for k in ("train", "selection") if k in n)
        return (f"**Subjects:** {counts}, no test split: selection and reporting share subjects (the final "
                "scores are on the subjects the picks were made on), so the searched picks' margins are optimistic.")
    if scored == {"test"}:
        return "**Subjects:** the final comparison is scored on held-out test subjects (split sizes not recorded)."
    if run.kind != "search":
        return ("**Subjects:** splits not recorded (a run from before issue 15): the scores are on the data's held-out "
                "subjects, which the searched architecture may have been picked on.")
    return ("**Subjects:** splits not recorded (a run from before issue 15): selection and reporting share subjects "
            "(the top-k were picked on the same held-out subjects that score them), so their margins are optimistic.")


def _seeds(run: Run) -> list[int]:
    f = run.final
    if f.empty or "seed" not in f.columns:
        return []
    return sorted({int(s) for s in f["seed"].dropna()})


def seeds_line(run: Run) -> str:
    """**Seeds and size:** seeds per final training, preset, epochs and resolution."""
    c, seeds = run.config, _seeds(run)
    count = c.get("final_seeds") or c.get("seeds") or c.get("full_seeds") or (len(seeds) if seeds else 1)
    listed = f" ({', '.join(map(str, seeds))})" if seeds else ""
    what = (f"{count} seed{'s' if int(count) != 1 else ''} per final training{listed}"
            + ("" if int(count) > 1 else ": no seed-to-seed spread is measured"))
    epochs = c.get("final_epochs") or c.get("epochs") or c.get("full_epochs")
    res = c.get("final_res") or c.get("res")
    size = [f"preset {c['preset']}" if c.get("preset") else "",
            f"{epochs} epoch{'s' if str(epochs) != '1' else ''}" if epochs else "", f"{res} px crops" if res else ""]
    return f"**Seeds:** {what}; " + ", ".join(s for s in size if s) + "." if any(size) else f"**Seeds:** {what}."


def _unique(f: pd.DataFrame, col: str) -> list[str]:
    if f.empty or col not in f.columns:
        return []
    return sorted({str(v) for v in f[col].dropna() if str(v) and str(v) != "nan"})


def device_line(run: Run) -> str:
    """**Device:** where the speeds were measured (speed_device), and where the trainings ran (gpu column)."""
    speed, gpus = _unique(run.final, "speed_device"), _unique(run.final, "gpu")
    hosts = sorted({g.split(":")[0] for g in gpus if g != "cpu"})
    ran = (f"trainings ran on {'the CPU' if gpus == ['cpu'] else 'GPUs of host ' + _and(hosts)}"
           if gpus else "where the trainings ran is not recorded")
    gpu_gb = ((run.summary.get("packing_stage2") or run.summary.get("packing_stage1") or {}).get("measure") or {}
              ).get("gpu_gb")
    if gpu_gb and hosts:
        ran += f" ({float(gpu_gb):.0f} GB GPUs)"
    if speed:
        return f"**Device:** speeds measured alone on {_and(['the CPU' if d == 'cpu' else d for d in speed])}; {ran}."
    return f"**Device:** {ran}; speed was not measured (this run records FLOPs only, and FLOPs are not speed)."


def provenance(run: Run) -> list[str]:
    """The report's first lines: data, subjects, seeds and size, device."""
    if run.kind == "fidelity":
        return [data_line(run), seeds_line(run)]
    return [data_line(run), splits_line(run), seeds_line(run), device_line(run)]
