"""The exact infinite-width recurrence, vectorized over hyperparameter grids.

For ``l = 0..L`` it returns the per-unit second moment ``q[l]``, the
cross-token covariance ``p[l]``, the per-sublayer APJN factors ``chi[k]``
(taking layer ``k`` to ``k+1``) and ``log J(0, l) = sum_{k<l} log chi[k]``
(Doshi et al. 2023: ``J(l0, l) = prod chi``), all in float64. Logs keep depth
``10^6`` finite; ``q`` itself is stored linearly and the solver raises if it
leaves the float64 range (exponential phases at extreme depth).

With attention, Jacobian tangents of different tokens become correlated and
the APJN is no longer a product of per-layer scalars: the tangent moments
``(jq, jp)`` evolve by a 2x2 map per sublayer (:mod:`sigprop.blocks.base`).
The solver then carries ``r = jp/jq`` forward from an isotropic start
(``chi[k] = jq[k+1]/jq[k]``, so ``log J(0, l) = sum log chi`` still holds) and
computes ``log J(l, L)`` by a backward sweep of the transposed maps.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..architectures import Architecture
from ..softmax import beyond_reach


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Solver output; leading axis is the layer, trailing axes the grid.

    Attributes:
        q, p: shape ``(L+1, *grid)``; index 0 is the input.
        chi: shape ``(L, *grid)``; ``chi[k]`` takes layer ``k`` to ``k+1``.
        log_apjn: ``log J(0, l)``, shape ``(L+1, *grid)``.
        params: the resolved declaration as a dict.
    """

    q: np.ndarray
    p: np.ndarray | None
    chi: np.ndarray
    log_apjn: np.ndarray
    params: dict = field(default_factory=dict)
    #: ``log J(l, L)`` when it is not ``log_apjn[-1] - log_apjn`` (attention); else ``None``
    log_apjn_back_exact: np.ndarray | None = None

    @property
    def depth(self) -> int:
        return self.chi.shape[0]

    @property
    def rho(self) -> np.ndarray:
        """Cosine similarity ``p/q``."""
        return self.p / self.q

    @property
    def log_apjn_back(self) -> np.ndarray:
        """``log J(l, L)`` for ``l = 0..L`` (gradient amplification to layer ``l``)."""
        if self.log_apjn_back_exact is not None:
            return self.log_apjn_back_exact
        return self.log_apjn[-1] - self.log_apjn

    def log_apjn_from(self, l0: int) -> np.ndarray:
        """``log J(l0, l)`` for ``l = l0..L`` (exact only without attention, or for ``l0 = 0``)."""
        if self.log_apjn_back_exact is not None and l0 != 0:
            raise ValueError("with attention J(l0, l) is not a ratio of J(0, l); solve the sublayers from l0 "
                             "(or use log_apjn_back for J(l, L))")
        return self.log_apjn[l0:] - self.log_apjn[l0]

    def to_dict(self) -> dict:
        """JSON-ready arrays (the ``sigprop theory --json`` contract)."""
        return {
            "q": self.q.tolist(),
            "p": None if self.p is None else self.p.tolist(),
            "chi": self.chi.tolist(),
            "log_apjn": self.log_apjn.tolist(),
            "log_apjn_back": self.log_apjn_back.tolist(),
            "params": self.params,
        }


