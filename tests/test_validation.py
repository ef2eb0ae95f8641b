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
    """The residual ReLU MLP's mean-field q misses the cross term with the unit mean (a finding):
    validation must fail loudly on it."""
    rc = main(["validate", "resmlp", "--depth", "6", "--width", "128", "--samples", "12", "--probes", "2",
               "--no-doubling", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1 and "DISAGREEMENT" in out


def test_zscores_floor_and_nan():
    th = np.array([1.0, 2.0, np.nan])
    z = zscores(th, np.array([1.0, 2.1, 1.0]), np.array([0.0, 0.05, 0.1]), 1e-5)
    assert z[0] == 0 and z[1] == pytest.approx(0.1 / np.hypot(0.05, 3e-5)) and np.isnan(z[2])
