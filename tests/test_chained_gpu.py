"""`benchmarks/chained_gpu.sh`: bad settings end in one line naming them and exit 2, before any driver starts."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "chained_gpu.sh"


@pytest.mark.parametrize("env, args, named", [
    ({"END_BY": "soon"}, ["nas-search", "x", "{out}", "-"], "END_BY"),
    ({"STOP": "never"}, ["nas-search", "x", "{out}", "-"], "STOP"),
    ({}, ["nas-train", "x", "{out}", "-"], "nas-train"),
    ({}, ["nas-search", "x", "{out}", "missing.tgz"], "missing.tgz"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, env, args, named):
    out = str(tmp_path / "out")
    done = subprocess.run(["bash", str(SCRIPT), *[a.format(out=out) for a in args]], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and named in done.stderr
