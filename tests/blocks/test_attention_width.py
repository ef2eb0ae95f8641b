"""The attention mean-field map against finite-width attention layers (JAX).

A self-contained finite-width layer (not the package's Monte-Carlo engine): tokens
with exact permutation-symmetric moments, Gaussian weights of variance
sigma^2/d, one head, scores divided by sqrt(d). Per network we measure the
increment ``|y|^2/(n d)`` (dq), the token-pair product (dp) and the Hutchinson
estimate of ``||dy/dx||_F^2/(n d)`` (dchi) with the full Jacobian and with the
softmax weights frozen (value path). Tolerances are z-scores from the spread over
networks; width 512 keeps the O(1/d) corrections below the ~1% error bars.
"""

import numpy as np
import pytest

from sigprop.blocks import AttentionBranch
from sigprop.blocks.base import normalize
from sigprop.normalizers import NormParams, get_normalizer

jax = pytest.importorskip("jax")
jnp = jax.numpy

D, N, NETS = 512, 8, 96


def _tokens(qt, pt, seed=0):
    rng = np.random.default_rng(seed)
    g = np.linalg.qr(rng.normal(size=(D, N + 1)))[0] * np.sqrt(D)
    return jnp.asarray((np.sqrt(pt) * g[:, [0]] + np.sqrt(qt - pt) * g[:, 1:]).T, dtype=jnp.float32)


def _measure(x, sq, sk, sv, so):
    def one(key):
        kq, kk, kv, ko, kt = jax.random.split(key, 5)
        wq, wk, wv, wo = (s * jax.random.normal(k, (D, D)) / np.sqrt(D)
                          for s, k in ((sq, kq), (sk, kk), (sv, kv), (so, ko)))

        def attn(z, frozen=None):
            s = (z @ wq.T) @ (z @ wk.T).T / np.sqrt(D)
            a = jax.nn.softmax(s, axis=-1) if frozen is None else frozen
            return (a @ (z @ wv.T)) @ wo.T

        v = jax.random.normal(kt, x.shape)
        y, ty = jax.jvp(attn, (x,), (v,))
        a = jax.nn.softmax((x @ wq.T) @ (x @ wk.T).T / np.sqrt(D), axis=-1)
        tv = jax.jvp(lambda z: attn(z, a), (x,), (v,))[1]
        gram = y @ y.T / D
        off = (jnp.sum(gram) - jnp.trace(gram)) / (N * (N - 1))
        return jnp.trace(gram) / N, off, jnp.sum(ty ** 2) / (N * D), jnp.sum(tv ** 2) / (N * D)

    out = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(7), NETS))
    return [(float(np.mean(o)), float(np.std(o, ddof=1) / np.sqrt(NETS))) for o in map(np.asarray, out)]


@pytest.mark.parametrize("qt, pt, sq, sv", [(1.0, 0.4, 1.0, 1.0), (1.0, 0.7, 1.3, 0.8), (2.0, 0.5, 0.6, 1.0)])
def test_attention_increments_match_finite_width(qt, pt, sq, sv):
    x = _tokens(qt, pt)
    (dq, e_q), (dp, e_p), (chi, e_c), (chi_v, e_v) = _measure(x, sq, sq, sv, 1.0)
    stats = normalize(get_normalizer("identity"), NormParams(), np.float64(qt), np.float64(pt), True)
    branch = AttentionBranch(sigma_q=sq, sigma_k=sq, sigma_v=sv, sigma_o=1.0, n_tokens=N)
    tq, tp, tchi = branch.mean_field(stats)
    for name, th, m, e in (("dq", tq, dq, e_q), ("dp", tp, dp, e_p), ("dchi", tchi, chi, e_c)):
        assert abs(th - m) < 4.0 * e + 2.0 / D * abs(th), (name, th, m, e)  # 4 sigma + O(1/d)
    # the softmax path is a real part of chi: the value path alone falls short of the full Jacobian
    assert chi - chi_v > 6 * np.hypot(e_c, e_v)
