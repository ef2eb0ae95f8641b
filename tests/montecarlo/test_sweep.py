"""Monte-Carlo sweeps over traced numbers: one compiled call for a grid, weights shared by its points.

The reference for every grid point is an independent run: ``simulate`` of that
point alone with the same seed draws the same weights, input and probes, so the
numbers must agree to round-off (float64: to 1e-10; the grid only reorders
floating-point sums, as a different batch size does).
"""

import numpy as np
import pytest

pytest.importorskip("jax")

from sigprop import preset, solve  # noqa: E402
from sigprop.montecarlo import simulate  # noqa: E402
from sigprop.montecarlo.network import Sweep  # noqa: E402

FIELDS = ("q", "p", "log_apjn", "log_apjn_back", "log_grad")


def _assert_points_match(arch, rtol, **kw):
    g = simulate(arch, **kw)
    shape = arch.grid_shape()
    assert g.q.shape == (kw["samples"], arch.depth + 1) + shape
    assert g.meta["grid_shape"] == list(shape)
    flat = {f: getattr(g, f).reshape(g.q.shape[:2] + (-1,)) for f in FIELDS}
    for i, point in enumerate(arch.grid_points()):
        alone = simulate(point, **kw)
        for f in FIELDS:
            np.testing.assert_allclose(flat[f][..., i], getattr(alone, f), rtol=rtol, atol=rtol, err_msg=f"{f} {i}")
    return g


@pytest.mark.parametrize("arch", [
    preset("toy", depth=6, width=24, alpha=[0.2, 0.7, 1.5]),
    preset("transformer", depth=4, width=32, n_tokens=4, heads=2, normalizer="derf",
           alpha=[0.3, 1.0], sigma_2=[1.0, 1.4]),  # a per-layer weight scale varies too
    preset("toy", depth=5, width=16, normalizer="layernorm", q0=[1.0, 3.0], p0=[0.5, -0.2], eps=[0.0, 0.1]),
], ids=["toy-alpha", "transformer-alpha-sigma2", "toy-inputs-eps"])
def test_every_grid_point_equals_its_own_run_float64(arch):
    _assert_points_match(arch, 1e-10, samples=3, probes=2, seed=5, dtype="float64")


def test_two_dimensional_grid_float32_and_shapes_of_the_theory():
    arch = preset("toy", depth=4, width=16, alpha=np.array([[0.3], [1.2]]), sigma_w2=[0.1, 0.3, 0.5])
    g = _assert_points_match(arch, 1e-5, samples=2, probes=2, seed=1)
    assert g.mean("log_apjn").shape == solve(arch).log_apjn.shape == (5, 2, 3)
    # one network differs from grid point to grid point only through the swept numbers
    assert not np.allclose(g.log_apjn[:, -1, 0, 0], g.log_apjn[:, -1, 1, 2])


def test_sweep_with_user_inputs_chunks_and_l0():
    arch = preset("transformer", depth=4, width=16, n_tokens=3, normalizer="dyt", alpha=[0.5, 2.0])
    x = np.random.default_rng(2).standard_normal((3, 3, 16))
    _assert_points_match(arch, 1e-10, samples=3, probes=1, seed=0, dtype="float64", inputs=x, l0=1, chunk=2)


def test_points_that_do_not_differ_give_equal_columns():
    g = simulate(preset("toy", depth=3, width=16, normalizer="layernorm", alpha=[1.0, 1.0]), samples=2, probes=1)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(g, f)[..., 0], getattr(g, f)[..., 1])


def test_sweep_shares_the_draws_and_stacks_only_what_varies():
    arch = preset("transformer", depth=4, width=16, n_tokens=2, normalizer="derf", alpha=[0.5, 1.0, 2.0],
                  sigma_1=[1.0, 1.0, 1.2])
    sw = Sweep.build(arch)
    assert sw.shape == (3,) and sw.size == 3
    assert sw.axes["alpha"] == 0 and sw.axes["q0"] is None and sw.axes["eps"] is None
    assert np.shape(sw.hyper["alpha"]) == (3,)
    mlp = [j for j, t in enumerate(arch.pattern) if t == "mlp"][0]
    assert sw.axes["std"][mlp] == {"w1": 0, "w2": None}  # only the first MLP matrix's scale is swept
    assert np.shape(sw.hyper["layers"]["std"][mlp]["w1"]) == (arch.blocks, 3)


def test_sweeps_over_structure_are_refused():
    with pytest.raises(ValueError, match="mu would change the network"):
        simulate(preset("toy", depth=3, width=16, mu=[1.0, 0.9]), samples=2)


def test_one_network_sweep_has_grid_shaped_nan_stderr():
    g = simulate(preset("toy", depth=3, width=16, alpha=[0.5, 1.0]), samples=1, probes=1)
    assert g.mean("q").shape == g.stderr("q").shape == (4, 2) and np.all(np.isnan(g.stderr("q")))


def test_sweep_edge_cases():
    with pytest.raises(ValueError, match="non-empty sweep"):  # refused by the declaration itself
        simulate(preset("toy", depth=2, width=8, alpha=[]), samples=1)
    with pytest.raises(ValueError, match="inputs= replaces"):
        simulate(preset("toy", depth=2, width=8, q0=[1.0, 2.0]), samples=1, inputs=np.ones((2, 8)))
    # a constant list of a structural field is one value, not a sweep over it
    g = simulate(preset("toy", depth=2, width=8, mu=[1.0, 1.0], alpha=[0.5, 1.5]), samples=1, probes=1)
    assert g.q.shape == (1, 3, 2)
