"""Bidirectional softmax attention on permutation-symmetric tokens.

Scores ``(W_Q x_a).(W_K x_b)/sqrt(d_head)``, no mask, no positional encoding,
``n`` tokens, any number of heads. With ``sQK = (sigma_Q sigma_K)^2`` and
``sOV = (sigma_O sigma_V)^2`` (Cowsik et al. 2024; Alekseev 2026):

``Eq = exp(sQK qt (pt - qt))``, ``Ep = exp(sQK pt (pt - qt))``,
``dq = sOV (qt + (n-1) pt Eq) / (1 + (n-1) Eq)``,
``dp = sOV (qt + (n-1) pt Ep) / (1 + (n-1) Ep)``,
``dchi = sOV qh / (1 + (n-1) Eq)``.

``1/(1 + (n-1) Eq)`` is the mean of ``sum_b A_ab^2``; the chi formula keeps
the value path only (the path through the softmax is what the Monte-Carlo
checks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import NormStats


@dataclass(frozen=True, eq=False)
class AttentionBranch:
    sigma_q: object = 1.0
    sigma_k: object = 1.0
    sigma_v: object = 1.0
    sigma_o: object = 1.0
    n_tokens: int = 8
    heads: int = 1

    def mean_field(self, s: NormStats, need_p: bool = True):
        if s.pt is None:
            raise ValueError("attention needs the cross-token covariance p (need_p=True)")
        sqk = (np.asarray(self.sigma_q, float) * np.asarray(self.sigma_k, float)) ** 2
        sov = (np.asarray(self.sigma_o, float) * np.asarray(self.sigma_v, float)) ** 2
        n1 = self.n_tokens - 1
        eq = np.exp(sqk * s.qt * (s.pt - s.qt))
        ep = np.exp(sqk * s.pt * (s.pt - s.qt))
        dq = sov * (s.qt + n1 * s.pt * eq) / (1 + n1 * eq)
        dp = sov * (s.qt + n1 * s.pt * ep) / (1 + n1 * ep)
        return dq, dp, sov * s.qh / (1 + n1 * eq)
