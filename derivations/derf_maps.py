"""Derf maps at s = 0: qt, pt in arcsine form and the derivative factor qh.

phi(h) = erf(a h), phi'(h) = (2a/sqrt(pi)) exp(-a^2 h^2).
qh = E[phi'(h)^2] is a Gaussian integral.  For pt, Price's theorem gives
dpt/dp = E[phi'(h1) phi'(h2)] = (4a^2/pi) E[exp(-a^2 (h1^2 + h2^2))]
       = (4a^2/pi) / sqrt(det(I + 2 a^2 Sigma)),  Sigma = [[q, p], [p, q]],
and pt(p = 0) = E[phi]^2 = 0 (phi odd); integrating in p gives the arcsine; qt = pt(p = q).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, gaussian_expectation, write_latex

SLOW = False


def derive():
    a, q, p, t = sp.symbols("alpha q p t", positive=True)
    h = sp.Symbol("h", real=True)
    dphi = sp.diff(sp.erf(a * h), h)
    qh = gaussian_expectation(dphi**2, h, q)
    sigma = sp.Matrix([[q, t], [t, q]])
    dk = 4 * a**2 / sp.pi / sp.sqrt((sp.eye(2) + 2 * a**2 * sigma).det())
    pt = sp.simplify(sp.integrate(dk, (t, 0, p)))
    qt = sp.simplify(pt.subs(p, q))
    return a, q, p, qt, pt, sp.simplify(qh)


def run() -> list[Check]:
    from sigprop.normalizers import NormParams, get_normalizer

    a, q, p, qt, pt, qh = derive()
    for k, v in (("qt", qt), ("pt", pt), ("qh", qh)):
        print(f"  {k} =", v)
    write_latex("derf_maps", {r"\tilde q": qt, r"\tilde p": pt, r"q_h": qh})
    f = sp.lambdify((a, q, p), [qt, pt, qh], "mpmath")
    norm, rng, out = get_normalizer("derf"), np.random.default_rng(5), []
    for _ in range(4):
        aa, qq = float(rng.uniform(0.1, 2.0)), float(rng.uniform(0.05, 10.0))
        pp = float(rng.uniform(0.0, 0.95)) * qq
        ref = [float(sp.re(v)) for v in f(aa, qq, pp)]
        got = norm.maps(np.array(qq), np.array(pp), NormParams(alpha=aa))
        for k, r, g in zip(("qt", "pt", "qh"), ref, got):
            # sigprop uses closed forms for erf at s = 0: agreement to ~rounding (1e-9 allows table interpolation)
            out.append(Check(f"derf {k} a={aa:.3g} q={qq:.3g} p={pp:.3g}", r, float(g), 1e-9))
    return out
