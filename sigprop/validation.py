"""Theory against finite-width Monte-Carlo on the same declaration (``sigprop validate``).

For each quantity ``q``, ``p``, ``log_apjn`` (``log J(0, l)``) and
``log_apjn_back`` (``log J(l, L)``) and each layer, :func:`compare` reports
the infinite-width value (:func:`sigprop.theory.solve`), the ensemble mean at
width ``d`` (:func:`sigprop.montecarlo.simulate`), its standard error and
``z = (mean - theory) / stderr``.

Finite-width allowance. Mean-field corrections are ``O(1/d)``: the measured
mean is ``m_d = theory + c/d + noise``. With the width-doubling check (the
default) the ensemble is also run at ``2d`` and the Richardson extrapolation
``m_inf = 2 m_{2d} - m_d`` (standard error ``sqrt(4 se_{2d}^2 + se_d^2)``)
removes the ``c/d`` term; agreement means ``|z_inf| <= zmax`` at every layer
for every quantity, and no layer where the theory is a finite number and the
measurement is not (a float32 overflow fails; it does not drop out; where a
sweep's theory leaves float64 at some points, those layers are listed and not
compared). The report also
gives how the discrepancy shrinks:
``shrink = rms(m_d - theory) / rms(m_{2d} - theory)``, expected ``~2`` when the
discrepancy is a resolved ``O(1/d)`` effect (and ``~1`` when it is noise or a
width-independent error of the theory). Without doubling (``--no-doubling``)
the criterion is ``|z_d| <= zmax`` with no allowance.

Small ensembles. ``z`` divides by a standard error estimated from ``S``
networks, so under agreement it follows Student's t with ``S - 1`` degrees of
freedom (Welch-Satterthwaite for the extrapolation, between ``S - 1`` and
``2(S - 1)``), not a standard normal: with ``S = 8`` a layer has ``|t| > 4``
about 80 times more often than ``|z| > 4``. The criterion therefore compares
``zmax`` with ``z_normal``, the standard-normal value of the same tail
probability; ``z``, ``z_2d`` and ``z_inf`` are reported as measured. An
ensemble can be too small for the criterion to mean anything: with ``S = 2``
(one degree of freedom) ``|z_normal| <= 4`` tolerates ``|t|`` up to ~10^4. The
report's ``resolution`` is the largest ``|t|`` the criterion tolerates at any
compared layer; above ``WEAK * zmax`` the verdict is ``inconclusive`` (and
``ok`` false), not ``agreement`` (:func:`min_samples` gives the ensemble size
that avoids it). A disagreement found by a small ensemble is still a
disagreement.

This module is where the theory and the Monte-Carlo meet; neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

QUANTITIES = ("q", "p", "log_apjn", "log_apjn_back")

#: round-off floor on the standard error, relative to ``1 + |theory|``: sums of
#: ``n d ~ 1e5`` float32 terms and their logs carry ~1e-6 relative error, which
#: matters where the ensemble spread vanishes (layer 0 inputs have exact moments,
#: ``J(0, 0) = J(L, L) = 1``); float64 round-off is ~1e-13.
ROUNDOFF = {"float32": 1e-5, "float64": 1e-11}

#: an ensemble too small to resolve disagreement: the criterion tolerates more than ``WEAK * zmax``
#: estimated standard errors at some layer (Student's t with few degrees of freedom; ``S = 2`` tolerates
#: ~10^4 at ``zmax = 4``); the verdict is then ``inconclusive``, not ``agreement``
WEAK = 3.0


def _theory(traj, name):
    if name == "log_apjn_back":
        return np.asarray(traj.log_apjn_back, float)
    v = getattr(traj, name)
    return None if v is None else np.asarray(v, float)


def zscores(theory, mean, stderr, floor):
    """``(mean - theory) / sqrt(stderr^2 + (floor (1 + |theory|))^2)`` (``nan`` where either side is)."""
    se = np.sqrt(np.nan_to_num(stderr, nan=0.0) ** 2 + (floor * (1 + np.abs(theory))) ** 2)
    return (mean - theory) / se


def normal_equivalent(t, dof):
    """Student-t values ``t`` (``dof`` degrees of freedom) -> standard-normal values of the same tail probability.

    ``|result| <= |t|``; where the tail probability underflows (``|result| > 37``)
    ``t`` itself is returned, and ``nan`` stays ``nan``.
    """
    from scipy import stats

    t = np.asarray(t, float)
    dof = np.broadcast_to(np.asarray(dof, float), t.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        p = stats.t.sf(np.abs(t), np.where(np.isfinite(dof) & (dof > 0), dof, 1.0))
        z = stats.norm.isf(p)
    z = np.where((p > 0) & np.isfinite(z), z, np.abs(t))
    z = np.where(np.isinf(dof) & (dof > 0), np.abs(t), z)  # infinite degrees of freedom: normal already
    z = np.where(dof > 0, z, np.nan)
    return np.copysign(z, t)


def _dof(stat_vars, floor_var, dof1):
    """Welch-Satterthwaite degrees of freedom of a variance sum: statistical terms with ``dof1`` each and
    the round-off floor, which is fixed (infinite degrees of freedom); ``inf`` where the floor alone remains."""
    stat = sum(stat_vars)
    sq = sum(v * v for v in stat_vars)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sq > 0, dof1 * (stat + floor_var) ** 2 / np.where(sq > 0, sq, 1.0), np.inf)


def _rms(x, other):
    """rms of ``x`` over the layers (axis 0) where both ``x`` and ``other`` are finite; one per grid point."""
    ok = np.isfinite(x) & np.isfinite(other)
    count = ok.sum(axis=0)
    r = np.sqrt(np.sum(np.where(ok, x, 0.0) ** 2, axis=0) / np.maximum(count, 1))
    r = np.where(count > 0, r, np.nan)
    return float(r) if r.ndim == 0 else r


@np.errstate(invalid="ignore", over="ignore")  # layers that overflowed give inf/nan (counted, not warned)
def _entry(th, run, run_2d, name, floor, zmax) -> dict:
    """One quantity's per-layer comparison; ``run_2d`` (the doubled width) adds the Richardson criterion."""
    m, se = run.mean(name), run.stderr(name)
    entry = {"theory": th, "mean": m, "stderr": se, "z": zscores(th, m, se, floor)}
    dof1 = run.meta["samples"] - 1
    floor_var = (floor * (1 + np.abs(th))) ** 2  # the round-off floor of zscores
    crit, m_crit = entry["z"], m
    dof = _dof([np.nan_to_num(se) ** 2], floor_var, dof1)
    if run_2d is not None:
        m2, se2 = run_2d.mean(name), run_2d.stderr(name)
        m_crit = 2 * m2 - m
        a, b = 4 * np.nan_to_num(se2) ** 2, np.nan_to_num(se) ** 2
        se_inf = np.sqrt(a + b)
        crit = zscores(th, m_crit, se_inf, floor)
        dof = _dof([a, b], floor_var, dof1)
        entry.update({"mean_2d": m2, "stderr_2d": se2, "z_2d": zscores(th, m2, se2, floor),
                      "mean_inf": m_crit, "z_inf": crit,
                      "shrink": _rms(m - th, m2 - th) / np.maximum(_rms(m2 - th, m - th), 1e-300)})
    # a layer that the theory gives as a number and the measurement does not (a float32 overflow, a
    # NaN) fails; where a sweep's theory left float64 (solve(overflow="nan")) nothing is compared
    th_ok = np.isfinite(th).reshape(len(th), -1)  # (layers, grid points)
    one_sided = th_ok & ~np.isfinite(m_crit).reshape(th_ok.shape)
    entry["nonfinite_layers"] = np.flatnonzero(one_sided.any(axis=1)).tolist()
    entry["nonfinite_values"] = int(one_sided.sum())
    if np.ndim(th) > 1:
        entry["nonfinite_by_point"] = [np.flatnonzero(col).tolist() for col in one_sided.T]
    if not th_ok.all():
        entry["theory_lost_by_point"] = [np.flatnonzero(~col).tolist() for col in th_ok.T]
    entry["dof"] = dof
    entry["z_normal"] = normal_equivalent(crit, dof)
    finite = np.abs(entry["z_normal"][np.isfinite(entry["z_normal"])])
    entry["max_abs_z"] = float(finite.max()) if finite.size else 0.0
    compared = np.isfinite(entry["z_normal"])
    entry["resolution"] = float(critical_t(zmax, dof[compared]).max()) if compared.any() else float(zmax)
    return entry


