"""Registry and reproduce entry point: unknown names are rejected, failures are listed, not fatal."""

from types import SimpleNamespace

import figures


def test_unknown_figure_is_an_error(tmp_path, capsys):
    rc = figures.main_figure(SimpleNamespace(name="no-such", quick=True, device=None, out=str(tmp_path)))
    assert rc == 2 and "unknown figure" in capsys.readouterr().err


def test_reproduce_lists_failures_and_writes_index(tmp_path, monkeypatch):
    monkeypatch.setitem(figures.FIGURES, "broken", "figures._does_not_exist")
    rc = figures.main_reproduce(SimpleNamespace(quick=True, device=None, out=str(tmp_path), only=["broken"]))
    assert rc == 1
    assert (tmp_path / "index.json").exists()
