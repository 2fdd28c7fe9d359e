"""The one result schema: every field a trial or a final training records, with its type, unit and direction,
and the one status vocabulary.

Tune reports, Optuna user attributes, the columns of trials.csv and final.csv and the report's numeric
columns all derive from `FIELDS` (generic), the task's `MetricSpec` (its score and terms) and the proxy
registry (one `proxy_NAME` column per proxy computed from a training's history). Adding a metric is one line:
a `Field` here, or a term in the task's metric spec.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from kit.task import MetricSpec

TRIALS, FINAL = "trials", "final"
BOTH = frozenset({TRIALS, FINAL})


class Status(str, Enum):
    """Where a trial or a final training stands; one vocabulary for every table."""

    PENDING = "pending"          # not started (final trainings listed before they run)
    RUNNING = "running"
    COMPLETE = "complete"        # ran its whole schedule
    PRUNED = "pruned"            # stopped early by the scheduler (ASHA)
    FAILED = "failed"            # raised, diverged, ran out of memory: `failure` says why
    INTERRUPTED = "interrupted"  # its driver stopped while it ran; it is run again on resume

    @classmethod
    def parse(cls, text: "str | Status | None") -> "Status | None":
        """The status of a table cell, including the words of runs written before the vocabulary was one
        (`done` for complete, `fail` for failed); None for an empty cell or an unknown word."""
        if isinstance(text, Status):
            return text
        word = (text or "").strip().lower()
        word = {"done": "complete", "fail": "failed"}.get(word, word)
        try:
            return cls(word)
        except ValueError:
            return None

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Field:
    """One recorded quantity."""

    name: str
    kind: type = float
    unit: str = ""
    direction: str = ""  # "min" or "max" where lower or higher is better
    doc: str = ""
    tables: frozenset[str] = BOTH
    reported: bool = True  # sent by a trial in its Tune reports (and kept as an Optuna user attribute)

    @property
    def numeric(self) -> bool:
        """Whether the field is a number (parsed as one when a table is read back)."""
        return self.kind in (int, float)


METRIC = "METRIC"  # where the task's metric fields go in FIELDS' order
PROXIES = "PROXIES"  # where the history proxies' columns go
SPACE = "SPACE"  # where the search space's columns go

FIELDS: tuple[Any, ...] = (
    Field("label", str, doc="the model's name in stage 2 (baseline name or architecture)", tables=frozenset({FINAL}),
          reported=False),
    Field("number", int, doc="Optuna trial number", tables=frozenset({TRIALS}), reported=False),
    Field("arch", str, doc="architecture in its space's text form", reported=False),
    Field("kind", str, doc="searched, baseline, control or ensemble", tables=frozenset({FINAL}), reported=False),
    SPACE,
    Field("gflops", float, "GFLOPs", doc="FLOPs at the budget's resolution and head, as fvcore counts them",
          reported=False),
    Field("params_m", float, "M", doc="trainable parameters", reported=False),
    Field("status", str, doc="pending, running, complete, pruned, failed or interrupted", reported=False),
    Field("proxy_score", float, doc="the search's proxy score (its direction is the proxy's)", reported=False),
    PROXIES,
    METRIC,
    Field("epochs", int, doc="epochs trained"),
    Field("failure", str, doc="why it failed", reported=False),
    Field("wall_s", float, "s", doc="wall time of the training"),
    Field("images_per_s", float, "img/s", "max", doc="training images per second (median over epochs)"),
    Field("gpu", str, doc="host:GPU ids, or cpu"),
    Field("node", str, doc="Ray node id (first 12 hex digits)"),
    Field("host_rss_gb", float, "GB", doc="resident host memory of the worker", tables=frozenset({TRIALS})),
    Field("host_rss_start_gb", float, "GB", doc="resident host memory of the worker as the trial started (after the "
          "previous trial released its memory)", tables=frozenset({TRIALS})),
    Field("gpu_reserved_gb", float, "GB", doc="GPU memory held by the worker's allocator", tables=frozenset({TRIALS})),
    Field("gpu_peak_gb", float, "GB", doc="peak GPU memory allocated in the trial", tables=frozenset({TRIALS})),
    Field("checkpoint", str, doc="the final training's checkpoint", tables=frozenset({FINAL})),
    Field("seed", int, doc="training seed of a stage-2 row", tables=frozenset({FINAL}), reported=False),
    Field("gpu_share", float, doc="the GPU fraction the training had (1: alone, 0.5: two to a GPU)",
          tables=frozenset({FINAL}), reported=False),
    Field("train_img_s", float, "img/s", "max", doc="training images/s, measured alone on the GPU",
          tables=frozenset({FINAL}), reported=False),
    Field("infer_img_s", float, "img/s", "max", doc="inference images/s at batch 256, measured alone",
          tables=frozenset({FINAL}), reported=False),
    Field("latency_ms_b1", float, "ms", "min", doc="batch-1 latency, median of repeats (CUDA events on a GPU)",
          tables=frozenset({FINAL}), reported=False),
    Field("latency_ms_b1_iqr", float, "ms", doc="interquartile range of the batch-1 latency repeats",
          tables=frozenset({FINAL}), reported=False),
    Field("speed_device", str, doc="the device the speeds were measured on", tables=frozenset({FINAL}),
          reported=False),
    Field("scored_on", str, doc="held-out subjects the score is on: test (nothing was picked on them) or selection",
          tables=frozenset({FINAL})),
)


@dataclass(frozen=True)
class Schema:
    """The fields of one run: the generic ones, the task's metric, the history proxies, the space's columns."""

    metric: MetricSpec
    proxies: tuple[str, ...] = ()
    space_columns: tuple[str, ...] = ()

    def fields(self) -> list[Field]:
        """Every field in column order."""
        out: list[Field] = []
        for item in FIELDS:
            if item == METRIC:
                m = self.metric
                out += [Field(n, float, m.unit, m.direction, m.title if n == m.name else f"term {n}")
                        for n in (m.name, *m.terms)]
            elif item == PROXIES:
                out += [Field(f"proxy_{p}", float, doc=f"the {p} proxy of this model's training") for p in self.proxies]
            elif item == SPACE:
                out += [Field(c, str, doc="a column of the search space", tables=frozenset({TRIALS}), reported=False)
                        for c in self.space_columns]
            else:
                out.append(item)
        return out

    def columns(self, table: str) -> list[str]:
        """The columns of trials.csv (`TRIALS`) or final.csv (`FINAL`), in order."""
        return [f.name for f in self.fields() if table in f.tables]

    def reported(self) -> list[str]:
        """The keys of a trial's reports that are kept with it (Optuna user attributes, table cells)."""
        return [f.name for f in self.fields() if f.reported]

    def numeric(self) -> list[str]:
        """Columns read back as numbers."""
        return [f.name for f in self.fields() if f.numeric]

    def metric_names(self) -> tuple[str, ...]:
        """The task's metric and its terms."""
        return (self.metric.name, *self.metric.terms)


def run_schema(task: str, space: str) -> Schema:
    """The schema of a run of `task` over `space`."""
    from nas.proxies import history_proxies
    from nas.tasks import get_task
    from search_spaces import create_space
    return Schema(get_task(task).metric, tuple(history_proxies()), create_space(space).column_names)
