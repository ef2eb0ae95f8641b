"""Derf with a shift, phi(h) = erf(a h + s): qt and pt through Owen's T function, qh in closed form.

With A = a^2 q, C = a^2 p and Y_i = a h_i + s ~ N(s, [[A, C], [C, A]]):

* erf(Y) = 2 Phi(sqrt2 Y) - 1 = 2 P(W <= sqrt2 Y) - 1 with W ~ N(0, 1) independent, so
  E[Phi(sqrt2 Y1) Phi(sqrt2 Y2)] = Phi_2(k, k; r), the bivariate normal CDF of
  X_i = (sqrt2 Y_i - W_i)/sqrt(1 + 2A) at k = sqrt2 s / sqrt(1 + 2A), correlation r = 2C / (1 + 2A).
  Hence pt = 4 Phi_2(k, k; r) - 4 Phi(k) + 1, and with Phi_2(k, k; r) = Phi(k) - 2 T(k, sqrt((1-r)/(1+r)))
  (Owen 1956, T(k, b) = (1/2pi) int_0^b exp(-k^2 (1+x^2)/2)/(1+x^2) dx):
  pt = 1 - 8 T(k, sqrt((1 - r)/(1 + r))),  qt = pt at p = q.
* The same follows from Price's theorem: dpt/dC = E[phi'(Y1) phi'(Y2)]
  = (4/pi) exp(-2 s^2/(1 + 2A + 2C)) / sqrt((1 + 2A)^2 - 4C^2), with pt(C = 0) = erf(s/sqrt(1 + 2A))^2
  (a 1-D integral representation); SymPy shows both representations have the same C-derivative
  (Plackett's identity dPhi_2/dr = phi_2, itself checked from the heat equation of phi_2) and the same value at C = 0.
* qh = a^2 E[phi'(Y)^2] = (4 a^2/pi) exp(-2 s^2/(1 + 4A)) / sqrt(1 + 4A).
At s = 0: T(0, b) = atan(b)/(2 pi) gives pt = (2/pi) asin(r), the Derf maps of ``derf_maps``.
"""
from __future__ import annotations

import mpmath as mp
import numpy as np
import sympy as sp

from . import Check, write_latex

SLOW = False


def owens_t(h, b):
    """Owen's T function ``T(h, b)`` as a SymPy integral (evaluated numerically by mpmath)."""
    x = sp.Dummy("x", real=True)
    return sp.Integral(sp.exp(-h**2 * (1 + x**2) / 2) / (1 + x**2), (x, 0, b)) / (2 * sp.pi)


def derive():
    a, q, s = sp.symbols("alpha q s", positive=True)
    p, c, r, x, y = sp.symbols("p C r x y", real=True)
    A = a**2 * q
    # Plackett: the bivariate density phi_2 solves d phi_2/dr = d^2 phi_2/dx dy
    phi2 = sp.exp(-(x**2 - 2 * r * x * y + y**2) / (2 * (1 - r**2))) / (2 * sp.pi * sp.sqrt(1 - r**2))
    plackett = sp.simplify(sp.diff(phi2, r) - sp.diff(phi2, x, y))
    k = sp.sqrt(2) * s / sp.sqrt(1 + 2 * A)
    r_of_c = 2 * c / (1 + 2 * A)
    # C-derivative of pt = 4 Phi_2(k, k; r(C)) - 4 Phi(k) + 1 is 4 phi_2(k, k; r) dr/dC
    d_owen = 4 * phi2.subs({x: k, y: k, r: r_of_c}) * sp.diff(r_of_c, c)
    # Price's theorem: E[phi'(Y1) phi'(Y2)] = (4/pi) E[exp(-Y1^2 - Y2^2)], a Gaussian integral
    sigma = sp.Matrix([[A, c], [c, A]])
    mu = sp.Matrix([s, s])
    m = sp.eye(2) + 2 * sigma
    d_price = 4 / sp.pi * sp.exp(-(mu.T * m.inv() * mu)[0]) / sp.sqrt(m.det())
    ratio = sp.simplify(sp.powsimp(d_owen / d_price, force=True))
    base = sp.erf(s / sp.sqrt(1 + 2 * A)) ** 2          # E[erf(Y)]^2 at C = 0
    Phi = lambda z: (1 + sp.erf(z / sp.sqrt(2))) / 2   # noqa: E731
    base_owen = sp.simplify((4 * Phi(k) ** 2 - 4 * Phi(k) + 1) - base)   # Phi_2(k, k; 0) = Phi(k)^2
    bb = sp.sqrt((1 - r_of_c) / (1 + r_of_c))
    pt = 1 - 8 * owens_t(k, bb.subs(c, a**2 * p))
    qt = 1 - 8 * owens_t(k, sp.simplify(bb.subs(c, A)))
    h = sp.Symbol("h", real=True)
    dphi = sp.diff(sp.erf(a * h + s), h)
    dens = sp.exp(-h**2 / (2 * q)) / sp.sqrt(2 * sp.pi * q)
    qh = sp.simplify(sp.integrate(sp.expand(dphi**2 * dens), (h, -sp.oo, sp.oo), conds="none"))
    # s = 0 limit: T(0, b) = atan(b)/(2 pi)
    t0 = sp.simplify(owens_t(0, sp.Symbol("b", positive=True)).doit())
    return dict(a=a, q=q, s=s, p=p, c=c, plackett=plackett, ratio=ratio, base_owen=base_owen,
                pt=pt, qt=qt, qh=qh, d_price=d_price, base=base, t0=t0)


