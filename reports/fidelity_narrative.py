"""The "what this run shows" paragraphs of a nas-fidelity run, written from its numbers and never beyond them:
a proxy meets the issue's goal only where its numbers do, a difference between two proxies is called one only
where its interval excludes zero, and a partial run is called partial."""
from __future__ import annotations

from typing import Any

import pandas as pd

from reports.fidelity import GOAL_COST, GOAL_LOWER, GOAL_TAU, MEAN, Difference, Goal, tau_b, difference, \
    direction_sign, fidelity_table, full_gpu_s, goal, models_table, proxy_label, reference_table
from reports.fidelity_tables import FULL, fidelity_proxies, seed_columns
from reports.narrative import _and, status_text
from reports.run import Run


def _tau(x: Any) -> str:
    return "-" if x is None or pd.isna(x) else f"{x:+.2f}"


def _interval(row: pd.Series, col: str = "kendall") -> str:
    lo, hi = row.get(f"{col}_lo"), row.get(f"{col}_hi")
    return "no interval" if pd.isna(lo) or pd.isna(hi) else f"95% interval {lo:+.2f} to {hi:+.2f}"


def _gpu(x: Any) -> str:
    return "GPU time not recorded" if pd.isna(x) else f"{x:,.0f} GPU-s per architecture"


