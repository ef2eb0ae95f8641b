"""Figure 5: the curse of depth at initialization and four ways of scaling the residual branches.

Sun et al. 2025 (*The Curse of Depth in Large Language Models*, arXiv
2502.05795) argue that with Pre-LN the output variance grows with depth so
that deep blocks act almost as the identity, and propose LayerNorm Scaling
(LNS: the LayerNorm output of block ``b`` times ``1/sqrt(b)``). This figure
shows, for the Pre-LN MLP stack ``h' = h + W2 ReLU(W1 LN(h))`` (preset
``mlp``), the output second moment ``q[L]`` and the APJN ``J(0, L)`` of a
network of ``L`` sublayers against ``L``, for

* Pre-LN (``normalizer="layernorm"``, ``init="standard"``);
* LNS (``normalizer="lns"``);
* scaled initialization (``init="scaled"``: output projections x ``1/sqrt(2L)``);
* depth-scaled initialization (``init="depth_scaled"``: x ``1/sqrt(2l)``).

Lines: the mean-field recurrence (:func:`sigprop.theory.solve`) up to
``10^4`` sublayers (log-log axes). For the scaled initialization every depth
``L`` is a different network, so it is solved once per plotted ``L``; for the
other three the sublayers do not depend on ``L`` and one trajectory gives all
depths. Markers: Monte-Carlo networks of moderate depth (mean and standard
error over networks; see :func:`mc_curves` for how the scaled initialization
is simulated at several depths with one compiled network). The legend gives the growth law that
:func:`sigprop.fitting.fit_growth` selects for each theory curve.

Because LayerNorm is scale invariant and the branch is added to the identity,
``chi[l] = q[l+1]/q[l]`` exactly, so ``J(0, L) = q[L]/q[0]`` in the theory
(docs/theory.md, "Large-depth behaviour"); the Monte-Carlo measures both separately.

Run alone: ``python -m figures.fig5_curse_of_depth [--quick] [--out DIR] [--device cpu|gpu]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

STEM = "fig5_curse_of_depth"
#: theory depths (log grid up to ``max_depth``) and Monte-Carlo ensembles.
#: Hutchinson probes per network
PROBES = 4
QUICK = dict(max_depth=10_000, points=33, width=128, mc_depths=(2, 4, 8, 16, 32), samples=16)
FULL = dict(max_depth=10_000, points=65, width=512, mc_depths=(2, 4, 8, 16, 32, 64, 128, 256), samples=64)
#: above this many seconds for the deepest scaled ensemble, shallower depths run at their own depth
OWN_DEPTH_SECONDS = 30.0
#: legend label -> changes to the ``mlp`` preset.
VARIANTS = {
    "Pre-LN": dict(normalizer="layernorm", init="standard"),
    "LNS": dict(normalizer="lns", init="standard"),
    "scaled init": dict(normalizer="layernorm", init="scaled"),
    "depth-scaled init": dict(normalizer="layernorm", init="depth_scaled"),
}


def base_arch():
    """The ``mlp`` preset (Pre-LN ReLU MLP stack, all ``sigma = 1``, ``q0 = 1``) with two tokens."""
    from sigprop.architectures import preset

    return preset("mlp", n_tokens=2)


def theory_curves(arch, depths) -> tuple[np.ndarray, np.ndarray]:
    """``q[L]`` and ``log J(0, L)`` at the output of networks of depth ``L`` for each ``L`` in ``depths``."""
    from sigprop.theory import solve

    depths = np.asarray(depths, int)
    if arch.init == "scaled":  # the per-sublayer scale depends on L: one network per depth
        pairs = [solve(arch, depth=int(L), need_p=False) for L in depths]
        return np.array([t.q[-1] for t in pairs]), np.array([t.log_apjn[-1] for t in pairs])
    t = solve(arch, depth=int(depths.max()), need_p=False)
    return t.q[depths], t.log_apjn[depths]


def scaled_as_standard(arch, depth: int, total: int):
    """A standard-init declaration of ``total`` sublayers whose first ``depth`` equal ``arch`` scaled at ``depth``.

    ``init="scaled"`` multiplies the output projections of a network of ``B``
    blocks by ``1/sqrt(2 B)``; putting that factor into ``sigma_w2`` (toy) or
    ``sigma_o``/``sigma_2`` (transformer, MLP stack) of a deeper standard
    network gives the same first ``depth`` sublayers. Weight scales are traced
    by the Monte-Carlo engine, so all depths share one compiled network.
    Raises ``RuntimeError`` if the sublayer weight scales disagree.
    """
    target = arch.replace(depth=int(depth))
    f2 = target.output_scale2(0)
    if arch.kind == "toy":
        eq = arch.replace(init="standard", depth=int(total), sigma_w2=np.asarray(arch.sigma_w2, float) * f2)
    else:
        f = float(np.sqrt(f2))
        eq = arch.replace(init="standard", depth=int(total), sigma_o=np.asarray(arch.sigma_o, float) * f,
                          sigma_2=np.asarray(arch.sigma_2, float) * f)
    d = int(arch.width)
    for k in range(int(depth)):
        a = {n: float(s) for n, (_, s) in target.sublayer(k).weight_specs(d).items()}
        b = {n: float(s) for n, (_, s) in eq.sublayer(k).weight_specs(d).items()}
        if a.keys() != b.keys() or any(abs(a[n] - b[n]) > 1e-12 * abs(a[n]) for n in a):
            raise RuntimeError(f"sublayer {k}: scaled {a} differs from its standard equivalent {b}")
    return eq


def mc_curves(arch, depths, width, samples, device=None) -> dict:
    """Monte-Carlo ``q[L]`` and ``log J(0, L)`` (per-network arrays ``(samples, len(depths))``).

    One ensemble of the deepest network gives every depth, except for the
    scaled initialization: there the deepest depth is simulated as declared
    (``init="scaled"``) and the shallower ones through :func:`scaled_as_standard`
    (one compiled full-depth network for every depth) when the deepest ensemble
    took at most ``OWN_DEPTH_SECONDS``; when it took longer, computing the
    unused deeper sublayers would cost more than compiling, and each depth is
    simulated as declared at its own depth. Both give the same numbers up to
    float32 rounding (same keys, same weights).
    """
    from sigprop.montecarlo import simulate

    depths = np.asarray(depths, int)
    top = int(depths.max())
    kw = dict(width=width, samples=samples, probes=PROBES, seed=5, device=device, backward=False)
    r = simulate(arch.replace(depth=top), **kw)
    if arch.init != "scaled":
        return {"q": r.q[:, depths], "log_apjn": r.log_apjn[:, depths]}
    own = r.meta["seconds"] > OWN_DEPTH_SECONDS
    runs = [r if L == top else simulate(arch.replace(depth=int(L)) if own else scaled_as_standard(arch, L, top), **kw)
            for L in depths]
    return {"q": np.stack([x.q[:, L] for x, L in zip(runs, depths)], 1),
            "log_apjn": np.stack([x.log_apjn[:, L] for x, L in zip(runs, depths)], 1)}


def law_label(fit) -> str:
    """Legend text of a growth-law fit, e.g. ``power, zeta=1.00``."""
    p = fit.params
    if fit.model == "power":
        return f"power, zeta={p['zeta']:.2f}"
    if fit.model == "log":
        return f"log, c={p['c']:.3g}"
    if fit.model == "bounded":
        return f"bounded, limit={p['a']:.3g}"
    if fit.model == "exp":
        return f"exp, xi={p['xi']:.3g}"
    return fit.model


def compute(quick: bool = True, device=None) -> dict:
    """Theory, Monte-Carlo and fits for every variant; ``"_settings"`` holds the configuration."""
    from sigprop.fitting import fit_growth

    cfg = QUICK if quick else FULL
    depths = np.unique(np.round(np.logspace(0, np.log10(cfg["max_depth"]), cfg["points"])).astype(int))
    mc_depths = np.asarray(cfg["mc_depths"], int)
    base = base_arch()
    out = {"_settings": dict(cfg, depths=depths, mc_depths=mc_depths)}
    for label, changes in VARIANTS.items():
        t0 = time.perf_counter()
        arch = base.replace(**changes)
        q, log_j = theory_curves(arch, depths)
        fits = {"q": fit_growth(depths, q), "J": fit_growth(depths, np.exp(log_j))}
        mc = mc_curves(arch, mc_depths, cfg["width"], cfg["samples"], device)
        print(f"[fig5] {label}: q {law_label(fits['q'])}; J {law_label(fits['J'])} "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
        out[label] = {"arch": arch, "q": q, "log_apjn": log_j, "fits": fits, "mc": mc}
    return out


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.mean(x, axis=0), np.std(x, axis=0, ddof=1) / np.sqrt(x.shape[0])


def table(results: dict) -> dict[str, list]:
    """Long-format columns: one row per (variant, depth ``L``); MC columns are ``nan`` off the MC depths."""
    from figures.common import long_rows

    s = results["_settings"]
    rows = []
    for label, r in results.items():
        if label.startswith("_"):
            continue
        qm, qs = _stats(r["mc"]["q"])
        jm, js = _stats(r["mc"]["log_apjn"])
        at = {int(L): i for i, L in enumerate(s["mc_depths"])}
        extra = [L for L in s["mc_depths"] if L not in set(s["depths"].tolist())]
        q_x, j_x = theory_curves(r["arch"], extra) if extra else ([], [])
        theory = dict(zip(s["depths"].tolist(), zip(r["q"], r["log_apjn"])))
        theory.update(dict(zip([int(L) for L in extra], zip(q_x, j_x))))
        for L in sorted(theory):
            i = at.get(L)
            nan = float("nan")
            rows.append({
                "variant": label, "depth": L, "normalizer": r["arch"].normalizer, "init": r["arch"].init,
                "theory_q": float(theory[L][0]), "theory_log_apjn": float(theory[L][1]),
                "mc_q_mean": nan if i is None else float(qm[i]), "mc_q_stderr": nan if i is None else float(qs[i]),
                "mc_log_apjn_mean": nan if i is None else float(jm[i]),
                "mc_log_apjn_stderr": nan if i is None else float(js[i]),
                "width": s["width"], "networks": s["samples"], "probes": PROBES,
                "n_tokens": r["arch"].n_tokens,
                "fit_q_law": r["fits"]["q"].model, "fit_q_label": law_label(r["fits"]["q"]),
                "fit_apjn_law": r["fits"]["J"].model, "fit_apjn_label": law_label(r["fits"]["J"]),
            })
    return long_rows(rows)


def plot(results: dict):
    """Two log-log panels: ``q[L]`` and ``J(0, L)`` against ``L``."""
    from figures.common import setup

    plt = setup()
    s = results["_settings"]
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    for i, (label, r) in enumerate((k, v) for k, v in results.items() if not k.startswith("_")):
        color = f"C{i}"
        qm, qs = _stats(r["mc"]["q"])
        jm, js = _stats(r["mc"]["log_apjn"])
        axes[0].plot(s["depths"], r["q"], "-", color=color, label=f"{label}: {law_label(r['fits']['q'])}")
        axes[0].errorbar(s["mc_depths"], qm, qs, fmt="o", color=color, mfc="white", capsize=2)
        axes[1].plot(s["depths"], np.exp(r["log_apjn"]), "-", color=color,
                     label=f"{label}: {law_label(r['fits']['J'])}")
        # J = exp(mean log J); error bar from the log-space standard error
        jc = np.exp(jm)
        axes[1].errorbar(s["mc_depths"], jc, np.stack([jc - np.exp(jm - js), np.exp(jm + js) - jc]), fmt="o",
                         color=color, mfc="white", capsize=2)
    axes[0].set_ylabel("output second moment q[L]")
    axes[1].set_ylabel("APJN J(0, L)")
    for ax, t in zip(axes, ("(a)", "(b)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("depth L (sublayers)")
        ax.set_title(f"{t} MLP stack: lines theory, markers MC (d={s['width']}, {s['samples']} nets)")
        ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def make(out_dir, quick: bool = True, device=None) -> list[Path]:
    """Compute, plot and save figure 5 (PNG, PDF, CSV); returns the paths."""
    from figures.common import render

    return render("fig5", STEM, compute, plot, table, out_dir, quick, device)


def main(argv=None) -> None:
    """Command line: ``python -m figures.fig5_curse_of_depth [--quick] [--out DIR] [--device cpu|gpu]``."""
    from figures.common import run_alone

    run_alone(make, "Figure 5: curse of depth (Pre-LN, LNS, scaled inits).", argv, quick_help="small ensembles (seconds on one CPU core)")


if __name__ == "__main__":
    main()
