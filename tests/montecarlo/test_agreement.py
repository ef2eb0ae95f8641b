"""Finite-width Monte-Carlo against the infinite-width theory (the package's central claim).

Per layer, ``z = (MC mean - theory) / stderr`` with the standard error from the
spread over independent networks. Bound ``|z| < 4`` (two-sided p ~ 6e-5 per
layer, so a few hundred comparisons rarely trip it by chance); the remaining
O(1/d) bias at d = 256 is below one standard error of these ensembles (the
width-doubling check of ``sigprop validate`` measures it).
"""

import numpy as np
import pytest

pytest.importorskip("jax")

from sigprop import ToyResidual, Transformer, preset, solve  # noqa: E402
from sigprop.montecarlo import simulate  # noqa: E402
from sigprop.validation import zscores  # noqa: E402

ZMAX = 4.0
FLOOR = 1e-5  # float32 round-off relative to 1 + |theory| (see sigprop.validation.ROUNDOFF)


def _z(arch, names, width=256, samples=16, **kw):
    res = simulate(arch, width=width, samples=samples, probes=2, seed=11, **kw)
    traj = solve(arch)
    out = {}
    for name in names:
        th = traj.log_apjn_back if name == "log_apjn_back" else getattr(traj, name)
        out[name] = zscores(th, res.mean(name), res.stderr(name), FLOOR)
    return out


