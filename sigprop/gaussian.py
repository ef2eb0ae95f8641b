"""Vectorized Gaussian expectations by quadrature (NumPy only).

Two rules are provided, both broadcasting over arrays of variances and
covariances so that a whole hyperparameter grid is one call:

* **Gauss–Hermite** (probabilists' nodes, ``numpy.polynomial.hermite_e``) for
  functions whose features live on the scale ``sqrt(q)`` of the Gaussian
  itself (polynomials, activations at moderate ``q``). Exact for polynomials of
  degree ``< 2 n``.
* **sinh-mapped trapezoid** for functions with a fixed *feature scale* ``s``
  around the origin and flat tails, such as ``tanh(alpha h)`` or
  ``erf(alpha h)`` with ``s = 1/alpha``. The substitution
  ``h = w sinh(u)``, ``w = min(sqrt(q), s)``, puts nodes both inside the
  feature (spacing ~``w``) and across the Gaussian bulk (spacing ~``h``); the
  trapezoid rule in ``u`` converges exponentially for analytic integrands, so
  ``q / s**2`` from ``1e-12`` to ``1e12`` is handled with ~200 nodes.

Non-smooth integrands (a kink such as ReLU's) converge only algebraically
with either rule; ReLU and its relatives have closed forms in
:mod:`sigprop.activations`, and functions with declared kinks use the
piecewise double-exponential rules :func:`expect_piecewise` (1-D) and
:func:`expect2_piecewise` (2-D), cut at the kinks.

Callables receive one array whose *last axis enumerates quadrature nodes*;
parameters that vary over a grid must therefore be given a trailing axis
(``alpha[..., None]``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

ArrayFn = Callable[[np.ndarray], np.ndarray]

#: Gauss–Hermite nodes used by default (exact for polynomials of degree < 160).
GH_NODES = 80
#: Half the number of sinh-rule nodes in 1-D (2 m + 1 nodes in all).
SINH_NODES = 100
#: Half the number of sinh-rule nodes per axis in 2-D.
SINH_NODES_2D = 48
#: The sinh rule covers |h| <= TAIL * sqrt(q); the neglected mass is ~1e-22.
TAIL = 10.0


@lru_cache(maxsize=16)
def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = hermegauss(n)
    return x, w / np.sqrt(2.0 * np.pi)


def _sinh_rule(ratio: np.ndarray, m: int, c=None) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``x`` and weights for ``E[f(X)]``, ``X ~ N(0, 1)``.

    ``ratio = sqrt(q) / w >= 1`` is how much wider the Gaussian is than the
    feature; node ``x = c + sinh(u) / ratio`` with ``u`` uniform over the bulk
    ``|x| <= TAIL``, so the nodes cluster at the feature's position ``c``
    (standardized units; ``None`` is 0, the symmetric rule).
    """
    ratio = np.asarray(ratio, dtype=float)[..., None]
    c = 0.0 if c is None else np.asarray(c, dtype=float)[..., None]
    u0, u1 = np.arcsinh(ratio * (-TAIL - c)), np.arcsinh(ratio * (TAIL - c))
    u = 0.5 * (u1 + u0) + 0.5 * (u1 - u0) * (np.arange(-m, m + 1) / m)
    x = c + np.sinh(u) / ratio
    w = (0.5 * (u1 - u0) / m) * np.cosh(u) / ratio * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    return x, w


def _check_variance(q: np.ndarray, name: str = "q") -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {q!r}")
    return q


def _check_covariance(q, p) -> tuple[np.ndarray, np.ndarray]:
    """``(q, p)`` as arrays; ``ValueError`` unless ``q >= 0`` and ``|p| <= q`` (to round-off), both finite."""
    q = _check_variance(q)
    p = np.asarray(p, dtype=float)
    if not np.all(np.isfinite(p)) or np.any(np.abs(p) > q * (1 + 1e-12) + 1e-300):
        raise ValueError(f"p must satisfy |p| <= q, got q={q!r}, p={p!r}")
    return q, p


