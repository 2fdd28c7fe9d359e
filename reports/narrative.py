"""The "what this run shows" paragraphs, written from the numbers and never beyond them: a searched net
that does not beat ResNet-34d is said not to, weak proxies are called weak, partial runs are called partial."""
from __future__ import annotations

import pandas as pd

from reports.paper import TABLE1
from reports.tables import REFERENCE, Run, comparison, failures, proxy_fidelity, reference, run_status


def _mm(x: float) -> str:
    return f"{x:.2f} mm"


def _diff(score: float, ref: float) -> str:
    """`15.12 mm (7.4%) lower` / `higher`."""
    d = score - ref
    word = "lower" if d < 0 else "higher"
    return f"{abs(d):.2f} mm ({100 * abs(d) / ref:.1f}%) {word}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _flops_relation(a: float, b: float) -> str:
    r = a / b
    if abs(r - 1) < 0.05:
        return f"at about the same FLOPs ({a:.2f} vs {b:.2f} G)"
    return f"at {r:.2f}x its FLOPs ({a:.2f} vs {b:.2f} G)"


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


def is_toy(run: Run) -> bool:
    """A smoke-preset or otherwise toy-sized run: its scores say nothing about the architectures."""
    c = run.config
    epochs = c.get("final_epochs") or c.get("full_epochs") or c.get("epochs") or 40
    return c.get("preset") == "smoke" or int(epochs) < 5 or int(c.get("final_res") or c.get("res") or 256) < 128


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
    text = (f"Stage 1 trained {len(t)} sampled architectures{window} ({lo:.2f}-{hi:.2f} GFLOPs; "
            f"{cfg.get('sampler', 'unknown')} sampler): {counts.get('complete', 0)} ran every proxy epoch, "
            f"{counts.get('pruned', 0)} were stopped early, {counts.get('failed', 0)} failed.")
    done = t[(t["status"] == "complete") & t["proxy_score"].notna()]
    if done.empty:
        return text + " None finished its proxy training, so there is no proxy ranking."
    best = done.loc[done["proxy_score"].idxmin()]
    text += f" The best proxy score was {_mm(best['proxy_score'])} ({best['arch']}, {best['gflops']:.2f} GFLOPs)."
    base = run.final[(run.final["kind"] == "baseline") & run.final["proxy_score"].notna()] if not run.final.empty \
        else run.final
    if len(base):
        beaten = [f"{r['label']} ({_mm(r['proxy_score'])})" for _, r in base.iterrows()
                  if r["proxy_score"] < best["proxy_score"]]
        if beaten:
            text += (f" The same proxy training gave {_and(beaten)} a better proxy score than every sampled "
                     "architecture.")
    return text


def _seed_caveat(table: pd.DataFrame) -> str:
    if table["seeds"].max() <= 1:
        return (" Each model was trained once, so this run does not measure seed-to-seed variation; "
                "differences of a few percent may not hold for other seeds.")
    return ""


def _compare(row: pd.Series, ref: pd.Series) -> str:
    """`15.12 mm (7.4%) lower than resnet34d (204.05 mm), at about the same FLOPs (...)`, noting seed noise."""
    text = (f"{_diff(row['score'], ref['score'])} than {ref['network']} ({_mm(ref['score'])}), "
            f"{_flops_relation(row['gflops'], ref['gflops'])}")
    sds = [s for s in (row.get("score_sd"), ref.get("score_sd")) if s is not None and pd.notna(s)]
    if sds and abs(row["score"] - ref["score"]) <= max(sds):
        text += f" (within one standard deviation over seeds, {max(sds):.2f} mm: not a clear difference)"
    return text


