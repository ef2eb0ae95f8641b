"""Activation moments: closed forms against independent quadrature (float64)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import expit

from sigprop.activations import arccos_kernel, available_activations, get_activation, pointwise
from sigprop.arrays import NP
from reference_quadrature import nested_gaussian

log_q = st.floats(np.log(1e-4), np.log(1e4))
rhos = st.floats(-0.99, 0.99)


@given(log_q, rhos)
def test_relu_closed_forms_against_quadrature(lq, rho):
    q = np.exp(lq)
    relu = get_activation("relu")
    # ReLU's kink makes Gauss-Hermite slow; integrate the half-line exactly instead
    # (quad's default tolerance, 1.5e-8, left the reference itself 2.5e-9 off at q = 140)
    m2 = integrate.quad(lambda h: h * h * np.exp(-h * h / (2 * q)) / np.sqrt(2 * np.pi * q), 0, np.inf,
                        epsabs=1e-13, epsrel=1e-13)[0]
    assert relu.second_moment(q) == pytest.approx(m2, rel=1e-9)
    assert relu.deriv_moment(q) == pytest.approx(0.5)


@pytest.mark.parametrize("q,rho", [(1.0, 0.4), (3.0, -0.6), (0.2, 0.95)])
def test_relu_kernel_against_2d_quadrature(q, rho):
    ref = nested_gaussian(lambda h: np.maximum(h, 0.0), q, rho)
    assert get_activation("relu").kernel(q, rho * q) == pytest.approx(ref, rel=1e-7)


def test_arccos_kernel_endpoints():
    # kappa(1) = 1/2 (E[relu^2]/q), kappa(0) = 1/(2 pi), kappa(-1) = 0
    assert arccos_kernel(1.0) == pytest.approx(0.5)
    assert arccos_kernel(0.0) == pytest.approx(1 / (2 * np.pi))
    assert arccos_kernel(-1.0) == pytest.approx(0.0, abs=1e-15)


@given(log_q, rhos)
def test_erf_closed_forms_against_quadrature(lq, rho):
    q = np.exp(lq)
    erf = get_activation("erf")
    f = lambda u: erf.fn(u, NP)  # noqa: E731
    from sigprop import gaussian

    assert erf.second_moment(q) == pytest.approx(gaussian.expect(lambda u: f(u) ** 2, q, scale=1.0), abs=1e-10)
    assert erf.deriv_moment(q) == pytest.approx(
        gaussian.expect(lambda u: erf.derivative(u) ** 2, q, scale=1.0), abs=1e-10)


@pytest.mark.parametrize("q,rho", [(1.0, 0.4), (30.0, 0.9), (0.05, -0.3)])
def test_erf_kernel_against_scipy(q, rho):
    ref = nested_gaussian(lambda h: get_activation("erf").fn(h, NP), q, rho)
    assert get_activation("erf").kernel(q, rho * q) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("name", ["tanh", "silu"])  # (gelu has closed forms: no table)
def test_tabulated_moments_match_direct_quadrature(name):
    act = get_activation(name)
    q = np.exp(np.random.default_rng(0).uniform(np.log(1e-9), np.log(1e9), 300))
    m2, dm = act.moments(q)
    np.testing.assert_allclose(m2, act.second_moment(q, fast=False), rtol=1e-9)
    np.testing.assert_allclose(dm, act.deriv_moment(q, fast=False), rtol=1e-9)


#: phi' written out here (independent of sigprop.activations): tanh' = sech^2, silu' = s(u)(1 + u(1 - s(u)))
_HAND_DERIVATIVES = {
    "tanh": (np.tanh, lambda u: 1.0 / np.cosh(np.clip(u, -300, 300)) ** 2),
    "silu": (lambda u: u * expit(u), lambda u: expit(u) * (1 + u * (1 - expit(u)))),
}


@pytest.mark.parametrize("name", ["tanh", "silu"])
@pytest.mark.parametrize("q, rho", [(0.3, 0.5), (2.0, -0.6), (12.0, 0.3), (20.0, 0.95), (1000.0, -0.5)])
def test_quadrature_activations_against_hand_derivatives(name, q, rho):
    """tanh and silu have no closed forms: their E[phi^2], E[phi'^2] and the kernels E[phi phi], E[phi' phi']
    against scipy quadrature of phi and of phi' written out by hand (not the package's derivative). silu's
    kernels were 4e-5 (q = 20) to 3e-3 (q = 1000) off on a Gauss-Hermite tensor rule, whose nodes miss the
    line u = 0 along which silu's step-like feature lies at large q."""
    f, df = _HAND_DERIVATIVES[name]
    act = get_activation(name)
    g = lambda u: np.exp(-u * u / (2 * q)) / np.sqrt(2 * np.pi * q)  # noqa: E731
    one = lambda h: integrate.quad(lambda u: h(u) * g(u), -np.inf, np.inf, epsabs=1e-13, limit=200)[0]  # noqa: E731
    assert float(act.second_moment(np.array(q))) == pytest.approx(one(lambda u: f(u) ** 2), rel=1e-9)
    assert float(act.deriv_moment(np.array(q))) == pytest.approx(one(lambda u: df(u) ** 2), rel=1e-9)
    p = rho * q
    ref, dref = nested_gaussian(f, q, rho), nested_gaussian(df, q, rho)
    assert float(act.kernel(np.array(q), np.array(p))) == pytest.approx(ref, rel=1e-8, abs=1e-10)
    assert float(act.deriv_kernel(np.array(q), np.array(p))) == pytest.approx(dref, rel=1e-8, abs=1e-10)


