"""Large-depth predictions against the solver's own curves at large depth.

The predictions are evaluated at the regime's limit (q -> infinity at the
fixed point of rho); the solver approaches them with known corrections, so
the tolerances below state the order of those corrections at the depth used.
"""

import numpy as np
from scipy import integrate
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sigprop
from sigprop import ToyResidual, Transformer
from sigprop.theory import asymptotics as A

from hypothesis_budget import examples


@given(st.floats(0.05, 3.0), st.floats(0.0, 2.0))
def test_toy_pre_ln_zeta_closed_form(sw2, sb2):
    """Doshi et al.: zeta = sw2 / (sw2 + sb2) for h' = h + W LN(h) + b."""
    z = A.predict_zeta(ToyResidual(normalizer="layernorm", sigma_w2=sw2, sigma_b2=sb2))
    assert z == pytest.approx(sw2 / (sw2 + sb2), rel=1e-12)


@settings(max_examples=examples(10))
@given(st.floats(0.1, 2.0), st.floats(0.0, 1.0))
def test_toy_fitted_exponent_matches_zeta(sw2, sb2):
    arch = ToyResidual(normalizer="layernorm", sigma_w2=sw2, sigma_b2=sb2, eps=0.0)
    tr = sigprop.solve(arch, depth=20_000, need_p=False)
    l = np.array([10_000, 20_000])
    slope = np.diff(tr.log_apjn[l]) / np.diff(np.log(l))
    # corrections are O(1/(c_q l)) = O(1e-4 / c_q) at l = 1e4
    assert slope[0] == pytest.approx(A.predict_zeta(arch), abs=2e-3)


def _check_transformer_exponent(sqk, sov, n):
    arch = Transformer(normalizer="layernorm", n_tokens=n, sigma_q=sqk, sigma_k=sqk, sigma_v=sov, eps=0.0)
    modes = A.zeta_modes(arch)
    zeta, zeta_2 = modes["zeta"], modes["zeta_2"]
    tr = sigprop.solve(arch, depth=20_000)
    l = np.array([2_500, 5_000, 10_000, 20_000])
    slopes = np.diff(tr.log_apjn[l]) / np.diff(np.log(l))
    # J ~ w_1 l^zeta + w_2 l^zeta_2: the local slope lies between the two modes (up to the slow
    # relaxation of rho, 2%) and climbs towards zeta; where the top mode already dominates
    # (crossover depth below the window) it is within 5% of zeta
    assert np.all(slopes > zeta_2 * 0.98) and np.all(slopes < zeta * 1.02), (slopes, zeta, zeta_2)
    # The climb is the two-mode picture at rho = 1. rho itself relaxes slowly, 1 - rho ~
    # l^(-2 sOV/(2 sOV + s21)), and its O(1 - rho) correction to the slope decays with it and can
    # outpace the climb: sQK = 2, sOV = 0.3125, n = 2 has 1 - rho = 0.09 .. 0.055 over the window
    # and slopes 0.992 -> 0.986 (zeta = 1, zeta_2 = 0.84). So the climb is required once rho has relaxed.
    rho = tr.p[l[0]] / tr.q[l[0]]
    if 1 - rho < 0.01:
        assert slopes[-1] >= slopes[0] - 1e-3, (slopes, rho)
    return slopes, modes


def test_transformer_fitted_exponent_approaches_zeta_example():
    # one point in the default suite: 10^4 attention sublayers with the exact
    # softmax moments take ~8 s; the hypothesis sweep below is in the slow suite
    slopes, modes = _check_transformer_exponent(1.0, 0.8, 8)
    # n = 8: the second mode's share of J at l = 2e4 is ~ (w_2/w_1) l^(zeta_2 - 1) = 7 (2e4)^-0.56 ~ 3%,
    # so the local slope must be within 5% of the top mode
    assert modes["crossover_depth"] < 100  # (n - 1)^(1/(1 - zeta_2)) = 32 here
    assert abs(slopes[-1] - modes["zeta"]) < 0.05 * modes["zeta"]


@pytest.mark.slow
@settings(max_examples=examples(8))
@given(st.floats(0.3, 2.0), st.floats(0.3, 1.5), st.integers(2, 64))
@example(2.0, 0.3125, 2)  # rho still relaxing over the window (see _check_transformer_exponent)
def test_transformer_fitted_exponent_approaches_zeta(sqk, sov, n):
    _check_transformer_exponent(sqk, sov, n)


def _gauss_quad(f, var):
    """E[f(u)], u ~ N(0, var), by adaptive quadrature (independent of the package's rules)."""
    return integrate.quad(lambda u: f(u) * np.exp(-u * u / (2 * var)) / np.sqrt(2 * np.pi * var), -np.inf, np.inf,
                          epsabs=1e-13, epsrel=1e-12)[0]


