"""Run each fast SymPy derivation and require every symbolic-vs-sigprop check to hold."""
import importlib

import pytest

from derivations import NAMES


def _params():
    """Every derivation; those flagged SLOW carry the ``slow`` mark (``pytest -m slow``)."""
    for name in NAMES:
        slow = getattr(importlib.import_module(f"derivations.{name}"), "SLOW", False)
        yield pytest.param(name, marks=pytest.mark.slow) if slow else name


@pytest.mark.parametrize("name", list(_params()))
def test_derivation_checks_hold(name):
    mod = importlib.import_module(f"derivations.{name}")
    checks = mod.run()
    assert checks, "a derivation must check something"
    bad = [c.line() for c in checks if not c.ok]
    assert not bad, "\n".join(bad)


def test_check_detects_mismatch():
    from derivations import Check
    assert not Check("x", 1.0, 1.01, 1e-3).ok
    assert Check("x", 1.0, 1.0005, 1e-3).ok


def test_main_rejects_unknown_name():
    from derivations.__main__ import main
    assert main(["no_such_result"]) == 2


def test_main_exits_nonzero_on_mismatch(monkeypatch):
    import derivations.plain_relu as mod
    from derivations import Check
    from derivations.__main__ import main
    monkeypatch.setattr(mod, "run", lambda: [Check("forced mismatch", 1.0, 2.0, 1e-6)])
    assert main(["plain_relu"]) == 1


def test_only_a_full_run_rewrites_results(monkeypatch, tmp_path):
    import derivations.__main__ as entry
    import derivations.plain_relu as mod
    from derivations import Check
    monkeypatch.setattr(mod, "run", lambda: [Check("stub", 1.0, 1.0, 1e-6)])
    monkeypatch.setattr(entry, "NAMES", ("plain_relu",))
    monkeypatch.setattr(entry, "HERE", tmp_path)
    assert entry.main(["--fast"]) == 0 and not (tmp_path / "RESULTS.md").exists()
    assert entry.main(["plain_relu"]) == 0 and not (tmp_path / "RESULTS.md").exists()
    assert entry.main([]) == 0 and "## plain_relu" in (tmp_path / "RESULTS.md").read_text()
