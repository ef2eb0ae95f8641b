"""Independent reference integrals for the tests: adaptive SciPy quadrature, none of the package's rules."""

import numpy as np
from scipy import integrate


def nested_gaussian(f, q, rho, *, features=(0.0,), epsabs=1e-13, epsrel=1.49e-8, limit=400):
    """``E[f(h1) f(h2)]`` for ``(h1, h2) ~ N(0, q [[1, rho], [rho, 1]])``, ``|rho| < 1``, by nested
    adaptive quadrature, every piece cut at ``f``'s ``features`` ``c`` (a kink, a step, a centre) and at
    ``c +- 1`` (so a feature of width ~1 stays resolved when ``sqrt(q)`` is large): the outer integral
    over ``h1`` in ``+-12 sqrt(q)``, also cut where the inner mean ``rho h1`` crosses a feature; the inner
    one over ``h2 = rho h1 + s z`` given ``h1`` (``s = sqrt(q (1 - rho^2))``, ``z`` in ``+-12``).
    """
    s = np.sqrt(q * (1 - rho * rho))
    tol = dict(limit=limit, epsabs=epsabs, epsrel=epsrel)
    near = [e for c in features for e in (c - 1, c, c + 1)]

    def inner(h1):
        cuts = [z for z in ((e - rho * h1) / s for e in near) if abs(z) < 12] or None
        return integrate.quad(lambda z: f(rho * h1 + s * z) * np.exp(-z * z / 2), -12, 12, points=cuts,
                              **tol)[0] / np.sqrt(2 * np.pi)

    def outer(h):
        return f(h) * inner(h) * np.exp(-h * h / (2 * q)) / np.sqrt(2 * np.pi * q)

    reach = 12 * np.sqrt(q)
    crossings = [c / rho for c in features] if rho else []
    edges = sorted({-reach, reach, *(e for e in near + crossings if abs(e) < reach)})
    return sum(integrate.quad(outer, a, b, **tol)[0] for a, b in zip(edges, edges[1:]))
