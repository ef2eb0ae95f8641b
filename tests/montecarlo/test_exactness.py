"""The sweeps measure exactly what docs/theory.md defines: Frobenius norms of layer-to-layer Jacobians.

Tiny float64 networks (d = 8) so that ``jax.jacfwd`` gives the full Jacobian.
"""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from sigprop import PlainMLP, ToyResidual, Transformer  # noqa: E402
from sigprop.montecarlo import Network, measure  # noqa: E402
from sigprop.montecarlo.engine import network_keys, rademacher  # noqa: E402

TINY = {
    "toy_ln": ToyResidual(depth=4, width=8, normalizer="layernorm", n_tokens=2, sigma_w2=0.8),
    "toy_derf_post": ToyResidual(depth=3, width=8, normalizer="derf", alpha=0.7, placement="post",
                                 activation="tanh", sigma_b2=0.1),
    "transformer": Transformer(depth=4, width=8, n_tokens=3, heads=2, mlp_ratio=2, normalizer="lns",
                               activation="gelu", init="depth_scaled"),
    "plain": PlainMLP(depth=3, width=8, sigma_w2=1.5, residual=True, n_tokens=2),
    # 3 sublayers in blocks of 2: the last block's second sublayer is past L, skipped (post-norm
    # Derf: with its weights 0 it would still apply Derf, not the identity; a post-LayerNorm at
    # eps = 0 would be idempotent, and a pre-norm residual one the identity)
    "transformer_odd": Transformer(depth=3, width=8, n_tokens=3, heads=2, mlp_ratio=2, normalizer="derf",
                                   alpha=0.8, activation="gelu", placement="post"),
}


def _setup(arch, probes):
    net = Network(arch, dtype="float64")
    key = jax.random.key(3)
    kw, kin, kv, ku, _ = network_keys(key)
    h0 = net.symmetric_inputs(kin)
    return net, key, kw, h0


@pytest.mark.parametrize("name", sorted(TINY))
def test_sweeps_equal_per_layer_computations(name):
    """J(0, l) of the single forward sweep == per-layer jvp of the unrolled network with the same
    probes, and J(l, L) of the single reverse sweep == per-layer vjp; equal to float64 round-off."""
    probes = 3
    with jax.enable_x64(True):
        net, key, kw, h0 = _setup(TINY[name], probes)
        _, _, kv, ku, ky = network_keys(key)
        res = jax.jit(lambda k: measure(net, k, net.hyper, probes=probes))(key)
        v = rademacher(kv, (probes, net.n, net.d), jnp.float64)
        u = rademacher(ku, (probes, net.n, net.d), jnp.float64)
        nd = net.n * net.d
        hs = [h0]
        for l in range(1, net.L + 1):
            hs.append(net.apply(kw, hs[-1], upto=l, start=l - 1))
        y = jax.random.normal(ky, (net.n, net.d), jnp.float32).astype(jnp.float64)
        loss = lambda hl, l: 0.5 * jnp.sum((net.apply(kw, hl, start=l) - y) ** 2)  # noqa: E731
        g_out = jnp.sum(jax.grad(loss)(hs[-1], net.L) ** 2)
        def all_layers(x):  # unrolled network returning every h^l, l = 0..L
            out = [x]
            for l in range(1, net.L + 1):
                out.append(net.apply(kw, out[-1], upto=l, start=l - 1))
            return jnp.stack(out)

        ts = jax.vmap(lambda vv: jax.jvp(all_layers, (h0,), (vv,))[1])(v)  # (probes, L+1, n, d)
        for l in range(net.L + 1):
            t = ts[:, l]
            np.testing.assert_allclose(res["log_apjn"][l], np.log(np.mean(np.sum(t ** 2, (1, 2))) / nd),
                                       rtol=0, atol=1e-10)  # float64 round-off
            g = lambda x, l=l: net.apply(kw, x, start=l)  # noqa: E731
            _, pull = jax.vjp(g, hs[l])
            c = jax.vmap(lambda uu: pull(uu)[0])(u)
            np.testing.assert_allclose(res["log_apjn_back"][l], np.log(np.mean(np.sum(c ** 2, (1, 2))) / nd),
                                       rtol=0, atol=1e-10)
            g_l = jnp.sum(jax.grad(loss)(hs[l], l) ** 2)  # the stated loss, differentiated directly
            np.testing.assert_allclose(res["log_grad"][l], np.log(g_l / g_out), atol=1e-10)
            q = np.mean(np.sum(np.asarray(hs[l]) ** 2, 1)) / net.d
            np.testing.assert_allclose(res["q"][l], q, rtol=1e-12)


