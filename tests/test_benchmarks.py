"""The benchmark scripts run end to end at tiny sizes and end with one JSON line (no timings are asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _last_json(args):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_theory_grid_benchmark_runs_and_agrees():
    r = _last_json(["benchmarks/theory_grid.py", "--n", "8", "--depth", "50", "--loop-points", "2", "--repeats", "1"])
    assert r["grid"] == [8, 8] and r["grid_seconds"] > 0
    assert r["max_rel_diff"] < 1e-6  # the grid solve and the per-point quadrature loop agree


def test_apjn_sweep_benchmark_runs():
    pytest.importorskip("jax")
    r = _last_json(["benchmarks/apjn_sweep.py", "--quick", "--depth", "4", "--width", "32", "--tokens", "4"])
    for key in ("sweep_s", "draws_s", "reverse_s", "jacfwd_s", "sweep_fraction_of_matmul", "full_fraction_of_matmul"):
        assert r[key] > 0, key
    assert (r["d"], r["n"], r["L"]) == (32, 4, 4)
    # the draws bound: ideal matmul time of the sweep against that time plus the draws
    ideal = r["sweep_flops"] / r["matmul_flops_per_s"]
    assert r["draws_bound_fraction"] == pytest.approx(ideal / (ideal + r["draws_s"]))
    assert 0 < r["draws_bound_fraction"] < 1
    g = r["grid"]  # the Derf sweep over 3 alphas, weights shared by the alphas
    assert g["points"] == 3 and g["grid_flops"] == pytest.approx(3 * g["point_flops"])
    assert g["grid_sweep_s"] > 0 and 0 < g["grid_fraction_of_matmul"] and 0 < g["draws_bound_fraction"] < 1


def test_apjn_sweep_benchmark_sweep_only_breakdown():
    pytest.importorskip("jax")
    r = _last_json(["benchmarks/apjn_sweep.py", "--quick", "--depth", "4", "--width", "32", "--tokens", "4",
                    "--sweep-only", "--breakdown"])
    assert r["sweep_s"] > 0 and "reverse_s" not in r and "vit" not in r
    rows = r["breakdown"]["rows"]
    assert [(x["networks"], x["probes"]) for x in rows] == [(2, 1), (2, 4), (2, 8), (8, 4)]
    assert all(x["sweep_s"] > 0 and x["fraction_of_matmul"] > 0 for x in rows)


def test_apjn_sweep_benchmark_vit_command_runs_on_cpu_with_quick():
    pytest.importorskip("jax")
    r = _last_json(["benchmarks/apjn_sweep.py", "--only-vit", "--quick", "--probes", "2"])
    assert "sweep_s" not in r  # --only-vit: no small configuration
    assert (r["vit_sweep"]["d"], r["vit_sweep"]["n"], r["vit_sweep"]["L"]) == (128, 16, 8)
    runs = r["vit"]["runs"]
    assert [x["normalizer"] for x in runs] == ["layernorm", "derf", "derf", "derf"]
    assert all(np.isfinite(x["log_apjn_L"]) and x["seconds"] > 0 for x in runs)
    # the same Derf runs as one sweep give the same networks' numbers (round-off only)
    assert r["vit"]["derf_grid_max_abs_diff"] < 1e-4 and r["vit"]["derf_grid_again_s"] > 0


def test_flop_count_matches_the_compiled_dots():
    """The FLOPs behind every fraction of the matmul rate: the analytic count of apjn_sweep.py against the
    dot operations of the compiled (unrolled) sweep and forward+reverse sweeps, given their inputs (the
    input generator's products are not counted: 0.5% at this size). The sweep's count is exact; a forward
    pass counted in full in the reverse sweep was +4%."""
    pytest.importorskip("jax")
    r = _last_json(["benchmarks/flop_count_check.py", "--width", "128", "--tokens", "16", "--depth", "4"])
    assert r["sweep"]["ratio"] == pytest.approx(1.0, abs=0.002)
    assert r["forward_reverse"]["ratio"] == pytest.approx(1.0, abs=0.005)


def test_softmax_moments_benchmark_runs_and_agrees():
    r = _last_json(["benchmarks/softmax_moments.py", "--quick", "--repeats", "1", "--depth", "20"])
    assert [x["var"] for x in r["rows"]] == [2.0, 20.0] and all(x["lattice"] for x in r["rows"])
    assert all(x["package_s"] > 0 and x["per_node_s"] > 0 for x in r["rows"])
    assert r["max_rel_diff"] < 5e-11  # the lattice and per-node rules (tests/test_softmax.py)
    assert np.isfinite(r["preln_log_apjn_L"]) and r["preln_depth"] == 20
