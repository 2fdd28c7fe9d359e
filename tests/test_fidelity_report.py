"""`nas-report` on nas-fidelity run folders built here from chosen numbers (no training): files, valid PNGs, a
self-contained HTML, the fidelity table against fidelity.csv, the narrative's sentences on constructed cases,
partial runs, bad files, and rendering without torch."""
import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from _report_helpers import BLOCKED_MAIN, check_png
from reports.cli import main

PROXIES = ("epochs_5", "tse", "synflow", "jacov")
FIDELITY = pd.DataFrame({  # chosen numbers: epochs_5 meets the goal, tse's lower end is below 0.3
    "proxy": ["tse", "epochs_5", "jacov", "synflow"],
    "kendall": [0.65, 0.72, 0.05, 0.40], "kendall_lo": [0.21, 0.55, -0.25, 0.10],
    "kendall_hi": [0.82, 0.85, 0.33, 0.62], "spearman": [0.80, 0.88, 0.07, 0.55],
    "spearman_lo": [0.35, 0.75, -0.35, 0.15], "spearman_hi": [0.93, 0.95, 0.45, 0.80],
    "repeat_kendall": [0.70, 0.80, 0.10, 0.95], "gpu_s_per_arch": [60.0, 120.0, 2.0, 2.5],
    "n": [13, 13, 13, 13], "direction": ["min", "min", "max", "max"]})
SUMMARY = {"n_archs": 13, "full_seeds": 2, "noise_ceiling_kendall": 0.81, "icc": 0.93,
           "recommended_proxy": "epochs_5", "rule": "the cheapest proxy whose Kendall interval's lower end is above "
                                                    "0.3 and whose tau is within the best's interval",
           "fidelity": "done", "full_gpu_s_per_arch": 3000.0}
CONFIG = {"command": "nas-fidelity", "name": "fid", "budget": "5G", "archs": 12, "full_epochs": 30, "full_seeds": 2,
          "proxies": list(PROXIES), "proxy_seeds": 2, "space": "resnet-d", "task": "faces"}


