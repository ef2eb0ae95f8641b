"""Figure 3: the backward APJN ``J(l, L)`` and the gradient amplification it predicts.

Panel (a): ``log J(l, L)`` against the layer ``l`` -- mean-field theory
(``Trajectory.log_apjn_back``, the product of the per-sublayer factors
``chi`` from ``l`` to ``L``; Doshi et al. 2023, arXiv 2111.12143) as lines,
finite-width Monte-Carlo (``MCResult.log_apjn_back``, Hutchinson estimate of
``||dh^L/dh^l||_F^2/(n d)``) as markers with standard errors over networks.
Three architectures, one per asymptotic behaviour of docs/theory.md:

* Pre-LN toy ``h' = h + W LN(h)``: ``J ~ l^zeta`` (power law, critical);
* Derf toy ``h' = h + W erf(alpha h)``: ``J ~ exp(sqrt(l/lambda))``
  (stretched exponential, subcritical; Alekseev 2026, arXiv 2604.11890);
* Pre-LN transformer (attention then MLP): a power law whose exponent the
  attention sublayers lower (Cowsik et al. 2024, arXiv 2403.02579).

The legend names the growth law :func:`sigprop.fitting.fit_growth` selects for
the theory ``J(0, l)`` of each architecture continued to ``fit_depth``
sublayers (512 quick, 4096 full) (the figure's own depth is too short to tell the laws apart).

Panel (b): the gradient amplification ``|dLoss/dh^l|^2 / |dLoss/dh^L|^2``
measured in the same networks for ``Loss = 0.5 ||h^L - y||^2`` with a random
target ``y`` (``MCResult.log_grad``, markers) beside the theory ``J(l, L)``.
Panel (c): the paired difference ``log grad - log J(l, L)`` per network, which
is zero when the loss gradient is aligned like a random cotangent.

Run alone: ``python -m figures.fig3_apjn [--quick] [--out DIR] [--device cpu|gpu]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

STEM = "fig3_apjn"
#: (width, depth, networks, probes) of the Monte-Carlo ensembles and the depth
#: (sublayers) of the theory continuation used only to classify the growth law.
QUICK = dict(width=128, depth=32, samples=32, probes=4, fit_depth=512)
FULL = dict(width=512, depth=128, samples=64, probes=8, fit_depth=4096)
#: markers per curve (the CSV keeps every layer).
MARKERS = 9


def architectures(depth: int) -> dict:
    """The three declarations of the figure, keyed by their legend label.

    The toy models use docs/theory.md's reference ``sigma_w = 0.46``, ``q0 = 1``;
    Derf uses ``alpha = 1``, so ``alpha^2 q >= 1`` from the input on: the whole
    plotted range is past its transition (the saturated, stretched-exponential
    regime). The transformer is the ``transformer`` preset (all ``sigma = 1``)
    with four tokens.
    """
    from sigprop.architectures import ToyResidual, preset

    toy = dict(depth=depth, sigma_w2=0.46 ** 2, n_tokens=2, q0=1.0, p0=0.5)
    return {
        "Pre-LN toy": ToyResidual(normalizer="layernorm", **toy),
        "Derf toy (alpha=1)": ToyResidual(normalizer="derf", alpha=1.0, **toy),
        "Pre-LN transformer": preset("transformer", depth=depth, n_tokens=4),
    }


def law_label(fit) -> str:
    """Short legend text for a :class:`~sigprop.fitting.FitResult`."""
    p = fit.params
    if fit.model == "power":
        return f"power, zeta={p['zeta']:.2f}"
    if fit.model == "stretched_exp" and "lam" in p:
        return f"stretched exp, lambda={p['lam']:.3g}"
    if fit.model == "exp":
        return f"exp, xi={p['xi']:.3g}"
    if fit.model in ("log", "bounded"):
        return f"{fit.model}, c={p['c']:.3g}"
    return fit.model


def compute(quick: bool = True, device=None) -> dict:
    """Theory, Monte-Carlo and growth-law fit for every architecture.

    Returns:
        ``label -> {"arch", "theory" (Trajectory), "mc" (MCResult), "fit" (FitResult)}``
        plus ``"_settings"`` (the ensemble sizes).
    """
    from sigprop.fitting import fit_growth
    from sigprop.montecarlo import simulate
    from sigprop.theory import solve

    cfg = QUICK if quick else FULL
    out = {"_settings": dict(cfg)}
    for label, arch in architectures(cfg["depth"]).items():
        t0 = time.perf_counter()
        theory = solve(arch)
        long = solve(arch, depth=cfg["fit_depth"])
        layers = np.arange(1, cfg["fit_depth"] + 1)
        fit = fit_growth(layers, np.exp(long.log_apjn[1:]))
        mc = simulate(arch, width=cfg["width"], samples=cfg["samples"], probes=cfg["probes"], seed=3,
                      device=device)
        print(f"[fig3] {label}: {fit.model} law; Monte-Carlo d={cfg['width']}, L={cfg['depth']}, "
              f"{cfg['samples']} networks ({time.perf_counter() - t0:.1f} s)", flush=True)
        out[label] = {"arch": arch, "theory": theory, "mc": mc, "fit": fit}
    return out


def marker_layers(depth: int, count: int = MARKERS) -> np.ndarray:
    """Layers that get a Monte-Carlo marker: ``count`` points from 0 to ``L - 1``."""
    return np.unique(np.round(np.linspace(0, depth - 1, count)).astype(int))


def _declaration(arch) -> dict:
    """The hyperparameters a row needs to stand alone (``nan`` where a field does not apply)."""
    nan = float("nan")
    return {"normalizer": arch.normalizer, "alpha": float(arch.alpha) if arch.normalizer == "derf" else nan,
            "sigma_w2": float(getattr(arch, "sigma_w2", nan)), "n_tokens": arch.n_tokens,
            "q0": float(arch.q0), "p0": float(arch.p0)}


def table(results: dict) -> dict[str, list]:
    """Long-format columns: one row per (architecture, layer ``l``)."""
    from figures.common import long_rows

    rows = []
    for label, r in results.items():
        if label.startswith("_"):
            continue
        mc, th = r["mc"], r["theory"]
        diff = mc.log_grad - mc.log_apjn_back
        dm = np.mean(diff, axis=0)
        ds = np.std(diff, axis=0, ddof=1) / np.sqrt(diff.shape[0])
        L = th.depth
        marks = set(marker_layers(L).tolist())
        for l in range(L + 1):
            rows.append({
                "architecture": label, "layer": l, "depth": L, "width": mc.meta["width"],
                "networks": mc.meta["samples"], "probes": mc.meta["probes"], "marker": int(l in marks),
                **_declaration(r["arch"]),
                "theory_log_apjn_back": float(th.log_apjn_back[l]),
                "mc_log_apjn_back_mean": float(mc.mean("log_apjn_back")[l]),
                "mc_log_apjn_back_stderr": float(mc.stderr("log_apjn_back")[l]),
                "mc_log_grad_mean": float(mc.mean("log_grad")[l]),
                "mc_log_grad_stderr": float(mc.stderr("log_grad")[l]),
                "mc_log_grad_minus_log_apjn_back_mean": float(dm[l]),
                "mc_log_grad_minus_log_apjn_back_stderr": float(ds[l]),
                "theory_law": r["fit"].model, "theory_law_params": law_label(r["fit"]),
            })
    return long_rows(rows)


def plot(results: dict):
    """Three panels: APJN, gradient amplification, their paired difference."""
    from figures.common import setup

    plt = setup()
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.3))
    for i, (label, r) in enumerate((k, v) for k, v in results.items() if not k.startswith("_")):
        color = f"C{i + 1}"
        th, mc = r["theory"], r["mc"]
        l_all = np.arange(th.depth + 1)
        ls = marker_layers(th.depth)
        diff = mc.log_grad - mc.log_apjn_back
        for ax in axes[:2]:
            ax.plot(l_all, th.log_apjn_back, "-", color=color,
                    label=f"{label}: {law_label(r['fit'])}" if ax is axes[0] else f"{label} (theory J)")
        axes[0].errorbar(ls, mc.mean("log_apjn_back")[ls], mc.stderr("log_apjn_back")[ls], fmt="o",
                         color=color, mfc="white", capsize=2)
        axes[1].errorbar(ls, mc.mean("log_grad")[ls], mc.stderr("log_grad")[ls], fmt="s", color=color,
                         mfc="white", capsize=2)
        axes[2].errorbar(ls, np.mean(diff, axis=0)[ls], np.std(diff, axis=0, ddof=1)[ls] / np.sqrt(diff.shape[0]),
                         fmt="D", color=color, capsize=2, label=label)
    s = results["_settings"]
    fig.suptitle(f"lines: theory; markers: Monte-Carlo (d = {s['width']}, {s['samples']} networks, "
                 "mean +- standard error)")
    axes[0].set_title("(a) APJN J(l, L)")
    axes[0].set_ylabel("log J(l, L)")
    axes[1].set_title("(b) gradient amplification vs J(l, L)")
    axes[1].set_ylabel("log |dLoss/dh^l|^2 / |dLoss/dh^L|^2")
    axes[2].set_title("(c) log gradient amplification - log J(l, L)")
    axes[2].set_ylabel("paired difference per network")
    axes[2].axhline(0.0, color="0.5", lw=0.8)
    for ax in axes:
        ax.set_xlabel("layer l")
        ax.legend(loc="best")
    fig.tight_layout()
    return fig


def make(out_dir, quick: bool = True, device=None) -> list[Path]:
    """Compute, plot and save figure 3 (PNG, PDF, CSV); returns the paths."""
    from figures.common import render

    return render("fig3", STEM, compute, plot, table, out_dir, quick, device)


def main(argv=None) -> None:
    """Command line: ``python -m figures.fig3_apjn [--quick] [--out DIR] [--device cpu|gpu]``."""
    from figures.common import run_alone

    run_alone(make, "Figure 3: APJN J(l, L) and gradient amplification.", argv, quick_help="small ensembles (seconds on one CPU core)")


if __name__ == "__main__":
    main()