@pytest.mark.parametrize("name", ["toy_ln", "transformer"])
def test_hutchinson_matches_jacfwd_frobenius(name):
    """Hutchinson with many Rademacher probes estimates ||dh^l/dh^0||_F^2/(n d) from jax.jacfwd.

    The estimator's variance is known exactly for Rademacher probes,
    Var ||J v||^2 = 2 (||J^T J||_F^2 - sum_i (J^T J)_ii^2), so the check is a z-test (|z| < 4).
    """
    probes = 4000
    with jax.enable_x64(True):
        net, key, kw, h0 = _setup(TINY[name], probes)
        res = jax.jit(lambda k: measure(net, k, net.hyper, probes=probes, backward=False))(key)
        nd = net.n * net.d
        for l in range(1, net.L + 1):
            jac = jax.jacfwd(lambda x, l=l: net.apply(kw, x, upto=l))(h0).reshape(nd, nd)
            jac = np.asarray(jac)
            exact = np.sum(jac ** 2) / nd
            m = jac.T @ jac
            var = 2 * (np.sum(m ** 2) - np.sum(np.diag(m) ** 2)) / nd ** 2
            est = np.exp(float(res["log_apjn"][l]))
            z = (est - exact) / np.sqrt(var / probes)
            assert abs(z) < 4, (l, est, exact, z)


@pytest.mark.parametrize("name, l0", [("toy_ln", 2), ("transformer_odd", 1)])
def test_l0_selects_the_starting_layer(name, l0):
    """J(l0, l) from a sweep with probes injected at l0 equals the jvp of the network from layer l0."""
    probes = 2
    with jax.enable_x64(True):
        net, key, kw, h0 = _setup(TINY[name], probes)
        _, _, kv, _, _ = network_keys(key)
        res = jax.jit(lambda k: measure(net, k, net.hyper, probes=probes, l0=l0, backward=False))(key)
        v = rademacher(kv, (probes, net.n, net.d), jnp.float64)
        h_l0 = net.apply(kw, h0, upto=l0)
        assert np.all(np.isnan(np.asarray(res["log_apjn"][:l0])))
        assert float(res["log_apjn"][l0]) == 0.0
        for l in range(l0 + 1, net.L + 1):
            t = jax.vmap(lambda vv: jax.jvp(lambda x: net.apply(kw, x, upto=l, start=l0), (h_l0,), (vv,))[1])(v)
            np.testing.assert_allclose(res["log_apjn"][l], np.log(np.mean(np.sum(t ** 2, (1, 2))) / net.n / net.d),
                                       atol=1e-10)


def test_symmetric_inputs_have_exact_moments():
    from sigprop.montecarlo import symmetric_tokens

    with jax.enable_x64(True):
        for n, d, q0, p0 in [(8, 16, 1.0, 0.4), (5, 5, 2.0, -0.4), (1, 4, 0.3, 0.0)]:
            x = np.asarray(symmetric_tokens(jax.random.key(n), n, d, q0, p0, jnp.float64))
            gram = x @ x.T / d
            target = (q0 - p0) * np.eye(n) + p0
            np.testing.assert_allclose(gram, target, atol=1e-12)  # exact up to float64 round-off


