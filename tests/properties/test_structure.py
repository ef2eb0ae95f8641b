"""Structural facts of the exact recurrences, over random declarations.

Complements ``tests/theory/test_solver.py`` (which checks p <= q for the toy
and transformer and the exact LN/LNS closed forms) with: the Markov
factorization of the APJN across layer ranges, |p| <= q for every
architecture family including user normalizers and post-norm, chi >= 1 for
residual branches, and the monotone relaxation of rho to its fixed point.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sigprop
from sigprop import PlainMLP, ToyResidual, Transformer
from sigprop.theory import asymptotics as A

from hypothesis_budget import examples

# "algebraic": a user bounded odd sigmoid u/sqrt(1+u^2), registered in conftest.py

NORMS = ["identity", "layernorm", "rmsnorm", "dyt", "derf", "algebraic"]
ACTS = ["identity", "relu", "tanh", "gelu", "erf", "silu"]


@st.composite
def toys(draw, depth=40):
    q0 = draw(st.floats(0.1, 4.0))
    return ToyResidual(depth=depth, normalizer=draw(st.sampled_from(NORMS)), alpha=draw(st.floats(0.1, 2.0)),
                       # sigma_b2 = 0: biases drive rho -> 1, where the quadrature defect below appears
                       sigma_w2=draw(st.floats(0.05, 2.0)), sigma_b2=0.0,
                       activation=draw(st.sampled_from(ACTS)), placement=draw(st.sampled_from(["pre", "post"])),
                       q0=q0, p0=draw(st.floats(-0.999, 0.999)) * q0, eps=0.0)


@st.composite
def stacks(draw, depth=40):
    return Transformer(depth=depth, pattern=("mlp",), normalizer=draw(st.sampled_from(NORMS)),
                       alpha=draw(st.floats(0.1, 2.0)), sigma_1=draw(st.floats(0.3, 2.0)),
                       sigma_2=draw(st.floats(0.3, 2.0)), activation=draw(st.sampled_from(ACTS[1:])),
                       q0=1.0, p0=draw(st.floats(0.0, 0.99)), eps=0.0)


@st.composite
def plains(draw, depth=30):
    # sigma_b2 = 0: with biases rho -> 1 and the quadrature drives p above q (see
    # test_biased_plain_mlp_keeps_p_below_q below)
    return PlainMLP(depth=depth, sigma_w2=draw(st.floats(0.5, 3.0)), sigma_b2=0.0,
                    activation=draw(st.sampled_from(ACTS[1:])), residual=draw(st.booleans()),
                    q0=1.0, p0=draw(st.floats(-0.99, 0.99)))


@given(st.one_of(toys(), stacks(), plains().filter(lambda a: not a.residual)), st.integers(1, 29))
def test_apjn_factorizes_across_layer_ranges(arch, k):
    """J(0, L) = J(0, k) J(k, L), with J(k, L) from a fresh recurrence started at (q[k], p[k]).

    The restart only knows the moments at layer k, so this checks that the
    mean-field state is (q, p) alone and that the APJN is multiplicative.
    (The residual plain MLP also carries the per-unit mean m, and attention the
    tangents' cross-token covariance: neither restarts from (q, p).)
    """
    full = sigprop.solve(arch)
    rest = sigprop.solve(arch.replace(depth=arch.depth - k, q0=float(full.q[k]), p0=float(full.p[k])))
    # the restart repeats the same float64 operations: agreement to round-off
    np.testing.assert_allclose(rest.log_apjn, full.log_apjn[k:] - full.log_apjn[k], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rest.q, full.q[k:], rtol=1e-10)


@given(st.one_of(toys(), stacks(), plains()))
def test_covariance_bounded_by_variance(arch):
    """|p| <= q (Cauchy-Schwarz) at every layer."""
    tr = sigprop.solve(arch)
    assert np.all(np.abs(tr.p) <= tr.q * (1 + 1e-12))


@given(st.one_of(toys().filter(lambda a: a.placement == "pre"), stacks()))
def test_residual_branches_never_contract_the_apjn(arch):
    """chi = 1 + (branch gain) >= 1 with an identity skip path (pre-norm)."""
    tr = sigprop.solve(arch)
    assert np.all(tr.chi >= 1 - 1e-12)


@given(st.floats(0.5, 2.0), st.floats(0.5, 2.0), st.sampled_from(["relu", "gelu", "silu"]), st.floats(0.0, 0.95),
       st.sampled_from(["layernorm", "rmsnorm"]))
@settings(max_examples=examples(25))
def test_rho_relaxes_monotonically_to_fixed_point(s1, s2, act, rho0, norm):
    """Scale-invariant MLP stacks: |rho[l] - rho*| is non-increasing.

    rho' is a convex combination of rho and F(rho) = dp/dq.
    """
    arch = Transformer(pattern=("mlp",), normalizer=norm, sigma_1=s1, sigma_2=s2, activation=act, eps=0.0,
                       q0=1.0, p0=rho0, depth=300)
    rho_star = A.rho_fixed_point(arch)
    gap = np.abs(sigprop.solve(arch).rho - rho_star)
    assert np.all(np.diff(gap) <= 1e-12)
    assert gap[-1] < gap[0] or gap[0] < 1e-12


def test_user_normalizer_is_used_by_the_recurrence():
    """The registered sigmoid really differs from tanh-DyT (guards the registry path of the properties)."""
    a = sigprop.solve(ToyResidual(depth=50, normalizer="algebraic", alpha=1.0, p0=0.0))
    b = sigprop.solve(ToyResidual(depth=50, normalizer="dyt", alpha=1.0, p0=0.0))
    assert abs(a.log_apjn[-1] - b.log_apjn[-1]) > 1e-3
    # the registered function's moments, against adaptive quadrature of u/sqrt(1+u^2) written out here
    from scipy import integrate

    from sigprop.normalizers import NormParams, get_normalizer

    for q in (0.05, 1.0, 30.0):
        g = lambda h: np.exp(-h * h / (2 * q)) / np.sqrt(2 * np.pi * q)  # noqa: E731
        qt = integrate.quad(lambda h: h * h / (1 + h * h) * g(h), -np.inf, np.inf, epsabs=1e-14)[0]
        qh = integrate.quad(lambda h: (1 + h * h) ** -3 * g(h), -np.inf, np.inf, epsabs=1e-14)[0]
        got_qt, _, got_qh = get_normalizer("algebraic").maps(np.float64(q), None, NormParams(alpha=1.0),
                                                             need_p=False)
        assert got_qt == pytest.approx(qt, rel=1e-8) and got_qh == pytest.approx(qh, rel=1e-8), q


@pytest.mark.parametrize("arch", [
    PlainMLP(depth=30, sigma_w2=0.5, sigma_b2=0.5, activation="gelu", q0=1.0, p0=0.0),
    ToyResidual(depth=40, normalizer="dyt", alpha=0.5, placement="post", sigma_w2=1.0, sigma_b2=0.0625,
                activation="identity", q0=1.0, p0=0.0),
], ids=["plain-gelu-bias", "post-dyt-bias"])
def test_biased_networks_keep_p_below_q(arch):
    """Found by test_covariance_bounded_by_variance (thorough profile): biases drive rho -> 1, where the
    2-D quadrature of p' exceeded the 1-D quadrature of q' by ~1e-11 and the next layer raised; the solver
    now keeps |p| <= q (which holds exactly) against that round-off."""
    tr = sigprop.solve(arch)
    assert np.all(np.abs(tr.p) <= tr.q * (1 + 1e-12))
