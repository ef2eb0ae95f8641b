"""Figures 3 (APJN J(l, L), gradient amplification) and 5 (curse of depth): rendering and science.

Each figure is rendered once in quick mode (module-scoped fixtures); the tests
read back its CSV. Monte-Carlo agreement uses Student-t bounds: the standard
errors come from ``S`` networks (``S - 1`` degrees of freedom) and ``m``
depths/layers are tested at once, so each bound is the two-sided quantile of
the t distribution at a family-wise level of 5% (Bonferroni). The seeds are
fixed, so a pass or a failure is reproducible.
"""

import numpy as np
import pytest
from scipy import stats

from sigprop.io import read_csv

FAMILY_LEVEL = 0.05


def t_bound(samples: int, tests: int) -> float:
    """Two-sided Student-t quantile for ``tests`` simultaneous comparisons (Bonferroni)."""
    return float(stats.t.ppf(1 - FAMILY_LEVEL / (2 * tests), samples - 1))


def _files_ok(paths, stem):
    names = sorted(p.name for p in paths)
    assert names == sorted(f"{stem}.{ext}" for ext in ("png", "pdf", "csv"))
    assert all(p.stat().st_size > 0 for p in paths)


# ---------------------------------------------------------------------------
# Figure 3
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fig3(tmp_path_factory):
    from figures import fig3_apjn

    paths = fig3_apjn.make(tmp_path_factory.mktemp("fig3"), quick=True)
    return paths, read_csv(next(p for p in paths if p.suffix == ".csv"))


FIG3_COLUMNS = {"architecture", "layer", "depth", "width", "networks", "marker", "theory_log_apjn_back",
                "mc_log_apjn_back_mean", "mc_log_apjn_back_stderr", "mc_log_grad_mean", "mc_log_grad_stderr",
                "mc_log_grad_minus_log_apjn_back_mean", "mc_log_grad_minus_log_apjn_back_stderr",
                "theory_law", "theory_law_params", "probes", "normalizer", "alpha", "sigma_w2", "n_tokens", "q0",
                "p0"}


def test_fig3_renders(fig3):
    paths, c = fig3
    _files_ok(paths, "fig3_apjn")
    assert FIG3_COLUMNS <= set(c)
    assert len(set(c["architecture"])) == 3
    for k in FIG3_COLUMNS - {"architecture", "theory_law", "theory_law_params", "normalizer", "alpha", "sigma_w2"}:
        assert np.all(np.isfinite(c[k].astype(float))), k
    derf, toy = c["normalizer"] == "derf", np.char.find(c["architecture"].astype(str), "toy") >= 0
    assert np.all(c["alpha"][derf] == 1.0) and np.all(np.isnan(c["alpha"][~derf]))
    assert np.allclose(c["sigma_w2"][toy], 0.46 ** 2) and np.all(np.isnan(c["sigma_w2"][~toy]))
    # J(L, L) = 1 exactly, in theory and in every network
    last = c["layer"] == c["depth"]
    assert np.all(c["theory_log_apjn_back"][last] == 0) and np.all(c["mc_log_apjn_back_mean"][last] == 0)


def _rows(c, label):
    return (c["architecture"] == label) & (c["marker"] == 1)


@pytest.mark.parametrize("label,law", [("Pre-LN toy", "power"), ("Derf toy (alpha=1)", "stretched_exp")])
def test_fig3_toy_apjn_agrees_with_monte_carlo(fig3, label, law):
    _, c = fig3
    m = _rows(c, label)
    z = (c["mc_log_apjn_back_mean"][m] - c["theory_log_apjn_back"][m]) / c["mc_log_apjn_back_stderr"][m]
    assert np.max(np.abs(z)) < t_bound(int(c["networks"][m][0]), int(m.sum())), z
    # docs/theory.md: Pre-LN toy critical (power law), Derf toy subcritical (stretched exponential)
    assert set(c["theory_law"][m]) == {law}


def test_fig3_gradient_follows_apjn_for_preln_toy(fig3):
    """For the Pre-LN toy the loss gradient grows like J(l, L) (paired difference consistent with 0)."""
    _, c = fig3
    m = _rows(c, "Pre-LN toy") & (c["layer"] < c["depth"])
    z = c["mc_log_grad_minus_log_apjn_back_mean"][m] / c["mc_log_grad_minus_log_apjn_back_stderr"][m]
    assert np.max(np.abs(z)) < t_bound(int(c["networks"][m][0]), int(m.sum())), z


# ---------------------------------------------------------------------------
# Figure 5
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fig5(tmp_path_factory):
    from figures import fig5_curse_of_depth

    paths = fig5_curse_of_depth.make(tmp_path_factory.mktemp("fig5"), quick=True)
    return paths, read_csv(next(p for p in paths if p.suffix == ".csv"))


FIG5_COLUMNS = {"variant", "depth", "normalizer", "init", "theory_q", "theory_log_apjn", "mc_q_mean", "mc_q_stderr",
                "mc_log_apjn_mean", "mc_log_apjn_stderr", "width", "networks", "fit_q_law", "fit_q_label",
                "fit_apjn_law", "fit_apjn_label", "probes", "n_tokens"}
