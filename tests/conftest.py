"""Test configuration: float64 everywhere, hypothesis without deadlines (2-core CI); the shared
reference integrals (``reference_quadrature``) importable from every test folder."""

import os
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings

# default: the same 40 examples per property on every run (a test run's verdict does not depend on
# its random draws); HYPOTHESIS_PROFILE=thorough: 400 fresh random examples per property (ten times the
# stated count where a property sets its own, hypothesis_budget.examples)
settings.register_profile("default", deadline=None, max_examples=40, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=400,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

np.seterr(all="raise", under="ignore")

sys.path.insert(0, str(Path(__file__).resolve().parent))