@pytest.mark.parametrize("n", [1, 8, 197])
def test_attention_zeta_modes_relu_closed_form(n):
    """ReLU transformer at rho* = 1: modes zeta = 1 (weight 1/n, token-averaged tangent) and
    zeta_2 = (s21/2) / (sOV + s21/2) (weight 1 - 1/n), crossing at l_c = (n - 1)^(1/(1 - zeta_2))."""
    sov, s21 = (0.8 * 1.1) ** 2, (1.2 * 0.9) ** 2
    arch = Transformer(normalizer="layernorm", n_tokens=n, sigma_v=0.8, sigma_o=1.1, sigma_1=1.2, sigma_2=0.9)
    m = A.zeta_modes(arch)
    z2 = (s21 / 2) / (sov + s21 / 2)
    assert m["zeta"] == pytest.approx(1.0, rel=1e-9)
    if n == 1:  # one token: nothing to average, a single mode
        assert m["w_2"] == pytest.approx(0.0, abs=1e-12)
        return
    assert m["zeta_2"] == pytest.approx(z2, rel=1e-9)
    assert (m["w_1"], m["w_2"]) == (pytest.approx(1 / n, rel=1e-9), pytest.approx(1 - 1 / n, rel=1e-9))
    assert m["crossover_depth"] == pytest.approx((n - 1) ** (1 / (1 - z2)), rel=1e-6)


@pytest.mark.parametrize("act", ["relu", "gelu", "tanh"])
def test_attention_zeta_as_derived(act):
    """With rho* = 1 attention is uniform and the tangents align with jp = jq (top eigenvector of the
    period's tangent map): zeta = (sOV + s1^2 s2^2 E[phi'(z)^2]) / (sOV + s2^2 E[phi(z)^2]), z ~ N(0, s1^2),
    for any n (ReLU: exactly 1); the isotropic chi alone would divide sOV in the numerator by n."""
    from scipy.special import erf

    fns = {"relu": (lambda u: max(u, 0.0), lambda u: float(u > 0)),
           "gelu": (lambda u: 0.5 * u * (1 + erf(u / np.sqrt(2))),
                    lambda u: 0.5 * (1 + erf(u / np.sqrt(2))) + u * np.exp(-u * u / 2) / np.sqrt(2 * np.pi)),
           "tanh": (np.tanh, lambda u: 1 - np.tanh(u) ** 2)}
    f, df = fns[act]
    s1, s2 = 1.2, 0.9
    sov = (0.8 * 1.1) ** 2
    m2, dm = _gauss_quad(lambda u: f(u) ** 2, s1 ** 2), _gauss_quad(lambda u: df(u) ** 2, s1 ** 2)
    for n in (1, 4, 197):
        arch = Transformer(normalizer="layernorm", n_tokens=n, sigma_v=0.8, sigma_o=1.1, sigma_1=s1, sigma_2=s2,
                           activation=act)
        assert A.rho_fixed_point(arch) == 1.0
        # tolerance: the package's tabulated moments (~1e-10) against adaptive quadrature
        assert A.predict_zeta(arch) == pytest.approx((sov + s1 ** 2 * s2 ** 2 * dm) / (sov + s2 ** 2 * m2), rel=1e-8)


@given(st.floats(0.1, 2.0), st.floats(0.1, 1.0))
def test_derf_toy_lambda_closed_form(alpha, sw):
    """docs/theory.md: 1/sqrt(lam) = 4 alpha sigma_w / pi for h' = h + W erf(alpha h)."""
    lam = A.predict_lambda(ToyResidual(normalizer="derf", alpha=alpha, sigma_w2=sw * sw))
    assert 1 / np.sqrt(lam) == pytest.approx(4 * alpha * sw / np.pi, rel=1e-8)


@pytest.mark.parametrize("norm,alpha", [("derf", 0.3), ("derf", 1.0), ("dyt", 0.5)])
def test_fitted_stretched_exponential_matches_lambda(norm, alpha):
    arch = ToyResidual(normalizer=norm, alpha=alpha, sigma_w2=0.46 ** 2)
    tr = sigprop.solve(arch, depth=100_000, need_p=False)
    l = np.arange(20_000, 100_001, 10)
    # log J = c0 + sqrt(l/lam) + c1 log l + O(l^-1/2): fit all three
    X = np.stack([np.ones(l.size), np.sqrt(l), np.log(l)], axis=1)
    coef = np.linalg.lstsq(X, tr.log_apjn[l], rcond=None)[0]
    assert coef[1] == pytest.approx(1 / np.sqrt(A.predict_lambda(arch)), rel=5e-3)