def models_frame(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """n window architectures and resnet34d: two full-training seeds, two seeds of each proxy."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=n + 1)  # lower: a better architecture
    frame = pd.DataFrame({"arch": [f"d{i}.2.2.2_w32.64.128.256" for i in range(n)] + ["resnet34d"],
                          "kind": ["window"] * n + ["baseline"], "gflops": rng.uniform(4.5, 5.0, n + 1).round(3),
                          "params_m": rng.uniform(10, 30, n + 1).round(2)})
    for s in range(2):
        frame[f"full_score_s{s}"] = 150 + 10 * q + rng.normal(0, 2, n + 1)
        frame[f"epochs_5_s{s}"] = 200 + 10 * q + rng.normal(0, 4, n + 1)
        frame[f"tse_s{s}"] = 50 + 3 * q + rng.normal(0, 3, n + 1)
        frame[f"synflow_s{s}"] = 1e3 * np.exp(-0.3 * q + rng.normal(0, 0.3, n + 1))  # higher is better
        frame[f"jacov_s{s}"] = rng.normal(size=n + 1)
    return frame


def fidelity_run(root: Path, fidelity: pd.DataFrame | None = None, summary: dict | None = None,
                 models: pd.DataFrame | None = None, **config) -> Path:
    """A nas-fidelity run folder written from the given tables (defaults: the module's chosen numbers)."""
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump({**CONFIG, **config}, sort_keys=False))
    (models_frame() if models is None else models).to_csv(root / "models.csv", index=False)
    (FIDELITY if fidelity is None else fidelity).to_csv(root / "fidelity.csv", index=False)
    (root / "summary.json").write_text(json.dumps(SUMMARY if summary is None else summary))
    return root


def story(root: Path) -> str:
    """The narrative of a run folder as one line of text."""
    from reports.fidelity_narrative import fidelity_narrative
    from reports.tables import load_run
    return " ".join(" ".join(fidelity_narrative(load_run(root))).split())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return fidelity_run(tmp_path_factory.mktemp("fid") / "fid")


@pytest.fixture(scope="module")
def report(run_dir):
    assert main([str(run_dir)]) == 0
    return run_dir / "report"


def test_files_and_figures(report):
    assert (report / "report.md").is_file() and (report / "report.html").is_file()
    assert {p.stem for p in (report / "figures").glob("*.png")} == {"fidelity_vs_cost", "proxy_vs_full"}
    for png in (report / "figures").glob("*.png"):
        check_png(png)
    assert {p.name for p in (report / "tables").glob("*.csv")} == {"fidelity.csv", "models.csv"}
    md = (report / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 2 and all((report / link).is_file() for link in links)
    assert md.startswith("# Report: proxy fidelity (nas-fidelity) `fid`")


def test_html_is_self_contained(report):
    page = (report / "report.html").read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs)
    assert "<link" not in page and "<script" not in page and "url(" not in page and "@import" not in page
    embedded = {base64.b64decode(r.split(",", 1)[1]) for r in refs}
    assert embedded == {p.read_bytes() for p in (report / "figures").glob("*.png")}


def test_fidelity_table_is_sorted_and_equals_fidelity_csv(run_dir, report):
    table = pd.read_csv(report / "tables" / "fidelity.csv")
    source = pd.read_csv(run_dir / "fidelity.csv")
    assert list(table["kendall"]) == sorted(source["kendall"], reverse=True)
    expected = source.sort_values("kendall", ascending=False).reset_index(drop=True)
    assert table["reference"].isna().all()  # the column a study without references lacks comes back empty
    pd.testing.assert_frame_equal(table[source.columns], expected, check_dtype=False)  # counts come back as floats
    md = (report / "report.md").read_text()
    rows = [line for line in md.splitlines() if re.match(r"\| \S+ \| [-+]\d", line)]
    assert [r.split("|")[1].strip() for r in rows] == list(expected["proxy"])
    assert "| epochs_5 | +0.72 [+0.55, +0.85] | +0.88 [+0.75, +0.95] | 0.80 | 120 | 4.0 | met |" in md
    assert "| tse | +0.65 [+0.21, +0.82] |" in md and "| 2.0 | not met |" in md


def test_models_copy_adds_the_means(run_dir, report):
    copy, source = pd.read_csv(report / "tables" / "models.csv"), pd.read_csv(run_dir / "models.csv")
    pd.testing.assert_frame_equal(copy[source.columns], source)
    for name in ("full_score", *PROXIES):
        assert np.allclose(copy[f"{name}_mean"], source[[f"{name}_s0", f"{name}_s1"]].mean(axis=1))


def test_narrative_of_the_complete_run(run_dir):
    text = story(run_dir)
    assert "Run `fid` is complete." in text and "Partial" not in text
    assert ("**In short:** the best proxy is epochs_5 (Kendall tau +0.72, 95% interval +0.55 to +0.85; noise "
            "ceiling +0.81); the issue's goal is met by epochs_5; the run recommends epochs_5.") in text
    assert "13 architectures (12 drawn at random from the 5G FLOP window and the baseline resnet34d)" in text
    assert "fully trained with 2 seeds of 30 epochs, each proxy run with 2 seeds." in text
    assert "Kendall tau +0.81 (ICC 0.93" in text and "The best proxy's tau (+0.72) is 0.09 below it." in text
    assert ("epochs_5 meets the issue's goal: Kendall tau +0.72 (95% interval +0.55 to +0.85) at 120 GPU-s per "
            "architecture, 4.0% of a full training.") in text
    assert "tse does not meet it: its interval's lower end +0.21 is not above 0.3" in text
    assert "jacov does not meet it: Kendall tau +0.05 is below 0.6 and its interval's lower end -0.25" in text
    assert "The interval of jacov (+0.05) includes zero: this run does not show that it ranks them at all." in text
    assert f"The run recommends epochs_5, by its rule: \"{SUMMARY['rule']}\". It meets the issue's goal." in text


def test_a_goal_missed_on_cost_and_on_the_interval(tmp_path):
    fid = FIDELITY.copy()
    fid.loc[fid["proxy"] == "epochs_5", "gpu_s_per_arch"] = 450.0  # 15% of a full training
    text = story(fidelity_run(tmp_path / "r", fidelity=fid))
    assert "No proxy meets the issue's goal." in text and "no proxy meets the issue's goal" in text
    assert "epochs_5 does not meet it: it costs 15% of a full training, more than 10%" in text
    assert "The run recommends epochs_5, by its rule" in text and "It does not meet the issue's goal: it costs 15%" \
        in text


def test_without_the_full_training_gpu_time_the_cost_is_not_judged(tmp_path):
    summary = {k: v for k, v in SUMMARY.items() if k != "full_gpu_s_per_arch"}
    text = story(fidelity_run(tmp_path / "r", summary=summary))
    assert "so the cost part cannot be checked" in text
    assert "epochs_5 meets the goal's ranking part" in text and "meets the issue's goal" not in text
    assert "tse does not meet it: its interval's lower end +0.21 is not above 0.3" in text


def test_one_proxy_one_full_seed_and_no_noise_ceiling(tmp_path):
    models = models_frame()[["arch", "kind", "gflops", "params_m", "full_score_s0", "tse_s0", "tse_s1"]]
    fid = FIDELITY[FIDELITY["proxy"] == "tse"].drop(columns=["gpu_s_per_arch", "direction", "n"])
    run = fidelity_run(tmp_path / "r", fidelity=fid, models=models, proxies=["tse"], full_seeds=1,
                       summary={"n_archs": 8, "noise_ceiling_kendall": float("nan"), "fidelity": "done"})
    text = story(run)
    assert "Run `fid` is complete." in text and "fully trained with 1 seed of 30 epochs" in text
    assert "With 8 architectures one swapped pair moves tau by 0.07." in text
    assert "With one full-training seed per architecture this run has no noise ceiling" in text
    assert "The one measured proxy, tse, against full training: Kendall tau +0.65" in text
    assert "GPU time not recorded" in text and "summary.json recommends no proxy yet." in text
    assert "No proxy meets the issue's goal. tse does not meet it: its interval's lower end +0.21" in text


def test_a_partial_run_is_called_partial(tmp_path, capsys):
    models = models_frame()
    models.loc[5:, ["full_score_s1", "jacov_s0", "jacov_s1"]] = np.nan  # 8 rows x 3 columns not run yet
    fid = FIDELITY.copy()
    fid.loc[fid["proxy"] == "jacov", ["kendall", "kendall_lo", "kendall_hi"]] = np.nan
    run = fidelity_run(tmp_path / "r", fidelity=fid, models=models, summary={**SUMMARY, "fidelity": "running"})
    total = 13 * 2 * 5
    text = story(run)
    assert text.startswith(f"**Partial run**: the fidelity measurement is unfinished (running when last written: "
                           f"still going, or stopped); {total - 24} of {total} score cells of models.csv are filled; "
                           "fidelity.csv has no Kendall tau yet for jacov.")
    assert main([str(run), "--format", "html"]) == 0
    assert "partial run" in capsys.readouterr().err
    assert 'class="partial"' in (run / "report" / "report.html").read_text()


def test_missing_cells_make_a_run_partial_whatever_summary_says(tmp_path):
    from reports.tables import load_run, run_status
    models = models_frame()
    models.loc[0, "tse_s1"] = np.nan
    status = run_status(load_run(fidelity_run(tmp_path / "r", models=models)))
    assert status.partial and status.notes == ["129 of 130 score cells of models.csv are filled"]
    fresh = tmp_path / "fresh"  # started: only its config
    fresh.mkdir()
    (fresh / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    assert main([str(fresh), "--format", "md"]) == 0
    md = (fresh / "report" / "report.md").read_text()
    assert "**Partial run**: the fidelity measurement is not started; models.csv has no architecture yet" in md
    assert "fidelity.csv has no measured proxy yet." in md


def _exact_models(swap: bool) -> pd.DataFrame:
    """`a` ranks exactly as full training; `b` is random (swap=False) or `a` with one pair swapped (swap=True)."""
    models = models_frame()[["arch", "kind", "gflops", "params_m", "full_score_s0", "full_score_s1"]]
    full = models[["full_score_s0", "full_score_s1"]].mean(axis=1).to_numpy()
    b = full.copy()
    if swap:
        i, j = np.argsort(full)[[5, 6]]
        b[i], b[j] = b[j], b[i]
    else:
        b = np.random.default_rng(1).permutation(full)
    for s in range(2):
        models[f"a_s{s}"], models[f"b_s{s}"] = full, b
    return models


@pytest.mark.parametrize("swap", [False, True])
def test_differences_are_called_differences_only_outside_zero(tmp_path, swap):
    models = _exact_models(swap)
    full = models[["full_score_s0", "full_score_s1"]].mean(axis=1)
    tau_b = stats.kendalltau(models["b_s0"], full).statistic
    fid = pd.DataFrame({"proxy": ["a", "b"], "kendall": [1.0, tau_b], "kendall_lo": [0.9, tau_b - 0.3],
                        "kendall_hi": [1.0, min(1.0, tau_b + 0.3)], "gpu_s_per_arch": [100.0, 10.0]})
    summary = {**SUMMARY, "recommended_proxy": "b"}
    text = story(fidelity_run(tmp_path / "r", fidelity=fid, models=models, summary=summary, proxies=["a", "b"]))
    if swap:
        assert f"a's tau is {1 - tau_b:.2f} higher than that of the runner-up b, but the paired bootstrap over the " \
               "13 architectures of models.csv puts the difference between +0.00 and" in text
        assert "which includes zero: this run does not show a difference between them." in text
        assert "ranks closer to full training than" not in text
    else:
        assert "a ranks closer to full training than b (the runner-up): the paired bootstrap over the 13" in text
        assert "a ranks closer to full training than b (the recommended proxy)" in text


def test_without_paired_scores_overlapping_intervals_are_no_difference(tmp_path):
    models = models_frame()[["arch", "kind", "gflops", "params_m", "full_score_s0", "full_score_s1"]]
    text = story(fidelity_run(tmp_path / "r", models=models))
    assert ("epochs_5's tau is 0.07 higher than that of the runner-up tse, but their 95% intervals overlap: this "
            "run does not show a difference between them.") in text


def test_tau_b_matches_scipy():
    from reports.fidelity import tau_b
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, (6, 15)).astype(float), rng.normal(size=(6, 15))
    assert np.allclose(tau_b(x, y), [stats.kendalltau(a, b).statistic for a, b in zip(x, y)])


def _write(folder: Path, name: str, content: "str | bytes") -> None:
    (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())


@pytest.mark.parametrize("name,content,needle", [
    ("models.csv", b"\x89PNG\x00\xff\xfe", "models.csv: not a readable CSV table"),
    ("models.csv", "kind,gflops\nwindow,5\n", "models.csv: not a table of nas-fidelity (no column arch)"),
    ("models.csv", "arch,gflops,full_score_s0\na,5,oops\n", "models.csv: column full_score_s0, line 2: 'oops'"),
    ("models.csv", "arch,gflops\na,5,6\n", "models.csv: line 2 has more cells than the header"),
    ("fidelity.csv", "proxy,spearman\ntse,0.5\n", "fidelity.csv: not a table of nas-fidelity (no column kendall)"),
    ("fidelity.csv", "proxy,kendall\ntse,high\n", "fidelity.csv: column kendall, line 2: 'high' is not a number"),
    ("fidelity.csv", "proxy,kendall\ntse,1.7\n", "fidelity.csv: column kendall, line 2: 1.7 is not a rank"),
    ("fidelity.csv", "proxy,kendall\ntse,0.5\ntse,0.6\n", "fidelity.csv: proxy 'tse' has more than one row"),
    ("summary.json", "{oops", "summary.json: not valid JSON"),
    ("summary.json", "[1, 2]", "summary.json: not a JSON object"),
    ("summary.json", '{"noise_ceiling_kendall": "high"}', "summary.json: noise_ceiling_kendall is 'high'"),
])
def test_bad_files_are_one_line_exit_2(tmp_path, capsys, name, content, needle):
    run = fidelity_run(tmp_path / "r")
    _write(run, name, content)
    assert main([str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nas-report: error:") and needle in err[0], err
    assert not (run / "report").exists()


def test_fidelity_reports_render_with_torch_timm_and_ray_blocked(tmp_path):
    """A fidelity report needs the run folder's files only: importing torch, timm or Ray fails, and it renders."""
    run = fidelity_run(tmp_path / "r")
    done = subprocess.run([sys.executable, "-c", BLOCKED_MAIN, str(run), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "out" / "report.html").is_file() and len(list((tmp_path / "out" / "figures").glob("*.png"))) == 2


def test_a_higher_is_better_proxy_without_a_direction_column(tmp_path):
    """`b` is `a` negated (higher is better): with no `direction` column the bootstrap takes its sign from
    fidelity.csv's tau, so two proxies that rank identically are not called different."""
    models = _exact_models(swap=False)
    full = models[["full_score_s0", "full_score_s1"]].mean(axis=1)
    for s in range(2):
        models[f"b_s{s}"] = -full
    fid = pd.DataFrame({"proxy": ["a", "b"], "kendall": [1.0, 1.0], "kendall_lo": [0.9, 0.9],
                        "kendall_hi": [1.0, 1.0], "gpu_s_per_arch": [100.0, 10.0]})
    text = story(fidelity_run(tmp_path / "r", fidelity=fid, models=models, proxies=["a", "b"]))
    assert ("a's tau is 0.00 higher than that of the runner-up b, but the paired bootstrap over the 13 architectures "
            "of models.csv puts the difference between +0.00 and +0.00 (95%)") in text


def test_full_training_seeds_without_measurable_agreement_are_said_so(tmp_path):
    rule = ("among proxies whose lower bound on Kendall tau (kendall_lo) is above zero, ...: no proxy's kendall_lo is "
            "above zero, none recommended")
    summary = {**SUMMARY, "noise_ceiling_kendall": -0.02, "noise_ceiling_kendall_lo": -0.45,
               "noise_ceiling_kendall_hi": 0.42, "icc": 0.06, "recommended_proxy": None, "rule": rule}
    text = story(fidelity_run(tmp_path / "r", summary=summary))
    assert "rank them with Kendall tau -0.02 (95% interval -0.45 to +0.42; ICC 0.06" in text
    assert "Here the interval includes zero: the seeds show no measurable agreement with each other" in text
    assert "full training's seeds show no measurable agreement with each other on these architectures; the run " \
           "recommends no proxy." in text
    assert f'The run recommends no proxy, by its rule: "{rule}".' in text
    opposed = story(fidelity_run(tmp_path / "o", summary={**summary, "noise_ceiling_kendall": -0.7,
                                                          "noise_ceiling_kendall_lo": -0.98,
                                                          "noise_ceiling_kendall_hi": -0.17}))
    assert "Here the interval lies below zero: the seeds rank the architectures measurably in opposite orders." \
        in opposed
    repeatable = story(fidelity_run(tmp_path / "s", summary={**SUMMARY, "noise_ceiling_kendall_lo": 0.6,
                                                             "noise_ceiling_kendall_hi": 0.95}))
    assert "(95% interval +0.60 to +0.95; ICC 0.93" in repeatable and "no measurable agreement" not in repeatable


def test_size_references_are_reported_beside_the_proxies_not_as_proxies(tmp_path):
    models = models_frame()
    models["ref_depth_s0"] = -3 * models["full_score_s0"] - 3 * models["full_score_s1"]  # bigger ranks better
    models["ref_params_s0"] = models["params_m"]
    refs = pd.DataFrame({"proxy": ["ref_depth", "ref_params"], "kendall": [0.90, 0.02], "kendall_lo": [0.75, -0.4],
                         "kendall_hi": [0.97, 0.42], "gpu_s_per_arch": [0.0, 0.0], "n": [13, 13],
                         "direction": ["max", "max"], "label": ["depth alone: the number of blocks", "size alone"],
                         "reference": ["yes", "yes"]})
    root = fidelity_run(tmp_path / "fid", pd.concat([FIDELITY.assign(reference=""), refs]), models=models)
    assert main([str(root)]) == 0
    md = (root / "report" / "report.md").read_text()
    assert "complete" in md and "Partial run" not in md  # one column each: no missing seed
    assert md.count("| reference (no training) |") == 2
    text = story(root)
    assert "The run compares 4 proxies" in text and "Of the 4 measured proxies" in text
    assert "Size alone, as references that train nothing and are never recommended" in text
    assert "ref_depth (depth alone: the number of blocks) at Kendall tau +0.90" in text
    # the best proxy against the best reference: a paired interval; synflow's values rank unlike depth's here
    assert "epochs_5's tau is 0.18 lower than that of the size reference ref_depth" in text
    table = pd.read_csv(root / "report" / "tables" / "fidelity.csv")
    assert list(table["proxy"])[-2:] == ["ref_depth", "ref_params"]


def test_a_paused_study_does_not_count_the_size_references_as_proxies(tmp_path):
    # models.csv of a paused study holds the references' columns before fidelity.csv has any row for them
    models = models_frame()
    models["ref_depth_s0"], models["ref_params_s0"] = 10.0, models["params_m"]
    models.loc[5:, ["full_score_s1"]] = np.nan
    run = fidelity_run(tmp_path / "r", models=models, summary={**SUMMARY, "fidelity": "paused"})
    text = story(run)
    total = 13 * 2 * 5  # full training and four proxies, two seeds each; the references' cells are not counted
    assert f"{total - 8} of {total} score cells of models.csv are filled" in text
    assert "ref_depth" not in text and "The run compares 4 proxies" in text


def test_the_short_line_names_size_alone_where_no_proxy_ranks_measurably_better(tmp_path):
    models = models_frame()
    models["ref_depth_s0"] = models["epochs_5_s0"] * -1.0  # exactly the ranking of epochs_5's first seed
    refs = pd.DataFrame({"proxy": ["ref_depth"], "kendall": [0.70], "kendall_lo": [0.5], "kendall_hi": [0.85],
                         "gpu_s_per_arch": [0.0], "n": [13], "direction": ["max"], "label": ["depth"],
                         "reference": ["yes"]})
    root = fidelity_run(tmp_path / "fid", pd.concat([FIDELITY.assign(reference=""), refs]), models=models)
    assert "ref_depth, size alone without training, ranks them at +0.70 with no measurable difference from epochs_5" \
        in story(root)