def stage2_text(run: Run) -> str:
    """The best fully trained searched net against each baseline, plainly when it loses to ResNet-34d."""
    table, ref_name = comparison(run), reference(run)
    done = table[table["score"].notna()]
    if done.empty:
        return "No full training has finished yet, so there is no comparison with the baselines."
    searched = done[done["kind"] == "searched"]
    baselines = done[done["kind"] == "baseline"]
    if searched.empty:
        return "No searched architecture has finished its full training yet."
    best = searched.iloc[0]
    ref = baselines[baselines["network"] == ref_name]
    if is_toy(run):
        scores = "; ".join(f"{r['network']} {_mm(r['score'])}" for _, r in done.iterrows())
        return f"Full scores of this toy run (not a comparison): {scores}."
    if ref.empty:
        text = (f"The best searched architecture, {best['network']}, scores {_mm(best['score'])}; {ref_name} has no "
                "full score in this run, so the comparison at equal FLOPs is missing.")
    else:
        ref = ref.iloc[0]
        wins = int((searched["score"] < ref["score"]).sum())
        if wins:
            text = f"The best searched architecture, {best['network']}, scores {_mm(best['score'])}, {_compare(best, ref)}."
            if len(searched) > 1:
                median = float(searched["score"].median())
                text += (f" It is the best of {len(searched)} picked on this same held-out score, so its margin is "
                         f"optimistic: {wins} of {len(searched)} fully trained searched architectures beat "
                         f"{ref_name}, and their median score is {_diff(median, ref['score'])}.")
        else:
            text = (f"The searched architectures do not beat {ref_name}: the best, {best['network']}, scores "
                    f"{_mm(best['score'])}, {_compare(best, ref)}.")
    others = [_compare(best, b) for _, b in baselines.iterrows() if b["network"] != ref_name]
    if others:
        text += " Against the other baselines it is " + "; ".join(others) + "."
    return text + _seed_caveat(done)


FIDELITY = {
    "reversed": "the proxy ranked these models mostly in the reverse order of full training: on this run its "
                "ranking cannot be trusted to pick the best architecture",
    "none": "the proxy ranking shows no agreement with full training: on this run it cannot be trusted to pick the "
            "best architecture",
    "weak": "the proxy ranking agrees only weakly with full training",
    "moderate": "the proxy ranking agrees moderately with full training",
    "good": "the proxy ranking agrees well with full training"}


SHORT = {"reversed": "is mostly reversed by full training", "none": "does not agree with full training",
         "weak": "agrees weakly with full training", "moderate": "agrees moderately with full training",
         "good": "agrees well with full training"}


def _fidelity(tau: float) -> str:
    """A word for a Kendall tau between proxy and full scores."""
    for word, upper in (("reversed", -0.4), ("none", 0.2), ("weak", 0.4), ("moderate", 0.7)):
        if tau < upper:
            return word
    return "good"


def in_short(run: Run) -> str:
    """One bold line: the searched net against resnet34d, and how far the proxy can be trusted."""
    table, ref_name = comparison(run).set_index("network"), reference(run)
    parts = []
    if ref_name in table.index and pd.notna(table.loc[ref_name, "score"]):
        done = table[table["score"].notna()]
        if run.kind == "ablation":
            for key, name in (("searched", "the searched net"), ("ensemble", "the ensemble")):
                if key in done.index:
                    pct, paper = done.loc[key, "delta_pct"], TABLE1[key].score / TABLE1[REFERENCE].score * 100 - 100
                    parts.append(f"{name} scores {pct:+.2f}% against ResNet34 (paper: {paper:+.2f}%)")
        else:
            searched = done[done["kind"] == "searched"]
            if len(searched):
                best, ref = searched.iloc[0], done.loc[ref_name]
                how = (f"{abs(best['delta_pct']):.1f}% {'lower' if best['delta_pct'] < 0 else 'higher'} score, "
                       f"{_mm(best['score'])} vs {_mm(ref['score'])} at {best['gflops']:.2f} vs {ref['gflops']:.2f} "
                       f"GFLOPs and {best['params_m']:.1f} vs {ref['params_m']:.1f} M parameters")
                if is_toy(run):
                    parts.append(f"the best searched net against {ref_name}: {how} (a toy run: not a comparison)")
                else:
                    parts.append(f"the best searched net beats {ref_name} ({how})" if best["score"] < ref["score"]
                                 else f"no searched net beats {ref_name} (the best: {how})")
    fit = proxy_fidelity(run) if run.kind == "search" else {"kendall_tau": None}
    if fit["kendall_tau"] is not None:
        parts.append(f"the proxy's ranking {SHORT[_fidelity(fit['kendall_tau'])]} "
                     f"(Kendall tau {fit['kendall_tau']:+.2f} over {fit['models']} models)")
    return f"**In short:** {'; '.join(parts)}." if parts else ""


