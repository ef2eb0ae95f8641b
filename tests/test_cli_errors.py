"""Bad command-line input ends in one `sigprop CMD: error: ...` line and exit status 2, before any work."""

import pytest

from sigprop.cli import main


@pytest.fixture
def files(tmp_path):
    (tmp_path / "afile").write_text("")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "nested.json").write_text('{"arch": "toy", "alpha": {"a": 1}}')
    (tmp_path / "broken.json").write_text('{"arch": "toy",')
    (tmp_path / "broken.toml").write_text('arch = toy\n')
    (tmp_path / "decl.yaml").write_text('arch: toy\n')
    (tmp_path / "both.json").write_text('{"preset": "toy", "arch": "plain"}')
    (tmp_path / "nomean.json").write_text('{"log_apjn": {"a": 1}}')
    (tmp_path / "ragged.json").write_text('{"log_apjn": [[1, 2], [3]]}')
    return tmp_path


@pytest.mark.parametrize("argv,needle", [
    (["theory", "toy", "--depth", "3", "--out", "{d}/afile"], "is an existing file"),
    (["theory", "{d}"], "a folder"),
    (["theory", "{d}/list.json"], "one table/object"),
    (["theory", "{d}/nested.json"], "alpha must be"),
    (["theory", "transformer", "--set", "p0=-0.9"], "p0 must be >= -q0/(n_tokens-1)"),
    (["theory", "plain", "--set", "residual=maybe"], "residual must be true or false"),
    # the Monte-Carlo would take seconds to minutes: these fail before it starts
    (["validate", "toy", "--depth", "3", "--out", "{d}/afile"], "is an existing file"),
    (["validate", "toy", "--depth", "3", "--samples", "1", "--out", "{d}/v"], "samples must be >= 2"),
    (["validate", "toy", "--depth", "3", "--width", "0", "--out", "{d}/v"], "width must be an integer >= 1"),
    (["validate", "toy", "--depth", "3", "--zmax", "-1", "--out", "{d}/v"], "zmax must be a positive"),
    (["reproduce", "--only", "--out", "{d}/r"], "--only needs at least one figure"),
    (["reproduce", "--only", "nope", "--out", "{d}/r"], "unknown figure(s) nope"),
    (["figure", "apjn", "--out", "{d}/afile"], "is an existing file"),
    (["figure", "nope", "--out", "{d}/r"], "unknown figure 'nope'"),
    (["theory", "{d}/broken.json"], "broken.json: not valid JSON"),
    (["theory", "{d}/broken.toml"], "broken.toml: not valid TOML"),
    (["theory", "{d}/decl.yaml"], "must be .toml or .json"),
    (["theory", "{d}/both.json"], "not both"),
    (["theory", "transformer", "--set", "weight_std=0.02", "--set", "sigma_q=2"],
     "conflicting settings: std_q and sigma_q"),
    (["theory", "transformer", "--set", "std_o=0.02", "--set", "sigma_o=2"], "std_o and sigma_o"),
    (["validate", "toy", "--depth", "3", "--seed", "99999999999999999999", "--out", "{d}/v"], "seed must be"),
    (["validate", "toy", "--depth", "3", "--seed", "-1", "--out", "{d}/v"], "seed must be"),
    (["fit", "{d}/nomean.json"], "holds no 'mean' and 'stderr'"),
    (["theory", "toy", "--depth", "3", "--set", "alpha=0.1,0.5", "--set", "sigma_w2=0.1,0.2,0.3"],
     "must broadcast together"),
    (["fit", "{d}/ragged.json"], "not an array of numbers"),
])
def test_bad_input_is_one_line_error(files, capsys, argv, needle):
    rc = main([a.replace("{d}", str(files)) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err and f"sigprop {argv[0]}: error:" in err
    assert "Traceback" not in err
    assert not (files / "v").exists() and not (files / "r").exists()  # nothing ran, nothing written


def test_out_of_memory_is_a_one_line_error(monkeypatch, capsys):
    import sigprop.theory

    def huge(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(sigprop.theory, "solve", huge)
    assert main(["theory", "toy", "--depth", "1000000000"]) == 2
    assert "out of memory; reduce the depth" in capsys.readouterr().err
