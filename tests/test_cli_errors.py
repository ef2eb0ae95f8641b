"""Bad command-line input ends in one `sigprop CMD: error: ...` line and exit status 2, before any work."""

import pytest

from sigprop.cli import main


@pytest.fixture
def files(tmp_path):
    (tmp_path / "afile").write_text("")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "nested.json").write_text('{"arch": "toy", "alpha": {"a": 1}}')
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