VARIANTS = ("Pre-LN", "LNS", "scaled init", "depth-scaled init")


def test_fig5_renders(fig5):
    paths, c = fig5
    _files_ok(paths, "fig5_curse_of_depth")
    assert FIG5_COLUMNS <= set(c)
    assert set(c["variant"]) == set(VARIANTS)
    assert np.max(c["depth"]) >= 10_000
    assert np.all(np.isfinite(c["theory_q"])) and np.all(np.isfinite(c["theory_log_apjn"]))
    mc = np.isfinite(c["mc_q_mean"])
    assert mc.sum() >= 4 * len(VARIANTS)
    for k in ("mc_q_stderr", "mc_log_apjn_mean", "mc_log_apjn_stderr"):
        assert np.array_equal(np.isfinite(c[k]), mc), k


def closed_form_q(variant: str, L: np.ndarray) -> np.ndarray:
    """``q[L]`` of the ReLU MLP stack with all sigma = 1, q0 = 1, from docs/theory.md's MLP map.

    LayerNorm gives ``qt = 1`` so each sublayer adds ``s21 qt / 2 = 1/2`` times its
    output-scale factor: 1 (Pre-LN), ``1/b`` (LNS: ``qt = 1/b``), ``1/(2L)``
    (scaled), ``1/(2b)`` (depth-scaled).
    """
    harmonic = np.array([np.sum(1.0 / np.arange(1, n + 1)) for n in L.astype(int)])
    return {"Pre-LN": 1 + L / 2, "LNS": 1 + harmonic / 2, "scaled init": np.full(L.shape, 1.25),
            "depth-scaled init": 1 + harmonic / 4}[variant]


@pytest.mark.parametrize("variant", VARIANTS)
def test_fig5_theory_matches_closed_form(fig5, variant):
    _, c = fig5
    m = c["variant"] == variant
    ref = closed_form_q(variant, c["depth"][m])
    np.testing.assert_allclose(c["theory_q"][m], ref, rtol=1e-10)  # float64 sums of <= 1e4 terms
    # scale-invariant normalizer + identity branch: J(0, L) = q[L]/q[0] (docs/theory.md)
    np.testing.assert_allclose(c["theory_log_apjn"][m], np.log(ref), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("variant,law", [("Pre-LN", "power"), ("LNS", "log"), ("scaled init", "bounded"),
                                         ("depth-scaled init", "log")])
def test_fig5_growth_law_per_curve(fig5, variant, law):
    _, c = fig5
    m = c["variant"] == variant
    assert set(c["fit_q_law"][m]) == {law} and set(c["fit_apjn_law"][m]) == {law}
    if law == "power":
        zeta = float(c["fit_q_label"][m][0].split("zeta=")[1])
        assert abs(zeta - 1.0) < 0.02  # exact q = 1 + L/2: zeta -> 1 (2 decimals printed)


def test_fig5_monte_carlo_agrees_with_theory(fig5):
    _, c = fig5
    m = np.isfinite(c["mc_q_mean"])
    bound = t_bound(int(c["networks"][m][0]), 2 * int(m.sum()))
    zq = (c["mc_q_mean"][m] - c["theory_q"][m]) / c["mc_q_stderr"][m]
    zj = (c["mc_log_apjn_mean"][m] - c["theory_log_apjn"][m]) / c["mc_log_apjn_stderr"][m]
    assert np.max(np.abs(zq)) < bound, zq
    assert np.max(np.abs(zj)) < bound, zj


def test_scaled_init_equivalent_network_is_identical():
    """The first L sublayers of the standard equivalent are the scaled network of depth L, network by network."""
    from figures.fig5_curse_of_depth import base_arch, scaled_as_standard
    from sigprop.montecarlo import simulate

    arch = base_arch().replace(init="scaled", width=16)
    kw = dict(width=16, samples=2, probes=1, seed=1, backward=False)
    genuine = simulate(arch.replace(depth=3), **kw)
    equiv = simulate(scaled_as_standard(arch, 3, 5), **kw)
    np.testing.assert_allclose(equiv.q[:, :4], genuine.q, rtol=1e-5)  # same keys; float32 rounding only
    np.testing.assert_allclose(equiv.log_apjn[:, :4], genuine.log_apjn, rtol=1e-5, atol=1e-6)


def test_scaled_init_depths_same_numbers_either_way(monkeypatch):
    """Shallower scaled depths give the same Monte-Carlo numbers whether they share one compiled full-depth
    network or run at their own depth."""
    import figures.fig5_curse_of_depth as fig5

    arch = fig5.base_arch().replace(init="scaled", width=16)
    monkeypatch.setattr(fig5, "OWN_DEPTH_SECONDS", float("inf"))
    shared = fig5.mc_curves(arch, [2, 4], width=16, samples=2)
    monkeypatch.setattr(fig5, "OWN_DEPTH_SECONDS", -1.0)
    own = fig5.mc_curves(arch, [2, 4], width=16, samples=2)
    for name in ("q", "log_apjn"):
        np.testing.assert_allclose(own[name], shared[name], rtol=1e-5, atol=1e-6)
