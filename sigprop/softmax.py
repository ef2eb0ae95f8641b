"""Moments of the softmax of Gaussian attention scores at infinite width (NumPy only).

At infinite width the attention scores ``s_ab = (W_Q x_a).(W_K x_b)/sqrt(d_head)``
of permutation-symmetric tokens (per-unit moments ``qt``, ``pt`` after the
normalizer) are jointly Gaussian over the random weights with covariance
``Cov(s_ab, s_cb') = sQK K(a, c) K(b, b')``, ``K = pt + (qt - pt) delta``,
``sQK = (sigma_Q sigma_K)^2`` (a sum of ``d_head`` independent products). For one
query ``a`` the key-dependent part of its score row is therefore **independent
and identically distributed** over the ``n`` keys,

    e_b ~ N(0, v),   v = sQK qt (qt - pt),

(the part shared by all keys cancels in the softmax), and the rows of two
queries ``a != c`` are correlated key by key with correlation ``r = pt / qt``.
Everything the mean-field maps need from the attention matrix ``A = softmax(e)``
is then a handful of exchangeable moments:

* ``S2 = E sum_b A_ab^2``, ``S3 = E sum_b A_ab^3``, ``S22 = E (sum_b A_ab^2)^2``
  (one query) — :func:`softmax_moments`;
* ``T = E sum_b A_ab A_cb`` (two queries) — :func:`softmax_pair_moment`.

They are computed *exactly* (to quadrature accuracy, ~1e-10) with the Laplace
representation ``1/Z^k = Gamma(k)^-1 int_0^inf t^(k-1) exp(-t Z) dt``, which turns
the ``n``-dimensional expectation into a 1-D (``S2``, ``S3``, ``S22``) or 2-D
(``T``) integral over ``log t`` of products of 1-D Gaussian expectations, e.g.

    S2 = n int A_2(tau) phi_0(tau)^(n-1) dtau,
    A_k(tau) = E[exp(k (tau + e) - e^(tau + e))],   phi_0 = A_0,

integrated by the trapezoid rule in ``tau = log t`` (exponentially convergent:
the integrands are analytic in a strip) and Gauss–Hermite in ``e`` (trapezoid in
``e`` when ``sqrt(v)`` is large and the feature ``e^(tau+e) ~ 1`` is narrow in the
Gaussian's units). In the pair moments a wide shared logit part ``g`` is integrated on
the tau grid's own step, so that ``tau + g`` stays on one lattice (:func:`_pair_wide`).

The closed forms often quoted for these moments, ``S2 ~ 1/(1 + (n-1) exp(-v))``
and ``T ~ 1/(1 + (n-1) exp(-sQK pt (qt - pt)))``, agree with the exact values to
first order in ``v`` only (e.g. ``n = 8``, ``v = 0.6``: 0.2065 vs the exact 0.1913,
which finite-width networks reproduce); see the README's theory notes.
"""

from __future__ import annotations

import contextlib
import contextvars
from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

#: trapezoid step in tau = log t (the integrands are analytic in the strip
#: ``|Im tau| < pi/2``, so the error is ~``exp(-pi^2 / _H_TAU)`` ~ 1e-13)
_H_TAU = 0.3
#: elements integrated together (bounds the temporaries of the 2-D rule)
_CHUNK = 8


@lru_cache(maxsize=8)
def _hermite(n: int):
    x, w = hermegauss(n)
    return x, w / np.sqrt(2.0 * np.pi)


