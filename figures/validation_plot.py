"""Theory vs Monte-Carlo per layer: the figure written by ``sigprop validate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PANELS = (("q", "q[l]"), ("p", "p[l]"), ("log_apjn", "log J(0, l)"), ("log_apjn_back", "log J(l, L)"))


def _bar(se):
    """Two standard errors; none where the error is not finite (an overflowed layer)."""
    se = np.asarray(se, float)
    return 2 * np.where(np.isfinite(se), se, 0.0)


def plot_validation(report: dict, path) -> Path:
    """Four panels (q, p, log J(0,l), log J(l,L)): theory line, Monte-Carlo means with 2-stderr bars
    (one colour per grid point for a sweep).

    Args:
        report: :func:`sigprop.validation.compare` output.
        path: PNG file to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    d = report["width"]
    sweep = bool(report.get("grid_shape"))
    labels = report["point_labels"] if sweep else []
    colors = [plt.cm.viridis(i / max(1, len(labels) - 1)) for i in range(len(labels))]
    for ax, (name, label) in zip(axes, PANELS):
        e = report.get(name)
        ax.set_title(label)
        ax.set_xlabel("layer l")
        if e is None:
            ax.set_axis_off()
            continue
        th = np.asarray(e["theory"], float)
        layers = np.arange(len(th))
        cols = lambda key: np.asarray(e[key], float).reshape(len(th), -1).T  # noqa: E731  (one per grid point)
        for i, (t, m, se) in enumerate(zip(cols("theory"), cols("mean"), cols("stderr"))):
            ax.plot(layers, t, "-", color=colors[i] if sweep else "k", lw=1.2,
                    label=labels[i] if sweep else "theory (d = inf)")
            ax.errorbar(layers, m, yerr=_bar(se), fmt="o", ms=2.5, capsize=1.5,
                        color=colors[i] if sweep else None, label=None if sweep else f"Monte-Carlo d = {d}")
        if "mean_2d" in e:
            for i, (m, se) in enumerate(zip(cols("mean_2d"), cols("stderr_2d"))):
                ax.errorbar(layers + 0.2, m, yerr=_bar(se), fmt="s", ms=2.5, capsize=1.5,
                            color=colors[i] if sweep else None, mfc="none" if sweep else None,
                            label=f"Monte-Carlo d = {2 * d}" if not sweep else None)
    axes[0].legend(fontsize=7, title=("lines: theory; o: d = %d%s" % (d, ", s: 2d" if "mean_2d" in report["q"]
                                                                      else "")) if sweep else None,
                   title_fontsize=7)
    fig.suptitle(f"{report['arch'].get('arch')} / {report['arch'].get('normalizer')}: "
                 f"{report['verdict']} "
                 f"(max |z| = {report['max_abs_z']:.2f})",
                 fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
