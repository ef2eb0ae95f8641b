"""Growth-law fitting and regime classification (``sigprop fit``).

>>> import numpy as np
>>> from sigprop.fitting import fit_growth
>>> l = np.arange(1, 200)
>>> r = fit_growth(l, 1 + 0.3 * l)        # Pre-LN toy: J = q/q0 = 1 + sw2 l
>>> r.model, r.regime, round(r.params["zeta"], 2)
('power', 'critical', 1.0)
"""

from .fit import FitResult, fit_growth
from .models import MODEL_NAMES

__all__ = ["FitResult", "fit_growth", "MODEL_NAMES"]