def solve(arch: Architecture, depth: int | None = None, *, need_p: bool = True,
          workers: int | None = None, progress: bool = False, overflow: str = "raise") -> Trajectory:
    """Run the mean-field recurrence of ``arch``.

    Args:
        arch: an architecture declaration; array-valued fields broadcast into a grid.
        depth: override ``arch.depth`` (number of sublayers, ``>= 1``).
        need_p: also propagate the cross-token covariance ``p`` (required with
            attention; skip it for single-input sweeps, which are much faster
            for quadrature normalizers).
        workers: threads over the grid's first axis (NumPy releases the GIL in
            its kernels); default: all cores for grids of more than 4096 points.
        progress: print the sublayer reached to stderr every few seconds (long runs).
        overflow: where the recurrence leaves float64 (below): ``"raise"`` (default), or
            ``"nan"``, for sweeps over exponential phases: the grid points that leave it
            are ``nan`` from that sublayer on (``log_apjn_back`` at every layer, except
            ``J(L, L) = 1`` with attention), and the others are computed as usual (equal
            to solving them alone up to round-off: with attention the softmax quadrature
            grids are sized by the sweep's largest variance, ~1e-13). Attention logit variances
            beyond the softmax quadrature's reach (``var`` ~ 330, e.g. ``q`` growing without a
            normalizer) count as leaving float64: ``"raise"`` raises a ``ValueError`` there,
            ``"nan"`` marks those points alone.

    Returns:
        A :class:`Trajectory`.

    Raises:
        ValueError: bad declaration, depth or ``overflow``; attention logits beyond the softmax
            quadrature's reach (``overflow="raise"``).
        FloatingPointError: ``q`` left the float64 range (overflow, or underflow into the
            subnormals from a normal value) or became NaN (``overflow="raise"``).
    """
    if overflow not in ("raise", "nan"):
        raise ValueError(f"overflow must be 'raise' or 'nan', got {overflow!r}")
    if not isinstance(arch, Architecture):
        raise TypeError(f"solve expects an Architecture declaration (e.g. sigprop.preset('toy')), "
                        f"got {type(arch).__name__}")
    if depth is not None:
        arch = arch.replace(depth=depth)
    grid = arch.grid_shape()
    L = arch.depth
    cross = arch.cross_tangents
    if cross:
        need_p = True
    qs = np.empty((L + 1,) + grid)
    ps = np.empty((L + 1,) + grid) if need_p else None
    chis = np.empty((L,) + grid)
    log_apjn = np.empty((L + 1,) + grid)
    back = np.empty((L + 1,) + grid) if cross else None
    if workers is None:
        workers = (os.cpu_count() or 1) if int(np.prod(grid)) > 4096 else 1
    workers = max(1, min(workers, grid[0] if grid else 1))
    tick = _Progress(L) if progress else None
    if workers == 1:
        with beyond_reach(overflow):
            _run(arch, grid, need_p, qs, ps, chis, log_apjn, back, tick, overflow)
    else:
        def job(rows):
            sl = (slice(None), slice(rows[0], rows[-1] + 1))
            with beyond_reach(overflow):  # per thread
                _run(_rows(arch, grid, sl[1]), (len(rows),) + grid[1:], need_p,
                     qs[sl], None if ps is None else ps[sl], chis[sl], log_apjn[sl],
                     None if back is None else back[sl], tick if rows[0] == 0 else None, overflow)

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(job, np.array_split(np.arange(grid[0]), workers)))
    return Trajectory(qs, ps, chis, log_apjn, arch.to_dict(), back)


def _rows(arch: Architecture, grid, rows: slice) -> Architecture:
    """The declaration restricted to rows of the grid's first axis."""
    changes = {}
    for f in dataclasses.fields(arch):
        v = getattr(arch, f.name)
        if isinstance(v, np.ndarray) and v.ndim:
            changes[f.name] = np.broadcast_to(v, grid)[rows]
    return arch.replace(**changes)


_TINY = np.finfo(float).tiny  # smallest normal float64


class _Progress:
    """``sublayer k of L`` on stderr, at most every 5 seconds."""

    def __init__(self, L: int):
        self.L, self.start, self.last = L, time.perf_counter(), time.perf_counter()

    def __call__(self, k: int) -> None:
        now = time.perf_counter()
        if now - self.last >= 5.0:
            self.last = now
            rate = k / (now - self.start)
            print(f"  sublayer {k:,} of {self.L:,} ({now - self.start:.0f} s; about "
                  f"{(self.L - k) / max(rate, 1e-9):.0f} s left)", file=sys.stderr, flush=True)