def critical_t(zmax, dof):
    """The |t| that the criterion ``|z_normal| <= zmax`` tolerates at ``dof`` degrees of freedom: the
    smallest discrepancy, in estimated standard errors, that it can detect (``zmax`` itself for infinite
    ``dof``)."""
    from scipy import stats

    dof = np.asarray(dof, float)
    with np.errstate(invalid="ignore"):
        t = stats.t.isf(stats.norm.sf(zmax), np.where(np.isfinite(dof), dof, 1.0))
    return np.where(np.isfinite(dof), t, zmax)


def min_samples(zmax, weak=WEAK) -> int:
    """The smallest ensemble whose ``S - 1`` degrees of freedom keep :func:`critical_t` within
    ``weak * zmax`` (7 at ``zmax = 4``): below it every verdict short of disagreement is inconclusive."""
    s = 2
    while critical_t(zmax, s - 1) > weak * zmax:
        s += 1
    return s


def check_options(width, samples, zmax, seed=0) -> None:
    """``ValueError`` for options no comparison can use (checked before any work)."""
    from .montecarlo.network import check_width

    check_width(width)
    if not 0 <= seed < 2 ** 62 - 7919:  # the doubled width runs with seed + 7919
        raise ValueError(f"seed must be an integer in [0, 2^62 - 7919), got {seed}")
    if samples < 2:
        raise ValueError(f"samples must be >= 2 to estimate the standard error, got {samples}")
    if not (np.isfinite(zmax) and zmax > 0):
        raise ValueError(f"zmax must be a positive number, got {zmax}")


