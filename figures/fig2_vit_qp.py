"""Figure 2: q, p and p/q per block of the ViT-like reference transformer, theory beside Monte-Carlo.

Configuration (docs/theory.md reference, ``preset("vit")``): Pre-norm blocks
(attention then a GELU MLP of width ``4 d``), all weight std 0.02 at
``d = 1024`` (``sigma = 0.64``, ``sigma_2 = 1.28``), ``n = 197`` tokens,
128 blocks (``L = 256`` sublayers), permutation-symmetric inputs with
``q[0] = 1``, ``p[0] = 0.4``. Normalizer LayerNorm (black) or Derf
``erf(alpha h)`` (colour). Lines: the mean-field recurrences of Cowsik et al.
2024 / Alekseev 2026 (:func:`sigprop.theory.solve`, one call for the whole
alpha sweep); markers: finite-width networks
(:func:`sigprop.montecarlo.simulate`), mean +- standard error over networks.
Quantities are plotted at block ends (sublayer ``l = 2 b``).

Sizes (also written into the CSV and the title):

* quick: 6 blocks, ``n = 8``, ``d = 64`` (4 heads), 8 networks,
  ``alpha`` in {0.1, 0.5, 2}; < 45 s on one CPU core, mostly compilation;
* full: the reference sizes for the theory; the Monte-Carlo uses
  ``d = 1024`` with ``device="gpu"`` (8 networks) and otherwise the reduced
  width ``d = 256`` (16 heads, 8 networks; the mean-field sigmas are kept,
  so the theory curves are the same). On CPU this takes several minutes
  (about 10 s per network on one core).

Run alone: ``python -m figures.fig2_vit_qp [--quick] [--out DIR] [--device cpu|gpu]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from figures.common import long_rows, save, setup, run_alone
from sigprop.architectures import preset
from sigprop.theory import solve

STEM = "fig2_vit_qp"
QUANTITIES = ("q", "p", "rho")


@dataclass(frozen=True)
class Sizes:
    """Run sizes: theory/MC depth and tokens, MC width, heads, networks; Derf alphas."""

    blocks: int
    n_tokens: int
    width: int
    heads: int
    samples: int
    alphas: tuple


QUICK = Sizes(blocks=6, n_tokens=8, width=64, heads=4, samples=8, alphas=(0.1, 0.5, 2.0))
FULL_GPU = Sizes(blocks=128, n_tokens=197, width=1024, heads=16, samples=8, alphas=(0.1, 0.2, 0.5, 1.0, 1.5, 2.0))
FULL_CPU = Sizes(blocks=128, n_tokens=197, width=256, heads=16, samples=8, alphas=FULL_GPU.alphas)


def sizes_for(quick: bool, device=None) -> Sizes:
    """The sizes of a run (see the module docstring)."""
    if quick:
        return QUICK
    return FULL_GPU if device == "gpu" else FULL_CPU


def architecture(sz: Sizes, normalizer: str = "layernorm", alpha=1.0):
    """``preset("vit")`` with the run's depth, tokens, width and heads."""
    return preset("vit", depth=2 * sz.blocks, n_tokens=sz.n_tokens, width=sz.width, heads=sz.heads,
                  normalizer=normalizer, alpha=alpha)


def theory(sz: Sizes) -> dict:
    """``{(normalizer, alpha): {"q", "p", "rho"}}`` over all sublayers; one solver call for the Derf sweep."""
    alphas = np.asarray(sz.alphas, dtype=float)
    out = {}
    ln = solve(architecture(sz))
    out["layernorm", 0.0] = {"q": ln.q, "p": ln.p, "rho": ln.rho}
    derf = solve(architecture(sz, "derf", alphas))
    for i, a in enumerate(alphas):
        out["derf", float(a)] = {"q": derf.q[:, i], "p": derf.p[:, i], "rho": derf.rho[:, i]}
    return out


