"""Ensemble mechanics: reproducibility, chunking, dtypes, inputs, errors."""

import numpy as np
import pytest

pytest.importorskip("jax")

from sigprop import preset  # noqa: E402
from sigprop.montecarlo import MCResult, Network, simulate  # noqa: E402

ARCH = preset("transformer", depth=4, width=32, n_tokens=4)
FIELDS = ("q", "p", "log_apjn", "log_apjn_back", "log_grad")


@pytest.fixture(scope="module")
def base():
    return simulate(ARCH, samples=5, seed=3)


def test_same_seed_same_numbers_whatever_the_chunking(base):
    a = base
    b = simulate(ARCH, samples=5, seed=3)
    c = simulate(ARCH, samples=5, seed=3, chunk=2)
    d = simulate(ARCH, samples=5, seed=4)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        # another batch size may change XLA's float32 summation order: round-off only
        np.testing.assert_allclose(getattr(a, f), getattr(c, f), rtol=1e-5, atol=1e-5)
    assert not np.allclose(a.q[:, 1:], d.q[:, 1:])
    assert isinstance(a, MCResult) and a.q.shape == (5, ARCH.depth + 1) and a.q.dtype == np.float64


def test_float32_matches_float64(base):
    """Same weights, inputs and probes (drawn in float32 for both): float32 round-off over 4 sublayers
    of width 32 stays below 1e-4 relative."""
    a = base
    b = simulate(ARCH, samples=5, seed=3, dtype="float64")
    for f in FIELDS:
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-4, atol=1e-4)
    # the inputs' moments are exact: to float64 round-off in float64 (float32 would be ~1e-7 off)
    np.testing.assert_allclose(b.q[:, 0], ARCH.q0, rtol=1e-13)
    np.testing.assert_allclose(b.p[:, 0], ARCH.p0, rtol=1e-13)


def test_result_statistics_and_meta(base):
    r = base
    np.testing.assert_allclose(r.mean("q"), r.q.mean(0))
    np.testing.assert_allclose(r.stderr("q"), r.q.std(0, ddof=1) / np.sqrt(5))
    assert r.log_apjn[:, 0].tolist() == [0.0] * 5 and r.log_apjn_back[:, -1].tolist() == [0.0] * 5
    assert r.log_grad[:, -1].tolist() == [0.0] * 5
    assert r.meta["width"] == 32 and r.meta["probes"] == 4 and "loss" in r.meta
    np.testing.assert_allclose(r.q[:, 0], ARCH.q0, rtol=1e-5)  # exact symmetric inputs (float32)
    np.testing.assert_allclose(r.p[:, 0], ARCH.p0, rtol=1e-5)


def test_user_inputs():
    x = np.random.default_rng(0).standard_normal((4, 32)) * 2.0
    r = simulate(ARCH, samples=2, inputs=x)
    np.testing.assert_allclose(r.q[:, 0], np.mean(x ** 2), rtol=1e-5)
    with pytest.raises(ValueError, match="inputs"):
        simulate(ARCH, samples=2, inputs=np.ones((3, 4, 32)))
    # more tokens than units: impossible for the exact symmetric generator, fine for user inputs
    wide = ARCH.replace(n_tokens=40)
    x = np.random.default_rng(1).standard_normal((40, 32))
    r = simulate(wide, samples=2, inputs=x, backward=False)
    np.testing.assert_allclose(r.q[:, 0], np.mean(x ** 2), rtol=1e-5)
    assert np.all(np.isfinite(r.log_apjn))
    with pytest.raises(ValueError, match="n <= d"):
        simulate(wide, samples=2)


def test_l0_marks_earlier_layers_nan():
    r = simulate(ARCH, samples=2, l0=2, backward=False)
    assert np.all(np.isnan(r.log_apjn[:, :2])) and np.all(r.log_apjn[:, 2] == 0)
    assert np.all(np.isnan(r.log_apjn_back))


def test_bad_arguments():
    with pytest.raises(ValueError, match="would change the network"):  # sweeps: traced numbers only
        simulate(preset("toy", depth=2, mu=np.array([1.0, 0.9])), samples=2)
    with pytest.raises(ValueError, match="scalar"):  # one Network is one grid point
        Network(preset("toy", depth=2, alpha=np.array([0.1, 0.2])))
    with pytest.raises(ValueError, match="n <= d|n_tokens"):
        simulate(ARCH, width=2, samples=2)
    with pytest.raises(ValueError, match="dtype"):
        simulate(ARCH, samples=2, dtype="float16")
    for width in (0, -8, 2.5, True):
        with pytest.raises(ValueError, match="width must be an integer"):
            simulate(ARCH, width=width, samples=2)
    with pytest.raises(ValueError, match="chunk"):
        simulate(ARCH, samples=2, chunk=-1)


