"""Fit the growth law of a depth profile and classify its regime.

:func:`fit_growth` takes a positive quantity ``y(l)`` (the APJN ``J(0, l)``,
``q`` or ``p``, linear scale) at layers ``l >= 1``, optionally with standard
errors and per-network samples, and returns a :class:`FitResult`:

1. **Weighted least squares in log space.** Every model of
   :mod:`sigprop.fitting.models` is fitted to ``log y`` with weights
   ``1 / s_l^2``, ``s_l = stderr_l / y_l`` (the delta method) floored by
   ``resolution``; without errors all layers weigh the same.
2. **Model selection by BIC** (Schwarz 1978):
   ``BIC = -2 log L + k log N``. With errors, ``-2 log L = chi^2``; without,
   the common variance is estimated and ``-2 log L = N log(RSS / N)`` with
   ``RSS / N`` floored at ``resolution^2``, so that differences of ``log y``
   below ``resolution`` are not taken as evidence for extra parameters. BIC
   rather than AIC because it is consistent (it picks the true law with
   probability -> 1 as layers are added) and penalizes the free-``beta``
   stretched exponential enough not to win on curvature alone.
3. **Automatic window.** Pre-asymptotic layers follow a different law
   (e.g. the exponential phase of Derf/DyT below the transition depth ``l*``).
   Candidate windows ``[l_s, l_last]`` start at ``l_s = l_first 2^j`` (each
   spanning at least a factor 8 in ``l``, 4 for short profiles); in each the
   best model is selected. A window is *informative* when its winner beats the
   runner-up by ``Delta BIC >= 10`` ("very strong" on the Kass-Raftery scale).
   The fit window is the latest-starting informative window: the most
   asymptotic layers that still single out one law. The skipped layers (and
   the laws earlier windows favour) are reported in ``FitResult.evidence``.
4. **Intervals (95%).** With ``samples`` (one row per network) the networks
   are resampled with replacement (bootstrap, 200 replicas) and the chosen
   model refitted on the fixed window; otherwise ``1.96`` standard errors
   from the covariance ``s^2 (J^T W J)^{-1}`` (``s^2`` the residual variance,
   or ``max(1, chi^2/dof)`` with errors), mapped through the monotone
   reparametrizations ``a = e^{log a}``, ``xi = 1/k``, ``lam = 1/b^2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from . import models as M

#: smallest log-space discrepancy treated as evidence (relative precision of a
#: float64 recurrence summed over ~1e5 layers is far below; Monte-Carlo errors
#: are far above).
RESOLUTION = 1e-6
#: Delta BIC for "very strong" evidence (Kass & Raftery 1995).
STRONG = 10.0
BOOTSTRAP = 200


@dataclass
class FitResult:
    """Fitted growth law.

    Attributes:
        model: ``"power" | "stretched_exp" | "exp" | "log" | "bounded"``.
        regime: ``"critical" | "subcritical" | "ordered" | "chaotic" | "bounded" | "logarithmic"``, or
            ``"undetermined"`` when the selected exponential changes by less than one e-fold up to the
            deepest fitted layer (too short a profile to tell a phase from slower growth).
        params: power ``{a, zeta}``; stretched_exp ``{a, b, beta}`` (plus ``lam = 1/b^2``
            when ``beta = 1/2`` is fixed); exp ``{a, xi}``; log ``{a, c}``; bounded ``{a, c}`` (limit ``a``).
        intervals: name -> ``(lo, hi)``, 95%.
        window: ``(l_first, l_last)`` of the fit.
        scores: model -> BIC on the window (lower is better).
        evidence: one sentence explaining the choice.
        variant: the internal model key (``stretched_exp_half`` for fixed ``beta``).
    """

    model: str
    regime: str
    params: dict
    intervals: dict
    window: tuple
    scores: dict
    evidence: str = ""
    variant: str = ""
    fits: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready: model, regime, params, intervals, window, scores."""
        return {"model": self.model, "regime": self.regime, "params": self.params,
                "intervals": {k: list(v) for k, v in self.intervals.items()},
                "window": list(self.window), "scores": self.scores}


