"""Figure 1: toy Derf versus Pre-LN residual networks (docs/theory.md reference toy model).

Configuration: ``h' = h + W Norm(h)`` with ``W ~ N(0, sigma_w^2/d)``,
``sigma_w = 0.46``, ``q[0] = 1``, ``L = 128``; ``Norm`` is Derf
``erf(alpha h)`` for ``alpha = 0.1, 0.3, ..., 1.9`` (one solver call with an
array-valued ``alpha``) or LayerNorm (Pre-LN, black).

Left: ``q[l]``; right: the backward APJN ``J(l, L)`` (gradient amplification
from the output back to layer ``l``, Doshi et al. 2023). While
``alpha^2 q << 1`` Derf is linear and both grow geometrically at rate
``1 + 4 alpha^2 sigma_w^2 / pi``; after the transition layer ``l*`` (first
``l`` with ``alpha^2 q[l] >= 1``; Alekseev 2026) Derf saturates, ``q`` grows
linearly and ``log J`` like ``sqrt(l / lam)``. Each Derf curve is dashed before
``l*`` and solid after it, with a dot at ``l*``. Pre-LN has
``J(l, L) = q[L]/q[l]`` exactly (power law, ``zeta = 1``).

Run alone: ``python -m figures.fig1_derf_vs_preln [--quick] [--out DIR]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from figures.common import long_rows, save, setup, run_alone
from sigprop.architectures import preset
from sigprop.theory import solve
from sigprop.theory.asymptotics import transition_depth, transition_layer

STEM = "fig1_derf_vs_preln"
#: docs/theory.md reference sweep alpha = 0.1, 0.3, ..., 1.9.
ALPHAS = np.round(np.arange(0.1, 2.0, 0.2), 2)
SIGMA_W = 0.46
DEPTH = 128
COLUMNS = ("normalizer", "alpha", "layer", "q", "log_apjn_back", "apjn_back", "after_transition",
           "transition_layer", "transition_depth", "sigma_w", "q0", "depth")


def compute(alphas=ALPHAS, depth: int = DEPTH) -> dict:
    """Solve the Derf sweep (one call) and the Pre-LN reference.

    Args:
        alphas: Derf input scales (1-D).
        depth: ``L``.

    Returns:
        dict with ``alphas``, ``derf`` and ``preln`` trajectories, ``l_star``
        (first layer with ``alpha^2 q >= 1``, ``L + 1`` if never) and
        ``l_star_continuum`` (:func:`transition_depth`, the continuum estimate).
    """
    alphas = np.asarray(alphas, dtype=float)
    base = preset("toy", depth=depth, sigma_w2=SIGMA_W ** 2, q0=1.0)
    derf = solve(base.replace(normalizer="derf", alpha=alphas))
    preln = solve(base.replace(normalizer="layernorm", alpha=1.0))
    l_star = np.asarray(transition_layer(derf, alphas))
    l_cont = np.array([transition_depth(base.replace(normalizer="derf", alpha=float(a))) for a in alphas])
    return {"alphas": alphas, "derf": derf, "preln": preln, "l_star": l_star, "l_star_continuum": l_cont}


def rows(res: dict) -> list[dict]:
    """Long-format rows (one per normalizer, alpha and layer) of the plotted data."""
    out = []
    L = res["preln"].depth

    def add(name, alpha, q, lb, ls, lc):
        for l in range(L + 1):
            out.append({"normalizer": name, "alpha": alpha, "layer": l, "q": float(q[l]),
                        "log_apjn_back": float(lb[l]), "apjn_back": float(np.exp(lb[l])),
                        "after_transition": int(l >= ls), "transition_layer": int(ls),
                        "transition_depth": float(lc), "sigma_w": SIGMA_W, "q0": float(p.q[0]), "depth": L})

    p = res["preln"]
    add("layernorm", 0.0, p.q, p.log_apjn_back, 0, 0.0)
    d = res["derf"]
    for i, a in enumerate(res["alphas"]):
        add("derf", float(a), d.q[:, i], d.log_apjn_back[:, i], res["l_star"][i], res["l_star_continuum"][i])
    return out


def _split_plot(ax, x, y, l_star, color):
    """Dashed up to ``l*``, solid from ``l*`` on, dot at ``l*`` (if reached)."""
    L = len(x) - 1
    k = int(min(l_star, L))
    if k > 0:
        ax.plot(x[:k + 1], y[:k + 1], ls="--", color=color, lw=1.0)
    if l_star <= L:
        ax.plot(x[k:], y[k:], ls="-", color=color)
        ax.plot([x[k]], [y[k]], "o", color=color, ms=4, zorder=5)


def make(out_dir, quick: bool = True, device=None) -> list[Path]:
    """Render the figure into ``out_dir`` (PNG, PDF, CSV); the solve is instant, so ``quick`` changes nothing.

    Args:
        out_dir: output folder.
        quick: accepted for the common interface (the full sweep costs < 1 s).
        device: unused (theory only).

    Returns:
        The written paths.
    """
    plt = setup()
    import matplotlib as mpl

    res = compute()
    alphas, derf, preln = res["alphas"], res["derf"], res["preln"]
    layers = np.arange(preln.depth + 1)
    cmap = plt.get_cmap("viridis")
    norm = mpl.colors.Normalize(vmin=alphas.min(), vmax=alphas.max())
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.0), constrained_layout=True)
    for i, a in enumerate(alphas):
        c = cmap(norm(a))
        _split_plot(axes[0], layers, derf.q[:, i], res["l_star"][i], c)
        _split_plot(axes[1], layers, np.exp(derf.log_apjn_back[:, i]), res["l_star"][i], c)
    axes[0].plot(layers, preln.q, color="k", label="Pre-LN")
    axes[1].plot(layers, np.exp(preln.log_apjn_back), color="k", label="Pre-LN")
    axes[0].plot([], [], "k--", lw=1.0, label=r"Derf, $l<l^*$")
    axes[0].plot([], [], "k-", lw=1.0, label=r"Derf, $l\geq l^*$")
    axes[0].plot([], [], "ko", ms=4, label=r"$l^*$: $\alpha^2 q[l^*]\geq 1$")
    axes[0].set(yscale="log", xlabel=r"layer $l$", ylabel=r"$q[l]$", title=r"second moment $q$")
    axes[1].set(yscale="log", xlabel=r"layer $l$", ylabel=r"$J(l, L)$", title=r"backward APJN $J(l, L)$")
    axes[0].legend(loc="upper left")
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=axes, label=r"Derf $\alpha$", shrink=0.9)
    fig.suptitle(rf"Toy $h' = h + W\,\mathrm{{Norm}}(h)$, $\sigma_w = {SIGMA_W}$, $L = {preln.depth}$", fontsize=9)
    data = long_rows(rows(res))
    return save(fig, out_dir, STEM, data)


def main(argv=None) -> None:
    """Command line: ``python -m figures.fig1_derf_vs_preln [--quick] [--out DIR] [--device cpu|gpu]``."""
    run_alone(make, "Figure 1: toy Derf versus Pre-LN (q and J(l, L)).", argv, quick_help="quick mode (identical for this figure)", device_help="unused (theory only)")


if __name__ == "__main__":
    main()
