"""`sigprop validate`: theory vs Monte-Carlo report, files, exit status."""

import json

import numpy as np
import pytest

pytest.importorskip("jax")

from sigprop.cli import main  # noqa: E402
from sigprop.validation import QUANTITIES, ROUNDOFF, zscores  # noqa: E402


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


def test_width_option_is_the_declarations_width(tmp_path, capsys):
    """``--width`` acts like ``--set width=``: a ``weight_std`` becomes sigma = std sqrt(d) at that
    width, ``heads`` is checked against it, and the saved declaration records it."""
    rc = main(["validate", "transformer", "--set", "weight_std=0.02", "--set", "heads=5", "--width", "40",
               "--depth", "2", "--samples", "2", "--probes", "1", "--no-doubling", "--json",
               "--out", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    assert rc in (0, 1)  # agreement is not the point here
    arch = report["arch"]
    assert arch["width"] == 40 and report["width"] == 40 and arch["heads"] == 5
    for k in ("q", "k", "v", "o", "1"):
        assert arch[f"sigma_{k}"] == pytest.approx(0.02 * np.sqrt(40))
    assert arch["sigma_2"] == pytest.approx(0.02 * np.sqrt(40 * arch["mlp_ratio"]))


def test_doubling_runs_twice_the_width(tmp_path, capsys):
    """The finite-width allowance extrapolates from d and 2 d: the second ensemble must really be twice
    as wide (a second run at d passed every other test), with its own seed."""
    main(["validate", "toy", "--depth", "2", "--width", "16", "--samples", "2", "--probes", "1", "--json",
          "--out", str(tmp_path)])
    meta = json.loads(capsys.readouterr().out)["meta"]
    assert [m["width"] for m in meta] == [16, 32] and meta[0]["seed"] != meta[1]["seed"]


def test_normal_equivalent_of_student_t():
    from scipy.special import ndtri

    from sigprop.validation import normal_equivalent

    t = np.array([-30.0, -4.0, -1.0, 0.0, 0.5, 4.0, 46.7])
    # 2 degrees of freedom: the t tail is 1/2 - t / (2 sqrt(2 + t^2)) in closed form
    tail = 0.5 - np.abs(t) / (2 * np.sqrt(2 + t * t))
    np.testing.assert_allclose(normal_equivalent(t, 2), np.sign(t) * -ndtri(tail), rtol=1e-9, atol=1e-12)
    # 1 degree of freedom (Cauchy): tail 1/2 - arctan(t)/pi; t = 46.7 is only z = 2.47
    assert normal_equivalent(46.7, 1) == pytest.approx(-ndtri(0.5 - np.arctan(46.7) / np.pi), rel=1e-9)
    assert 2.4 < normal_equivalent(46.7, 1) < 2.5
    # many degrees of freedom: the normal itself; |z| <= |t| always; nan stays nan; huge t kept
    np.testing.assert_allclose(normal_equivalent(t[1:6], 1e7), t[1:6], rtol=1e-5, atol=1e-12)
    for dof in (1, 3, 7, 15, 100):
        assert np.all(np.abs(normal_equivalent(t, dof)) <= np.abs(t) + 1e-12)
    assert np.isnan(normal_equivalent(np.nan, 5)) and normal_equivalent(1e3, 1e7) == 1e3  # tail underflows
    assert 11 < normal_equivalent(1e6, 5) < 12  # t^-5 tails: even t = 1e6 is only z ~ 11


def test_critical_t_and_min_samples_from_closed_forms():
    """The |t| the criterion tolerates: Cauchy (1 dof) t = cot(pi P) and 2 dof t^2 = 2 a^2 / (1 - a^2)
    with a = 1 - 2P, P the normal tail at zmax; zmax itself for infinite dof. min_samples is the first
    ensemble whose S - 1 dof keep it within 3 zmax (by a brute scan of the closed forms' neighbours)."""
    from scipy.special import ndtr

    from sigprop.validation import WEAK, critical_t, min_samples

    for zmax in (2.0, 3.0, 4.0, 5.0):
        P = ndtr(-zmax)
        assert critical_t(zmax, 1) == pytest.approx(1 / np.tan(np.pi * P), rel=1e-8)
        a = 1 - 2 * P
        assert critical_t(zmax, 2) == pytest.approx(np.sqrt(2 * a * a / (1 - a * a)), rel=1e-8)
        assert critical_t(zmax, np.inf) == zmax and critical_t(zmax, 1e9) == pytest.approx(zmax, rel=1e-6)
        s = min_samples(zmax)
        assert critical_t(zmax, s - 1) <= WEAK * zmax < critical_t(zmax, s - 2)
    assert critical_t(4.0, 1) > 1e4 and min_samples(4.0) == 7  # 5 dof tolerate 12.3 > 12, 6 dof 9.8


def test_too_few_networks_are_inconclusive_not_agreement(tmp_path, capsys):
    """Two networks (one degree of freedom) tolerate |t| ~ 10^4 at zmax = 4: a check that cannot fail
    is reported as inconclusive (exit 1) with the ensemble size that would do; 8 networks of the same
    architecture are conclusive (t_7 tolerates 8.47 < 3 x 4)."""
    base = ["validate", "toy", "--depth", "4", "--width", "32", "--probes", "1", "--no-doubling"]
    rc = main(base + ["--samples", "2", "--out", str(tmp_path / "two")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "two" / "validate.json").read_text())
    assert report["max_abs_z"] <= 4.0  # nothing seen, because nothing could be seen
    assert rc == 1 and report["ok"] is False and report["verdict"] == "inconclusive"
    assert report["resolution"] > 1e4 and "INCONCLUSIVE" in out and "use --samples 7 or more" in out
    rc = main(base + ["--samples", "8", "--json", "--out", str(tmp_path / "eight")])
    report = json.loads(capsys.readouterr().out)
    assert report["resolution"] == pytest.approx(8.467, rel=1e-3)  # t_7 at the normal tail of 4
    assert report["verdict"] == ("agreement" if rc == 0 else "disagreement") and report["ok"] == (rc == 0)


def test_report_carries_the_degrees_of_freedom(tmp_path, capsys):
    rc = main(["validate", "toy", "--depth", "4", "--width", "32", "--samples", "6", "--probes", "1",
               "--json", "--out", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    for name in QUANTITIES:
        e = report[name]
        dof = np.asarray(e["dof"], float)  # (null in JSON: infinite, where only the fixed floor remains)
        # Welch-Satterthwaite: statistical variances a, b with S - 1 = 5 each, the float32 round-off
        # floor f with infinite dof: 5 (a + b + f)^2 / (a^2 + b^2), between 5 and 10 when f = 0
        a = 4 * np.nan_to_num(np.asarray(e["stderr_2d"], float)) ** 2
        b = np.nan_to_num(np.asarray(e["stderr"], float)) ** 2
        f = (ROUNDOFF["float32"] * (1 + np.abs(np.asarray(e["theory"], float)))) ** 2
        stat = a * a + b * b > 0
        np.testing.assert_allclose(dof[stat], 5 * (a + b + f)[stat] ** 2 / (a * a + b * b)[stat], rtol=1e-9)
        assert np.all(np.isnan(dof[~stat])) and np.all(dof[stat] >= 5 - 1e-9)
        zn, zi = np.asarray(e["z_normal"], float), np.asarray(e["z_inf"], float)
        ok = np.isfinite(zi)
        assert np.all(np.abs(zn[ok]) <= np.abs(zi[ok]) + 1e-12)
        assert e["max_abs_z"] == pytest.approx(np.max(np.abs(zn[ok])))
    assert rc == (0 if report["ok"] else 1)


def test_validate_a_sweep_in_one_run_per_width(tmp_path, capsys):
    """A sweep over alpha: one Monte-Carlo run per width for all points; each point's columns equal
    the report of that point validated alone (same seed: same networks), to float32 round-off."""
    base = ["validate", "toy", "--depth", "5", "--width", "32", "--samples", "6", "--probes", "2", "--seed", "2"]
    rc = main(base + ["--set", "alpha=0.2,1.0,3.0", "--out", str(tmp_path / "sweep")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "sweep" / "validate.json").read_text())
    assert rc == (0 if report["ok"] else 1) and report["grid_shape"] == [3]
    assert "3 grid points" in out and "alpha=0.2" in out and "alpha=3" in out
    assert np.shape(report["log_apjn"]["mean"]) == (6, 3) and np.shape(report["q"]["shrink"]) == (3,)
    csv = (tmp_path / "sweep" / "validate.csv").read_text().splitlines()
    assert csv[0].startswith("point,alpha,layer,") and len(csv) == 1 + 3 * 6
    for i, alpha in enumerate([0.2, 1.0, 3.0]):
        main(base + ["--set", f"alpha={alpha}", "--json", "--out", str(tmp_path / f"a{i}")])
        alone = json.loads(capsys.readouterr().out)
        for name in QUANTITIES:
            for key in ("theory", "mean", "mean_2d"):
                np.testing.assert_allclose(np.asarray(report[name][key], float)[:, i], alone[name][key],
                                           rtol=1e-5, atol=1e-6, err_msg=f"{name} {key} alpha={alpha}")
            assert report[name]["shrink"][i] == pytest.approx(alone[name]["shrink"], rel=1e-3)


def test_validate_sweep_fails_when_one_point_fails(tmp_path, capsys):
    """sigma_w^2 = 1 and 1e8 in a linear network: the second point's float32 q overflows from layer 5
    on, so the sweep fails at those layers although the first point agrees."""
    rc = main(["validate", "plain", "--set", "activation=identity", "--set", "sigma_w2=1,1e8", "--set", "sigma_b2=0",
               "--depth", "8", "--width", "16", "--samples", "8", "--probes", "2", "--no-doubling",
               "--out", str(tmp_path)])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "validate.json").read_text())
    assert rc == 1 and report["ok"] is False and "DISAGREEMENT" in out
    assert report["q"]["nonfinite_layers"] == [5, 6, 7, 8] and "layers 5-8" in out
    zn = np.asarray(report["q"]["z_normal"], float)
    assert np.nanmax(np.abs(zn[:, 0])) <= 4.0  # sigma_w^2 = 1 agrees


def test_validate_sweep_where_one_points_theory_leaves_float64(tmp_path, capsys):
    """A plain ReLU MLP at sigma_w^2 = 1e21: its recurrence leaves float64 at layer 15. In float64 the
    other point is validated and the lost layers are listed, not compared; in float32 the networks
    overflow much earlier, which fails (finite in the theory only) with the --float64 hint."""
    args = ["validate", "plain", "--set", "sigma_w2=2,1e21", "--depth", "20", "--width", "16", "--samples", "8"]
    rc = main(args + ["--float64", "--out", str(tmp_path / "f64")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "f64" / "validate.json").read_text())
    assert rc == 0 and report["ok"] is True
    assert report["q"]["theory_lost_by_point"] == [[], list(range(15, 21))]
    assert "sigma_w2=1e+21: the theory left float64 at layers 15-20: not compared there" in out
    rc = main(args + ["--out", str(tmp_path / "f32")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "f32" / "validate.json").read_text())
    assert rc == 1 and report["verdict"] == "disagreement"
    assert report["q"]["nonfinite_by_point"][0] == [] and report["q"]["nonfinite_by_point"][1]
    assert "finite in the theory only" in out and "--float64" in out


def test_relu_after_dyt_agrees_with_finite_width_networks(tmp_path, capsys):
    """relu(tanh(h)): the theory's APJN once missed the jump of relu' where tanh crosses 0 (log J(0, 128)
    3.385 instead of 3.483: 3.6 standard errors below these networks, which the criterion's 4 let
    pass). The networks must agree within the criterion and, at the last layer, within 3 errors."""
    rc = main(["validate", "toy", "--set", "normalizer=dyt", "--set", "activation=relu", "--set", "alpha=1.0",
               "--depth", "128", "--width", "256", "--samples", "32", "--json", "--out", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["ok"] is True
    final = report["log_apjn"]
    assert abs(final["mean"][-1] - final["theory"][-1]) < 3 * final["stderr"][-1]  # the old value: 3.6


def test_sweep_point_labels_group_fields_swept_together():
    """A swept weight_std sets six sigmas: the labels name the five equal ones once."""
    from sigprop import io
    from sigprop.validation import _point_labels

    arch = io.load_arch("transformer", ["weight_std=0.01,0.02", "width=256"])
    assert _point_labels(arch) == ["sigma_{q,k,v,o,1}=0.16 sigma_2=0.32", "sigma_{q,k,v,o,1}=0.32 sigma_2=0.64"]
    assert _point_labels(io.load_arch("toy", ["alpha=0.1,0.5", "sigma_w2=0.2,0.3"])) == [
        "alpha=0.1 sigma_w2=0.2", "alpha=0.5 sigma_w2=0.3"]


def test_floor_only_discrepancy_is_normal():
    """Where the networks agree exactly (no spread) the z-score's error is the fixed round-off floor,
    which has infinite degrees of freedom: z = 8 must stay 8, not shrink as a Student-t with S - 1."""
    from sigprop.validation import _dof, normal_equivalent

    dof = _dof([np.zeros(2)], np.full(2, 1e-10), 7)
    assert np.all(np.isinf(dof))
    np.testing.assert_allclose(normal_equivalent(np.array([8.0, -3.0]), dof), [8.0, -3.0])
    assert normal_equivalent(8.0, 7.0) == pytest.approx(3.913, abs=1e-3)  # what it used to be


class _Run:
    """A stand-in Monte-Carlo result: given per-layer means and standard errors of S networks."""

    def __init__(self, mean, se, samples):
        self._m, self._se, self.meta = np.asarray(mean, float), np.asarray(se, float), {"samples": samples}

    def mean(self, name):
        return self._m

    def stderr(self, name):
        return self._se


def test_width_doubling_criterion_by_hand():
    """The Richardson criterion on planted numbers: theory t, measurements t + c/d and t + c/(2d) with given
    errors. mean_inf = 2 m(2d) - m(d) removes c/d exactly, z_inf divides by sqrt(4 se2^2 + se^2 + floor^2),
    shrink = rms(m(d) - t) / rms(m(2d) - t) = 2, and the verdict uses z_inf, not z at width d."""
    from sigprop.validation import _entry, normal_equivalent

    t = np.array([1.0, 2.0, 3.0, 5.0])
    c = np.array([0.0, 0.4, -0.8, 1.2])
    se, se2 = np.array([0.0, 0.01, 0.02, 0.03]), np.array([0.0, 0.005, 0.01, 0.02])
    floor = 1e-5
    e = _entry(t, _Run(t + c, se, 9), _Run(t + c / 2, se2, 9), "q", floor, 4.0)
    np.testing.assert_allclose(e["mean_inf"], t, atol=1e-15)  # the c/d term removed exactly
    np.testing.assert_allclose(e["z_inf"], 0.0, atol=1e-12)
    assert e["shrink"] == pytest.approx(2.0, rel=1e-12)
    assert np.nanmax(np.abs(e["z"])) > 30  # at width d the planted bias is many errors: the allowance matters
    assert e["max_abs_z"] < 1e-9
    # a width-independent error b survives the extrapolation: z_inf = b / sqrt(4 se2^2 + se^2 + floor^2)
    b = 0.1
    e = _entry(t, _Run(t + c + b, se, 9), _Run(t + c / 2 + b, se2, 9), "q", floor, 4.0)
    expected = b / np.sqrt(4 * se2 ** 2 + se ** 2 + (floor * (1 + t)) ** 2)
    np.testing.assert_allclose(e["z_inf"], expected, rtol=1e-12)
    np.testing.assert_allclose(e["z_normal"], normal_equivalent(expected, e["dof"]), rtol=1e-12)
    assert e["max_abs_z"] > 4.0
    rms = lambda x: np.sqrt(np.mean(x ** 2))  # noqa: E731
    assert e["shrink"] == pytest.approx(rms(c + b) / rms(c / 2 + b), rel=1e-12)


def test_default_folder_is_one_per_architecture(tmp_path, monkeypatch, capsys):
    """Without --out, a preset's results go to results/validate/PRESET and a declaration file's to
    results/validate/STEM: validating another architecture keeps the first one's files."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_stack.toml").write_text('preset = "mlp"\n')
    small = ["--depth", "2", "--width", "16", "--samples", "4", "--probes", "1", "--no-doubling", "--json"]
    for arch in ("toy", "my_stack.toml"):
        main(["validate", arch] + small)
        capsys.readouterr()
    toy = json.loads((tmp_path / "results" / "validate" / "toy" / "validate.json").read_text())
    mine = json.loads((tmp_path / "results" / "validate" / "my_stack" / "validate.json").read_text())
    assert (toy["arch"]["arch"], mine["arch"]["arch"]) == ("toy", "transformer")
