"""The exact recurrence: invariants, exact identities, vectorization, log space."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sigprop
from sigprop import PlainMLP, ToyResidual, Transformer
from sigprop.normalizers import NormParams, get_normalizer

norms = st.sampled_from(["identity", "layernorm", "rmsnorm", "lns", "derf", "dyt"])
sig = st.floats(0.1, 2.0)


@given(norms, st.floats(0.05, 2.0), sig, st.floats(0.0, 0.5), st.floats(0.1, 5.0), st.floats(-0.9, 0.999),
       st.sampled_from(["identity", "relu", "tanh"]))
def test_toy_preserves_p_le_q(norm, alpha, sw, sb2, q0, rho, act):
    arch = ToyResidual(depth=40, normalizer=norm, alpha=alpha, sigma_w2=sw * sw, sigma_b2=sb2, q0=q0,
                       p0=rho * q0, activation=act)
    tr = sigprop.solve(arch)
    assert np.all(np.abs(tr.p) <= tr.q * (1 + 1e-10))
    assert np.all(tr.q > 0) and np.all(tr.chi > 0)
    params = NormParams(alpha=alpha, eps=0.0, block=1)
    qt, pt, _ = get_normalizer(norm).maps(tr.q, tr.p, params)
    assert np.all(qt >= 0) and np.all(np.abs(pt) <= qt * (1 + 1e-10) + 1e-14)


@given(st.sampled_from(["layernorm", "derf", "dyt"]), sig, sig, sig, st.integers(1, 50), st.floats(0.0, 0.99))
def test_transformer_preserves_p_le_q(norm, sqk, sov, s2, n, rho):
    arch = Transformer(depth=12, n_tokens=n, normalizer=norm, alpha=0.7, sigma_q=sqk, sigma_k=sqk, sigma_v=sov,
                       sigma_o=1.0, sigma_1=1.0, sigma_2=s2, q0=1.0, p0=rho)
    tr = sigprop.solve(arch)
    assert np.all(tr.p <= tr.q * (1 + 1e-12)) and np.all(tr.p >= -1e-12)
    assert np.all(tr.chi >= 1.0)  # residual branches only add to the Jacobian norm


@given(st.sampled_from(["layernorm", "rmsnorm", "lns"]), st.floats(0.01, 4.0), st.floats(0.01, 100.0),
       st.integers(1, 300))
def test_apjn_equals_variance_ratio_for_scale_invariant_norms(norm, sw2, q0, depth):
    """chi = q[l+1]/q[l] exactly for h' = h + W Norm(h) (docs/theory.md), so J(0, L) = q[L]/q[0]."""
    arch = ToyResidual(depth=depth, normalizer=norm, sigma_w2=sw2, q0=q0, p0=0.0, eps=0.0)
    tr = sigprop.solve(arch, need_p=False)
    np.testing.assert_allclose(tr.log_apjn, np.log(tr.q / tr.q[0]), rtol=1e-12, atol=1e-12)


def test_pre_ln_toy_is_linear_and_lns_is_logarithmic():
    sw2 = 0.3
    ln = sigprop.solve(ToyResidual(depth=1000, normalizer="layernorm", sigma_w2=sw2, eps=0.0), need_p=False)
    np.testing.assert_allclose(ln.q, 1 + sw2 * np.arange(1001), rtol=1e-12)
    lns = sigprop.solve(ToyResidual(depth=1000, normalizer="lns", sigma_w2=sw2, eps=0.0), need_p=False)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, 1001))])
    np.testing.assert_allclose(lns.q, 1 + sw2 * harmonic, rtol=1e-12)


def test_plain_relu_closed_form():
    """q' = sw2 q / 2 and chi = sw2 / 2 (seed 003: sw2 = 0.1, chi = 0.05)."""
    tr = sigprop.solve(PlainMLP(depth=20, sigma_w2=0.1, q0=2.0, p0=1.0))
    np.testing.assert_allclose(tr.q, 2.0 * 0.05 ** np.arange(21), rtol=1e-12)
    np.testing.assert_allclose(tr.chi, 0.05)
    np.testing.assert_allclose(tr.log_apjn, np.arange(21) * np.log(0.05), rtol=1e-12)


def test_grid_solve_equals_pointwise_solves():
    alphas = np.array([0.1, 0.5, 1.3])
    sws = np.array([0.2, 0.5])
    arch = ToyResidual(depth=30, normalizer="dyt", alpha=alphas[:, None], sigma_w2=sws ** 2)
    grid = sigprop.solve(arch)
    for i, a in enumerate(alphas):
        for j, s in enumerate(sws):
            one = sigprop.solve(ToyResidual(depth=30, normalizer="dyt", alpha=a, sigma_w2=s * s))
            np.testing.assert_allclose(grid.q[:, i, j], one.q, rtol=1e-12)
            np.testing.assert_allclose(grid.log_apjn[:, i, j], one.log_apjn, rtol=1e-12)


