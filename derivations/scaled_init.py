"""Scaled (x 1/sqrt(2B)) and depth-scaled (x 1/sqrt(2b)) output projections: bounded q vs log growth.

The output projection of every sublayer in block b (B blocks) has its variance multiplied by
f_b = 1/(2B) ("scaled") or f_b = 1/(2b) ("depth_scaled"), as compared in Sun et al. 2025 (arXiv 2502.05795).
With a scale-invariant normalizer (LN, eps = 0) the branch input has qt = 1, qh = 1/q, so a block
adds a q-independent amount f_b c to q, and the APJN factor of a sublayer is 1 + f_b c_J / q:

* Pre-LN ReLU MLP stack (c = c_J = s21/2 per sublayer, one sublayer per block): chi = q'/q, so
  J(0, L) = q_L/q_0 exactly; scaled: q_L = q_0 + s21/4 for every L (bounded, 1 + s21/(4 q_0));
  depth-scaled: q_L = q_0 + (s21/4) H_L ~ (s21/4)(log L + gamma_E): log growth, coefficient s21/4.
* Pre-LN transformer on identical tokens (rho = 1 is invariant: uniform softmax, no softmax path):
  a block adds 2c = sOV + s21/2 times f_b, so q_B = q_0 + c (scaled, exact) and q_0 + c H_B
  (depth-scaled).  Uniform attention averages the tangents of all tokens, so the APJN is not a
  product of scalars: on (jq, jp) (per-token and cross-token tangent moments, jp_0 = 0) attention
  adds (f sOV/q) [[1/n, 1 - 1/n], [1/n, 1 - 1/n]], whose eigenvectors are the mean mode
  m = (jq + (n-1) jp)/n (eigenvalue f sOV/q) and the difference mode jq - jp (eigenvalue 0); the
  MLP multiplies both by 1 + f s21/(2q).  The mean mode's product telescopes to q_L/q_0, hence
  J(0, L) = q_L/(n q_0) + (1 - 1/n) prod_MLP (1 + f s21/(2 q)), and for scaled init as B -> oo
  J -> (1 + c/q_0)/n + (1 - 1/n)(1 + c/q_0)^zeta_M, zeta_M = (s21/2)/(sOV + s21/2).
* Without a normalizer (toy h + W h, sw2): q' = q (1 + f_b sw2), chi = q'/q; scaled:
  q_L/q_0 = (1 + sw2/(2L))^L -> exp(sw2/2); depth-scaled: prod (1 + sw2/(2b)) = (1 + sw2/2)_L / L!
  ~ L^(sw2/2) / Gamma(1 + sw2/2), a power law, not log L.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, write_latex

SLOW = True  # ~45 s: SymPy limits and transformer solves up to 1024 sublayers


def derive():
    q0, s21, sov, sw2, c = sp.symbols("q_0 s_21 s_OV sigma_w^2 c", positive=True)
    n, L, b, t = sp.symbols("n L b t", positive=True, integer=True)
    res = {}
    # Pre-LN ReLU MLP stack: per sublayer dq = f_b s21 / 2 (qt = 1), chi = 1 + f_b (s21/2) / q
    res["mlp_scaled"] = q0 + sp.summation(s21 / 2 / (2 * L), (b, 1, L))
    res["mlp_depth"] = q0 + sp.summation(s21 / 2 / (2 * b), (b, 1, L))
    res["mlp_depth_log_coeff"] = sp.limit((res["mlp_depth"] - q0) / sp.log(L), L, sp.oo)
    res["mlp_depth_offset"] = sp.limit(res["mlp_depth"] - q0 - res["mlp_depth_log_coeff"] * sp.log(L), L, sp.oo)
    q, dq, dchi_q = sp.symbols("q dq dchi_q", positive=True)   # telescoping: chi - q'/q with dchi_q = dq
    res["mlp_telescoping"] = sp.simplify((1 + dq / q) - (q + dq) / q)
    # transformer on identical tokens: per block, attention adds f sOV (uniform softmax: S2 = 1/n),
    # the MLP f s21/2; their chi terms are f sOV/(n q) and f s21/(2 q)
    cq = (sov + s21 / 2) / 2            # per sublayer of a block, before f
    cj = (sov / n + s21 / 2) / 2
    res["tr_scaled_q"] = q0 + sp.summation(2 * cq / (2 * L), (b, 1, L))      # L = B blocks here
    att = sp.Matrix([[1 / n, 1 - 1 / n], [1 / n, 1 - 1 / n]])               # attention tangent map / (f sOV/q)
    res["tr_att_modes"] = [(ev, list(vs[0])) for ev, _, vs in att.eigenvects()]
    res["tr_att_left_mean"] = sp.simplify(sp.Matrix([[1, n - 1]]) * att / n - sp.Matrix([[1, n - 1]]) / n)
    # continuum limit (t = b/B) of log prod_MLP = sum_b f s21/(2 q_b), q(t) = q0 + cq t, f = 1/(2B)
    zeta_m = sp.simplify(sp.integrate(s21 / 4 / (q0 + cq * t), (t, 0, 1)) / sp.log(1 + cq / q0))
    res["tr_zeta_mlp_mode"] = zeta_m
    res["tr_scaled_J"] = (1 + cq / q0) / n + (1 - 1 / n) * (1 + cq / q0) ** zeta_m
    res["tr_depth_q"] = q0 + sp.summation(cq / b, (b, 1, L))
    # no normalizer: q' = q (1 + f sw2)
    res["id_scaled"] = (1 + sw2 / (2 * L)) ** L
    res["id_scaled_limit"] = sp.limit(res["id_scaled"], L, sp.oo)
    res["id_depth"] = sp.simplify(sp.product(1 + sw2 / (2 * b), (b, 1, L)))
    res["id_depth_power"] = sp.simplify(sp.limit(sp.gammasimp(sp.combsimp(res["id_depth"]) / L ** (sw2 / 2)),
                                                 L, sp.oo))
    return dict(q0=q0, s21=s21, sov=sov, sw2=sw2, n=n, L=L), res


def _two_mode_J(n, sov, s21, q0, fs):
    """J(0, L) = m + (1 - 1/n) delta of the derived mean/difference modes, block factors ``fs``."""
    q, m, delta = q0, 1.0 / n, 1.0
    for f in fs:
        m *= 1 + f * sov / q          # attention: mean mode only
        q += f * sov
        m *= 1 + f * s21 / (2 * q)    # MLP: both modes
        delta *= 1 + f * s21 / (2 * q)
        q += f * s21 / 2
    return m + (1 - 1 / n) * delta


def run() -> list[Check]:
    from sigprop.architectures import preset
    from sigprop.theory.solver import solve

    sy, res = derive()
    for k, v in res.items():
        print(f"  {k} = {v}")
    write_latex("scaled_init", {r"q_L^{\mathrm{MLP,scaled}}": res["mlp_scaled"],
                                r"q_L^{\mathrm{MLP,depth}}": res["mlp_depth"],
                                r"\lim_{B\to\infty} J^{\mathrm{tr,scaled}}": res["tr_scaled_J"],
                                r"q_B^{\mathrm{tr,depth}}": res["tr_depth_q"],
                                r"\lim_{L\to\infty} q_L/q_0\,(\mathrm{no\ norm,\ scaled})": res["id_scaled_limit"],
                                r"q_L/q_0\,(\mathrm{no\ norm,\ depth})": res["id_depth"],
                                r"\lim L^{-\sigma_w^2/2} q_L/q_0": res["id_depth_power"]})
    q0s, L0, s21s, sovs, sw2s, ns = sy["q0"], sy["L"], sy["s21"], sy["sov"], sy["sw2"], sy["n"]
    out = [Check("MLP stack: chi - q'/q symbolically zero", 0.0, float(res["mlp_telescoping"] != 0), 0.0),
           Check("MLP stack depth-scaled: coefficient of log L is s21/4 (s21=1)", 0.25,
                 float(res["mlp_depth_log_coeff"].subs(s21s, 1)), 1e-14)]
    # -- Pre-LN ReLU MLP stack ------------------------------------------------------------------
    for L in (64, 512):
        for s1, s2, q0 in ((1.0, 1.0, 1.0), (0.8, 1.7, 2.5)):
            sub = {q0s: q0, s21s: (s1 * s2) ** 2, L0: L}
            arch = preset("mlp", depth=L, eps=0.0, sigma_1=s1, sigma_2=s2, q0=q0, p0=0.4 * q0)
            for init, key in (("scaled", "mlp_scaled"), ("depth_scaled", "mlp_depth")):
                tr = solve(arch.replace(init=init))
                ref = float(sp.N(res[key].subs(sub), 17))
                # exact finite-L identities; the solver accumulates L float64 additions
                out.append(Check(f"MLP stack {init} q_L L={L} s21={(s1 * s2) ** 2:.3g} q0={q0}", ref, float(tr.q[-1]), 1e-11))
                out.append(Check(f"MLP stack {init} J(0,L) = q_L/q0 L={L} s21={(s1 * s2) ** 2:.3g} q0={q0}",
                                 np.log(ref / q0), float(tr.log_apjn[-1]), 1e-10))
    # -- transformer on identical tokens ----------------------------------------------------------
    for n, sv, s2 in ((8, 1.0, 1.0), (4, 0.7, 1.3)):
        for B in (64, 512):
            arch = preset("transformer", depth=2 * B, eps=0.0, n_tokens=n, sigma_v=sv, sigma_2=s2, q0=1.0, p0=1.0)
            sub = {q0s: 1.0, s21s: s2 ** 2, sovs: sv ** 2, ns: n, L0: B}
            tr = solve(arch.replace(init="scaled"))
            out.append(Check(f"transformer rho=1 scaled q_L B={B} n={n} sOV={sv**2:.3g}",
                             float(sp.N(res["tr_scaled_q"].subs(sub))), float(tr.q[-1]), 1e-11))
            # exact two-mode product from the derived per-sublayer maps (rounding only)
            out.append(Check(f"transformer rho=1 scaled J(0,L) two-mode product, B={B} n={n} sOV={sv**2:.3g}",
                             _two_mode_J(n, sv ** 2, s2 ** 2, 1.0, [1 / (2 * B)] * B), float(np.exp(tr.log_apjn[-1])),
                             1e-10))
            lim = float(sp.N(res["tr_scaled_J"].subs(sub)))
            # continuum limit of Riemann sums with step 1/B of smooth monotone integrands: O(1/B)
            out.append(Check(f"transformer rho=1 scaled J(0,L) -> limit, B={B} n={n} sOV={sv**2:.3g}",
                             lim, float(np.exp(tr.log_apjn[-1])), 1.0 / B))
            trd = solve(arch.replace(init="depth_scaled"))
            out.append(Check(f"transformer rho=1 depth-scaled J(0,L) two-mode product, B={B} n={n}",
                             _two_mode_J(n, sv ** 2, s2 ** 2, 1.0, [1 / (2 * k) for k in range(1, B + 1)]),
                             float(np.exp(trd.log_apjn[-1])), 1e-10))
            out.append(Check(f"transformer rho=1 depth-scaled q_L = q0 + c H_B, B={B} n={n}",
                             float(sp.N(res["tr_depth_q"].subs(sub))), float(trd.q[-1]), 1e-11))
    # -- no normalizer ----------------------------------------------------------------------------
    for sw2 in (0.5, 2.0):
        for L in (64, 2048):
            arch = preset("toy", normalizer="identity", activation="identity", sigma_w2=sw2, depth=L, q0=1.0, p0=0.5)
            sub = {sw2s: sw2, L0: L}
            tr = solve(arch.replace(init="scaled"))
            out.append(Check(f"no norm scaled q_L/q0 = (1+sw2/2L)^L, sw2={sw2} L={L}",
                             float(sp.N(res["id_scaled"].subs(sub), 17)), float(tr.q[-1]), 1e-11))
            trd = solve(arch.replace(init="depth_scaled"))
            out.append(Check(f"no norm depth-scaled q_L/q0 = (1+sw2/2)_L / L!, sw2={sw2} L={L}",
                             float(sp.N(res["id_depth"].subs(sub), 17)), float(trd.q[-1]), 1e-11))
        lim = float(sp.N(res["id_scaled_limit"].subs(sw2s, sw2)))
        L = 2048
        # (1 + x/L)^L = e^x (1 - x^2/(2L) + O(L^-2)): relative gap x^2/(2L), 2x for the O(L^-2) rest
        out.append(Check(f"no norm scaled q_L/q0 -> exp(sw2/2), sw2={sw2} L={L}", lim,
                         float(solve(preset("toy", normalizer="identity", activation="identity", sigma_w2=sw2,
                                            depth=L, init="scaled")).q[-1]), (sw2 / 2) ** 2 / L))
    return out
