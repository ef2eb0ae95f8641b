"""Figure 7: the growth laws of every architecture of figures 1-6, fitted and derived.

For each architecture and each quantity (``q[l]`` and the APJN ``J(0, l)``)
the table lists

* the law fitted by :func:`sigprop.fitting.fit_growth` (model, regime, key
  parameter with its 95% interval) to the mean-field solver output at large
  depth (``theory``);
* the same fit to a finite-width Monte-Carlo ensemble
  (:func:`sigprop.montecarlo.simulate`, bootstrap over networks) at moderate
  depth (``mc``); its window and regime may differ from the asymptotic ones
  when the depth is pre-asymptotic (e.g. Derf below its transition depth);
* the derived prediction where one exists: ``zeta`` of ``J ~ l^zeta``
  (:func:`~sigprop.theory.asymptotics.predict_zeta`, Doshi et al. 2023),
  ``lam`` of ``J ~ exp(sqrt(l/lam))`` (:func:`~sigprop.theory.asymptotics.predict_lambda`,
  Alekseev 2026), ``zeta = 1`` for ``q ~ c_q l`` (bounded normalized branch
  input, docs/theory.md), and ``xi = 1/log(sigma_w^2/2)`` of ``exp(l/xi)`` for the
  plain ReLU network (:func:`~sigprop.theory.asymptotics.correlation_length`).

The networks with ``init="scaled"`` change with their depth ``L``: for them the
fitted profile is the output ``q[L]``, ``J(0, L)`` over networks of depth
``L`` (as in figure 5), not the profile inside one network.

The plot is a forest plot of fitted/derived for the rows that have a
derived value. Writes ``fig7_exponent_table.{png,pdf,csv,md}``.

Run alone: ``python -m figures.fig7_exponent_table [--quick] [--out DIR] [--device cpu|gpu]``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STEM = "fig7_exponent_table"
QUANTITIES = ("q", "apjn")
#: fitted model -> the parameter reported as its exponent.
KEY_PARAM = {"power": "zeta", "stretched_exp": "lam", "exp": "xi", "log": "c", "bounded": "a"}
#: Monte-Carlo ensembles (width d, networks, Hutchinson probes, sublayers).
QUICK_MC = dict(width=128, samples=8, probes=2, depth=64)
FULL_MC = dict(width=256, samples=32, probes=4, depth=64)
COLUMNS = ("architecture", "quantity", "source", "model", "regime", "param", "value", "lo", "hi",
           "window_lo", "window_hi", "depth", "derived_param", "derived_value", "derived_formula", "note")


@dataclass(frozen=True, eq=False)
class Entry:
    """One row group of the table.

    Attributes:
        name: label.
        arch: the declaration (its ``depth`` is replaced by the theory / Monte-Carlo depths).
        theory_depth: ``(quick, full)`` solver depth.
        mc_quick: run the Monte-Carlo in quick mode too (otherwise full mode only: each
            distinct network structure costs a few seconds of compilation, and quick
            mode must stay within about a minute on one core).
        across_depths: fit ``q[L]``, ``J(0, L)`` over networks of depth ``L`` (``init="scaled"``).
        dtype: Monte-Carlo dtype (float64 where ``q`` leaves the float32 range).
    """

    name: str
    arch: object
    theory_depth: tuple = (4096, 4096)
    mc_quick: bool = True
    across_depths: bool = False
    dtype: str = "float32"

    @property
    def need_p(self) -> bool:
        return "attention" in getattr(self.arch, "pattern", ())


def entries() -> list[Entry]:
    """Every architecture used in figures 1-6 (docs/theory.md reference settings)."""
    from sigprop.architectures import ToyResidual, preset

    toy = dict(sigma_w2=0.46 ** 2, q0=1.0, p0=0.5, n_tokens=2)
    mlp = preset("mlp", n_tokens=2)
    return [
        Entry("toy Pre-LN", ToyResidual(normalizer="layernorm", **toy)),
        Entry("toy Derf (alpha=0.5)", ToyResidual(normalizer="derf", alpha=0.5, **toy)),
        Entry("toy DyT (alpha=0.5)", ToyResidual(normalizer="dyt", alpha=0.5, **toy)),
        Entry("Pre-LN MLP stack", mlp),
        Entry("transformer Pre-LN", preset("transformer"), theory_depth=(512, 4096)),
        Entry("ViT Pre-LN", preset("vit"), theory_depth=(512, 2048), mc_quick=False),
        Entry("ViT Derf (alpha=0.5)", preset("vit", normalizer="derf", alpha=0.5), theory_depth=(512, 2048),
              mc_quick=False),
        Entry("MLP stack LNS", mlp.replace(normalizer="lns")),
        Entry("MLP stack scaled init", mlp.replace(init="scaled"), across_depths=True, mc_quick=False),
        Entry("MLP stack depth-scaled init", mlp.replace(init="depth_scaled")),
        # float64: q = 0.05^l leaves the float32 range after ~29 layers; both share one compiled network
        Entry("plain ReLU (sigma_w^2=0.1)", preset("plain"), theory_depth=(200, 200), dtype="float64"),
        Entry("plain ReLU (sigma_w^2=2)", preset("plain", sigma_w2=2.0), theory_depth=(200, 200), dtype="float64"),
    ]


def derived(arch, quantity: str):
    """``(param, value, formula)`` of the derived asymptotic law, or ``None`` where none applies."""
    from sigprop.architectures import PlainMLP
    from sigprop.theory import asymptotics as A

    if isinstance(arch, PlainMLP):
        if arch.residual or arch.activation != "relu" or float(arch.sigma_b2) != 0:
            return None
        with np.errstate(divide="ignore"):
            xi = float(np.asarray(A.correlation_length(arch)))
        # q and J both scale by sigma_w^2/2 per layer (docs/theory.md, plain ReLU MLP); at sigma_w^2 = 2
        # q stays q0 and J stays 1
        if math.isfinite(xi):
            return "xi", xi, "1/log(sigma_w^2/2)"
        return "a", float(arch.q0) if quantity == "q" else 1.0, "sigma_w^2 = 2: constant"
    if arch.init != "standard" or arch.normalizer == "lns":
        return None
    if quantity == "q":
        return "zeta", 1.0, "q ~ c_q l (bounded branch input)"
    if arch.normalizer in ("layernorm", "rmsnorm"):
        if arch.cross_tangents:  # two modes: the top one takes over only beyond the crossover depth
            m = A.zeta_modes(arch)
            return "zeta", m["zeta"], (f"zeta_modes: top mode; zeta_2 = {m['zeta_2']:.3g} dominates below "
                                       f"l ~ {m['crossover_depth']:.2g}")
        return "zeta", float(A.predict_zeta(arch)), "predict_zeta = c_J/c_q"
    if arch.normalizer in ("derf", "dyt"):
        return "lam", float(A.predict_lambda(arch)), "predict_lambda"
    return None


def _depth_grid(top: int, start: int = 2, points: int = 10) -> np.ndarray:
    return np.unique(np.round(np.geomspace(start, top, points)).astype(int))


def theory_profiles(entry: Entry, depth: int, depths=None) -> tuple[np.ndarray, dict]:
    """Layers and ``{"q", "apjn"}`` (linear) from the solver (``depths``: the network depths of an
    ``across_depths`` entry; default a geometric grid up to ``depth``)."""
    from sigprop.theory import solve

    if entry.across_depths:
        depths = _depth_grid(depth) if depths is None else np.asarray(depths)
        trajs = [solve(entry.arch, depth=int(L), need_p=entry.need_p) for L in depths]
        return depths, {"q": np.array([t.q[-1] for t in trajs]),
                        "apjn": np.exp(np.array([t.log_apjn[-1] for t in trajs]))}
    t = solve(entry.arch, depth=depth, need_p=entry.need_p)
    return np.arange(depth + 1), {"q": t.q, "apjn": np.exp(t.log_apjn)}


def mc_profiles(entry: Entry, mc: dict, device=None) -> tuple[np.ndarray, dict]:
    """Layers and per-network ``{"q", "apjn"}`` arrays ``(samples, layers)`` from the Monte-Carlo."""
    from sigprop.montecarlo import simulate

    kw = dict(width=max(mc["width"], entry.arch.n_tokens), samples=mc["samples"], probes=mc["probes"],
              seed=0, dtype=entry.dtype, device=device, backward=False)
    if entry.across_depths:
        depths = _depth_grid(mc["depth"], points=6)  # one compilation per depth
        runs = [simulate(entry.arch.replace(depth=int(L)), **kw) for L in depths]
        return depths, {"q": np.stack([r.q[:, -1] for r in runs], axis=1),
                        "apjn": np.exp(np.stack([r.log_apjn[:, -1] for r in runs], axis=1))}
    r = simulate(entry.arch.replace(depth=mc["depth"]), **kw)
    return np.arange(mc["depth"] + 1), {"q": r.q, "apjn": np.exp(r.log_apjn)}


def _row(entry, quantity, source, law, **fields) -> dict:
    """A table row with its identity, the derived ``law`` (from :func:`derived`) and ``fields``."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(architecture=entry.name, quantity=quantity, source=source, **fields)
    if law is not None:
        row.update(derived_param=law[0], derived_value=law[1], derived_formula=law[2])
    return row