def compare(arch, *, width=None, samples=16, probes=4, seed=0, dtype="float32", device=None, zmax=4.0,
            doubling=True, progress=False) -> dict:
    """Theory vs Monte-Carlo report (the ``sigprop validate --json`` object).

    A sweep over traced numbers (``alpha``, ``q0``, the sigmas, ...; see
    :func:`sigprop.montecarlo.simulate`) is validated in one Monte-Carlo run per
    width: the per-layer arrays are then ``(L+1, *grid)``, ``shrink`` has the grid's
    shape, and ``ok`` requires agreement at every grid point.

    Returns:
        dict with, for each of ``q, p, log_apjn, log_apjn_back``, a dict of
        per-layer arrays ``theory, mean, stderr, z`` (width ``d``) and, with
        ``doubling``, ``mean_2d, stderr_2d, z_2d, z_inf`` and the scalar
        ``shrink``; always ``nonfinite_layers`` (finite in the theory, not in the
        measurement; for a sweep the union over points, and ``nonfinite_by_point``) and
        ``nonfinite_values`` (their count over layers and points); for a sweep whose
        theory left float64 at some points, ``theory_lost_by_point`` (layers not compared),
        ``dof`` and ``z_normal`` (the criterion's z as a normal-equivalent, see
        the module docstring), ``max_abs_z`` (of ``z_normal``); plus ``ok``,
        ``width``, ``samples``, ``probes``, ``zmax``, ``allowance`` (a
        sentence), ``max_abs_z`` (over quantities), ``resolution`` (the largest
        ``|t|`` the criterion tolerates, per quantity and overall), ``verdict``
        (``agreement``, ``disagreement`` or ``inconclusive``; ``ok`` is
        ``verdict == "agreement"``) and ``meta``; for a sweep ``grid_shape`` and
        ``point_labels`` (the swept values per grid point, row-major).
    """
    from .montecarlo import simulate
    from .theory import solve

    check_options(width, samples, zmax, seed)
    d = arch.width if width is None else width
    # a sweep keeps the points whose recurrence stays in float64 (the others are not compared there)
    traj = solve(arch, overflow="nan" if arch.grid_shape() else "raise")
    runs = [simulate(arch, width=d, samples=samples, probes=probes, seed=seed, dtype=dtype, device=device,
                     progress=progress)]
    if doubling:
        runs.append(simulate(arch, width=2 * d, samples=samples, probes=probes, seed=seed + 7919, dtype=dtype,
                             device=device, progress=progress))
    floor = ROUNDOFF[dtype]
    out = {"width": d, "samples": samples, "probes": probes, "zmax": zmax, "grid_shape": list(arch.grid_shape()),
           "arch": arch.to_dict()}
    if arch.grid_shape():
        out["point_labels"] = _point_labels(arch)
    worst, resolution, bad_layers = 0.0, float(zmax), 0
    for name in QUANTITIES:
        th = _theory(traj, name)
        if th is None or (name == "p" and int(arch.n_tokens) < 2):  # no token pairs to measure p on
            continue
        out[name] = entry = _entry(th, runs[0], runs[1] if doubling else None, name, floor, zmax)
        worst = max(worst, entry["max_abs_z"])
        resolution = max(resolution, entry["resolution"])
        bad_layers += entry["nonfinite_values"]
    out["max_abs_z"] = worst
    out["resolution"] = resolution
    if worst > zmax or bad_layers:
        out["verdict"] = "disagreement"
    elif resolution > WEAK * zmax:
        out["verdict"] = "inconclusive"
    else:
        out["verdict"] = "agreement"
    out["ok"] = out["verdict"] == "agreement"
    out["allowance"] = ((f"|z| of the Richardson extrapolation 2 m(2d) - m(d) (removes O(1/d)) <= {zmax}"
                         if doubling else f"|z| at width d <= {zmax} (no finite-width allowance)")
                        + f", as the normal-equivalent of Student's t with {samples - 1}"
                        + (f"-{2 * (samples - 1)}" if doubling else "") + " degrees of freedom")
    out["meta"] = [r.meta for r in runs]
    return out