def test_threaded_grid_equals_serial():
    arch = ToyResidual(depth=20, normalizer="dyt", alpha=np.linspace(0.1, 2, 64)[:, None],
                       sigma_w2=np.linspace(0.1, 1, 80))
    a = sigprop.solve(arch, need_p=False, workers=1)
    b = sigprop.solve(arch, need_p=False, workers=2)
    np.testing.assert_array_equal(a.log_apjn, b.log_apjn)


def test_log_space_reaches_large_depth():
    """Depth 1e5 of the subcritical toy: J ~ exp(sqrt(l/lam)) stays finite in log space."""
    tr = sigprop.solve(sigprop.preset("toy", alpha=1.0), depth=100_000, need_p=False)
    assert np.isfinite(tr.log_apjn[-1]) and tr.log_apjn[-1] > 100


@pytest.mark.slow
def test_depth_one_million():
    tr = sigprop.solve(sigprop.preset("toy", alpha=1.9), depth=1_000_000, need_p=False)
    assert np.isfinite(tr.log_apjn[-1]) and tr.log_apjn[-1] > 700  # J itself would overflow float64


def test_exponential_phase_overflow_raises_clearly():
    with pytest.raises(FloatingPointError, match="reduce the depth"):
        sigprop.solve(PlainMLP(depth=5000, sigma_w2=8.0), need_p=False)


def test_backward_apjn_is_consistent():
    tr = sigprop.solve(sigprop.preset("mlp"))
    np.testing.assert_allclose(tr.log_apjn_back, tr.log_apjn[-1] - tr.log_apjn)
    assert tr.log_apjn_back[-1] == 0.0
    np.testing.assert_allclose(tr.log_apjn_from(3)[-1], tr.log_apjn[-1] - tr.log_apjn[3])


def test_backward_apjn_with_attention_restarts_isotropic_tangents():
    """With attention J(l, L) starts from uncorrelated tangents at l (jp = 0), so it is not
    J(0, L)/J(0, l); it equals a forward solve of the sublayers l..L-1 started at (q[l], p[l])."""
    arch = sigprop.preset("transformer", depth=12)
    tr = sigprop.solve(arch)
    assert tr.log_apjn_back[0] == pytest.approx(tr.log_apjn[-1], rel=1e-12)
    assert tr.log_apjn_back[-1] == 0.0
    for l in (2, 6, 10):  # block boundaries: the restarted stack has the same pattern
        rest = sigprop.solve(arch.replace(depth=arch.depth - l, q0=float(tr.q[l]), p0=float(tr.p[l])))
        assert rest.log_apjn[-1] == pytest.approx(tr.log_apjn_back[l], rel=1e-10)
    assert not np.allclose(tr.log_apjn_back, tr.log_apjn[-1] - tr.log_apjn)
    with pytest.raises(ValueError, match="attention"):
        tr.log_apjn_from(3)


def test_post_norm_keeps_layernorm_output_normalized():
    tr = sigprop.solve(sigprop.preset("transformer", placement="post", eps=0.0))
    np.testing.assert_allclose(tr.q[1:], 1.0, rtol=1e-12)


def test_scaled_init_bounds_growth():
    std = sigprop.solve(sigprop.preset("mlp", depth=256, eps=0.0))
    scaled = sigprop.solve(sigprop.preset("mlp", depth=256, eps=0.0, init="scaled"))
    # scaled: every branch adds s21 / (2 * 2L) so q[L] = 1 + 1/4 exactly (ReLU, LN)
    assert scaled.q[-1] == pytest.approx(1.25, rel=1e-12)
    assert std.q[-1] == pytest.approx(1 + 256 * 0.5, rel=1e-12)


