"""Figure 6: the seed documents' own worked examples, and seed 003's training experiment.

Panels:

(a) the multiplicative chains of seed 001 (x1.8 explode, x0.2 collapse,
    x-1.2 oscillate; scalar and vector versions are in the CSV);
(b) seed 000's ``gamma^L`` illustration (gamma = 0.9, 1.1 over 100 layers);
(c)-(f) seed 003's "distant identity" experiment (PlainMLP ``h' = ReLU(W h)``
    vs ResMLP ``h' = h + ReLU(W h)``, width 64, 20 layers, ``sigma_w^2 = 0.1``,
    Adam 1e-3, 500 steps, batch 64, ``Y = X``; see
    :mod:`sigprop.montecarlo.training`): (c) forward signal ``q[l]`` per layer,
    (d) gradient amplification ``|dLoss/dh^l|^2 / |dLoss/dh^L|^2`` per layer,
    (e) weight-gradient norm ``||dLoss/dW_l||_F`` per layer, (f) loss curves.

The mean-field prediction is overlaid in (c) and (d): ``q[l]`` from
:func:`sigprop.theory.solve` of the same declaration with the seed's input
moments (``q0 = E[x^2] = 1/3``, ``p0 = 0``), and the APJN ``J(l, L)``
(Doshi et al. 2023), which predicts the gradient amplification up to the
alignment of the gradient with the Jacobian. For the residual network the
solver carries the non-zero unit mean of ``ReLU(W h)`` (the skip path and the
branch are correlated through it; see :class:`sigprop.blocks.dense.PlainDense`).

Run alone: ``python -m figures.fig6_seed_examples [--quick] [--out DIR] [--device cpu|gpu]``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# (name, factor, scalar x0, vector x0) exactly as stated in seed 001.
CHAINS = (
    ("explode", 1.8, (1.0,), (1.0, 2.0)),
    ("collapse", 0.2, (10.0,), (3.0, 4.0)),
    ("oscillate", -1.2, (5.0,), (2.0, -1.0)),
)
#: seed 003's networks: label -> preset name (the preset is the seed's declaration).
NETWORKS = (("PlainMLP", "plain"), ("ResMLP", "resmlp"))
#: E[x^2] of the seed's inputs x ~ U(-1, 1) (its plain network's loss 0.333).
Q0 = 1.0 / 3.0
COLORS = {"PlainMLP": "C2", "ResMLP": "C1"}


def chain(factor: float, x0, n_layers: int = 6) -> np.ndarray:
    """Return x_l = factor**l * x0 for l = 0..n_layers, shape (n_layers+1, dim)."""
    x0 = np.asarray(x0, dtype=float)
    powers = factor ** np.arange(n_layers + 1, dtype=float)
    return powers[:, None] * x0[None, :]


def gamma_power(gamma: float, depth: int = 100) -> float:
    """Seed 000: signal after ``depth`` layers with per-layer factor ``gamma``."""
    return float(gamma) ** depth


def table_rows(n_layers: int = 6) -> list[dict]:
    """Rows (case, kind, layer, value, norm) for all seed-001 chains."""
    rows = []
    for name, factor, xs, xv in CHAINS:
        for kind, x0 in (("scalar", xs), ("vector", xv)):
            xl = chain(factor, x0, n_layers)
            for layer, x in enumerate(xl):
                rows.append({"case": name, "kind": kind, "layer": layer,
                             "value": " ".join(f"{v:.6g}" for v in x),
                             "norm": float(np.linalg.norm(x))})
    return rows


def experiment_settings(quick: bool) -> dict:
    """Keyword arguments of :func:`sigprop.montecarlo.training.train` (the seed's setup in both modes).

    Quick mode keeps all 500 steps and batch 64 and runs fewer network seeds
    and a smaller evaluation set.
    """
    if quick:
        return {"steps": 500, "batch": 64, "lr": 1e-3, "seeds": tuple(range(4)), "eval_size": 1024}
    return {"steps": 500, "batch": 64, "lr": 1e-3, "seeds": tuple(range(16)), "eval_size": 4096}


def run_experiment(quick: bool = True, device=None) -> dict:
    """Train both seed-003 networks; returns label -> (declaration, TrainResult)."""
    import jax

    from sigprop import preset
    from sigprop.montecarlo.training import train

    settings = experiment_settings(quick)
    out = {}
    ctx = jax.default_device(jax.devices(device)[0]) if device else _null()
    with ctx:
        for label, name in NETWORKS:
            arch = preset(name)
            out[label] = (arch, train(arch, **settings))
    return out


def geo_mean(a, axis: int = 0) -> np.ndarray:
    """Geometric mean over seeds; 0 where any seed is exactly 0 (dead ReLUs give exactly zero gradients)."""
    a = np.asarray(a, float)
    with np.errstate(divide="ignore"):
        g = np.exp(np.mean(np.log(np.where(a > 0, a, 1.0)), axis=axis))
    return np.where(np.all(a > 0, axis=axis), g, 0.0)


def _pos(y):
    """Zeros masked for log axes."""
    y = np.asarray(y, float)
    return np.where(y > 0, y, np.nan)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def theory_curves(arch) -> dict:
    """Mean-field ``q[l]`` and ``log J(l, L)`` of ``arch`` at the seed's input moments."""
    from sigprop.theory import solve

    traj = solve(arch.replace(q0=Q0, p0=0.0))
    return {"q": traj.q, "log_apjn_back": traj.log_apjn_back}


def loss_table(results: dict) -> list[dict]:
    """One row per network: measured initial/final loss (mean, std over seeds) beside the seed's numbers."""
    from sigprop.montecarlo.training import SEED_REPORT

    rows = []
    for label, name in NETWORKS:
        _, res = results[label]
        ini, fin, red = res.initial_loss, res.final_loss, res.reduction
        s_ini, s_fin = SEED_REPORT[name]
        sd = (lambda a: float(np.std(a, ddof=1)) if a.size > 1 else float("nan"))  # noqa: E731
        rows.append({"network": label, "steps": res.meta["steps"], "seeds": len(res.meta["seeds"]),
                     "initial_loss": float(np.mean(ini)), "initial_loss_std": sd(ini),
                     "final_loss": float(np.mean(fin)), "final_loss_std": sd(fin),
                     "reduction_pct": 100.0 * float(np.mean(red)),
                     "seed_initial_loss": s_ini, "seed_final_loss": s_fin,
                     "seed_reduction_pct": round(100.0 * (1.0 - s_fin / s_ini), 1)})
    return rows


def table_markdown(rows: list[dict]) -> str:
    """The loss table as Markdown (mean +- std over network seeds)."""
    lines = ["| network | steps | seeds | initial loss | final loss | reduction | seed: initial | seed: final "
             "| seed: reduction |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['steps']} | {r['seeds']} | {r['initial_loss']:.4g} ± "
                     f"{r['initial_loss_std']:.2g} | {r['final_loss']:.4g} ± {r['final_loss_std']:.2g} | "
                     f"{round(r['reduction_pct'], 1) + 0.0:.1f}% | {r['seed_initial_loss']} | {r['seed_final_loss']} | "
                     f"{r['seed_reduction_pct']}% |")
    return "\n".join(lines) + "\n"


def _rows(results: dict, theory: dict) -> list[dict]:
    rows = []

    def add(panel, series, x, y):
        rows.extend({"panel": panel, "series": series, "x": float(a), "y": float(b)} for a, b in zip(x, y))

    for name, factor, xs, _ in CHAINS:
        xl = chain(factor, xs)[:, 0]
        add("a", f"x{factor}", np.arange(len(xl)), xl)
    layers = np.arange(101)
    for g in (0.9, 1.1):
        add("b", f"gamma={g}", layers, float(g) ** layers)
    for label, _ in NETWORKS:
        _, res = results[label]
        L = res.meta["depth"]
        ls = np.arange(L + 1)
        for i, when in enumerate(("init", "trained")):
            add("c", f"{label} q {when}", ls, res.q[:, i].mean(axis=0))
            gh = res.grad_h[:, i]
            add("d", f"{label} grad ratio {when}", ls, geo_mean(gh / gh[:, -1:]))
            add("e", f"{label} |dL/dW| {when}", ls[1:], geo_mean(res.grad_w[:, i]))
        add("c", f"{label} q theory", ls, theory[label]["q"])
        add("d", f"{label} J(l,L) theory", ls, np.exp(theory[label]["log_apjn_back"]))
        add("f", f"{label} loss", np.arange(res.loss.shape[1]), res.loss.mean(axis=0))
    return rows


def _plot(plt, results: dict, theory: dict):
    from sigprop.montecarlo.training import SEED_REPORT

    fig, axes = plt.subplots(2, 3, figsize=(7.0, 4.6))
    ax = axes[0, 0]
    for name, factor, xs, _ in CHAINS:
        xl = chain(factor, xs)[:, 0]
        ax.plot(np.arange(len(xl)), xl, "o-", label=f"x{factor}")
    ax.set(xlabel="layer", ylabel="x", title="(a) seed 001 chains")
    ax.legend()
    ax = axes[0, 1]
    layers = np.arange(101)
    for g in (0.9, 1.1):
        ax.semilogy(layers, float(g) ** layers, label=f"$\\gamma$={g}")
    ax.set(xlabel="layer", ylabel="$\\gamma^l$", title="(b) seed 000: $\\gamma^L$")
    ax.legend()
    for label, name in NETWORKS:
        arch, res = results[label]
        c = COLORS[label]
        ls = np.arange(res.meta["depth"] + 1)
        th = theory[label]
        ax = axes[0, 2]
        q = res.q[:, 0]
        ax.semilogy(ls, q.mean(axis=0), "o", color=c, ms=3, label=f"{label} init")
        ax.semilogy(ls, res.q[:, 1].mean(axis=0), "x", color=c, ms=3, label=f"{label} trained")
        ax.semilogy(ls, th["q"], "-", color=c, lw=1, label=f"{label} mean field")
        ax = axes[1, 0]
        gh = res.grad_h[:, 0]
        ax.semilogy(ls, _pos(geo_mean(gh / gh[:, -1:])), "o", color=c, ms=3, label=f"{label} measured")
        ax.semilogy(ls, np.exp(th["log_apjn_back"]), "-", color=c, lw=1, label=f"{label} APJN $J(l,L)$")
        ax = axes[1, 1]
        for i, (mk, when) in enumerate((("o", "init"), ("x", "trained"))):
            ax.semilogy(ls[1:], _pos(geo_mean(res.grad_w[:, i])), mk, color=c, ms=3,
                        label=f"{label} {when}")
        ax = axes[1, 2]
        steps = np.arange(res.loss.shape[1])
        ax.semilogy(steps, res.loss.mean(axis=0), "-", color=c, label=f"{label} (mean of {res.loss.shape[0]})")
        s_ini, s_fin = SEED_REPORT[name]
        ax.semilogy([0, steps[-1]], [s_ini, s_fin], "s", color=c, mfc="none", ms=5, label=f"{label} seed 003")
    axes[0, 2].set(xlabel="layer $l$", ylabel="$q[l]$", title="(c) forward signal")
    axes[1, 0].set(xlabel="layer $l$", ylabel="$|\\partial L/\\partial h^l|^2 / |\\partial L/\\partial h^L|^2$",
                   title="(d) gradient amplification at init")
    axes[1, 1].set(xlabel="layer $l$", ylabel="$\\|\\partial L/\\partial W_l\\|_F$",
                   title="(e) weight gradients (0 not drawn)")
    axes[1, 2].set(xlabel="Adam step", ylabel="loss (MSE)", title="(f) training on $Y = X$")
    for ax in (axes[0, 2], axes[1, 0], axes[1, 1], axes[1, 2]):
        ax.legend(fontsize=5.5)
    fig.tight_layout()
    return fig


def make(out_dir, quick: bool = True, device=None) -> list[Path]:
    """Write figure 6 (PNG, PDF, long-format CSV), the chain CSV and the loss table (CSV + Markdown).

    Prints the loss table beside seed 003's numbers.
    """
    from sigprop.io import write_csv

    from .common import long_rows, save, setup

    plt = setup()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chains = table_rows()
    paths = [write_csv(out / "fig6_chains.csv", long_rows(chains))]
    results = run_experiment(quick, device)
    theory = {label: theory_curves(arch) for label, (arch, _) in results.items()}
    fig = _plot(plt, results, theory)
    paths += save(fig, out, "fig6_seed_examples", long_rows(_rows(results, theory)))
    table = loss_table(results)
    md = table_markdown(table)
    print(md, end="")
    paths.append(write_csv(out / "fig6_training_table.csv", long_rows(table)))
    md_path = out / "fig6_training_table.md"
    note = ("Seed 003 \"distant identity\": mean ± std over network seeds of the loss on a fixed evaluation "
            f"set; {'quick' if quick else 'full'} mode (all 500 steps in both modes).\n\n")
    md_path.write_text(note + md)
    paths.append(md_path)
    return paths


def main(argv=None) -> None:
    """Command line: ``python -m figures.fig6_seed_examples [--quick] [--out DIR] [--device cpu|gpu]``."""
    from figures.common import run_alone

    run_alone(make, __doc__.splitlines()[0], argv, quick_help="laptop sizes")


if __name__ == "__main__":
    main()
