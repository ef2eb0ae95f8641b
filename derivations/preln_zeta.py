"""Pre-LN toy h' = h + W phi(LN h) + b: q ~ c_q l, chi = 1 + c_J / q, J(0, l) ~ l^zeta with zeta = c_J / c_q.

At infinite width LN(h) has unit per-unit variance, so u = LN(h) ~ N(0, 1) and
q' = q + sw2 E[phi(u)^2] + sb2 (c_q = sw2 E[phi^2] + sb2), while the Jacobian of LN carries
1/sqrt(q): chi = 1 + sw2 E[phi'(u)^2] / q (c_J = sw2 E[phi'^2]).  Then
log J = sum log(1 + c_J/(q0 + c_q l)) ~ (c_J/c_q) log l.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, gaussian_expectation, write_latex

SLOW = False


def derive(phi_name: str):
    u = sp.Symbol("u", real=True)
    sw2, sb2 = sp.symbols("sigma_w^2 sigma_b^2", nonnegative=True)
    phi = u if phi_name == "identity" else sp.Piecewise((u, u > 0), (0, True))
    dphi = sp.diff(u, u) if phi_name == "identity" else sp.Piecewise((1, u > 0), (0, True))
    cq = sw2 * gaussian_expectation(phi**2, u, 1) + sb2
    cj = sw2 * gaussian_expectation(dphi**2, u, 1)
    return sw2, sb2, sp.simplify(cq), sp.simplify(cj), sp.simplify(cj / cq)


def run() -> list[Check]:
    from sigprop.architectures import preset
    from sigprop.theory.asymptotics import predict_zeta
    from sigprop.theory.solver import solve

    out, latex = [], {}
    for phi in ("identity", "relu"):
        sw2, sb2, cq, cj, zeta = derive(phi)
        print(f"  phi={phi}: c_q = {cq}, c_J = {cj}, zeta = {zeta}")
        latex[rf"\zeta_{{\mathrm{{{phi}}}}}"] = zeta
        for s, b in ((0.2116, 0.0), (0.5, 0.3), (1.5, 1.0)):
            arch = preset("toy", normalizer="layernorm", activation=phi, sigma_w2=s, sigma_b2=b, eps=0.0)
            subs = {sw2: s, sb2: b}
            # closed form vs sigprop's moments of phi (quadrature for relu): 1e-8
            out.append(Check(f"zeta phi={phi} sw2={s} sb2={b}", float(zeta.subs(subs)), predict_zeta(arch), 1e-8))
            tr = solve(arch)
            L = tr.q.shape[0] - 1
            ql = float(arch.q0) + float(cq.subs(subs)) * np.arange(L)
            ref = float(np.sum(np.log1p(float(cj.subs(subs)) / ql)))
            # exact recursion from the derived c_q, c_J: floating-point accumulation only
            out.append(Check(f"solver log J(0,L) phi={phi} sw2={s} sb2={b}", ref, float(tr.log_apjn[-1]), 1e-8))
    write_latex("preln_zeta", latex)
    return out
