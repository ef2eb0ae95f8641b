"""Figure 4: phase diagrams of ``chi*`` over ``(sigma_w, sigma_b)`` (Doshi, He, Gromov 2023).

Configuration: the toy network ``h' = mu h + W phi(Norm(h)) + b`` with
``W ~ N(0, sigma_w^2/d)``, ``b ~ N(0, sigma_b^2)``, ``phi`` in {tanh, ReLU,
erf}, ``Norm`` identity or LayerNorm, ``mu`` in {0, 0.5, 1}. Colour is
``log chi*`` (:func:`sigprop.theory.asymptotics.chi_star`: ``chi`` after 2000
iterations of the single-input recurrence from ``q[0] = 1``; blue ordered,
red chaotic). The solid black line is the ``chi* = 1`` contour of that
theory; the dashed line is the critical line derived analytically
(``u ~ N(0, 1)`` below):

* no norm, ``mu < 1``: ``q* (1 - mu^2) = sigma_w^2 E[phi(v)^2] + sigma_b^2`` and
  ``mu^2 + sigma_w^2 E[phi'(v)^2] = 1`` with ``v ~ N(0, q*)``; parametrized by
  ``q*``. ReLU: ``sigma_w^2 = 2 (1 - mu^2)`` for every ``sigma_b`` (``mu = 0``:
  ``sigma_w^2 = 2``). erf: ``E[erf'^2] = 4/(pi sqrt(1 + 4 q))``,
  ``E[erf^2] = (2/pi) asin(2q/(1 + 2q))`` (Williams 1997).
* LayerNorm, ``mu < 1``: ``q* = (sigma_w^2 E[phi(u)^2] + sigma_b^2)/(1 - mu^2)`` and
  ``chi* = mu^2 + sigma_w^2 E[phi'(u)^2]/q*``, so ``chi* = 1`` on the straight line
  ``sigma_b^2 = sigma_w^2 (E[phi'(u)^2] - E[phi(u)^2])``, the same for every
  ``mu < 1``. ReLU: ``sigma_b = 0`` (``chi* < 1`` elsewhere).
* ``mu = 1``: ``q`` grows without bound. With LayerNorm ``chi = 1 + sigma_w^2
  E[phi'(u)^2]/q -> 1^+`` everywhere (critical plane, power-law APJN); without
  a norm ReLU is chaotic (``chi* = 1 + sigma_w^2/2``) and tanh/erf tend to 1 from
  above like ``1/sqrt(q)``. No critical line is drawn.

tanh has no closed form: its one-dimensional moments are Gauss–Hermite sums
(here, independent of the package's tables).

Run alone: ``python -m figures.fig4_phase_diagram [--quick] [--out DIR]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from figures.common import long_rows, save, setup, run_alone
from sigprop.architectures import ToyResidual
from sigprop.theory.asymptotics import chi_star

STEM = "fig4_phase_diagram"
ACTIVATIONS = ("tanh", "relu", "erf")
NORMS = ("identity", "layernorm")
MUS = (0.0, 0.5, 1.0)
SW_MAX, SB_MAX = 3.0, 1.0
#: colour range of log chi* (clipped beyond, shown by the colour bar's arrows).
LOG_RANGE = 2.0
_HX, _HW = np.polynomial.hermite_e.hermegauss(160)
_HW = _HW / _HW.sum()


def grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centred ``(sigma_w, sigma_b)`` axes on ``(0, 3] x (0, 1]``.

    Cell centres keep ``sigma_b > 0``, so ``q*`` stays bounded away from 0.
    """
    return (np.arange(n) + 0.5) / n * SW_MAX, (np.arange(n) + 0.5) / n * SB_MAX


def panel(activation: str, norm: str, mu: float, n: int) -> np.ndarray:
    """``chi*`` on the ``n x n`` grid (rows ``sigma_b``, columns ``sigma_w``), one vectorized call."""
    sw, sb = grid(n)
    SW, SB = np.meshgrid(sw, sb)
    arch = ToyResidual(depth=1, normalizer=norm, activation=activation, mu=mu, eps=0.0,
                       sigma_w2=SW ** 2, sigma_b2=SB ** 2, q0=1.0, p0=0.0)
    chi, _ = chi_star(arch)
    return np.asarray(chi, dtype=float)


def moments(activation: str, q):
    """``(E[phi(v)^2], E[phi'(v)^2])`` for ``v ~ N(0, q)``: closed forms (ReLU, erf) or Gauss–Hermite (tanh)."""
    q = np.asarray(q, dtype=float)
    if activation == "relu":
        return q / 2, 0.5 + 0 * q
    if activation == "erf":
        return (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q)), (4 / np.pi) / np.sqrt(1 + 4 * q)
    if activation == "tanh":
        v = np.sqrt(q)[..., None] * _HX
        return (np.tanh(v) ** 2) @ _HW, ((1 - np.tanh(v) ** 2) ** 2) @ _HW
    raise ValueError(f"no critical line for activation {activation!r}")


