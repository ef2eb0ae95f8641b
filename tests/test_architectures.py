"""Declarations: validation of bad input, presets, init scalings."""

import numpy as np
import pytest

from sigprop import PlainMLP, ToyResidual, Transformer, preset
from sigprop.architectures import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build(name):
    arch = preset(name)
    assert arch.depth >= 1


@pytest.mark.parametrize("changes,field", [
    ({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"), ({"q0": -1.0}, "q0"), ({"q0": np.nan}, "q0"),
    ({"p0": 2.0}, "p0"), ({"depth": 0}, "depth"), ({"n_tokens": 0}, "n_tokens"),
    ({"normalizer": "nope"}, "normalizer"), ({"sigma_w2": -0.1}, "sigma_w2"), ({"eps": -1.0}, "eps"),
    ({"placement": "middle"}, "placement"), ({"init": "fancy"}, "init"),
])
def test_bad_input_names_the_parameter(changes, field):
    with pytest.raises(ValueError, match=field if field != "normalizer" else "unknown normalizer"):
        ToyResidual(**changes)


def test_p0_must_give_a_valid_gram_matrix_of_n_tokens():
    # (q0 - p0) I + p0 11^T has eigenvalue q0 + (n - 1) p0: PSD iff p0 >= -q0/(n-1)
    Transformer(n_tokens=8, q0=1.0, p0=-1.0 / 7)
    with pytest.raises(ValueError, match="p0 must be >= -q0/\\(n_tokens-1\\)"):
        Transformer(n_tokens=8, q0=1.0, p0=-0.2)
    ToyResidual(n_tokens=2, q0=1.0, p0=-0.99)  # two tokens: only |p0| <= q0


@pytest.mark.parametrize("changes,field", [
    ({"alpha": True}, "alpha"), ({"alpha": {"a": 1}}, "alpha"), ({"normalizer": ["derf"]}, "normalizer"),
    ({"activation": 3}, "activation"), ({"placement": None}, "placement"),
])
def test_wrong_types_are_value_errors_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        ToyResidual(**changes)


def test_residual_flag_must_be_a_bool():
    with pytest.raises(ValueError, match="residual must be True or False"):
        PlainMLP(residual="false")


def test_numeric_sequences_become_sweeps():
    arch = ToyResidual(alpha=(0.1, 0.2), sigma_w2=[0.5, 1.0])
    assert isinstance(arch.alpha, np.ndarray) and arch.grid_shape() == (2,)


def test_base_declaration_and_non_declarations_fail_clearly():
    from sigprop import Architecture, solve

    with pytest.raises(NotImplementedError, match="declares no sublayers"):
        solve(Architecture(depth=2))
    with pytest.raises(TypeError, match="expects an Architecture"):
        solve("toy")


def test_transformer_validates_its_fields():
    with pytest.raises(ValueError, match="pattern"):
        Transformer(pattern=("conv",))
    with pytest.raises(ValueError, match="sigma_q"):
        Transformer(sigma_q=-1.0)
    with pytest.raises(ValueError, match="heads"):
        Transformer(width=10, heads=3)


def test_plain_mlp_has_no_normalizer():
    with pytest.raises(ValueError, match="normalizer"):
        PlainMLP(normalizer="layernorm")


def test_plain_mlp_refuses_scaled_inits():
    """PlainMLP's branch phi(W h + b) has no output projection: init='scaled' / 'depth_scaled' used to
    be accepted and ignored (the same numbers as 'standard')."""
    for init in ("scaled", "depth_scaled"):
        for residual in (False, True):
            with pytest.raises(ValueError, match="init must be 'standard' for PlainMLP"):
                PlainMLP(init=init, residual=residual)
    assert PlainMLP(init="standard").init == "standard"


def test_vit_preset_matches_reference_configuration():
    v = preset("vit")
    assert (v.width, v.n_tokens, v.depth, v.blocks) == (1024, 197, 256, 128)
    assert v.sigma_q == pytest.approx(0.64) and v.sigma_2 == pytest.approx(1.28)
    assert (v.q0, v.p0) == (1.0, 0.4)


def test_scaled_and_depth_scaled_init_factors():
    t = preset("transformer", init="scaled")
    assert t.output_scale2(0) == pytest.approx(1 / (2 * t.blocks))
    d = preset("transformer", init="depth_scaled")
    assert d.output_scale2(0) == pytest.approx(1 / 2)
    assert d.output_scale2(5) == pytest.approx(1 / (2 * 3))  # sublayer 5 is in block 3


def test_grid_shape_broadcasts_array_fields():
    arch = ToyResidual(alpha=np.ones((3, 1)), sigma_w2=np.ones(4))
    assert arch.grid_shape() == (3, 4)