def _cli(*args):
    out = subprocess.run([sys.executable, "-m", "sigprop", *args], capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


def test_cli_theory_json_contract():
    rc, out, err = _cli("theory", "toy", "--set", "alpha=0.3", "--set", "normalizer=dyt", "--depth", "12", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert len(data["q"]) == len(data["p"]) == len(data["log_apjn"]) == 13
    assert len(data["chi"]) == 12
    assert data["params"]["alpha"] == 0.3 and data["params"]["normalizer"] == "dyt"
    direct = sigprop.solve(sigprop.preset("toy", alpha=0.3, normalizer="dyt", depth=12))
    np.testing.assert_allclose(data["log_apjn"], direct.log_apjn, rtol=1e-12)


def test_cli_theory_one_token_has_no_p(tmp_path):
    """n_tokens = 1: no token pairs, so no cross-token covariance (as validate and fit say): the text
    table shows none, the JSON has p = null and the CSV no p column."""
    rc, out, err = _cli("theory", "transformer", "--set", "n_tokens=1", "--depth", "4", "--json", "--out", str(tmp_path))
    assert rc == 0, err
    data = json.loads(out)
    assert data["p"] is None and len(data["q"]) == 5 and "no cross-token covariance" in err
    assert "p" not in (tmp_path / "theory.csv").read_text().splitlines()[0].split(",")
    rc, out, _ = _cli("theory", "transformer", "--set", "n_tokens=1", "--depth", "4")
    assert rc == 0 and out.splitlines()[1].split()[2] == "-"  # layer 0: q 1, then p '-'
    rc, out, _ = _cli("theory", "transformer", "--set", "n_tokens=2", "--depth", "4", "--json")
    assert len(json.loads(out)["p"]) == 5


@pytest.mark.parametrize("args,needle", [
    (("theory", "toy", "--set", "alpha=-1"), "alpha must be > 0"),
    (("theory", "toy", "--set", "normalizer=nope"), "unknown normalizer"),
    (("theory", "nope"), "unknown architecture"),
    (("theory", "toy", "--set", "bogus=1"), "unknown key"),
    (("theory", "toy", "--depth", "0"), "depth must be"),
    (("theory", "plain", "--set", "sigma_w2=0", "--depth", "10"), "q dropped to exactly 0 at sublayer 0"),
    (("theory", "plain", "--set", "sigma_w2=0.1", "--depth", "400"), "q underflowed float64 at sublayer 236"),
])
def test_cli_errors_are_clear(args, needle):
    rc, _, err = _cli(*args)
    assert rc == 2 and needle in err


def test_cli_reads_toml(tmp_path):
    f = tmp_path / "net.toml"
    f.write_text('arch = "transformer"\ndepth = 6\nnormalizer = "derf"\nalpha = 0.4\nn_tokens = 5\n')
    rc, out, err = _cli("theory", str(f), "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert len(data["q"]) == 7 and data["params"]["n_tokens"] == 5


def test_progress_lines_on_long_runs(monkeypatch, capsys):
    import itertools

    from sigprop.theory import solver

    clock = itertools.count(0.0, 10.0)  # every reading 10 s later: each check prints
    monkeypatch.setattr(solver.time, "perf_counter", lambda: next(clock))
    traj = solver.solve(sigprop.preset("toy", depth=2048), progress=True)
    err = capsys.readouterr().err
    assert "sublayer 1,024 of 2,048" in err and "sublayer 2,048 of 2,048" in err
    np.testing.assert_array_equal(traj.q, solver.solve(sigprop.preset("toy", depth=2048)).q)
    assert capsys.readouterr().err == ""  # no progress unless asked


def test_q_underflow_is_an_error_not_silent_zeros():
    """Plain ReLU at sigma_w^2 = 0.1: q = 0.05^l leaves the normal float64 range near l = 236."""
    traj = sigprop.solve(sigprop.preset("plain", depth=200))
    assert traj.q[-1] > 0 and np.all(np.isfinite(traj.p / traj.q))
    with pytest.raises(FloatingPointError, match="underflowed float64 at sublayer 236"):
        sigprop.solve(sigprop.preset("plain", depth=300))


def test_neutral_rho_fixed_point_is_the_conserved_initial_rho():
    """Toy Pre-LN: F(rho) = rho for every rho (rho is conserved), so the large-depth rho is p0/q0."""
    from sigprop.theory.asymptotics import rho_fixed_point

    for p0 in (0.5, 0.3, -0.2):
        arch = sigprop.preset("toy", normalizer="layernorm", q0=1.0, p0=p0, depth=2000)
        traj = sigprop.solve(arch)
        assert rho_fixed_point(arch) == pytest.approx(p0)
        assert traj.p[-1] / traj.q[-1] == pytest.approx(p0, abs=1e-9)


def test_sweep_over_an_exponential_phase_with_overflow_nan():
    """Plain ReLU MLP: q grows as (sigma_w^2/2)^l, so sigma_w^2 = 1e21 leaves float64 at l = 15 and
    sigma_w^2 = 0.1 underflows at l = 237; the other points must be exactly the scalar solves, and
    the lost points their scalar solves up to the last layer that stayed in range."""
    sweep = sigprop.preset("plain", depth=260, sigma_w2=[0.1, 2.0, 1e21])
    with pytest.raises(FloatingPointError, match="overflow='nan'"):
        sigprop.solve(sweep)
    traj = sigprop.solve(sweep, overflow="nan")
    np.testing.assert_array_equal(traj.q[:, 1], sigprop.solve(sweep.replace(sigma_w2=2.0)).q)
    for col, x, first_lost in ((0, 0.1, 237), (2, 1e21, 15)):
        alone = sigprop.solve(sweep.replace(sigma_w2=x, depth=first_lost - 1))
        np.testing.assert_array_equal(traj.q[:first_lost, col], alone.q)
        np.testing.assert_array_equal(traj.log_apjn[:first_lost, col], alone.log_apjn)
        assert np.all(np.isnan(traj.q[first_lost:, col])) and np.all(np.isnan(traj.p[first_lost:, col]))
        assert np.all(np.isnan(traj.log_apjn[first_lost:, col])) and np.all(np.isnan(traj.chi[first_lost - 1:, col]))
    with pytest.raises(ValueError, match="overflow"):
        sigprop.solve(sweep, overflow="ignore")


def test_sweep_marks_points_beyond_the_softmax_reach_nan(monkeypatch):
    """Attention without a normalizer: q grows, and so does the logit variance; a point whose
    variance passes the softmax quadrature's reach is nan from there (overflow="nan") while the
    others stay their solo solves. The reach is lowered so that this happens within 12 sublayers."""
    import sigprop.softmax as sm

    monkeypatch.setattr(sm, "_PAIR_NODES_MAX", sm._pair_nodes(8, 20.0))
    sweep = sigprop.preset("transformer", normalizer="identity", depth=12, sigma_q=[0.05, 1.0])
    with pytest.raises(ValueError, match="too large for the softmax pair moments"):
        sigprop.solve(sweep)
    traj = sigprop.solve(sweep, overflow="nan")
    alone = sigprop.solve(sweep.replace(sigma_q=0.05))
    for got, want in ((traj.q[:, 0], alone.q), (traj.p[:, 0], alone.p), (traj.log_apjn[:, 0], alone.log_apjn),
                      (traj.log_apjn_back[:, 0], alone.log_apjn_back)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    lost = np.flatnonzero(np.isnan(traj.q[:, 1]))
    assert lost.size and np.all(np.diff(lost) == 1) and lost[-1] == 12  # nan from the first lost layer on
    first = lost[0]
    before = sigprop.solve(sweep.replace(sigma_q=1.0, depth=first - 1))
    np.testing.assert_allclose(traj.q[:first, 1], before.q, rtol=1e-12)
    np.testing.assert_allclose(traj.log_apjn[:first, 1], before.log_apjn, rtol=1e-12, atol=1e-13)
    assert np.all(np.isnan(traj.log_apjn_back[:-1, 1])) and traj.log_apjn_back[-1, 1] == 0.0
    with pytest.raises(ValueError, match="too large"):  # the next sublayer of the lost point, alone
        sigprop.solve(sweep.replace(sigma_q=1.0, depth=first))


def test_cli_theory_sweep_keeps_the_points_in_range(tmp_path):
    out = subprocess.run([sys.executable, "-m", "sigprop", "theory", "plain", "--set", "sigma_w2=2,1e21",
                          "--depth", "40", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 of 2 grid points left float64" in out.stderr and "from sublayer 14 on" in out.stderr
    data = json.loads(out.stdout)
    assert data["q"][40][0] == pytest.approx(1.0) and data["q"][40][1] is None


@pytest.mark.parametrize("norm", ["dyt", "layernorm"])
def test_post_norm_sweep_beyond_the_softmax_reach(monkeypatch, norm):
    """Post-norm: the lost point's nan must not reach the normalizer's quadrature (which refuses a
    non-finite p for the whole sweep); the other point stays its solo solve."""
    import sigprop.softmax as sm

    monkeypatch.setattr(sm, "_PAIR_NODES_MAX", sm._pair_nodes(8, 20.0))
    sweep = sigprop.preset("transformer", normalizer=norm, placement="post", alpha=1.0, depth=6,
                           sigma_q=[0.5, 6.0], sigma_k=[1.0, 6.0])
    traj = sigprop.solve(sweep, overflow="nan")
    assert np.all(np.isnan(traj.q[1:, 1]))
    np.testing.assert_allclose(traj.q[:, 0], sigprop.solve(sweep.replace(sigma_q=0.5, sigma_k=1.0)).q, rtol=1e-12)


def test_far_beyond_the_softmax_reach_costs_nothing():
    """A logit variance of ~1.5e6 (sigma_q sigma_k = 1600) is refused before any quadrature grid is
    built (the one-row moments once asked for 13 TiB)."""
    sweep = sigprop.preset("transformer", depth=2, placement="post", sigma_q=[0.5, 40.0], sigma_k=[0.5, 40.0])
    traj = sigprop.solve(sweep, overflow="nan")
    assert np.all(np.isfinite(traj.q[:, 0])) and np.all(np.isnan(traj.q[1:, 1]))
    with pytest.raises(ValueError, match="too large for the softmax"):
        sigprop.solve(sweep.replace(sigma_q=40.0, sigma_k=40.0))
