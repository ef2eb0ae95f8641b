"""Theory vs Monte-Carlo per layer: the figure written by ``sigprop validate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PANELS = (("q", "q[l]"), ("p", "p[l]"), ("log_apjn", "log J(0, l)"), ("log_apjn_back", "log J(l, L)"))


def plot_validation(report: dict, path) -> Path:
    """Four panels (q, p, log J(0,l), log J(l,L)): theory line, Monte-Carlo means with 2-stderr bars.

    Args:
        report: :func:`sigprop.validation.compare` output.
        path: PNG file to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    d = report["width"]
    for ax, (name, label) in zip(axes, PANELS):
        e = report.get(name)
        ax.set_title(label)
        ax.set_xlabel("layer l")
        if e is None:
            ax.set_axis_off()
            continue
        th = np.asarray(e["theory"], float)
        layers = np.arange(len(th))
        ax.plot(layers, th, "k-", lw=1.2, label="theory (d = inf)")
        ax.errorbar(layers, e["mean"], yerr=2 * np.nan_to_num(e["stderr"]), fmt="o", ms=2.5, capsize=1.5,
                    label=f"Monte-Carlo d = {d}")
        if "mean_2d" in e:
            ax.errorbar(layers + 0.2, e["mean_2d"], yerr=2 * np.nan_to_num(e["stderr_2d"]), fmt="s", ms=2.5,
                        capsize=1.5, label=f"Monte-Carlo d = {2 * d}")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{report['arch'].get('arch')} / {report['arch'].get('normalizer')}: "
                 f"{'agreement' if report['ok'] else 'disagreement'} (max |z| = {report['max_abs_z']:.2f})",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
