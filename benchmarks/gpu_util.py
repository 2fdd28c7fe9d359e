"""GPU utilisation sampled by nvidia-smi in the background (every 0.5 s), read back per time window."""
from __future__ import annotations

import shutil
import subprocess
import threading
import time


class GpuSampler:
    """`with GpuSampler() as g: ...; g.mean(t0, t1)`: mean utilisation (%) of all GPUs between two times."""

    def __init__(self, interval_ms: int = 500) -> None:
        self.samples: list[tuple[float, float, float]] = []  # (unix time, util %, memory used MiB), per GPU row
        self._cmd = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                     f"-lms={interval_ms}"]
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> "GpuSampler":
        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(self._cmd, stdout=subprocess.PIPE, text=True)
            threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self._proc.stdout:  # type: ignore[union-attr]
            try:
                util, mem = (float(x) for x in line.split(","))
            except ValueError:
                continue
            self.samples.append((time.time(), util, mem))

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()

    def window(self, start: float, end: float) -> list[tuple[float, float, float]]:
        """Samples taken between `start` and `end` (Unix seconds)."""
        return [s for s in self.samples if start <= s[0] <= end]

    def mean(self, start: float, end: float) -> float:
        """Mean utilisation (%) between two times, or NaN without samples."""
        rows = self.window(start, end)
        return sum(r[1] for r in rows) / len(rows) if rows else float("nan")

    def peak_memory_gb(self, start: float, end: float) -> float:
        """Largest memory in use on a GPU between two times (GB)."""
        rows = self.window(start, end)
        return max((r[2] for r in rows), default=float("nan")) * 1.048576e-3
