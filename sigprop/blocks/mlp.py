"""MLP branch ``f(x) = W2 phi(W1 x)`` (hidden width ``ratio * d``).

``W1 ~ N(0, sigma_1^2/d)``, ``W2 ~ N(0, sigma_2^2/(ratio d))``. At infinite
width ``z = W1 x`` is Gaussian with variance ``sigma_1^2 qt`` and covariance
``sigma_1^2 pt`` whatever the law of ``x`` (a sum over ``d`` units), so

``dq = sigma_2^2 E[phi(z)^2]``, ``dp = sigma_2^2 E[phi(z_a) phi(z_b)]``,
``dchi = sigma_1^2 sigma_2^2 E[phi'(z)^2] qh``

(ReLU: ``dq = s21 qt/2``, ``dp = s21 qt kappa(pt/qt)``, ``dchi = s21 qh/2``).
Cross-token tangents pass token by token: ``djp = s21 E[phi'(z_a) phi'(z_b)] ph jp``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activations import get_activation
from .base import NormStats


@dataclass(frozen=True, eq=False)
class MLPBranch:
    sigma_1: object = 1.0
    sigma_2: object = 1.0
    activation: str = "relu"
    ratio: int = 4

    def mean_field(self, s: NormStats, need_p: bool = True, cross: bool = False):
        act = get_activation(self.activation)
        s1 = np.asarray(self.sigma_1, float) ** 2
        s2 = np.asarray(self.sigma_2, float) ** 2
        m2, dm = act.moments(s1 * s.qt)
        dp = s2 * act.kernel(s1 * s.qt, s1 * s.pt) if need_p else None
        dchi = s1 * s2 * dm * s.qh
        if cross:
            a_pp = s1 * s2 * act.deriv_kernel(s1 * s.qt, s1 * s.pt) * s.ph
            zero = np.zeros(np.broadcast_shapes(np.shape(dchi), np.shape(a_pp)))
            dchi = (dchi + zero, zero, zero, a_pp + zero)
        return s2 * m2, dp, dchi

    # -- finite width ---------------------------------------------------------
    def weight_specs(self, d: int) -> dict:
        """``name -> (shape, std)``: ``W1`` ``(d, r d)``, std ``sigma_1/sqrt(d)``; ``W2`` ``(r d, d)``,
        std ``sigma_2/sqrt(r d)``."""
        h = self.ratio * d
        return {"w1": ((d, h), np.asarray(self.sigma_1, float) / np.sqrt(d)),
                "w2": ((h, d), np.asarray(self.sigma_2, float) / np.sqrt(h))}

    def forward(self, weights: dict, x, xp):
        """``phi(x @ W1) @ W2`` for tokens ``x`` of shape ``(..., n, d)`` (weights already scaled)."""
        return get_activation(self.activation).fn(x @ weights["w1"], xp) @ weights["w2"]
