"""Blocks: one file per block type, each holding its mean-field map.

* :mod:`.dense` — toy residual branch ``W phi(x) + b`` and the plain layer;
* :mod:`.mlp` — ``W2 phi(W1 x)``;
* :mod:`.attention` — bidirectional softmax attention;
* :mod:`.base` — the residual wrapper (pre/post-norm) shared by all branches.
"""

from .attention import AttentionBranch
from .base import NormStats, Residual
from .dense import DenseBranch, PlainDense
from .mlp import MLPBranch

__all__ = ["AttentionBranch", "DenseBranch", "MLPBranch", "NormStats", "PlainDense", "Residual"]
