"""Search settings: presets, explicit overrides, validation, and what a resume may change."""
from pathlib import Path

import pytest
import yaml

from nas.runs import RunDir, write_yaml
from nas.settings import SearchSettings, SettingsError, load_preset, load_settings, make_settings, resume_settings

ROOT = Path(__file__).resolve().parents[1]


def test_presets_load_and_explicit_values_win():
    smoke = make_settings({"budget": "2G"}, "smoke")
    assert smoke.preset == "smoke" and smoke.proxy_res == load_preset("smoke")["proxy_res"]
    assert smoke.window.high == 2_000_000_000
    custom = make_settings({"budget": "2G", "trials": 3, "sampler": "tpe"}, "default")
    assert custom.trials == 3 and custom.sampler == "tpe" and custom.final_epochs == 40


def test_preset_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"trials": 5, "proxy_epochs": 1}))
    assert make_settings({"budget": "5G"}, str(path)).trials == 5
    path.write_text(yaml.safe_dump({"trails": 5}))
    with pytest.raises(SettingsError, match="trails"):
        make_settings({"budget": "5G"}, str(path))
    with pytest.raises(SettingsError, match="unknown preset"):
        make_settings({"budget": "5G"}, "nonesuch")


@pytest.mark.parametrize("bad,needle", [
    ({"budget": "5X"}, "5X"), ({"budget": "10M"}, "no architecture"), ({"tol": 1.5}, "1.5"),
    ({"sampler": "grid"}, "grid"), ({"trials": 0}, "trials"), ({"proxy_fraction": 0}, "proxy-fraction"),
    ({"baselines": ["resnet99"]}, "resnet99"), ({"name": "a/b"}, "a/b"), ({"top_k": -1}, "top-k"),
])
def test_bad_settings(bad, needle):
    values = {"budget": "5G", **bad}
    with pytest.raises(SettingsError, match=needle.replace("(", r"\(")):
        make_settings(values, "smoke")


def test_resume_accepts_same_and_refuses_different(tmp_path):
    stored = make_settings({"budget": "5G", "name": "r", "out": str(tmp_path)}, "smoke")
    run = RunDir(stored.run_dir)
    write_yaml(run.config, stored.to_dict())
    loaded = load_settings(run.config)
    assert loaded == stored
    again = resume_settings(loaded, {"budget": "5G", "name": "r", "address": "auto"})
    assert again.address == "auto" and again.trials == stored.trials
    with pytest.raises(SettingsError, match="--trials 99"):
        resume_settings(loaded, {"trials": 99})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing" / "config.yaml")


def test_storage_defaults_to_sqlite_in_the_run(tmp_path):
    s = SearchSettings(name="x", out=str(tmp_path))
    assert s.storage_url == f"sqlite:///{tmp_path.resolve() / 'x' / 'study.db'}"


def test_help_shows_the_presets_defaults_never_none(capsys):
    from nas.cli import build_parser
    from nas.settings import load_preset
    text = " ".join(build_parser().format_help().split())
    assert "None" not in text
    smoke = load_preset("smoke")
    assert f"(default: {load_preset('default')['trials']}; smoke preset: {smoke['trials']})" in text
    assert "(default: 0.05)" in text and "resnet18d,resnet34d,resnet50d" in text
    assert SearchSettings().baselines == ["resnet18d", "resnet34d", "resnet50d"]  # the resnet_d space's


def test_proxy_from_a_fidelity_run_brings_its_schedule(tmp_path):
    import json
    from nas.cli import _resolve, build_parser
    from nas.search import proxy_plan
    fid = tmp_path / "fid"
    fid.mkdir()
    (fid / "summary.json").write_text(json.dumps({"recommended_proxy": "final_e4_r128", "rule": "cheapest"}))
    args = build_parser().parse_args(["--budget", "5G", "--preset", "smoke", "--out", str(tmp_path), "--name", "s",
                                      "--proxy-from", str(fid)])
    settings, resuming = _resolve(args)
    assert settings.proxy_score == "final_e4_r128" and settings.proxy_from == str(fid.resolve()) and not resuming
    plan = proxy_plan(settings, tmp_path, None)
    assert plan.epochs == 4 and plan.res == 128 and plan.proxy == "final_e4_r128"
    (fid / "summary.json").write_text("{}")
    with pytest.raises(SettingsError, match="not a finished nas-fidelity run"):
        _resolve(args)
    (fid / "summary.json").write_text(json.dumps({"fidelity": "done", "recommended_proxy": None,
                                                  "rule": "no proxy's kendall_lo is above zero"}))
    with pytest.raises(SettingsError, match=r"recommends no proxy \(no proxy's kendall_lo is above zero\).*"
                                            "--proxy-score"):
        _resolve(args)


def test_a_run_from_before_mps_resumes_with_auto_or_the_mode_given():
    """The committed H100 run's config.yaml predates `--mps`: where it runs is not what it computes."""
    stored = load_settings(ROOT / "docs/results/e2e_h100_1gpu/run/config.yaml")
    assert stored.mps == "auto"
    assert resume_settings(stored, {"mps": "off", "budget": stored.budget}).mps == "off"
    assert resume_settings(stored, {"mps": None}).mps == "auto"


def test_a_resume_may_repack_the_gpus_but_not_change_what_is_computed():
    stored = make_settings({"budget": "5G"}, "smoke")
    resumed = resume_settings(stored, {"gpus_per_trial": 1.0, "cpus_per_trial": 2, "budget": "5G"})
    assert (resumed.gpus_per_trial, resumed.cpus_per_trial) == (1.0, 2)
    with pytest.raises(SettingsError, match="--final-epochs 3"):
        resume_settings(stored, {"gpus_per_trial": 1.0, "final_epochs": 3})
