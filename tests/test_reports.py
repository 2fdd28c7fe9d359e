"""`nas-report` on a real (tiny, CPU) nas-search run and on the committed GPU run's tables: files, values against
the run's own tables, valid PNGs, a self-contained HTML, honest narrative, partial runs, and bad input."""
import base64
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _spaces import resolve_arch
from nas.runs import read_table
from reports.cli import main
from _report_helpers import BLOCKED_MAIN, EXAMPLE_RUN, check_png, copy_run

SEARCH_FIGURES = {"score_vs_flops", "score_vs_latency", "proxy_edf", "proxy_vs_full", "design_trends", "error_terms"}


@pytest.fixture(scope="module")
def search_run(tiny_cache, tmp_path_factory):
    """A finished nas-search run: 3 proxy trials, then one searched net beside resnet18d and resnet34d."""
    from nas.cli import main as search
    from test_nas_search import search_args
    out = tmp_path_factory.mktemp("runs")
    args = search_args(tiny_cache, out, "rep", 3) + ["--baselines", "resnet18d,resnet34d"]
    assert search(args) == 0
    return out / "rep"


@pytest.fixture(scope="module")
def search_report(search_run, tmp_path_factory):
    """nas-report of the search run, into its own folder."""
    out = tmp_path_factory.mktemp("report")
    assert main([str(search_run), "--out", str(out)]) == 0
    return out


@pytest.mark.ray
@pytest.mark.slow
def test_report_files(search_report):
    assert (search_report / "report.md").is_file() and (search_report / "report.html").is_file()
    figures = {p.stem for p in (search_report / "figures").glob("*.png")}
    assert figures == SEARCH_FIGURES
    for png in (search_report / "figures").glob("*.png"):
        check_png(png)
    assert {p.name for p in (search_report / "tables").glob("*.csv")} == {"comparison.csv", "trials.csv",
                                                                        "failures.csv"}
    md = (search_report / "report.md").read_text()
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (search_report / link).is_file()
    assert len(re.findall(r"!\[", md)) == len(figures)


@pytest.mark.ray
@pytest.mark.slow
def test_html_is_self_contained(search_report):
    page = (search_report / "report.html").read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs)
    assert "<link" not in page and "<script" not in page and "url(" not in page and "@import" not in page
    embedded = {base64.b64decode(r.split(",", 1)[1]) for r in refs}
    assert embedded == {p.read_bytes() for p in (search_report / "figures").glob("*.png")}


@pytest.mark.ray
@pytest.mark.slow
def test_tables_match_the_run(search_run, search_report):
    final = {r["label"]: r for r in read_table(search_run / "final.csv")}
    table = pd.read_csv(search_report / "tables" / "comparison.csv")
    assert set(table["network"]) == set(final)
    ref = float(final["resnet34d"]["score"])
    for _, row in table.iterrows():
        mine = final[row["network"]]
        for col in ("gflops", "params_m", "proxy_score", "score", "v1_v2", "v1_v3", "v1_v4_x10"):
            assert row[col] == pytest.approx(float(mine[col]), rel=1e-12), col
        assert row["delta_vs_reference"] == pytest.approx(float(mine["score"]) - ref)
        assert row["seeds"] == 1 and np.isnan(row["score_sd"])
    assert list(table["score"]) == sorted(table["score"])
    trials = pd.read_csv(search_report / "tables" / "trials.csv")
    source = read_table(search_run / "trials.csv")
    assert list(trials["arch"]) == [r["arch"] for r in source]
    assert np.allclose(trials["proxy_score"], [float(r["proxy_score"]) for r in source])
    for _, row in trials.iterrows():
        arch = resolve_arch(row["arch"])
        assert [row[f"d{i}"] for i in range(1, 5)] == list(arch.depths)
        assert [row[f"w{i}"] for i in range(1, 5)] == list(arch.widths)