def _fit_row(entry, quantity, source, law, layers, values, depth, stderr=None, samples=None, window="auto",
             models=None):
    from sigprop.fitting import fit_growth

    row = _row(entry, quantity, source, law, depth=int(depth))
    try:
        fit = fit_growth(layers, values, stderr, samples=samples, window=window, models=models)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        row.update(model="(no fit)", note=str(exc)[:80])
        return row, None
    param = KEY_PARAM[fit.model]
    if fit.model == "stretched_exp" and "lam" not in fit.params:
        param = "beta"
    lo, hi = fit.intervals.get(param, (float("nan"), float("nan")))
    row.update(model=fit.model, regime=fit.regime, param=param, value=float(fit.params[param]), lo=float(lo),
               hi=float(hi), window_lo=fit.window[0], window_hi=fit.window[1])
    return row, fit


def table(quick: bool = True, device=None, names=None, mc: bool = True) -> list[dict]:
    """All rows (theory, then Monte-Carlo, per architecture and quantity)."""
    mcs = QUICK_MC if quick else FULL_MC
    rows = []
    for entry in entries():
        if names is not None and entry.name not in names:
            continue
        depth = entry.theory_depth[0 if quick else 1]
        with np.errstate(all="ignore"):
            layers, th = theory_profiles(entry, depth)
        laws = {qn: derived(entry.arch, qn) for qn in QUANTITIES}  # once per entry (zeta_modes solves rho*)
        for qn in QUANTITIES:
            rows.append(_fit_row(entry, qn, "theory", laws[qn], layers, th[qn], depth)[0])
        if not mc:
            continue
        if quick and not entry.mc_quick:
            rows += [_row(entry, qn, "mc", laws[qn], model="(full mode only)") for qn in QUANTITIES]
            continue
        ls, per_net = mc_profiles(entry, mcs, device)
        # the theory over the Monte-Carlo's layers and window, same model: the like-for-like comparison
        # (at these depths most laws are still pre-asymptotic)
        with np.errstate(all="ignore"):
            ls_th, th_mc = (theory_profiles(entry, mcs["depth"], depths=ls) if entry.across_depths
                            else (layers[:mcs["depth"] + 1], {k: v[:mcs["depth"] + 1] for k, v in th.items()}))
        for qn in QUANTITIES:
            s = per_net[qn]
            se = np.std(s, axis=0, ddof=1) / np.sqrt(s.shape[0])
            row, fit = _fit_row(entry, qn, "mc", laws[qn], ls, s.mean(axis=0), mcs["depth"], se, s)
            row["note"] = (row["note"] + " " if row["note"] else "") + (
                f"d={max(mcs['width'], entry.arch.n_tokens)}, {mcs['samples']} networks, {entry.dtype}")
            rows.append(row)
            if fit is not None:
                with np.errstate(all="ignore"):  # the Monte-Carlo's relative errors as weights
                    rel = np.where(s.mean(axis=0) > 0, se / s.mean(axis=0), np.nan)
                same = (fit.model,) if fit.model != "stretched_exp" else ("stretched_exp_half",)
                twin, _ = _fit_row(entry, qn, "theory@mc", laws[qn], ls_th, th_mc[qn], mcs["depth"],
                                   th_mc[qn] * rel, window=tuple(fit.window), models=same)
                twin["note"] = ("theory over the Monte-Carlo's layers and window, with its law and relative "
                                "errors as weights")
                rows.append(twin)
    return rows