def test_cholesky_qr_gives_the_householder_q():
    """Tall inputs (d >= 64, n <= d/2) take Cholesky-QR twice: the same Q as Householder QR with
    diag(R) > 0, orthonormal to round-off, and symmetric tokens from it keep their exact moments."""
    from sigprop.montecarlo import symmetric_tokens
    from sigprop.montecarlo.inputs import orthonormal_columns

    with jax.enable_x64(True):
        for d, n in [(64, 32), (256, 40), (1024, 197)]:
            g = jax.random.normal(jax.random.key(d), (d, n), jnp.float32).astype(jnp.float64)
            q, r = jnp.linalg.qr(g)
            e = np.asarray(orthonormal_columns(g))
            np.testing.assert_allclose(e, q * jnp.sign(jnp.diagonal(r)), rtol=0, atol=1e-13)
            np.testing.assert_allclose(e.T @ e, np.eye(n), rtol=0, atol=1e-13)
        d, n, q0, p0 = 128, 16, 1.3, -0.05
        x = np.asarray(symmetric_tokens(jax.random.key(5), n, d, q0, p0, jnp.float64))
        np.testing.assert_allclose(x @ x.T / d, (q0 - p0) * np.eye(n) + p0, rtol=0, atol=1e-12)


def test_softmax_tangent_rule():
    """The JAX namespace's softmax (own tangent rule) == exp(x - max)/sum differentiated through
    its operations, forward and reverse, and == the NumPy namespace's softmax."""
    from sigprop.arrays import NP, jax_namespace

    xp = jax_namespace()
    rng = np.random.default_rng(0)
    x = 30 * rng.normal(size=(2, 4, 6))  # large scores: the max subtraction matters
    dx = rng.normal(size=x.shape)

    def plain(x):
        e = jnp.exp(x - jnp.max(x, axis=-1, keepdims=True))
        return e / jnp.sum(e, axis=-1, keepdims=True)

    with jax.enable_x64(True):
        for axis in (-1, 1):
            ref = lambda x, axis=axis: jnp.moveaxis(plain(jnp.moveaxis(x, axis, -1)), -1, axis)  # noqa: E731
            y, t = jax.jvp(lambda x: xp.softmax(x, axis=axis), (x,), (dx,))
            y_ref, t_ref = jax.jvp(ref, (x,), (dx,))
            np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-15)
            np.testing.assert_allclose(t, t_ref, rtol=0, atol=1e-14)
            np.testing.assert_allclose(NP.softmax(x, axis=axis), y_ref, rtol=0, atol=1e-15)
            w = rng.normal(size=x.shape)
            g = jax.grad(lambda x: jnp.sum(w * xp.softmax(x, axis=axis) ** 2))(x)
            g_ref = jax.grad(lambda x: jnp.sum(w * ref(x) ** 2))(x)
            np.testing.assert_allclose(g, g_ref, rtol=0, atol=1e-14)


