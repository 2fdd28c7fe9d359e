"""What stage 2 trains (issue 15): the top-k searched architectures, random controls from the same window, and the
baselines, each under `final_seeds` seeds.

The controls answer "did the search beat random picks from this window?": they are drawn uniformly from the FLOP
window with a seed of their own, so they depend on the run's seed and window only, never on any proxy score.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from nas.proxies import get_proxy, history_proxies
from nas.settings import SearchSettings
from nas.study import finished_trials, load_study
from search_spaces import sample_archs

CONTROL_STREAM = 0xC0471  # the controls' own random stream, beside the run's seed


def searched(s: SearchSettings) -> list[dict[str, Any]]:
    """Top-k distinct architectures of stage 1 by proxy score (selection subjects only), with their proxy scores."""
    proxy = get_proxy(s.proxy_score)
    space = s.search_space()
    trials = [t for t in finished_trials(load_study(s.storage_url, s.name, mode=proxy.mode)) if t.value is not None]
    models: list[dict[str, Any]] = []
    for t in sorted(trials, key=lambda t: t.value if proxy.mode == "min" else -t.value):
        arch = t.user_attrs["arch"]
        if len(models) < s.top_k and arch not in {m["arch"] for m in models}:
            models.append({"label": space.label(space.parse(arch)), "arch": arch, "kind": "searched",
                           "proxy_score": t.value, "gflops": t.user_attrs.get("gflops"),
                           "params_m": t.user_attrs.get("params_m"),
                           **{f"proxy_{p}": t.user_attrs.get(f"proxy_{p}") for p in history_proxies()}})
    return models


def control_archs(s: SearchSettings) -> list[str]:
    """`controls` architectures drawn uniformly from the window (independent of every proxy score)."""
    if s.controls < 1:
        return []
    seed = int(np.random.SeedSequence([s.seed, CONTROL_STREAM]).generate_state(1)[0])
    return [str(x.arch) for x in sample_archs(s.search_space(), s.window, s.controls, seed=seed)]


def _sized(s: SearchSettings, label: str, arch: str, kind: str) -> dict[str, Any]:
    space = s.search_space()
    size = space.complexity(space.parse(arch))
    return {"label": label, "arch": arch, "kind": kind, "proxy_score": None, "gflops": size.flops / 1e9,
            "params_m": size.params / 1e6}


def stage2_models(s: SearchSettings) -> list[dict[str, Any]]:
    """The top-k searched architectures, then the controls, then the baselines (labels unique)."""
    space = s.search_space()
    models = searched(s)
    for i, arch in enumerate(control_archs(s)):
        label = space.label(space.parse(arch))
        if label in {m["label"] for m in models}:  # drawn by chance among the picks: trained again as a control
            label = f"{label}-control{i}"
        models.append(_sized(s, label, arch, "control"))
    for name in s.baselines:
        if name not in {m["label"] for m in models}:
            models.append(_sized(s, name, str(space.parse(name)), "baseline"))
    return models


def final_seeds(s: SearchSettings) -> list[int]:
    """The training seeds of every stage-2 model."""
    return [s.seed + k for k in range(s.final_seeds)]


def checkpoint_dir(label: str, seed: int, first: int) -> str:
    """A training's folder under final/: the label for the first seed (as before seeds), LABEL-sSEED after."""
    return label if seed == first else f"{label}-s{seed}"


def seed_rows(models: Iterable[Mapping[str, Any]], seeds: list[int]) -> list[dict[str, Any]]:
    """final.csv's rows: one per model and seed."""
    return [{**m, "seed": seed} for m in models for seed in seeds]


def per_model(rows: Iterable[Mapping[str, Any]], score: str) -> list[dict[str, Any]]:
    """One row per model: its complete seeds' mean `score` and the proxy columns (for rank correlations, which
    must count a model once however many seeds it has)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r["label"]), []).append(r)
    out = []
    for label, g in groups.items():
        values = [float(r[score]) for r in g if r.get(score) not in (None, "") and r.get("status") == "complete"]
        out.append({**g[0], score: float(np.mean(values)) if values else None})
    return out
