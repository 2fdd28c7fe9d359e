"""Issue 15's report on run folders built by hand (CPU, no training): the provenance headline (synthetic or WCPA
data, subject splits, seeds, device), the comparison table's interval, p and verdict columns, the narrative's
wording (a clear win, a clear loss, an interval containing zero, a toy run), the controls' answer, the speed
sentence, the figures with and without measured speed, Table 1's directions, and `nas-report` end to end."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from _report_helpers import EXAMPLE_RUN, check_png
from nas.compare import compare_groups
from reports.cli import main

VERDICT_WORDS = re.compile(r"\b(beat|beats|win|wins|won|lose|loses|lost|better|worse)\b", re.IGNORECASE)
REF_ARCH = "d3.4.6.3_w64.128.256.512"
SEARCHED = ("d16.15.19.4_w32.48.144.432", "d3.15.1.8_w32.80.432.464", "d10.1.1.3_w56.288.336.408")
CONTROLS = ("d8.1.5.20_w56.136.176.256", "d7.5.18.20_w48.88.112.248", "d24.8.22.4_w8.96.152.368",
            "d5.14.2.6_w16.96.184.504")
REF_SPEED = (5673.0, 20429.0, 2.90, 0.10)  # train img/s, infer img/s, batch-1 ms, its IQR (the H200)
SLOW, FAST = (4350.0, 17082.0, 3.40, 0.20), (6100.0, 24500.0, 2.50, 0.10)
DEVICE = "NVIDIA H200"
SUBJECTS = {"train": [f"s{i:02d}" for i in range(35)], "selection": [f"s{i:02d}" for i in range(35, 42)],
            "test": [f"s{i:02d}" for i in range(42, 50)]}
FRAMES = {"train": 17500, "selection": 3500, "test": 4000}


def model(label: str, kind: str, scores: list[float], speed: tuple | None = SLOW, seeds: tuple = (0, 1),
          arch: str | None = None, gflops: float = 4.9, proxy: float | None = 250.0) -> dict[str, Any]:
    """One stage-2 model: its scores by seed and its measured speed (None: not measured)."""
    return {"label": label, "arch": arch or label, "kind": kind, "scores": scores, "speed": speed, "seeds": seeds,
            "gflops": gflops, "proxy": proxy}


def ref(scores: list[float] = (120.0, 121.0), speed: tuple | None = REF_SPEED, **kw: Any) -> dict[str, Any]:
    return model("resnet34d", "baseline", list(scores), speed, arch=REF_ARCH, gflops=5.11, **kw)


def final_rows(models: list[dict[str, Any]], scored_on: str = "test") -> pd.DataFrame:
    """final.csv: one row per model and seed, with the speed columns where a model has a speed."""
    rows = []
    for m in models:
        for seed, score in zip(m["seeds"], m["scores"]):
            row = {"label": m["label"], "arch": m["arch"], "kind": m["kind"], "seed": seed, "gflops": m["gflops"],
                   "params_m": 20.0, "proxy_score": m["proxy"], "score": score, "v1_v2": 0.3 * score,
                   "v1_v3": 0.3 * score, "v1_v4_x10": 0.4 * score, "scored_on": scored_on, "status": "complete",
                   "epochs": 40, "failure": "", "wall_s": 100.0, "images_per_s": 3000.0, "gpu": "node1:0",
                   "node": "node1", "checkpoint": f"/runs/x/final/{m['label']}/last.pt"}
            if m["speed"] is not None:
                row.update(dict(zip(("train_img_s", "infer_img_s", "latency_ms_b1", "latency_ms_b1_iqr"), m["speed"])),
                           speed_device=DEVICE)
            rows.append(row)
    return pd.DataFrame(rows)


def write_run(root: Path, models: list[dict[str, Any]], *, preset: str = "default", synthetic: bool = True,
              splits: dict | None = None, scored_on: str = "test", **config: Any) -> Path:
    """A finished nas-search run folder: config.yaml, summary.json, trials.csv (the example run's) and final.csv."""
    root.mkdir(parents=True)
    seeds = max(len(m["seeds"]) for m in models)
    cfg = {"budget": "5G", "trials": 30, "sampler": "regnet", "top_k": 3, "controls": 4, "final_seeds": seeds,
           "final_epochs": 40, "final_res": 256, "baselines": ["resnet18d", "resnet34d"], "name": root.name,
           "seed": 0, "preset": preset, "data": None if synthetic else "/data/wcpa", "synth_subjects": 50,
           "synth_frames_per_subject": 500, "selection_subjects": 0.15, "test_subjects": 0.15, **config}
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    splits = SUBJECTS if splits is None else splits
    frames = {k: v for k, v in FRAMES.items() if k in splits}
    summary = {"stage1": "done", "stage2": "done", "splits": splits,
               "data": {"path": "/runs/cache" if synthetic else "/runs/wcpa_cache", "synthetic": synthetic,
                        "frames": frames if synthetic else {**frames, "wcpa_test": 1200}}}
    (root / "summary.json").write_text(json.dumps(summary))
    shutil.copy(EXAMPLE_RUN / "trials.csv", root / "trials.csv")
    final_rows(models, scored_on).to_csv(root / "final.csv", index=False)
    return root


def standard(best: list[float] = (110.0, 110.6), best_speed: tuple | None = SLOW, ref_speed: tuple | None = REF_SPEED,
             controls: tuple = (125.0, 126.0, 127.0, 128.0), seeds: tuple = (0, 1)) -> list[dict[str, Any]]:
    """3 searched picks (the best first), len(controls) random controls, resnet18d and resnet34d."""
    spread = [0.0, 0.6][:len(seeds)]
    searched = [model(SEARCHED[0], "searched", list(best), best_speed, seeds),
                *[model(a, "searched", [s + d for d in spread], best_speed, seeds)
                  for a, s in zip(SEARCHED[1:], (118.0, 119.0))]]
    ctrl = [model(a, "control", [s + d for d in spread], best_speed, seeds, proxy=300.0)
            for a, s in zip(CONTROLS, controls)]
    r18 = model("resnet18d", "baseline", [140.0 + d for d in spread], ref_speed, seeds, arch="d2.2.2.2_w64.128.256.512",
                gflops=2.69)
    reference = ref([120.0 + d for d in [0.0, 1.0][:len(seeds)]], ref_speed, seeds=seeds)
    return [*searched, *ctrl, r18, reference]


def loaded(root: Path):
    from reports.tables import load_run
    return load_run(root)


def text_of(root: Path) -> str:
    """The narrative of a run folder as one line."""
    from reports.narrative import narrative
    return " ".join(" ".join(narrative(loaded(root))).split())


def in_short(root: Path) -> str:
    from reports.narrative import in_short as short
    return " ".join(short(loaded(root)).split())


# --- provenance -----------------------------------------------------------------------------------------------

def test_provenance_of_a_synthetic_run_with_a_test_split(tmp_path):
    from reports.provenance import provenance
    lines = provenance(loaded(write_run(tmp_path / "syn", standard())))
    data, subjects, seeds, device = lines
    assert "synthetic procedural faces" in data and "not real WCPA" in data
    assert "17,500 train / 3,500 selection / 4,000 test frames" in data
    assert "35 train / 7 selection / 8 test, disjoint" in subjects
    assert "scored on the 8 test subjects, which nothing was selected on" in subjects
    assert "2 seeds per final training (0, 1)" in seeds and "preset default" in seeds and "256 px" in seeds
    assert f"speeds measured alone on {DEVICE}" in device and "node1" in device


def test_provenance_of_a_wcpa_run(tmp_path):
    from reports.provenance import provenance
    data = provenance(loaded(write_run(tmp_path / "wcpa", standard(), synthetic=False)))[0]
    assert "WCPA data from `/data/wcpa`" in data and "synthetic" not in data
    assert "17,500 train / 3,500 selection / 4,000 test / 1,200 wcpa test frames" in data


def test_provenance_without_a_test_split_says_selection_and_reporting_share_subjects(tmp_path):
    from reports.provenance import provenance
    splits = {k: v for k, v in SUBJECTS.items() if k != "test"}
    lines = provenance(loaded(write_run(tmp_path / "old-cache", standard(), splits=splits, scored_on="selection")))
    assert "35 train / 7 selection, no test split: selection and reporting share subjects" in lines[1]
    assert "on the held-out subjects the picks were made on (no separate test split)" in text_of(tmp_path / "old-cache")


def test_provenance_of_an_older_run_says_what_was_not_recorded():
    from reports.provenance import provenance
    data, subjects, seeds, device = provenance(loaded(EXAMPLE_RUN))
    assert "not recorded" in data and "`/tmp/d/cache`" in data
    assert "before issue 15" in subjects and "selection and reporting share subjects" in subjects
    assert "1 seed per final training" in seeds and "speed was not measured" in device


# --- the comparison table ---------------------------------------------------------------------------------------

def test_table_has_paired_intervals_verdicts_and_speed_ratios(tmp_path):
    from reports.tables import comparison
    table = comparison(loaded(write_run(tmp_path / "t", standard()))).set_index("network")
    best = table.loc[SEARCHED[0]]
    expected = compare_groups([110.0, 110.6], [120.0, 121.0], paired=True)
    assert best["test"] == "paired t" and best["verdict"] == "better" and best["seeds"] == 2
    for col, key in (("delta_lo", "lo"), ("delta_hi", "hi"), ("pct_lo", "pct_lo"), ("pct_hi", "pct_hi"), ("p", "p")):
        assert best[col] == pytest.approx(expected[key]), col
    assert best["delta_hi"] < 0 and best["scored_on"] == "test"
    assert best["infer_x"] == pytest.approx(SLOW[1] / REF_SPEED[1])
    assert best["train_x"] == pytest.approx(SLOW[0] / REF_SPEED[0])
    assert best["latency_x"] == pytest.approx(SLOW[2] / REF_SPEED[2])
    assert best["latency_ms_b1_iqr"] == SLOW[3] and best["speed_device"] == DEVICE
    assert table.loc["resnet34d", "verdict"] == "reference" and table.loc["resnet34d", "infer_x"] == 1.0
    assert (table["kind"] == "control").sum() == 4 and table.loc[CONTROLS[0], "verdict"] == "worse"


def test_table_uses_welch_where_the_seeds_differ_and_is_undecided_with_one(tmp_path):
    from reports.tables import comparison
    models = standard()
    models[0] = model(SEARCHED[0], "searched", [110.0, 111.0], SLOW, seeds=(5, 6))
    models[1] = model(SEARCHED[1], "searched", [118.0], SLOW, seeds=(0,))
    table = comparison(loaded(write_run(tmp_path / "w", models))).set_index("network")
    welch = compare_groups([110.0, 111.0], [120.0, 121.0])
    assert table.loc[SEARCHED[0], "test"] == "welch"
    assert table.loc[SEARCHED[0], "p"] == pytest.approx(welch["p"])
    assert table.loc[SEARCHED[0], "delta_lo"] == pytest.approx(welch["lo"])
    assert table.loc[SEARCHED[1], "verdict"] == "undecided" and pd.isna(table.loc[SEARCHED[1], "delta_lo"])


def test_older_runs_still_have_a_table_without_speed():
    from reports.tables import comparison
    table = comparison(loaded(EXAMPLE_RUN))
    assert set(table["verdict"]) == {"undecided", "reference"}
    assert table["infer_img_s"].isna().all() and table["infer_x"].isna().all()


# --- the narrative ----------------------------------------------------------------------------------------------

def test_a_clear_win_is_worded_as_one_with_its_interval(tmp_path):
    text = text_of(write_run(tmp_path / "win", standard()))
    assert f"{SEARCHED[0]} scores 110.30 ± 0.42 mm over 2 seeds against resnet34d's 120.50 ± 0.71 mm" in text
    assert "95 % interval" in text and "paired t-test" in text and "better than resnet34d" in text
    assert in_short(tmp_path / "win").startswith(f"**In short:** the search's pick ({SEARCHED[0]}) beats "
                                                  "resnet34d: 8.5 % lower")
    assert "on the 8 test subjects, which nothing was picked on, 2 seeds" in in_short(tmp_path / "win")


def test_a_clear_loss_is_worded_as_one(tmp_path):
    models = standard(best=(126.0, 126.5), controls=(130.0, 131.0, 132.0, 133.0))
    models[1]["scores"], models[2]["scores"] = [127.0, 127.5], [128.0, 128.5]
    text = text_of(write_run(tmp_path / "loss", models))
    assert "The searched architectures do not beat resnet34d on mean score" in text
    assert "worse than resnet34d" in text and "better than resnet34d" not in text
    assert "loses to resnet34d" in in_short(tmp_path / "loss")


def test_an_interval_containing_zero_is_no_measurable_difference(tmp_path):
    models = standard(best=(119.0, 122.0))  # reference 120, 121: the paired differences are -1 and +1
    models[1]["scores"], models[2]["scores"] = [123.0, 123.6], [124.0, 124.6]
    root = write_run(tmp_path / "tie", models)
    short = in_short(root)
    clause = short.split(";")[0]
    assert "no measurable difference" in clause and not VERDICT_WORDS.search(clause), clause
    assert "no measurable difference" in text_of(root)
    assert f"{SEARCHED[0]} shows no measurable difference in error" in text_of(root)


def test_a_toy_run_claims_nothing(tmp_path):
    root = write_run(tmp_path / "toy", standard(), preset="smoke", final_epochs=2, final_res=32)
    text, short = text_of(root), in_short(root)
    assert text.startswith("**Toy run**") and "not meaningful" in text
    assert not VERDICT_WORDS.search(short), short
    body = text.split("Full scores of this toy run", 1)[1]
    assert not VERDICT_WORDS.search(body.split("Proxy fidelity")[0]), body
    assert "Not answered" in text


# --- random controls and speed ---------------------------------------------------------------------------------

def test_the_controls_answer_yes_when_every_pick_beats_every_control(tmp_path):
    text = text_of(write_run(tmp_path / "yes", standard()))  # 3 picks vs 4 controls: p = 1/35
    assert "Did the search pick lower-scoring architectures than random draws from the same window? yes " \
           "(one-sided Mann-Whitney p = 0.029)" in text
    assert "searched picks against random picks from the window: yes (one-sided Mann-Whitney p = 0.029)" in \
        in_short(tmp_path / "yes")


def test_the_controls_answer_undecided_when_the_data_cannot_tell(tmp_path):
    root = write_run(tmp_path / "three", standard(controls=(125.0, 126.0, 127.0)))  # 3 vs 3: p >= 0.05 always
    text = text_of(root)
    assert "same window? undecided: with 3 searched picks and 3 random controls the smallest one-sided p" in text
    assert "searched picks against random picks from the window: undecided" in in_short(root)
    assert "no random controls" in text_of(EXAMPLE_RUN)


def test_speed_sentence_when_the_searched_net_is_slower_at_inference(tmp_path):
    text = text_of(write_run(tmp_path / "slow", standard()))
    assert f"Measured alone on {DEVICE}, {SEARCHED[0]} infers at 17,082 img/s (batch 256)" in text
    assert "0.84x its inference img/s" in text and "1.17x its batch-1 latency" in text
    assert f"So {SEARCHED[0]} wins on error only: it is slower at inference (0.84x resnet34d's img/s" in text
    assert "it wins on error only" in in_short(tmp_path / "slow")


def test_speed_sentence_when_the_searched_net_is_faster_at_inference(tmp_path):
    text = text_of(write_run(tmp_path / "fast", standard(best_speed=FAST)))
    assert f"So {SEARCHED[0]} wins on both error and measured inference speed against resnet34d" in text
    assert "1.20x its inference img/s" in text
    assert "it wins on both error and inference speed" in in_short(tmp_path / "fast")


def test_speed_not_measured_is_said(tmp_path):
    text = text_of(write_run(tmp_path / "nospeed", standard(best_speed=None, ref_speed=None)))
    assert "Speed was not measured in this run" in text and "FLOPs are not speed" in text


# --- figures and the whole report -------------------------------------------------------------------------------

def test_figures_with_and_without_speed_columns(tmp_path):
    from reports.figures import make_figures
    with_speed = make_figures(loaded(write_run(tmp_path / "a", standard())), tmp_path / "fa")
    names = {f.name: f for f in with_speed}
    assert {"score_vs_flops", "score_vs_latency", "error_terms"} <= set(names)
    for f in with_speed:
        check_png(f.path)
    assert "squares: random controls" in names["score_vs_latency"].caption
    assert "bars: one sd over seeds" in names["score_vs_flops"].caption
    one_seed = make_figures(loaded(write_run(tmp_path / "b", standard(best_speed=None, ref_speed=None, seeds=(0,)))),
                            tmp_path / "fb")
    names = {f.name: f for f in one_seed}
    assert "score_vs_latency" not in names and "score_vs_flops" in names
    assert not (tmp_path / "fb" / "score_vs_latency.png").exists()
    for f in one_seed:
        assert "bars: one sd" not in f.caption, (f.name, f.caption)
    assert "no error bars" in names["score_vs_flops"].caption and "no error bars" in names["error_terms"].caption


def test_nas_report_end_to_end(tmp_path):
    root = write_run(tmp_path / "e2e", standard())
    assert main([str(root)]) == 0
    md = (root / "report" / "report.md").read_text()
    head = md.split("## What this run shows")[0]
    assert head.startswith("# Report: search (nas-search) `e2e`\n\n- **Data:** synthetic procedural faces")
    for words in ("**Subjects:** 35 train / 7 selection / 8 test", "**Seeds:** 2 seeds", f"**Device:** speeds "
                  f"measured alone on {DEVICE}"):
        assert words in head
    assert "## Measured speed" in md and "## Final comparison" in md
    assert "| verdict |" in md and "| better |" in md and "(paired t)" in md
    assert "score_vs_latency.png" in md and (root / "report" / "figures" / "score_vs_latency.png").is_file()
    html = (root / "report" / "report.html").read_text()
    assert '<ul class="provenance"><li><strong>Data:</strong> synthetic procedural faces' in html
    table = pd.read_csv(root / "report" / "tables" / "comparison.csv")
    assert {"delta_lo", "delta_hi", "pct_lo", "pct_hi", "p", "test", "verdict", "train_x", "infer_x", "latency_x",
            "latency_ms_b1_iqr", "kind", "seeds"} <= set(table.columns)
    assert set(table["kind"]) == {"searched", "control", "baseline"}


# --- nas-ablate's Table 1 -------------------------------------------------------------------------------------

ABLATION = {"resnet34d": (146.0, 147.0), "resnet34d-noflip": (150.0, 151.2), "resnet18d": (145.0, 148.0),
            "resnet50d": (142.0, 143.5), "searched": (143.0, 144.1), "resnet34d-noedge": (146.5, 146.0),
            "ensemble": (140.0, 141.0)}


def write_ablation(root: Path, seeds: tuple = (0, 1), **config: Any) -> Path:
    root.mkdir(parents=True)
    cfg = {"epochs": 15, "seeds": len(seeds), "seed": 0, "res": 256, "name": root.name, "command": "nas-ablate",
           "searched": SEARCHED[0], **config}
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    (root / "summary.json").write_text(json.dumps({"ablation": "done", "splits": SUBJECTS}))
    rows = [{"experiment": key, "seed": seed, "label": f"{key}-s{seed}", "arch": REF_ARCH,
             "kind": "searched" if key == "searched" else "ensemble" if key == "ensemble" else "baseline",
             "gflops": 5.1, "params_m": 24.0, "score": score, "v1_v2": score / 3, "v1_v3": score / 3,
             "v1_v4_x10": score / 3, "status": "complete", "scored_on": "test"}
            for key, scores in ABLATION.items() for seed, score in zip(seeds, scores)]
    pd.DataFrame(rows).to_csv(root / "final.csv", index=False)
    return root


def test_table1_directions_only_where_the_interval_excludes_zero(tmp_path):
    from reports.tables import table1
    t = table1(loaded(write_ablation(tmp_path / "abl"))).set_index("experiment")
    assert t.loc["resnet34d-noflip", "direction"] == "the paper's direction"  # +4.1 mm, both seeds: paper +0.45
    assert t.loc["resnet50d", "direction"] == "opposite to the paper"  # -4 and -3.5 mm: the paper's +0.39
    assert t.loc["resnet18d", "direction"] == "no measurable difference"  # -1 and +1 mm
    assert t.loc["resnet34d", "direction"] == "reference"
    text = text_of(tmp_path / "abl")
    line = next(ln for ln in text.split("- ") if ln.startswith("Flip, ResNet18, L:"))
    assert "no measurable difference" in line and "paper's direction" not in line


def test_a_one_seed_ablation_never_states_a_direction(tmp_path):
    from reports.tables import table1
    t = table1(loaded(write_ablation(tmp_path / "one", seeds=(0,))))
    assert set(t["direction"]) == {"reference", "undecided"}
    text = text_of(tmp_path / "one")
    assert "the paper's direction" not in text and "opposite to the paper" not in text
