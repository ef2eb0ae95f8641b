"""What every block shares: the normalized-input statistics and the residual wrapper.

A residual sublayer is ``h' = mu h + f(Norm(h))`` (pre-norm) or
``h' = Norm(mu h + f(h))`` (post-norm). A branch ``f`` sees the moments of its
input (:class:`NormStats`) and returns its increments ``(dq, dp, dchi)``; at
infinite width the cross terms between ``h`` and ``f`` vanish (zero-mean
weights independent of ``h``), so
``q' = mu^2 q + dq``, ``p' = mu^2 p + dp``, ``chi = mu^2 + dchi``.

Jacobian tangents (the APJN) carry two moments, like the activations: the
per-token ``jq = E|dh_a|^2/d`` and the cross-token ``jp = E[dh_a.dh_b]/d``.
Isotropic probes start with ``jp = 0``, and without attention it stays 0, so
``chi`` is all one needs. Attention mixes tokens and creates ``jp``, which
then feeds back into ``jq``; with ``cross=True`` a branch returns instead of
``dchi`` the four coefficients of the linear map
``(djq, djp) = [[a_qq, a_qp], [a_pq, a_pp]] (jq, jp)`` (``a_qq = dchi``), and
:meth:`Residual.step` returns the sublayer's full 2x2 tangent map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..normalizers import NormParams, Normalizer, get_normalizer


@dataclass(frozen=True, eq=False)
class NormStats:
    """Moments of a branch input: raw ``(q, p)``, normalized ``(qt, pt)`` and ``qh``.

    ``norm``/``params`` are kept so that a branch applying a pointwise function
    directly to a non-Gaussian normalized input can integrate over the raw
    Gaussian ``h`` instead (toy dense branch).
    """

    q: np.ndarray
    p: np.ndarray | None
    qt: np.ndarray
    pt: np.ndarray | None
    qh: np.ndarray
    norm: Normalizer
    params: NormParams
    #: cross-token tangent factor ``E[dN(h_a) . dN(h_b)]/d`` per unit of ``jp`` (``cross=True`` only)
    ph: np.ndarray | None = None


def normalize(norm: Normalizer, params: NormParams, q, p, need_p: bool, cross: bool = False) -> NormStats:
    qt, pt, qh = norm.maps(q, p if need_p else None, params, need_p=need_p, check=False)
    ph = norm.deriv_kernel(q, p, params) if cross else None
    return NormStats(q, p, qt, pt, qh, norm, params, ph)


@dataclass(frozen=True, eq=False)
class Residual:
    """A residual sublayer around ``branch`` with normalizer ``norm``.

    Attributes:
        branch: object with ``mean_field(stats, need_p) -> (dq, dp, dchi)``.
        norm: normalizer name or record.
        params: normalizer parameters (alpha, shift, eps, block index).
        mu: weight of the skip path (1 for standard residual networks).
        placement: ``"pre"`` (``h + f(Norm h)``) or ``"post"`` (``Norm(h + f(h))``).
    """

    branch: object
    norm: object = "layernorm"
    params: NormParams = NormParams()
    mu: object = 1.0
    placement: str = "pre"

    def increments(self, q, p, need_p: bool = True, cross: bool = False):
        """Branch increments ``(dq, dp, dchi)`` of a pre-norm sublayer, without round-off.

        ``q' = mu^2 q + dq`` etc.; asymptotic analyses at huge ``q`` need the
        increments themselves rather than ``q' - q``. With ``cross=True``
        ``dchi`` is the tangent-map increment ``(a_qq, a_qp, a_pq, a_pp)``.
        """
        if self.placement != "pre":
            raise ValueError("increments are defined for pre-norm sublayers")
        norm = get_normalizer(self.norm)
        return self.branch.mean_field(normalize(norm, self.params, q, p, need_p, cross), need_p, cross=cross)

    def step(self, q, p, need_p: bool = True, cross: bool = False):
        """One sublayer of the recurrence: ``(q, p) -> (q', p', chi)``.

        With ``cross=True`` (needs ``p``) the third item is the tangent map
        ``(m_qq, m_qp, m_pq, m_pp)``: ``jq' = m_qq jq + m_qp jp``, ``jp' = m_pq jq + m_pp jp``.
        """
        norm = get_normalizer(self.norm)
        mu2 = np.asarray(self.mu, dtype=float) ** 2
        if cross and not need_p:
            raise ValueError("cross-token tangents need p (need_p=True)")
        if self.placement == "pre":
            dq, dp, dchi = self.branch.mean_field(normalize(norm, self.params, q, p, need_p, cross), need_p,
                                                  cross=cross)
            qn, pn = mu2 * q + dq, (mu2 * p + dp) if need_p else None
            if cross:
                a_qq, a_qp, a_pq, a_pp = dchi
                return qn, pn, (mu2 + a_qq, a_qp, a_pq, mu2 + a_pp)
            return qn, pn, mu2 + dchi
        ident = get_normalizer("identity")
        dq, dp, dchi = self.branch.mean_field(normalize(ident, self.params, q, p, need_p, cross), need_p,
                                              cross=cross)
        qm, pm = mu2 * q + dq, np.clip(mu2 * p + dp, -(mu2 * q + dq), mu2 * q + dq) if need_p else None
        # a grid point the branch lost (nan: solve(..., overflow="nan")) passes the normalizer as a finite state
        lost = ~np.isfinite(qm) | (~np.isfinite(pm) if need_p else False)
        if np.any(lost):
            qm = np.where(lost, 1.0, qm)
            pm = np.where(lost, 0.0, pm) if need_p else None
        after = normalize(norm, self.params, qm, pm, need_p, cross)
        if cross:
            a_qq, a_qp, a_pq, a_pp = dchi
            out = after.qt, after.pt, ((mu2 + a_qq) * after.qh, a_qp * after.qh,
                                       a_pq * after.ph, (mu2 + a_pp) * after.ph)
        else:
            out = after.qt, after.pt, (mu2 + dchi) * after.qh
        if not np.any(lost):
            return out
        nan = lambda x: None if x is None else np.where(lost, np.nan, x)  # noqa: E731
        return nan(out[0]), nan(out[1]), tuple(map(nan, out[2])) if cross else nan(out[2])

    # -- finite width ---------------------------------------------------------
    def weight_specs(self, d: int) -> dict:
        """The branch's weights: ``name -> (shape, std)``."""
        return self.branch.weight_specs(d)

    def forward(self, weights: dict, h, params: NormParams | None = None, xp=None):
        """Finite-width sublayer on tokens ``h`` of shape ``(..., n, d)``.

        Pre-norm ``mu h + f(Norm(h))``, post-norm ``Norm(mu h + f(h))``.
        ``params`` (default: the declaration's) may hold traced values, e.g. a
        per-layer LNS block index inside a JAX scan.
        """
        norm = get_normalizer(self.norm)
        params = self.params if params is None else params
        if self.placement == "pre":
            return self.mu * h + self.branch.forward(weights, norm.apply(h, params, xp), xp)
        return norm.apply(self.mu * h + self.branch.forward(weights, h, xp), params, xp)
