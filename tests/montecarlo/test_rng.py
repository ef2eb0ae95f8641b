"""Weight draws: the fused Threefry-2x32 generator returns exactly jax.random's numbers."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from sigprop.montecarlo.rng import bits32, normal, threefry2x32  # noqa: E402


def test_threefry_known_answers():
    """Known-answer vectors of Threefry-2x32-20 (Salmon et al. 2011, Random123 kat_vectors)."""
    cases = [((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
             ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
             ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0))]
    for key, ctr, want in cases:
        got = threefry2x32(*(jnp.uint32(x) for x in key + ctr))
        assert tuple(int(g) for g in got) == want


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (64, 256), (2, 3, 4)])
@pytest.mark.parametrize("seed", [0, 1, 2 ** 31 + 5])
def test_equals_jax_random_bit_for_bit(shape, seed):
    key = jax.random.fold_in(jax.random.key(seed), 11)
    np.testing.assert_array_equal(np.asarray(bits32(key, shape)), np.asarray(jax.random.bits(key, shape, jnp.uint32)))
    a = np.asarray(jax.jit(normal, static_argnums=1)(key, shape))
    b = np.asarray(jax.random.normal(key, shape, jnp.float32))
    assert a.dtype == np.float32 and a.shape == shape
    np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


def test_vmapped_over_keys_and_other_impls_fall_back():
    keys = jax.random.split(jax.random.key(3), 4)
    a = jax.vmap(lambda k: normal(k, (16, 8)))(keys)
    b = jax.vmap(lambda k: jax.random.normal(k, (16, 8)))(keys)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    k = jax.random.key(0, impl="rbg")
    np.testing.assert_array_equal(np.asarray(normal(k, (4, 4))), np.asarray(jax.random.normal(k, (4, 4))))


def test_every_network_and_purpose_has_its_own_key():
    """The five keys of a network (weights, input, forward probes, reverse probes, loss target) differ from
    each other and from those of the other networks: a key shared by all networks (the same probes or
    loss target everywhere) leaves each network's statistics unchanged, so no ensemble test sees it."""
    from sigprop.montecarlo.engine import network_keys
    from sigprop.montecarlo.rng import root_key

    root = root_key(0)
    seen = [tuple(np.asarray(jax.random.key_data(k)).ravel().tolist())
            for i in range(4) for k in network_keys(jax.random.fold_in(root, i))]
    assert len(seen) == 20 and len(set(seen)) == 20
