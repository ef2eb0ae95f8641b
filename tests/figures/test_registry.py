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


def test_reproduce_only_keeps_the_other_items_of_the_index(tmp_path, monkeypatch):
    """--only re-renders some items into a folder: index.json replaces their entries and keeps the
    others (the folder still holds their files)."""
    import json

    def make(out, quick, device):
        path = out / "x.txt"
        path.write_text("x")
        return [path]

    monkeypatch.setitem(figures.FIGURES, "fake_a", "fake_a")
    monkeypatch.setitem(figures.FIGURES, "fake_b", "fake_b")
    monkeypatch.setattr(figures, "load", lambda name: SimpleNamespace(make=make))
    run = lambda only: figures.main_reproduce(SimpleNamespace(quick=True, device=None, out=str(tmp_path),  # noqa: E731
                                                              only=only))
    assert run(["fake_a", "fake_b"]) == 0 and run(["fake_b"]) == 0
    items = json.loads((tmp_path / "index.json").read_text())["items"]
    assert [it["name"] for it in items] == ["fake_a", "fake_b"] and all(it["status"] == "ok" for it in items)
