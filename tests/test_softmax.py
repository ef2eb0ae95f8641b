"""Exact softmax moments of Gaussian scores against independent references.

References: the uniform softmax at zero variance; for n = 2 the softmax is a
logistic function of one (or two correlated) Gaussian differences, integrated
with scipy.integrate.quad / Gauss–Hermite; for any n, direct sampling of i.i.d.
Gaussian logits with a z-score bound from the sample spread.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import expit

from sigprop.softmax import softmax_moments, softmax_pair_moment


@given(st.integers(1, 500))
def test_zero_variance_is_uniform_attention(n):
    s2, s3, s22 = softmax_moments(n, 0.0)
    assert (s2, s3, s22) == (1 / n, 1 / n ** 2, 1 / n ** 2)
    assert softmax_pair_moment(n, 0.0, 0.3) == pytest.approx(1 / n, rel=1e-14)


def _n2_reference(v):
    """n = 2: A = (expit(-D), expit(D)) with D = e2 - e1 ~ N(0, 2 v)."""
    sd = np.sqrt(2 * v)
    pdf = lambda x: np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)  # noqa: E731

    def e(f):
        return integrate.quad(lambda x: f(sd * x) * pdf(x), -12, 12, epsabs=1e-14, epsrel=1e-13, limit=400)[0]

    s2 = e(lambda d: expit(d) ** 2 + expit(-d) ** 2)
    s3 = e(lambda d: expit(d) ** 3 + expit(-d) ** 3)
    s22 = e(lambda d: (expit(d) ** 2 + expit(-d) ** 2) ** 2)
    return s2, s3, s22


@pytest.mark.parametrize("v", [1e-4, 0.05, 0.6, 2.0, 9.0])
def test_two_tokens_against_quadrature(v):
    ref = _n2_reference(v)
    got = softmax_moments(2, v)
    # both sides are converged quadratures: agreement to ~1e-10 is the expected accuracy
    np.testing.assert_allclose(got, ref, rtol=1e-9)


@pytest.mark.parametrize("v, r", [(0.6, 0.4), (2.0, 0.9), (1.0, -0.5)])
def test_two_tokens_pair_moment_against_quadrature(v, r):
    """T = E[expit(D) expit(D') + expit(-D) expit(-D')], (D, D') ~ N(0, 2v [[1, r], [r, 1]])."""
    x, w = np.polynomial.hermite_e.hermegauss(160)
    w = w / np.sqrt(2 * np.pi)
    sd = np.sqrt(2 * v)
    d1 = sd * x[:, None]
    d2 = sd * (r * x[:, None] + np.sqrt(1 - r * r) * x[None, :])
    f = expit(d1) * expit(d2) + expit(-d1) * expit(-d2)
    ref = np.sum(f * w[:, None] * w[None, :])
    assert softmax_pair_moment(2, v, r) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("n, v, r", [(8, 0.6, 0.4), (8, 4.0, 0.2), (197, 0.1, 0.4), (5, 1.5, -0.2), (32, 0.3, 0.95),
                                     (8, 60.0, 0.7), (16, 30.0, -0.5)])  # (the last two: the lattice rule)
def test_against_sampled_logits(n, v, r):
    rng = np.random.default_rng(1234)
    m = 100_000 if n < 100 else 20_000
    e1 = rng.normal(size=(m, n))
    e2 = r * e1 + np.sqrt(1 - r * r) * rng.normal(size=(m, n))
    a = np.exp(np.sqrt(v) * (e1 - e1.max(1, keepdims=True)))
    a /= a.sum(1, keepdims=True)
    c = np.exp(np.sqrt(v) * (e2 - e2.max(1, keepdims=True)))
    c /= c.sum(1, keepdims=True)
    samples = {"s2": (a ** 2).sum(1), "s3": (a ** 3).sum(1), "s22": (a ** 2).sum(1) ** 2, "t": (a * c).sum(1)}
    s2, s3, s22 = softmax_moments(n, v)
    exact = {"s2": s2, "s3": s3, "s22": s22, "t": softmax_pair_moment(n, v, r)}
    for k, x in samples.items():
        z = (exact[k] - x.mean()) / (x.std(ddof=1) / np.sqrt(m))
        assert abs(z) < 4.5, (k, z)  # 4.5 sigma: 28 comparisons, false-alarm odds ~2e-4


@given(st.integers(2, 300), st.floats(-1.0, 1.0))
def test_first_order_in_the_variance(n, r):
    """A = (1 + e - mean e)/n + O(e^2): S2 = 1/n + (n-1) v/n^2, T = 1/n + r (n-1) v/n^2, + O(v^2)."""
    v = 1e-5
    s2 = softmax_moments(n, v)[0]
    t = softmax_pair_moment(n, v, r)
    assert s2 == pytest.approx(1 / n + (n - 1) * v / n ** 2, abs=5 * v * v)
    assert t == pytest.approx(1 / n + r * (n - 1) * v / n ** 2, abs=5 * v * v)


def test_first_order_closed_forms_miss_at_moderate_variance():
    """docs/theory.md's S2 ~ 1/(1 + (n-1) e^-v) is first-order only: 0.2065 vs the exact 0.1914 at n = 8, v = 0.6."""
    s2 = softmax_moments(8, 0.6)[0]
    assert s2 == pytest.approx(0.19141, abs=2e-5)  # sampled in test_against_sampled_logits to ~3e-4
    assert 1 / (1 + 7 * np.exp(-0.6)) - s2 > 0.015


def test_broadcasting_and_errors():
    v = np.array([[0.0, 0.5], [1.0, 2.0]])
    assert softmax_moments(4, v)[0].shape == (2, 2)
    assert softmax_pair_moment(4, v, 0.5).shape == (2, 2)
    with pytest.raises(ValueError, match="n"):
        softmax_moments(0, 0.1)
    with pytest.raises(ValueError, match="variance"):
        softmax_moments(4, -0.1)
    with pytest.raises(ValueError, match="correlation"):
        softmax_pair_moment(4, 0.1, 1.5)


@pytest.mark.parametrize("var,rho", [(0.6, 0.3), (1.5, -0.4), (2.0, 0.7)])
def test_pair_moments_u_v_match_sampled_logits(var, rho):
    """U = E sum_b A_ab^2 A_cb and V = E (sum_b A_ab A_cb)^2 against 2e5 sampled logit pairs
    (n = 5); tolerance 5 standard errors of the sample mean."""
    from sigprop.softmax import softmax_pair_moments

    n, N = 5, 200_000
    rng = np.random.default_rng(7)
    g, e1, e2 = (rng.standard_normal((N, n)) for _ in range(3))
    sg, se = np.sqrt(abs(rho) * var), np.sqrt((1 - abs(rho)) * var)
    a = np.exp(sg * g + se * e1)
    c = np.exp(np.sign(rho) * sg * g + se * e2)
    a /= a.sum(1, keepdims=True)
    c /= c.sum(1, keepdims=True)
    samples = ((a * c).sum(1), (a * a * c).sum(1), (a * c).sum(1) ** 2)
    for value, x in zip(softmax_pair_moments(n, var, rho), samples):
        assert abs(value - x.mean()) < 5 * x.std() / np.sqrt(N)


def test_pair_moments_limits():
    """var = 0: (1/n, 1/n^2, 1/n^2); rho -> 1: (S2, S3, S22), approached continuously."""
    from sigprop.softmax import softmax_pair_moments

    np.testing.assert_allclose(softmax_pair_moments(6, 0.0, 0.3), (1 / 6, 1 / 36, 1 / 36))
    one = softmax_moments(6, 0.9)
    np.testing.assert_allclose(softmax_pair_moments(6, 0.9, 1.0), one, rtol=1e-12)
    np.testing.assert_allclose(softmax_pair_moments(6, 0.9, 1 - 1e-9), one, rtol=1e-6)


def test_large_logit_variance_blocks_memory_and_refuses_what_it_cannot_do():
    """At var = 40 the pair-moment grids are evaluated in several tau blocks; as the rows become
    identical (rho -> 1) the pair moments must approach the single-row ones (S2, S3, S22)."""
    from sigprop.softmax import softmax_pair_moments

    t, u, v = softmax_pair_moments(8, 40.0, 1 - 1e-7)
    s2, s3, s22 = softmax_moments(8, 40.0)
    np.testing.assert_allclose([t, u, v], [s2, s3, s22], rtol=2e-6)  # O(1 - rho) apart: ~4e-7 here
    with pytest.raises(ValueError, match="too large for the softmax pair moments"):
        softmax_pair_moments(8, 1000.0, 0.3)


def test_beyond_reach_nan_marks_only_the_entries_out_of_reach():
    from sigprop.softmax import beyond_reach, softmax_pair_moments

    near = softmax_pair_moments(8, [0.5, 2.0], [0.3, -0.4])
    with beyond_reach("nan"):
        got = softmax_pair_moments(8, [0.5, 1000.0, 2.0], [0.3, 0.3, -0.4])
    for g, w in zip(got, near):
        np.testing.assert_array_equal(g[[0, 2]], w)
        assert np.isnan(g[1])
    with pytest.raises(ValueError, match="too large"):  # the default is restored on leaving the block
        softmax_pair_moments(8, [0.5, 1000.0], 0.3)
    with pytest.raises(ValueError, match="mode"):
        with beyond_reach("ignore"):
            pass


def test_pair_moments_take_few_nodes_where_the_logits_vary_little(monkeypatch):
    """The pair moments integrate each logit axis of standard deviation sd <= 0.75 with 6 + 40 sd
    Gauss-Hermite nodes (at most 32): the same moments to round-off (amplified n-fold by the power
    f_00^(n-1)) as a 48-node rule, over token counts 2..1024, variances to 1.6 and both signs of rho."""
    import sigprop.softmax as S

    cases = [(n, v, r) for n in (2, 8, 197, 1024) for v in (1e-4, 0.01, 0.05, 0.2, 0.5, 1.0, 1.6)
             for r in (-0.9, 0.0, 0.5, 0.9, 0.999)]
    got = np.array([S.softmax_pair_moments(*c) for c in cases])
    monkeypatch.setattr(S, "_pair_hermite_nodes", lambda sd: 48)
    ref = np.array([S.softmax_pair_moments(*c) for c in cases])
    np.testing.assert_allclose(got, ref, rtol=2e-12, atol=0)


def test_wide_shared_logits_on_the_tau_lattice_match_the_per_node_rule():
    """Where the shared logit part is wide (sd > 0.75), its integral runs on the tau grid's lattice
    (B_j evaluated once per point of tau + g). The previous rule, a trapezoid in g of step <= 0.25
    with B_j evaluated at every (tau, g) node, gives the same moments to 2e-11 over token counts
    2..1024, variances 0.8..20 and both signs of rho (round-off amplified by f_00^(n-1) at n = 1024,
    a few 1e-12 below). Weights of another element's spread, or a missed sign, are off by O(1);
    a lattice shifted by whole steps only shifts the tau grid, which the trapezoid rule does not see."""
    import sigprop.softmax as S

    for n in (2, 197, 1024):
        cases = [(v, r) for v in (0.8, 6.0, 20.0) for r in (-0.999, -0.5, 0.9, 0.99999) if abs(r) * v > S._WIDE_SD ** 2]
        v, r = np.array(cases).T
        wide = np.array(S._pair_wide(n, v, r, True))
        per_node = np.array(S._pair_narrow(n, v, r, True))  # sd > 0.75: its g rule is the trapezoid
        np.testing.assert_allclose(wide, per_node, rtol=5e-11, atol=0)