def test_tanh_kernel_against_scipy():
    ref = nested_gaussian(np.tanh, 5.0, 0.4)
    assert get_activation("tanh").kernel(5.0, 2.0) == pytest.approx(ref, abs=1e-9)


def test_finite_difference_derivative_of_user_function():
    act = pointwise("cube_test", lambda u, xp: u ** 3, register=False)
    u = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(act.derivative(u), 3 * u * u, rtol=1e-9)


def test_unknown_activation_names_the_known_ones():
    with pytest.raises(ValueError, match="relu"):
        get_activation("nope")
    assert {"identity", "relu", "erf", "tanh", "gelu"} <= set(available_activations())


@pytest.mark.parametrize("name", ["relu", "erf", "identity", "gelu"])
def test_derivative_kernel_closed_forms_match_quadrature(name):
    """E[phi'(u1) phi'(u2)]: orthant probability (ReLU), det(I + 2 Sigma)^-1/2 (erf), 1 (identity), GELU's,
    against adaptive 2-D quadrature of the bivariate density (scipy dblquad, ~1e-12)."""
    from scipy import integrate

    act = get_activation(name)
    for q, p in ((0.3, 0.1), (1.0, -0.5), (5.0, 4.9)):
        si = np.linalg.inv([[q, p], [p, q]])
        norm = 1 / (2 * np.pi * np.sqrt(q * q - p * p))

        def f(y, x):
            w = norm * np.exp(-0.5 * (si[0, 0] * x * x + 2 * si[0, 1] * x * y + si[1, 1] * y * y))
            return float(act.derivative(np.array(x))) * float(act.derivative(np.array(y))) * w

        if name == "relu":  # the step: integrate over the positive quadrant only
            ref = integrate.dblquad(lambda y, x: f(y, x), 0, 15, 0, 15, epsabs=1e-13, epsrel=1e-12)[0]
        else:
            ref = integrate.dblquad(f, -15, 15, -15, 15, epsabs=1e-13, epsrel=1e-12)[0]
        assert float(act.deriv_kernel(np.array(q), np.array(p))) == pytest.approx(ref, rel=1e-8, abs=1e-12)


def test_activation_means():
    """E[relu(u)] = sqrt(q / 2 pi); odd functions 0; GELU E[u Phi(u)] = q / sqrt(2 pi (1 + q))."""
    q = np.array([0.5, 2.0])
    np.testing.assert_allclose(get_activation("relu").mean(q), np.sqrt(q / (2 * np.pi)))
    np.testing.assert_allclose(get_activation("tanh").mean(q), 0.0)
    np.testing.assert_allclose(get_activation("gelu").mean(q), q / np.sqrt(2 * np.pi * (1 + q)), rtol=1e-9)


# ---------------------------------------------------------------------------
# GELU u Phi(u): closed forms (derivations/gelu_kernel.py)
# ---------------------------------------------------------------------------
def _gelu_quad1(f, q):
    """``E[f(u)]``, ``u ~ N(0, q)``, by scipy over ``x = u / sqrt(q)``, split where ``Phi(u)`` turns."""
    a = 1 / np.sqrt(q)
    pts = sorted({0.0, *(s * k * a for s in (-1, 1) for k in (1, 5, 20) if k * a < 40)})
    g = lambda x: f(np.sqrt(q) * x) * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    edges = [-40.0, *pts, 40.0]
    total = lambda tol: sum(integrate.quad(g, lo, hi, limit=200, epsabs=tol, epsrel=1e-13)[0]  # noqa: E731
                            for lo, hi in zip(edges, edges[1:]))
    return total(1e-15 * abs(total(1e-300 + 1e-8 * min(q, 1.0))))  # absolute tolerance from a rough pass


def test_gelu_is_closed_form():
    gelu = get_activation("gelu")
    assert gelu.has_closed_forms and gelu.deriv_kernel_cf is not None and gelu.mean_cf is not None
    assert "closed forms" in gelu.description


