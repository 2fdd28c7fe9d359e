"""The "what this run shows" paragraphs, written from the numbers and never beyond them: a difference is called
better or worse only where its 95 % interval over seeds excludes zero (`reports.wording`), a toy run claims
nothing, weak proxies are called weak, partial runs are called partial. The stage-2 sentences (against the
reference, against random controls, measured speed) are in `reports.verdicts`."""
from __future__ import annotations

import pandas as pd

from reports.paper import TABLE1
from reports.proxy_words import best_row, ranks_better, run_proxy, value as proxy_value
from reports.run import is_toy
from reports.tables import REFERENCE, Run, comparison, failures, per_model, proxy_fidelity, reference, run_status
from reports.verdicts import ablation_stats, and_ as _and, controls_text, in_short_search, mm as _mm, seed_caveat, \
    speed_text, stage2_text as _stage2_text
from reports.wording import ablation_phrase, compare_sentence, difference_phrase

__all__ = ["is_toy", "toy_banner", "narrative", "status_text", "in_short", "stage2_text", "ablation_text"]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def status_text(run: Run) -> str:
    """One sentence: complete, or partial and why; and any interruption it was resumed after."""
    status = run_status(run)
    stops = run.summary.get("interruptions") or []
    if run.summary.get("interrupted"):
        stops = [*stops, run.summary["interrupted"]]
    resumed = (f" It was interrupted {len(stops)} time(s) ({_and([_stop(i) for i in stops])})"
               + (" and resumed; trials that were running then were run again." if not run.summary.get("interrupted")
                  else "; resume it with --resume.")) if stops else ""
    if not status.partial:
        return f"Run `{run.name}` is complete.{resumed}"
    return (f"**Partial run**: {'; '.join(status.notes)}. This report shows what the run folder holds so far; "
            f"rankings and comparisons may change when the run finishes.{resumed}")


def _stop(interruption: dict) -> str:
    return f"in {interruption.get('stage', '?')} at {interruption.get('at', '?')}"


def toy_banner(run: Run) -> str:
    """The warning a toy run's report opens with."""
    c = run.config
    size = ", ".join(f"{v} {k}" for k, v in (("final epochs", c.get("final_epochs") or c.get("full_epochs")
                                                                or c.get("epochs")),
                                             ("px crops", c.get("final_res") or c.get("res"))) if v)
    return (f"**Toy run** (preset {c.get('preset', '?')}; {size}): networks this small and this briefly trained "
            "score mostly noise, so nothing below is a result about the architectures and no difference here is "
            "called a win or a loss.")


def failure_text(run: Run) -> str:
    """Failed trials and trainings with their reasons, or that none failed."""
    table = failures(run)
    if table.empty:
        return "No trial or training failed."
    parts = [f"{r['count']} in {r['stage']}: {r['reason']} ({r['examples']})" for _, r in table.iterrows()]
    return f"{int(table['count'].sum())} failed: " + "; ".join(parts) + "."


def stage1_text(run: Run) -> str:
    """How many architectures were sampled, how they ended, the best proxy, and the baselines' proxies."""
    t = run.trials
    if t.empty:
        return "Stage 1 has no finished trial yet."
    counts = t["status"].value_counts()
    cfg = run.config
    window = f" under a {cfg['budget']} budget" if cfg.get("budget") else ""
    lo, hi = t["gflops"].min(), t["gflops"].max()
    proxy = run_proxy(run)
    if proxy is not None and not proxy.trains:  # a zero-cost proxy: nothing was trained, nothing stopped early
        text = (f"Stage 1 scored {len(t)} sampled architectures{window} ({lo:.2f}-{hi:.2f} GFLOPs; "
                f"{cfg.get('sampler', 'unknown')} sampler) by {proxy.label}, without training: "
                f"{counts.get('complete', 0)} scored, {counts.get('failed', 0)} failed.")
    else:
        text = (f"Stage 1 trained {len(t)} sampled architectures{window} ({lo:.2f}-{hi:.2f} GFLOPs; "
                f"{cfg.get('sampler', 'unknown')} sampler): {counts.get('complete', 0)} ran every proxy epoch, "
                f"{counts.get('pruned', 0)} were stopped early, {counts.get('failed', 0)} failed.")
    done = t[(t["status"] == "complete") & t["proxy_score"].notna()]
    if done.empty:
        return text + " None has a proxy score yet, so there is no proxy ranking."
    best = best_row(run, done)
    text += (f" The best proxy score was {proxy_value(run, best['proxy_score'])} ({best['arch']}, "
             f"{best['gflops']:.2f} GFLOPs).")
    base = run.final[(run.final["kind"] == "baseline") & run.final["proxy_score"].notna()] if not run.final.empty \
        else run.final
    base = base.drop_duplicates("label")  # one row per model, whatever its seeds
    if len(base):
        beaten = [f"{r['label']} ({proxy_value(run, r['proxy_score'])})" for _, r in base.iterrows()
                  if ranks_better(run, r["proxy_score"], best["proxy_score"])]
        if beaten:
            text += f" The same proxy gave {_and(beaten)} a better proxy score than every sampled architecture."
    return text


