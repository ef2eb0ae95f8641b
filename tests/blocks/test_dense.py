"""Dense residual branch after a pointwise normalizer: the cross-token kernel at large q."""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import erf

import sigprop


def _nested(f, q, rho):
    """E[f(h1) f(h2)], (h1, h2) ~ N(0, q [[1, rho], [rho, 1]]): outer quad over h1, inner over h2 | h1."""
    s = np.sqrt(q * (1 - rho ** 2))

    def inner(h1):
        return integrate.quad(lambda z: f(rho * h1 + s * z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi),
                              -12, 12, points=[-rho * h1 / s], limit=400)[0]

    return integrate.quad(lambda x: f(x) * inner(x) * np.exp(-x * x / (2 * q)) / np.sqrt(2 * np.pi * q),
                          -12 * np.sqrt(q), 12 * np.sqrt(q), points=[0.0], limit=400)[0]


@pytest.mark.parametrize("q", [1e2, 1e4])
def test_tanh_after_derf_cross_kernel(q):
    """p' - p = sigma_w^2 E[tanh(erf(h_a)) tanh(erf(h_b))]: at q = 1e4 the plain tensor rule was 0.7% off
    (it cannot follow the oblique feature lines of a saturating integrand); the saturating rule is exact."""
    arch = sigprop.preset("toy", depth=1, normalizer="derf", alpha=1.0, shift=0.0, activation="tanh",
                          q0=q, p0=0.5 * q, sigma_w2=1.0, mu=1.0)
    traj = sigprop.solve(arch)
    ref = _nested(lambda h: np.tanh(erf(h)), q, 0.5)
    assert traj.p[1] - traj.p[0] == pytest.approx(ref, rel=1e-8)
