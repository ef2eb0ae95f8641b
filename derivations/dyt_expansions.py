"""DyT tanh(alpha h): small-q and large-q expansions of the maps, and lambda of the toy model.

Small q: tanh(a h) = a h + O(h^3), so qt ~ a^2 q and qh -> a^2 (toy growth factor 1 + a^2 sw2).
Large q: phi'(h)^2 = a^2 sech^4(a h) is integrable, so for h ~ N(0, q) with q -> oo
qh ~ (1/sqrt(2 pi q)) * integral of a^2 sech^4(a h) dh = C_h / sqrt(q), and qt -> 1.
Toy h' = h + W tanh(a h): q ~ sw2 l and log J ~ 2 sw C_h sqrt(l) => lambda = 1/(4 sw2 C_h^2).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, write_latex

SLOW = False


def derive():
    a, h, sw2 = sp.Symbol("alpha", positive=True), sp.Symbol("h", real=True), sp.Symbol("sigma_w^2", positive=True)
    dphi2 = sp.diff(sp.tanh(a * h), h) ** 2
    small_qt = sp.series(sp.tanh(a * h) ** 2, h, 0, 4).removeO().coeff(h, 2)   # qt ~ a^2 q
    small_qh = dphi2.subs(h, 0)
    x = sp.Symbol("x", real=True)
    area = sp.integrate(sp.simplify(dphi2.subs(h, x / a).rewrite(sp.exp)) / a, (x, -sp.oo, sp.oo))
    ch = sp.simplify(area / sp.sqrt(2 * sp.pi))
    lam = sp.simplify(1 / (4 * sw2 * ch**2))
    return a, sw2, sp.simplify(small_qt), sp.simplify(small_qh), ch, lam


def run() -> list[Check]:
    from sigprop.architectures import preset
    from sigprop.normalizers import NormParams, get_normalizer
    from sigprop.theory.asymptotics import predict_lambda, small_q_rate

    a, sw2, sqt, sqh, ch, lam = derive()
    print(f"  small q: qt ~ {sqt} q, qh -> {sqh};  large q: qh ~ C_h/sqrt(q), C_h = {ch};  lambda = {lam}")
    write_latex("dyt_expansions", {r"\tilde q'(0)": sqt, r"q_h(0)": sqh, r"C_h": ch, r"\lambda_{\mathrm{DyT}}": lam})
    norm, out = get_normalizer("dyt"), []
    for aa in (0.3, 1.1):
        f = lambda q: [float(v) for v in norm.maps(np.array(q), None, NormParams(alpha=aa), need_p=False)[::2]]
        qt_s, qh_s = f(1e-8 / aa**2)
        # relative corrections are O(a^2 q) = 1e-8
        out.append(Check(f"dyt qt/q small q a={aa}", float(sqt.subs(a, aa)), qt_s / (1e-8 / aa**2), 1e-6))
        out.append(Check(f"dyt qh small q a={aa}", float(sqh.subs(a, aa)), qh_s, 1e-6))
        qbig = 1e6 / aa**2
        # corrections to qh sqrt(q) are O(1/(a^2 q)) = 1e-6 relative, plus quadrature error: 1e-4
        out.append(Check(f"dyt qh*sqrt(q) at a^2 q=1e6, a={aa}", float(ch.subs(a, aa)), f(qbig)[1] * np.sqrt(qbig), 1e-4))
        arch = preset("toy", normalizer="dyt", alpha=aa)
        # predict_lambda is Richardson-extrapolated from finite q: residual observed ~1e-9, 1e-6 leaves margin
        out.append(Check(f"toy DyT lambda a={aa}", float(lam.subs({a: aa, sw2: float(arch.sigma_w2)})),
                         predict_lambda(arch), 1e-6))
        # growth factor at alpha^2 q = 1e-8
        out.append(Check(f"toy DyT small-q rate a={aa}", float((1 + sw2 * sqh).subs({a: aa, sw2: float(arch.sigma_w2)})),
                         small_q_rate(arch), 1e-6))
    return out