@pytest.mark.ray
@pytest.mark.slow
def test_narrative_states_the_run(search_run, search_report):
    md = (search_report / "report.md").read_text()
    summary = json.loads((search_run / "summary.json").read_text())["rank_correlation"]
    final = [r for r in read_table(search_run / "final.csv")]
    tau = stats.kendalltau([float(r["proxy_score"]) for r in final], [float(r["score"]) for r in final]).statistic
    assert tau == pytest.approx(summary["kendall_tau"])
    assert f"Kendall tau {tau:+.2f}" in md and "complete" in md and "Partial" not in md
    # a smoke run is a toy: its scores are listed, and no difference is worded as a win or a loss
    assert "**Toy run**" in md and "Full scores of this toy run (not a comparison)" in md
    short = next(line for line in md.splitlines() if line.startswith("**In short:**"))
    assert "a toy run: these numbers are not meaningful" in short
    assert not re.search(r"\b(beats|loses to|better|worse|wins)\b", short), short


def test_example_gpu_run_narrative():
    """The committed H100 run: the searched nets scored lower than resnet34d; the proxy's backward ranking of 4
    models (tau -0.67, exact p = 0.33) cannot be told from chance."""
    from reports.narrative import narrative
    from reports.tables import comparison, load_run
    run = load_run(EXAMPLE_RUN)
    text = "\n".join(narrative(run))
    # the pick named is the proxy's top pick (chosen before any held-out score), not the best by held-out score
    assert "The search's pick (its best proxy score on the selection subjects), d3.15.1.8_w32.80.432.464, scores " \
           "189.83 mm, 14.22 mm (7.0%) lower than resnet34d (204.05 mm)" in text
    assert "Kendall tau -0.67 (p = 0.33), Spearman rho -0.80" in text and "cannot be told from chance" in text
    table = comparison(run)
    assert table["network"].iloc[0] == "d16.15.19.4_w32.48.144.432"
    assert table.set_index("network").loc["resnet18d", "delta_pct"] == pytest.approx(
        100 * (250.36141591142984 - 204.05220938363303) / 204.05220938363303)


def test_a_searched_net_that_loses_is_called_a_loser(tmp_path):
    run = copy_run(EXAMPLE_RUN, tmp_path / "lost")
    final = pd.read_csv(run / "final.csv")
    final.loc[final["kind"] == "searched", "score"] = [210.5, 215.0]
    final.to_csv(run / "final.csv", index=False)
    assert main([str(run), "--format", "md"]) == 0
    md = (run / "report" / "report.md").read_text()
    assert "The searched architectures do not beat resnet34d" in md
    # one seed each: no interval, so the headline is undecided rather than a loss
    assert ("**In short:** the search's pick (d3.15.1.8_w32.80.432.464) against resnet34d: undecided (+3.2 %, "
            "but with 1 seed against 1 there is no interval") in md
    assert "6.45 mm (3.2%) higher than resnet34d (204.05 mm)" in md
    assert not (run / "report" / "report.html").exists()


def test_two_proxies_over_four_models_are_both_chance(tmp_path):
    """Over 4 models even perfect agreement has exact p = 2/4! = 0.083: neither proxy is named the better."""
    run = copy_run(EXAMPLE_RUN, tmp_path / "proxies")
    final = pd.read_csv(run / "final.csv")
    final["proxy_final"] = final["proxy_score"]
    final["proxy_tse"] = final["score"] * 0.01 + np.array([0.0, 0.3, 0.0, 0.0])  # one pair swapped
    final.to_csv(run / "final.csv", index=False)
    assert main([str(run), "--format", "md"]) == 0
    md = " ".join((run / "report" / "report.md").read_text().split())
    fit = {p: stats.kendalltau(final[f"proxy_{p}"], final["score"]) for p in ("final", "tse")}
    assert fit["tse"].statistic > fit["final"].statistic and min(f.pvalue for f in fit.values()) >= 0.05
    assert (f"the last validation score gives Kendall tau {fit['final'].statistic:+.2f} (p = {fit['final'].pvalue:.2g})"
            f" and the sum of training losses (TSE) gives Kendall tau {fit['tse'].statistic:+.2f} "
            f"(p = {fit['tse'].pvalue:.2g})") in md
    assert "none of them ranks these models measurably better than chance" in md and "ranked them best" not in md


