"""Declarations from the command line and files; JSON/CSV output."""

import numpy as np
import pytest

from sigprop import io


def test_per_matrix_std_sets_sigma_times_sqrt_fan_in():
    arch = io.load_arch("vit", ["weight_std=0.02", "std_2=0.01", "width=256", "mlp_ratio=2"])
    # sigma = std * sqrt(fan_in): fan-in 256 for W_Q..W_1, 2 * 256 for W_2
    assert np.isclose(arch.sigma_q, 0.02 * 16) and np.isclose(arch.sigma_1, 0.02 * 16)
    assert np.isclose(arch.sigma_2, 0.01 * np.sqrt(512))


def test_std_keys_refused_outside_transformers():
    with pytest.raises(ValueError, match="transformers only"):
        io.load_arch("toy", ["std_q=0.1"])


@pytest.mark.parametrize("item, needle", [
    ("alpha", "KEY=VALUE"), ("nope=1", "unknown key 'nope'"), ("depth=x", "integer"),
    ("alpha=abc", "number"), ("std_o=-1", "std_o must be >= 0"),
    ("weight_std=-0.02", "weight_std must be >= 0"), ("weight_std=nan", "weight_std must be a finite number"),
    ("std_q=abc", "std_q must be a finite number"),
])
def test_bad_sets_name_the_problem(item, needle):
    with pytest.raises(ValueError, match=needle):
        io.load_arch("transformer", [item])


def test_comma_list_makes_a_sweep():
    arch = io.load_arch("toy", ["alpha=0.1,0.5,1.0"])
    assert arch.grid_shape() == (3,)


def test_csv_round_trip(tmp_path):
    path = io.write_csv(tmp_path / "a.csv", {"layer": [0, 1, 2], "value": [1.0, 2.5, np.pi]})
    back = io.read_csv(path)
    assert np.array_equal(back["layer"], [0, 1, 2]) and back["value"][2] == np.pi


def test_json_replaces_non_finite_by_null():
    assert io.dumps({"a": np.array([1.0, np.nan])}) == '{"a": [1.0, null]}'


def test_theory_csv_of_a_sweep_has_one_row_per_point_and_layer(tmp_path):
    import json

    from sigprop.cli import main

    assert main(["theory", "toy", "--depth", "3", "--set", "alpha=0.1,0.5", "--set", "sigma_w2=0.1,0.2",
                 "--out", str(tmp_path)]) == 0
    cols = io.read_csv(tmp_path / "theory.csv")
    data = json.loads((tmp_path / "theory.json").read_text())
    assert list(cols) == ["point", "alpha", "sigma_w2", "layer", "q", "p", "chi", "log_apjn", "log_apjn_back"]
    assert cols["point"].tolist() == [0] * 4 + [1] * 4 and cols["layer"].tolist() == [0, 1, 2, 3] * 2
    assert cols["alpha"].tolist() == [0.1] * 4 + [0.5] * 4 and cols["sigma_w2"].tolist() == [0.1] * 4 + [0.2] * 4
    for name in ("q", "p", "log_apjn", "log_apjn_back"):
        np.testing.assert_array_equal(cols[name], np.asarray(data[name]).T.ravel())
    np.testing.assert_array_equal(cols["chi"].reshape(2, 4)[:, :3], np.asarray(data["chi"]).T)
    assert np.all(np.isnan(cols["chi"].reshape(2, 4)[:, 3]))


def test_fields_the_normalizer_ignores_are_noted(capsys, tmp_path):
    io.load_arch("plain", ["alpha=0.3"])
    assert "alpha has no effect with normalizer 'identity'" in capsys.readouterr().err
    io.load_arch("toy", ["alpha=0.3", "shift=0.1", "eps=0.1"])  # derf reads alpha and shift, not eps
    err = capsys.readouterr().err
    assert "eps has no effect with normalizer 'derf'" in err and "alpha" not in err
    (tmp_path / "t.json").write_text('{"arch": "toy", "alpha": 0.2}')  # the toy kind's default: layernorm
    io.load_arch(str(tmp_path / "t.json"))
    assert "alpha has no effect with normalizer 'layernorm'" in capsys.readouterr().err
    io.load_arch("vit")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("how", ["option", "set"])
def test_file_weight_std_becomes_sigmas_at_the_command_line_width(tmp_path, how):
    """A file's weight_std is converted at the width given by --width (or --set width=...), as the
    same std given by --set is: sigma = 0.02 sqrt(1024) = 0.64, W_2's fan-in is 4 x 1024."""
    path = tmp_path / "t.toml"
    path.write_text('arch = "transformer"\nweight_std = 0.02\n')
    arch = io.load_arch(str(path), width=1024) if how == "option" else io.load_arch(str(path), ["width=1024"])
    assert arch.width == 1024 and np.isclose(arch.sigma_q, 0.64) and np.isclose(arch.sigma_2, 1.28)
    cli = io.load_arch("transformer", ["weight_std=0.02", "width=1024"])
    assert np.isclose(cli.sigma_q, arch.sigma_q) and np.isclose(cli.sigma_2, arch.sigma_2)
    assert np.isclose(io.load_arch(str(path)).sigma_q, 0.02 * 16)  # the file's own width (default 256)


@pytest.mark.parametrize("text, needle", [
    ('{"arch": ["toy"]}', "'arch' must be one of"), ('{"preset": ["toy"]}', "'preset' must be a name"),
    ('{"arch": "toy", "sigma_w2": []}', "non-empty sweep"),
    ('{"preset": "toy", "alpha": [[0.1, 0.2], [0.3]]}', r"alpha must be a finite number or a sweep .*rows of equal"),
])
def test_bad_file_fields_are_refused_with_a_message(tmp_path, text, needle):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=needle):
        io.load_arch(str(path))


def test_csv_with_a_byte_order_mark(tmp_path):
    """Spreadsheets write UTF-8 CSV with a byte-order mark; the first column name must not carry it."""
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefflayer,value\n0,1.5\n1,2.5\n".encode("utf-8"))
    back = io.read_csv(path)
    assert list(back) == ["layer", "value"] and back["value"][1] == 2.5
