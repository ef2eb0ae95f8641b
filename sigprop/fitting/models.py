"""Growth-law models of a positive depth profile ``y(l)``, fitted in log space.

Each model is ``log y = f(l; theta)``; the regimes are those of docs/theory.md
("Large-depth behaviour") and Alekseev 2026 (arXiv 2604.11890):

* ``power``: ``y = a l^zeta`` (critical; Pre-LN, Doshi et al. 2023);
* ``stretched_exp``: ``y = a exp(b l^beta)``, ``0 < beta < 1`` (subcritical;
  DyT/Derf); ``stretched_exp_half`` fixes ``beta = 1/2`` and reports
  ``lam = 1/b^2`` so that ``y = a exp(sqrt(l / lam))``;
* ``exp``: ``y = a exp(l / xi)`` (``xi > 0`` chaotic, ``xi < 0`` ordered);
* ``log``: ``y = a + c log l`` (LayerNorm Scaling, Sun et al. 2025);
* ``bounded``: ``y = a + c / l``, approaching the limit ``a`` (scaled
  initializations; ``c = 0`` is a constant).

Linear models are solved exactly by weighted least squares; the free-``beta``
stretched exponential is profiled over ``beta`` (for fixed ``beta`` it is
linear) and ``log`` is solved with :func:`scipy.optimize.least_squares`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

#: free ``beta`` is searched inside this interval: at ``beta -> 0`` the stretched
#: exponential degenerates into a power law (``b l^beta ~ b + b beta log l``) and at
#: ``beta -> 1`` into an exponential, which are separate models with fewer parameters.
BETA_RANGE = (0.05, 0.95)

MODEL_NAMES = ("power", "stretched_exp", "stretched_exp_half", "exp", "log", "bounded")
#: models compared by default. The free-``beta`` stretched exponential is opt-in:
#: with three parameters it nests the power law (``beta -> 0``) and the
#: exponential (``beta -> 1``) and, on deterministic theory curves, wins on their
#: pre-asymptotic curvature alone (on ``J = 1 + 0.3 l``, l = 1..199, it beats the
#: exact asymptotic power law with ``beta = 0.14``). It is reported as a
#: diagnostic (``beta_free``) when the fixed-``beta`` model is selected.
DEFAULT_MODELS = ("bounded", "power", "log", "stretched_exp_half", "exp")
# (order breaks exact BIC ties, e.g. a constant profile that every model fits: simplest law first)

REGIME = {"power": "critical", "stretched_exp": "subcritical", "stretched_exp_half": "subcritical",
          "log": "logarithmic", "bounded": "bounded"}


@dataclass
class ModelFit:
    """One model fitted on one window.

    Attributes:
        name: key of :data:`MODEL_NAMES`.
        theta: internal parameters (see :func:`fit_model`).
        cov: their covariance (``sigma^2 (J^T W J)^-1``).
        rss: weighted residual sum of squares in log space.
        k: number of free parameters.
        resid: weighted residuals.
    """

    name: str
    theta: np.ndarray
    cov: np.ndarray
    rss: float
    k: int
    resid: np.ndarray


def _design(name: str, l: np.ndarray, beta: float = 0.5) -> np.ndarray:
    one = np.ones_like(l)
    if name == "power":
        return np.stack([one, np.log(l)], axis=1)
    if name == "exp":
        return np.stack([one, l], axis=1)
    if name == "stretched_exp_half":
        return np.stack([one, np.sqrt(l)], axis=1)
    if name == "stretched_exp":
        return np.stack([one, l ** beta], axis=1)
    raise KeyError(name)


def _basis(name: str, l: np.ndarray) -> np.ndarray:
    """``g(l)`` of the models linear in ``y``: ``y = a + c g(l)``."""
    return np.log(l) if name == "log" else 1.0 / l


def _wls(X: np.ndarray, y: np.ndarray, sw: np.ndarray):
    """Weighted least squares with ``sw = sqrt(weights)``: ``(theta, rss, (X^T W X)^-1, weighted residuals)``."""
    A = X * sw[:, None]
    b = y * sw
    theta, *_ = np.linalg.lstsq(A, b, rcond=None)
    r = b - A @ theta
    return theta, float(r @ r), np.linalg.pinv(A.T @ A), r


def predict(name: str, theta: np.ndarray, l: np.ndarray) -> np.ndarray:
    """``log y`` of model ``name`` at layers ``l``."""
    l = np.asarray(l, float)
    if name == "stretched_exp":
        return theta[0] + theta[1] * l ** theta[2]
    if name in ("log", "bounded"):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(np.maximum(theta[0] + theta[1] * _basis(name, l), 1e-300))
    return _design(name, l) @ theta


#: largest ``|log y|`` (and spread of ``log y``) for which the laws linear in ``y`` (log,
#: bounded) are fitted; beyond it they get an infinite residual and are never selected
LINEAR_LIMIT = 700.0


def fit_model(name: str, l: np.ndarray, logy: np.ndarray, sw: np.ndarray) -> ModelFit:
    """Weighted least-squares fit of one model in log space.

    Args:
        name: one of :data:`MODEL_NAMES`.
        l: layers (``>= 1``).
        logy: ``log y``.
        sw: square roots of the weights (``1 / stderr(log y)``).

    Internal parameters ``theta``: power ``(log a, zeta)``; exp ``(log a, 1/xi)``;
    stretched_exp_half ``(log a, b)``; stretched_exp ``(log a, b, beta)``;
    log and bounded ``(a, c)``. ``cov`` is ``(J^T W J)^-1`` (not yet
    scaled by a residual variance).
    """
    l = np.asarray(l, float)
    if name in ("power", "exp", "stretched_exp_half"):
        X = _design(name, l)
        theta, rss, cov, r = _wls(X, logy, sw)
        return ModelFit(name, theta, cov, rss, X.shape[1], r)
    if name == "stretched_exp":
        def prof(beta):
            return _wls(_design("stretched_exp", l, beta), logy, sw)[1]

        grid = np.linspace(*BETA_RANGE, 19)
        vals = [prof(b) for b in grid]
        i = int(np.argmin(vals))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        res = optimize.minimize_scalar(prof, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
        beta = float(res.x) if res.fun <= vals[i] else float(grid[i])
        (la, b), rss, _, r = _wls(_design("stretched_exp", l, beta), logy, sw)
        theta = np.array([la, b, beta])
        J = np.stack([np.ones_like(l), l ** beta, b * l ** beta * np.log(l)], axis=1) * sw[:, None]
        return ModelFit(name, theta, np.linalg.pinv(J.T @ J), rss, 3, r)
    if name in ("log", "bounded"):
        if np.max(np.abs(logy)) > LINEAR_LIMIT or np.ptp(logy) > LINEAR_LIMIT:
            # y (or y relative to its largest value) beyond the float range: a law linear in y cannot be fitted
            return ModelFit(name, np.full(2, np.nan), np.full((2, 2), np.nan), np.inf, 2, np.full(l.size, np.nan))
        y = np.exp(logy)
        X = np.stack([np.ones_like(l), _basis(name, l)], axis=1)
        # linear-space start: d log y = dy / y, so weights (sw y)^2
        ys = y / np.max(y)  # scale-free start (weights (sw y)^-2 overflow for tiny y)
        wy = sw / ys
        theta0 = _wls(X, ys, wy / np.max(wy))[0] * np.max(y)
        if np.any(X @ theta0 <= 0):
            theta0 = np.array([float(np.min(y)), 0.0])

        def resid(th):
            return (predict(name, th, l) - logy) * sw

        sol = optimize.least_squares(resid, theta0, method="lm" if l.size > 2 else "trf")
        r = -sol.fun
        J = sol.jac
        return ModelFit(name, sol.x, np.linalg.pinv(J.T @ J), float(r @ r), 2, r)
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")


@np.errstate(over="ignore")  # a prefactor beyond the float range is reported as inf
def report_params(name: str, theta: np.ndarray) -> dict:
    """User-facing parameters (the ``FitResult.params`` contract)."""
    if name == "power":
        return {"a": float(np.exp(theta[0])), "zeta": float(theta[1])}
    if name == "exp":
        return {"a": float(np.exp(theta[0])), "xi": float(1.0 / theta[1]) if theta[1] != 0 else float("inf")}
    if name == "stretched_exp_half":
        b = float(theta[1])
        return {"a": float(np.exp(theta[0])), "b": b, "beta": 0.5, "lam": 1.0 / b ** 2 if b else float("inf")}
    if name == "stretched_exp":
        return {"a": float(np.exp(theta[0])), "b": float(theta[1]), "beta": float(theta[2])}
    if name == "log":
        return {"a": float(theta[0]), "c": float(theta[1])}
    if name == "bounded":
        return {"a": float(theta[0]), "c": float(theta[1])}
    raise KeyError(name)


def regime(name: str, theta: np.ndarray) -> str:
    """Regime of a fitted model: exp splits into ordered (decay) and chaotic (growth); a
    stretched exponential with ``b < 0`` decays, which is ordered too (``lam = 1/b^2`` alone
    would hide the sign: ``b`` carries it)."""
    if name == "exp":
        return "chaotic" if theta[1] > 0 else "ordered"
    if name in ("stretched_exp", "stretched_exp_half") and theta[1] < 0:
        return "ordered"
    return REGIME[name]


def reported_model(name: str) -> str:
    return "stretched_exp" if name == "stretched_exp_half" else name
