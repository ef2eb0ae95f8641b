"""Bidirectional softmax attention on permutation-symmetric tokens.

Scores ``(W_Q x_a).(W_K x_b)/sqrt(d_head)``, no mask, no positional encoding,
``n`` tokens, any number of heads; ``sQK = (sigma_Q sigma_K)^2``,
``sOV = (sigma_O sigma_V)^2``, normalized-input moments ``qt``, ``pt``, ``qh``.
At infinite width the score row of a query is ``n`` i.i.d. Gaussian logits of
variance ``v = sQK qt (qt - pt)`` (plus a part shared by all keys, which the
softmax removes), so with the exact softmax moments of
:mod:`sigprop.softmax` — ``S2 = E sum_b A_ab^2``, ``S3 = E sum_b A_ab^3``,
``S22 = E (sum_b A_ab^2)^2`` and, for two queries, ``T = E sum_b A_ab A_cb``:

``dq = sOV (pt + (qt - pt) S2)``,
``dp = sOV (pt + (qt - pt) T)``,
``dchi = sOV qh [S2 + sQK (qt - pt)(2 qt - pt)(S2 - 2 S3 + S22)]``.

The first term of ``dchi`` is the value path; the second is the path through
the softmax, which does **not** vanish at infinite width: a unit tangent moves
every score by ``O(1)`` (``d`` terms of size ``1/sqrt(d)``), with covariance
``sQK qh (pt + (2 qt - pt) delta_bb')`` over keys, and
``E sum_b dA_ab^2 = sQK qh (2 qt - pt)(S2 - 2 S3 + S22)`` once the shared part
cancels. Both paths are checked against finite-width networks in the tests.
Tangents with a cross-token covariance ``jp`` (created by attention itself)
enter as ``jqx = qh jq``, ``jpx = ph jp``; the value path gives
``sOV (S2 jqx + (1 - S2) jpx)`` to ``jq`` and ``sOV (T jqx + (1 - T) jpx)`` to
``jp``; the softmax path moves the scores with key-specific variance
``D = sQK ((2 qt - pt) jqx - qt jpx)`` within a row and cross-row covariance
``D' = sQK ((qt - pt) jpx + pt (jqx - jpx))``, adding
``sOV (qt - pt) D (S2 - 2 S3 + S22)`` to ``jq`` and
``sOV (qt - pt) D' (T - 2 U + V)`` to ``jp`` (``U``, ``V`` from
:func:`sigprop.softmax.softmax_pair_moments`).
The closed forms ``S2 ~ 1/(1 + (n-1) exp(-v))``, ``T ~ 1/(1 + (n-1) exp(-sQK pt (qt - pt)))``
with a value-path-only chi (Cowsik et al. 2024; docs/theory.md) are the first-order
approximation in ``sQK``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..softmax import out_of_reach, softmax_moments, softmax_pair_moments
from .base import NormStats


@dataclass(frozen=True, eq=False)
class AttentionBranch:
    sigma_q: object = 1.0
    sigma_k: object = 1.0
    sigma_v: object = 1.0
    sigma_o: object = 1.0
    n_tokens: int = 8
    heads: int = 1
    #: finite-width forward only: stop gradients through the softmax weights, so
    #: the Jacobian keeps the value path alone (the path the mean-field chi keeps).
    value_path_only: bool = False

    def mean_field(self, s: NormStats, need_p: bool = True, cross: bool = False):
        if s.pt is None:
            raise ValueError("attention needs the cross-token covariance p (need_p=True)")
        sqk = (np.asarray(self.sigma_q, float) * np.asarray(self.sigma_k, float)) ** 2
        sov = (np.asarray(self.sigma_o, float) * np.asarray(self.sigma_v, float)) ** 2
        n = self.n_tokens
        qt, pt, qh = np.broadcast_arrays(s.qt, s.pt, s.qh)
        gap = np.clip(qt - pt, 0.0, None)  # qt - pt >= 0 up to round-off
        var = sqk * qt * gap
        far = out_of_reach(n, var)  # raises, unless solve(..., overflow="nan") marks those points lost
        if np.any(far):
            return tuple(_lost(x, far) for x in self.mean_field(_finite_stats(s, far), need_p, cross))
        s2, s3, s22 = softmax_moments(n, var)
        dq = sov * (pt + gap * s2)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.clip(np.where(qt > 0, pt / np.where(qt > 0, qt, 1.0), 1.0), -1.0, 1.0)
        t, u, w = softmax_pair_moments(n, var, rho, higher=cross)
        dp = sov * (pt + gap * t)
        c1 = s2 - 2.0 * s3 + s22
        dchi = sov * qh * (s2 + sqk * gap * (2.0 * qt - pt) * c1)
        if not cross:
            return dq, dp, dchi
        c2 = t - 2.0 * u + w
        ph = s.ph
        a_qp = sov * ph * ((1.0 - s2) - sqk * gap * qt * c1)
        a_pq = sov * qh * (t + sqk * gap * pt * c2)
        a_pp = sov * ph * ((1.0 - t) + sqk * gap * (qt - 2.0 * pt) * c2)
        return dq, dp, (dchi, a_qp, a_pq, a_pp)

    # -- finite width ---------------------------------------------------------
    def weight_specs(self, d: int) -> dict:
        """``name -> (shape, std)``: four ``(d, d)`` matrices, std ``sigma/sqrt(d)`` each."""
        sd = np.sqrt(d)
        return {"wq": ((d, d), np.asarray(self.sigma_q, float) / sd),
                "wk": ((d, d), np.asarray(self.sigma_k, float) / sd),
                "wv": ((d, d), np.asarray(self.sigma_v, float) / sd),
                "wo": ((d, d), np.asarray(self.sigma_o, float) / sd)}

    def forward(self, weights: dict, x, xp):
        """Multi-head bidirectional softmax attention on tokens ``x`` of shape ``(..., n, d)``.

        Head ``h`` scores ``(x W_Q)_h . (x W_K)_h / sqrt(d_head)`` (no mask, no
        positional encoding), softmax over keys, output ``concat_h(A_h x W_V) W_O``.
        """
        *lead, n, d = x.shape
        H = self.heads
        dh = d // H

        def split(y):  # (..., n, d) -> (..., H, n, dh)
            return y.reshape(*lead, n, H, dh).swapaxes(-2, -3)

        q, k, v = split(x @ weights["wq"]), split(x @ weights["wk"]), split(x @ weights["wv"])
        s = (q @ k.swapaxes(-1, -2)) / np.sqrt(dh)
        a = xp.softmax(s, axis=-1)
        if self.value_path_only:
            import jax

            a = jax.lax.stop_gradient(a)
        o = (a @ v).swapaxes(-2, -3).reshape(*lead, n, d)
        return o @ weights["wo"]


def _finite_stats(s: NormStats, far) -> NormStats:
    """``s`` with the entries ``far`` replaced by a cheap state (``qt = pt = 0``: logit variance 0)."""
    return dataclasses.replace(s, qt=np.where(far, 0.0, s.qt), pt=np.where(far, 0.0, s.pt))


def _lost(x, far):
    """``nan`` at the entries ``far`` (a tuple of tangent maps: each of them)."""
    if isinstance(x, tuple):
        return tuple(_lost(y, far) for y in x)
    return np.where(far, np.nan, x)