def _fmt(v, digits=4):
    if v == "" or v is None:
        return ""
    v = float(v)
    if not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return f"{v:.{digits}g}"


def markdown(rows: list[dict]) -> str:
    """The table as Markdown: one line per (architecture, quantity, source)."""
    lines = ["| architecture | quantity | source | law (regime) | exponent [95%] | window | derived |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        law = f"{r['model']} ({r['regime']})" if r["regime"] else r["model"]
        exp = f"{r['param']} = {_fmt(r['value'])} [{_fmt(r['lo'])}, {_fmt(r['hi'])}]" if r["param"] else ""
        win = f"{_fmt(r['window_lo'])}..{_fmt(r['window_hi'])}" if r["window_lo"] != "" else ""
        der = f"{r['derived_param']} = {_fmt(r['derived_value'])} ({r['derived_formula']})" \
            if r["derived_param"] else ""
        lines.append(f"| {r['architecture']} | {r['quantity']} | {r['source']} | {law} | {exp} | {win} | {der} |")
    return "\n".join(lines) + "\n"


def _plot(plt, rows: list[dict]):
    sel = [r for r in rows if r["param"] and r["param"] == r["derived_param"]
           and r["derived_value"] not in ("", 0.0) and math.isfinite(float(r["derived_value"]))]
    fig, ax = plt.subplots(figsize=(7.0, 0.6 + 0.22 * max(len(sel), 1)))
    for i, r in enumerate(sel):
        dv = float(r["derived_value"])
        ratio = float(r["value"]) / dv
        lo, hi = sorted((float(r["lo"]) / dv, float(r["hi"]) / dv))
        c = {"theory": "C0", "mc": "C2", "theory@mc": "C1"}[r["source"]]
        ax.errorbar([ratio], [i], xerr=[[max(ratio - lo, 0)], [max(hi - ratio, 0)]], fmt="o", color=c, ms=3,
                    capsize=2)
    ax.axvline(1.0, color="0.5", lw=0.8)
    ax.set_yticks(range(len(sel)))
    ax.set_yticklabels([f"{r['architecture']}: {r['quantity']} {r['param']} ({r['source']})" for r in sel],
                       fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("fitted / derived exponent (95% interval); theory black, Monte-Carlo red, "
                  "theory over the Monte-Carlo's window blue")
    fig.tight_layout()
    return fig


def make(out_dir, quick: bool = True, device=None) -> list[Path]:
    """Write the table (CSV, Markdown) and its forest plot (PNG, PDF); print the Markdown."""
    from .common import long_rows, save, setup

    plt = setup()
    t0 = time.perf_counter()
    rows = table(quick, device)
    fig = _plot(plt, rows)
    paths = save(fig, out_dir, STEM, long_rows(rows))
    md = markdown(rows)
    note = (f"{'Quick' if quick else 'Full'} mode; Monte-Carlo: {QUICK_MC if quick else FULL_MC}; "
            f"{time.perf_counter() - t0:.0f} s.\n\n")
    md_path = Path(out_dir) / f"{STEM}.md"
    md_path.write_text(note + md)
    print(md, end="")
    return paths + [md_path]


def main(argv=None) -> None:
    """Command line: ``python -m figures.fig7_exponent_table [--quick] [--out DIR] [--device cpu|gpu]``."""
    from figures.common import run_alone

    run_alone(make, __doc__.splitlines()[0], argv, quick_help="laptop sizes")


if __name__ == "__main__":
    main()
