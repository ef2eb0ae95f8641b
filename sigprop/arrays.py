"""Array namespaces: one pointwise function serves NumPy (theory) and JAX (Monte-Carlo).

Pointwise functions in sigprop are written as ``fn(u, xp)`` where ``xp`` is a
namespace offering NumPy-style functions plus ``erf``, ``softmax`` and ``affine_pointwise``. The theory passes
:data:`NP`; the Monte-Carlo engine passes :func:`jax_namespace`.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
from scipy import special


def _softmax_np(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _affine_pointwise_np(fn):
    return lambda x, alpha, shift: fn(alpha * x + shift, NP)


def _standardized(mod, x, eps, center):
    """``(c / s, s)``: ``c = x - mean(x)`` (or ``x``), ``s = sqrt(mean(c^2) + eps)`` over the last axis."""
    c = x - mod.mean(x, axis=-1, keepdims=True) if center else x
    s = mod.sqrt(mod.mean(c * c, axis=-1, keepdims=True) + eps)
    return c / s, s


def _standardize_np(x, eps, center=True):
    return _standardized(np, x, eps, center)[0]


def _namespace(mod, erf, softmax, affine_pointwise, standardize) -> SimpleNamespace:
    names = ["tanh", "exp", "sqrt", "maximum", "minimum", "where", "abs", "log",
             "sin", "cos", "cosh", "sinh", "arctan", "arcsinh", "log1p", "expm1", "power",
             "sign", "clip", "zeros_like",
             "ones_like", "square", "mean", "sum", "pi"]
    ns = {k: getattr(mod, k) for k in names}
    ns["erf"] = erf
    ns["softmax"] = softmax  # over an axis, with the row maximum subtracted first
    # affine_pointwise(fn)(x, alpha, shift) = fn(alpha x + shift, xp), fn pointwise (JAX: with its tangent rule)
    ns["affine_pointwise"] = affine_pointwise
    # standardize(x, eps, center) = LayerNorm (center=True) or RMSNorm over the last axis (JAX: with its tangent rule)
    ns["standardize"] = standardize
    ns["name"] = mod.__name__
    return SimpleNamespace(**ns)


#: NumPy namespace (with ``scipy.special.erf``).
NP = _namespace(np, special.erf, _softmax_np, _affine_pointwise_np, _standardize_np)


@functools.cache
def jax_namespace() -> SimpleNamespace:
    """The same namespace over ``jax.numpy`` (imported lazily; made once)."""
    import jax.numpy as jnp
    from jax.scipy import special as jspecial

    return _namespace(jnp, jspecial.erf, _jax_softmax(), _jax_affine_pointwise, _jax_standardize())


@functools.cache
def _jax_softmax():
    """Softmax over ``axis`` with the tangent rule ``y (x' - sum(y x'))`` (one rule, made once).

    Differentiating ``exp(x - max x) / sum(...)`` through its operations costs four passes over
    the scores (five with the max's tangent); the rule costs two: in the attention sweeps on a
    GPU the scores' tangents are the largest arrays. ``jax.nn.softmax`` uses the same rule only
    under the ``jax_softmax_custom_jvp`` flag.
    """
    import jax
    import jax.numpy as jnp

    @functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
    def softmax(x, axis=-1):
        e = jnp.exp(x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True)))
        return e / jnp.sum(e, axis=axis, keepdims=True)

    @softmax.defjvp
    def _tangent(axis, primals, tangents):
        (x,), (dx,) = primals, tangents
        y = softmax(x, axis)
        return y, y * (dx - jnp.sum(y * dx, axis=axis, keepdims=True))

    return softmax


@functools.cache
def _jax_affine_pointwise(fn):
    """``(x, alpha, shift) -> fn(alpha x + shift)`` for a pointwise ``fn``, as a ``jax.custom_jvp``
    with the rule ``phi'(u) (alpha x' + x alpha' + shift')``, ``u = alpha x + shift`` (one per ``fn``).

    ``phi'(u)`` is JAX's own derivative of ``phi`` (a ``jvp`` at unit tangent, which needs ``phi``
    pointwise), not a hand-written one, and ``alpha phi'(u)`` is formed with the primal. A
    linearized sweep then spends one multiplication per tangent, where differentiating through
    the operations of ``erf(alpha x + shift)`` left a GPU one more pass over the probes'
    tangents for each product that consumes them.
    """
    import jax
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero

    xp = jax_namespace()

    @jax.custom_jvp
    def f(x, alpha, shift):
        return fn(alpha * x + shift, xp)

    def rule(primals, tangents):
        x, alpha, shift = primals
        tx, ta, ts = tangents
        u = alpha * x + shift
        y, slope = jax.jvp(lambda v: fn(v, xp), (u,), (jnp.ones_like(u),))  # phi(u), phi'(u)
        parts = []
        if not isinstance(tx, SymbolicZero):
            parts.append((alpha * slope) * tx)
        if not isinstance(ta, SymbolicZero):
            parts.append(slope * x * ta)
        if not isinstance(ts, SymbolicZero):
            parts.append(slope * ts)
        return y, sum(parts[1:], parts[0]) if parts else jnp.zeros_like(y)

    f.defjvp(rule, symbolic_zeros=True)
    return f


@functools.cache
def _jax_standardize():
    """LayerNorm (``center=True``) or RMSNorm over the last axis, ``y = c / s`` with ``c = x - mean(x)``
    (or ``x``) and ``s = sqrt(mean(c^2) + eps)``, as a ``jax.custom_jvp`` (one rule, made once).

    The rule is ``y' = (c' - y (mean(y c') + eps'/(2 s))) / s`` with ``c' = x' - mean(x')`` (or
    ``x'``), and ``mean(y c') = mean(y x') - mean(y) mean(x')`` (from ``s' = (mean(c c') + eps'/2) / s``
    and ``y' = c'/s - y s'/s``). Its two means over the tangent are independent, so one pass over
    it computes both, where differentiating through the operations needs the tangent's mean
    before the variance's tangent. Tested against that plain differentiation (jvp and grad).
    """
    import jax
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero

    @functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
    def standardize(x, eps, center=True):
        return _standardized(jnp, x, eps, center)[0]

    def rule(center, primals, tangents):
        x, eps = primals
        tx, te = tangents
        y, s = _standardized(jnp, x, eps, center)
        if isinstance(tx, SymbolicZero) and isinstance(te, SymbolicZero):
            return y, jnp.zeros_like(y)
        m = jnp.zeros_like(s)
        if not isinstance(tx, SymbolicZero):
            m = jnp.mean(y * tx, axis=-1, keepdims=True)
            if center:
                mx = jnp.mean(tx, axis=-1, keepdims=True)
                m = m - jnp.mean(y, axis=-1, keepdims=True) * mx
                tx = tx - mx
        if not isinstance(te, SymbolicZero):
            m = m + te / (2 * s)
        out = -y * m if isinstance(tx, SymbolicZero) else tx - y * m
        return y, out / s

    standardize.defjvp(rule, symbolic_zeros=True)
    return standardize
