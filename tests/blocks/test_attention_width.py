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


def _measure_tangent_map(x, sq, sv, cs, nets=NETS):
    """Per network: the softmax moments sum_b A_ab^2 (S2) and sum_b A_ab A_cb (T, a != c) of the sampled
    attention matrix, dq, dp, and for each probe cross-token covariance c (per-token tangent norm 1) the
    output tangent's per-token norm jq' = |t_a|^2/d and cross-token product jp' = t_a.t_b/d (a != b)."""
    off = lambda g: (jnp.sum(g) - jnp.trace(g)) / (N * (N - 1))  # noqa: E731

    def one(key):
        kq, kk, kv, ko, kt = jax.random.split(key, 5)
        wq, wk, wv, wo = (s * jax.random.normal(k, (D, D)) / np.sqrt(D)
                          for s, k in ((sq, kq), (sq, kk), (sv, kv), (1.0, ko)))

        def attn(z):
            return (jax.nn.softmax((z @ wq.T) @ (z @ wk.T).T / np.sqrt(D), axis=-1) @ (z @ wv.T)) @ wo.T

        a = jax.nn.softmax((x @ wq.T) @ (x @ wk.T).T / np.sqrt(D), axis=-1)
        gram_a = a @ a.T
        y = attn(x)
        out = [jnp.trace(gram_a) / N, off(gram_a), jnp.trace(y @ y.T) / (N * D), off(y @ y.T) / D]
        g0, g = jax.random.normal(kt, (D,)), jax.random.normal(jax.random.fold_in(kt, 1), x.shape)
        for c in cs:
            ty = jax.jvp(attn, (x,), (np.sqrt(c) * g0[None, :] + np.sqrt(1 - c) * g,))[1]
            tg = ty @ ty.T / D
            out += [jnp.trace(tg) / N, off(tg)]
        return out

    out = jax.jit(jax.vmap(one))(jax.random.split(jax.random.PRNGKey(11), nets))
    return [(float(np.mean(o)), float(np.std(o, ddof=1) / np.sqrt(nets))) for o in map(np.asarray, out)]


@pytest.mark.parametrize("qt, pt, sq", [(1.0, 0.0, 1.19), (1.0, 0.5, 1.5)])
def test_softmax_moments_and_tangent_map_match_finite_width(qt, pt, sq):
    """Logit variance v = sQK qt (qt - pt) ~ 2 and 2.5, where the first-order S2 ~ 1/(1 + (n-1) e^-v)
    is 0.51 and 0.64 against the exact 0.32 and 0.35, and the softmax-path terms are large: each
    quantity against its own error bar. S2 and T are measured on the sampled attention matrices; dq, dp
    on the outputs; the 2x2 tangent map (jq, jp) -> (jq', jp') with probes of cross-token covariance
    c = 0 (gives a_qq, a_pq) and c = 0.6 (adds a_qp, a_pp). Replacing S22 by S2^2 in the softmax path,
    or dropping its cross-token part (T - 2U + V), moves a_qq, a_pp or a_pq by 9-34%."""
    from sigprop.softmax import softmax_moments, softmax_pair_moments

    cs = (0.0, 0.6)
    x = _tokens(qt, pt, seed=1)
    m = _measure_tangent_map(x, sq, 1.0, cs, nets=4 * NETS)
    stats = normalize(get_normalizer("identity"), NormParams(), np.float64(qt), np.float64(pt), True, cross=True)
    branch = AttentionBranch(sigma_q=sq, sigma_k=sq, sigma_v=1.0, sigma_o=1.0, n_tokens=N)
    dq, dp, (a_qq, a_qp, a_pq, a_pp) = branch.mean_field(stats, True, cross=True)
    var = sq ** 4 * qt * (qt - pt)
    s2 = softmax_moments(N, var)[0]
    t = softmax_pair_moments(N, var, pt / qt)[0]
    theory = [s2, t, dq, dp]
    for c in cs:
        theory += [a_qq + a_qp * c, a_pq + a_pp * c]
    names = ["S2", "T", "dq", "dp"] + [f"{k}(c={c})" for c in cs for k in ("jq'", "jp'")]
    for name, th, (mean, se) in zip(names, theory, m):
        assert abs(th - mean) < 4.0 * se + 2.0 / D * abs(th), (name, th, mean, se)  # 4 sigma + O(1/d)
        assert se < 0.03 * abs(th), (name, se)  # resolved: each error bar is small against its value
    assert abs(1 / (1 + (N - 1) * np.exp(-var)) - m[0][0]) > 20 * m[0][1]  # the first-order S2 is far off