def _count(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def measured(run: Run) -> pd.DataFrame:
    """fidelity.csv's proxies that have a Kendall tau, best first."""
    t = fidelity_table(run)
    return t[t["kendall"].notna()].reset_index(drop=True)


def setup_text(run: Run) -> str:
    """How many architectures, of which kind, how many full-training and proxy seeds."""
    m, cfg = run.models, run.config
    if m.empty:
        return ""  # the status line says so
    kinds = m["kind"].fillna("").astype(str)
    window, bases = int((kinds == "window").sum()), list(m.loc[kinds == "baseline", "arch"])
    budget = f" from the {cfg['budget']} FLOP window" if cfg.get("budget") else " from the FLOP window"
    parts = [f"{window} drawn at random{budget}"] + ([f"the baseline{'s' if len(bases) > 1 else ''} {_and(bases)}"]
                                                     if bases else [])
    other = len(m) - window - len(bases)
    parts += [f"{other} of another kind"] if other else []
    epochs = f" of {cfg['full_epochs']} epochs" if cfg.get("full_epochs") else ""
    proxies = fidelity_proxies(run)
    seeds = sorted({len(seed_columns(m, p)) for p in proxies} - {0})
    proxy_seeds = "/".join(map(str, seeds)) + (" seed" if seeds == [1] else " seeds") if seeds else "no seed yet"
    text = (f"The run compares {_count(len(proxies), 'proxy', 'proxies')} with full training on {len(m)} "
            f"architectures ({_and(parts)}): each architecture fully trained with "
            f"{_count(len(seed_columns(m, FULL)), 'seed')}{epochs}, each proxy run with {proxy_seeds}.")
    ranked = run.fidelity["n"].dropna() if "n" in run.fidelity else pd.Series(dtype=float)
    n = ranked.max() if len(ranked) else run.summary.get("n_archs")  # a partial run ranks only what is scored
    if n:
        over = f"{ranked.min():g} to {n:g}" if len(ranked) and ranked.min() < n else f"{n:g}"
        text += (f" Rank correlations are over {over} architectures, their intervals bootstrap 95% intervals over "
                 "architectures; a positive tau means the proxy ranks them as full training does.")
        if n <= 10:
            text += f" With {n:g} architectures one swapped pair moves tau by {4 / (n * (n - 1)):.2f}."
    return text


def ceiling_text(run: Run) -> str:
    """The noise ceiling (tau between full-training seeds, ICC) and what it bounds."""
    c, icc = run.summary.get("noise_ceiling_kendall"), run.summary.get("icc")
    if c is None:
        if len(seed_columns(run.models, FULL)) <= 1:
            return ("With one full-training seed per architecture this run has no noise ceiling: it cannot tell how "
                    "much of a proxy's disagreement with full training is full training's own seed noise.")
        return "summary.json gives no noise ceiling yet."
    spread = (f"ICC {icc:.2f}: the share of the full scores' variance that lies between architectures rather than "
              "between seeds" if icc is not None else "")
    spread = "; ".join(x for x in (_ceiling_interval(run), spread) if x)
    spread = f" ({spread})" if spread else ""
    text = (f"Noise ceiling: two full trainings of the same architectures with different seeds rank them with Kendall "
            f"tau {c:+.2f}{spread}: a proxy at the ceiling agrees with full training as well as a second "
            "full-training seed does (against the mean of the seeds, as measured here, a proxy can exceed it).")
    hi = run.summary.get("noise_ceiling_kendall_hi")
    if unrepeatable(run):
        text += (" Here the interval lies below zero: the seeds rank the architectures measurably in opposite orders."
                 if hi is not None and hi < 0 else
                 " Here the interval includes zero: the seeds show no measurable agreement with each other on these "
                 "architectures, so on this data a proxy's agreement with full training is hard to show.")
    t = measured(run)
    if len(t):
        best = t.iloc[0]
        text += (f" The best proxy, {best['proxy']} (tau {best['kendall']:+.2f}), reaches it." if best["kendall"] >= c
                 else f" The best proxy's tau ({best['kendall']:+.2f}) is {c - best['kendall']:.2f} below it.")
    return text


def _ceiling_interval(run: Run) -> str:
    lo, hi = run.summary.get("noise_ceiling_kendall_lo"), run.summary.get("noise_ceiling_kendall_hi")
    return "" if lo is None or hi is None else f"95% interval {lo:+.2f} to {hi:+.2f}"


def unrepeatable(run: Run) -> bool:
    """Whether the noise ceiling's interval does not lie above zero (full training's seeds show no measurable
    agreement with each other)."""
    lo = run.summary.get("noise_ceiling_kendall_lo")
    return lo is not None and lo <= 0


def difference_text(d: Difference, role: str) -> str:
    """Whether proxy `d.a` ranks better than `d.b` (`role`: how b is named), never calling an interval that
    includes zero a difference."""
    than = f"{d.a}'s tau is {abs(d.delta):.2f} {'higher' if d.delta >= 0 else 'lower'} than that of {role} {d.b}"
    if d.shown is None:
        return f"{than}; without an interval for both, this run cannot say whether they differ."
    how = (f"the paired bootstrap over the {d.archs} architectures of models.csv puts the difference between "
           f"{d.lo:+.2f} and {d.hi:+.2f} (95%)" if d.archs else
           f"their 95% intervals {'do not overlap' if d.shown else 'overlap'}")
    if not d.shown:
        return (f"{than}, but {how}{', which includes zero' if d.archs else ''}: this run does not show a "
                "difference between them.")
    better, worse = (d.a, d.b) if (d.lo if d.archs else d.delta) > 0 else (d.b, d.a)
    return f"{better} ranks closer to full training than {worse} ({role}): {how}."


def best_text(run: Run) -> str:
    """The best proxy with its intervals, against the runner-up; proxies that rank backwards or not at all."""
    t = measured(run)
    if t.empty:
        return "fidelity.csv has no measured proxy yet."
    b = t.iloc[0]
    which = f"Of the {len(t)} measured proxies, {proxy_label(b)} ranks the architectures closest to full training" \
        if len(t) > 1 else f"The one measured proxy, {proxy_label(b)}, against full training"
    text = (f"{which}: Kendall tau {b['kendall']:+.2f} ({_interval(b)}), Spearman rho "
            f"{_tau(b['spearman'])} ({_interval(b, 'spearman')}); its two seeds agree with tau "
            f"{_tau(b['repeat_kendall'])}; {_gpu(b['gpu_s_per_arch'])}.")
    if len(t) > 1:
        text += " " + difference_text(difference(run, b["proxy"], t.iloc[1]["proxy"]), "the runner-up")
    return text + _zero_text(t)


def _zero_text(t: pd.DataFrame) -> str:
    """Proxies whose interval lies below zero (they rank backwards), or includes it (no ranking shown)."""
    backwards = [f"{r['proxy']} ({r['kendall']:+.2f})" for _, r in t.iterrows() if r["kendall_hi"] < 0]
    unclear = [f"{r['proxy']} ({r['kendall']:+.2f})" for _, r in t.iterrows()
               if r["kendall_lo"] <= 0 <= r["kendall_hi"]]
    text = ""
    if backwards:
        text += (f" {_and(backwards)} rank{'s' if len(backwards) == 1 else ''} the architectures in the opposite "
                 "order from full training (interval entirely below zero).")
    if unclear:
        one = len(unclear) == 1
        text += (f" The interval{'' if one else 's'} of {_and(unclear)} include{'s' if one else ''} zero: this run "
                 f"does not show that {'it ranks' if one else 'they rank'} them at all.")
    return text


def reference_text(run: Run) -> str:
    """How size alone ranks the architectures, against the best proxy, and the reference a proxy ranks like."""
    refs = reference_table(run).dropna(subset=["kendall"])
    if refs.empty:
        return ""
    each = [f"{proxy_label(r)} at Kendall tau {r['kendall']:+.2f} ({_interval(r)})" for _, r in refs.iterrows()]
    text = ("Size alone, as references that train nothing and are never recommended (the bigger network ranked "
            f"better): {_and(each)}." + _zero_text(refs))
    t, ref = measured(run), refs.iloc[0]
    if t.empty:
        return text
    text += " " + difference_text(difference(run, t.iloc[0]["proxy"], ref["proxy"]), "the size reference")
    proxy = run.summary.get("recommended_proxy") or t.iloc[0]["proxy"]
    like = _like(run, proxy, ref["proxy"])
    return text + (f" {proxy} ranks the architectures like {ref['proxy']} (Kendall tau {like:+.2f} between their "
                   "rankings): on this window it mostly measures the same thing." if like is not None and like >= 0.8
                   else "")


def _like(run: Run, a: str, b: str) -> float | None:
    """Kendall tau between the rankings two proxies give the architectures, each read in its own direction (None
    where fewer than 3 architectures have both, or a direction is unknown)."""
    m, rows = models_table(run), run.fidelity.set_index("proxy")
    cols = [a + MEAN, b + MEAN]
    signs = [direction_sign(rows.loc[p]) if p in rows.index else None for p in (a, b)]
    if not all(c in m for c in cols) or None in signs:
        return None
    both = m[cols].dropna().to_numpy(float)
    return None if len(both) < 3 else float(signs[0] * signs[1] * tau_b(both[None, :, 0], both[None, :, 1])[0])


def _goal_terms(run: Run) -> str:
    full_s = full_gpu_s(run)
    text = (f"The issue's goal: Kendall tau >= {GOAL_TAU} with the 95% interval's lower end above {GOAL_LOWER}, at "
            f"<= {100 * GOAL_COST:.0f}% of one full training's GPU time")
    if full_s:
        return text + f" ({full_s:,.0f} GPU-s per architecture, so <= {GOAL_COST * full_s:,.0f} GPU-s)."
    return (text + "; summary.json does not record a full training's GPU-seconds per architecture "
            "(`full_gpu_s_per_arch`), so the cost part cannot be checked.")


def _met(row: pd.Series, g: Goal) -> str:
    cost = f", {100 * g.cost_share:.1f}% of a full training" if g.cost_share is not None else ""
    return f"Kendall tau {row['kendall']:+.2f} ({_interval(row)}) at {_gpu(row['gpu_s_per_arch'])}{cost}"


def goal_text(run: Run) -> str:
    """Which proxies meet the issue's goal, and why each other one does not."""
    t = measured(run)
    if t.empty:
        return _goal_terms(run) + " No proxy has been measured yet."
    full_s = full_gpu_s(run)
    parts, missed = [_goal_terms(run)], []
    for _, row in t.iterrows():
        g = goal(row, full_s)
        if g.meets:
            parts.append(f"{row['proxy']} meets the issue's goal: {_met(row, g)}.")
        elif g.meets is None:
            parts.append(f"{row['proxy']} meets the goal's ranking part ({_met(row, g)}); its cost against a full "
                         "training cannot be checked.")
        else:
            missed.append(f"{row['proxy']} does not meet it: {_and(g.reasons)}")
    if len(parts) == 1:
        parts.append("No proxy meets the issue's goal.")
    return " ".join(parts) + ("" if not missed else " " + "; ".join(missed) + ".")


def recommendation_text(run: Run) -> str:
    """The recommended proxy, the rule that picked it, the goal for it, and how it compares with the best."""
    rec, rule = run.summary.get("recommended_proxy"), run.summary.get("rule")
    if not rec:
        return f"The run recommends no proxy, by its rule: \"{rule}\"." if rule else \
            "summary.json recommends no proxy yet."
    text = f"The run recommends {rec}" + (f", by its rule: \"{rule}\"." if rule else " (summary.json gives no rule).")
    t = measured(run)
    if rec not in set(t["proxy"]):
        return text + " It has no Kendall tau in fidelity.csv, so this report cannot check the choice."
    g = goal(t.set_index("proxy").loc[rec].to_dict() | {"proxy": rec}, full_gpu_s(run))
    if g.meets is None:
        text += " It meets the goal's ranking part; its cost cannot be checked."
    else:
        text += " It meets the issue's goal." if g.meets else f" It does not meet the issue's goal: {_and(g.reasons)}."
    best = t.iloc[0]["proxy"]
    if rec != best:
        text += " " + difference_text(difference(run, best, rec), "the recommended proxy")
    return text


def in_short(run: Run) -> str:
    """One bold line: the best proxy and its interval, the noise ceiling, the goal, the recommendation."""
    t = measured(run)
    if t.empty:
        return ""
    b, c = t.iloc[0], run.summary.get("noise_ceiling_kendall")
    lo, hi = b["kendall_lo"], b["kendall_hi"]
    parts = [f"the best proxy is {b['proxy']} (Kendall tau {b['kendall']:+.2f}"
             + ("" if pd.isna(lo) else f", 95% interval {lo:+.2f} to {hi:+.2f}")
             + ("" if c is None else f"; noise ceiling {c:+.2f}") + ")"]
    parts += _size_short(run, b["proxy"])
    checks = [goal(r, full_gpu_s(run)) for _, r in t.iterrows()]
    met, ranking = [g.proxy for g in checks if g.meets], [g.proxy for g in checks if g.meets is None]
    if met:
        parts.append(f"the issue's goal is met by {_and(met)}")
    elif ranking:
        parts.append(f"{_and(ranking)} meet{'s' if len(ranking) == 1 else ''} the goal's ranking part (its cost "
                     "cannot be checked)")
    else:
        parts.append("no proxy meets the issue's goal")
    if unrepeatable(run):
        parts.append("full training's seeds show no measurable agreement with each other on these architectures")
    if run.summary.get("recommended_proxy"):
        parts.append(f"the run recommends {run.summary['recommended_proxy']}")
    elif run.summary.get("rule"):
        parts.append("the run recommends no proxy")
    return f"**In short:** {'; '.join(parts)}."


def _size_short(run: Run, best: str) -> list[str]:
    """For the short line: the best size reference, where the run shows it ranks as well as the best proxy or
    better."""
    refs = reference_table(run).dropna(subset=["kendall"])
    if refs.empty:
        return []
    ref = refs.iloc[0]
    d = difference(run, best, ref["proxy"])
    said = f"{ref['proxy']}, size alone without training, ranks them at {ref['kendall']:+.2f}"
    if d.shown is False:
        return [f"{said} with no measurable difference from {best}"]
    return [f"{said}, measurably better than {best}"] if d.shown and (d.lo if d.archs else d.delta) < 0 else []


def fidelity_narrative(run: Run) -> list[str]:
    """The report's "what this run shows" paragraphs for a nas-fidelity run."""
    paragraphs = [status_text(run), in_short(run), setup_text(run), ceiling_text(run), best_text(run),
                  reference_text(run), goal_text(run), recommendation_text(run)]
    return [p for p in paragraphs if p]