def _assert_same_derivatives(ruled, plain, prim, dx, tangents, w):
    """``ruled`` (a function with its own tangent rule) against ``plain`` (differentiated through its
    operations), both of the arguments ``prim``: values and jvp for each tuple of ``tangents``, the
    linearization in the first argument (tangent ``dx``, vmapped) and the gradient of
    ``sum(w f^2)`` in every argument; float64 round-off."""
    for tan in tangents:
        tan = tuple(jnp.asarray(t) for t in tan)
        y, t = jax.jvp(ruled, prim, tan)
        y_ref, t_ref = jax.jvp(plain, prim, tan)
        np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-15)
        np.testing.assert_allclose(t, t_ref, rtol=0, atol=1e-14)
    _, lin = jax.linearize(lambda x: ruled(x, *prim[1:]), prim[0])
    _, t_ref = jax.jvp(lambda x: plain(x, *prim[1:]), (prim[0],), (jnp.asarray(dx),))
    np.testing.assert_allclose(jax.vmap(lin)(jnp.stack([dx, dx]))[1], t_ref, rtol=0, atol=1e-14)
    argnums = tuple(range(len(prim)))
    grads = [jax.grad(lambda *a, f=f: jnp.sum(w * f(*a) ** 2), argnums=argnums)(*prim) for f in (ruled, plain)]
    for g, g_ref in zip(*grads):
        np.testing.assert_allclose(g, g_ref, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", ["derf", "dyt"])
def test_pointwise_normalizer_tangent_rule(name):
    """Derf/DyT under JAX carry their own tangent rule: equal to differentiating phi(alpha x + shift)
    through its operations, in x, alpha and shift, forward (jvp, linearize) and reverse."""
    from sigprop.arrays import jax_namespace
    from sigprop.normalizers import get_normalizer
    from sigprop.normalizers.base import NormParams

    xp = jax_namespace()
    norm = get_normalizer(name)
    rng = np.random.default_rng(1)
    x, dx = 2 * rng.normal(size=(3, 7)), rng.normal(size=(3, 7))

    def ruled(x, a, s):
        return norm.apply(x, NormParams(alpha=a, shift=s, eps=0.0, block=1.0), xp)

    def plain(x, a, s):
        return norm.activation.fn(a * x + s, xp)

    with jax.enable_x64(True):
        prim = (jnp.asarray(x), jnp.asarray(0.7), jnp.asarray(0.3))
        _assert_same_derivatives(ruled, plain, prim, dx, [(dx, 0.0, 0.0), (0 * dx, 0.5, 0.0), (0 * dx, 0.0, -0.4),
                                                         (dx, 0.5, -0.4)], rng.normal(size=x.shape))


@pytest.mark.parametrize("name", ["layernorm", "rmsnorm", "lns"])
def test_layernorm_tangent_rule(name):
    """LayerNorm/RMSNorm (and LNS) under JAX carry their own tangent rule: equal to differentiating
    c / sqrt(mean(c^2) + eps), c = x - mean(x) (RMSNorm: c = x), through its operations, in x and
    eps, forward (jvp, linearize) and reverse; and equal to the NumPy namespace's forward."""
    from sigprop.arrays import NP, jax_namespace
    from sigprop.normalizers import get_normalizer
    from sigprop.normalizers.base import NormParams

    xp = jax_namespace()
    norm = get_normalizer(name)
    center, block = name != "rmsnorm", 3.0 if name == "lns" else 1.0
    rng = np.random.default_rng(2)
    x, dx = 1.0 + 2 * rng.normal(size=(3, 7)), rng.normal(size=(3, 7))  # a mean of 1: centering matters

    def ruled(x, eps):
        return norm.apply(x, NormParams(alpha=1.0, shift=0.0, eps=eps, block=block), xp)

    def plain(x, eps):
        c = x - jnp.mean(x, axis=-1, keepdims=True) if center else x
        return c / jnp.sqrt(jnp.mean(c * c, axis=-1, keepdims=True) + eps) / np.sqrt(block)

    with jax.enable_x64(True):
        prim = (jnp.asarray(x), jnp.asarray(0.3))
        np.testing.assert_allclose(norm.apply(x, NormParams(alpha=1.0, shift=0.0, eps=0.3, block=block), NP),
                                   plain(*prim), rtol=0, atol=1e-15)
        _assert_same_derivatives(ruled, plain, prim, dx, [(dx, 0.0), (0 * dx, 0.5), (dx, -0.4)],
                                 rng.normal(size=x.shape))


def test_attention_heads_split_and_softmax():
    """Multi-head forward == per-head softmax attention written out with NumPy."""
    arch = Transformer(depth=1, width=8, n_tokens=3, heads=2, pattern=("attention",), normalizer="identity")
    with jax.enable_x64(True):
        net = Network(arch, dtype="float64")
        kw = jax.random.key(0)
        x = np.asarray(net.symmetric_inputs(jax.random.key(1)))
        w = {k: np.asarray(v) for k, v in net.weights(kw, 0, 0, {k: jnp.asarray(s[0]) for k, s in
                                                                   net.hyper["layers"]["std"][0].items()}).items()}
        out = np.asarray(net.apply(kw, x))
    np.testing.assert_allclose(out, x + _attention_written_out(x, w, 2), rtol=1e-12)


def test_scan_apply_equals_unrolled_apply():
    arch = TINY["transformer"]
    with jax.enable_x64(True):
        net, key, kw, h0 = _setup(arch, 1)
        for upto in (0, 2, arch.depth):
            np.testing.assert_allclose(net.scan_apply(kw, h0, upto=upto), net.apply(kw, h0, upto=upto), atol=1e-12)


@pytest.mark.parametrize("norm", ["derf", "dyt", "layernorm", "rmsnorm"])
def test_one_sublayer_equals_its_formula_written_out(norm):
    """h + relu(Norm(h)) W + b of the JAX network against NumPy with the normalizer written out, shift and
    eps nonzero (the sweep tests rebuild their references with the same Network, so a wrong normalizer
    cancels there; and an odd activation hides the sign of Derf's shift from q, p and J)."""
    from scipy.special import erf

    d, n, alpha, shift, eps = 16, 3, 0.7, 0.4, 0.3
    arch = ToyResidual(depth=1, width=d, n_tokens=n, normalizer=norm, alpha=alpha, shift=shift, eps=eps,
                       activation="relu", sigma_b2=0.2)
    h = np.random.default_rng(0).standard_normal((n, d)) * 1.3 + 0.2  # nonzero mean: LayerNorm centres it
    with jax.enable_x64(True):
        net = Network(arch, dtype="float64")
        kw = jax.random.key(0)
        stds = {k: jnp.asarray(v[0]) for k, v in net.hyper["layers"]["std"][0].items()}
        w = {k: np.asarray(v) for k, v in net.weights(kw, 0, 0, stds).items()}
        out = np.asarray(net.apply(kw, jnp.asarray(h), upto=1))
    written = {"derf": lambda x: erf(alpha * x + shift), "dyt": lambda x: np.tanh(alpha * x + shift),
               "layernorm": lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps),
               "rmsnorm": lambda x: x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps)}[norm]
    assert np.std(w["b"]) > 0
    np.testing.assert_allclose(out, h + np.maximum(written(h), 0) @ w["w"] + w["b"], rtol=0, atol=1e-12)


