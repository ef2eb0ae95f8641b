"""The README documents every preset, declaration key and normalizer (so docs cannot drift)."""

import dataclasses
import re
from pathlib import Path

import pytest

from sigprop.architectures import ARCHITECTURES, PRESETS
from sigprop.io import STD_KEYS
from sigprop.normalizers import available_normalizers

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _documented(name: str) -> bool:
    return re.search(rf"`{re.escape(name)}`", README) is not None


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_documented(name):
    assert _documented(name)


@pytest.mark.parametrize("name", sorted({f.name for cls in ARCHITECTURES.values() for f in dataclasses.fields(cls)}
                                        | set(STD_KEYS) | {"weight_std"}))
def test_keys_documented(name):
    assert _documented(name)


@pytest.mark.parametrize("name", available_normalizers())
def test_normalizers_documented(name):
    assert _documented(name)


def test_two_setup_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert any("pip install" in b and "sigprop reproduce" in b for b in blocks)
    assert any("pip install" in b and "pytest" in b for b in blocks)


def test_citation_names_the_released_version():
    """CITATION.cff, pyproject.toml and ``sigprop.__version__`` give one version."""
    import sigprop
    root = Path(__file__).resolve().parents[1]
    cff = re.search(r"^version:\s*(\S+)\s*$", (root / "CITATION.cff").read_text(), re.M)
    project = re.search(r'^version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    assert cff and project
    assert cff.group(1) == project.group(1) == sigprop.__version__
