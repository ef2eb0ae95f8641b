"""Gaussian quadrature against closed-form expectations (float64).

Tolerance 1e-10 absolute (relative for quantities that grow with q), the
accuracy the engine promises for smooth functions over q in [1e-6, 1e6].
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import erf

from sigprop import gaussian
from reference_quadrature import nested_gaussian

log_q = st.floats(np.log(1e-6), np.log(1e6))
alphas = st.floats(0.05, 5.0)


@given(log_q)
def test_polynomial_moments_gauss_hermite(lq):
    q = np.exp(lq)
    assert gaussian.expect(lambda h: h ** 2, q) == pytest.approx(q, rel=1e-12)
    assert gaussian.expect(lambda h: h ** 4, q) == pytest.approx(3 * q * q, rel=1e-12)
    assert gaussian.expect(lambda h: h ** 6, q) == pytest.approx(15 * q ** 3, rel=1e-12)


@given(log_q, alphas)
def test_localized_feature_sinh_rule(lq, a):
    # E[exp(-a^2 h^2 / 2)] = 1 / sqrt(1 + a^2 q): a feature of width 1/a
    q = np.exp(lq)
    got = gaussian.expect(lambda h: np.exp(-0.5 * (a * h) ** 2), q, scale=1 / a)
    assert got == pytest.approx(1 / np.sqrt(1 + a * a * q), abs=1e-10, rel=1e-10)


@given(log_q, alphas)
def test_erf_second_moment_and_derivative(lq, a):
    q = np.exp(lq)
    got = gaussian.expect(lambda h: erf(a * h) ** 2, q, scale=1 / a)
    assert got == pytest.approx((2 / np.pi) * np.arcsin(2 * a * a * q / (1 + 2 * a * a * q)), abs=1e-10)
    got = gaussian.expect(lambda h: (2 * a / np.sqrt(np.pi)) ** 2 * np.exp(-2 * (a * h) ** 2), q, scale=1 / a)
    assert got == pytest.approx((4 * a * a / np.pi) / np.sqrt(1 + 4 * a * a * q), rel=1e-10)


@given(log_q, st.floats(-0.999, 0.999), alphas)
def test_erf_kernel_two_dimensional(lq, rho, a):
    q = np.exp(lq)
    p = rho * q
    exact = (2 / np.pi) * np.arcsin(2 * a * a * p / (1 + 2 * a * a * q))
    got = gaussian.expect2_bounded(lambda h: erf(a * h), q, p, scale=1 / a, lo=-1.0, hi=1.0)
    assert got == pytest.approx(exact, abs=1e-10)


def test_gauss_hermite_2d_polynomial():
    q, p = 2.0, 0.7
    # E[h1^2 h2^2] = q^2 + 2 p^2 (Isserlis)
    assert gaussian.expect2(lambda h: h ** 2, None, q, p) == pytest.approx(q * q + 2 * p * p, rel=1e-12)


@pytest.mark.parametrize("q, p", [(2.0, 0.7), (2.0, -0.7), (1e-3, -4e-4), (50.0, 49.0), (50.0, -30.0)])
def test_2d_rules_see_the_sign_of_the_covariance(q, p):
    """Odd integrands (even ones such as h1^2 h2^2 = q^2 + 2p^2 cannot tell p from -p), on the Gauss-Hermite
    and the sinh-mapped (``scale=``) tensor rules: E[h1 h2] = p and E[h1^3 h2] = 3 p q (Isserlis), and by
    Stein's lemma E[h1 erf(h2)] = p E[erf'(h2)] = p (2/sqrt(pi)) / sqrt(1 + 2q) within each rule's reach for
    erf's step of unit width: q <= 2 (Gauss-Hermite) and q <= 16 (sinh; beyond, the step lies along a line
    that a tensor rule does not follow: activations switch to the conditional rule there)."""
    for kw in ({}, {"scale": 1.0}):
        assert gaussian.expect2(lambda h: h, None, q, p, **kw) == pytest.approx(p, rel=1e-10), kw
        assert gaussian.expect2(lambda h: h ** 3, lambda h: h, q, p, **kw) == pytest.approx(3 * p * q, rel=1e-10)
        if q <= (16 if kw else 2):
            stein = p * (2 / np.sqrt(np.pi)) / np.sqrt(1 + 2 * q)
            assert gaussian.expect2(lambda h: h, erf, q, p, **kw) == pytest.approx(stein, rel=1e-9, abs=1e-13), kw


def test_broadcasting_over_grids():
    q = np.linspace(0.5, 3, 7)[:, None] * np.ones(5)
    a = np.linspace(0.2, 2, 5)
    got = gaussian.expect(lambda h: np.exp(-0.5 * (a[..., None] * h) ** 2), q, scale=1 / a)
    assert got.shape == (7, 5)
    np.testing.assert_allclose(got, 1 / np.sqrt(1 + a * a * q), rtol=1e-10)


def test_zero_variance_is_a_point_mass():
    assert gaussian.expect(lambda h: np.cos(h) + 2, 0.0) == pytest.approx(3.0, rel=1e-12)


@pytest.mark.parametrize("q", [-1.0, np.nan, np.inf])
def test_bad_variance_raises(q):
    with pytest.raises(ValueError, match="q must be"):
        gaussian.expect(lambda h: h, q)


def test_bad_covariance_raises():
    with pytest.raises(ValueError, match="p must satisfy"):
        gaussian.expect2(lambda h: h, None, 1.0, 1.5)


@pytest.mark.parametrize("name,f", [("arctan", np.arctan), ("algebraic", lambda h: h / np.sqrt(1 + h * h))])
@pytest.mark.parametrize("q,rho", [(1e2, 0.5), (1e4, 0.5), (1e4, -0.3), (1e4, 0.9)])
def test_slowly_saturating_kernel_keeps_its_remainder_tail(name, f, q, rho):
    """f(h) = lim - O(1/h) or O(1/h^2): the remainder beyond 40 scale is not negligible at large q
    (the rule that cut it there was 1.6% off at q = 1e4), and limits read at +-1e3 are only
    approximate; the rule then integrates the remainder over the whole Gaussian."""
    lo, hi = f(-1e3), f(1e3)
    got = gaussian.expect2_bounded(f, q, rho * q, scale=1.0, lo=lo, hi=hi)
    assert got == pytest.approx(nested_gaussian(f, q, rho, epsrel=1e-12), rel=1e-8)


@pytest.mark.parametrize("q", [1e-12, 1e-4, 0.3, 4.0, 1e4, 1e8, 1e10, 1e12])
def test_piecewise_rule_across_jumps_and_kinks(q):
    """P(|h| < 1) (a jump at +-1) and E[clip(h, -1, 1)^2] (kinks at +-1) from the normal CDF;
    E[exp(-|h|)] (a kink at 0) = 2 exp(q/2) Phi(-sqrt(q))."""
    from scipy.special import erf
    from scipy.stats import norm

    sd = np.sqrt(q)
    inside = erf(1 / (sd * np.sqrt(2)))
    got = gaussian.expect_piecewise(lambda h: (np.abs(h) < 1) * 1.0, q, [-1.0, 1.0])
    assert got == pytest.approx(inside, rel=1e-12)
    if q < 1e6:  # (the closed form cancels beyond)
        clip2 = q * (inside - 2 / sd * norm.pdf(1 / sd)) + (1 - inside)
        got = gaussian.expect_piecewise(lambda h: np.clip(h, -1, 1) ** 2, q, [-1.0, 1.0])
        assert got == pytest.approx(clip2, rel=1e-11)
    if q <= 1e10:  # (the rule's float64 floor is ~1e-16 of the Gaussian's mass: 1e-11 relative here)
        import mpmath

        with mpmath.workdps(30):
            exact = float(2 * mpmath.exp(mpmath.mpf(q) / 2) * mpmath.ncdf(-mpmath.sqrt(mpmath.mpf(q))))
        got = gaussian.expect_piecewise(lambda h: np.exp(-np.abs(h)), q, [0.0])
        assert got == pytest.approx(exact, rel=1e-10)


def test_piecewise_rule_point_mass_and_broadcasting():
    got = gaussian.expect_piecewise(lambda h: np.cos(h) + 2, np.array([0.0, 1.0]), np.array([[[0.5]], [[-0.5]]]))
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got[:, 0], 3.0)  # q = 0: f(0)
    np.testing.assert_allclose(got[:, 1], np.exp(-0.5) + 2, rtol=1e-13)  # E[cos h] = exp(-q/2)


def test_piecewise_2d_rule_closed_forms():
    """E[|h1| |h2|] = (2 q / pi) (sqrt(1 - rho^2) + rho asin(rho)) (a kink at 0) and
    E[sign h1 sign h2] = (2 / pi) asin(rho) (a jump at 0), rho from -1 to 1, q from 1e-4 to 1e4."""
    q = np.array([1e-4, 0.3, 1.0, 10.0, 1e4])[:, None]
    rho = np.array([-1.0, -0.9, 0.0, 0.5, 0.99, 0.99999, 1.0])
    Q, P = np.broadcast_arrays(q, rho * q)
    got = gaussian.expect2_piecewise(np.abs, Q, P, [0.0])
    np.testing.assert_allclose(got, 2 * Q / np.pi * (np.sqrt(1 - rho ** 2) + rho * np.arcsin(rho)), rtol=1e-10)
    got = gaussian.expect2_piecewise(np.sign, Q, P, [0.0])
    np.testing.assert_allclose(got, 2 / np.pi * np.arcsin(rho) + 0 * Q, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="p must satisfy"):
        gaussian.expect2_piecewise(np.abs, 1.0, 1.5, [0.0])


def test_piecewise_2d_rule_grid_parameters_and_chunks():
    """Grid-varying parameters reach f through args, restricted to each chunk of the grid (40 points
    are several chunks): E[|h1 - c| |h2 - c|] at p = q is E[(h - c)^2] = q + c^2, and each point at
    p = 0.3 q equals its solo evaluation."""
    c = np.linspace(-2.0, 2.0, 40)
    q = np.full(40, 3.0)
    f = lambda h, s: np.abs(h - s)  # noqa: E731
    np.testing.assert_allclose(gaussian.expect2_piecewise(f, q, q, c[:, None], args=(c,)), q + c ** 2, rtol=1e-10)
    grid = gaussian.expect2_piecewise(f, q, 0.3 * q, c[:, None], args=(c,))
    for i in (0, 17, 39):
        assert grid[i] == pytest.approx(gaussian.expect2_piecewise(f, 3.0, 0.9, [c[i]], args=(c[i],)), rel=1e-14)


@pytest.mark.parametrize("q", [1e10, 1e14])
def test_piecewise_rule_feature_scale_cuts(q):
    """A feature of width 1 next to a break at q = 1e14: E[1{h > 0} sech(h)^4] =
    (4/3 - (pi^2 - 6) / (18 q)) / (2 sqrt(2 pi q)) + O(q^-2.5). Without the scale's cuts the rule's
    geometric node spacing there leaves ~1e-5."""
    def f(h):  # sech^4 without overflow
        e = np.exp(-2 * np.abs(h))
        return (h > 0) * 16 * e * e / (1 + e) ** 4

    exact = (4 / 3 - (np.pi ** 2 - 6) / (18 * q)) / (2 * np.sqrt(2 * np.pi * q))
    assert gaussian.expect_piecewise(f, q, [0.0], scale=1.0) == pytest.approx(exact, rel=1e-11)
    if q == 1e14:
        assert abs(gaussian.expect_piecewise(f, q, [0.0]) / exact - 1) > 1e-7


@pytest.mark.parametrize("rho", [-0.4, 0.3, 0.95])
def test_feature_rule_follows_a_step_at_any_q(rho):
    """E[Phi(h1/s) Phi(h2/s)] = 1/4 + arcsin(p/(s^2 + q))/(2 pi): a step of width s that does not die
    out. The tensor rule alone (reach = inf) is 2e-6 off at q = 100 s^2 and 4e-3 at q = 1e4 s^2;
    the split rule is exact on both sides of the reach, with s varying over the grid (args)."""
    from scipy.special import ndtr

    q = np.array([1.0, 10.0, 100.0, 1e3, 1e4, 1e6])
    s = np.array([[0.5], [2.0]])
    got = gaussian.expect2_feature(lambda h, sc: ndtr(h / sc), q, rho * q, scale=s, args=(s,))
    ref = 0.25 + np.arcsin(rho * q / (s * s + q)) / (2 * np.pi)
    assert got.shape == (2, 6)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13)
    shifted = gaussian.expect2_feature(lambda h: ndtr((h - 1.5) / 0.5), 1e4, rho * 1e4, scale=0.5, center=1.5)
    from scipy.stats import multivariate_normal  # P(0.5 z_i - h_i <= -1.5, i = 1, 2)

    cov = np.array([[0.25 + 1e4, rho * 1e4], [rho * 1e4, 0.25 + 1e4]])
    ref = multivariate_normal(mean=[0, 0], cov=cov, abseps=1e-13, releps=1e-13).cdf([-1.5, -1.5])
    assert shifted == pytest.approx(ref, abs=1e-9)
