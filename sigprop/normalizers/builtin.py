"""The built-in normalizers (one entry each).

Closed forms at infinite width (docs/theory.md; derived in ``derivations/``):

* identity: ``qt = q``, ``pt = p``, ``qh = 1``;
* LayerNorm/RMSNorm (gain 1, bias 0, epsilon ``eps``): the per-token mean over
  units vanishes at infinite width, so both give
  ``qt = q/(q + eps)``, ``pt = p/(q + eps)``, ``qh = 1/(q + eps)``;
* LNS (Sun et al. 2025, LayerNorm output times ``1/sqrt(b)``, ``b`` the
  1-based block index): the LayerNorm maps divided by ``b``;
* DyT ``tanh(alpha h + shift)`` (Zhu et al. 2025) and Derf
  ``erf(alpha h + shift)`` (Chen et al. 2025): the moments of tanh / erf at
  variance ``alpha^2 q`` (erf in closed form at ``shift = 0``).
"""

from __future__ import annotations

import numpy as np

from ..activations import get_activation
from .base import Normalizer


def _identity_maps(q, p, params):
    return q, p, np.ones_like(q)


def _ln_maps(q, p, params):
    den = q + np.asarray(params.eps, dtype=float)
    return q / den, None if p is None else p / den, 1.0 / den


def _lns_maps(q, p, params):
    qt, pt, qh = _ln_maps(q, p, params)
    b = float(params.block)
    return qt / b, None if pt is None else pt / b, qh / b


def _layernorm(x, params, xp):
    return xp.standardize(x, params.eps, True)  # (x - mean x) / sqrt(var x + eps), last axis


def _rmsnorm(x, params, xp):
    return xp.standardize(x, params.eps, False)  # x / sqrt(mean x^2 + eps), last axis


def _lns(x, params, xp):
    # ``block ** -0.5`` (not ``float(block)``) so a traced per-layer index works inside a JAX scan
    return _layernorm(x, params, xp) * (params.block * 1.0) ** -0.5


def pointwise_apply(act, tangent_rule: bool = False):
    """Finite-width forward of ``act(alpha x + shift)``.

    ``tangent_rule`` (built-ins): evaluated as ``xp.affine_pointwise(act.fn)``, which under JAX
    carries the tangent rule ``alpha phi'(u) x' + ...`` (:mod:`sigprop.arrays`). User functions
    keep JAX's differentiation of their operations (it needs no promise that they are pointwise).
    """

    def apply(x, params, xp):
        if tangent_rule:
            return xp.affine_pointwise(act.fn)(x, params.alpha, params.shift)
        return act.fn(params.alpha * x + params.shift, xp)

    return apply


BUILTIN = [
    Normalizer("identity", "vector", lambda x, params, xp: x, _identity_maps,
               description="no normalization (Norm(h) = h)"),
    Normalizer("layernorm", "vector", _layernorm, _ln_maps, scale_invariant=True,
               description="LayerNorm, gain 1, bias 0, epsilon `eps`"),
    Normalizer("rmsnorm", "vector", _rmsnorm, _ln_maps, scale_invariant=True,
               description="RMSNorm, gain 1, epsilon `eps`"),
    Normalizer("lns", "vector", _lns, _lns_maps, scale_invariant=True,
               description="LayerNorm Scaling: LayerNorm / sqrt(block index) (Sun et al. 2025)"),
    Normalizer("dyt", "pointwise", pointwise_apply(get_activation("tanh"), tangent_rule=True),
               activation=get_activation("tanh"),
               description="Dynamic Tanh tanh(alpha h + shift) (Zhu et al. 2025); quadrature"),
    Normalizer("derf", "pointwise", pointwise_apply(get_activation("erf"), tangent_rule=True),
               activation=get_activation("erf"),
               description="Dynamic erf erf(alpha h + shift) (Chen et al. 2025); closed form at shift = 0"),
]
