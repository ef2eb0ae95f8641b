"""fit_growth on curves whose law and parameters are known in closed form.

References are the generating formulas (not the fitter); noise-free curves are
recovered to round-off, noisy ensembles within their bootstrap intervals.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigprop.fitting import fit_growth
from sigprop.fitting.models import MODEL_NAMES

L = np.arange(1, 257)


@given(st.floats(0.05, 5.0), st.floats(-1.5, 2.5).filter(lambda z: abs(z) > 0.05))
def test_exact_power_law_recovered(a, zeta):
    r = fit_growth(L, a * L ** zeta)
    assert (r.model, r.regime) == ("power", "critical")
    # exact data: only float64 round-off of log y (~1e-16 x log range) remains
    assert r.params["zeta"] == pytest.approx(zeta, abs=1e-9)
    assert r.params["a"] == pytest.approx(a, rel=1e-8)


@given(st.floats(0.5, 50.0), st.floats(0.2, 3.0))
def test_exact_stretched_exponential_recovered(lam, a):
    r = fit_growth(L, a * np.exp(np.sqrt(L / lam)))
    assert (r.model, r.regime) == ("stretched_exp", "subcritical")
    assert r.params["beta"] == 0.5
    assert r.params["lam"] == pytest.approx(lam, rel=1e-8)


@given(st.floats(3.0, 200.0), st.sampled_from([1.0, -1.0]))
def test_exact_exponential_recovered(xi_abs, sign):
    xi = sign * xi_abs
    r = fit_growth(L, 2.0 * np.exp(L / xi))
    assert r.model == "exp"
    assert r.regime == ("chaotic" if xi > 0 else "ordered")
    assert r.params["xi"] == pytest.approx(xi, rel=1e-8)


def test_log_and_bounded_recovered():
    r = fit_growth(L, 1.0 + 0.4 * np.log(L))
    assert (r.model, r.regime) == ("log", "logarithmic")
    assert r.params["c"] == pytest.approx(0.4, rel=1e-8)
    r = fit_growth(L, 2.0 - 1.0 / L)
    assert (r.model, r.regime) == ("bounded", "bounded")
    assert r.params["a"] == pytest.approx(2.0, rel=1e-8)
    r = fit_growth(L, np.full(L.size, 1.3))  # a constant: every model fits, the simplest is reported
    assert r.model == "bounded"


def test_free_beta_stretched_exponential_is_opt_in():
    y = np.exp(0.8 * L ** 0.3)
    r = fit_growth(L, y, models=MODEL_NAMES)
    assert r.model == "stretched_exp" and r.params["beta"] == pytest.approx(0.3, abs=1e-5)
    assert "lam" not in r.params


def test_window_skips_pre_asymptotic_exponential_phase():
    """Exponential growth up to l = 40, then a power law matched in value and slope."""
    l = np.arange(1, 2001, dtype=float)
    l0, xi = 40.0, 10.0
    zeta = l0 / xi  # d log y / d l continuous at l0: zeta / l0 = 1 / xi
    logy = np.where(l <= l0, l / xi, l0 / xi + zeta * np.log(l / l0))
    r = fit_growth(l, np.exp(logy))
    assert r.model == "power" and r.window[0] > l0
    assert r.params["zeta"] == pytest.approx(zeta, rel=1e-9)
    assert "pre-asymptotic" in r.evidence


def test_explicit_window_and_json_contract():
    r = fit_growth(L, 3 * L ** 0.5, window=(10, 100))
    assert r.window == (10.0, 100.0)
    d = r.to_dict()
    assert set(d) == {"model", "regime", "params", "intervals", "window", "scores"}
    assert set(d["intervals"]) >= set(d["params"])


def _ensemble(rng, S, zeta, noise):
    """S networks with log y = zeta log l + common offset + per-layer noise (random walk in l)."""
    steps = rng.normal(0, noise, size=(S, L.size))
    return np.exp(zeta * np.log(L) + np.cumsum(steps, axis=1) / np.sqrt(L.size))


def test_bootstrap_interval_covers_truth():
    """95% bootstrap intervals over networks cover the true exponent in most replications.

    The ensemble mean of exp(noise) shifts log y by var/2 <= 1.3e-3 at the last
    layer, far inside the interval widths. 40 replications: with true coverage
    >= 0.9 the chance of fewer than 32 hits is below 1%.
    """
    hits, widths = 0, []
    for rep in range(40):
        ys = _ensemble(np.random.default_rng(rep), 24, 0.6, 0.05)
        se = ys.std(axis=0, ddof=1) / np.sqrt(ys.shape[0])
        r = fit_growth(L, ys.mean(axis=0), se, samples=ys, models=("power",), window=(8, 256), seed=rep)
        lo, hi = r.intervals["zeta"]
        hits += lo <= 0.6 <= hi
        widths.append(hi - lo)
    assert hits >= 32
    assert np.median(widths) < 0.05  # informative: the intervals are not trivially wide


def test_input_errors():
    with pytest.raises(ValueError, match="positive"):
        fit_growth(L, -np.ones(L.size))
    with pytest.raises(ValueError, match="at least 4"):
        fit_growth([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="unknown model"):
        fit_growth(L, L * 1.0, models=("cubic",))
    with pytest.raises(ValueError, match="differ in length"):
        fit_growth(L, L[:-1] * 1.0)
    with pytest.raises(ValueError, match="4 distinct"):  # many rows, one layer
        fit_growth(np.full(20, 5.0), np.linspace(1, 2, 20))
    with pytest.raises(ValueError, match="stderr must be >= 0"):
        fit_growth(L, L * 1.0, -np.ones(L.size))
    with pytest.raises(ValueError, match="at least one"):
        fit_growth(L, L * 1.0, models=[])
    with pytest.raises(ValueError, match="resolution"):
        fit_growth(L, L * 1.0, resolution=-1.0)
    with pytest.raises(ValueError, match="window must be"):
        fit_growth(L, L * 1.0, window="full")
    with pytest.raises(ValueError, match="l_first must be <= l_last"):
        fit_growth(L, L * 1.0, window=(50, 10))
    assert fit_growth(L, L ** 0.5, models="power").model == "power"  # one name, not its letters
    # layer 0 and non-finite entries are dropped, not fatal; dropped non-finite points are reported
    r = fit_growth(np.arange(0, 100), np.concatenate([[1.0], np.arange(1, 99) ** 0.5, [np.nan]]))
    assert r.model == "power"
    assert "1 non-finite point(s)" in r.evidence


def test_noisy_constant_profile_is_bounded_whatever_law_wins():
    """A flat profile with 1% noise: whichever law BIC picks, a growth rate consistent with 0 at 95%
    is classified bounded (scaled initialization measured by Monte-Carlo looks like this)."""
    rng = np.random.default_rng(3)
    l = np.arange(1, 65)
    for seed in range(5):
        y = 1.25 * np.exp(np.random.default_rng(seed).normal(0, 0.01, l.size))
        r = fit_growth(l, y, np.full(l.size, 0.0125))
        assert r.regime == "bounded", (r.model, r.evidence)
    # a real exponential is still chaotic
    assert fit_growth(l, np.exp(l / 20) * np.exp(rng.normal(0, 0.01, l.size)), np.full(l.size, 0.01)).regime \
        == "chaotic"


def test_decaying_stretched_exponential_is_ordered_with_a_valid_lam_interval():
    l = np.arange(1, 400)
    rng = np.random.default_rng(3)
    y = 5 * np.exp(-np.sqrt(l / 10.0)) * np.exp(0.002 * rng.standard_normal(l.size))
    r = fit_growth(l, y, models=("stretched_exp_half", "exp", "power"))
    assert r.model == "stretched_exp" and r.regime == "ordered"
    assert r.params["b"] < 0 and r.params["lam"] == pytest.approx(10.0, rel=0.01)
    lo, hi = r.intervals["lam"]
    assert lo <= r.params["lam"] <= hi < np.inf  # the interval holds its own estimate
    blo, bhi = r.intervals["b"]
    assert (lo, hi) == pytest.approx((1 / blo ** 2, 1 / bhi ** 2))


def test_intervals_use_student_t_when_the_noise_is_estimated():
    """8 points, noise level unknown: the 95% interval of zeta must cover the truth ~95% of the time
    (with 1.96 instead of Student's t on 6 degrees of freedom it covered ~90%)."""
    rng = np.random.default_rng(0)
    l = np.arange(1, 9)
    hits = 0
    trials = 1000
    for _ in range(trials):
        y = 2.0 * l ** 0.5 * np.exp(0.05 * rng.standard_normal(l.size))
        lo, hi = fit_growth(l, y, models=("power",), window=(1, 8)).intervals["zeta"]
        hits += lo <= 0.5 <= hi
    assert 0.93 <= hits / trials <= 0.97


def test_rate_consistent_with_zero_is_bounded_also_for_bootstrap_and_free_beta():
    rng = np.random.default_rng(1)
    l = np.arange(1, 65)
    # 16 networks whose own growth exponents scatter around 0: no growth in the ensemble
    S = np.exp(np.outer(rng.normal(0.0, 0.1, 16), np.log(l)) + 0.01 * rng.standard_normal((16, l.size)))
    m, se = S.mean(0), S.std(0, ddof=1) / 4
    r = fit_growth(l, m, se, samples=S, models=("power",), window=(1, 64))
    lo, hi = r.intervals["zeta"]
    assert lo <= 0 <= hi and r.regime == "bounded"
    flat = 1 + 0.01 * rng.standard_normal(l.size)
    r = fit_growth(l, flat, models=("stretched_exp",))
    assert r.regime == "bounded"


def test_log_values_of_a_deep_decay_fit():
    """log y = l log 0.05 reaches -2996 (y underflows float64): fitted from the logs."""
    l = np.arange(0, 1001)
    r = fit_growth(l, l * np.log(0.05), log=True)
    assert (r.model, r.regime) == ("exp", "ordered") and r.params["xi"] == pytest.approx(1 / np.log(0.05))


def test_an_exponential_slower_than_the_profile_says_so():
    """J = 1 + 0.25 l / 2000 (a depth-scaled branch): the exponential is the best local law, with a
    correlation length beyond the deepest layer; the evidence says so and gives the change over the
    window, which must match the profile's own ratio, and the regime is undetermined, not chaotic. A
    resolved exponential (xi = 20 over 200 layers) carries no such remark and keeps its regime."""
    l = np.arange(1, 2001, dtype=float)
    J = 1 + 0.25 * l / 2000
    r = fit_growth(l, J)
    assert r.model == "exp" and r.params["xi"] > l[-1]
    assert r.regime == "undetermined"  # not "chaotic": no e-fold was observed
    assert "exceeds the deepest fitted layer 2000" in r.evidence and "less than one e-fold" in r.evidence
    lo, hi = r.window
    factor = float(r.evidence.split("changes by a factor ")[1].split()[0])
    assert factor == pytest.approx((1 + 0.25 * hi / 2000) / (1 + 0.25 * lo / 2000), rel=0.01)
    grow, decay = fit_growth(l[:200], np.exp(l[:200] / 20)), fit_growth(l[:200], np.exp(-l[:200] / 20))
    assert "deepest fitted layer" not in grow.evidence and grow.regime == "chaotic"
    assert "deepest fitted layer" not in decay.evidence and decay.regime == "ordered"
    slow = fit_growth(l[:200], np.exp(-l[:200] / 400))  # a decay by less than one e-fold
    assert slow.model == "exp" and slow.regime == "undetermined"


def test_bic_penalty_prefers_the_fixed_beta_law_on_noisy_data():
    """The free-beta stretched exponential has one parameter more than its beta = 1/2 special case: on
    noisy data from the latter the penalty k log N must make the simpler law win (without a penalty the
    extra parameter always fits the noise better). 1% log-normal noise with its stated error, 20 draws."""
    l = np.arange(1, 257, dtype=float)
    wins = 0
    for seed in range(20):
        eps = np.random.default_rng(seed).normal(size=l.size)
        y = 1.5 * np.exp(np.sqrt(l / 4)) * np.exp(0.01 * eps)
        r = fit_growth(l, y, 0.01 * y, models=MODEL_NAMES, window=(1, 256))
        wins += r.variant == "stretched_exp_half"
    assert wins >= 18, wins


def test_understated_errors_are_rescaled_by_the_fit_quality():
    """Errors stated 5x too small: the intervals scale by sqrt(chi^2/dof), so the 95% interval of zeta still
    covers the truth about 95% of the time (binomial: >= 85 of 100 draws fails with probability < 1e-3)."""
    l = np.arange(1, 129, dtype=float)
    covered = 0
    for seed in range(100):
        eps = np.random.default_rng(100 + seed).normal(size=l.size)
        y = 2.0 * l ** 0.7 * np.exp(0.05 * eps)
        r = fit_growth(l, y, 0.01 * y, models=("power",), window=(1, 128))
        lo, hi = r.intervals["zeta"]
        covered += lo <= 0.7 <= hi
    assert covered >= 85, covered


def test_a_window_counts_as_evidence_from_delta_bic_10():
    """"Very strong" evidence (Kass & Raftery) is Delta BIC >= 10 between the best and the runner-up
    law. Exact power-law data with stated relative errors sigma: every competitor's chi^2, hence every
    window's margin, scales as 1/sigma^2, so a scan in sigma sweeps the margin of the full profile
    through 10 in 3% steps. A fit that names no informative window must have margin < 10 on all
    layers; one that picked a window must have margin >= 10 there (a threshold of 9 or 11 fails)."""
    l = np.arange(1, 129, dtype=float)
    y = 1.3 * l ** 0.5

    def margin(r):
        s = sorted(r.scores.values())
        return s[1] - s[0]

    sigma0 = 0.05
    m0 = margin(fit_growth(l, y, sigma0 * y, window=(1, 128)))
    seen = {"none": [], "picked": []}
    for m in np.geomspace(6.0, 16.0, 34):  # target margins of the full profile
        sigma = sigma0 * np.sqrt(m0 / m)
        r = fit_growth(l, y, sigma * y)
        none = "no window gives very strong evidence" in r.evidence
        if none:
            assert r.window == (1, 128)
        seen["none" if none else "picked"].append(margin(r))
    assert seen["none"] and seen["picked"]
    assert max(seen["none"]) < 10.0 <= min(seen["picked"])
    assert max(seen["none"]) > 9.4 and min(seen["picked"]) < 10.6  # the scan straddles 10 closely
