"""Normalizer registry: adding a normalizer is one :func:`register_normalizer` call.

>>> from sigprop.normalizers import get_normalizer, NormParams
>>> qt, pt, qh = get_normalizer("derf").maps(1.0, 0.4, NormParams(alpha=0.5))
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..activations import Activation, pointwise
from .base import Normalizer, NormParams
from .builtin import BUILTIN, pointwise_apply

_REGISTRY: dict[str, Normalizer] = {}


def register_normalizer(norm: Normalizer) -> Normalizer:
    """Add a normalizer to the registry (its name must be new)."""
    if norm.name in _REGISTRY:
        raise ValueError(f"normalizer {norm.name!r} is already registered")
    _REGISTRY[norm.name] = norm
    return norm


def get_normalizer(name: str | Normalizer) -> Normalizer:
    """Look up a normalizer; unknown names raise ``ValueError`` listing the known ones."""
    if isinstance(name, Normalizer):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown normalizer {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def available_normalizers() -> list[str]:
    return sorted(_REGISTRY)


def pointwise_normalizer(name: str, fn: Callable | Activation, dfn: Callable | None = None, *,
                         bounded: bool = True, description: str = "", kinks=()) -> Normalizer:
    """Register a user pointwise normalizer ``fn(alpha h + shift)``.

    Args:
        name: new registry name.
        fn: ``fn(u, xp)`` written with the array namespace ``xp`` (works in
            NumPy and JAX), or an existing :class:`~sigprop.activations.Activation`.
        dfn: its derivative ``dfn(u, xp)``; ``None`` uses finite differences in
            the theory (the Monte-Carlo differentiates ``fn`` with JAX).
        bounded: ``fn`` saturates at +-infinity (tanh-like); enables the
            saturating 2-D quadrature.
        kinks: positions ``u`` where ``fn`` or its derivative is not smooth
            (softsign ``u/(1+|u|)``: ``(0,)``; hardtanh ``clip(u, -1, 1)``: ``(-1, 1)``).

    Accuracy: the theory's Gaussian moments of ``fn`` come from quadrature, which
    converges exponentially for smooth functions (tanh-like: ~1e-10) but only
    algebraically across an undeclared kink or jump. Measured without ``kinks``:
    softsign's ``E[phi'^2]`` is 1e-3 .. 6e-3 off for ``q = 1 .. 1e4``, hardtanh's
    0.6-1.9%, its cross-token kernels ``pt`` and ``ph`` 2e-4 .. 5%. With ``kinks`` the 1-D
    maps (``qt``, ``qh``: q and the APJN) are integrated piecewise to ~1e-12, and the 2-D
    kernels by :func:`sigprop.gaussian.expect2_piecewise` to ~1e-11 (hardtanh, tested
    against closed-form/quad references; ~10 ms per grid point). Unbounded smooth functions
    (``bounded=False``, e.g. ``asinh``) get their 2-D kernels from
    :func:`sigprop.gaussian.expect2_feature` (~1e-12, ~20 ms per grid point once
    ``alpha^2 q > 16``).
    """
    if name in _REGISTRY:
        raise ValueError(f"normalizer {name!r} is already registered")
    act = fn if isinstance(fn, Activation) else pointwise(
        f"pointwise:{name}", fn, dfn, bounded=bounded, register=False, description=description, kinks=kinks)
    if act.bounded:
        _check_saturates(name, act)
    return register_normalizer(Normalizer(name, "pointwise", pointwise_apply(act), activation=act,
                                          description=description or f"user pointwise {name}(alpha h + shift)"))


def _check_saturates(name: str, act: Activation) -> None:
    """``bounded=True`` promises limits at +-infinity, read at +-1e3 by the quadrature: refuse
    functions that still grow there (``u``, ``u**3``, ``tanh(u / 1e4)``)."""
    u = np.array([-1e4, -1e3, 1e3, 1e4])
    with np.errstate(all="ignore"):
        f = np.asarray(act.fn(u, np), float)
    grows = not np.all(np.isfinite(f)) or any(abs(f[far]) > 1.01 * abs(f[near]) + 1e-12
                                                for far, near in ((0, 1), (3, 2)))
    if grows:
        raise ValueError(f"normalizer {name!r}: bounded=True needs fn to saturate by |u| = 1e3 "
                         f"(fn(+-1e3) = {f[1]:.4g}, {f[2]:.4g}; fn(+-1e4) = {f[0]:.4g}, {f[3]:.4g}); "
                         "declare it with bounded=False")


for _n in BUILTIN:
    register_normalizer(_n)

__all__ = ["Normalizer", "NormParams", "register_normalizer", "get_normalizer", "available_normalizers",
           "pointwise_normalizer"]
