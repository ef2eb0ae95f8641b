"""Pointwise functions and their Gaussian moments: one registry.

An :class:`Activation` is a scalar function ``phi`` written once as
``fn(u, xp)`` (so the theory evaluates it with NumPy and the Monte-Carlo with
JAX) together with its three Gaussian moments, which are all the mean-field
theory needs of it:

* ``second_moment(q) = E[phi(u)^2]``,            ``u ~ N(0, q)``
* ``kernel(q, p)     = E[phi(u1) phi(u2)]``,      ``(u1, u2) ~ N(0, [[q, p], [p, q]])``
* ``deriv_moment(q)  = E[phi'(u)^2]``;
* ``deriv_kernel(q, p) = E[phi'(u1) phi'(u2)]`` (cross-token covariance of
  Jacobian tangents, needed only where attention correlates them).

Closed forms are used where known (identity, ReLU arc-cosine kernel of Cho &
Saul 2009, erf of Williams 1997, exact GELU ``u Phi(u)`` by orthant moments:
``derivations/gelu_kernel.py``); every other function falls back to
quadrature (:mod:`sigprop.gaussian`), with the derivative by a five-point
finite-difference stencil when none is given. The same objects serve as
hidden activations of MLP branches and, scaled as ``phi(alpha h + shift)``, as
pointwise normalizers (DyT = tanh, Derf = erf).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline

from . import gaussian
from .arrays import NP

_TABLE_LOGZ = (np.log(1e-10), np.log(1e10))
_TABLE_STEP = 0.01


def arccos_kernel(r):
    """ReLU arc-cosine kernel ``kappa(r) = (sqrt(1 - r^2) + r (pi - arccos r)) / (2 pi)``.

    ``E[relu(u1) relu(u2)] = q kappa(p/q)`` (Cho & Saul 2009).
    """
    r = np.clip(np.asarray(r, dtype=float), -1.0, 1.0)
    return (np.sqrt(1.0 - r * r) + r * (np.pi - np.arccos(r))) / (2.0 * np.pi)


def _five_point(fn: Callable, kinks: tuple = ()) -> Callable:
    """Five-point finite-difference derivative of ``fn``; one-sided (away from the kink) within
    ``2.5 h`` of a declared kink, so that no stencil straddles one."""
    def d(u, xp=NP):
        h = 1e-3 * np.maximum(1.0, np.abs(u))
        central = (-fn(u + 2 * h, xp) + 8 * fn(u + h, xp) - 8 * fn(u - h, xp) + fn(u - 2 * h, xp)) / (12 * h)
        if not kinks:
            return central
        k = np.asarray(kinks, dtype=float)
        gap = np.asarray(u, dtype=float)[..., None] - k  # (..., kinks)
        nearest = np.take_along_axis(gap, np.argmin(np.abs(gap), axis=-1)[..., None], axis=-1)[..., 0]
        step = np.where(nearest >= 0, h, -h)  # forward when the kink is at or below u, else backward
        one_sided = (-25 * fn(u, xp) + 48 * fn(u + step, xp) - 36 * fn(u + 2 * step, xp)
                     + 16 * fn(u + 3 * step, xp) - 3 * fn(u + 4 * step, xp)) / (12 * step)
        return np.where(np.abs(nearest) < 2.5 * h, one_sided, central)

    return d


@dataclass(frozen=True, eq=False)
class Activation:
    """A pointwise function with its Gaussian moments.

    Attributes:
        name: registry name.
        fn: ``fn(u, xp)``; ``xp`` is :data:`sigprop.arrays.NP` or the JAX namespace.
        dfn: derivative ``dfn(u, xp)``; ``None`` uses finite differences (NumPy).
        second_moment, kernel, deriv_moment, deriv_kernel, mean: closed forms (``*_cf``), or ``None``
            for quadrature.
        scale: feature scale handed to the quadrature rule (``None``: Gauss–Hermite).
        bounded: ``phi`` saturates to constants at +-infinity (tanh-like).
        kinks: positions ``u`` where ``phi`` or ``phi'`` is not smooth (hardtanh: -1, 1;
            softsign: 0): the 1-D moments are then integrated piecewise
            (:func:`sigprop.gaussian.expect_piecewise`, exponentially convergent), the 2-D
            kernels by :func:`sigprop.gaussian.expect2_piecewise`, and the
            finite-difference derivative is one-sided next to a kink. ``relu`` declares 0
            (its own moments are closed forms; the kink matters for ``relu`` after a
            pointwise normalizer, :func:`sigprop.blocks.dense.composite_kinks`).
    """

    name: str
    fn: Callable
    dfn: Callable | None = None
    second_moment_cf: Callable | None = None
    kernel_cf: Callable | None = None
    deriv_moment_cf: Callable | None = None
    scale: float | None = 1.0
    bounded: bool = False
    description: str = ""
    deriv_kernel_cf: Callable | None = None
    mean_cf: Callable | None = None
    kinks: tuple = ()
    _cache: dict = field(default_factory=dict, repr=False)

    # -- derivative ---------------------------------------------------------
    def derivative(self, u, xp=NP):
        """``phi'(u)`` (given, or a five-point stencil)."""
        d = self.dfn if self.dfn is not None else _five_point(self.fn, self.kinks)
        return d(u, xp)

    def width(self, alpha=1.0):
        """Width of the feature of ``phi(alpha h + shift)`` in ``h``: ``scale / alpha`` (``1 / alpha``
        for Gauss-Hermite functions, ``scale=None``)."""
        return (1.0 if self.scale is None else self.scale) / np.asarray(alpha, dtype=float)

    def expect(self, g: Callable, q):
        """``E[g(u)]``, ``u ~ N(0, q)``, by the rule suited to ``phi`` (piecewise across its kinks)."""
        if self.kinks:
            return gaussian.expect_piecewise(g, q, np.asarray(self.kinks, dtype=float), scale=self.scale)
        return gaussian.expect(g, q, scale=self.scale)

    @property
    def limits(self) -> tuple[float, float]:
        """``(phi(-inf), phi(+inf))`` for bounded functions (evaluated at +-1e3)."""
        lo, hi = self.fn(np.array([-1e3, 1e3]), NP)
        return float(lo), float(hi)

    @property
    def has_closed_forms(self) -> bool:
        return None not in (self.second_moment_cf, self.kernel_cf, self.deriv_moment_cf)

    # -- moments ------------------------------------------------------------
    def second_moment(self, q, *, fast: bool = True):
        """``E[phi(u)^2]`` for ``u ~ N(0, q)``."""
        if self.second_moment_cf is not None:
            return self.second_moment_cf(np.asarray(q, dtype=float))
        if fast:
            return self.moments(q)[0]
        return self.expect(lambda u: self.fn(u, NP) ** 2, q)

    def deriv_moment(self, q, *, fast: bool = True):
        """``E[phi'(u)^2]`` for ``u ~ N(0, q)``."""
        if self.deriv_moment_cf is not None:
            return self.deriv_moment_cf(np.asarray(q, dtype=float))
        if fast:
            return self.moments(q)[1]
        return self.expect(lambda u: self.derivative(u, NP) ** 2, q)

    def kernel(self, q, p):
        """``E[phi(u1) phi(u2)]`` for covariance ``[[q, p], [p, q]]``.

        Bounded functions use :func:`sigprop.gaussian.expect2_bounded` (any
        ``q``); others a tensor rule, and the conditional rule at large ``q``
        (see ``_unbounded_kernel``).
        """
        if self.kernel_cf is not None:
            return self.kernel_cf(np.asarray(q, dtype=float), np.asarray(p, dtype=float))
        f = lambda u: self.fn(u, NP)  # noqa: E731
        if self.kinks:
            return gaussian.expect2_piecewise(f, q, p, np.asarray(self.kinks, dtype=float), scale=self.scale)
        if self.bounded:
            lo, hi = self.limits
            return gaussian.expect2_bounded(f, q, p, scale=self.scale, lo=lo, hi=hi)
        return self._unbounded_kernel(f, q, p)

    def _unbounded_kernel(self, f, q, p):
        """``E[f(u1) f(u2)]`` for ``f`` with a step-like feature of width ``scale`` at 0 (silu, silu'):
        :func:`sigprop.gaussian.expect2_feature` (the sinh-mapped tensor rule while
        ``q <= gaussian.TENSOR_REACH scale^2``, the conditional rule cut at 0 beyond; silu's kernel was
        2e-7 off at q = 100 and 3e-4 at q = 1000 with the tensor rule alone, and 4e-5 at q = 20
        with Gauss-Hermite). ``scale=None``: Gauss-Hermite (60 nodes per axis).
        """
        if self.scale is None:
            return gaussian.expect2(f, None, q, p, nodes=60)
        return gaussian.expect2_feature(f, q, p, scale=self.scale)

    def mean(self, q):
        """``E[phi(u)]`` for ``u ~ N(0, q)`` (closed form, or quadrature)."""
        q = np.asarray(q, dtype=float)
        if self.mean_cf is not None:
            return self.mean_cf(q)
        return self.expect(lambda u: self.fn(u, NP), q)

    def deriv_kernel(self, q, p):
        """``E[phi'(u1) phi'(u2)]`` for covariance ``[[q, p], [p, q]]`` (closed form or quadrature)."""
        if self.deriv_kernel_cf is not None:
            return self.deriv_kernel_cf(np.asarray(q, dtype=float), np.asarray(p, dtype=float))
        d = lambda u: self.derivative(u, NP)  # noqa: E731
        if self.kinks:
            return gaussian.expect2_piecewise(d, q, p, np.asarray(self.kinks, dtype=float), scale=self.scale)
        if self.bounded:  # phi' is localized at 0: the sinh-mapped tensor rule clusters its nodes there
            return gaussian.expect2(d, None, q, p, scale=self.scale)
        return self._unbounded_kernel(d, q, p)  # phi' step-like (silu': 0 -> 1)

    def moments(self, q):
        """``(E[phi^2], E[phi'^2])`` together; quadrature functions use a cached table.

        Both moments depend on ``q`` alone, so for functions without closed
        forms they are tabulated once by quadrature on a uniform grid in
        ``t = log q`` over ``[1e-10, 1e10]`` (step 0.01) and interpolated by a
        cubic spline in ``t`` (relative error ~1e-10, checked in the tests);
        ``q`` outside the table uses direct quadrature.
        """
        q = np.asarray(q, dtype=float)
        if self.second_moment_cf is not None and self.deriv_moment_cf is not None:
            return self.second_moment(q), self.deriv_moment(q)
        t0, coef = self._table()
        n = coef.shape[1]
        with np.errstate(divide="ignore"):
            x = (np.log(q) - t0) * (1.0 / _TABLE_STEP)
        inside = (x >= 0) & (x <= n)
        all_inside = bool(inside.all())
        if not all_inside:
            x = np.where(inside, x, 0.0)
        idx = x.astype(np.intp)
        idx = np.minimum(idx, n - 1)
        dt = x - idx
        c = np.take(coef, idx, axis=1)  # (8, *shape), contiguous rows
        m2 = c[0] * dt
        for j in (1, 2):
            m2 += c[j]
            m2 *= dt
        m2 += c[3]
        dm = c[4] * dt
        for j in (5, 6):
            dm += c[j]
            dm *= dt
        dm += c[7]
        if not all_inside:  # direct quadrature on the entries outside the table only
            out = ~np.broadcast_to(inside, m2.shape)
            qo = np.broadcast_to(q, m2.shape)[out]
            m2, dm = np.array(m2, copy=True), np.array(dm, copy=True)
            m2[out] = self.second_moment(qo, fast=False)
            dm[out] = self.deriv_moment(qo, fast=False)
        return m2, dm

    def _table(self):
        """Cubic-spline coefficients per cell, rescaled to a unit step: shape ``(8, N)``."""
        if "table" not in self._cache:
            t = np.arange(_TABLE_LOGZ[0], _TABLE_LOGZ[1] + _TABLE_STEP / 2, _TABLE_STEP)
            z = np.exp(t)
            y = np.stack([self.second_moment(z, fast=False), self.deriv_moment(z, fast=False)], axis=-1)
            c = CubicSpline(t, y, axis=0).c  # (4, N-1, 2), highest power first
            powers = _TABLE_STEP ** np.arange(3, -1, -1)[:, None, None]
            c = (c * powers).transpose(1, 2, 0).reshape(-1, 8).T
            self._cache["table"] = (t[0], np.ascontiguousarray(c))
        return self._cache["table"]


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------
_REGISTRY: dict[str, Activation] = {}


