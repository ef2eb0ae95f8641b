"""Toy Derf model h' = h + W erf(alpha h): small-q rate, linear growth of q, and lambda of log J ~ sqrt(l / lambda).

Mean field (docs/theory.md): q[l+1] = q[l] + sw2 qt(q[l]), chi[l] = 1 + sw2 qh(q[l]), with the
Derf maps derived in ``derf_maps``.  Small q: qt ~ qt'(0) q, so q grows by the factor
1 + sw2 qt'(0) per layer.  Large q: qt -> qt(oo) so q ~ sw2 qt(oo) l, and qh ~ C_h / sqrt(q), so
log J ~ sum sw2 C_h / sqrt(q) ~ 2 sw2 C_h sqrt(l) / sqrt(sw2 qt(oo)) = sqrt(l / lambda).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, write_latex
from .derf_maps import derive as derive_maps

SLOW = False


def derive():
    a, q, _, qt, _, qh = derive_maps()
    sw2 = sp.Symbol("sigma_w^2", positive=True)
    l = sp.Symbol("l", positive=True)
    rate = sp.simplify(1 + sw2 * sp.diff(qt, q).subs(q, 0))
    qinf = sp.limit(qt, q, sp.oo)
    ch = sp.limit(qh * sp.sqrt(q), q, sp.oo)
    q_of_l = sw2 * qinf * l                                    # continuum dq/dl = sw2 qt(oo)
    logj = sp.integrate(sw2 * ch / sp.sqrt(q_of_l.subs(l, sp.Symbol("s", positive=True))),
                        (sp.Symbol("s", positive=True), 0, l))
    lam = sp.simplify(l / logj**2)
    # transition depth l* (alpha^2 q[l*] = 1) of the continuum dq/dl = sw2 qt(q): x = alpha^2 q
    x, x0 = sp.symbols("x x_0", positive=True)
    lstar_integrand = sp.simplify(qt.subs(q, x / a**2))              # depends on x only
    lstar = sp.Integral(1 / lstar_integrand, (x, x0, 1)) / (a**2 * sw2)
    return a, sw2, rate, sp.simplify(ch), sp.simplify(lam), (x, x0, lstar_integrand, lstar)


def run() -> list[Check]:
    from sigprop.architectures import preset
    from sigprop.theory.asymptotics import predict_lambda, small_q_rate, transition_depth

    a, sw2, rate, ch, lam, (x, x0, integrand, lstar) = derive()
    print("  small-q growth factor per layer =", rate)
    print("  qh ~ C_h / sqrt(q), C_h =", ch)
    print("  l* =", lstar, "(no elementary antiderivative: evaluated with mpmath quadrature)")
    print("  lambda =", lam, "  i.e. 1/sqrt(lambda) =", sp.simplify(1 / sp.sqrt(lam)))
    write_latex("derf_lambda", {r"r_{\mathrm{small}}": rate, r"C_h": ch, r"\lambda": lam, r"\ell^*": lstar,
                                r"\lambda^{-1/2}": sp.simplify(1 / sp.sqrt(lam))})
    out = []
    for aa in (0.1, 0.5, 1.3):
        arch = preset("toy", normalizer="derf", alpha=aa)
        subs = {a: aa, sw2: float(arch.sigma_w2)}
        # predict_lambda uses a Richardson-extrapolated finite-q estimate: residual O(q^-3/2) at the large q used, observed ~1e-9; 1e-6 leaves margin
        out.append(Check(f"lambda alpha={aa}", float(lam.subs(subs)), predict_lambda(arch), 1e-6))
        # small_q_rate evaluates at alpha^2 q = 1e-8: relative error ~1e-8
        out.append(Check(f"small-q rate alpha={aa}", float(rate.subs(subs)), small_q_rate(arch), 1e-6))
        import mpmath
        ref = mpmath.quad(sp.lambdify(x, 1 / integrand, "mpmath"), [aa**2 * float(arch.q0), 1]) / (aa**2 * float(arch.sigma_w2))
        if aa**2 * float(arch.q0) < 1:
            # independent quadratures of the same integral (mpmath vs scipy quad): 1e-6
            out.append(Check(f"transition depth l* alpha={aa}", float(ref), transition_depth(arch), 1e-6))
    return out
