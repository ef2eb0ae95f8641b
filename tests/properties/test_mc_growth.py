"""Growth laws measured on small finite-width ensembles (slow suite).

The Monte-Carlo engine is compared with the theorems through the fitter: the
fitted law on an ensemble must be the one the recurrence gives, and its
bootstrap interval (over networks) must contain the value derived in closed
form, up to the stated O(1/d) finite-width allowance.
"""

import numpy as np
import pytest

pytest.importorskip("jax")
mc = pytest.importorskip("sigprop.montecarlo")

import sigprop  # noqa: E402
from sigprop import PlainMLP, ToyResidual  # noqa: E402
from sigprop.fitting import fit_growth  # noqa: E402
from sigprop.theory import asymptotics as A  # noqa: E402

pytestmark = pytest.mark.slow


def _fit_mc(res, name="log_apjn", **kw):
    logs = getattr(res, name)
    l = np.arange(logs.shape[1])
    vals = np.exp(logs) if name.startswith("log") else logs
    m = np.exp(res.mean(name)) if name.startswith("log") else res.mean(name)
    se = m * res.stderr(name) if name.startswith("log") else res.stderr(name)
    return fit_growth(l, m, se, samples=np.exp(logs) if name.startswith("log") else vals, **kw)


@pytest.mark.parametrize("sw2", [0.5, 3.0])
def test_plain_relu_exponential_rate(sw2):
    d = 512
    res = mc.simulate(PlainMLP(depth=20, sigma_w2=sw2, q0=1.0, p0=0.3), width=d, samples=16, probes=4, seed=1)
    r = _fit_mc(res)
    assert r.model == "exp" and r.regime == ("chaotic" if sw2 > 2 else "ordered")
    lo, hi = sorted(1 / np.array(r.intervals["xi"]))
    # Jensen: E[log chi] = log chi - O(1/d) per layer; allow 4/d on the rate
    assert lo - 4 / d <= np.log(sw2 / 2) <= hi + 4 / d


def test_pre_ln_toy_power_law_matches_recurrence_fit():
    arch = ToyResidual(depth=64, normalizer="layernorm", sigma_w2=0.5, eps=0.0, q0=1.0, p0=0.0)
    res = mc.simulate(arch, width=256, samples=32, probes=4, seed=2)
    r = _fit_mc(res, models=("power", "exp", "stretched_exp_half", "log"))
    assert r.model == "power"
    theory = fit_growth(np.arange(65), np.exp(sigprop.solve(arch).log_apjn), window=r.window, models=("power",))
    lo, hi = r.intervals["zeta"]
    width = hi - lo
    assert lo - width <= theory.params["zeta"] <= hi + width  # 2x the 95% interval ~ 4 sigma


def test_apjn_multiplicative_across_ranges_at_finite_width():
    """log J(0, L) = log J(0, k) + log J(k, L) up to O(1/d): forward and backward sweeps of one ensemble."""
    arch = sigprop.preset("toy", depth=32, alpha=0.5)
    res = mc.simulate(arch, width=512, samples=32, probes=8, seed=3)
    k = 12
    lhs = res.log_apjn[:, -1]
    rhs = res.log_apjn[:, k] + res.log_apjn_back[:, k]
    diff = lhs - rhs
    se = diff.std(ddof=1) / np.sqrt(diff.size)
    assert abs(diff.mean()) <= 4 * se + 8 / 512  # 4 sigma + O(1/d) allowance


def test_derf_toy_stretched_exponential_not_power_law():
    arch = ToyResidual(depth=96, normalizer="derf", alpha=1.0, sigma_w2=0.46 ** 2, q0=1.0, p0=0.0)
    assert A.transition_depth(arch) == 0.0
    res = mc.simulate(arch, width=256, samples=16, probes=4, seed=4)
    r = _fit_mc(res)
    assert (r.model, r.regime) == ("stretched_exp", "subcritical"), r.evidence
    assert r.scores["power"] - r.scores["stretched_exp_half"] > 10


def test_lns_variance_logarithmic_at_finite_width():
    """LNS toy: the measured q follows q0 + sw2 H_l (log growth), not a line."""
    arch = ToyResidual(depth=64, normalizer="lns", sigma_w2=0.5, eps=0.0, q0=1.0, p0=0.0)
    res = mc.simulate(arch, width=256, samples=16, probes=2, seed=5)
    r = _fit_mc(res, name="q")
    assert (r.model, r.regime) == ("log", "logarithmic"), r.evidence
    lo, hi = r.intervals["c"]
    w = hi - lo
    assert lo - w <= 0.5 <= hi + w  # c = sw2 (H_l = log l + gamma + O(1/l)); 2x the 95% interval
