"""Gaussian weight draws, bit-identical to ``jax.random.normal`` and several times faster on CPU.

Drawing the weights dominates the cost of a Monte-Carlo sweep on CPU (the
weights of every sublayer are drawn on the fly, never stored). JAX's CPU
lowering of the Threefry-2x32 hash runs its five four-round groups as a
rolled loop, which XLA cannot fuse into one vectorized kernel; here the same
hash (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2,
3", SC 2011: 20 rounds, rotation constants 13 15 26 6 / 17 29 16 24, key
parity 0x1BD11BDA) is written out in plain ``jax.numpy`` integer operations,
which XLA fuses with the conversion to normals and the weight scaling.

The counter layout and the bits-to-normal map follow JAX's documented
partitionable scheme (``jax_threefry_partitionable``, the default), so
:func:`normal` returns exactly the numbers of ``jax.random.normal(key,
shape, float32)``; the tests check the equality bit for bit. Keys of other
PRNG implementations (``rbg``, ``unsafe_rbg``), and the non-partitionable
scheme, are passed to ``jax.random.normal`` unchanged.
"""

from __future__ import annotations

import math

import numpy as np

#: seeds are integers in [0, SEED_LIMIT)
SEED_LIMIT = 2 ** 62


def root_key(seed, impl: str = "threefry2x32"):
    """The PRNG key of an integer ``seed`` in ``[0, 2^62)``, from both of its 32-bit words.

    ``jax.random.key`` keeps only ``seed mod 2^32`` while 64-bit mode is off (the
    float32 default), so seed ``2^32`` would repeat seed 0 there and a float32 run
    would draw other weights than the float64 run of the same seed. The key is
    built with 64-bit mode on; for seeds below ``2^32`` it is the usual one.
    """
    import jax

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in [0, 2^62), got {seed!r}")
    with jax.enable_x64(True):
        return jax.random.key(int(seed), impl=impl)


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA


def _rotl(x, r: int):
    import jax.numpy as jnp

    return (x << jnp.uint32(r)) | (x >> jnp.uint32(32 - r))


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 (20 rounds) of counter words ``(x0, x1)`` under key ``(k0, k1)``; uint32 arrays."""
    import jax.numpy as jnp

    ks = (k0, k1, k0 ^ k1 ^ jnp.uint32(_PARITY))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + jnp.uint32(group + 1)
    return x0, x1


def _fast_path(key) -> bool:
    import jax

    return str(jax.random.key_impl(key)) == "threefry2x32" and bool(jax.config.jax_threefry_partitionable)


def bits32(key, shape):
    """uint32 random bits of ``shape`` (``jax.random.bits(key, shape, uint32)`` for threefry keys)."""
    import jax
    import jax.numpy as jnp

    shape = tuple(int(s) for s in shape)
    size = math.prod(shape)
    if not _fast_path(key) or size >= 2 ** 32:
        return jax.random.bits(key, shape, jnp.uint32)
    k = jax.random.key_data(key)
    lo = jax.lax.iota(jnp.uint32, size).reshape(shape)  # counter = row-major index (high word 0)
    b0, b1 = threefry2x32(k[0], k[1], jnp.zeros_like(lo), lo)
    return b0 ^ b1


def normal(key, shape):
    """float32 standard normals of ``shape``, equal to ``jax.random.normal(key, shape, jnp.float32)``.

    Uniform ``u`` in ``(-1, 1)`` from the top 23 bits as a float32 mantissa,
    then ``sqrt(2) erfinv(u)``.
    """
    import jax
    import jax.numpy as jnp

    if not _fast_path(key):
        return jax.random.normal(key, shape, jnp.float32)
    bits = bits32(key, shape)
    one = jnp.uint32(np.array(1.0, np.float32).view(np.uint32))
    floats = jax.lax.bitcast_convert_type((bits >> jnp.uint32(9)) | one, jnp.float32) - jnp.float32(1.0)
    lo = np.nextafter(np.float32(-1.0), np.float32(0.0), dtype=np.float32)
    u = jnp.maximum(lo, floats * (np.float32(1.0) - lo) + lo)
    return np.float32(np.sqrt(2.0)) * jax.lax.erf_inv(u)