def test_failed_trials_and_their_reasons(tmp_path):
    run = copy_run(EXAMPLE_RUN, tmp_path / "failed")
    trials = pd.read_csv(run / "trials.csv", dtype={"failure": object})
    reason = "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    trials.loc[[1, 5], ["status", "proxy_score", "failure"]] = ["failed", np.nan, reason]
    trials.to_csv(run / "trials.csv", index=False)
    assert main([str(run), "--format", "md"]) == 0
    md = (run / "report" / "report.md").read_text()
    assert "2 failed" in md and reason in md and trials.loc[1, "arch"] in md
    fails = pd.read_csv(run / "report" / "tables" / "failures.csv")
    assert fails.to_dict("records") == [{"stage": "stage 1", "reason": reason, "count": 2,
                                         "examples": f"{trials.loc[1, 'arch']}, {trials.loc[5, 'arch']}"}]


@pytest.mark.ray
@pytest.mark.slow
def test_partial_runs_are_reported_as_partial(search_run, tmp_path, capsys):
    run = copy_run(search_run, tmp_path / "killed")
    rows = read_table(run / "trials.csv")[:2]
    pd.DataFrame(rows).to_csv(run / "trials.csv", index=False)
    (run / "final.csv").unlink()
    (run / "summary.json").write_text(json.dumps({"stage1": "running"}))
    assert main([str(run)]) == 0
    assert "partial run" in capsys.readouterr().err
    md = (run / "report" / "report.md").read_text()
    assert "**Partial run**: stage 1 is unfinished" in md and "2 of 3 proxy trials finished" in md
    assert "stage 2 is not started" in md
    assert 'class="partial"' in (run / "report" / "report.html").read_text()
    assert {p.stem for p in (run / "report" / "figures").glob("*.png")} == {"score_vs_flops", "proxy_edf",
                                                                          "design_trends"}
    fresh = copy_run(search_run, tmp_path / "fresh")  # killed before any trial finished
    for name in ("trials.csv", "final.csv", "summary.json"):
        (fresh / name).unlink()
    assert main([str(fresh)]) == 0
    assert "0 of 3 proxy trials finished" in (fresh / "report" / "report.md").read_text()


CONFIG = "budget: 5G\n"


@pytest.mark.parametrize("files,needle", [
    (None, "no such run folder"),
    ({}, "no config.yaml"),
    ({"config.yaml": "budget: [5G\n"}, "config.yaml"),
    ({"config.yaml": "- just a list\n"}, "config.yaml"),
    ({"config.yaml": CONFIG, "final.csv": b"\x89PNG\x00\xff\xfe"}, "final.csv"),
    ({"config.yaml": CONFIG, "trials.csv": "a,b\n1,2\n"}, "trials.csv"),
    ({"config.yaml": CONFIG, "summary.json": "{oops"}, "summary.json"),
])
def test_bad_run_folder_is_one_line_exit_2(tmp_path, capsys, files, needle):
    folder = tmp_path / "run"
    if files is not None:
        folder.mkdir()
        for name, content in files.items():
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main([str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nas-report: error:") and needle in err[0], err
    assert not (folder / "report").exists()


def test_bad_format_is_exit_2(capsys):
    assert main([str(EXAMPLE_RUN), "--format", "pdf", "--out", "/nonexistent/never"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pdf" in err[0]


def test_reports_render_with_torch_timm_and_ray_blocked(tmp_path):
    """A report needs the run folder's files only: importing torch, timm or Ray fails here, and it still renders."""
    done = subprocess.run([sys.executable, "-c", BLOCKED_MAIN, str(EXAMPLE_RUN), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "r" / "report.html").is_file() and (tmp_path / "r" / "report.md").is_file()


def test_reports_import_no_training_code_and_no_ray():
    code = ("import sys, reports.cli, reports.render, reports.figures, reports.narrative, reports.tables, "
            "reports.fidelity_figures, reports.fidelity_narrative, reports.provenance, reports.verdicts, "
            "reports.versus, reports.final_figures, reports.plotting, reports.wording;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('ray', 'torch', 'timm', 'cv2')"
            " or m == 'trainers.train' or m == 'nas.final' or m == 'nas.trial'];"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_pareto_front_against_brute_force():
    from reports.figures import pareto_front
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 5, 40), rng.uniform(0, 5, 40)
    front = set(pareto_front(x, y))
    dominated = {i for i in range(40) if any((x[j] <= x[i] and y[j] < y[i]) or (x[j] < x[i] and y[j] <= y[i])
                                             for j in range(40))}
    assert front == set(range(40)) - dominated