def monte_carlo(sz: Sizes, device=None, seed: int = 0, progress: bool = True) -> dict:
    """``{(normalizer, alpha): {name: (mean, stderr)}}`` from ``sz.samples`` networks each.

    Only the forward pass is needed (``backward=False``, one probe); ``rho`` is
    the mean over networks of each network's ``p/q``. The Derf alphas run as one
    sweep (each network's weights, input and probe shared by the alphas, as in
    separate runs with the same seed).
    """
    from sigprop.montecarlo import simulate

    alphas = tuple(float(a) for a in sz.alphas)
    out = {}
    t0 = time.perf_counter()
    se = lambda x: np.std(x, axis=0, ddof=1) / np.sqrt(x.shape[0])  # noqa: E731
    for norm, alpha in [("layernorm", 1.0), ("derf", np.asarray(alphas))]:
        res = simulate(architecture(sz, norm, alpha), width=sz.width, samples=sz.samples, probes=1, seed=seed,
                       device=device, backward=False)
        rho = res.p / res.q
        curves = {"q": (res.mean("q"), res.stderr("q")), "p": (res.mean("p"), res.stderr("p")),
                  "rho": (rho.mean(axis=0), se(rho))}  # (L+1,) or, for the sweep, (L+1, alphas)
        keys = [(norm, 0.0)] if norm == "layernorm" else [(norm, a) for a in alphas]
        for i, key in enumerate(keys):
            out[key] = {k: tuple(np.reshape(x, (len(x), -1))[:, i] for x in pair) for k, pair in curves.items()}
        if progress:
            what = "" if norm == "layernorm" else f" at alpha = {', '.join(f'{a:g}' for a in alphas)}"
            print(f"  [vit-qp] Monte-Carlo {norm}{what}: {sz.samples} networks of width {sz.width} "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    return out


def rows(sz: Sizes, th: dict, mc: dict) -> list[dict]:
    """Long-format rows (source, normalizer, alpha, layer, block, quantity, value, stderr, run sizes)."""
    run = {"n_tokens": sz.n_tokens, "depth": 2 * sz.blocks, "mc_width": sz.width, "mc_samples": sz.samples}
    out = []
    for (norm, a), curves in th.items():
        for name in QUANTITIES:
            for l, v in enumerate(curves[name]):
                out.append({"source": "theory", "normalizer": norm, "alpha": a, "layer": l, "block": l / 2,
                            "quantity": name, "value": float(v), "stderr": 0.0, **run})
    for (norm, a), curves in mc.items():
        for name in QUANTITIES:
            mean, err = curves[name]
            for l in range(len(mean)):
                out.append({"source": "montecarlo", "normalizer": norm, "alpha": a, "layer": l, "block": l / 2,
                            "quantity": name, "value": float(mean[l]), "stderr": float(np.nan_to_num(err[l])),
                            **run})
    return out


def _minor_label(v, _pos=None) -> str:
    """Label minor log ticks whose mantissa is 2, 3 or 5."""
    if v <= 0:
        return ""
    mant = v / 10.0 ** np.floor(np.log10(v))
    return f"{v:g}" if round(mant) in (2, 3, 5) and abs(mant - round(mant)) < 1e-6 else ""


def make(out_dir, quick: bool = True, device=None) -> list[Path]:
    """Render q, p and p/q against the block index (theory lines, Monte-Carlo markers).

    Args:
        out_dir: output folder.
        quick: small CPU sizes (:data:`QUICK`) instead of the reference sizes.
        device: ``"cpu"``, ``"gpu"`` or ``None`` (JAX default) for the Monte-Carlo;
            full mode uses ``d = 1024`` only with ``"gpu"``.

    Returns:
        The written paths (PNG, PDF, CSV).
    """
    plt = setup()
    import matplotlib as mpl

    sz = sizes_for(quick, device)
    t0 = time.perf_counter()
    th = theory(sz)
    print(f"  [vit-qp] theory: {len(th)} curves ({time.perf_counter() - t0:.1f} s)", flush=True)
    mc = monte_carlo(sz, device=device)
    alphas = np.asarray(sz.alphas, dtype=float)
    cmap = plt.get_cmap("viridis")
    cnorm = mpl.colors.Normalize(vmin=min(0.1, alphas.min()), vmax=max(2.0, alphas.max()))
    fig, axes = plt.subplots(1, 3, figsize=(7.2, 2.8), constrained_layout=True)
    ends = np.arange(0, 2 * sz.blocks + 1, 2)  # sublayer index of each block end
    step = max(1, sz.blocks // 16) * 2  # at most ~16 markers per curve
    marks = np.arange(0, 2 * sz.blocks + 1, step)
    for (norm, a), curves in th.items():
        color = "k" if norm == "layernorm" else cmap(cnorm(a))
        for ax, name in zip(axes, QUANTITIES):
            ax.plot(ends / 2, curves[name][ends], color=color, lw=1.1)
            mean, err = mc[norm, a][name]
            ax.errorbar(marks / 2, mean[marks], yerr=np.nan_to_num(err[marks]), fmt="o", ms=2.5, color=color,
                        mfc="none", mew=0.8, elinewidth=0.8, capsize=1.5)
    axes[0].set(yscale="log", ylabel=r"$q$", title=r"$q = E[h_a \cdot h_a]/d$")
    axes[1].set(yscale="log", ylabel=r"$p$", title=r"$p = E[h_a \cdot h_b]/d$")
    axes[2].set(ylim=(0, 1), ylabel=r"$p/q$", title=r"cosine similarity $p/q$")
    for ax in axes:
        ax.set_xlabel(r"block $l/2$")
    for ax in axes[:2]:  # plain numbers on the log axes; minor labels at 2, 3, 5 x 10^k
        ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(mpl.ticker.FuncFormatter(_minor_label))
    axes[0].plot([], [], "k-", label="theory")
    axes[0].plot([], [], "ko", mfc="none", ms=3, label="Monte-Carlo")
    axes[0].plot([], [], color="k", lw=1.1, label="Pre-LN (black)")
    axes[0].legend(loc="upper left")
    fig.colorbar(mpl.cm.ScalarMappable(norm=cnorm, cmap=cmap), ax=axes, label=r"Derf $\alpha$", shrink=0.9)
    mode = "quick" if quick else "full"
    fig.suptitle(f"ViT-like, {mode}: {sz.blocks} blocks, n = {sz.n_tokens}; Monte-Carlo d = {sz.width}, "
                 f"{sz.samples} networks", fontsize=9)
    return save(fig, out_dir, STEM, long_rows(rows(sz, th, mc)))


def main(argv=None) -> None:
    """Command line: ``python -m figures.fig2_vit_qp [--quick] [--out DIR] [--device cpu|gpu]``."""
    run_alone(make, "Figure 2: ViT-like q, p, p/q, theory vs Monte-Carlo.", argv, quick_help="small CPU sizes (6 blocks, n = 8, d = 64)", device_help="Monte-Carlo device")


if __name__ == "__main__":
    main()
