"""Activation moments: closed forms against independent quadrature (float64)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from sigprop.activations import arccos_kernel, available_activations, get_activation, pointwise
from sigprop.arrays import NP

log_q = st.floats(np.log(1e-4), np.log(1e4))
rhos = st.floats(-0.99, 0.99)


def _quad2(f, q, p):
    """Independent reference: scipy.integrate over the conditional Gaussian."""
    rho = p / q
    s = np.sqrt(q * (1 - rho * rho))

    def outer(x):
        h1 = np.sqrt(q) * x
        kink = -rho * h1 / s  # where the argument crosses 0 (ReLU's kink, erf's centre)
        inner = integrate.quad(lambda y: f(rho * h1 + s * y) * np.exp(-y * y / 2), -12, 12, limit=200,
                               points=[kink] if abs(kink) < 12 else None, epsabs=1e-13)[0]
        return f(h1) * inner * np.exp(-x * x / 2) / (2 * np.pi)

    return integrate.quad(outer, -12, 12, limit=200, points=[0.0], epsabs=1e-13)[0]


@given(log_q, rhos)
def test_relu_closed_forms_against_quadrature(lq, rho):
    q = np.exp(lq)
    relu = get_activation("relu")
    # ReLU's kink makes Gauss-Hermite slow; integrate the half-line exactly instead
    m2 = integrate.quad(lambda h: h * h * np.exp(-h * h / (2 * q)) / np.sqrt(2 * np.pi * q), 0, np.inf)[0]
    assert relu.second_moment(q) == pytest.approx(m2, rel=1e-9)
    assert relu.deriv_moment(q) == pytest.approx(0.5)


@pytest.mark.parametrize("q,rho", [(1.0, 0.4), (3.0, -0.6), (0.2, 0.95)])
def test_relu_kernel_against_2d_quadrature(q, rho):
    ref = _quad2(lambda h: np.maximum(h, 0.0), q, rho * q)
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
    ref = _quad2(lambda h: get_activation("erf").fn(h, NP), q, rho * q)
    assert get_activation("erf").kernel(q, rho * q) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("name", ["tanh", "gelu", "silu"])
def test_tabulated_moments_match_direct_quadrature(name):
    act = get_activation(name)
    q = np.exp(np.random.default_rng(0).uniform(np.log(1e-9), np.log(1e9), 300))
    m2, dm = act.moments(q)
    np.testing.assert_allclose(m2, act.second_moment(q, fast=False), rtol=1e-9)
    np.testing.assert_allclose(dm, act.deriv_moment(q, fast=False), rtol=1e-9)


def test_tanh_kernel_against_scipy():
    ref = _quad2(np.tanh, 5.0, 2.0)
    assert get_activation("tanh").kernel(5.0, 2.0) == pytest.approx(ref, abs=1e-9)


def test_finite_difference_derivative_of_user_function():
    act = pointwise("cube_test", lambda u, xp: u ** 3, register=False)
    u = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(act.derivative(u), 3 * u * u, rtol=1e-9)


def test_unknown_activation_names_the_known_ones():
    with pytest.raises(ValueError, match="relu"):
        get_activation("nope")
    assert {"identity", "relu", "erf", "tanh", "gelu"} <= set(available_activations())


@pytest.mark.parametrize("name", ["relu", "erf", "identity"])
def test_derivative_kernel_closed_forms_match_quadrature(name):
    """E[phi'(u1) phi'(u2)]: orthant probability (ReLU), det(I + 2 Sigma)^-1/2 (erf), 1 (identity),
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
