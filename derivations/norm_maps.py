"""LayerNorm / RMSNorm / LNS maps at infinite width, and J(0, L) = q[L]/q[0] for scale-invariant norms.

At infinite width the empirical variance of the pre-activations tends to q (zero-mean
i.i.d. units), so LN(h) = h / sqrt(q + eps) unit-wise: qt = q/(q+eps), pt = p/(q+eps) and the
derivative factor qh = 1/(q+eps); LNS multiplies all three by 1/b.  For the pre-norm
toy h' = h + W Norm(h) (identity branch): q' = q + sw2 qt and chi = 1 + sw2 qh, so with eps = 0
chi = q'/q identically and the product telescopes: J(0, L) = q[L]/q[0].  Pre-LN: q = q0 + sw2 l,
J ~ L.  LNS (b = l): q' = q + sw2/l, q ~ sw2 log l, J ~ log L.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import Check, write_latex

SLOW = False


def derive():
    q, p, eps, sw2, b = sp.symbols("q p epsilon sigma_w^2 b", positive=True)
    scale = 1 / sp.sqrt(q + eps)                     # 1/sqrt(variance) at infinite width
    qt, pt, qh = q * scale**2, p * scale**2, scale**2
    out = {}
    for name, f in (("ln", 1), ("lns", 1 / b)):
        qtn, qhn = qt * f, qh * f
        qnext = q + sw2 * qtn
        chi = 1 + sw2 * qhn
        out[name] = dict(qt=qtn, pt=pt * f, qh=qhn, telescoping=sp.simplify((chi - qnext / q).subs(eps, 0)))
    return q, p, eps, sw2, b, out


def run() -> list[Check]:
    from sigprop.architectures import preset
    from sigprop.normalizers import NormParams, get_normalizer
    from sigprop.theory.solver import solve

    q, p, eps, sw2, b, res = derive()
    for k, d in res.items():
        print(f"  {k}: qt = {d['qt']}, pt = {d['pt']}, qh = {d['qh']}, chi - q'/q (eps=0) = {d['telescoping']}")
    write_latex("norm_maps", {rf"\tilde q_{{\mathrm{{{k}}}}}": d["qt"] for k, d in res.items()}
                | {rf"q_{{h,\mathrm{{{k}}}}}": d["qh"] for k, d in res.items()})
    out, rng = [], np.random.default_rng(6)
    for _ in range(3):
        qq, ee, bb = float(rng.uniform(0.1, 10)), float(rng.uniform(0, 1)), int(rng.integers(1, 9))
        pp = float(rng.uniform(-0.9, 0.9)) * qq
        for name, nrm in (("ln", "layernorm"), ("ln", "rmsnorm"), ("lns", "lns")):
            d = res[name]
            got = get_normalizer(nrm).maps(np.array(qq), np.array(pp), NormParams(eps=ee, block=bb))
            for key, g in zip(("qt", "pt", "qh"), got):
                ref = float(d[key].subs({q: qq, p: pp, eps: ee, b: bb}))
                # closed forms both sides: rounding only
                out.append(Check(f"{nrm} {key} q={qq:.3g} p={pp:.3g} eps={ee:.3g} b={bb}", ref, float(g), 1e-12))
    for name, d in res.items():
        out.append(Check(f"{name}: chi - q'/q symbolically zero", 0.0, float(d["telescoping"] != 0), 0.0))
    for nrm in ("layernorm", "lns"):
        tr = solve(preset("toy", normalizer=nrm, eps=0.0))
        ref = float(np.log(tr.q[-1] / tr.q[0]))
        # exact identity of the recursions: only floating-point accumulation over L layers
        out.append(Check(f"solver {nrm}: log J(0,L) = log q[L]/q[0]", ref, float(tr.log_apjn[-1]), 1e-9))
    return out