def _prepare(layers, values, stderr, log=False):
    l = np.asarray(layers, float).ravel()
    y = np.asarray(values, float).ravel()
    if l.shape != y.shape:
        raise ValueError(f"layers and values differ in length: {l.size} vs {y.size}")
    se = None if stderr is None else np.asarray(stderr, float).ravel()
    if se is not None and se.shape != y.shape:
        raise ValueError(f"stderr has {se.size} entries, values {y.size}")
    if se is not None and np.any(se[np.isfinite(se)] < 0):
        raise ValueError("stderr must be >= 0")
    keep = np.isfinite(l) & np.isfinite(y) & (l >= 1)
    if se is not None:
        keep &= np.isfinite(se)
    if not log and np.any(y[keep] <= 0):
        raise ValueError("values must be positive (growth laws are fitted to log values)")
    n_bad = int(np.sum(~keep & (l >= 1)))  # non-finite points left out (layer 0 is dropped by design)
    order = np.argsort(l[keep], kind="stable")
    l, y = l[keep][order], y[keep][order]
    se = None if se is None else se[keep][order]
    if np.unique(l).size < 4:
        raise ValueError(f"need at least 4 distinct finite layers >= 1 to fit a growth law, got {np.unique(l).size}")
    return l, y, se, keep, order, n_bad


def _weights(y, se, resolution, log=False):
    """``1 / sqrt(stderr(log y)^2 + resolution^2)``: ``stderr(log y) = se / y``, or ``se`` itself
    when ``y`` already holds log values (``log``); all ones without errors."""
    if se is None:
        return np.ones_like(y)
    rel = se if log else se / y
    return 1.0 / np.sqrt(rel ** 2 + resolution ** 2)


def _bic(fit: M.ModelFit, n: int, known: bool, resolution: float) -> float:
    if known:
        m2ll = fit.rss
    else:
        m2ll = n * np.log(max(fit.rss / n, resolution ** 2))
    return float(m2ll + fit.k * np.log(n))


def _select(l, logy, sw, names, known, resolution):
    fits = {n: M.fit_model(n, l, logy, sw) for n in names}
    scores = {n: _bic(f, l.size, known, resolution) for n, f in fits.items()}
    ranked = sorted(scores, key=scores.get)
    if ranked[0] == "bounded" and len(ranked) > 1 and fits["bounded"].theta[0] <= 1e-6 * np.exp(np.max(logy)):
        # a limit a <= 0: ``c / l`` is the power law with zeta = -1, which is reported as such
        ranked = ranked[1:] + ["bounded"]
    return fits, scores, ranked


def _starts(l, min_points):
    """Candidate window starts ``l[0] 2^j`` keeping ``>= min_points`` layers and a factor ``span`` in ``l``.

    ``span`` is 8 (4 when the data span less than a factor 32): a law is only told
    from its neighbours over a range of scales.
    """
    span = 8.0 if l[-1] / l[0] >= 32 else 4.0
    out = []
    s = l[0]
    while True:
        i = int(np.searchsorted(l, s))
        if l.size - i < min_points or l[-1] / l[i] < span:
            break
        if not out or i != out[-1]:
            out.append(i)
        s *= 2.0
    return out or [0]


def _reciprocal(lo, hi, power: int):
    """Interval of ``1/x`` (``power`` 1) or ``1/x^2`` (``power`` 2) for ``x`` in ``[lo, hi]``."""
    if lo * hi > 0:  # one sign: monotone
        a, b = 1 / lo ** power, 1 / hi ** power
        return (float(min(a, b)), float(max(a, b)))
    if power == 1:
        return (-np.inf, np.inf)
    ends = [1 / x ** 2 for x in (lo, hi) if x != 0]  # x^2 runs from 0 to max(lo^2, hi^2)
    return (float(min(ends)) if ends else np.inf, np.inf)


def _intervals(name, theta, cov, s2, crit=1.96):
    """``crit``-standard-error intervals of the reported parameters (``crit`` = 1.96, or Student's t
    quantile when the noise level is estimated from the residuals)."""
    se = np.sqrt(np.clip(np.diag(cov), 0, None) * s2)
    lo, hi = theta - crit * se, theta + crit * se
    out = {}
    if name in ("power", "exp", "stretched_exp_half", "stretched_exp"):
        out["a"] = (float(np.exp(lo[0])), float(np.exp(hi[0])))
    if name == "power":
        out["zeta"] = (float(lo[1]), float(hi[1]))
    elif name == "exp":
        out["xi"] = _reciprocal(lo[1], hi[1], 1)
    elif name == "stretched_exp_half":
        out["b"] = (float(lo[1]), float(hi[1]))
        out["beta"] = (0.5, 0.5)
        out["lam"] = _reciprocal(lo[1], hi[1], 2)
    elif name == "stretched_exp":
        out["b"] = (float(lo[1]), float(hi[1]))
        out["beta"] = (float(lo[2]), float(hi[2]))
    elif name in ("log", "bounded"):
        out["a"] = (float(lo[0]), float(hi[0]))
        out["c"] = (float(lo[1]), float(hi[1]))
    return out, (float(lo[1]), float(hi[1])) if theta.size > 1 else None