def _gauss_rule(sd_max: float, n_gh: int):
    """Nodes ``x`` and weights for ``E[f(sd x)]``, ``x ~ N(0, 1)``, resolving features of width ~1 in ``sd x``."""
    if sd_max <= 0.75:
        return _hermite(n_gh)
    step = min(0.25, 0.25 / sd_max)
    x = np.arange(-9.0, 9.0 + step / 2, step)
    return x, step * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _base_product(*factors):
    """``(e^y, exp(-e^y))`` for ``y = y1 + y2 + ...`` from the factors ``e^y1``, ``e^y2``, ... (the grids'
    nodes are sums of a few axes' values, whose exponentials are outer products: one exp per node),
    with ``e^y`` capped at ``e^60`` (``exp(-e^60)`` is 0, and ``e^(4 * 60)`` stays finite), so that
    ``exp(k y - e^y) = e^(k y) exp(-e^y)`` never overflows."""
    with np.errstate(over="ignore", under="ignore"):
        ey = factors[0]
        for f in factors[1:]:
            ey = ey * f
        ey = np.minimum(ey, _EXP60)
        return ey, np.exp(-ey)


_EXP60 = np.exp(60.0)


def _tau_grid(n: int, var_max: float, tail: float) -> np.ndarray:
    """``tau = log t`` nodes: the integrands grow like ``e^(k tau + k^2 v / 2)`` below the
    peak at ``tau ~ -log n`` (``tail`` e-folds kept) and die above ``9 sqrt(v)``."""
    lo = -np.log(n) - 2.0 * var_max - tail
    hi = 9.0 * np.sqrt(var_max) + 5.0
    return np.arange(lo, hi + _H_TAU / 2, _H_TAU)


def _check(n, var, rho=None):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (number of tokens) must be an integer >= 1, got {n!r}")
    var = np.asarray(var, dtype=float)
    if not np.all(np.isfinite(var)) or np.any(var < 0):
        raise ValueError(f"score variance must be finite and >= 0, got {var!r}")
    if rho is None:
        return var
    rho = np.asarray(rho, dtype=float)
    if not np.all(np.isfinite(rho)) or np.any(np.abs(rho) > 1):
        raise ValueError(f"score correlation must lie in [-1, 1], got {rho!r}")
    return np.broadcast_arrays(var, rho)