def _ranges(layers) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    runs, start = [], None
    for i, l in enumerate(layers):
        start = l if start is None else start
        if i + 1 == len(layers) or layers[i + 1] != l + 1:
            runs.append(f"{start}-{l}" if l > start else f"{l}")
            start = None
    return ", ".join(runs)


def _columns(report, arch) -> dict:
    """CSV columns: one row per layer (per grid point and layer for a sweep, see :func:`io.grid_columns`)."""
    from . import io

    per_layer = {f"{name}_{key}": val for name in QUANTITIES for key, val in report.get(name, {}).items()
                 if isinstance(val, np.ndarray) and val.ndim == 1 + len(report["grid_shape"])}
    return io.grid_columns(arch, per_layer)


def _overflow_hint(report) -> str:
    """Why a measurement may be missing where the theory is finite (float32 runs only)."""
    return ("; the float32 activations overflow or underflow there, try --float64"
            if report["meta"][0]["dtype"] == "float32" else "")


def _point_labels(arch) -> list[str]:
    """``"alpha=0.1 sigma_w2=0.2"`` per grid point; fields swept together with equal values share one
    entry (a swept ``weight_std``: ``"sigma_{q,k,v,o,1}=0.32 sigma_2=0.64"``)."""
    shape = arch.grid_shape()
    groups: list[list[str]] = []
    for k in arch.swept_fields():
        v = np.broadcast_to(getattr(arch, k), shape)
        same = next((g for g in groups if np.array_equal(np.broadcast_to(getattr(arch, g[0]), shape), v)), None)
        if same is None:
            groups.append([k])
        else:
            same.append(k)

    def name(g):
        if len(g) > 1 and all(k.startswith("sigma_") for k in g):
            return "sigma_{" + ",".join(k[len("sigma_"):] for k in g) + "}"
        return "=".join(g)

    return [" ".join(f"{name(g)}={getattr(p, g[0]):g}" for g in groups) for p in arch.grid_points()]


def _print_sweep(report, arch) -> None:
    """Per grid point and quantity: the worst layer's z and the width-doubling shrink."""
    labels = report["point_labels"]
    width = max(len(x) for x in labels)
    for name in QUANTITIES:
        if name not in report:
            continue
        e = report[name]
        zn = np.asarray(e["z_normal"], float).reshape(len(e["theory"]), -1)
        z = np.asarray(e["z_inf" if "z_inf" in e else "z"], float).reshape(zn.shape)
        shrink = np.ravel(e["shrink"]) if "shrink" in e else None
        print(f"\n{name}:  {'grid point':{width}}  {'max |z_n|':>9} {'at layer':>8} {'z':>7}"
              + (f" {'shrink':>6}" if shrink is not None else ""))
        for i, label in enumerate(labels):
            col = np.where(np.isfinite(zn[:, i]), np.abs(zn[:, i]), -1.0)
            if col.max() < 0:
                print(f"   {'':{len(name)}}{label:{width}}  {'not compared':>26}")
                continue
            l = int(np.argmax(col))
            line = f"   {'':{len(name)}}{label:{width}}  {max(col[l], 0.0):9.2f} {l:8d} {z[l, i]:7.2f}"
            print(line + (f" {shrink[i]:6.2f}" if shrink is not None else ""))
        hint = _overflow_hint(report)
        for i, layers in enumerate(e.get("nonfinite_by_point", [])):
            if layers:
                print(f"   {labels[i]}: finite in the theory only at layers {_ranges(layers)}{hint}")
        reach = " (or the softmax quadrature's reach)" if arch.cross_tangents else ""
        for i, layers in enumerate(e.get("theory_lost_by_point", [])):
            if layers:
                print(f"   {labels[i]}: the theory left float64{reach} at layers {_ranges(layers)}: not compared there")