def _run(arch, grid, need_p, qs, ps, chis, log_apjn, back=None, tick=None, overflow="raise"):
    L = arch.depth
    cross = back is not None
    maps = np.empty((L, 4) + grid) if cross else None
    r = np.zeros(grid)  # jp/jq of the tangents: isotropic probes start uncorrelated
    m = np.zeros(grid)  # per-unit mean (residual layers without a zero-mean output matrix)
    q = np.broadcast_to(np.asarray(arch.q0, dtype=float), grid).copy()
    p = np.broadcast_to(np.asarray(arch.p0, dtype=float), grid).copy() if need_p else None
    qs[0] = q
    log_apjn[0] = 0.0
    if need_p:
        ps[0] = p
    layers = {}
    dead = None  # overflow="nan": grid points that have left float64
    depth_dependent = arch.normalizer == "lns" or arch.init == "depth_scaled"
    for k in range(L):
        key = (k % arch.period, arch.block_index(k) if depth_dependent else 0)
        layer = layers.get(key)
        if layer is None:
            layer = layers[key] = arch.sublayer(k)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            if cross:
                q, p, t = layer.step(q, p, True, cross=True)
                maps[k] = t
                chi = t[0] + t[1] * r
                r = (t[2] + t[3] * r) / chi
            elif getattr(layer, "tracks_mean", False):
                q, p, chi, m = layer.step(q, p, need_p, m=m)
            else:
                q, p, chi = layer.step(q, p, need_p)
        if need_p:  # |p| <= q holds exactly; 2-D vs 1-D quadrature round-off (~1e-11) may cross it at rho -> 1
            p = np.clip(p, -q, q)
        chis[k] = chi
        qs[k + 1] = q
        with np.errstate(divide="ignore", invalid="ignore"):
            log_apjn[k + 1] = log_apjn[k] + np.log(chis[k])
        under = (qs[k + 1] < _TINY) & (qs[k] >= _TINY)  # into the subnormals: precision is lost, then q = 0
        # q >= 0, p, r and log(chi) are finite everywhere iff their sums are (the cheap test, every sublayer;
        # p or r alone is lost where the attention pair moments are out of reach)
        state = [qs[k + 1], log_apjn[k + 1]] + ([p] if need_p else []) + ([r] if cross else [])
        if dead is None and all(np.isfinite(x.sum()) for x in state) and not np.any(under):
            left = None
        else:
            left = ~np.logical_and.reduce([np.isfinite(x) for x in state]) | under
            if dead is not None:
                left &= ~dead
        if left is not None and np.any(left) and overflow == "raise":
            if np.any(under & (qs[k + 1] == 0) & (qs[k] > 1e-200)):  # a cut, not a decay through the subnormals
                raise FloatingPointError(
                    f"q dropped to exactly 0 at sublayer {k}: it passes no signal (a zero weight variance, "
                    "e.g. sigma_w2 = 0 without a bias or a skip path?)")
            if np.any(under):
                raise FloatingPointError(
                    f"q underflowed float64 at sublayer {k} (q = {np.min(qs[k + 1]):.3g}); this phase decays "
                    "exponentially: reduce the depth (log J stays meaningful, q and p do not)")
            raise FloatingPointError(
                f"recurrence left float64 at sublayer {k} (q={np.min(q):.3g}..{np.max(q):.3g}, "
                f"chi={np.min(chis[k]):.3g}..{np.max(chis[k]):.3g}); this phase grows or decays "
                "exponentially (reduce the depth) or a parameter is too large for float64"
                + (" (solve(..., overflow='nan') marks such grid points nan instead)" if grid else ""))
        if left is not None and (np.any(left) or dead is not None):  # overflow="nan": nan from here on
            dead = left if dead is None else dead | left
            q, r, m = np.where(dead, 1.0, q), np.where(dead, 0.0, r), np.where(dead, 0.0, m)  # any finite state
            if need_p:
                p = np.where(dead, 0.0, p)
            qs[k + 1], chis[k] = np.where(dead, np.nan, qs[k + 1]), np.where(dead, np.nan, chis[k])
            log_apjn[k + 1] = np.where(dead, np.nan, log_apjn[k + 1])
            if cross:
                maps[k] = np.where(dead, np.nan, maps[k])
        if need_p:
            ps[k + 1] = p if dead is None else np.where(dead, np.nan, p)
        if tick is not None and k % 1024 == 1023:
            tick(k + 1)
    if cross:
        _backward(maps, back, dead)


def _backward(maps: np.ndarray, back: np.ndarray, dead=None) -> None:
    """``log J(l, L)`` from the tangent maps: the row vector ``w_l = w_{l+1} M_l``, ``w_L = (1, 0)``,
    kept as ``log w_l[0]`` and the ratio ``w_l[1]/w_l[0]``; ``J(l, L) = w_l (1, 0)^T``."""
    L = maps.shape[0]
    back[L] = 0.0
    s = np.zeros(maps.shape[2:])  # w[1]/w[0]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for k in range(L - 1, -1, -1):
            m_qq, m_qp, m_pq, m_pp = maps[k]
            a = m_qq + s * m_pq
            s = (m_qp + s * m_pp) / a
            back[k] = back[k + 1] + np.log(a)
    if dead is not None:  # overflow="nan": J(l, L) of a point that left float64 anywhere is unknown below L
        back[:-1] = np.where(dead, np.nan, back[:-1])
    if not np.isfinite(back.sum() if dead is None else np.where(dead, 0.0, back).sum()):
        raise FloatingPointError("backward APJN sweep left float64; reduce the depth")
