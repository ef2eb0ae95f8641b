"""Inputs for Monte-Carlo networks: permutation-symmetric token sets and user arrays.

A permutation-symmetric configuration of ``n`` tokens has every
``h_a.h_a/d = q0`` and every ``h_a.h_b/d = p0`` (Cowsik et al. 2024). At
finite ``d`` we make these moments *exact*: with ``E`` a ``(d, n)`` matrix of
orthonormal columns (QR of a Gaussian matrix, so its span is uniformly
random) and ``G = (q0 - p0) I + p0 11^T`` the target Gram matrix,

``X = sqrt(d) (E G^{1/2})^T``,  ``G^{1/2} = sqrt(q0 - p0) (I - 11^T/n) + sqrt(q0 + (n-1) p0) 11^T/n``,

so ``X X^T / d = G`` exactly (up to round-off). It needs ``n <= d`` and
``q0 + (n-1) p0 >= 0``.
"""

from __future__ import annotations

import numpy as np


def symmetric_tokens(key, n: int, d: int, q0, p0, dtype=None):
    """``(n, d)`` tokens with exact per-unit moments ``q0`` (same token) and ``p0`` (distinct tokens).

    Args:
        key: JAX PRNG key (the random orientation).
        n, d: tokens and width (``n <= d``).
        q0, p0: target moments (may be traced).
        dtype: JAX dtype of the result (default float32).
    """
    import jax
    import jax.numpy as jnp

    dtype = jnp.float32 if dtype is None else dtype
    if n > d:
        raise ValueError(f"symmetric tokens need n <= d, got n={n}, d={d}")
    g = jax.random.normal(key, (d, n), jnp.float32).astype(dtype)  # same draw in float32 and float64
    e, r = jnp.linalg.qr(g)
    e = e * jnp.sign(jnp.diagonal(r))  # Haar-distributed orthonormal columns
    q0 = jnp.asarray(q0, dtype)
    p0 = jnp.asarray(p0, dtype)
    ones = jnp.full((n, n), 1.0 / n, dtype)
    root = jnp.sqrt(jnp.maximum(q0 - p0, 0)) * (jnp.eye(n, dtype=dtype) - ones) \
        + jnp.sqrt(jnp.maximum(q0 + (n - 1) * p0, 0)) * ones
    # full-precision product: GPUs default to TF32 for float32 matmuls (~1e-3 relative error),
    # which would spoil the exactness of (q0, p0)
    return (np.sqrt(d) * jnp.matmul(e, root, precision=jax.lax.Precision.HIGHEST)).T.astype(dtype)


def user_inputs(inputs, samples: int, n: int, d: int) -> np.ndarray:
    """Validate user inputs: ``(n, d)`` (shared) or ``(batch, n, d)`` with ``batch`` 1 or ``samples``.

    Returns a ``(samples, n, d)`` float64 NumPy array, one input per network.
    """
    raw = np.asarray(inputs)
    if raw.dtype.kind not in "iuf":  # complex (its imaginary part would be dropped), bool, object, text
        raise ValueError(f"inputs must be real numbers (integer or float), got dtype {raw.dtype}")
    x = raw.astype(float)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (n, d):
        raise ValueError(f"inputs must have shape (n, d) = ({n}, {d}) or (batch, {n}, {d}), got {np.shape(inputs)}")
    if x.shape[0] not in (1, samples):
        raise ValueError(f"inputs batch {x.shape[0]} must be 1 or samples={samples}")
    if not np.all(np.isfinite(x)):
        raise ValueError("inputs must be finite")
    return np.broadcast_to(x, (samples, n, d))
