"""Settings of one search: defaults, presets, overrides from the command line, and resume checks."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from search_spaces import BudgetError, FlopWindow, SearchSpace, SearchSpaceError, resolve_arch
from search_spaces.sampler import check_window

PRESET_DIR = Path(__file__).with_name("presets")
SAMPLERS = ("regnet", "tpe", "nsga2")
SCHEDULERS = ("none", "asha")
PROXY_SCORES = ("final", "tse")
# settings a resumed run may change: where it runs, not what it computes
RESUME_FREE = frozenset({"address", "resume", "preset_reason"})


class SettingsError(ValueError):
    """A setting that is malformed, impossible, or differs from the run being resumed."""


@dataclass
class SearchSettings:
    """Everything `nas-search` needs to run (and re-run) one search; written to config.yaml."""

    budget: str = "5G"
    tol: float = 0.05
    data: str | None = None
    trials: int = 64
    sampler: str = "regnet"
    proxy_epochs: int = 6
    proxy_fraction: float = 0.25
    proxy_res: int = 256
    proxy_score: str = "final"
    scheduler: str = "asha"
    gpus_per_trial: float = 1.0
    cpus_per_trial: int | None = None
    top_k: int = 3
    final_epochs: int = 40
    final_res: int = 256
    baselines: list[str] = field(default_factory=lambda: ["resnet18d", "resnet34d", "resnet50d"])
    batch: int = 256
    val_max: int | None = 2000
    data_res: int = 256
    synth_subjects: int = 50
    synth_frames_per_subject: int = 500
    address: str | None = None
    storage: str | None = None
    name: str = "search"
    out: str = "runs"
    seed: int = 0
    preset: str = "default"
    preset_reason: str = ""

    def __post_init__(self) -> None:
        try:
            check_window(SearchSpace(), FlopWindow.below(self.budget, self.tol))
            for b in self.baselines:
                resolve_arch(b)
        except SearchSpaceError as exc:
            raise SettingsError(str(exc)) from None
        choices = {"sampler": SAMPLERS, "scheduler": SCHEDULERS, "proxy_score": PROXY_SCORES}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise SettingsError(f"--{key.replace('_', '-')} must be one of {', '.join(allowed)}, "
                                    f"got {getattr(self, key)!r}")
        positive = ("trials", "proxy_epochs", "proxy_res", "final_epochs", "final_res", "batch", "data_res",
                    "synth_subjects", "synth_frames_per_subject")
        for key in positive:
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise SettingsError(f"--{key.replace('_', '-')} must be a positive whole number, got {value!r}")
        if self.top_k < 0:
            raise SettingsError(f"--top-k must not be negative, got {self.top_k}")
        if not 0 < self.proxy_fraction <= 1:
            raise SettingsError(f"--proxy-fraction must be in (0, 1], got {self.proxy_fraction}")
        if not self.gpus_per_trial >= 0:
            raise SettingsError(f"--gpus-per-trial must not be negative, got {self.gpus_per_trial}")
        if not self.name or os.sep in self.name or self.name.startswith("."):
            raise SettingsError(f"--name must be a plain folder name, got {self.name!r}")

    @property
    def window(self) -> FlopWindow:
        """The FLOP window [(1 - tol) * budget, budget]."""
        return FlopWindow.below(self.budget, self.tol)

    @property
    def run_dir(self) -> Path:
        """runs/NAME, absolute (Ray needs absolute storage paths)."""
        return (Path(self.out) / self.name).resolve()

    @property
    def storage_url(self) -> str:
        """The Optuna storage: `--storage`, or SQLite inside the run folder."""
        return self.storage or f"sqlite:///{self.run_dir / 'study.db'}"

    def to_dict(self) -> dict[str, Any]:
        """Plain form for config.yaml."""
        return dataclasses.asdict(self)


def load_preset(name_or_path: str) -> dict[str, Any]:
    """Preset values by name (`smoke`, `default`) or from a YAML file of the same keys."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
        raise SettingsError(f"unknown preset {name_or_path!r}: give one of {names} or a YAML file")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML ({exc})") from None
    unknown = set(values) - {f.name for f in dataclasses.fields(SearchSettings)}
    if not isinstance(values, dict) or unknown:
        raise SettingsError(f"{path}: unknown settings {sorted(unknown)}")
    return values


def default_notes() -> dict[str, str]:
    """Per setting, its default as `--help` shows it: the default preset's value, and the smoke preset's
    where that differs (what runs without a GPU)."""
    default, smoke = load_preset("default"), load_preset("smoke")
    notes = {}
    for f in dataclasses.fields(SearchSettings):
        value = default.get(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
        if value is None:
            continue
        shown = ",".join(value) if isinstance(value, list) else value
        notes[f.name] = f"default: {shown}" + (f"; smoke preset: {smoke[f.name]}"
                                               if f.name in smoke and smoke[f.name] != value else "")
    return notes


def make_settings(explicit: Mapping[str, Any], preset: str, preset_reason: str = "") -> SearchSettings:
    """Defaults, overridden by the preset, overridden by the values the user gave explicitly."""
    values = {**load_preset(preset), **{k: v for k, v in explicit.items() if v is not None}}
    try:
        return SearchSettings(**{**values, "preset": preset, "preset_reason": preset_reason})
    except (TypeError, BudgetError) as exc:
        raise SettingsError(str(exc)) from None


def load_settings(path: Path) -> SearchSettings:
    """The settings stored in a run's config.yaml."""
    try:
        values = yaml.safe_load(path.read_text())
        return SearchSettings(**values)
    except FileNotFoundError:
        raise SettingsError(f"{path} does not exist: nothing to resume") from None
    except (yaml.YAMLError, TypeError) as exc:
        raise SettingsError(f"{path}: not a config.yaml of nas-search ({exc})") from None


def resume_settings(stored: Any, explicit: Mapping[str, Any], free: frozenset[str] = RESUME_FREE) -> Any:
    """The stored settings (a dataclass with `run_dir`), after checking that what the user gave again agrees
    with them; settings in `free` (where it runs, not what it computes) take the new value."""
    given = {k: v for k, v in explicit.items() if v is not None and k not in free}
    differ = {k: (getattr(stored, k), v) for k, v in given.items() if getattr(stored, k) != v}
    if differ:
        detail = ", ".join(f"--{k.replace('_', '-')} {new!r} (run has {old!r})" for k, (old, new) in differ.items())
        raise SettingsError(f"cannot resume {stored.run_dir}: settings differ: {detail}")
    fields = {f.name for f in dataclasses.fields(stored)}
    return dataclasses.replace(stored, **{k: v for k, v in explicit.items() if k in free & fields and v is not None})
