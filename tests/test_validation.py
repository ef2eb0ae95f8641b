"""`sigprop validate`: theory vs Monte-Carlo report, files, exit status."""

import json

import numpy as np
import pytest

pytest.importorskip("jax")

from sigprop.cli import main  # noqa: E402
from sigprop.validation import QUANTITIES, zscores  # noqa: E402


def test_validate_json_agreement(tmp_path, capsys):
    rc = main(["validate", "toy", "--depth", "6", "--width", "64", "--samples", "8", "--probes", "2",
               "--json", "--out", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["ok"] is True
    for name in QUANTITIES:
        for key in ("theory", "mean", "stderr", "z"):
            assert len(report[name][key]) == 7
        assert "shrink" in report[name] and "z_inf" in report[name]
    assert (tmp_path / "validate.csv").exists() and (tmp_path / "validate.json").exists()


def test_validate_reports_disagreement_with_nonzero_exit(tmp_path, capsys):
    """At width d = 2 a Derf network's pre-activations are far from Gaussian (each unit sums two
    terms), so E[erf(alpha h)^2] differs from the infinite-width value and the mean-field
    recurrence must fail against the measurement: validation must say so and exit 1."""
    rc = main(["validate", "toy", "--set", "normalizer=derf", "--set", "alpha=1.5", "--set", "sigma_w2=1.0",
               "--depth", "12", "--width", "2", "--samples", "256", "--probes", "2", "--no-doubling",
               "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1 and "DISAGREEMENT" in out


def test_zscores_floor_and_nan():
    th = np.array([1.0, 2.0, np.nan])
    z = zscores(th, np.array([1.0, 2.1, 1.0]), np.array([0.0, 0.05, 0.1]), 1e-5)
    assert z[0] == 0 and z[1] == pytest.approx(0.1 / np.hypot(0.05, 3e-5)) and np.isnan(z[2])


def test_overflowing_measurement_fails_with_the_layers_named(tmp_path, capsys):
    """A linear network with sigma_w^2 = 1e8: q = 1e8^l overflows float32 from layer 5 on (its
    theory is finite), so those layers must fail the validation, not drop out of it; float64
    holds these numbers and agrees."""
    args = ["validate", "plain", "--set", "activation=identity", "--set", "sigma_w2=1e8", "--set", "sigma_b2=0",
            "--depth", "8", "--width", "16", "--samples", "8", "--probes", "2", "--no-doubling"]
    rc = main(args + ["--out", str(tmp_path / "f32")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "f32" / "validate.json").read_text())
    assert rc == 1 and report["ok"] is False and "DISAGREEMENT" in out
    assert report["q"]["nonfinite_layers"] == [5, 6, 7, 8] and "layers 5-8" in out and "--float64" in out
    assert report["log_apjn"]["nonfinite_layers"] == []  # the APJN sweeps rescale: log J = 147 is measured
    rc = main(args + ["--float64", "--out", str(tmp_path / "f64")])
    assert rc == 0, capsys.readouterr().out
