"""``sigprop fit`` on the three input formats (theory JSON, validate JSON, CSV)."""

import json

import numpy as np
import pytest

import sigprop
from sigprop import io
from sigprop.cli import main
from sigprop.fitting import fit_growth
from sigprop.theory import asymptotics as A


def _run(capsys, *args):
    rc = main(["fit", *map(str, args)])
    return rc, capsys.readouterr()


def test_theory_json_apjn_and_q(tmp_path, capsys):
    arch = sigprop.preset("mlp", depth=2000, eps=0.0)
    path = io.write_json(tmp_path / "theory.json", sigprop.solve(arch).to_dict())
    rc, out = _run(capsys, path, "--json")
    assert rc == 0
    d = json.loads(out.out)
    assert set(d) == {"model", "regime", "params", "intervals", "window", "scores"}
    assert (d["model"], d["regime"]) == ("power", "critical")
    # window starts at >= 64 layers where J = q/q0 ~ (l + l0) with l0 = 2 q0 / s21 = 2: slope bias ~ l0/l
    assert d["params"]["zeta"] == pytest.approx(A.predict_zeta(arch), abs=0.02)
    rc, out = _run(capsys, path, "--quantity", "q")
    assert rc == 0 and "power" in out.out and "window" in out.out and "zeta" in out.out


def test_validate_json_uses_mean_and_stderr(tmp_path, capsys):
    """A validate-shaped report: the Monte-Carlo mean of log J with its stderr (delta method)."""
    l = np.arange(0, 129)
    mean = 0.5 * np.log(np.maximum(l, 1))  # J = l^0.5 (layer 0 is dropped by the fit)
    se = np.full(l.size, 0.01)
    report = {"log_apjn": {"theory": mean, "mean": mean + 0.0, "stderr": se, "z": np.zeros(l.size)},
              "q": {"theory": 1 + l, "mean": 1.0 + l, "stderr": 0.01 * (1 + l), "z": np.zeros(l.size)}}
    path = io.write_json(tmp_path / "validate.json", report)
    rc, out = _run(capsys, path, "--json")
    d = json.loads(out.out)
    assert d["model"] == "power" and d["params"]["zeta"] == pytest.approx(0.5, abs=1e-9)
    lo, hi = d["intervals"]["zeta"]
    # stderr(log J) = 0.01 per layer over a window spanning log l in [~2, 4.9]: interval ~ 1e-3 wide
    assert lo < 0.5 < hi and 1e-4 < hi - lo < 0.05


def test_csv_with_and_without_stderr(tmp_path, capsys):
    l = np.arange(1, 200)
    path = io.write_csv(tmp_path / "j.csv", {"layer": l, "value": 2.0 * np.exp(l / 25.0)})
    rc, out = _run(capsys, path, "--json")
    d = json.loads(out.out)
    assert (d["model"], d["regime"]) == ("exp", "chaotic") and d["params"]["xi"] == pytest.approx(25.0, rel=1e-6)
    path = io.write_csv(tmp_path / "k.csv", {"layer": l, "value": np.exp(-l / 5.0), "stderr": 0.01 * np.exp(-l / 5.0)})
    rc, out = _run(capsys, path)
    assert rc == 0 and "ordered" in out.out


def test_bad_inputs_fail_clearly(tmp_path, capsys):
    rc, out = _run(capsys, tmp_path / "missing.json")
    assert rc == 2 and "no such file" in out.err
    path = io.write_csv(tmp_path / "bad.csv", {"x": [1, 2], "y": [1, 2]})
    rc, out = _run(capsys, path)
    assert rc == 2 and "layer" in out.err
    path = io.write_json(tmp_path / "other.json", {"hello": 1})
    rc, out = _run(capsys, path)
    assert rc == 2 and "log_apjn" in out.err
    rc, out = _run(capsys, tmp_path)  # a folder
    assert rc == 2 and "folder" in out.err
    (tmp_path / "ragged.csv").write_text("layer,value\n1,2\n41\n")
    rc, out = _run(capsys, tmp_path / "ragged.csv")
    assert rc == 2 and "row 3" in out.err
    (tmp_path / "text.csv").write_text("layer,value\n1,2\n2,abc\n")
    rc, out = _run(capsys, tmp_path / "text.csv")
    assert rc == 2 and "'value' row 3" in out.err and "abc" in out.err


def test_apjn_beyond_the_float_range_is_fitted_from_its_logs(tmp_path, capsys):
    """log J reaches 782 > 709 (exp overflows float64): fitted from log_apjn, every layer is used
    and the result is the fit of the same profile's logs (checked against fit_growth directly)."""
    arch = sigprop.preset("toy", depth=5000, alpha=5.0, sigma_w2=4.0)
    traj = sigprop.solve(arch)
    assert traj.log_apjn[-1] > 709
    path = io.write_json(tmp_path / "big.json", traj.to_dict())
    rc, out = _run(capsys, path, "--json")
    d = json.loads(out.out)
    assert rc == 0 and d["window"][1] == 5000
    ref = fit_growth(np.arange(5001), traj.log_apjn, log=True)
    assert d["model"] == ref.model and d["params"] == pytest.approx(ref.params)


