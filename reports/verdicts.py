"""A search report's stage-2 sentences (issue 15), worded by `reports.wording`: the best searched net against
the reference over seeds (better or worse only where the 95 % interval excludes zero), whether the search beat
random picks from the same window, and its measured speed against the reference's. A toy run claims nothing."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from reports.proxy_words import best_row
from reports.run import Run
from reports.tables import comparison, reference
from reports.versus import row_stats, versus
from reports.wording import compare_sentence, controls_sentence, difference_phrase, in_short_phrase

SAME_SPEED = 0.05  # speed ratios within 5 % of 1 are "about as fast": one measurement each, no interval
ERROR_WORDS = {"better": "wins on error", "worse": "loses on error",
               "no measurable difference": "shows no measurable difference in error",
               "undecided": "is undecided on error"}


def mm(x: float) -> str:
    return f"{x:.2f} mm"


def and_(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _diff(score: float, ref: float) -> str:
    """`15.12 mm (7.4%) lower` / `higher`."""
    d = score - ref
    return f"{abs(d):.2f} mm ({100 * abs(d) / ref:.1f}%) {'lower' if d < 0 else 'higher'}"


def flops_relation(a: float, b: float) -> str:
    r = a / b
    if abs(r - 1) < 0.05:
        return f"at about the same FLOPs ({a:.2f} vs {b:.2f} G)"
    return f"at {r:.2f}x its FLOPs ({a:.2f} vs {b:.2f} G)"


def finished(run: Run) -> tuple[pd.DataFrame, str, pd.Series | None, pd.Series | None]:
    """The comparison's finished rows, the reference's name, the search's pick and the reference's row.

    The pick is the searched net with the best proxy score, chosen on the selection subjects before any test score
    existed; naming the best of the top-k by its test score instead would select on the test subjects."""
    table, ref_name = comparison(run), reference(run)
    done = table[table["score"].notna()]
    searched = done[done["kind"] == "searched"]
    ref = done[done["network"] == ref_name]
    return done, ref_name, _pick(run, searched), (ref.iloc[0] if len(ref) else None)


def _pick(run: Run, searched: pd.DataFrame) -> pd.Series | None:
    """The searched row with the best proxy score (the proxy's direction), else the first."""
    if searched.empty:
        return None
    if pd.to_numeric(searched["proxy_score"], errors="coerce").notna().any():
        return best_row(run, searched)
    return searched.iloc[0]


def where_scored(run: Run) -> str:
    """`on the 8 test subjects, which nothing was picked on` or that the picks and the scores share subjects."""
    on = {str(v) for v in comparison(run)["scored_on"] if str(v) not in ("", "nan")}
    splits = run.summary.get("splits") or {}
    n = len(splits.get("test") or []) if isinstance(splits, dict) else 0
    if on == {"test"} or (not on and n):  # nothing scored yet: a run with a test split scores there
        return f"on the {n or ''} test subjects, which nothing was picked on".replace("the  ", "the ")
    return "on the held-out subjects the picks were made on (no separate test split)"


def _group(run: Run, label: str) -> pd.DataFrame:
    return run.final[run.final["label"] == label]


def _picks_summary(searched: pd.DataFrame, ref_name: str, on_test: bool) -> str:
    """How the searched picks fare against the reference, and why the best one's margin flatters it."""
    counts = searched["verdict"].value_counts()
    words = {"better": f"better than {ref_name}", "worse": f"worse than {ref_name}",
             "no measurable difference": "no measurable difference", "undecided": "undecided"}
    tally = and_([f"{n} {words.get(v, v)}" for v, n in counts.items()])
    why = ("the pick named above was chosen by its proxy score, before any test score existed" if on_test else
           "they were picked on these same held-out subjects, so the margins are optimistic")
    return f" Of the {len(searched)} searched picks: {tally}; {why}."


def stage2_text(run: Run, toy: bool) -> str:
    """The best fully trained searched net against the reference and the other baselines."""
    done, ref_name, best, ref = finished(run)
    if done.empty:
        return "No full training has finished yet, so there is no comparison with the baselines."
    if best is None:
        return "No searched architecture has finished its full training yet."
    if toy:
        scores = "; ".join(f"{r['network']} {mm(r['score'])}" for _, r in done.iterrows())
        return f"Full scores of this toy run (not a comparison): {scores}."
    if ref is None:
        return (f"The search's pick, {best['network']}, scores {mm(best['score'])}; {ref_name} has no "
                "full score in this run, so the comparison at equal FLOPs is missing.")
    searched = done[done["kind"] == "searched"]
    text = _against_reference(run, best, ref, searched, ref_name)
    if len(searched) > 1:
        text += _picks_summary(searched, ref_name, "test subjects" in where_scored(run))
    return text + _other_baselines(run, best, done, ref_name) + seed_caveat(done)


def _against_reference(run: Run, best: pd.Series, ref: pd.Series, searched: pd.DataFrame, ref_name: str) -> str:
    """The best searched net's mean score beside the reference's and its FLOPs, then the interval's verdict."""
    lead = (f"The search's pick (its best proxy score on the selection subjects), {best['network']},"
            if (searched["score"] < ref["score"]).any() else
            f"The searched architectures do not beat {ref_name} on mean score: the search's pick, {best['network']},")
    return (f"{lead} scores {mm(best['score'])}, {_diff(best['score'], ref['score'])} than {ref_name} "
            f"({mm(ref['score'])}), {flops_relation(best['gflops'], ref['gflops'])}, {where_scored(run)}. "
            + compare_sentence(best["network"], ref_name, row_stats(best, ref)))


def _other_baselines(run: Run, best: pd.Series, done: pd.DataFrame, ref_name: str) -> str:
    """The best searched net against each baseline other than the reference (interval-worded)."""
    text = ""
    for _, b in done[done["kind"] == "baseline"].iterrows():
        if b["network"] != ref_name:
            diff = difference_phrase(versus(_group(run, best["network"]), _group(run, b["network"])))
            text += f" Against {b['network']}: {diff}, {flops_relation(best['gflops'], b['gflops'])}."
    return text


def seed_caveat(table: pd.DataFrame) -> str:
    if table["seeds"].max() <= 1:
        return (" Each model was trained once, so this run does not measure seed-to-seed variation; "
                "differences of a few percent may not hold for other seeds.")
    return ""


def _kind_scores(run: Run, kind: str) -> list[float]:
    """The seed-mean scores of every finished model of one kind."""
    table = comparison(run)
    return [float(v) for v in table.loc[(table["kind"] == kind) & table["score"].notna(), "score"]]


def controls_text(run: Run, toy: bool) -> str:
    """Did the search beat random picks from the same window? (seed means, one-sided Mann-Whitney)"""
    if run.final.empty or not (run.final["kind"] == "searched").any():
        return ""
    if not (run.final["kind"] == "control").any():
        return ("This run trained no random controls, so whether the search picks better architectures than random "
                "draws from the same window is not measured (`nas-search --controls K`).")
    text = controls_sentence(_kind_scores(run, "searched"), _kind_scores(run, "control"), toy=toy)
    return text + " (Each model's score is its mean over seeds.)"


def _has_speed(row: pd.Series | None) -> bool:
    return row is not None and pd.notna(row.get("infer_img_s"))


def _speed_word(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "of unknown speed at inference"
    if abs(ratio - 1) <= SAME_SPEED:
        return f"about as fast at inference ({ratio:.2f}x {{ref}}'s img/s)"
    return f"{'faster' if ratio > 1 else 'slower'} at inference ({ratio:.2f}x {{ref}}'s img/s at batch 256)"


def speed_verdict(best: pd.Series, ref_name: str) -> str:
    """`X wins on both error and measured inference speed`, `X wins on error only: ...`, or the two apart."""
    ratio = float(best.get("infer_x", math.nan))
    speed = _speed_word(ratio).replace("{ref}", ref_name)
    error = str(best.get("verdict", "undecided"))
    if error == "better" and ratio > 1 + SAME_SPEED:
        return f"{best['network']} wins on both error and measured inference speed against {ref_name}"
    if error == "better":
        return f"{best['network']} wins on error only: it is {speed}"
    return f"{best['network']} {ERROR_WORDS.get(error, error)} and is {speed}"


def _measured(r: pd.Series) -> str:
    iqr = f", IQR {r['latency_ms_b1_iqr']:.2f}" if pd.notna(r.get("latency_ms_b1_iqr")) else ""
    lat = f"{r['latency_ms_b1']:.2f} ms at batch 1{iqr}" if pd.notna(r.get("latency_ms_b1")) else "no batch-1 latency"
    train = f"trains at {r['train_img_s']:,.0f} img/s" if pd.notna(r.get("train_img_s")) else "no training speed"
    return f"infers at {r['infer_img_s']:,.0f} img/s (batch 256) and {lat}, and {train}"


def speed_text(run: Run, toy: bool) -> str:
    """The best searched net's measured speed against the reference's (not FLOPs), and whether it wins on
    error only."""
    _, ref_name, best, ref = finished(run)
    if best is None or ref is None:
        return ""
    if not (_has_speed(best) and _has_speed(ref)):
        return ("Speed was not measured in this run (final.csv has no infer_img_s): only FLOPs are known, and FLOPs "
                "are not speed.")
    device = best.get("speed_device") or ref.get("speed_device") or "the device"
    ratios = [f"{best[c]:.2f}x" if pd.notna(best.get(c)) else "-" for c in ("infer_x", "latency_x", "train_x")]
    text = (f"Measured alone on {device}, {best['network']} {_measured(best)}; {ref_name} {_measured(ref)}: "
            f"{ratios[0]} its inference img/s, {ratios[1]} its batch-1 latency, {ratios[2]} its training img/s, at "
            f"{best['gflops'] / ref['gflops']:.2f}x its FLOPs.")
    if toy:
        return text + " (A toy run: no comparison is drawn from these speeds.)"
    return (text + f" So {speed_verdict(best, ref_name)}. Speed is measured once per model, so ratios within 5 % "
            "count as about as fast.")


def _speed_clause(best: pd.Series, ref_name: str) -> str:
    """`measured at inference it runs at 0.84x resnet34d's img/s: it wins on error only`."""
    ratio, faster = float(best["infer_x"]), float(best["infer_x"]) > 1 + SAME_SPEED
    text = f"measured at inference it runs at {ratio:.2f}x {ref_name}'s img/s"
    if best.get("verdict") == "better":
        text += ": it wins on both error and inference speed" if faster else ": it wins on error only"
    return text


def in_short_search(run: Run, toy: bool) -> list[str]:
    """The headline's clauses: the best searched net against the reference (and where, over how many seeds), its
    measured inference speed, and whether the search beat random controls."""
    _, ref_name, best, ref = finished(run)
    if best is None or ref is None:
        return []
    seeds = int(min(best["seeds"], ref["seeds"]))
    parts = [in_short_phrase(f"the search's pick ({best['network']})", ref_name, row_stats(best, ref), toy=toy)
             + f", {where_scored(run)}, {seeds} seed{'s' if seeds != 1 else ''}"]
    if _has_speed(best) and _has_speed(ref) and not toy:
        parts.append(_speed_clause(best, ref_name))
    searched, controls = _kind_scores(run, "searched"), _kind_scores(run, "control")
    if controls and searched:
        answer = controls_sentence(searched, controls, toy=toy).split("? ", 1)[1].split(". ", 1)[0]
        parts.append("searched picks against random picks from the window: " + answer[0].lower() + answer[1:])
    return parts


def ablation_stats(run: Run, key: str, ref_key: str) -> dict[str, Any]:
    """An ablation experiment's row statistics against the reference experiment's."""
    table = comparison(run).set_index("network")
    return row_stats(table.loc[key].to_dict(), table.loc[ref_key].to_dict())