def critical_line(activation: str, norm: str, mu: float, points: int = 400):
    """Analytic ``chi* = 1`` line ``(sigma_w, sigma_b)`` inside the plotted window, or ``None``.

    See the module docstring for the derivation of each case.
    """
    if mu >= 1:
        return None
    c = 1 - mu ** 2
    if norm == "layernorm":
        m2, dm = moments(activation, 1.0)
        sw = np.linspace(0, SW_MAX, points)
        sb = sw * np.sqrt(max(float(dm - m2), 0.0))
    elif activation == "relu":
        sb = np.linspace(0, SB_MAX, points)
        sw = np.full_like(sb, np.sqrt(2 * c))
    else:
        qs = np.logspace(-6, 2, points)
        m2, dm = moments(activation, qs)
        sw2 = c / dm
        sb2 = c * qs - sw2 * m2
        ok = sb2 >= 0
        sw, sb = np.sqrt(sw2[ok]), np.sqrt(sb2[ok])
    keep = (sw <= SW_MAX) & (sb <= SB_MAX)
    return sw[keep], sb[keep]


def compute(n: int, progress: bool = True) -> dict:
    """``chi*`` for every (activation, norm, mu) panel on an ``n x n`` grid."""
    out = {}
    t0 = time.perf_counter()
    for act in ACTIVATIONS:
        for norm in NORMS:
            for mu in MUS:
                out[act, norm, mu] = panel(act, norm, mu, n)
            if progress:
                print(f"  [phase-diagram] {act}, {norm}: done ({time.perf_counter() - t0:.1f} s)", flush=True)
    return out


def rows(panels: dict, n: int) -> list[dict]:
    """Long-format rows: activation, norm, mu, sigma_w, sigma_b, chi_star, log_chi_star."""
    sw, sb = grid(n)
    SW, SB = np.meshgrid(sw, sb)
    out = []
    for (act, norm, mu), chi in panels.items():
        lc = np.log(chi)
        for i, j in np.ndindex(chi.shape):
            out.append({"activation": act, "norm": norm, "mu": mu, "sigma_w": float(SW[i, j]),
                        "sigma_b": float(SB[i, j]), "chi_star": float(chi[i, j]), "log_chi_star": float(lc[i, j])})
    return out


def make(out_dir, quick: bool = True, device=None) -> list[Path]:
    """Render the ``6 x 3`` grid of phase diagrams (rows: activation x norm, columns: mu).

    Args:
        out_dir: output folder.
        quick: 24 x 24 grid (else 100 x 100).
        device: unused (theory only).

    Returns:
        The written paths (PNG, PDF, CSV).
    """
    plt = setup()
    import matplotlib as mpl

    n = 24 if quick else 100
    panels = compute(n)
    sw, sb = grid(n)
    cnorm = mpl.colors.Normalize(vmin=-LOG_RANGE, vmax=LOG_RANGE)
    fig, axes = plt.subplots(len(ACTIVATIONS) * len(NORMS), len(MUS), figsize=(6.6, 9.6),
                             sharex=True, sharey=True, constrained_layout=True)
    for r, (act, norm) in enumerate((a, m) for a in ACTIVATIONS for m in NORMS):
        for c, mu in enumerate(MUS):
            ax = axes[r, c]
            lc = np.log(panels[act, norm, mu])
            ax.pcolormesh(sw, sb, lc, cmap="RdBu_r", norm=cnorm, shading="nearest", rasterized=True)
            if lc.min() < 0 < lc.max():
                ax.contour(sw, sb, lc, levels=[0.0], colors="k", linewidths=1.0)
            line = critical_line(act, norm, mu)
            if line is not None and len(line[0]):
                ax.plot(*line, ls="--", color="gold", lw=1.4, clip_on=False)
            if mu >= 1:  # no crossing: state the range instead
                chi = panels[act, norm, mu]
                ax.text(0.04, 0.92, rf"$\chi^* \in [{chi.min():.3f}, {chi.max():.3f}]$", transform=ax.transAxes,
                        fontsize=6, va="top", bbox={"fc": "w", "ec": "none", "alpha": 0.7, "pad": 1})
            ax.grid(False)
            ax.set_xlim(0, SW_MAX)
            ax.set_ylim(0, SB_MAX)
            if r == 0:
                ax.set_title(rf"$\mu = {mu:g}$")
            if c == 0:
                ax.set_ylabel(f"{act}, {'LN' if norm == 'layernorm' else 'no norm'}\n" + r"$\sigma_b$")
            if r == axes.shape[0] - 1:
                ax.set_xlabel(r"$\sigma_w$")
    sm = mpl.cm.ScalarMappable(norm=cnorm, cmap="RdBu_r")
    fig.colorbar(sm, ax=axes, label=r"$\log \chi^*$", extend="both", shrink=0.4)
    handles = [mpl.lines.Line2D([], [], color="k", lw=1.0, label=r"$\chi^* = 1$ contour (theory)"),
               mpl.lines.Line2D([], [], color="gold", ls="--", lw=1.4, label="critical line (closed form)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2)
    fig.suptitle(rf"$h' = \mu h + W\phi(\mathrm{{Norm}}(h)) + b$, ${n}\times{n}$ grid", fontsize=9)
    return save(fig, out_dir, STEM, long_rows(rows(panels, n)))


def main(argv=None) -> None:
    """Command line: ``python -m figures.fig4_phase_diagram [--quick] [--out DIR] [--device cpu|gpu]``."""
    run_alone(make, "Figure 4: chi* phase diagrams over (sigma_w, sigma_b).", argv, quick_help="24 x 24 grid instead of 100 x 100", device_help="unused (theory only)")


if __name__ == "__main__":
    main()