def _attention_written_out(x, w, heads):
    """softmax(Q K^T / sqrt(d_head)) V per head (heads as contiguous column blocks, softmax over the
    keys), heads concatenated, times W_O; NumPy."""
    q, k, v = x @ w["wq"], x @ w["wk"], x @ w["wv"]
    dh = x.shape[-1] // heads
    mixed = []
    for i in range(heads):
        cols = slice(i * dh, (i + 1) * dh)
        s = q[:, cols] @ k[:, cols].T / np.sqrt(dh)
        p = np.exp(s - s.max(-1, keepdims=True))
        mixed.append((p / p.sum(-1, keepdims=True)) @ v[:, cols])
    return np.concatenate(mixed, axis=-1) @ w["wo"]


def test_attention_and_mlp_sublayers_equal_their_formulas_written_out():
    """A Pre-LN block of the JAX network, h1 = h + softmax(Q K^T / sqrt(d_head)) V W_O per head and
    h2 = h1 + gelu(LN(h1) W_1) W_2, against NumPy written out (LayerNorm with eps, exact-erf GELU,
    heads as contiguous column blocks, softmax over the keys)."""
    from scipy.special import erf

    d, n, heads, eps = 16, 3, 2, 0.3
    arch = Transformer(depth=2, width=d, n_tokens=n, heads=heads, mlp_ratio=2, normalizer="layernorm",
                       activation="gelu", eps=eps)
    h = np.random.default_rng(1).standard_normal((n, d)) * 1.1 + 0.3
    with jax.enable_x64(True):
        net = Network(arch, dtype="float64")
        kw = jax.random.key(2)
        w = []
        for j in range(2):
            stds = {k: jnp.asarray(v[0]) for k, v in net.hyper["layers"]["std"][j].items()}
            w.append({k: np.asarray(v) for k, v in net.weights(kw, j, j, stds).items()})
        out1 = np.asarray(net.apply(kw, jnp.asarray(h), upto=1))
        out2 = np.asarray(net.apply(kw, jnp.asarray(h), upto=2))

    def ln(x):
        x = x - x.mean(-1, keepdims=True)
        return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps)

    h1 = h + _attention_written_out(ln(h), w[0], heads)
    np.testing.assert_allclose(out1, h1, rtol=0, atol=1e-12)
    u = ln(h1) @ w[1]["w1"]
    h2 = h1 + (0.5 * u * (1 + erf(u / np.sqrt(2)))) @ w[1]["w2"]
    np.testing.assert_allclose(out2, h2, rtol=0, atol=1e-12)