def _ratio(sd: np.ndarray, scale) -> np.ndarray:
    if scale is None:
        return np.ones_like(sd)
    scale = np.asarray(scale, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(sd > scale, sd / scale, 1.0)
    return np.broadcast_to(r, np.broadcast_shapes(sd.shape, scale.shape))


def expect(f: ArrayFn, q, *, scale=None, nodes: int | None = None, center=None) -> np.ndarray:
    """``E[f(h)]`` for ``h ~ N(0, q)``, broadcasting over ``q``.

    Args:
        f: vectorized function; called with an array of shape ``q.shape + (K,)``.
        q: variance(s), ``>= 0``.
        scale: feature scale of ``f`` (e.g. ``1/alpha`` for ``tanh(alpha h)``).
            ``None`` selects Gauss–Hermite, otherwise the sinh-mapped trapezoid.
        nodes: Gauss–Hermite node count, or half the sinh node count.
        center: where ``f``'s feature sits (e.g. ``-shift/alpha`` for ``tanh(alpha h + shift)``);
            the sinh nodes cluster there instead of at 0 (``scale`` must be given).

    Returns:
        Array of shape ``q.shape`` (or the broadcast of ``q`` and ``scale``).
    """
    q = _check_variance(q)
    sd = np.sqrt(q)
    if scale is None:
        x, w = _hermite(nodes or GH_NODES)
        return np.sum(f(sd[..., None] * x) * w, axis=-1)
    ratio = _ratio(sd, scale)
    ratio = np.broadcast_to(ratio, np.broadcast_shapes(ratio.shape, np.shape(center)))
    sd = np.broadcast_to(sd, ratio.shape)
    c = None
    if center is not None:  # the feature's position in units of sd (0 where q = 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(sd > 0, np.asarray(center, float) / np.where(sd > 0, sd, 1.0), 0.0)
    x, w = _sinh_rule(ratio, nodes or SINH_NODES, c)
    return np.sum(f(sd[..., None] * x) * w, axis=-1)


#: Double-exponential rules of :func:`expect_piecewise`: step in ``t`` and ``t`` ranges.
_DE_STEP = 0.03
_TS_T = 3.2  # tanh-sinh over |t| <= 3.2: 1 - tanh(pi/2 sinh 3.2) ~ 2e-17
_ES_T0 = -3.9  # exp-sinh from exp(pi/2 sinh t) ~ 1e-20 (relative to sqrt(q))


def expect_piecewise(f: ArrayFn, q, breaks, *, step: float = _DE_STEP, scale=None, cuts=None) -> np.ndarray:
    """``E[f(h)]``, ``h ~ N(0, q)``, for ``f`` smooth between ``breaks`` (kinks or jumps of ``f``).

    The line is cut at the breaks, at the Gaussian's center 0 and at ``+-TAIL sqrt(q)``; each finite
    piece is integrated by the tanh-sinh rule and each half-line by the
    exp-sinh rule (Takahasi & Mori 1974), whose nodes cluster double-exponentially
    at the piece's ends. The integrand is then smooth on every closed piece, so
    the rules converge exponentially where a rule across a kink (the sinh rule,
    Gauss-Hermite) converges only algebraically.

    Args:
        f: vectorized function, called with arrays of shape ``shape + (K,)``.
        q: variance(s), ``>= 0`` (``q = 0`` gives ``f(0)``).
        breaks: break positions in ``h``, shape ``(..., B)`` broadcast with ``q`` on the leading axes.
        step: the rules' step in their variable ``t`` (``2 * 3.2 / step`` nodes per finite piece);
            the default resolves every piece to round-off.
        scale: the width of ``f``'s features next to its breaks (``1/alpha`` for ``phi(alpha h)``),
            broadcast with ``q``. With it the line is also cut at ``break +- scale 10^k``
            (``k = 0, 1, ...`` within the bulk): without, a feature of ``f`` much narrower than
            ``sqrt(q)`` next to a break is resolved only to ~1e-5 at ``q / scale^2 ~ 1e14``.
        cuts: further cut positions, shape ``(..., C)`` like ``breaks`` (no decades around them).

    Returns:
        Array of the broadcast shape of ``q`` and ``breaks[..., 0]``.
    """
    from scipy.special import expit

    q = _check_variance(q)
    breaks = np.asarray(breaks, dtype=float)
    shape = np.broadcast_shapes(q.shape, breaks.shape[:-1])
    q = np.broadcast_to(q, shape)
    sd = np.sqrt(q)
    bulk = (TAIL * sd)[..., None] * np.array([-1.0, 0.0, 1.0])  # the Gaussian's bulk is a piece of its own scale
    breaks = np.broadcast_to(breaks, shape + breaks.shape[-1:])
    pieces = [breaks, bulk]
    if scale is not None:  # decades of the feature scale on either side of each break, within the bulk
        width = np.broadcast_to(np.asarray(scale, dtype=float), shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            top = np.nanmax(np.log10(TAIL * sd / width), initial=0.0)
        ladder = 10.0 ** np.arange(0, int(np.ceil(max(top, 0.0))) + 1)
        off = (width[..., None] * np.concatenate([-ladder, ladder]))[..., None, :]
        lim = (TAIL * sd)[..., None, None]
        pieces.append(np.clip(breaks[..., None] + off, -lim, lim).reshape(shape + (-1,)))
    if cuts is not None:
        cuts = np.asarray(cuts, dtype=float)
        pieces.append(np.broadcast_to(cuts, shape + cuts.shape[-1:]))
    cuts = np.sort(np.concatenate(pieces, axis=-1), axis=-1)
    live = sd > 0
    sdl = np.where(live, sd, 1.0)[..., None]

    def dens(h):
        return np.exp(-0.5 * (h / sdl) ** 2) / (np.sqrt(2.0 * np.pi) * sdl)

    total = np.zeros(shape)
    # tanh-sinh on [0, 1]: the distance of each node to the nearer end without cancellation,
    # (1 +- tanh s)/2 = expit(+-2s), and the weights; scaled to each piece below
    t = np.arange(-_TS_T, _TS_T + step / 2, step)
    s = 0.5 * np.pi * np.sinh(t)
    from_a, from_b = expit(2 * s), expit(-2 * s)
    unit_w = 0.5 * (0.5 * np.pi * np.cosh(t)) / np.cosh(s) ** 2 * step
    for i in range(cuts.shape[-1] - 1):  # finite pieces
        a, b = cuts[..., i, None], cuts[..., i + 1, None]
        if not np.any(b > a):  # (cuts that coincide everywhere: clipped to the bulk, or repeated)
            continue
        h = np.where(t < 0, a + (b - a) * from_a, b - (b - a) * from_b)
        total += np.sum(f(h) * dens(h) * ((b - a) * unit_w), axis=-1)
    n_es = int(round((-_ES_T0 + 2.5) / step)) + 1
    for end, sign in ((cuts[..., -1:], 1.0), (cuts[..., :1], -1.0)):  # half-lines: exp-sinh
        reach = np.arcsinh((2 / np.pi) * np.log(TAIL + np.abs(end) / sdl + 1.0))
        du = (reach - _ES_T0) / (n_es - 1)
        u = _ES_T0 + du * np.arange(n_es)
        e = np.exp(0.5 * np.pi * np.sinh(u))
        h = end + sign * sdl * e
        w = sdl * e * (0.5 * np.pi * np.cosh(u)) * du
        total += np.sum(f(h) * dens(h) * w, axis=-1)
    f0 = f(np.zeros(shape + (1,)))[..., 0]
    return np.where(live, total, f0)


#: step of the 2-D piecewise rule's two 1-D rules (64 nodes per piece; 0.12 loses digits)
_DE_STEP_2D = 0.1
#: cuts of the 2-D rule's lines in units of their Gaussians' sd (pieces hold a part of the bulk)
_BULK_CUTS = (-2.0, 2.0)


def expect2_piecewise(f: Callable, q, p, breaks, *, args=(), scale=None, step: float = _DE_STEP_2D) -> np.ndarray:
    """``E[f(h1) f(h2)]`` for ``(h1, h2) ~ N(0, [[q, p], [p, q]])`` and ``f`` smooth between ``breaks``.

    Written as ``E[f(h1) E[f(h2) | h1]]`` with ``h2 | h1 ~ N(rho h1, q (1 - rho^2))``,
    ``rho = p/q``: the outer and the inner expectations are both
    :func:`expect_piecewise` (the inner one with its breaks moved by the conditional
    mean), so each integrand is smooth on every piece and the two double-exponential
    rules converge exponentially where a rule across a kink converges algebraically.
    The inner expectation turns over where the conditional mean crosses a break
    (``h1 = break / rho``, a width ``~sqrt(q (1 - rho^2))``): the outer line is cut
    there as well (and 4 such widths to either side); both lines are also cut at
    ``+-2`` sd of their Gaussians so that each piece holds a fraction of
    the bulk. About 0.4 M nodes per grid point for two breaks (~10 ms; 2-4x more with
    ``scale`` at large ``q / scale^2``); grids are done in chunks of bounded memory.

    Args:
        f: vectorized function ``f(h, *args)``, called with nodes ``h`` of shape ``(n, K)``
            for ``n`` grid points at a time, and ``args`` restricted to them, of shape ``(n, 1)``.
        q, p: variance and covariance (``|p| <= q``), broadcast together.
        breaks: break positions of ``f`` in ``h``, shape ``(..., B)`` broadcast with ``q``.
        args: parameters of ``f`` that vary over the grid (broadcast with ``q``).
        scale: width of ``f``'s features next to its breaks, as in :func:`expect_piecewise`
            (both lines are then also cut at decades of it; broadcast with ``q``).
        step: step of both 1-D rules (the default: ~6e-11 for hardtanh, 1 - rho from 1e-5 to 2).
    """
    q, p = _check_covariance(q, p)
    breaks = np.asarray(breaks, dtype=float)
    args = [np.asarray(a, dtype=float) for a in args]
    shape = np.broadcast_shapes(q.shape, p.shape, breaks.shape[:-1], *(a.shape for a in args))
    # the grid flattened: one row per point (chunks of rows below)
    q, p = np.broadcast_to(q, shape).reshape(-1), np.broadcast_to(p, shape).reshape(-1)
    breaks = np.broadcast_to(breaks, shape + breaks.shape[-1:]).reshape(q.size, -1)
    args = [np.broadcast_to(a, shape).reshape(-1, 1) for a in args]
    scale = None if scale is None else np.broadcast_to(np.asarray(scale, dtype=float), shape).reshape(-1)
    sd = np.sqrt(q)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(q > 0, p / np.where(q > 0, q, 1.0), 0.0), -1.0, 1.0)
        s2 = np.clip(q * (1.0 - rho * rho), 0.0, None)
        turns = np.where(rho[:, None] != 0, breaks / rho[:, None], np.inf)
        width = 4.0 * np.sqrt(s2)[:, None] / np.abs(rho[:, None])  # of the turn, in h1
        turns = np.concatenate([turns, turns - width, turns + width], axis=-1)
    outer_cuts = np.concatenate([np.clip(np.nan_to_num(turns, nan=np.inf), -TAIL * sd, TAIL * sd),
                                 sd * np.array(_BULK_CUTS)], axis=-1)
    inner_cuts = np.sqrt(s2)[:, None, None] * np.array(_BULK_CUTS)

    def one(sl, n):  # the grid points ``sl`` (n of them)
        a = [x[sl] for x in args]
        w = None if scale is None else scale[sl]

        def flat(h):  # nodes (n, K1, K2) are passed as (n, K1 K2)
            return f(h.reshape((n, -1)), *a).reshape(h.shape)

        def outer(h1):  # h1: (n, K1)
            m = rho[sl, None] * h1
            inner = expect_piecewise(lambda y: flat(m[..., None] + y), s2[sl, None],
                                     breaks[sl, None, :] - m[..., None], step=step,
                                     scale=None if w is None else w[:, None], cuts=inner_cuts[sl])
            return f(h1, *a) * inner

        return expect_piecewise(outer, q[sl], breaks[sl], step=step, scale=w, cuts=outer_cuts[sl])

    size = int(np.prod(shape))
    chunk = max(1, int(2e6 // (2 * _TS_T / step + 1) ** 2))  # one piece's (n, K1, K2) temporaries: ~16 MB
    out = np.empty(size)
    for start in range(0, size, chunk):
        sl = slice(start, min(size, start + chunk))
        out[sl] = one(sl, sl.stop - sl.start)
    return out.reshape(shape)


def expect2(f: ArrayFn, g: ArrayFn | None, q, p, *, scale=None, nodes: int | None = None) -> np.ndarray:
    """``E[f(h1) g(h2)]`` for ``(h1, h2) ~ N(0, [[q, p], [p, q]])``.

    The pair is written ``h1 = a z1 + b z2``, ``h2 = a z1 - b z2`` with
    ``a^2 = (q + p)/2``, ``b^2 = (q - p)/2`` and independent standard normal
    ``z1, z2``, each integrated with the 1-D rule (tensor product); ``g = None``
    means ``g = f``. Requires ``|p| <= q``.
    """
    q, p = _check_covariance(q, p)
    q, p = np.broadcast_arrays(q, p)
    a = np.sqrt(np.clip(0.5 * (q + p), 0.0, None))
    b = np.sqrt(np.clip(0.5 * (q - p), 0.0, None))
    if scale is None:
        x, w = _hermite(nodes or 40)
        x1 = x2 = np.broadcast_to(x, q.shape + x.shape)
        w1 = w2 = np.broadcast_to(w, q.shape + w.shape)
    else:
        m = nodes or SINH_NODES_2D
        ra, rb = _ratio(a, scale), _ratio(b, scale)
        x1, w1 = _sinh_rule(ra, m)
        x2, w2 = _sinh_rule(rb, m)
        a, b = np.broadcast_to(a, ra.shape), np.broadcast_to(b, rb.shape)
    shape = np.broadcast_shapes(a.shape, b.shape)
    u = a[..., None, None] * x1[..., :, None]
    v = b[..., None, None] * x2[..., None, :]
    h1 = (u + v).reshape(shape + (-1,))
    h2 = (u - v).reshape(shape + (-1,))
    w = (w1[..., :, None] * w2[..., None, :]).reshape(shape + (-1,))
    gv = f(h2) if g is None else g(h2)
    return np.sum(f(h1) * gv * w, axis=-1)


#: Reach of the tensor 2-D rule for functions with a feature of width ``scale`` that is not
#: localized (silu's step, asinh's log tails): ``q <= TENSOR_REACH scale^2`` (:func:`expect2_feature`).
TENSOR_REACH = 16.0


def expect2_feature(f: Callable, q, p, *, scale, center=0.0, args=(), reach: float = TENSOR_REACH) -> np.ndarray:
    """``E[f(h1) f(h2)]`` for ``f`` smooth with one feature of width ``scale`` at ``center`` that
    does not die out away from it (a step such as silu's or silu''s, a kink rounded off at
    ``scale`` such as asinh's, which then grows like a log).

    Such a feature lies along the lines ``h1 = center`` and ``h2 = center``, which the tensor
    rule of :func:`expect2` (in decorrelated coordinates, nodes clustered at 0) follows only
    while the Gaussian is not much wider than the feature, and only for a feature at 0, where its
    nodes cluster: it is used for ``q <= reach scale^2`` and ``|center| <= scale`` (~1e-11 there;
    a feature at 2.5 sd was 3e-5 off). Otherwise :func:`expect2_piecewise` cut at ``center``
    takes over (~1e-12, ~20 ms per point). Measured before this split, against nested scipy quadrature:
    silu's kernel 3e-3 off at q = 1000, and a user normalizer ``asinh(h + 0.7)`` 6e-2 off at
    q = 500 (1%).

    Args:
        f: ``f(h, *args)``, vectorized; called with nodes ``h`` of shape ``(n, K)`` and each
            argument restricted to the same ``n`` grid points, of shape ``(n, 1)``.
        q, p: variance and covariance, broadcast with ``scale``, ``center`` and ``args``.
        scale: the feature's width (``> 0``).
        center: where it sits, in ``h``.
        args: parameters of ``f`` that vary over the grid.
        reach: the largest ``q / scale^2`` given to the tensor rule.
    """
    q, p = _check_covariance(q, p)
    scale, center = np.asarray(scale, dtype=float), np.asarray(center, dtype=float)
    args = [np.asarray(a, dtype=float) for a in args]
    shape = np.broadcast_shapes(q.shape, p.shape, scale.shape, center.shape, *(a.shape for a in args))
    q, p, scale, center, *args = (np.broadcast_to(x, shape).reshape(-1) for x in (q, p, scale, center, *args))
    out = np.empty(q.size)
    near = (q <= reach * scale * scale) & (np.abs(center) <= scale)  # the tensor rule's nodes cluster at 0
    wide = ~near
    if np.any(near):
        sub = [a[near][:, None] for a in args]
        out[near] = expect2(lambda h: f(h, *sub), None, q[near], p[near], scale=scale[near])
    if np.any(wide):
        out[wide] = expect2_piecewise(f, q[wide], p[wide], center[wide][:, None],
                                      args=[a[wide] for a in args], scale=scale[wide])
    return out.reshape(shape)


def _gauss_on_nodes(nodes_center: float, scale, reach: float, m: int, shape):
    """Sinh-rule nodes ``h = scale sinh(u)`` over ``|h| <= reach`` (unit weight)."""
    scale = np.broadcast_to(np.asarray(scale, dtype=float), shape)[..., None]
    reach = np.broadcast_to(np.asarray(reach, dtype=float), shape)[..., None]
    umax = np.arcsinh(reach / scale)
    u = umax * (np.arange(-m, m + 1) / m)
    return nodes_center + scale * np.sinh(u), (umax / m) * scale * np.cosh(u)


def expect2_bounded(f: ArrayFn, q, p, *, scale, lo: float, hi: float, nodes: int = 60) -> np.ndarray:
    """``E[f(h1) f(h2)]`` for a saturating ``f`` (``f(-inf) = lo``, ``f(+inf) = hi``).

    A tensor rule cannot follow the feature lines ``h1 = 0`` and ``h2 = 0``
    when they are oblique in the rotated coordinates (``q/scale^2 >> 1`` with
    ``0 < p < q``). We split ``f = ref + r`` with the erf reference
    ``ref(h) = A + B erf(h / (c scale))`` (``A = (hi + lo)/2``, ``B = (hi - lo)/2``,
    ``c = 2/sqrt(pi)``, matching tanh's slope) whose terms are closed form,
    and a remainder ``r`` localized within a few ``scale`` of the origin:

    * ``E[ref ref] = A^2 + B^2 (2/pi) asin(2 k^2 p / (1 + 2 k^2 q))``, ``k = 1/(c scale)``;
    * ``E[ref(h1) r(h2)] = E[r(h2) (A + B erf(k rho h2 / sqrt(1 + 2 k^2 s^2)))]``
      with ``rho = p/q``, ``s^2 = q (1 - rho^2)`` (conditional Gaussian), a 1-D
      sinh-rule integral;
    * ``E[r(h1) r(h2)]`` as an outer sinh rule over ``h1`` and an inner
      conditional expectation over ``h2 ~ N(rho h1, s^2)``: a sinh rule in
      ``h2`` around the localized ``r`` when ``s >= scale``, Gauss–Hermite in
      the conditional variable otherwise.

    Args:
        f: saturating function of ``h`` (including any ``alpha``/shift).
        q, p: variance and covariance (``|p| <= q``), broadcast together.
        scale: feature scale of ``f`` (``1/alpha``), broadcast with ``q``.
        lo, hi: limits of ``f`` at ``-inf`` and ``+inf``.
        nodes: half the number of sinh nodes per axis.
    """
    from scipy.special import erf

    q = _check_variance(q)
    p = np.asarray(p, dtype=float)
    q, p, scale = np.broadcast_arrays(q, p, np.asarray(scale, dtype=float))
    shape = q.shape
    A, B = 0.5 * (hi + lo), 0.5 * (hi - lo)
    k = np.sqrt(np.pi) / (2.0 * scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(q > 0, p / np.where(q > 0, q, 1.0), 0.0)
    rho = np.clip(rho, -1.0, 1.0)
    s2 = np.clip(q * (1 - rho * rho), 0.0, None)
    s = np.sqrt(s2)
    kk = k[..., None]

    def r(h):
        """Remainder on nodes of shape ``(*G, K)`` or ``(*G, K1, K2)`` (flattened for ``f``)."""
        flat = h.reshape(shape + (-1,))
        return (f(flat) - A - B * erf(kk * flat)).reshape(h.shape)

    t_ref = A * A + B * B * (2 / np.pi) * np.arcsin(2 * k * k * p / (1 + 2 * k * k * q))

    # outer nodes over h1 ~ N(0, q): the remainder of tanh-like f lives within ~40 scale of 0; a
    # slowly saturating f (softsign, arctan: r ~ 1/h) keeps a remainder out to the Gaussian's tail
    full = TAIL * np.sqrt(q) + 1e-300
    edge = np.abs(r(np.stack([-40.0 * scale, 40.0 * scale], axis=-1))).max(axis=-1)
    slow = edge > 1e-13 * (abs(A) + abs(B))
    reach = np.where(slow, np.maximum(40.0 * scale, full), np.minimum(40.0 * scale, full))
    h1, w1 = _gauss_on_nodes(0.0, scale, reach, nodes, shape)
    sq = np.sqrt(q)[..., None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        dens1 = np.where(sq > 0, np.exp(-0.5 * (h1 / np.where(sq > 0, sq, 1)) ** 2) / (np.sqrt(2 * np.pi) * sq), 0.0)
    w1 = w1 * dens1
    r1 = r(h1)
    cond_ref = A + B * erf(kk * rho[..., None] * h1 / np.sqrt(1 + 2 * kk * kk * s2[..., None]))
    t_cross = np.sum(r1 * cond_ref * w1, axis=-1)

    # inner E[r(h2) | h1]
    m_c = rho[..., None] * h1  # conditional mean, shape (*G, K1)
    sc = s[..., None, None]
    # (a) sinh rule in h2 around the localized remainder (s >= scale)
    h2, w2 = _gauss_on_nodes(0.0, scale, np.where(slow, reach, 40.0 * scale), nodes, shape)
    h2 = h2[..., None, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        dens2 = np.exp(-0.5 * ((h2 - m_c[..., None]) / np.where(sc > 0, sc, 1.0)) ** 2) / (np.sqrt(2 * np.pi) * np.where(sc > 0, sc, 1.0))
    inner_a = np.sum(r(np.broadcast_to(h2, dens2.shape)) * w2[..., None, :] * dens2, axis=-1)
    # (b) Gauss-Hermite in the conditional variable (s < scale)
    y, wy = _hermite(40)
    inner_b = np.sum(r(m_c[..., None] + sc * y) * wy, axis=-1)
    inner = np.where((s >= scale)[..., None], inner_a, inner_b)
    t_rr = np.sum(r1 * inner * w1, axis=-1)
    return t_ref + 2 * t_cross + t_rr
