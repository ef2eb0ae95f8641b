"""Plain (non-residual) ReLU MLP h' = W relu(h): q' = sw2 q / 2 and chi = sw2 / 2 per layer.

From ``relu_kernel``: E[relu(h)^2] = K(q, p = q) and E[relu'(h)^2] = 1/2, so
q[l+1] = sw2 K(q, q) and chi = sw2 E[relu'^2].  Both are geometric in l: collapse or
explosion unless sw2 = 2.  The seed experiment (Kaiming / sqrt(20), sw2 = 0.1) gives 0.05 per layer.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, write_latex
from .relu_kernel import derive as derive_kernel

SLOW = False


def derive():
    q, p, K, dfac = derive_kernel()
    sw2 = sp.Symbol("sigma_w^2", positive=True)
    q_ratio = sp.simplify(sw2 * K.subs(p, q) / q)
    chi = sp.simplify(sw2 * dfac)
    return sw2, q_ratio, chi, sp.solve(sp.Eq(chi, 1), sw2)


def run() -> list[Check]:
    from sigprop.architectures import preset
    from sigprop.theory.solver import solve

    sw2, q_ratio, chi, crit = derive()
    print("  q[l+1]/q[l] =", q_ratio, "  chi =", chi, "  critical sw2 =", crit)
    write_latex("plain_relu", {r"q_{l+1}/q_l": q_ratio, r"\chi": chi})
    out = []
    for s in (0.1, 2.0, 3.0):
        tr = solve(preset("plain", sigma_w2=s))
        L = tr.q.shape[0] - 1
        # exact geometric recursions: only floating-point accumulation over L layers
        out.append(Check(f"sw2={s}: log q[L]/q[0]", L * float(sp.log(q_ratio.subs(sw2, s))),
                         float(np.log(tr.q[-1] / tr.q[0])), 1e-9))
        out.append(Check(f"sw2={s}: log J(0,L)", L * float(sp.log(chi.subs(sw2, s))), float(tr.log_apjn[-1]), 1e-9))
    return out