def test_log_fit_equals_linear_fit():
    l = np.arange(200)
    j = 3.0 * (1 + l) ** 0.7 * np.exp(0.01 * np.sin(l))
    se = 0.02 * j
    a = fit_growth(l, j, se)
    b = fit_growth(l, np.log(j), 0.02 * np.ones(l.size), log=True)
    assert (a.model, a.window) == (b.model, b.window) and a.params == pytest.approx(b.params, rel=1e-9)
    with pytest.raises(ValueError, match="linear values"):
        fit_growth(l, np.log(j), log=True, samples=np.ones((3, l.size)))


def test_the_packages_own_csvs(tmp_path, capsys):
    """``sigprop theory --out`` and ``sigprop validate`` CSVs fit like their JSON twins."""
    assert main(["theory", "mlp", "--depth", "400", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    for q in ("apjn", "q"):
        rc, out_csv = _run(capsys, tmp_path / "theory.csv", "--quantity", q, "--json")
        rc2, out_json = _run(capsys, tmp_path / "theory.json", "--quantity", q, "--json")
        assert rc == rc2 == 0 and json.loads(out_csv.out) == json.loads(out_json.out)
    l = np.arange(0, 129)
    io.write_csv(tmp_path / "validate.csv", {"layer": l, "log_apjn_mean": 0.5 * np.log(np.maximum(l, 1)),
                                             "log_apjn_stderr": np.full(l.size, 0.01)})
    rc, out = _run(capsys, tmp_path / "validate.csv", "--json")
    assert rc == 0 and json.loads(out.out)["params"]["zeta"] == pytest.approx(0.5, abs=1e-9)


def test_a_sweeps_csv_is_refused(tmp_path, capsys):
    assert main(["theory", "toy", "--depth", "50", "--set", "sigma_w2=0.05,2.0", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    rc, out = _run(capsys, tmp_path / "theory.csv")
    assert rc == 2 and "a sweep (2 grid points" in out.err


def test_a_sweeps_validate_json_is_refused(tmp_path, capsys):
    report = {"log_apjn": {"mean": [[0.0, 0.0], [0.1, 0.2], [0.2, 0.4]], "stderr": [[0.0, 0.0]] * 3}}
    (tmp_path / "validate.json").write_text(json.dumps(report))
    rc, out = _run(capsys, tmp_path / "validate.json")
    assert rc == 2 and "a sweep" in out.err and "(3, 2)" in out.err


def test_scaled_init_profiles_carry_a_note(tmp_path, capsys):
    """A theory or validate JSON whose declaration has init=scaled: the branches scale with the depth,
    so the printout and the JSON say that the fitted law is of this one profile; a standard init and
    a CSV carry no note."""
    scaled = sigprop.solve(sigprop.preset("toy", depth=64, init="scaled")).to_dict()
    path = io.write_json(tmp_path / "scaled.json", scaled)
    rc, out = _run(capsys, path)
    assert rc == 0 and "init=scaled" in out.out and "several --depth" in out.out
    rc, out = _run(capsys, path, "--json")
    assert "init=scaled" in json.loads(out.out)["note"]
    l = np.arange(65)
    report = {"log_apjn": {"mean": np.asarray(scaled["log_apjn"]), "stderr": np.full(65, 1e-3)},
              "arch": {"arch": "toy", "init": "scaled"}}
    rc, out = _run(capsys, io.write_json(tmp_path / "validate.json", report))
    assert rc == 0 and "init=scaled" in out.out
    standard = io.write_json(tmp_path / "standard.json", sigprop.solve(sigprop.preset("toy", depth=64)).to_dict())
    rc, out = _run(capsys, standard, "--json")
    assert "note" not in json.loads(out.out)
    csv = tmp_path / "p.csv"
    csv.write_text("layer,value\n" + "".join(f"{i},{1 + 0.01 * i}\n" for i in l[1:]))
    rc, out = _run(capsys, csv)
    assert rc == 0 and "init=scaled" not in out.out


def test_fit_reads_standard_input(monkeypatch, capsys):
    """``-`` reads a JSON or a CSV piped in (``sigprop theory toy --json | sigprop fit -``); the same fit
    as from a file, and errors name <stdin>."""
    import io as pyio

    l = np.arange(1, 200)
    csv = "layer,value\n" + "".join(f"{a},{2.0 * a ** 0.7}\n" for a in l)
    monkeypatch.setattr("sys.stdin", pyio.StringIO(csv))
    rc, out = _run(capsys, "-", "--json")
    assert rc == 0 and json.loads(out.out)["params"]["zeta"] == pytest.approx(0.7, rel=1e-9)
    data = sigprop.solve(sigprop.preset("mlp", depth=300)).to_dict()
    monkeypatch.setattr("sys.stdin", pyio.StringIO(io.dumps(data)))
    rc, out = _run(capsys, "-", "--json", "--quantity", "q")
    ref = fit_growth(np.arange(301), np.asarray(data["q"]))
    assert rc == 0 and json.loads(out.out)["params"] == pytest.approx(ref.params)
    monkeypatch.setattr("sys.stdin", pyio.StringIO("layer,val\n1,1\n"))
    rc, out = _run(capsys, "-")
    assert rc == 2 and "<stdin>: a CSV needs columns" in out.err
