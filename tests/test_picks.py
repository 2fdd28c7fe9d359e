"""What stage 2 trains (issue 15): controls drawn from the window independently of every proxy score, one row and
training per model and seed, seeds averaged before any rank correlation."""
import pytest

import nas.picks as picks
from nas.final import stage2_jobs
from nas.picks import checkpoint_dir, control_archs, per_model, seed_rows, stage2_models
from nas.settings import make_settings


def settings(tmp_path, **values):
    return make_settings({"budget": "5G", "out": str(tmp_path), "name": "p", "baselines": ["resnet34d"],
                          **values}, "default")


def picked(label: str, proxy: float) -> dict:
    return {"label": label, "arch": label, "kind": "searched", "proxy_score": proxy, "gflops": 4.9, "params_m": 20.0}


def test_controls_come_from_the_window_and_ignore_the_proxy(tmp_path, monkeypatch):
    s = settings(tmp_path, controls=4, seed=7)
    space = s.search_space()

    def no_study(*a, **k):
        raise AssertionError("controls must not read the study")
    monkeypatch.setattr(picks, "load_study", no_study)
    controls = control_archs(s)
    assert len(controls) == 4 and len(set(controls)) == 4
    assert all(space.complexity(space.parse(a)).flops in s.window for a in controls)
    runs = []
    for scores in ([1.0, 2.0, 3.0], [3.0, 1.0, 2.0]):  # same seed, different proxy scores and picks
        monkeypatch.setattr(picks, "searched", lambda s, sc=scores: [picked(f"d{i + 1}.1.1.1_w8.8.8.8", v)
                                                                     for i, v in enumerate(sc)])
        runs.append([m["arch"] for m in stage2_models(s) if m["kind"] == "control"])
    assert runs[0] == runs[1] == controls
    assert control_archs(settings(tmp_path, controls=4, seed=8)) != controls  # the run's seed does matter
    assert control_archs(settings(tmp_path, controls=0)) == []


def test_every_model_trains_under_every_seed_and_once_per_seed(tmp_path, monkeypatch):
    s = settings(tmp_path, controls=1, final_seeds=2, seed=3)
    monkeypatch.setattr(picks, "searched", lambda s: [picked("d2.2.2.2_w8.8.8.8", 1.0)])
    models = stage2_models(s)
    assert [m["kind"] for m in models] == ["searched", "control", "baseline"]
    rows = seed_rows(models, [3, 4])
    jobs = stage2_jobs(s, models, rows)
    finals = [j for j in jobs if j["plan"].startswith("final")]
    assert len(finals) == 6 and {(j["label"], j["seed"]) for j in finals} == {(r["label"], r["seed"]) for r in rows}
    assert {j["dir"] for j in finals if j["seed"] == 3} == {m["label"] for m in models}  # first seed: as before
    assert [j["seed"] for j in finals] == [3, 3, 3, 4, 4, 4]  # every model at one seed before any at two
    assert sum(j["plan"] == "proxy" for j in jobs) == 2  # the control and the baseline (stage 1 scored the pick)
    assert sum(j["plan"] == "speed" for j in jobs) == 3
    done = [{**r, "status": "complete", "infer_img_s": 10.0, "proxy_score": 1.0} for r in rows]
    assert stage2_jobs(s, models, done) == []


def test_checkpoint_folders_stay_apart_across_seeds():
    assert checkpoint_dir("resnet34d", 0, 0) == "resnet34d" and checkpoint_dir("resnet34d", 1, 0) == "resnet34d-s1"


def test_rank_correlations_count_a_model_once():
    rows = [{"label": "a", "score": 1.0, "status": "complete", "proxy_score": 5},
            {"label": "a", "score": 3.0, "status": "complete", "proxy_score": 5},
            {"label": "b", "score": 4.0, "status": "failed", "proxy_score": 6},
            {"label": "b", "score": "", "status": "pending", "proxy_score": 6}]
    out = {r["label"]: r["score"] for r in per_model(rows, "score")}
    assert out == {"a": pytest.approx(2.0), "b": None}
