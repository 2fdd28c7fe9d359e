"""`nas-space`: output formats, and one line with exit code 2 for every bad input."""
import json
import subprocess
import sys

import pytest

from _spaces import analytic_flops, resolve_arch
from nas.space_cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_flops_json(capsys):
    code, out, _ = run(capsys, "flops", "d5.3.4.2_w64.160.272.512", "--json")
    row = json.loads(out)
    assert code == 0
    assert row["arch"] == "d5.3.4.2_w64.160.272.512"
    assert round(row["gflops"], 3) == 5.125 and row["gflops"] == row["gflops_analytic"]
    assert row["params_m"] == pytest.approx(18.361364)


def test_flops_baseline_and_options(capsys):
    code, out, _ = run(capsys, "flops", "resnet34d", "--res", "224", "--outputs", "10", "--json")
    row = json.loads(out)
    assert code == 0 and row["arch"] == "resnet34d"
    assert row["gflops"] * 1e9 == pytest.approx(analytic_flops(resolve_arch("resnet34d"), 224, 10))
    code, out, _ = run(capsys, "flops", "resnet50d")
    assert code == 0 and "5.6951 GFLOPs (fvcore)" in out


def test_sample_json_lines(capsys):
    code, out, _ = run(capsys, "sample", "--budget", "5G", "-n", "5", "--seed", "3", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 5 and len({r["arch"] for r in rows}) == 5
    for r in rows:
        assert set(r) == {"arch", "space", "depths", "widths", "gflops", "params_m"} and r["space"] == "resnet_d"
        arch = resolve_arch(r["arch"])
        assert list(arch.depths) == r["depths"] and list(arch.widths) == r["widths"]
        assert 4.75 <= r["gflops"] <= 5.0 and r["gflops"] * 1e9 == analytic_flops(arch)


def test_sample_table(capsys):
    code, out, _ = run(capsys, "sample", "--budget", "2G", "-n", "3")
    assert code == 0 and out.count("_w") == 3


@pytest.mark.parametrize("argv,needle", [
    (["sample", "--budget", "5X"], "5X"),
    (["sample", "--budget", "10M"], "10M"),
    (["sample", "--budget", "5G", "--tol", "1.5"], "1.5"),
    (["sample", "--budget", "5G", "-n", "-2"], "-2"),
    (["flops", "resnet99"], "resnet99"),
    (["flops", "d5.3.4.2_w64.160.272"], "d5.3.4.2_w64.160.272"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def test_console_entry_point_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "nas.space_cli", "flops", "resnet18d", "--json"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["arch"] == "resnet18d"
    bad = subprocess.run([sys.executable, "-m", "nas.space_cli", "sample", "--budget", "lots"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "lots" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "nas.space_cli", "flops", "--res", "x", "resnet18d"],
                           capture_output=True, text=True)
    assert usage.returncode == 2