@pytest.mark.parametrize("norm,alpha", [("derf", 0.1), ("derf", 0.3), ("dyt", 0.2)])
def test_transition_depth_matches_solver(norm, alpha):
    arch = ToyResidual(normalizer=norm, alpha=alpha, sigma_w2=0.46 ** 2, depth=4000)
    l_star = A.transition_depth(arch)
    crossing = A.transition_layer(sigprop.solve(arch, need_p=False), alpha)
    assert abs(l_star - crossing) <= 3 + 0.01 * l_star  # continuum vs discrete: O(1) layers


def test_small_q_rate_closed_forms():
    sw2 = 0.3
    assert A.small_q_rate(ToyResidual(normalizer="derf", alpha=0.4, sigma_w2=sw2)) == pytest.approx(
        1 + 4 * 0.16 * sw2 / np.pi, rel=1e-6)
    assert A.small_q_rate(ToyResidual(normalizer="dyt", alpha=0.4, sigma_w2=sw2)) == pytest.approx(
        1 + 0.16 * sw2, rel=1e-6)


def test_rho_relaxes_monotonically_to_fixed_point():
    arch = sigprop.preset("transformer", p0=0.1)
    tr = sigprop.solve(arch, depth=400)
    rho_star = A.rho_fixed_point(arch)
    gap = np.abs(tr.rho[::2] - rho_star)  # per block (attention + MLP)
    assert np.all(np.diff(gap) <= 1e-12)


def test_chi_star_phases():
    cs, _ = A.chi_star(sigprop.preset("plain"))
    assert cs == pytest.approx(0.05)  # plain ReLU: sw2/2
    cs, _ = A.chi_star(ToyResidual(normalizer="layernorm", mu=1.0, q0=1.0))
    assert cs == pytest.approx(1.0, abs=1e-3)  # Pre-LN residual: everywhere critical
    # tanh, no normalizer, mu = 0, sb = 0: q* = 0 for sw2 < 1 and chi* = sw2 phi'(0)^2 = sw2
    cs, q = A.chi_star(ToyResidual(normalizer="identity", mu=0.0, sigma_w2=0.5, activation="tanh"))
    assert q < 1e-100 and cs == pytest.approx(0.5, rel=1e-6)
    xi = A.correlation_length(sigprop.preset("plain"))
    assert xi == pytest.approx(1 / np.log(0.05))


def test_continuum_limit_agrees_with_recurrence():
    arch = ToyResidual(normalizer="derf", alpha=0.5, sigma_w2=0.46 ** 2)
    disc = sigprop.solve(arch, depth=4000)
    cont = A.continuum(arch, 4000)
    rel = np.abs(cont.q / disc.q - 1)
    assert rel[-1] < 2e-3 and rel[-1] < rel[400]  # relative error decays with depth
    # log J differs by an O(1) Euler-Maclaurin constant: the growth rates agree
    d_disc = disc.log_apjn[-1] - disc.log_apjn[2000]
    d_cont = cont.log_apjn[-1] - cont.log_apjn[2000]
    assert d_cont == pytest.approx(d_disc, rel=2e-3)


def test_predictions_refuse_the_wrong_regime():
    with pytest.raises(ValueError, match="scale-invariant"):
        A.predict_zeta(sigprop.preset("toy"))
    with pytest.raises(ValueError, match="LNS"):
        A.predict_zeta(sigprop.preset("toy", normalizer="lns"))
    with pytest.raises(ValueError, match="bounded pointwise"):
        A.predict_lambda(sigprop.preset("mlp"))
    with pytest.raises(ValueError, match="PlainMLP"):
        A.predict_zeta(sigprop.preset("plain"))


def test_continuum_follows_a_new_depth_for_scaled_inits():
    """init='scaled' scales each branch by 1/sqrt(2 B): continuum(arch, depth=L) must use the B of L,
    as solve(arch, depth=L) does (it used the declaration's 64 sublayers: 4.9 vs 1.25)."""
    arch = sigprop.preset("mlp", init="scaled")
    disc = sigprop.solve(arch, depth=1000)
    cont = A.continuum(arch, depth=1000)
    assert cont.q[-1] == pytest.approx(disc.q[-1], rel=1e-3)


def test_homogeneous_and_pointwise_predictions_refuse_what_they_do_not_cover():
    with pytest.raises(ValueError, match="LNS"):  # LNS scales each block differently: no single chi*
        A.chi_star(sigprop.preset("toy", normalizer="lns", mu=0.5, activation="tanh"))
    for fn in (A.transition_depth, A.small_q_rate):
        with pytest.raises(ValueError, match="pointwise normalizer"):
            fn(sigprop.preset("toy", normalizer="layernorm"))
        with pytest.raises(ValueError, match="init='standard'"):
            fn(sigprop.preset("toy", alpha=0.3, init="depth_scaled"))