def softmax_moments(n: int, var):
    """``(S2, S3, S22)`` of ``A = softmax(e)`` for ``n`` i.i.d. ``e_b ~ N(0, var)``.

    ``S2 = E sum_b A_b^2``, ``S3 = E sum_b A_b^3``, ``S22 = E (sum_b A_b^2)^2``;
    at ``var = 0``: ``1/n``, ``1/n^2``, ``1/n^2``.

    Args:
        n: number of tokens (``>= 1``).
        var: logit variance(s) ``sQK qt (qt - pt)``; any shape.

    Returns:
        Three arrays of the shape of ``var``.
    """
    var = _check(n, var)
    shape = var.shape
    if n == 1:
        one = np.ones(shape)
        return one, one.copy(), one.copy()
    out = np.empty((3, var.size))
    out[0], out[1:] = 1.0 / n, 1.0 / n ** 2  # v = 0: uniform attention
    todo = np.flatnonzero(var.ravel() > 0)
    flat = var.ravel()[todo]
    n_tau, n_x = _sizes(n, flat.max(initial=0.0), 18.0, 40)
    chunk = int(np.clip(2e7 // (n_tau * n_x), 1, 64 * _CHUNK))  # temporaries of ~2e7 nodes
    for start in range(0, flat.size, chunk):
        v = flat[start:start + chunk]
        sd = np.sqrt(v)
        tau = _tau_grid(n, float(v.max(initial=0.0)), 18.0)
        x, w = _gauss_rule(float(sd.max(initial=0.0)), 40)
        ey, base = _base_product(np.exp(tau)[None, :, None], np.exp(sd[:, None, None] * x))  # (E, tau, x)
        bw = base * w
        a0 = bw.sum(-1)
        t = bw * ey * ey
        a2 = t.sum(-1)
        t *= ey
        a3 = t.sum(-1)
        a4 = (t * ey).sum(-1)
        p1 = a0 ** (n - 1)
        m2 = n * _H_TAU * np.sum(a2 * p1, axis=-1)
        m3 = n / 2.0 * _H_TAU * np.sum(a3 * p1, axis=-1)
        m4 = n / 6.0 * _H_TAU * np.sum(a4 * p1, axis=-1)
        cross = n * (n - 1) / 6.0 * _H_TAU * np.sum(a2 * a2 * a0 ** (n - 2), axis=-1)
        out[:, todo[start:start + v.size]] = m2, m3, m4 + cross
    return tuple(o.reshape(shape) for o in out)


def softmax_pair_moment(n: int, var, rho):
    """``T = E sum_b A_ab A_cb`` for two query rows with correlated logits.

    Row ``a`` has i.i.d. logits ``e_b ~ N(0, var)``, row ``c`` has ``e'_b`` with
    the same law and ``corr(e_b, e'_b) = rho`` (independent across keys). With
    ``e = g + eps``, ``e' = +-g + eps'`` (``Var g = |rho| var``):

        T = n int int f_11 f_00^(n-1) dtau dtau',
        f_jk = E_g[B_j(tau + g) B_k(tau' +- g)],  B_j(s) = E_eps[e^(j(s+eps)) exp(-e^(s+eps))].

    At ``var = 0`` or ``rho = 1`` (identical rows) it is ``1/n`` and ``S2`` respectively.

    Args:
        n: number of tokens (``>= 1``).
        var: logit variance ``sQK qt (qt - pt)``.
        rho: logit correlation between the two rows, ``pt / qt``.
    """
    return softmax_pair_moments(n, var, rho, higher=False)[0]


def softmax_pair_moments(n: int, var, rho, *, higher: bool = True):
    """``(T, U, V)`` for two query rows ``a != c`` with correlated logits (see :func:`softmax_pair_moment`).

    ``T = E sum_b A_ab A_cb``, ``U = E sum_b A_ab^2 A_cb``, ``V = E (sum_b A_ab A_cb)^2``.
    ``U`` and ``V`` enter the cross-token covariance of Jacobian tangents through the
    softmax path. With ``1/Z^2 = int t exp(-t Z) dt``:

        U = n int int f_21 f_00^(n-1),   V = n int int f_22 f_00^(n-1) + n (n-1) int int f_11^2 f_00^(n-2).

    At ``var = 0``: ``1/n``, ``1/n^2``, ``1/n^2``; at ``rho = 1``: ``S2``, ``S3``, ``S22``.
    ``higher=False`` skips ``U`` and ``V`` (returned as ``None``).
    """
    var, rho = _check(n, var, rho)
    shape = var.shape
    k = 3 if higher else 1
    if n == 1:
        out = np.ones((k, var.size))
    else:
        out = np.empty((k, var.size))
        out[0], out[1:] = 1.0 / n, 1.0 / n ** 2  # v = 0: uniform attention
        same = (rho.ravel() == 1.0) & (var.ravel() > 0)  # identical rows: (S2, S3, S22)
        if same.any():
            s2, s3, s22 = softmax_moments(n, var.ravel()[same])
            out[:, same] = (s2, s3, s22)[:k]
        todo = (var.ravel() > 0) & ~same
        if todo.any():
            out[:, todo] = _pair(n, var.ravel()[todo], rho.ravel()[todo], higher)
    res = tuple(o.reshape(shape) for o in out)
    return res if higher else (res[0], None, None)


#: most quadrature nodes (tau x shared x row-specific logit, counted for the per-node rule) of one
#: pair-moment evaluation; the grids grow like var^1.5 (var = 300 needs 4e9; with the lattice rule
#: of _pair_wide about 0.8 s per element on 2 CPU cores, against 13 s for the per-node rule)
_PAIR_NODES_MAX = 5e9


#: what the pair moments do with variances beyond their reach: "raise" (ValueError) or "nan"
#: (those entries only); set by :func:`beyond_reach`
_BEYOND = contextvars.ContextVar("sigprop_softmax_beyond", default="raise")


@contextlib.contextmanager
def beyond_reach(mode: str):
    """Within the block, pair moments whose logit variance is beyond the quadrature's reach are
    ``"raise"`` (a ``ValueError``, the default) or ``"nan"`` (those entries alone; the others are
    computed as usual). Used by ``solve(..., overflow="nan")`` for sweeps; per thread (a context variable).
    """
    if mode not in ("raise", "nan"):
        raise ValueError(f"mode must be 'raise' or 'nan', got {mode!r}")
    token = _BEYOND.set(mode)
    try:
        yield
    finally:
        _BEYOND.reset(token)


def _sizes(n: int, var, tail: float, n_gh: int):
    """``(tau nodes, logit nodes)`` of :func:`_tau_grid` and :func:`_gauss_rule` at variance(s) ``var``,
    counted without building them (they grow like ``var`` and ``sqrt(var)``)."""
    var = np.asarray(var, dtype=float)
    sd = np.sqrt(var)
    n_tau = np.ceil((9.0 * sd + 5.0 + np.log(n) + 2.0 * var + tail) / _H_TAU + 0.5)
    step = np.minimum(0.25, 0.25 / np.maximum(sd, 1e-300))
    n_x = np.where(sd <= 0.75, n_gh, np.ceil(18.0 / step + 0.5))
    return n_tau, n_x


def _pair_hermite_nodes(sd: float) -> int:
    """Gauss-Hermite nodes for one logit axis of the pair moments at standard deviation ``sd <= 0.75``:
    the integrands are smooth on the scale 1 in the logit, so the rule's error falls like a power
    ``~2 m`` of ``sd`` and few nodes suffice when ``sd`` is small (deep Pre-LN transformers: ``rho -> 1``,
    both parts small). ``6 + 40 sd`` (at most 32) gives the 32-node rule's moments to round-off
    (at most 6e-13 relative, at n = 1024 where ``f_00^(n-1)`` amplifies it; the 32-node rule is
    2e-13 from a 64-node one there), with a few nodes to spare: a rule with half the nodes is 5e-11
    off (measured over n = 2..1024, var <= 1.6, |rho| <= 0.99999; ``tests/test_softmax.py``)."""
    return int(min(32, 6 + np.ceil(40.0 * sd)))


def _pair_nodes(n: int, var):
    """Quadrature nodes of one pair-moment evaluation at logit variance(s) ``var``."""
    n_tau, n_x = _sizes(n, var, 28.0, 32)
    return n_tau * n_x ** 2


def out_of_reach(n: int, var) -> np.ndarray:
    """Where the logit variance ``var`` is beyond the pair moments' reach (~330), as a mask; under
    :func:`beyond_reach` ``"raise"`` (the default) any such entry raises the ``ValueError`` instead."""
    var = np.asarray(var, dtype=float)
    far = _pair_nodes(n, var) > _PAIR_NODES_MAX
    if np.any(far) and _BEYOND.get() == "raise":
        v = float(np.max(var))
        raise ValueError(f"attention logit variance {v:.4g} is too large for the softmax pair moments "
                         f"({float(_pair_nodes(n, v)):.2g} quadrature nodes; the grids grow like var^1.5): such "
                         "logits come from a large sigma_q sigma_k or from q growing without a normalizer; reduce "
                         "them or the depth")
    return far


def _pair(n: int, v_flat: np.ndarray, r_flat: np.ndarray, higher: bool) -> np.ndarray:
    out = np.empty((3 if higher else 1, v_flat.size))
    far = out_of_reach(n, v_flat)
    if far.any():  # (beyond_reach("nan"): those entries alone)
        out[:, far] = np.nan
        if not far.all():
            out[:, ~far] = _pair(n, v_flat[~far], r_flat[~far], higher)
        return out
    wide = np.abs(r_flat) * v_flat > _WIDE_SD ** 2
    if wide.any():
        out[:, wide] = _pair_wide(n, v_flat[wide], r_flat[wide], higher)
    if not wide.all():
        out[:, ~wide] = _pair_narrow(n, v_flat[~wide], r_flat[~wide], higher)
    return out


#: shared-logit standard deviation above which the pair moments integrate it on the tau lattice
_WIDE_SD = 0.75


def _weighted_powers(count: int, we, *factors) -> list:
    """``[sum_eps we (e^y)^j exp(-e^y)]`` for ``j = 0 .. count-1``, summed over the last axis (the
    row-specific logit's nodes), ``e^y`` the product of the ``factors`` (:func:`_base_product`)."""
    ey, base = _base_product(*factors)
    sums = [base @ we]
    for _ in range(1, count):
        base *= ey
        sums.append(base @ we)
    return sums


def _assemble(n: int, b: list, c: list, wg, higher: bool) -> list:
    """``[T, U, V]`` (or ``[T]``) from the rows' sums ``b_j[..., i, m]`` and ``c_k[..., i', m]`` over the
    row-specific logit (``i`` the tau node, ``m`` the shared logit's node, ``wg`` its weights, broadcast
    against ``b_j``): ``f_jk[..., i, i'] = sum_m wg[m] b_j[..., i, m] c_k[..., i', m]`` over the
    ``(tau, tau')`` grid."""

    def f(j, k):
        return (b[j] * wg) @ np.swapaxes(c[k], -1, -2)

    f00, f11 = f(0, 0), f(1, 1)
    # f_00^(n-2) and f_00^(n-1), with the nodes where f_00^(n-1) < 1e-300 (a negligible share of
    # every moment) set to 0 first: powers with subnormal results take libm's slow path
    f00 = np.where(f00 > 1e-300 ** (1.0 / (n - 1)), f00, 0.0)
    pn2 = f00 ** (n - 2)
    p1 = pn2 * f00
    res = [n * _H_TAU ** 2 * np.sum(f11 * p1, axis=(-2, -1))]
    if higher:
        res.append(n * _H_TAU ** 2 * np.sum(f(2, 1) * p1, axis=(-2, -1)))
        res.append(_H_TAU ** 2 * np.sum(n * f(2, 2) * p1 + n * (n - 1) * f11 * f11 * pn2, axis=(-2, -1)))
    return res


def _pair_narrow(n: int, v_flat: np.ndarray, r_flat: np.ndarray, higher: bool) -> np.ndarray:
    """Pair moments with ``B_j`` evaluated at every ``(tau, g)`` node: Gauss-Hermite in ``g`` where its
    sd is at most 0.75 (what :func:`_pair` sends here), a trapezoid of step <= 0.25 above (the
    per-node reference the lattice rule of :func:`_pair_wide` is tested against)."""
    out = np.empty((3 if higher else 1, v_flat.size))
    v_all = float(v_flat.max(initial=0.0))
    nodes = float(_pair_nodes(n, v_all))
    chunk = int(np.clip(2e7 // nodes, 1, _CHUNK))
    for start in range(0, v_flat.size, chunk):
        v, r = v_flat[start:start + chunk], r_flat[start:start + chunk]
        sg = np.sqrt(np.abs(r) * v)        # shared part
        se = np.sqrt((1.0 - np.abs(r)) * v)  # row-specific part
        tau = _tau_grid(n, float(v.max(initial=0.0)), 28.0)
        sg_max, se_max = float(sg.max(initial=0.0)), float(se.max(initial=0.0))
        xg, wg = _gauss_rule(sg_max, _pair_hermite_nodes(sg_max))
        xe, we = _gauss_rule(se_max, _pair_hermite_nodes(se_max))
        g = sg[:, None] * xg  # (E, G)

        def rows(sign):
            # (E, tau, G): sums over the row-specific logits, in blocks of tau (memory ~2e7 nodes);
            # e^(tau + g + eps) as the product of the three factors' exponentials (one exp per node)
            b = [np.empty((v.size, tau.size, xg.size)) for _ in range(3 if higher else 2)]
            eg = np.exp(sign * g)[:, None, :, None]
            ee = np.exp(se[:, None] * xe)[:, None, None, :]
            step = max(1, int(2e7 // (v.size * xg.size * xe.size)))
            for i in range(0, tau.size, step):
                blk = slice(i, i + step)  # (E, block, G, eps) nodes
                for bj, sums in zip(b, _weighted_powers(len(b), we, etau[None, blk, None, None], eg, ee)):
                    bj[:, blk] = sums
            return b

        etau = np.exp(tau)
        b = rows(1.0)
        neg = r < 0
        c = b
        if neg.any():
            nb = rows(-1.0)
            c = [np.where(neg[:, None, None], x, y) for x, y in zip(nb, b)]
        out[:, start:start + v.size] = _assemble(n, b, c, wg, higher)
    return out


def _pair_wide(n: int, v_flat: np.ndarray, r_flat: np.ndarray, higher: bool) -> np.ndarray:
    """Pair moments with a wide shared logit part ``g`` (sd > 0.75, e.g. large logit variance).

    ``B_j(tau + g)`` depends on ``tau + g`` alone, so with ``g`` integrated by the trapezoid rule on
    the tau grid's own step ``h`` (``g_m = m h``, weights ``h N(g_m; 0, sd^2)``; exact to
    ``~exp(-2 pi^2 sd^2 / h^2)`` for the Gaussian and ``~exp(-pi^2 / h)`` for the integrand, which is
    analytic in the strip ``|Im| < pi/2`` like the tau integrand) every node ``tau_i + g_m`` lies on
    one lattice: ``B_j`` is evaluated once per lattice point instead of once per ``(tau, g)`` pair,
    and ``b_j[i, m] = B_j[i + m]`` is a Hankel view of it.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    out = np.empty((3 if higher else 1, v_flat.size))
    h = _H_TAU
    n_tau = _tau_grid(n, float(v_flat.max()), 28.0).size
    chunk = int(np.clip(8e6 // n_tau ** 2, 1, _CHUNK))  # f_jk holds chunk x n_tau^2 numbers
    for start in range(0, v_flat.size, chunk):
        v, r = v_flat[start:start + chunk], r_flat[start:start + chunk]
        sg = np.sqrt(np.abs(r) * v)
        se = np.sqrt((1.0 - np.abs(r)) * v)
        tau = _tau_grid(n, float(v.max()), 28.0)
        m = int(np.ceil(9.0 * sg.max() / h))
        g = h * np.arange(-m, m + 1)
        wg = h * np.exp(-0.5 * (g / sg[:, None]) ** 2) / (np.sqrt(2.0 * np.pi) * sg[:, None])  # (E, 2m+1)
        lattice = tau[0] + h * np.arange(-m, tau.size + m)  # tau_i + g_m, index i + m
        se_max = float(se.max())
        xe, we = _gauss_rule(se_max, _pair_hermite_nodes(se_max))
        B = [np.empty((v.size, lattice.size)) for _ in range(3 if higher else 2)]
        ee = np.exp(se[:, None] * xe)[:, None, :]
        step = max(1, int(2e7 // (v.size * xe.size)))
        for i in range(0, lattice.size, step):
            blk = slice(i, i + step)  # (E, block, eps) nodes
            for bj, sums in zip(B, _weighted_powers(len(B), we, np.exp(lattice[None, blk, None]), ee)):
                bj[:, blk] = sums
        b = [sliding_window_view(x, 2 * m + 1, axis=-1) for x in B]  # b_j[e, i, m] = B_j[e, i + m]
        neg = r < 0  # the second row's shared part is -g: c_k[e, i', m] = B_k[e, i' - m], the window reversed
        c = b if not neg.any() else [np.where(neg[:, None, None], x[..., ::-1], x) for x in b]
        out[:, start:start + v.size] = _assemble(n, b, c, wg[:, None, :], higher)  # (weights per element)
    return out