def test_sharded_over_two_devices_matches_one(tmp_path):
    """With two (virtual CPU) devices the network axis is sharded; the numbers are the same."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, numpy as np; from sigprop import preset; from sigprop.montecarlo import simulate; "
            "r = simulate(preset('toy', depth=3, width=16), samples=4, seed=2); "
            "g = simulate(preset('toy', depth=3, width=16, alpha=[0.3, 1.2]), samples=4, seed=2); "
            "print(json.dumps({'q': r.q.tolist(), 'j': r.log_apjn_back.tolist(), 'dev': r.meta['device'], "
            "'g': g.log_apjn.tolist()}))")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         timeout=300)
    two = json.loads(out.stdout.strip().splitlines()[-1])
    assert two["dev"].endswith("x2")
    one = simulate(preset("toy", depth=3, width=16), samples=4, seed=2)
    np.testing.assert_allclose(two["q"], one.q, rtol=1e-5)  # float32 round-off of another partitioning
    np.testing.assert_allclose(two["j"], one.log_apjn_back, rtol=1e-5, atol=1e-6)
    sweep = simulate(preset("toy", depth=3, width=16, alpha=[0.3, 1.2]), samples=4, seed=2)  # a sweep, sharded
    np.testing.assert_allclose(two["g"], sweep.log_apjn, rtol=1e-5, atol=1e-6)


def test_montecarlo_never_imports_the_theory():
    """STYLE.md's one-way rule: the Monte-Carlo is independent of the theory it checks."""
    import ast
    from pathlib import Path

    import sigprop.montecarlo as mc

    for path in Path(mc.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any("theory" in n for n in names), (path.name, names)


@pytest.mark.parametrize("sigma_w2, q0", [(100.0, 1e-30), (0.01, 1e30)])
def test_apjn_beyond_the_float32_range(sigma_w2, q0):
    """log J far outside float32's exponent range (|log J| = 138 > 87) is still measured in float32.

    A linear plain network: ``E J(0, l) = sigma_w^2 ^ l`` exactly at any width, and
    ``q0`` is chosen so that the activations themselves stay representable. The
    tangents and cotangents are rescaled by powers of two at every sublayer, so the
    float32 sweep equals the float64 one on the same networks (no chaos here:
    round-off does not grow in a linear network).
    """
    arch = preset("plain", depth=30, width=32, n_tokens=2, activation="identity", sigma_w2=sigma_w2,
                  sigma_b2=0.0, q0=q0, p0=0.5 * q0)
    r32 = simulate(arch, samples=4, probes=2)
    r64 = simulate(arch, samples=4, probes=2, dtype="float64")
    expect = np.arange(31) * np.log(sigma_w2)
    for name in ("log_apjn", "log_apjn_back", "log_grad"):
        assert np.all(np.isfinite(getattr(r32, name))), name
        np.testing.assert_allclose(getattr(r32, name), getattr(r64, name), atol=1e-3)
    assert abs(r32.mean("log_apjn")[-1]) > 130 and abs(r32.mean("log_apjn_back")[0]) > 130
    # the closed form, within the ensemble's spread (log-normal fluctuations of order sqrt(l/d))
    z = (r64.mean("log_apjn") - expect)[1:] / np.maximum(r64.stderr("log_apjn")[1:], 1e-12)
    assert np.max(np.abs(z)) < 5


def test_gradient_amplification_closed_form():
    """log |dLoss/dh^l|^2 / |dLoss/dh^L|^2 in a linear plain network with one token: dLoss/dh^L = h^L - y
    is y (unit variance, independent of the weights) up to h^L ~ 0.5^10 relative, and each layer
    multiplies |g|^2 by sigma_w^2 chi^2_d / d, independently. So E log_grad(l) = (L - l) (log sigma_w^2
    + psi(d/2) - log(d/2)) and Var = (L - l) psi'(d/2) (digamma, trigamma), per network."""
    from scipy.special import digamma, polygamma

    L, d, sw2 = 10, 32, 0.5
    arch = preset("plain", depth=L, width=d, n_tokens=1, activation="identity", sigma_w2=sw2, sigma_b2=0.0)
    r = simulate(arch, samples=64, probes=1, seed=11, dtype="float64")
    steps = L - np.arange(L + 1)
    mean = steps * (np.log(sw2) + digamma(d / 2) - np.log(d / 2))
    sd = np.sqrt(steps * polygamma(1, d / 2))
    z = (r.mean("log_grad") - mean)[:-1] / (sd[:-1] / np.sqrt(64))
    assert np.max(np.abs(z)) < 4, np.round(z, 2)
    # and the ensemble's own error bar is the closed form's, within its sampling spread (chi with 63 dof)
    np.testing.assert_allclose(r.stderr("log_grad")[:-1], sd[:-1] / 8, rtol=0.4)


def test_seeds_beyond_32_bits_are_their_own_networks():
    """jax.random.key keeps only seed mod 2^32 while 64-bit mode is off (float32 runs): seed 2^32 repeated
    seed 0 there, and float32 drew other weights than float64. The key holds both 32-bit words of the
    seed in either mode, so 2^32 + 3 is its own ensemble and float32 matches float64 for it."""
    import jax

    from sigprop.montecarlo.rng import root_key

    s = 2 ** 32 + 3
    assert jax.random.key_data(root_key(s)).tolist() == [1, 3]  # (s >> 32, s mod 2^32)
    assert jax.random.key_data(root_key(3)).tolist() == jax.random.key_data(jax.random.key(3)).tolist()
    arch = preset("toy", depth=3, width=16)
    small, big = simulate(arch, samples=2, seed=3), simulate(arch, samples=2, seed=s)
    assert not np.allclose(small.q[:, 1:], big.q[:, 1:])
    np.testing.assert_allclose(big.q, simulate(arch, samples=2, seed=s, dtype="float64").q, rtol=1e-5)
    for bad in (-1, 2 ** 62, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            simulate(arch, samples=2, seed=bad)


def test_inputs_must_be_real_numbers():
    """Complex inputs lost their imaginary part with only a warning; booleans passed as 0/1."""
    x = np.ones((4, 32))
    for bad in (x + 1j * x, x > 0, np.full((4, 32), "1")):
        with pytest.raises(ValueError, match="real numbers"):
            simulate(ARCH, samples=2, inputs=bad)
    assert simulate(ARCH, samples=2, inputs=x.astype(int), backward=False).q[0, 0] == pytest.approx(1.0)