ALL = ("q", "p", "log_apjn", "log_apjn_back")
CASES = {
    "toy_derf": preset("toy", depth=16),
    "toy_pre_ln": ToyResidual(depth=16, normalizer="layernorm", sigma_w2=0.46 ** 2, q0=1.0, p0=0.5),
    "pre_ln_mlp": preset("mlp", depth=8),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_agreement(name):
    for q, z in _z(CASES[name], ALL).items():
        assert np.nanmax(np.abs(z)) < ZMAX, (name, q, np.round(z, 2))


def test_transformer_moments_agree():
    """Small transformer (d = 256, n = 8, 4 blocks, 2 heads): q and p follow the theory."""
    arch = preset("transformer", depth=8, heads=2)
    for q, z in _z(arch, ("q", "p")).items():
        assert np.nanmax(np.abs(z)) < ZMAX, (q, np.round(z, 2))


def test_transformer_one_sublayer_chi_agrees():
    """chi of single sublayers (attention with its softmax path, and MLP): J(l0, l0 + 1) measured
    with fresh i.i.d. probes injected at l0 (jp = 0) equals the theory's isotropic factor m_qq. At these
    sizes it resolves the softmax path as a whole, not its parts (S22 against S2^2, the cross-token terms):
    those are resolved in tests/blocks/test_attention_width.py."""
    arch = preset("transformer", depth=6, heads=2)
    traj = solve(arch)
    for l0 in (0, 1, 2):
        m_qq = arch.sublayer(l0).step(traj.q[l0], traj.p[l0], True, cross=True)[2][0]
        res = simulate(arch, width=256, samples=24, probes=4, seed=l0, l0=l0, backward=False)
        x = res.log_apjn[:, l0 + 1]
        z = (x.mean() - np.log(m_qq)) / (x.std(ddof=1) / np.sqrt(x.size))
        assert abs(z) < ZMAX, (l0, x.mean(), np.log(m_qq), z)


def test_transformer_apjn_agrees():
    """With attention the tangents of different tokens become correlated; the theory's two-component
    tangent recurrence (jq, jp), softmax path included, predicts both J(0, l) and J(l, L)."""
    arch = preset("transformer", depth=8, heads=2)
    for q, z in _z(arch, ("log_apjn", "log_apjn_back")).items():
        assert np.nanmax(np.abs(z)) < ZMAX, (q, np.round(z, 2))


def _token_covariance_apjn(traj, n, depth):
    """log J(0, l) of a Pre-LN transformer (all sigma = 1, ReLU MLP), value path only, tracking the
    tangent's per-token norm jq and cross-token covariance jp (initial (1, 0) for i.i.d. probes):
    attention  jq += qh (S2 jq + (1 - S2) jp),  jp += qh (T jq + (1 - T) jp);
    ReLU MLP   jq += qh jq / 2,                 jp += qh jp (pi - arccos rho) / (2 pi)."""
    from sigprop.softmax import softmax_moments, softmax_pair_moment

    jq, jp, out = 1.0, 0.0, [0.0]
    for k in range(depth):
        qh, rho = 1.0 / traj.q[k], traj.p[k] / traj.q[k]
        if k % 2 == 0:
            var = 1.0 - rho
            s2, t = softmax_moments(n, var)[0], softmax_pair_moment(n, var, rho)
            jq, jp = jq + qh * (s2 * jq + (1 - s2) * jp), jp + qh * (t * jq + (1 - t) * jp)
        else:
            jq, jp = jq + 0.5 * qh * jq, jp + qh * jp * (np.pi - np.arccos(rho)) / (2 * np.pi)
        out.append(np.log(jq))
    return np.array(out)


@pytest.mark.slow
def test_value_path_apjn_follows_token_covariance_recurrence():
    """Evidence for the finding above: without the softmax path, the measured J(0, l) follows the
    two-component recurrence (jq, jp), not the product of chi (which misses it by ~0.13 at l = 8)."""
    arch = preset("transformer", depth=8)
    res = simulate(arch, width=256, samples=32, probes=4, seed=2, value_path_only=True, backward=False)
    ref = _token_covariance_apjn(solve(arch), arch.n_tokens, arch.depth)
    z = zscores(ref, res.mean("log_apjn"), res.stderr("log_apjn"), FLOOR)
    assert np.nanmax(np.abs(z)) < ZMAX, np.round(z, 2)


@pytest.mark.parametrize("arch", [
    ToyResidual(depth=6, normalizer="layernorm", placement="post", sigma_w2=0.5, p0=0.3),
    Transformer(depth=6, pattern=("mlp",), normalizer="lns", init="depth_scaled", p0=0.4),
    preset("plain", depth=6, width=128),
], ids=["toy_post_ln", "lns_depth_scaled", "plain_relu"])
def test_post_norm_lns_scaled_init_plain_agree(arch):
    """Post-LN toy, LNS with depth-scaled init, plain ReLU MLP: q and log J(0, l)."""
    for q, z in _z(arch, ("q", "log_apjn"), width=128, samples=12).items():
        assert np.nanmax(np.abs(z)) < ZMAX, (arch.kind, arch.normalizer, q, np.round(z, 2))


def test_resmlp_q_agrees():
    """ResMLP h + relu(W h): each unit acquires a mean m, and the theory carries it
    (q' = q + 2 m E[relu] + E[relu^2], m' = m + E[relu])."""
    for q, z in _z(preset("resmlp", depth=6, width=128), ("q",), width=128, samples=12).items():
        assert np.nanmax(np.abs(z)) < ZMAX, (q, np.round(z, 2))


def test_user_pointwise_normalizer_agrees():
    """A user normalizer fn(u, xp) runs unchanged in the JAX network; theory by quadrature."""
    from sigprop import normalizers

    name = "softsign_mc_test"
    normalizers.pointwise_normalizer(name, lambda u, xp: u / (1 + xp.abs(u)), lambda u, xp: 1 / (1 + xp.abs(u)) ** 2,
                                     kinks=(0,))
    try:
        arch = ToyResidual(depth=6, normalizer=name, alpha=0.8, sigma_w2=0.5, p0=0.3)
        for q, z in _z(arch, ("q", "p", "log_apjn"), width=128, samples=12).items():
            assert np.nanmax(np.abs(z)) < ZMAX, (q, np.round(z, 2))
    finally:  # leave the registry as found (other tests enumerate it)
        normalizers._REGISTRY.pop(name, None)


def test_unbounded_shifted_user_normalizer_agrees():
    """asinh(alpha h + shift) (bounded=False, xp.arcsinh in JAX) with gelu after it at q ~ 300, where the
    theory's cross-token kernels take the conditional rule cut at the feature h = -shift/alpha."""
    from sigprop import normalizers

    name = "asinh_mc_test"
    normalizers.pointwise_normalizer(name, lambda u, xp: xp.arcsinh(u), lambda u, xp: 1 / xp.sqrt(1 + u * u),
                                     bounded=False)
    try:
        arch = ToyResidual(depth=4, normalizer=name, alpha=1.0, shift=0.7, activation="gelu", q0=300.0, p0=180.0,
                           sigma_w2=1.0)
        for q, z in _z(arch, ("q", "p", "log_apjn"), width=128, samples=16).items():
            assert np.nanmax(np.abs(z)) < ZMAX, (q, np.round(z, 2))
    finally:
        normalizers._REGISTRY.pop(name, None)


@pytest.mark.slow
def test_transformer_8_blocks_moments_agree():
    """The issue's size: d = 256, n = 8, 8 blocks (16 sublayers), 32 networks: q and p."""
    arch = preset("transformer", depth=16, heads=4)
    for q, z in _z(arch, ("q", "p"), samples=32).items():
        assert np.nanmax(np.abs(z)) < ZMAX, (q, np.round(z, 2))


@pytest.mark.parametrize("norm, alpha", [("derf", 0.5), ("dyt", 1.0)])
def test_tanh_like_normalizer_transformer_agrees(norm, alpha):
    """The normalization-free transformers (Derf, DyT in place of LayerNorm; d = 256, n = 8, 4 blocks,
    2 heads): q, p, J(0, l) and J(l, L) follow the theory, softmax path and bounded normalizer included."""
    arch = preset("transformer", depth=8, heads=2, normalizer=norm, alpha=alpha)
    for q, z in _z(arch, ALL).items():
        assert np.nanmax(np.abs(z)) < ZMAX, (norm, q, np.round(z, 2))
