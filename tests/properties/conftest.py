"""A user-registered bounded odd sigmoid for the property tests, removed afterwards.

The registry is global; the normalizer must not outlive these tests (the
README test checks that every registered normalizer is documented).
"""

import pytest

from sigprop import normalizers

NAME = "algebraic"


@pytest.fixture(autouse=True, scope="package")
def algebraic_normalizer():
    """``u / sqrt(1 + u^2)`` registered through :func:`sigprop.normalizers.pointwise_normalizer`."""
    added = NAME not in normalizers.available_normalizers()
    if added:
        normalizers.pointwise_normalizer(NAME, lambda u, xp: u / xp.sqrt(1 + u * u),
                                         lambda u, xp: (1 + u * u) ** -1.5, bounded=True,
                                         description="algebraic sigmoid u/sqrt(1+u^2)")
    yield NAME
    if added:
        normalizers._REGISTRY.pop(NAME, None)