def test_post_norm_lns_block_and_scaled_inits_written_out():
    """The second block of a post-norm LNS transformer, h1 = LN(h + Attn(h)) / sqrt(2) and
    h2 = LN(h1 + gelu(h1 W_1) W_2) / sqrt(2) (block index b = 2 for both sublayers), against NumPy
    written out; and the scaled inits' output projections (W_O, W_2) against the standard ones from
    the same draws: x 1/sqrt(2 B) ("scaled", B = 3 blocks) and x 1/sqrt(2 b) ("depth_scaled"), input
    projections unchanged."""
    from scipy.special import erf

    d, n, heads, eps = 16, 3, 2, 0.3
    base = Transformer(depth=6, width=d, n_tokens=n, heads=heads, mlp_ratio=2, normalizer="lns",
                       placement="post", activation="gelu", eps=eps)
    h = np.random.default_rng(3).standard_normal((n, d)) * 1.2 + 0.4
    kw = jax.random.key(4)
    weights, outs = {}, {}
    with jax.enable_x64(True):
        for init in ("standard", "scaled", "depth_scaled"):
            net = Network(base.replace(init=init), dtype="float64")
            weights[init] = []
            for j, k in ((0, 2), (1, 3)):  # sublayers 2 and 3: block position j of block 2
                stds = {name: jnp.asarray(v[1]) for name, v in net.hyper["layers"]["std"][j].items()}
                weights[init].append({name: np.asarray(v) for name, v in net.weights(kw, k, j, stds).items()})
            outs[init] = np.asarray(net.apply(kw, jnp.asarray(h), upto=4, start=2))
    for init, factor in (("scaled", 1 / np.sqrt(6)), ("depth_scaled", 1 / np.sqrt(4))):
        for j, (inputs, outputs) in enumerate([(("wq", "wk", "wv"), ("wo",)), (("w1",), ("w2",))]):
            for name in inputs:
                np.testing.assert_array_equal(weights[init][j][name], weights["standard"][j][name])
            for name in outputs:
                np.testing.assert_allclose(weights[init][j][name], factor * weights["standard"][j][name],
                                           rtol=1e-14, atol=0)

    def lns(x):
        x = x - x.mean(-1, keepdims=True)
        return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps) / np.sqrt(2.0)

    for init, (a, m) in weights.items():
        h1 = lns(h + _attention_written_out(h, a, heads))
        u = h1 @ m["w1"]
        h2 = lns(h1 + (0.5 * u * (1 + erf(u / np.sqrt(2)))) @ m["w2"])
        np.testing.assert_allclose(outs[init], h2, rtol=0, atol=1e-12, err_msg=init)
