"""A search ranked by a zero-cost proxy for which higher is better (SynFlow, the default preset's since issue 14):
the report picks, orders, words and plots it that way, never as a validation score in mm; and a run whose test
split is recorded says so before anything is scored."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from test_report_issue15 import in_short, loaded, model, ref, standard, text_of, write_run


def synflow_run(root):
    """A finished run ranked by SynFlow: trials.csv's proxy scores span ~200 decades, the largest is trial 7's."""
    write_run(root, standard(), proxy_score="synflow")
    trials = pd.read_csv(root / "trials.csv")
    trials["proxy_score"] = [10.0 ** (40 + 6 * i) for i in range(len(trials))]
    trials.loc[7, "proxy_score"] = 1e235
    trials["status"] = "complete"
    trials.to_csv(root / "trials.csv", index=False)
    return trials.loc[7, "arch"]


def test_the_best_stage1_architecture_is_the_highest_synflow_and_no_training_is_claimed(tmp_path):
    best = synflow_run(tmp_path / "run")
    text = text_of(tmp_path / "run")
    assert f"The best proxy score was 1e+235 ({best}," in text
    assert "without training" in text and "ran every proxy epoch" not in text
    assert "1e+235 mm" not in text


def test_the_top_trials_table_lists_the_highest_synflow_first(tmp_path):
    from reports.render import top_trials_table
    best = synflow_run(tmp_path / "run")
    table = top_trials_table(loaded(tmp_path / "run"))
    assert table.headers[4] == "proxy" and table.rows[0][1] == best and table.rows[0][4] == "1e+235"


@pytest.mark.parametrize("proxy, tau", [("synflow", 1.0), ("final", -1.0)])
def test_proxy_fidelity_is_positive_where_the_proxy_ranks_as_full_training(tmp_path, proxy, tau):
    """Higher proxy <-> lower (better) full score: perfect agreement for SynFlow, perfect disagreement for a score."""
    from reports.tables import proxy_fidelity
    models = [model(f"d{i}.1.1.1_w8.8.8.8", "searched", [100.0 + i, 100.5 + i], proxy=10.0 ** (100 - 10 * i))
              for i in range(4)] + [ref(proxy=1e20)]
    write_run(tmp_path / "run", models, proxy_score=proxy)
    fit = proxy_fidelity(loaded(tmp_path / "run"))
    assert fit["models"] == 5 and fit["kendall_tau"] == pytest.approx(tau)


def _agreeing_run(root, n: int, swaps: tuple = ()) -> None:
    """n SynFlow-ranked models, the higher proxy the lower (better) full score, with the listed pairs of
    neighbours swapped in full score."""
    scores = [100.0 + 2 * i for i in range(n)]
    for i in swaps:
        scores[i], scores[i + 1] = scores[i + 1], scores[i]
    models = [model(f"d{i + 1}.1.1.1_w8.8.8.8", "searched", [s, s + 0.5], proxy=10.0 ** (200 - 10 * i))
              for i, s in enumerate(scores[:-1])] + [ref([scores[-1], scores[-1] + 0.5], proxy=10.0 ** 20)]
    write_run(root, models, proxy_score="synflow")


@pytest.mark.parametrize("n, word", [(3, "cannot be told from chance"), (5, "agrees well with full training")])
def test_proxy_fidelity_is_worded_by_its_exact_p_value_over_few_models(tmp_path, n, word):
    """Perfect agreement over 3 models has p = 2/3! = 0.33: chance; over 5, p = 2/5! = 0.017."""
    _agreeing_run(tmp_path / "run", n)
    p = 2 / {3: 6, 5: 120}[n]
    assert f"the proxy's ranking {word} (Kendall tau +1.00 over {n} models, p = {p:.2g})" in in_short(tmp_path / "run")
    assert "interval" not in text_of(tmp_path / "run").split("Proxy fidelity")[1].split(";")[0]


def test_proxy_fidelity_over_many_models_has_scipys_bootstrap_interval(tmp_path):
    from scipy import stats

    from reports.tables import proxy_fidelity
    _agreeing_run(tmp_path / "run", 10, swaps=(0, 3, 6))
    fit = proxy_fidelity(loaded(tmp_path / "run"))
    x = -np.array([200.0 - 10 * i for i in range(10)])  # oriented: the proxy's better is lower, as the score's
    y = np.array([100.0 + 2 * i for i in range(10)])
    for i in (0, 3, 6):
        y[i], y[i + 1] = y[i + 1], y[i]
    y = y + 0.25  # the mean over the two seeds
    ref_ci = stats.bootstrap((x, y), lambda a, b: stats.kendalltau(a, b).statistic, paired=True, vectorized=False,
                             n_resamples=2000, method="percentile", rng=np.random.default_rng(0)).confidence_interval
    assert fit["kendall_tau"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert (fit["kendall_lo"], fit["kendall_hi"]) == pytest.approx((ref_ci.low, ref_ci.high))
    assert fit["kendall_p"] == pytest.approx(stats.kendalltau(x, y).pvalue)
    assert f"95% interval {ref_ci.low:+.2f} to {ref_ci.high:+.2f} resampling models" in in_short(tmp_path / "run")


def test_of_two_proxies_the_one_that_beats_chance_is_named(tmp_path):
    """6 models: TSE in full training's order (exact p = 2/6! = 0.003), the last score reversed: TSE is named."""
    _agreeing_run(tmp_path / "run", 6)
    final = pd.read_csv(tmp_path / "run" / "final.csv")
    final["proxy_tse"] = final["score"] * 0.01
    final["proxy_final"] = -final["score"]
    final.to_csv(tmp_path / "run" / "final.csv", index=False)
    text = text_of(tmp_path / "run")
    assert "the sum of training losses (TSE) gives Kendall tau +1.00 (p = 0.0028)" in text
    assert "the sum of training losses (TSE) ranked them best on this run (`--proxy-score tse`; the difference " \
           "between the proxies is not tested)" in text


def test_a_paused_run_with_a_test_split_says_it_will_be_scored_there(tmp_path):
    from reports.verdicts import where_scored
    write_run(tmp_path / "run", standard(), scored_on="")
    assert where_scored(loaded(tmp_path / "run")) == "on the 8 test subjects, which nothing was picked on"


def test_an_axis_spanning_two_hundred_decades_is_labelled():
    from reports.plotting import _log_if_wide, plt
    fig, ax = plt.subplots()
    values = np.array([8.5e37, 9.9e234])
    ax.plot(values, [0, 1])
    _log_if_wide(ax, values, axis="x")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    assert len(labels) >= 4