def stage2_text(run: Run) -> str:
    """The best fully trained searched net against each baseline, worded by its interval over seeds."""
    return _stage2_text(run, is_toy(run))


FIDELITY = {
    "unclear": "whether the proxy ranks these models as full training does cannot be told from chance (p at least "
               "0.05, or a 95% interval that includes zero): on this run its ranking cannot be trusted to pick the "
               "best architecture",
    "reversed": "the proxy ranked these models mostly in the reverse order of full training: on this run its "
                "ranking cannot be trusted to pick the best architecture",
    "none": "the proxy ranking shows no agreement with full training: on this run it cannot be trusted to pick the "
            "best architecture",
    "weak": "the proxy ranking agrees only weakly with full training",
    "moderate": "the proxy ranking agrees moderately with full training",
    "good": "the proxy ranking agrees well with full training"}


SHORT = {"unclear": "cannot be told from chance", "reversed": "is mostly reversed by full training",
         "none": "does not agree with full training",
         "weak": "agrees weakly with full training", "moderate": "agrees moderately with full training",
         "good": "agrees well with full training"}


def _fidelity(fit: dict) -> str:
    """A word for a Kendall tau between proxy and full scores: "unclear" where p >= 0.05 or its interval includes
    zero."""
    lo, hi, p, tau = fit.get("kendall_lo"), fit.get("kendall_hi"), fit.get("kendall_p"), fit["kendall_tau"]
    if p is None or not p < 0.05 or (lo is not None and lo <= 0 <= hi):
        return "unclear"
    for word, upper in (("reversed", -0.4), ("none", 0.2), ("weak", 0.4), ("moderate", 0.7)):
        if tau < upper:
            return word
    return "good"


def _tau_interval(fit: dict) -> str:
    """Kendall tau's p-value and, where there is one, its bootstrap interval, as text."""
    lo, hi, p = fit.get("kendall_lo"), fit.get("kendall_hi"), fit.get("kendall_p")
    if p is None:
        return ""
    interval = "" if lo is None else f"95% interval {lo:+.2f} to {hi:+.2f} resampling models, "
    return f"{interval}p = {p:.2g}"


def _ablation_short(run: Run) -> list[str]:
    """The ablation's headline clauses: the searched net and the ensemble against ResNet34, beside the paper."""
    table = comparison(run).set_index("network")
    parts = []
    for key, name in (("searched", "the searched net"), ("ensemble", "the ensemble")):
        if key in table.index and pd.notna(table.loc[key, "score"]):
            paper = TABLE1[key].score / TABLE1[REFERENCE].score * 100 - 100
            phrase = difference_phrase(ablation_stats(run, key, REFERENCE), toy=is_toy(run))
            parts.append(f"{name} against ResNet34: {phrase} (paper: {paper:+.2f}%)")
    return parts


def in_short(run: Run) -> str:
    """One bold line: the searched net against the reference (interval-worded), its measured speed, whether the
    search beat random controls, and how far the proxy can be trusted."""
    table, ref_name = comparison(run).set_index("network"), reference(run)
    parts: list[str] = []
    if ref_name in table.index and pd.notna(table.loc[ref_name, "score"]):
        parts = _ablation_short(run) if run.kind == "ablation" else in_short_search(run, is_toy(run))
    fit = proxy_fidelity(run) if run.kind == "search" else {"kendall_tau": None}
    if fit["kendall_tau"] is not None:
        parts.append(f"the proxy's ranking {SHORT[_fidelity(fit)]} "
                     f"(Kendall tau {fit['kendall_tau']:+.2f} over {fit['models']} models, {_tau_interval(fit)})")
    return f"**In short:** {'; '.join(parts)}." if parts else ""