def default_out(arch_arg: str) -> Path:
    """``results/validate/NAME``: one folder per preset or declaration file (``NAME`` its stem), so that
    validating another architecture does not replace the last one's results."""
    return Path("results") / "validate" / Path(arch_arg).stem


def main(args) -> int:
    """``sigprop validate``: print the report, write ``validate.csv/.json`` and a figure; exit 1 unless the
    verdict is agreement (a disagreement, or an ensemble too small to tell: inconclusive)."""
    from . import io

    check_options(args.width, args.samples, args.zmax, args.seed)
    arch = io.load_arch(args.arch, args.sets, args.depth, args.width)  # --width before weight_std -> sigma
    out = io.out_dir(args.out if args.out is not None else default_out(args.arch))  # before the Monte-Carlo run
    report = compare(arch, samples=args.samples, probes=args.probes, seed=args.seed,
                     dtype="float64" if args.float64 else "float32", device=args.device, zmax=args.zmax,
                     doubling=not args.no_doubling, progress=not args.json)
    io.write_csv(out / "validate.csv", _columns(report, arch))
    io.write_json(out / "validate.json", report)
    figure = None
    try:
        from figures.validation_plot import plot_validation

        figure = plot_validation(report, out / "validate.png")
    except ImportError:  # figures/ is not installed with the package
        figure = None
    if args.json:
        print(io.dumps(report))
        return 0 if report["ok"] else 1
    d = report["width"]
    print(f"{arch.kind} ({arch.normalizer}, L = {arch.depth}): width {d}, {report['samples']} networks, "
          f"{report['probes']} probes" + (f", {len(arch.grid_points())} grid points sharing each network's "
                                          "weights" if report["grid_shape"] else ""))
    if report["grid_shape"]:
        _print_sweep(report, arch)
    for name in QUANTITIES if not report["grid_shape"] else ():
        if name not in report:
            continue
        e = report[name]
        L = len(e["theory"]) - 1
        print(f"\n{name}:  {'layer':>5} {'theory':>11} {'mean':>11} {'stderr':>9} {'z':>6}"
              + (f" {'mean(2d)':>11} {'z_inf':>6}" if "mean_2d" in e else "") + f" {'z_n':>6}")
        step = max(1, L // 8)
        for l in sorted(set(list(range(0, L + 1, step)) + [L])):
            line = (f"   {'':{len(name)}}{l:5d} {e['theory'][l]:11.5g} {e['mean'][l]:11.5g} {e['stderr'][l]:9.2g} "
                    f"{e['z'][l]:6.2f}")
            if "mean_2d" in e:
                line += f" {e['mean_2d'][l]:11.5g} {e['z_inf'][l]:6.2f}"
            print(line + f" {e['z_normal'][l]:6.2f}")
        if "shrink" in e:
            print(f"   width {d} -> {2 * d}: rms discrepancy shrinks by {e['shrink']:.2f} (O(1/d) predicts 2)")
        if e["nonfinite_layers"]:
            print(f"   finite in the theory only (not in the Monte-Carlo) at layers {_ranges(e['nonfinite_layers'])}"
                  + _overflow_hint(report))
    nonfinite = sum(report[k]["nonfinite_values"] for k in QUANTITIES if k in report)
    print(f"\nz_n: the criterion's z as a normal-equivalent (Student's t with the ensemble's degrees of freedom)")
    print(f"allowance: {report['allowance']}; max |z_n| = {report['max_abs_z']:.2f}"
          + (f", {nonfinite} layer values finite in the theory only" if nonfinite else "") + " -> "
          f"{report['verdict'] if report['ok'] else report['verdict'].upper()}")
    if report["verdict"] == "inconclusive":
        print(f"   {report['samples']} networks are too few to resolve a disagreement: the criterion tolerates "
              f"up to {report['resolution']:.3g} estimated standard errors at some layer (more than "
              f"{WEAK:g} x {report['zmax']:g}); use --samples {min_samples(report['zmax'])} or more")
    print(f"wrote {out / 'validate.csv'}, {out / 'validate.json'}" + (f", {figure}" if figure else ""))
    return 0 if report["ok"] else 1
