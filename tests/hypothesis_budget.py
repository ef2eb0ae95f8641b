"""Example counts for hypothesis properties whose examples are costly (deep recurrences).

Such a property states its count for the default profile, ``@settings(max_examples=examples(15))``;
under ``HYPOTHESIS_PROFILE=thorough`` it draws ten times as many, as the other properties go from
40 to 400 (an explicit ``max_examples`` would otherwise override the profile's count).
"""

import os

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE", "default") == "thorough"


def examples(n: int) -> int:
    """``n`` examples under the default profile, ``10 n`` under the thorough one."""
    return 10 * n if THOROUGH else n