def proxy_text(run: Run) -> str:
    """Kendall tau and Spearman rho between proxy and full scores, and what they allow one to conclude."""
    fit = proxy_fidelity(run)
    n, tau, rho = fit["models"], fit["kendall_tau"], fit["spearman_rho"]
    if tau is None:
        return f"Proxy fidelity: only {n} stage-2 model(s) have both a proxy and a full score, too few to rank."
    text = (f"Proxy fidelity over the {n} stage-2 models: Kendall tau {tau:+.2f} ({_tau_interval(fit)}), "
            f"Spearman rho {rho:+.2f}; {FIDELITY[_fidelity(fit)]}.")
    if n <= 6:
        text += (f" With {n} models one swapped pair moves tau by {4 / (n * (n - 1)):.2f}, so these values are "
                 "very uncertain.")
    f = per_model(run).dropna(subset=["proxy_score", "score"])
    top = best_row(run, f)
    rank = int((f["score"] < top["score"]).sum()) + 1
    text += f" The proxy's favourite among them, {top['label']}, finished {_ordinal(rank)} of {len(f)} after full training."
    controls = int((f["kind"] == "control").sum())
    if controls:
        text += (f" Stage 2 trains the proxy's top architectures beside {controls} random control(s) from the window "
                 "and the baselines, so this reaches beyond the top of the ranking.")
    else:
        text += " Stage 2 trains only the proxy's top architectures, so this measures the top of the ranking."
    return text + _proxy_choice(run)


def _proxy_choice(run: Run) -> str:
    """Which of the recorded history proxies (last score, TSE, ...) ranked the stage-2 models closer to full
    training."""
    from nas.proxies import get_proxy, history_proxies
    names = [p for p in history_proxies() if f"proxy_{p}" in run.final.columns]
    fits = {p: proxy_fidelity(run, f"proxy_{p}") for p in names}
    if len(fits) < 2 or any(f["kendall_tau"] is None for f in fits.values()):
        return ""
    which = "Both proxies were" if len(fits) == 2 else f"All {len(fits)} proxies were"
    text = f" {which} recorded for every stage-2 model: " + _and(
        [f"{get_proxy(p).label} gives Kendall tau {f['kendall_tau']:+.2f} ({_tau_interval(f)})"
         for p, f in fits.items()]) + "; "
    agreeing = {p: f["kendall_tau"] for p, f in fits.items() if _fidelity(f) != "unclear" and f["kendall_tau"] > 0}
    if not agreeing:
        return text + "none of them ranks these models measurably better than chance."
    better = max(agreeing, key=agreeing.get)
    return text + (f"{get_proxy(better).label} ranked them best on this run (`--proxy-score {better}`; the difference "
                   "between the proxies is not tested).")


def _ablation_line(run: Run, key: str, toy: bool) -> str:
    """`- Flip, ResNet18, L: +0.64 mm: 1.9 % higher (95 % interval ...), Welch p = 0.01: the paper's direction;
    paper +0.64 (+1.87%)`: the paper's direction only where the interval excludes zero."""
    paper, ref = TABLE1[key], TABLE1[REFERENCE]
    stats = ablation_stats(run, key, REFERENCE)
    pd_ = paper.score - ref.score
    return (f"- {paper.aug}, {paper.network}, {paper.loss}: {stats['diff']:+.2f} mm, "
            f"{ablation_phrase(stats, pd_, toy=toy)}; paper {pd_:+.2f} ({100 * pd_ / ref.score:+.2f}%)")


def ablation_text(run: Run) -> str:
    """Each Table 1 experiment's change against ResNet34 with flip, with its interval, beside the paper's change."""
    table, toy = comparison(run).set_index("network"), is_toy(run)
    if REFERENCE not in table.index or pd.isna(table.loc[REFERENCE, "score"]):
        return f"The reference experiment ({REFERENCE}, flip, full loss) has no score yet: nothing to compare."
    parts = [_ablation_line(run, key, toy) for key in TABLE1
             if key != REFERENCE and key in table.index and pd.notna(table.loc[key, "score"])]
    verdict = ""
    if "searched" in table.index and pd.notna(table.loc["searched", "score"]):
        verdict = compare_sentence("The searched net", "ResNet34", ablation_stats(run, "searched", REFERENCE), toy=toy)
    return (f"Each experiment against ResNet34 with flip and the full loss ({_mm(table.loc[REFERENCE, 'score'])}):\n"
            + "\n".join(parts) + "\n\n" + verdict + " Absolute scores depend on the data (the paper's are on real "
            "WCPA subjects), so compare the changes." + seed_caveat(comparison(run)))


def narrative(run: Run) -> list[str]:
    """The report's "what this run shows" paragraphs."""
    head = [p for p in (toy_banner(run) if is_toy(run) else "", status_text(run), in_short(run)) if p]
    if run.kind == "ablation":
        return [*head, ablation_text(run), failure_text(run)]
    toy = is_toy(run)
    paragraphs = [*head, stage1_text(run), stage2_text(run), controls_text(run, toy), speed_text(run, toy)]
    paragraphs = [p for p in paragraphs if p]
    if not run.final.empty:
        paragraphs.append(proxy_text(run))
    paragraphs.append(failure_text(run))
    return paragraphs

