"""Curse-of-Depth Lemma 3.2 (Pre-LN) and Lemma 4.1 (LNS) variance recursions vs the exact mean-field ones.

Sun et al. 2025 (arXiv 2502.05795, seed 004), Eq. 23: sigma^2_{l+1} = sigma^2_l + sigma^2_Attn + sigma^2_FFN
+ rho_1 sigma_l sigma_Attn + rho_2 sigma'_l sigma_FFN.  At initialization the branch output is
W_O (...) with W_O zero-mean and independent of x_l, so E[x_l . Attn(LN x_l)] = 0: rho_1 = rho_2 = 0
and the recursion is ours, q_{l+1} = q_l + C with a q-independent C (LN output has unit variance):
C = sOV (rho + (1 - rho) S2) + s21/2 per block (ReLU FFN, softmax moment S2).
* Eq. 27 (uniform softmax) gives sigma^2_Attn = sOV; ours with S2 = 1/n is sOV (rho + (1 - rho)/n):
  equal at rho = 1 (the large-depth attractor), n times too large at rho = 0.
* Lemma 3.2, Eq. 7 (Theta(L) <= sigma^2_L <= Theta(e^L)): AGREE, q = q_1 + C (L - 1) attains the lower bound.
* Lemma 3.2, Eq. 6/32 (factor Theta(1 + 1/sigma_l)): DISAGREE.  Solved on its own it grows
  quadratically (d sigma^2/dl = a sigma gives (a l/2)^2); evaluated on the exact linear q it gives
  prod (1 + 1/sqrt(C k)) ~ exp(2 sqrt(l/C)), not Theta(l).  The exact factor is 1 + C/sigma^2: the
  1/sigma term comes only from the cross terms rho sigma sigma_W, which vanish at initialization.
* Lemma 4.1 (LNS, LN output x 1/sqrt(l)): each branch sees qt = 1/l; attention and the ReLU FFN are
  positively homogeneous, so BOTH increments scale as 1/l (not sigma_W^4/l^2 as in Eq. 52 for the FFN):
  q_L = q_1 + C H_{L-1} ~ C log L.  Eq. 14's lower bound Theta(L) FAILS (upper bound Theta(L^(2-eps))
  holds trivially).  Even Eq. 52's own terms with rho = 0 give sigma^2_1 + sigma_W^2 H_{L-1} +
  sigma_W^4 H^(2)_{L-1}, i.e. log growth; Theta(L) needs the cross term of Eq. 53.
Consistent with sigprop.claims: cod-lemma-3.2 holds, cod-lemma-3.2-product fails, cod-lemma-4.1 fails.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, gaussian_expectation, write_latex

SLOW = False


def derive():
    l, k, L = sp.symbols("l k L", positive=True, integer=True)
    q1, C, a, sw, sov, s21, s1, qt, rho, n, S2 = sp.symbols(
        "q_1 C a sigma_W s_OV s_21 sigma_1^2 qt rho n S_2", positive=True)
    y = sp.Function("y")
    res = {}
    # ours (= Eq. 23 with rho_1 = rho_2 = 0): q_{l+1} = q_l + C
    qf = sp.Function("q")
    res["ours_preln"] = sp.rsolve(qf(l + 1) - qf(l) - C, qf(l), {qf(1): q1})
    # their Eq. 32 factor (1 + a/sigma): continuum d sigma^2/dl = a sigma
    sol = sp.dsolve(sp.Eq(y(l).diff(l), a * sp.sqrt(y(l))), y(l))
    sol = sol[0] if isinstance(sol, list) else sol
    res["theirs_eq32_continuum"] = sol.rhs
    res["theirs_eq32_growth"] = sp.limit(sol.rhs / l**2, l, sp.oo)
    # Eq. 6 evaluated on the exact linear q = C k: log prod (1 + 1/sqrt(C k)) ~ 2 sqrt(l/C)
    x = sp.Symbol("x", positive=True)
    res["eq6_on_linear_q"] = sp.integrate(1 / sp.sqrt(C * x), (x, 0, l))
    # attention variance: ours with uniform softmax (S2 = 1/n) vs Eq. 27
    ours_att = sov * (rho + (1 - rho) * S2)
    res["att_uniform"] = sp.simplify(ours_att.subs(S2, 1 / n))
    res["att_ratio_rho0"] = sp.simplify(sov / res["att_uniform"].subs(rho, 0))
    # FFN under LNS: z ~ N(0, sigma_1^2 qt), E[relu(z)^2] = sigma_1^2 qt / 2: linear in qt = 1/l
    u = sp.Symbol("u", real=True)
    ffn = gaussian_expectation(sp.Piecewise((u, u > 0), (0, True)) ** 2, u, s1 * qt)
    res["ffn_lns"] = sp.simplify(ffn.subs(qt, 1 / l))
    res["ours_lns"] = q1 + sp.summation(C / k, (k, 1, L - 1))
    res["ours_lns_over_L"] = sp.limit(res["ours_lns"] / L, L, sp.oo)
    res["eq52_rho0"] = q1 + sp.summation(sw**2 / k + sw**4 / k**2, (k, 1, L - 1))
    res["eq52_rho0_over_L"] = sp.limit(res["eq52_rho0"] / L, L, sp.oo)
    return dict(l=l, L=L, q1=q1, C=C, sov=sov, s21=s21, rho=rho, n=n), res


def _ones(expr):
    """``expr`` with every remaining parameter set to 1."""
    return expr.subs({s: 1 for s in expr.free_symbols})


def run() -> list[Check]:
    from sigprop.architectures import preset
    from sigprop.theory.solver import solve

    sy, res = derive()
    for key, v in res.items():
        print(f"  {key} = {v}")
    write_latex("cod_lemmas", {r"q_l^{\mathrm{Pre\text{-}LN}}": res["ours_preln"],
                               r"\sigma^2_l\,(\mathrm{Eq.\,32,\ continuum})": res["theirs_eq32_continuum"],
                               r"\log\prod_{k<l}(1+1/\sqrt{Ck})": res["eq6_on_linear_q"],
                               r"\sigma^2_{\mathrm{Attn}}\,(S_2 = 1/n)": res["att_uniform"],
                               r"\sigma^2_{\mathrm{FFN}}\,(\mathrm{LNS})": res["ffn_lns"],
                               r"q_L^{\mathrm{LNS}}": res["ours_lns"]})
    C, q1, L = sy["C"], sy["q1"], sy["L"]
    out = [Check("Eq. 32 solved on its own grows quadratically (limit sigma^2/l^2 = a^2/4, a=1)", 0.25,
                 float(_ones(res["theirs_eq32_growth"])), 1e-14),
           Check("Eq. 27 overestimates the attention variance n-fold at rho=0 (n=8)", 8.0,
                 float(res["att_ratio_rho0"].subs(sy["n"], 8)), 1e-14),
           Check("LNS FFN variance ~ 1/l (ReLU homogeneous): l * sigma^2_FFN at sigma_1^2=1", 0.5,
                 float(_ones(sp.simplify(res["ffn_lns"] * sy["l"]))), 1e-14),
           Check("ours LNS: q_L/L -> 0 (Lemma 4.1 lower bound fails)", 0.0, float(res["ours_lns_over_L"]), 0.0),
           Check("Eq. 52 with rho=0: sigma^2_L/L -> 0", 0.0, float(res["eq52_rho0_over_L"]), 0.0)]
    B = 100
    for n, sv, s2 in ((8, 1.0, 1.0), (4, 0.7, 1.3)):
        c_block = sv**2 + s2**2 / 2       # per block at rho = 1: sOV + s21/2
        base = preset("transformer", depth=2 * B, eps=0.0, n_tokens=n, sigma_v=sv, sigma_2=s2, q0=1.0, p0=1.0)
        for norm, key in (("layernorm", "ours_preln"), ("lns", "ours_lns")):
            tr = solve(base.replace(normalizer=norm))
            blocks = np.arange(1, B + 1)
            qb = tr.q[2 * blocks - 2]      # q at the input of block b (q_1 = q0)
            f = sp.lambdify(L if key == "ours_lns" else sy["l"], res[key].subs({C: c_block, q1: 1.0}), "mpmath")
            ref = np.array([float(f(int(b))) for b in blocks])
            # identical tokens: exact recursion, float64 accumulation only
            err = float(np.max(np.abs(qb / ref - 1)))
            out.append(Check(f"{norm} transformer rho=1 n={n}: 1 + max_b |q_b / formula - 1| over {B} blocks",
                             1.0, 1.0 + err, 1e-11))
    # the p0 = 0.4 Pre-LN transformer of sigprop.claims: per-block increments tend to C(rho -> 1) = sOV + s21/2
    tr = solve(preset("transformer", depth=400, eps=0.0))
    inc = float(tr.q[-1] - tr.q[-3])
    eps = float(1 - tr.rho[-1])
    # C(rho) = sOV (rho + (1 - rho) S2) + s21/2 differs from sOV + s21/2 by at most sOV (1 - rho)
    out.append(Check("Pre-LN transformer p0=0.4: last block increment vs sOV + s21/2 (within sOV(1-rho))",
                     1.5, inc, eps / 1.5))
    return out
