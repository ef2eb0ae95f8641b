"""Finite-width Monte-Carlo in JAX: the independent check of the mean-field theory.

Networks are built from the same declarations as the theory
(:mod:`sigprop.architectures`), with each block's finite-width forward pass
living beside its mean-field map in :mod:`sigprop.blocks`. This package never
imports :mod:`sigprop.theory`; the two meet in :mod:`sigprop.validation` and
the tests.

>>> from sigprop import preset
>>> from sigprop.montecarlo import simulate
>>> res = simulate(preset("toy", depth=16), width=128, samples=8)
>>> res.mean("log_apjn")[-1], res.stderr("log_apjn")[-1]
"""

from .engine import LOSS, MCResult, measure, simulate
from .inputs import symmetric_tokens, user_inputs
from .network import Network, Sweep

__all__ = ["LOSS", "MCResult", "Network", "Sweep", "measure", "simulate", "symmetric_tokens", "user_inputs"]