def _price_pt(d, aa, qq, pp, ss):
    """pt from the 1-D Price integral in C, by mpmath quadrature."""
    f = sp.lambdify(d["c"], d["d_price"].subs({d["a"]: aa, d["q"]: qq, d["s"]: ss}), "mpmath")
    base = float(d["base"].subs({d["a"]: aa, d["q"]: qq, d["s"]: ss}))
    return base + float(mp.quad(f, [0, aa * aa * pp]))


def run() -> list[Check]:
    from sigprop.normalizers import NormParams, get_normalizer

    d = derive()
    print("  Plackett check d phi2/dr - d2 phi2/dxdy =", d["plackett"])
    print("  Owen-T form vs Price: ratio of C-derivatives =", d["ratio"], "; difference at C = 0:", d["base_owen"])
    print("  pt =", d["pt"])
    print("  qh =", d["qh"])
    print("  T(0, b) =", d["t0"])
    write_latex("derf_shift", {r"\tilde p": d["pt"], r"\tilde q": d["qt"], r"q_h": d["qh"],
                               r"\partial_C \tilde p": d["d_price"]})
    out = [Check("Plackett identity (symbolic residual)", 0.0, float(d["plackett"] != 0), 0.0),
           Check("Owen-T form and Price integrand: ratio of C-derivatives", 1.0, float(d["ratio"]), 0.0),
           Check("Owen-T form and Price integrand: agree at C = 0", 0.0, float(d["base_owen"] != 0), 0.0)]
    mp.mp.dps = 30
    keys = (d["a"], d["q"], d["p"], d["s"])
    norm, rng = get_normalizer("derf"), np.random.default_rng(11)
    points = [(float(rng.uniform(0.2, 2.0)), float(rng.uniform(0.1, 6.0)), float(rng.uniform(-0.9, 0.95)),
               float(rng.uniform(-1.5, 1.5))) for _ in range(3)] + [(0.5, 1.0, 0.4, 0.0)]
    for aa, qq, rr, ss in points:
        pp = rr * qq
        sub = dict(zip(keys, (aa, qq, pp, ss)))
        ref = [float(sp.N(d[k].subs(sub), 20)) for k in ("qt", "pt", "qh")]
        got = norm.maps(np.array(qq), np.array(pp), NormParams(alpha=aa, shift=ss))
        tag = f"a={aa:.3g} q={qq:.3g} p={pp:.3g} s={ss:.3g}"
        # two exact representations of the same integral (mpmath, 30 digits): agree to ~1e-12
        out.append(Check(f"Owen-T pt vs 1-D Price integral {tag}", _price_pt(d, aa, qq, pp, ss), ref[1], 1e-12))
        for name, r, g in zip(("qt", "pt", "qh"), ref, got):
            # sigprop: Gauss-Hermite / sinh-rule quadrature (closed form at s = 0), ~1e-10 accurate
            out.append(Check(f"derf-shift {name} {tag}", r, float(g), 1e-8))
    return out
