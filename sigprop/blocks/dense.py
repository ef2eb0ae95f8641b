"""Dense blocks: the toy residual branch of Doshi et al. and the plain layer.

* :class:`DenseBranch` — ``f(x) = W phi(x) + b`` used as
  ``h' = mu h + W phi(Norm(h)) + b`` (Doshi, He, Gromov 2023, eq. for the
  residual network with LayerNorm), ``W_ij ~ N(0, sigma_w2/d)``,
  ``b_i ~ N(0, sigma_b2)``.
* :class:`PlainDense` — ``h' = phi(W h + b)`` or its residual form
  ``h' = h + phi(W h + b)`` (the PlainMLP / ResMLP of seed 003).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from .. import gaussian
from ..activations import Activation, get_activation
from ..arrays import NP
from .base import NormStats


@lru_cache(maxsize=64)
def composite_kinks(act: Activation, nact: Activation) -> np.ndarray:
    """Where ``act(nact(u))`` or its derivative is not smooth, in ``u``: the kinks of ``nact``, and
    the ``u`` where ``nact(u)`` crosses a kink of ``act`` (``relu(tanh(u))``: ``u = 0``). Crossings are
    sign changes of ``nact(u) - kink`` on a grid of ``|u|`` from 1e-6 to 1e6 (both signs, and 0),
    refined by ``brentq``; touching without crossing, plateaus at the kink's value (``tanh(u) = 1``
    in float64 beyond 19) and underflow to it are not crossings.
    """
    out = list(nact.kinks)
    if act.kinks:
        mag = np.geomspace(1e-6, 1e6, 2401)
        u = np.concatenate([-mag[::-1], [0.0], mag])
        with np.errstate(all="ignore"):
            y = np.asarray(nact.fn(u, NP), dtype=float)
        for v in act.kinks:
            sign = np.sign(y - v)
            nz = np.flatnonzero(sign != 0)
            for i, j in zip(nz[:-1], nz[1:]):  # neighbouring nonzero signs, exact zeros between
                if sign[i] == sign[j]:
                    continue
                if j == i + 1:
                    out.append(brentq(lambda t: float(nact.fn(np.array(t), NP)) - v, u[i], u[j], xtol=1e-300,
                                      rtol=4 * np.finfo(float).eps))
                else:  # crosses through exact zeros: one point, or the ends of a flat run
                    out += [u[i + 1], u[j - 1]]
    return np.unique(np.asarray(out, dtype=float))


@dataclass(frozen=True, eq=False)
class DenseBranch:
    """``W phi(x) + b``: ``dq = sw2 E[phi(x)^2] + sb2``, ``dchi = sw2 E[phi'(x)^2] qh``.

    For a Gaussian normalized input (vector normalizers) ``x ~ N(0, qt)``. For
    pointwise normalizers ``x = N(h)`` is not Gaussian, so with a non-identity
    ``phi`` the expectations run over ``h ~ N(0, q)`` of ``phi(N(h))`` and
    ``(phi o N)'(h)^2``.
    """

    sigma_w2: object = 1.0
    sigma_b2: object = 0.0
    activation: str = "identity"

    def mean_field(self, s: NormStats, need_p: bool = True, cross: bool = False):
        act = get_activation(self.activation)
        sw2, sb2 = np.asarray(self.sigma_w2, float), np.asarray(self.sigma_b2, float)
        if act.name == "identity":
            m2, k, dm = s.qt, s.pt, s.qh
        elif s.norm.kind == "vector":
            m2, dm = act.moments(s.qt)
            dm = dm * s.qh
            k = act.kernel(s.qt, s.pt) if need_p else None
        else:  # phi(pointwise normalizer): integrate over the raw Gaussian h
            nact = s.norm.activation
            a = np.asarray(s.params.alpha, float)[..., None]
            sh = np.asarray(s.params.shift, float)[..., None]
            # psi = phi o N and psi', with alpha and shift as arguments (the rules that split the grid
            # pass them restricted to their points), and bound to the whole grid
            psi_at = lambda h, al, sf: act.fn(nact.fn(al * h + sf, NP), NP)  # noqa: E731
            dpsi_at = lambda h, al, sf: (act.derivative(nact.fn(al * h + sf, NP))  # noqa: E731
                                         * al * nact.derivative(al * h + sf))
            psi = lambda h: psi_at(h, a, sh)  # noqa: E731
            dpsi = lambda h: dpsi_at(h, a, sh)  # noqa: E731
            scale = 1.0 / np.asarray(s.params.alpha, float)
            center = -np.asarray(s.params.shift, float) * scale  # where nact's feature sits, in h
            kinks = composite_kinks(act, nact)
            breaks = (kinks - sh) / a if kinks.size else None  # where psi or psi' is not smooth, in h
            k = None
            args = (s.params.alpha, s.params.shift)
            if breaks is not None:  # piecewise between them (a rule across a jump of psi' converges slowly)
                m2 = gaussian.expect_piecewise(lambda h: psi(h) ** 2, s.q, breaks, scale=scale)
                dm = gaussian.expect_piecewise(lambda h: dpsi(h) ** 2, s.q, breaks, scale=scale)
                if need_p:
                    k = gaussian.expect2_piecewise(psi_at, s.q, s.p, breaks, args=args, scale=scale)
            else:
                m2 = gaussian.expect(lambda h: psi(h) ** 2, s.q, scale=scale)
                dm = gaussian.expect(lambda h: dpsi(h) ** 2, s.q, scale=scale)
                if need_p and nact.bounded:  # psi saturates: the tensor rule misses its oblique feature lines
                    lo, hi = (float(v) for v in act.fn(np.array(nact.limits), NP))
                    k = gaussian.expect2_bounded(psi, s.q, s.p, scale=scale, lo=lo, hi=hi)
                elif need_p:  # psi grows away from its feature, which the tensor rule follows only nearby
                    k = gaussian.expect2_feature(psi_at, s.q, s.p, scale=nact.width(s.params.alpha), center=center,
                                                 args=args)
        dq = sw2 * m2 + sb2
        dp = sw2 * k + sb2 if need_p else None
        if cross:  # tangents pass token by token: djp = sw2 E[psi'(h_a) psi'(h_b)] jp
            if act.name == "identity":
                kd = s.ph
            elif s.norm.kind == "vector":
                kd = act.deriv_kernel(s.qt, s.pt) * s.ph
            elif breaks is not None:
                kd = gaussian.expect2_piecewise(dpsi_at, s.q, s.p, breaks, args=args, scale=scale)
            elif nact.bounded:  # psi' dies out away from the feature
                kd = gaussian.expect2(dpsi, None, s.q, s.p, scale=scale)
            else:
                kd = gaussian.expect2_feature(dpsi_at, s.q, s.p, scale=nact.width(s.params.alpha), center=center,
                                              args=args)
            zero = np.zeros(np.broadcast_shapes(np.shape(dm), np.shape(kd), np.shape(sw2)))
            return dq, dp, (sw2 * dm + zero, zero, zero, sw2 * kd + zero)
        return dq, dp, sw2 * dm

    # -- finite width ---------------------------------------------------------
    def weight_specs(self, d: int) -> dict:
        """Weights of one finite-width branch: ``name -> (shape, std)``, std = sigma/sqrt(fan_in).

        ``W`` is ``(d, d)`` with variance ``sigma_w2/d``; ``b`` is ``(d,)`` with variance ``sigma_b2``.
        """
        return {"w": ((d, d), np.sqrt(np.asarray(self.sigma_w2, float) / d)),
                "b": ((d,), np.sqrt(np.asarray(self.sigma_b2, float)))}

    def forward(self, weights: dict, x, xp):
        """``phi(x) @ W + b`` for tokens ``x`` of shape ``(..., n, d)`` (weights already scaled)."""
        return get_activation(self.activation).fn(x, xp) @ weights["w"] + weights["b"]


@dataclass(frozen=True, eq=False)
class PlainDense:
    """``h' = [h +] phi(W h + b)`` with ``z = W h + b ~ N(0, sw2 q + sb2)``.

    ``q' = [q +] E[phi(z)^2]``, ``p' = [p +] E[phi(z_a) phi(z_b)]`` and
    ``chi = [1 +] sw2 E[phi'(z)^2]`` (plain ReLU: ``chi = sw2/2``).

    The residual form has no zero-mean matrix after ``phi``, so each unit of
    ``h`` acquires a mean ``m`` (the same for every unit and token:
    ``m' = m + E[phi(z)]``, ReLU: ``E[phi(z)] = sqrt(qz / (2 pi))``) and the skip
    path and the branch are correlated through it:
    ``q' = q + 2 m E[phi(z)] + E[phi(z)^2]``, ``p' = p + 2 m E[phi(z)] + E[phi(z_a) phi(z_b)]``
    (``z`` itself is centred: ``W`` has zero mean). The solver carries ``m``
    (:attr:`tracks_mean`); inputs are taken to have zero mean per unit.
    """

    sigma_w2: object = 2.0
    sigma_b2: object = 0.0
    activation: str = "relu"
    residual: bool = False

    @property
    def tracks_mean(self) -> bool:
        """The solver must carry the per-unit mean ``m`` (residual form)."""
        return self.residual

    def step(self, q, p, need_p: bool = True, cross: bool = False, m=0.0):
        """``(q, p) -> (q', p', chi)``; with ``tracks_mean`` pass ``m`` and get ``(q', p', chi, m')``."""
        if cross:
            raise ValueError("plain dense layers keep tokens independent; cross-token tangents are not needed")
        act = get_activation(self.activation)
        sw2, sb2 = np.asarray(self.sigma_w2, float), np.asarray(self.sigma_b2, float)
        qz = sw2 * q + sb2
        m2, dm = act.moments(qz)
        chi = sw2 * dm
        pn = act.kernel(qz, sw2 * p + sb2) if need_p else None
        if self.residual:
            mz = act.mean(qz)
            cross_term = 2.0 * m * mz
            return (q + cross_term + m2, (p + cross_term + pn) if need_p else None, 1.0 + chi, m + mz)
        return m2, pn, chi

    # -- finite width ---------------------------------------------------------
    def weight_specs(self, d: int) -> dict:
        """``name -> (shape, std)``: ``W`` ``(d, d)`` with variance ``sigma_w2/d``, ``b`` with ``sigma_b2``."""
        return {"w": ((d, d), np.sqrt(np.asarray(self.sigma_w2, float) / d)),
                "b": ((d,), np.sqrt(np.asarray(self.sigma_b2, float)))}

    def forward(self, weights: dict, h, params=None, xp=NP):
        """``[h +] phi(h @ W + b)`` on tokens ``h`` of shape ``(..., n, d)`` (``params`` unused)."""
        z = get_activation(self.activation).fn(h @ weights["w"] + weights["b"], xp)
        return h + z if self.residual else z
