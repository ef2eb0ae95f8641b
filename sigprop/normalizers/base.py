"""The :class:`Normalizer` record and the maps it provides to the theory.

A normalizer acts on each token before a residual branch (pre-norm) or on the
sum after it (post-norm). At infinite width it is described by three maps of
the pre-normalization per-unit moments ``(q, p)`` (docs/theory.md, "Normalizer
maps"): ``qt = E[Norm(h_a)^2]``, ``pt = E[Norm(h_a) Norm(h_b)]`` and the
derivative factor ``qh = E||dNorm/dh||_F^2 / d``.

Two kinds exist:

* ``"vector"`` normalizers act on the whole token vector (identity, LayerNorm,
  RMSNorm, LNS) and carry closed-form maps;
* ``"pointwise"`` normalizers are ``phi(alpha h + shift)`` for an
  :class:`~sigprop.activations.Activation` ``phi`` (DyT = tanh, Derf = erf,
  user functions). Their maps are the activation's Gaussian moments at
  variance ``alpha^2 q`` when ``shift = 0`` (closed form or tabulated
  quadrature), and direct quadrature otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import gaussian
from ..activations import Activation
from ..arrays import NP


@dataclass(frozen=True, eq=False)
class NormParams:
    """Parameters a normalizer may read; arrays broadcast over a grid.

    Attributes:
        alpha: input scale of pointwise normalizers (``alpha > 0``).
        shift: input shift of pointwise normalizers (Derf's ``s``).
        eps: LayerNorm/RMSNorm epsilon added to the variance.
        block: 1-based transformer block index (LNS scales by ``1/sqrt(block)``).
    """

    alpha: object = 1.0
    shift: object = 0.0
    eps: object = 0.0
    block: int = 1


def _check_moments(q, p, params: NormParams) -> None:
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError(f"q must be finite and >= 0, got {q!r}")
    if p is not None:
        p = np.asarray(p, dtype=float)
        if not np.all(np.isfinite(p)) or np.any(np.abs(p) > q * (1 + 1e-12)):
            raise ValueError(f"p must be finite with |p| <= q, got q={q!r}, p={p!r}")
    alpha = np.asarray(params.alpha, dtype=float)
    if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError(f"alpha must be finite and > 0, got {params.alpha!r}")
    eps = np.asarray(params.eps, dtype=float)
    if not np.all(np.isfinite(eps)) or np.any(eps < 0):
        raise ValueError(f"eps must be finite and >= 0, got {params.eps!r}")


@dataclass(frozen=True, eq=False)
class Normalizer:
    """One registry entry.

    Attributes:
        name: registry name (``--set normalizer=NAME``).
        kind: ``"vector"`` or ``"pointwise"``.
        apply: finite-width forward ``apply(x, params, xp)`` over the last axis.
        maps_cf: closed form ``(q, p, params) -> (qt, pt, qh)`` (vector kind).
        activation: the pointwise function (pointwise kind).
        scale_invariant: ``Norm(c h) = Norm(h)`` for ``c > 0`` (at ``eps = 0``).
        description: one line for the README and ``--help``.
    """

    name: str
    kind: str
    apply: Callable
    maps_cf: Callable | None = None
    activation: Activation | None = None
    scale_invariant: bool = False
    description: str = ""

    def __post_init__(self):
        if self.kind not in ("vector", "pointwise"):
            raise ValueError(f"normalizer kind must be 'vector' or 'pointwise', got {self.kind!r}")
        if self.kind == "vector" and self.maps_cf is None:
            raise ValueError(f"vector normalizer {self.name!r} needs closed-form maps")
        if self.kind == "pointwise" and self.activation is None:
            raise ValueError(f"pointwise normalizer {self.name!r} needs an activation")

    # ------------------------------------------------------------------
    def maps(self, q, p, params: NormParams, *, need_p: bool = True, check: bool = True):
        """``(qt, pt, qh)`` at pre-normalization moments ``(q, p)``.

        ``pt`` is ``None`` when ``need_p`` is false (single-input recurrences).

        Raises:
            ValueError: ``q`` negative or not finite, ``|p| > q``, ``alpha <= 0``
                or ``eps < 0`` (``check=False`` skips this for the solver, whose
                declarations are validated once and whose iterates are checked
                for finiteness every sublayer).
        """
        q = np.asarray(q, dtype=float)
        if check:
            _check_moments(q, p, params)
        if self.kind == "vector":
            return self.maps_cf(q, None if p is None else np.asarray(p, dtype=float), params)
        act = self.activation
        alpha = np.asarray(params.alpha, dtype=float)
        shift = np.asarray(params.shift, dtype=float)
        a2 = alpha * alpha
        if np.all(shift == 0):
            m2, dm = act.moments(a2 * q)
            pt = act.kernel(a2 * q, a2 * p) if (need_p and p is not None) else None
            return m2, pt, a2 * dm
        return self._maps_shifted(q, p, alpha, shift, need_p)

    def deriv_kernel(self, q, p, params: NormParams):
        """``ph = E[dNorm(h_a)/dh_a . dNorm(h_b)/dh_b]`` per unit: how the cross-token covariance of
        Jacobian tangents passes the normalizer (``jp -> ph jp``, as ``jq -> qh jq``).

        Vector normalizers act on each token with a Jacobian ``c (I - O(1/d) projections)``, so at
        infinite width ``ph = qh``; pointwise ones give ``alpha^2 E[phi'(alpha h_a + s) phi'(alpha h_b + s)]``.
        """
        q = np.asarray(q, dtype=float)
        p = np.asarray(p, dtype=float)
        if self.kind == "vector":
            return self.maps_cf(q, None, params)[2] + 0.0 * p
        act = self.activation
        alpha = np.asarray(params.alpha, dtype=float)
        shift = np.asarray(params.shift, dtype=float)
        if np.all(shift == 0):
            a2 = alpha * alpha
            return a2 * act.deriv_kernel(a2 * q, a2 * p)
        q, p, alpha, shift = np.broadcast_arrays(q, p, alpha, shift)  # the rules' grid axes lead
        a2 = alpha * alpha
        d_at = lambda h, a, s: act.derivative(a * h + s, NP)  # noqa: E731  (grid values as arguments)
        if act.kinks:
            return a2 * gaussian.expect2_piecewise(d_at, q, p, _breaks(act, alpha, shift), args=(alpha, shift),
                                                   scale=1.0 / alpha)
        if not act.bounded:  # phi' need not die out away from its feature (asinh': 1/|u|, silu': a step)
            return a2 * gaussian.expect2_feature(d_at, q, p, scale=act.width(alpha), center=-shift / alpha,
                                                 args=(alpha, shift))
        a1, s1 = alpha[..., None], shift[..., None]
        d = lambda h: act.derivative(a1 * h + s1, NP)  # noqa: E731
        return a2 * gaussian.expect2(d, None, q, p, scale=1.0 / alpha)

    def _maps_shifted(self, q, p, alpha, shift, need_p):
        act = self.activation
        if p is None:
            q, alpha, shift = np.broadcast_arrays(q, alpha, shift)
        else:
            q, p, alpha, shift = np.broadcast_arrays(q, p, alpha, shift)
        a1, s1 = alpha[..., None], shift[..., None]
        scale = 1.0 / alpha
        f = lambda h: act.fn(a1 * h + s1, NP)  # noqa: E731
        f_at = lambda h, a, s: act.fn(a * h + s, NP)  # noqa: E731  (grid values as arguments)
        center = -shift / alpha  # where the feature sits: the sinh nodes cluster there
        d2 = lambda h: act.derivative(a1 * h + s1, NP) ** 2  # noqa: E731
        if act.kinks:  # piecewise between the kinks
            breaks = _breaks(act, alpha, shift)
            qt = gaussian.expect_piecewise(lambda h: f(h) ** 2, q, breaks, scale=scale)
            qh = alpha ** 2 * gaussian.expect_piecewise(d2, q, breaks, scale=scale)
        else:
            qt = gaussian.expect(lambda h: f(h) ** 2, q, scale=scale, center=center)
            qh = alpha ** 2 * gaussian.expect(d2, q, scale=scale, center=center)
        pt = None
        if need_p and p is not None:
            if act.kinks:
                pt = gaussian.expect2_piecewise(f_at, q, p, breaks, args=(alpha, shift), scale=scale)
            elif act.bounded:
                lo, hi = act.limits
                pt = gaussian.expect2_bounded(f, q, p, scale=scale, lo=lo, hi=hi)
            else:  # unbounded: the feature at -shift/alpha is not localized (Gauss-Hermite was 1% off)
                pt = gaussian.expect2_feature(f_at, q, p, scale=act.width(alpha), center=center, args=(alpha, shift))
        return qt, pt, qh


def _breaks(act, alpha, shift) -> np.ndarray:
    """The kinks of ``act`` in ``h`` (``alpha h + shift = u_k``), shape ``(*grid, K)``."""
    return (np.asarray(act.kinks) - np.asarray(shift)[..., None]) / np.asarray(alpha)[..., None]