def register_activation(act: Activation) -> Activation:
    """Add an activation to the registry (its name must be new)."""
    if act.name in _REGISTRY:
        raise ValueError(f"activation {act.name!r} is already registered")
    _REGISTRY[act.name] = act
    return act


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name; raises ``ValueError`` listing the known names."""
    if isinstance(name, Activation):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def available_activations() -> list[str]:
    return sorted(_REGISTRY)


def pointwise(name: str, fn: Callable, dfn: Callable | None = None, *, scale: float | None = 1.0,
              bounded: bool = False, register: bool = True, description: str = "", kinks=()) -> Activation:
    """Declare a user pointwise function ``fn(u, xp)``; moments come from quadrature.

    ``kinks``: positions where ``fn`` or its derivative is not smooth (see :class:`Activation`);
    declare them, or the quadrature across a kink converges only algebraically (1e-3 .. 2e-2).
    """
    kinks = tuple(sorted(float(k) for k in np.atleast_1d(np.asarray(kinks, dtype=float))))
    if not all(np.isfinite(kinks)):
        raise ValueError(f"kinks must be finite numbers, got {kinks!r}")
    act = Activation(name=name, fn=fn, dfn=dfn, scale=scale, bounded=bounded, description=description,
                     kinks=kinks)
    return register_activation(act) if register else act


def _relu_kernel(q, p):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(q > 0, p / np.where(q > 0, q, 1.0), 0.0)
    return q * arccos_kernel(r)


def _relu_dkernel(q, p):
    # E[1{u1 > 0} 1{u2 > 0}] = (pi - arccos r) / (2 pi)  (orthant probability)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.clip(np.where(q > 0, p / np.where(q > 0, q, 1.0), 1.0), -1.0, 1.0)
    return (np.pi - np.arccos(r)) / (2.0 * np.pi)


def _erf_dkernel(q, p):
    # (4/pi) E[exp(-u1^2 - u2^2)] = (4/pi) det(I + 2 Sigma)^(-1/2)
    return (4 / np.pi) / np.sqrt((1 + 2 * q) ** 2 - 4 * p * p)


def _erf_m2(q):
    return (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q))


def _erf_kernel(q, p):
    return (2 / np.pi) * np.arcsin(2 * p / (1 + 2 * q))


def _erf_dm(q):
    return (4 / np.pi) / np.sqrt(1 + 4 * q)


# GELU phi(u) = u Phi(u); derivation and mpmath checks in derivations/gelu_kernel.py.  With c = 1 + q and
# D = (c - p)(c + p) = det(I + Sigma) >= 1 + 2q >= 1 (so no denominator vanishes, q = 0 included), the
# orthant angle theta = pi/2 + arcsin(p/c) = atan2(sqrt D, -p) in [0, pi] and S = sin theta = sqrt(D)/c:
#   E[phi phi]   = [ (q+p)^2 (theta + S) / (2(c+p)) - (q-p)^2 (theta - S) / (2(c-p)) + p theta / D ] / (2 pi)
#   E[phi' phi'] = [ theta + 2 p / (c sqrt D) + p / D^(3/2) ] / (2 pi)
# As rho -> -1 at large q (theta -> 0) the first term vanishes with (q + p)^2 and the other two are both
# negative, so nothing cancels (theta - sin(theta) by its series there), whereas the textbook form
# p theta / (2 pi) + [...] / (2 pi c D^(3/2)) cancels to O(q^-1/2) out of O(q).  Square roots are taken
# factor by factor so that no intermediate overflows below q ~ 1e300.
def _theta_minus_sin(t):
    """``t - sin t`` without cancellation for small ``t`` (Taylor series below 0.5)."""
    t = np.asarray(t, dtype=float)
    t2 = t * t
    series = t * t2 / 6.0 * (1.0 - t2 / 20.0 * (1.0 - t2 / 42.0 * (1.0 - t2 / 72.0 * (
        1.0 - t2 / 110.0 * (1.0 - t2 / 156.0 * (1.0 - t2 / 210.0))))))
    return np.where(t < 0.5, series, t - np.sin(t))


def _gelu_parts(q, p):
    q, p = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(p, dtype=float))
    c = 1.0 + q
    cm, cp = 1.0 + (q - p), 1.0 + (q + p)  # c - p, c + p, each >= 1 (no cancellation at rho = +-1)
    sd = np.sqrt(cm) * np.sqrt(cp)  # sqrt(D)
    theta = np.arctan2(sd, -p)
    return q, p, c, cm, cp, sd, theta


def _gelu_m2(q):
    q = np.asarray(q, dtype=float)
    s = np.sqrt(1.0 + 2.0 * q)
    theta = np.arctan2(s, -q)
    return q * theta / (2 * np.pi) + q * (q / (1.0 + q)) / (np.pi * s)


def _gelu_kernel(q, p):
    q, p, c, cm, cp, sd, theta = _gelu_parts(q, p)
    S = sd / c
    plus = (q + p) * ((q + p) / cp) * (theta + S)
    minus = (q - p) * ((q - p) / cm) * _theta_minus_sin(theta)  # theta - S = theta - sin(theta)
    return (0.5 * (plus - minus) + (p / cm) / cp * theta) / (2 * np.pi)


def _gelu_dm(q):
    q = np.asarray(q, dtype=float)
    s = np.sqrt(1.0 + 2.0 * q)
    theta = np.arctan2(s, -q)
    w = q / s
    return (theta + 2.0 * w / (1.0 + q) + w / (1.0 + 2.0 * q)) / (2 * np.pi)


def _gelu_dkernel(q, p):
    q, p, c, cm, cp, sd, theta = _gelu_parts(q, p)
    w = p / sd
    return (theta + 2.0 * w / c + (w / sd) / sd) / (2 * np.pi)


def _gelu_mean(q):
    # Stein: E[u Phi(u)] = q E[N(u)] = q / sqrt(2 pi (1 + q))
    q = np.asarray(q, dtype=float)
    return q / np.sqrt(2 * np.pi) / np.sqrt(1.0 + q)


register_activation(Activation(
    "identity", lambda u, xp: u, lambda u, xp: xp.ones_like(u),
    lambda q: q, lambda q, p: p + 0 * q, lambda q: np.ones_like(q),
    description="phi(u) = u", deriv_kernel_cf=lambda q, p: np.ones(np.broadcast_shapes(np.shape(q), np.shape(p))),
    mean_cf=np.zeros_like))
register_activation(Activation(
    "relu", lambda u, xp: xp.maximum(u, 0.0), lambda u, xp: (u > 0) * 1.0,
    lambda q: q / 2, _relu_kernel, lambda q: 0.5 + 0 * q,
    description="max(u, 0); arc-cosine kernel (Cho & Saul 2009)", deriv_kernel_cf=_relu_dkernel,
    mean_cf=lambda q: np.sqrt(q / (2.0 * np.pi)), kinks=(0.0,)))
register_activation(Activation(
    "erf", lambda u, xp: xp.erf(u), lambda u, xp: 2 / np.sqrt(np.pi) * xp.exp(-u * u),
    _erf_m2, _erf_kernel, _erf_dm, bounded=True,
    description="erf(u); arcsine kernel (Williams 1997)", deriv_kernel_cf=_erf_dkernel, mean_cf=np.zeros_like))
register_activation(Activation(
    "tanh", lambda u, xp: xp.tanh(u), lambda u, xp: 1 - xp.tanh(u) ** 2, bounded=True,
    description="tanh(u); quadrature", mean_cf=np.zeros_like))
register_activation(Activation(
    "gelu", lambda u, xp: 0.5 * u * (1 + xp.erf(u / np.sqrt(2.0))),
    lambda u, xp: 0.5 * (1 + xp.erf(u / np.sqrt(2.0))) + u * xp.exp(-0.5 * u * u) / np.sqrt(2 * np.pi),
    _gelu_m2, _gelu_kernel, _gelu_dm,
    description="u Phi(u) (exact GELU); closed forms (orthant moments)", deriv_kernel_cf=_gelu_dkernel,
    mean_cf=_gelu_mean))
register_activation(Activation(
    "silu", lambda u, xp: u * 0.5 * (1 + xp.tanh(0.5 * u)),
    lambda u, xp: 0.5 * (1 + xp.tanh(0.5 * u)) + u * 0.25 * (1 - xp.tanh(0.5 * u) ** 2),
    description="u sigmoid(u); quadrature"))
