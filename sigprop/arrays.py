"""Array namespaces: one pointwise function serves NumPy (theory) and JAX (Monte-Carlo).

Pointwise functions in sigprop are written as ``fn(u, xp)`` where ``xp`` is a
namespace offering NumPy-style functions plus ``erf``. The theory passes
:data:`NP`; the Monte-Carlo engine passes :func:`jax_namespace`.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import special


def _namespace(mod, erf) -> SimpleNamespace:
    names = ["tanh", "exp", "sqrt", "maximum", "minimum", "where", "abs", "log",
             "sin", "cos", "cosh", "sinh", "arctan", "arcsinh", "log1p", "expm1", "power",
             "sign", "clip", "zeros_like",
             "ones_like", "square", "mean", "sum", "pi"]
    ns = {k: getattr(mod, k) for k in names}
    ns["erf"] = erf
    ns["name"] = mod.__name__
    return SimpleNamespace(**ns)


#: NumPy namespace (with ``scipy.special.erf``).
NP = _namespace(np, special.erf)


def jax_namespace() -> SimpleNamespace:
    """The same namespace over ``jax.numpy`` (imported lazily)."""
    import jax.numpy as jnp
    from jax.scipy import special as jspecial

    return _namespace(jnp, jspecial.erf)