@given(st.floats(np.log(1e-3), np.log(1e4)))
def test_gelu_moments_against_1d_quadrature(lq):
    q = np.exp(lq)
    gelu = get_activation("gelu")
    f, d = (lambda u: gelu.fn(u, NP)), (lambda u: gelu.derivative(u, NP))
    assert gelu.second_moment(q) == pytest.approx(_gelu_quad1(lambda u: f(u) ** 2, q), rel=1e-11)
    assert gelu.deriv_moment(q) == pytest.approx(_gelu_quad1(lambda u: d(u) ** 2, q), rel=1e-11)
    assert gelu.mean(q) == pytest.approx(_gelu_quad1(f, q), rel=1e-11)
    # rho = -1 exactly: (u, -u); the values are O(q^-1/2) out of terms O(q) (cancellation-free forms)
    assert gelu.kernel(q, -q) == pytest.approx(_gelu_quad1(lambda u: f(u) * f(-u), q), rel=1e-10)
    assert gelu.deriv_kernel(q, -q) == pytest.approx(_gelu_quad1(lambda u: d(u) * d(-u), q), rel=1e-10)


@pytest.mark.parametrize("q,rho", [(0.3, 0.4), (2.0, -0.7), (1e2, 0.999), (1e2, -0.999), (1e4, 0.999),
                                   (1e4, -0.999)])
def test_gelu_kernels_against_2d_quadrature(q, rho):
    """Large q and rho near +-1 (where the quadrature fallback was 3e-4 .. 4e-3 off)."""
    gelu = get_activation("gelu")
    rk = nested_gaussian(lambda h: gelu.fn(h, NP), q, rho, epsrel=1e-11)  # (the default 1.5e-8: 1.4e-9 off)
    rd = nested_gaussian(lambda h: gelu.derivative(h, NP), q, rho, epsrel=1e-11)
    assert float(gelu.kernel(q, rho * q)) == pytest.approx(rk, rel=1e-9)
    assert float(gelu.deriv_kernel(q, rho * q)) == pytest.approx(rd, rel=1e-9)


def test_gelu_identities_and_limits():
    gelu = get_activation("gelu")
    q = np.exp(np.linspace(np.log(1e-8), np.log(1e12), 41))[:, None]
    rho = np.array([-1.0, -0.999999, -0.7, 0.0, 0.3, 0.999999, 1.0])
    p = rho * q
    K, DK = gelu.kernel(q, p), gelu.deriv_kernel(q, p)
    assert K.shape == DK.shape == (41, 7)
    m = gelu.mean(q)
    np.testing.assert_allclose(K[:, -1:], gelu.second_moment(q), rtol=1e-14)
    np.testing.assert_allclose(DK[:, -1:], gelu.deriv_moment(q), rtol=1e-14)
    np.testing.assert_allclose(K[:, 3:4], m * m, rtol=1e-13)              # p = 0: E[phi]^2
    np.testing.assert_allclose(DK[:, 3], 0.25, rtol=1e-15)                 # E[phi']^2 = 1/4
    # phi(u) - phi(-u) = u:  K(q, p) - K(q, -p) = p/2;  phi'(u) + phi'(-u) = 1:  DK(q, p) + DK(q, -p) = 1/2
    np.testing.assert_allclose(K - gelu.kernel(q, -p), p / 2, rtol=1e-12, atol=0)
    np.testing.assert_allclose(DK + gelu.deriv_kernel(q, -p), 0.5, rtol=1e-13)
    # Price's theorem: dK/dp = DK (central difference)
    h = 1e-5 * q
    pm = 0.5 * p
    np.testing.assert_allclose((gelu.kernel(q, pm + h) - gelu.kernel(q, pm - h)) / (2 * h), gelu.deriv_kernel(q, pm),
                               rtol=1e-7, atol=1e-9)
    # q -> 0: phi(u) ~ u/2 + u^2/sqrt(2 pi):  E[phi^2] = q/4 + 3 q^2/(2 pi) + O(q^3), E[phi'^2] = 1/4 + O(q)
    qs = np.array([1e-300, 1e-12, 1e-6])
    np.testing.assert_allclose(gelu.second_moment(qs), qs / 4 + 3 * qs**2 / (2 * np.pi), rtol=1e-5)
    np.testing.assert_allclose(gelu.deriv_moment(qs), 0.25, rtol=1e-5)
    # q = 0: finite, no warnings (np.seterr(all="raise") in conftest)
    assert float(gelu.second_moment(0.0)) == 0.0 and float(gelu.kernel(0.0, 0.0)) == 0.0
    assert float(gelu.mean(0.0)) == 0.0
    assert float(gelu.deriv_moment(0.0)) == float(gelu.deriv_kernel(0.0, 0.0)) == 0.25
    # q -> infinity: ReLU's arc-cosine kernel and orthant probability, corrections O(q^-1/2)
    big = 1e12
    np.testing.assert_allclose(gelu.kernel(big, rho * big) / big, arccos_kernel(rho), atol=1e-6)
    np.testing.assert_allclose(gelu.deriv_kernel(big, rho * big), get_activation("relu").deriv_kernel(1.0, rho),
                               atol=1e-6)
    # no overflow far out
    assert np.isfinite(gelu.kernel(1e300, np.array([-1e300, 0.0, 1e300]))).all()
    assert np.isfinite(gelu.deriv_kernel(1e300, np.array([-1e300, 0.0, 1e300]))).all()
