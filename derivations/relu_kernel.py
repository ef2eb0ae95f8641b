"""ReLU arc-cosine kernel E[relu(h1) relu(h2)] = q kappa(p/q) and derivative factor E[relu'(h)^2] = 1/2.

Derivation (Cho & Saul 2009; Price's theorem): for (h1, h2) ~ N(0, [[q, p], [p, q]]),
dK/dp = E[relu'(h1) relu'(h2)] and d^2K/dp^2 = E[delta(h1) delta(h2)] = 1/(2 pi sqrt(q^2 - p^2))
(the bivariate density at the origin).  Integrating twice from p = 0, where
K(0) = E[relu(h)]^2 = q/(2 pi) and dK/dp(0) = P(h > 0)^2 = 1/4, gives the kernel.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, gaussian_expectation, write_latex

SLOW = False


def derive():
    q, p, s, t = sp.symbols("q p s t", positive=True)
    h = sp.Symbol("h", real=True)
    mean = gaussian_expectation(sp.Piecewise((h, h > 0), (0, True)), h, q)        # E[relu(h)]
    half = gaussian_expectation(sp.Piecewise((1, h > 0), (0, True)), h, q)        # P(h>0) = E[relu'(h)^2]
    density0 = 1 / (2 * sp.pi * sp.sqrt(q**2 - t**2))                            # N2 density at origin, cov t
    d1 = half**2 + sp.integrate(density0, (t, 0, s))
    K = sp.simplify(mean**2 + sp.integrate(d1, (s, 0, p)))
    return q, p, sp.simplify(K), sp.simplify(half)


def run() -> list[Check]:
    from sigprop.activations import get_activation

    q, p, K, dfac = derive()
    print("  E[relu(h1) relu(h2)] =", K)
    print("  E[relu'(h)^2] =", dfac)
    write_latex("relu_kernel", {r"\mathbb{E}[\phi(h_1)\phi(h_2)]": K, r"\mathbb{E}[\phi'(h)^2]": dfac})
    act, rng, out = get_activation("relu"), np.random.default_rng(4), []
    f = sp.lambdify((q, p), K, "mpmath")
    for _ in range(4):
        qq = float(rng.uniform(0.1, 5.0))
        pp = float(rng.uniform(-0.95, 0.95)) * qq
        # closed forms on both sides: agreement to rounding
        out.append(Check(f"relu kernel q={qq:.3g} p={pp:.3g}", float(f(qq, pp).real), float(act.kernel(qq, pp)), 1e-10))
        # the quadrature path for E[relu'^2]: high-order rule, 1e-8 is far above its error
        out.append(Check(f"relu E[phi'^2] q={qq:.3g}", float(dfac), float(act.deriv_moment(qq)), 1e-8))
    return out