def proxy_text(run: Run) -> str:
    """Kendall tau and Spearman rho between proxy and full scores, and what they allow one to conclude."""
    fit = proxy_fidelity(run)
    n, tau, rho = fit["models"], fit["kendall_tau"], fit["spearman_rho"]
    if tau is None:
        return f"Proxy fidelity: only {n} stage-2 model(s) have both a proxy and a full score, too few to rank."
    text = (f"Proxy fidelity over the {n} stage-2 models: Kendall tau {tau:+.2f}, Spearman rho {rho:+.2f}; "
            f"{FIDELITY[_fidelity(tau)]}.")
    if n <= 6:
        text += (f" With {n} models one swapped pair moves tau by {4 / (n * (n - 1)):.2f}, so these values are "
                 "very uncertain.")
    f = run.final[(run.final["status"] == "complete") & run.final["proxy_score"].notna() & run.final["score"].notna()]
    top = f.loc[f["proxy_score"].idxmin()]
    rank = int((f["score"] < top["score"]).sum()) + 1
    text += f" The proxy's favourite among them, {top['label']}, finished {_ordinal(rank)} of {len(f)} after full training."
    text += " Stage 2 trains only the proxy's top architectures, so this measures the top of the ranking."
    return text + _proxy_choice(run)


def _proxy_choice(run: Run) -> str:
    """Which of the recorded history proxies (last score, TSE, ...) ranked the stage-2 models closer to full
    training."""
    from nas.proxies import get_proxy, history_proxies
    names = [p for p in history_proxies() if f"proxy_{p}" in run.final.columns]
    taus = {p: proxy_fidelity(run, f"proxy_{p}")["kendall_tau"] for p in names}
    if len(taus) < 2 or any(t is None for t in taus.values()):
        return ""
    which = "Both proxies were" if len(taus) == 2 else f"All {len(taus)} proxies were"
    text = f" {which} recorded for every stage-2 model: " + _and(
        [f"{get_proxy(p).label} gives Kendall tau {t:+.2f}" for p, t in taus.items()]) + "; "
    if max(taus.values()) - min(taus.values()) < 1e-9:
        return text + "they rank these models equally well."
    better = max(taus, key=taus.get)
    return text + f"{get_proxy(better).label} ranked them better on this run (`--proxy-score {better}`)."


def ablation_text(run: Run) -> str:
    """Each Table 1 experiment's change against ResNet34 with flip, beside the paper's change."""
    table = comparison(run).set_index("network")
    if REFERENCE not in table.index or pd.isna(table.loc[REFERENCE, "score"]):
        return f"The reference experiment ({REFERENCE}, flip, full loss) has no score yet: nothing to compare."
    ref = table.loc[REFERENCE]
    parts = []
    for key, paper in TABLE1.items():
        if key == REFERENCE or key not in table.index or pd.isna(table.loc[key, "score"]):
            continue
        row = table.loc[key]
        d, pd_ = row["score"] - ref["score"], paper.score - TABLE1[REFERENCE].score
        sds = [s for s in (row["score_sd"], ref["score_sd"]) if pd.notna(s)]
        if sds and abs(d) <= max(sds):
            agree = f"within one sd ({max(sds):.2f} mm): no clear difference"
        else:
            agree = "the paper's direction" if (d < 0) == (pd_ < 0) else "opposite to the paper"
        parts.append(f"- {paper.aug}, {paper.network}, {paper.loss}: {d:+.2f} mm ({100 * d / ref['score']:+.2f}%), "
                     f"{agree}; paper {pd_:+.2f} ({100 * pd_ / TABLE1[REFERENCE].score:+.2f}%)")
    searched = table.loc["searched"] if "searched" in table.index else None
    verdict = ""
    if searched is not None and pd.notna(searched["score"]):
        verdict = (" The searched net beats ResNet34 here." if searched["score"] < ref["score"]
                   else " The searched net does not beat ResNet34 here.")
    return (f"Each experiment against ResNet34 with flip and the full loss ({_mm(ref['score'])}):\n" + "\n".join(parts)
            + "\n\n" + verdict.strip() + " Absolute scores depend on the data (the paper's are on real WCPA subjects), "
            "so compare the changes." + _seed_caveat(comparison(run)))


def narrative(run: Run) -> list[str]:
    """The report's "what this run shows" paragraphs."""
    head = [p for p in (toy_banner(run) if is_toy(run) else "", status_text(run), in_short(run)) if p]
    if run.kind == "ablation":
        return [*head, ablation_text(run), failure_text(run)]
    paragraphs = [*head, stage1_text(run), stage2_text(run)]
    if not run.final.empty:
        paragraphs.append(proxy_text(run))
    paragraphs.append(failure_text(run))
    return paragraphs