def fit_growth(layers, values, stderr=None, *, samples=None, models=None, window="auto", seed=0,
               resolution: float = RESOLUTION, log: bool = False) -> FitResult:
    """Fit growth laws to ``values(layers)``, select one by BIC and classify the regime.

    Args:
        layers: ``(N,)`` layer indices; layers ``< 1`` and non-finite values are dropped.
        values: ``(N,)`` positive growth quantity (``J`` or ``q``, linear scale).
        stderr: ``(N,)`` standard errors of ``values`` or ``None`` (theory curves).
        samples: optional ``(S, N)`` per-network values: bootstrap intervals.
        models: subset of :data:`sigprop.fitting.models.MODEL_NAMES` (default:
            :data:`~sigprop.fitting.models.DEFAULT_MODELS`, all but the free-``beta``
            stretched exponential, which is then fitted as a diagnostic).
        window: ``"auto"`` or ``(l_first, l_last)``.
        seed: bootstrap seed.
        resolution: log-space floor of the errors (see the module docstring).
        log: ``values`` are already ``log`` of the growth quantity (e.g. ``log J``,
            any magnitude, no ``exp`` overflow) and ``stderr`` their standard errors.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: fewer than 4 usable layers, non-positive values, unknown model.
    """
    names = M.DEFAULT_MODELS if models is None else (models,) if isinstance(models, str) else tuple(models)
    if not names:
        raise ValueError(f"models must name at least one of {', '.join(M.MODEL_NAMES)}")
    for n in names:
        if n not in M.MODEL_NAMES:
            raise ValueError(f"unknown model {n!r}; known: {', '.join(M.MODEL_NAMES)}")
    if not (np.isfinite(resolution) and resolution > 0):
        raise ValueError(f"resolution must be a positive number, got {resolution}")
    bounds = None  # "auto"
    if not (isinstance(window, str) and window == "auto"):
        try:
            bounds = tuple(float(v) for v in window)
        except (TypeError, ValueError):
            bounds = ()
        if len(bounds) != 2:
            raise ValueError(f"window must be 'auto' or a pair (l_first, l_last), got {window!r}")
        if not bounds[0] <= bounds[1]:
            raise ValueError(f"window {window}: l_first must be <= l_last")
    if log and samples is not None:
        raise ValueError("samples (per-network values for the bootstrap) need linear values: log=False")
    l, y, se, keep, order, n_bad = _prepare(layers, values, stderr, log)
    logy = y if log else np.log(y)
    sw = _weights(y, se, resolution, log)
    known = se is not None
    min_points = max(6, max((3 if n == "stretched_exp" else 2) for n in names) + 4)

    note = ""
    if bounds is None:
        starts = _starts(l, min_points)
        picks = []
        for i in starts:
            _, sc, ranked = _select(l[i:], logy[i:], sw[i:], names, known, resolution)
            margin = sc[ranked[1]] - sc[ranked[0]] if len(ranked) > 1 else np.inf
            picks.append((i, ranked[0], margin >= STRONG))
        informative = [p for p in picks if p[2]]
        if informative:
            i0, chosen, _ = informative[-1]
            earlier = sorted({M.reported_model(n) for i, n, inf in picks if i < i0 and inf and n != chosen})
            if i0 > 0:
                note = (f"layers {l[0]:g}..{l[i0 - 1]:g} skipped as pre-asymptotic"
                        + (f" (windows starting there favour: {', '.join(earlier)})" if earlier else ""))
        else:
            i0 = 0
            note = "no window gives very strong evidence (Delta BIC >= 10) for one law: fitted on all layers"
        lo_i, hi_i = i0, l.size
    else:
        sel = np.nonzero((l >= bounds[0]) & (l <= bounds[1]))[0]
        if sel.size < 4:
            raise ValueError(f"window {window} holds {sel.size} layers; need at least 4")
        lo_i, hi_i = int(sel[0]), int(sel[-1]) + 1
    lw, logw, sww = l[lo_i:hi_i], logy[lo_i:hi_i], sw[lo_i:hi_i]
    fits, scores, ranked = _select(lw, logw, sww, names, known, resolution)
    best = ranked[0]
    fit = fits[best]
    dof = max(lw.size - fit.k, 1)
    s2 = max(1.0, fit.rss / dof) if known else max(fit.rss / dof, resolution ** 2)
    crit = 1.96 if known else float(stats.t.ppf(0.975, dof))  # noise level estimated: Student's t
    intervals, rate = _intervals(best, fit.theta, fit.cov, s2, crit)
    if samples is not None:
        S = np.asarray(samples, float)
        if S.ndim != 2 or S.shape[1] != np.asarray(values).size:
            raise ValueError(f"samples must have shape (S, {np.asarray(values).size}), got {S.shape}")
        if S.shape[0] >= 3:
            idx = np.nonzero(keep)[0][order][lo_i:hi_i]
            boot = _boot_fixed(best, lw, S, idx, resolution, seed, known)
            if boot:
                rate = boot.pop("_rate", rate)
                intervals.update(boot)
    params = M.report_params(best, fit.theta)
    if best == "stretched_exp_half" and "stretched_exp" not in names and lw.size >= 6:
        free = M.fit_model("stretched_exp", lw, logw, sww)
        fs2 = max(1.0, free.rss / max(lw.size - 3, 1)) if known else max(free.rss / max(lw.size - 3, 1),
                                                                            resolution ** 2)
        bse = 1.96 * np.sqrt(max(free.cov[2, 2], 0.0) * fs2)
        note = (note + "; " if note else "") + (f"free-beta diagnostic: beta = {free.theta[2]:.3f} "
                                                f"+- {bse:.2g} (search range {M.BETA_RANGE})")
    runner = ranked[1] if len(ranked) > 1 else None
    ev = f"{M.reported_model(best)} (BIC {scores[best]:.4g})"
    if runner:
        ev += f" preferred over {runner} by Delta BIC = {scores[runner] - scores[best]:.3g}"
    ev += f" on layers {lw[0]:g}..{lw[-1]:g}"
    if note:
        ev += "; " + note
    if n_bad:
        ev += f"; {n_bad} non-finite point(s) at layers >= 1 left out"
    regime = M.regime(best, fit.theta)
    if best == "exp" and abs(fit.theta[1]) * lw[-1] < 1:  # xi beyond the deepest fitted layer
        ev += (f"; |xi| = {1 / abs(fit.theta[1]):.4g} exceeds the deepest fitted layer {lw[-1]:g}: the profile "
               f"changes by a factor {np.exp(fit.theta[1] * (lw[-1] - lw[0])):.4g} over the window, less than "
               "one e-fold, so the exponential is the best local law, not an observed e-fold growth or decay; "
               f"regime undetermined (not {regime}: fit a deeper profile, or J(0, L) over several depths L)")
        regime = "undetermined"
    if best in ("exp", "log", "power", "stretched_exp_half", "stretched_exp") and rate is not None:
        # a growth rate indistinguishable from 0 (its 95% interval, bootstrap or not) is no growth
        if rate[0] <= 0 <= rate[1]:
            regime = "bounded"
            ev += (f"; growth rate {fit.theta[1]:.3g} (95% interval [{rate[0]:.2g}, {rate[1]:.2g}]) is "
                   "consistent with 0: regime bounded")
    return FitResult(M.reported_model(best), regime, params, intervals,
                     (float(lw[0]), float(lw[-1])), {k: float(v) for k, v in scores.items()}, ev, best, fits)


