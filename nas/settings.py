"""Settings of one search, defined once: the dataclass (its defaults and help), presets as partial overrides,
the command line generated from it (`kit.config`), and the checks of a resumed run."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from kit.limits import MAX_BATCH, MAX_RES, MIN_RES
from kit.config import ConfigError, option, overrides, read_mapping
from kit.config import seed as seed_type
from kit.errors import ToolkitError
from nas.mps import MODES as MPS_MODES
from search_spaces import DEFAULT_SPACE, FlopWindow, SearchSpace, SearchSpaceError, check_window, create_space, list_spaces

PRESET_DIR = Path(__file__).with_name("presets")
SAMPLERS = ("regnet", "tpe", "nsga2")
SCHEDULERS = ("none", "asha")
# settings a resumed run may change: where it runs, not what it computes
# (packing included: proxy scores were identical at 4 and 6 trainings per GPU, with and without MPS; BENCHMARKS.md)
RESUME_FREE = frozenset({"address", "mps", "gpus_per_trial", "cpus_per_trial", "resume", "preset_reason", "verbose",
                         "time_limit"})
# what a resumed nas-ablate or nas-fidelity may change: where and how verbosely it runs, not what it computes
DRIVER_RESUME_FREE = frozenset({"address", "mps", "gpus_per_trial", "cpus_per_trial", "verbose", "time_limit"})
NOT_IN_PRESETS = frozenset({"preset", "preset_reason", "name", "out", "resume", "verbose", "time_limit"})
PER_INVOCATION = frozenset({"time_limit"})  # a resumed run does not inherit these from config.yaml
MPS_HELP = ("NVIDIA MPS, so that trainings packed on a GPU run side by side (a local Ray instance only): auto "
            "starts a daemon for the run where nvidia-cuda-mps-control and a GPU are found and no daemon runs yet; "
            "on insists; off: they take turns")
TIME_LIMIT_HELP = ("minutes this invocation may run: no training starts that would not end by then, running ones "
                   "finish, and the run pauses (exit code 75; --resume continues)")


class SettingsError(ToolkitError):
    """A setting that is malformed, impossible, or differs from the run being resumed."""


def minutes(text: str) -> float:
    """A --time-limit value: minutes > 0."""
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"--time-limit must be a number of minutes, got {text!r}") from None
    if not 0 < value < 1e7:
        raise SettingsError(f"--time-limit must be > 0 minutes, got {text!r}")
    return value


def _proxies() -> list[str]:
    from nas.proxies import list_proxies
    return list_proxies()


class RunSettings:
    """What the settings of every driver share: the space counted as the task counts budgets, the FLOP window,
    the run folder and the plain form written to config.yaml (a mixin of the settings dataclasses)."""

    def search_space(self) -> SearchSpace:
        """The space, counted at the task's resolution and head (what the budget means)."""
        from nas.tasks import get_task
        task = get_task(self.task)  # type: ignore[attr-defined]
        return create_space(self.space, res=task.flop_res, outputs=task.flop_outputs)  # type: ignore[attr-defined]

    @property
    def window(self) -> FlopWindow:
        """The FLOP window [(1 - tol) * budget, budget]."""
        return FlopWindow.below(self.budget, self.tol)  # type: ignore[attr-defined]

    @property
    def run_dir(self) -> Path:
        """OUT/NAME, absolute (Ray needs absolute storage paths)."""
        return (Path(self.out) / self.name).resolve()  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """Plain form for config.yaml."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass
class SearchSettings(RunSettings):
    """Everything `nas-search` needs to run (and re-run) one search; written to config.yaml."""

    budget: str = option("5G", help="FLOP budget at the task's resolution (256x256 for faces), e.g. 5G; the "
                                    "window is [(1 - tol) * budget, budget]")
    tol: float = option(0.05, help="window tolerance")
    space: str = option(DEFAULT_SPACE, help="search space", choices=list_spaces())
    task: str = option("faces", help="task: its data, model head, loss and metric (registered: faces; or "
                                     "package.module:Class)")
    data: str | None = option(None, help="crop cache or WCPA root (default: the embedded synthetic set, made once)")
    trials: int = option(64, help="stage-1 proxy trainings")
    sampler: str = option("regnet", help="regnet: uniform in the window (RegNet-style); tpe / nsga2: Optuna's",
                          choices=SAMPLERS)
    proxy_epochs: int = option(6, help="epochs of a proxy training")
    proxy_fraction: float = option(0.25, help="fraction of the training frames a proxy sees")
    proxy_res: int = option(256, help="input size of proxy trainings")
    proxy_score: str = option("final", help="the proxy that ranks architectures (synflow: SynFlow of the untrained "
                                            "network, the default preset's since issue 14's study; final: last "
                                            "held-out score after a short training; tse: sum of training losses)",
                              choices=_proxies())
    proxy_from: str | None = option(None, help="the nas-fidelity run whose recommended proxy this is", cli=False)
    scheduler: str = option("asha", help="asha stops weak proxies early", choices=SCHEDULERS)
    gpus_per_trial: float | None = option(None, help="GPUs per trial (fractions pack several on a GPU); default: "
                                                     "measured, see nas/packing.py",
                                          parse=lambda t: None if t == "auto" else float(t), metavar="auto|GPUS")
    cpus_per_trial: int | None = option(None, help="CPUs per trial (default: shared out evenly)")
    top_k: int = option(3, help="searched architectures trained fully in stage 2")
    controls: int = option(4, help="random controls: architectures drawn uniformly from the window, independent of "
                                   "the proxy, trained in stage 2 beside the top-k (did the search beat them?)")
    final_seeds: int = option(2, help="seeds of every stage-2 training (mean +- sd and intervals need two or more)")
    final_epochs: int = option(40, help="epochs of stage-2 trainings")
    final_res: int = option(256, help="input size of stage-2 trainings")
    baselines: list[str] | None = option(None, help="comma-separated baselines trained in stage 2 "
                                                    "(default: the space's, e.g. resnet18d,resnet34d,resnet50d)")
    batch: int = option(256, help="batch size")
    pnp: str = option("auto", help="pose solver of validation: torch (batched, on the GPU), cv2 (OpenCV on CPU "
                                   "threads); auto: torch on a GPU, cv2 on the CPU", choices=("auto", "cv2", "torch"))
    val_max: int | None = option(2000, help="validation frames scored after each proxy epoch")
    data_res: int = option(256, help="crop size of the embedded data set")
    synth_subjects: int = option(50, help="subjects of the embedded synthetic data set")
    synth_frames_per_subject: int = option(500, help="frames per subject of the embedded synthetic data set")
    selection_subjects: float = option(0.15, help="fraction of the labelled subjects a search ranks and picks on "
                                                  "(stage 1, ASHA, the top-k), when the data is made here")
    test_subjects: float = option(0.15, help="fraction of the labelled subjects held out for the final comparison "
                                             "(nothing is picked on them), when the data is made here")
    address: str | None = option(None, help="Ray cluster to join ('auto' or host:port; also RAY_ADDRESS); "
                                            "default: start Ray locally")
    mps: str = option("auto", help=MPS_HELP, choices=MPS_MODES)
    storage: str | None = option(None, help="Optuna storage URL (default: sqlite:///OUT/NAME/study.db)")
    name: str = option("search", help="run name: the folder OUT/NAME")
    out: str = option("runs", help="output folder")
    seed: int = option(0, help="random seed (>= 0)", parse=seed_type)
    verbose: bool = option(False, help="Ray Tune's own per-trial output (default: one line of progress per stage)")
    time_limit: float | None = option(None, help=TIME_LIMIT_HELP, parse=minutes, metavar="MINUTES")
    preset: str = option("default", help="smoke | default | a YAML file", cli=False)
    preset_reason: str = option("", help="why the preset was chosen", cli=False)

    def _check_bounds(self) -> None:
        """SettingsError for an input size or batch past the trainer's bounds, before anything starts."""
        for key in ("proxy_res", "final_res", "data_res"):
            if not MIN_RES <= getattr(self, key) <= MAX_RES:
                raise SettingsError(f"--{key.replace('_', '-')} must be {MIN_RES} to {MAX_RES}, "
                                    f"got {getattr(self, key)}")
        if self.batch > MAX_BATCH:
            raise SettingsError(f"--batch must be 1 to {MAX_BATCH}, got {self.batch}")

    def __post_init__(self) -> None:
        try:
            space = self.search_space()
            check_window(space, self.window)
            if self.baselines is None:
                self.baselines = space.default_baselines(self.window)
            for b in self.baselines:
                space.check_buildable(space.parse(b), b)
        except SearchSpaceError as exc:
            raise SettingsError(str(exc)) from None
        choices = {"sampler": SAMPLERS, "scheduler": SCHEDULERS, "proxy_score": _proxies()}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise SettingsError(f"--{key.replace('_', '-')} must be one of {', '.join(allowed)}, "
                                    f"got {getattr(self, key)!r}")
        positive = ("trials", "proxy_epochs", "proxy_res", "final_epochs", "final_res", "batch", "data_res",
                    "synth_subjects", "synth_frames_per_subject", "final_seeds")
        for key in positive:
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise SettingsError(f"--{key.replace('_', '-')} must be a positive whole number, got {value!r}")
        self._check_bounds()
        if not isinstance(self.seed, int) or self.seed < 0:
            raise SettingsError(f"--seed must be a whole number >= 0, got {self.seed!r}")
        if self.val_max is not None and (not isinstance(self.val_max, int) or self.val_max < 1):
            raise SettingsError(f"--val-max must be a positive whole number, got {self.val_max!r}")
        if self.cpus_per_trial is not None and (not isinstance(self.cpus_per_trial, int) or self.cpus_per_trial < 1):
            raise SettingsError(f"--cpus-per-trial must be a positive whole number, got {self.cpus_per_trial!r}")
        for key in ("selection_subjects", "test_subjects"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise SettingsError(f"--{key.replace('_', '-')} must be a fraction in [0, 1), got {value!r}")
        if self.selection_subjects + self.test_subjects >= 1:
            raise SettingsError(f"--selection-subjects {self.selection_subjects} and --test-subjects "
                                f"{self.test_subjects} leave no subject to train on")
        for key in ("top_k", "controls"):
            count = getattr(self, key)
            if not isinstance(count, int) or count < 0:
                raise SettingsError(f"--{key.replace('_', '-')} must be a whole number >= 0, got {count!r}")
        if not 0 < self.proxy_fraction <= 1:
            raise SettingsError(f"--proxy-fraction must be in (0, 1], got {self.proxy_fraction}")
        if self.gpus_per_trial is not None and not self.gpus_per_trial >= 0:
            raise SettingsError(f"--gpus-per-trial must not be negative, got {self.gpus_per_trial}")
        check_name(self.name)

    @property
    def storage_url(self) -> str:
        """The Optuna storage: `--storage`, or SQLite inside the run folder."""
        return self.storage or f"sqlite:///{self.run_dir / 'study.db'}"



def check_name(name: str) -> None:
    """A run name is a plain folder name."""
    if not name or os.sep in name or name.startswith("."):
        raise SettingsError(f"--name must be a plain folder name, got {name!r}")


def load_preset(name_or_path: str) -> dict[str, Any]:
    """Preset values by name (`smoke`, `default`) or from a YAML file: a partial mapping of settings."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml") if not p.stem.startswith("fidelity-")))
        raise SettingsError(f"unknown preset {name_or_path!r}: give one of {names} or a YAML file")
    allowed = {f.name for f in dataclasses.fields(SearchSettings)} - NOT_IN_PRESETS
    try:
        return overrides(read_mapping(path, "preset"), SearchSettings, str(path), allowed)
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None


def default_notes() -> dict[str, str]:
    """Per setting, its default as `--help` shows it: the default preset's value, and the smoke preset's where
    that differs (what runs without a GPU)."""
    from kit.config import default_of
    default, smoke = load_preset("default"), load_preset("smoke")
    notes = {}
    for f in dataclasses.fields(SearchSettings):
        value = default.get(f.name, default_of(f))
        if value is None:
            continue
        shown = ",".join(value) if isinstance(value, list) else value
        notes[f.name] = f"default: {shown}" + (f"; smoke preset: {smoke[f.name]}"
                                               if f.name in smoke and smoke[f.name] != value else "")
    return notes


def make_settings(explicit: Mapping[str, Any], preset: str, preset_reason: str = "") -> SearchSettings:
    """Defaults, overridden by the preset, overridden by the values the user gave explicitly."""
    from_preset = load_preset(preset)
    given_here = {k: v for k, v in explicit.items() if v is not None}
    try:
        return SearchSettings(**{**from_preset, **given_here, "preset": preset, "preset_reason": preset_reason})
    except SettingsError as exc:
        if not Path(preset).suffix or preset in str(exc) or not _valid(given_here):
            raise  # a named preset, or a bad value of the command line's own
        raise SettingsError(f"{exc} (set by the preset {preset})") from None


def _valid(values: Mapping[str, Any]) -> bool:
    """Whether `values` alone (over the defaults, without any preset) make valid settings."""
    try:
        SearchSettings(**values)
    except (SettingsError, TypeError):
        return False
    return True


def load_settings(path: Path) -> SearchSettings:
    """The settings stored in a run's config.yaml."""
    if not path.is_file():
        raise SettingsError(f"{path} does not exist: nothing to resume")
    try:
        values = overrides(read_mapping(path, "config.yaml"), SearchSettings, str(path))
    except ConfigError as exc:
        raise SettingsError(f"not a config.yaml of nas-search: {exc}") from None
    if "test_subjects" not in values:  # a run from before issue 15: 20 % selection subjects, no test split, one
        values.update(selection_subjects=0.2, test_subjects=0.0, controls=0, final_seeds=1)  # seed, no controls
    return SearchSettings(**values)


def resume_settings(stored: Any, explicit: Mapping[str, Any], free: frozenset[str] = RESUME_FREE) -> Any:
    """The stored settings (a dataclass with `run_dir`), after checking that what the user gave again agrees
    with them; settings in `free` (where it runs, not what it computes) take the new value."""
    given = {k: v for k, v in explicit.items() if v is not None and k not in free}
    differ = {k: (getattr(stored, k), v) for k, v in given.items() if getattr(stored, k) != v}
    if differ:
        detail = ", ".join(f"--{k.replace('_', '-')} {new!r} (run has {old!r})" for k, (old, new) in differ.items())
        raise SettingsError(f"cannot resume {stored.run_dir}: settings differ: {detail}")
    fields = {f.name for f in dataclasses.fields(stored)}
    fresh = {k: explicit.get(k) for k in PER_INVOCATION & fields}
    return dataclasses.replace(stored, **{**fresh, **{k: v for k, v in explicit.items()
                                                      if k in free & fields and v is not None}})