def _boot_fixed(name, lw, S, idx, resolution, seed, use_se):
    """Bootstrap over networks (rows of ``S``) on the window columns ``idx``.

    Percentile intervals of the parameters; ``xi = 1/k`` and ``lam = 1/b^2`` come from
    the interval of the rate (``k``, ``b``) itself (``_rate``), which stays valid when
    the draws cross 0 (their reciprocals' percentiles would not).
    """
    rng = np.random.default_rng(seed)
    cols = S[:, idx]
    n = cols.shape[0]
    draws, rates = [], []
    for _ in range(BOOTSTRAP):
        rows = cols[rng.integers(0, n, n)]
        m = rows.mean(axis=0)
        if not np.all(np.isfinite(m)) or np.any(m <= 0):
            continue
        se = rows.std(axis=0, ddof=1) / np.sqrt(n) if use_se else None
        fit = M.fit_model(name, lw, np.log(m), _weights(m, se, resolution))
        draws.append(M.report_params(name, fit.theta))
        rates.append(fit.theta[1] if fit.theta.size > 1 else np.nan)
    if len(draws) < BOOTSTRAP // 2:
        return None
    out = {}
    rate = np.asarray(rates, float)
    rate = rate[np.isfinite(rate)]
    if rate.size:
        out["_rate"] = (float(np.percentile(rate, 2.5)), float(np.percentile(rate, 97.5)))
    for k in draws[0]:
        if k in ("xi", "lam") and "_rate" in out:
            out[k] = _reciprocal(*out["_rate"], 1 if k == "xi" else 2)
            continue
        v = np.array([d[k] for d in draws], float)
        v = v[np.isfinite(v)]
        if v.size:
            out[k] = (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
    return out
