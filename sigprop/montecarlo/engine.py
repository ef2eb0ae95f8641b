"""Ensembles of finite-width networks: q, p, APJN and gradients per layer.

For one network (weight key, input ``h^0``) :func:`measure` computes, for
every layer ``l = 0..L`` (docs/theory.md conventions):

* ``q[l] = mean_a h_a.h_a/d`` and ``p[l] = mean_{a!=b} h_a.h_b/d``;
* ``J(l0, l) = ||dh^l/dh^{l0}||_F^2/(n d)`` for all ``l`` in ONE forward sweep:
  Rademacher probes ``v`` (``E[v v^T] = I``) injected at layer ``l0`` are
  pushed forward by ``jax.linearize`` inside the ``lax.scan`` over layers,
  and ``J(l0, l) ~ mean_v ||J v||^2/(n d)`` (Hutchinson; Doshi et al. 2023
  define the APJN as this expectation);
* ``J(l, L) = ||dh^L/dh^l||_F^2/(n d)`` for all ``l`` in ONE reverse sweep: a
  Rademacher cotangent ``u`` at the output is pulled back layer by layer
  (``jax.vjp`` of each sublayer, re-drawing its weights from its key), and
  ``||u^T dh^L/dh^l||^2`` is recorded at every layer;
* the gradient amplification ``|dLoss/dh^l|^2/|dLoss/dh^L|^2`` for the loss
  ``Loss = 0.5 ||h^L - y||^2`` with a fixed random target ``y ~ N(0, 1)``
  per unit (drawn once per network), pulled back in the same reverse sweep.

:func:`simulate` runs an ensemble: one ``jit``-compiled ``vmap`` over
networks, chunked to bound memory, the network axis sharded over all local
devices when there are several; network ``i`` always uses
``fold_in(key(seed), i)``, so with the default generator (Threefry) results do not
depend on the chunking (XLA's ``rbg`` generators draw other numbers for a key
inside a ``vmap``: there a seed reproduces only at the same ``chunk``).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..architectures import Architecture
from .inputs import user_inputs
from .network import Network, Sweep
from .rng import bits32, normal, root_key

LOSS = "0.5*||h^L - y||^2 with y ~ N(0, 1) i.i.d. per unit, one target per network"
NAMES = ("q", "p", "log_apjn", "log_apjn_back", "log_grad")


@dataclass(frozen=True, eq=False)
class MCResult:
    """Monte-Carlo ensemble; every array float64 of shape ``(samples, L+1)``, one row per network
    (``(samples, L+1, *grid)`` for a sweep, see :func:`simulate`).

    Attributes:
        q, p: per-unit second moment and cross-token covariance (mean over tokens / pairs).
        log_apjn: ``log J(l0, l)`` (``nan`` for ``l < l0``; ``J(l0, l0) = 1``), mean over probes.
        log_apjn_back: ``log J(l, L)``, mean over probes.
        log_grad: ``log(|dLoss/dh^l|^2 / |dLoss/dh^L|^2)`` for ``meta["loss"]``.
        meta: width, samples, probes, seed, dtype, device, seconds, loss, l0, arch.
    """

    q: np.ndarray
    p: np.ndarray
    log_apjn: np.ndarray
    log_apjn_back: np.ndarray
    log_grad: np.ndarray
    meta: dict = field(default_factory=dict)

    def mean(self, name: str) -> np.ndarray:
        """Mean over networks, shape ``(L+1,)`` (``(L+1, *grid)`` for a sweep, as the theory's)."""
        with np.errstate(invalid="ignore", over="ignore"):
            return np.mean(getattr(self, name), axis=0)

    def stderr(self, name: str) -> np.ndarray:
        """Standard error of :meth:`mean`: ``std(ddof=1)/sqrt(samples)`` (``nan`` for one network)."""
        x = getattr(self, name)
        if x.shape[0] < 2:
            return np.full(x.shape[1:], np.nan)
        with np.errstate(invalid="ignore", over="ignore"):  # a layer that overflowed gives nan
            return np.std(x, axis=0, ddof=1) / math.sqrt(x.shape[0])

    def to_dict(self) -> dict:
        out = {k: getattr(self, k).tolist() for k in NAMES}
        out["meta"] = self.meta
        return out


# ---------------------------------------------------------------------------
# One network
# ---------------------------------------------------------------------------
def _moments(h):
    """``(q, p)`` of tokens ``h`` ``(n, d)``: ``q = mean_a |h_a|^2/d``, ``p = mean_{a!=b} h_a.h_b/d``."""
    import jax.numpy as jnp

    n, d = h.shape
    sq = jnp.sum(h * h)
    q = sq / (n * d)
    if n == 1:
        return q, jnp.full((), jnp.nan, h.dtype)
    s = jnp.sum(h, axis=0)
    return q, (jnp.sum(s * s) - sq) / (n * (n - 1) * d)


def _sq_norm(t):
    import jax.numpy as jnp

    return jnp.sum(t * t, axis=tuple(range(1, t.ndim)))


def _rescaled(t, logs):
    """Each row of ``t`` scaled by a power of two to a squared norm in ``[1/2, 2)`` (exact in floating point).

    Returns ``(t', logs', log_sq)``: ``logs`` accumulates the log of the factor
    each row's squared norm was divided by, so ``log_sq = logs + log |t_i|^2`` is
    the row's true log squared norm however far it has grown or decayed; the
    sweeps therefore measure ``log J`` beyond the float32 range (``|log J| > 87``).
    Rows of norm 0 (or not finite) are left as they are.
    """
    import jax.numpy as jnp

    sq = _sq_norm(t)
    _, e = jnp.frexp(sq)  # sq = m 2^e, m in [1/2, 1)
    shift = jnp.where(jnp.isfinite(sq) & (sq > 0), e // 2, 0)  # divide t by 2^shift, sq by 4^shift
    scaled = t * jnp.ldexp(jnp.ones((), t.dtype), -shift).reshape((-1,) + (1,) * (t.ndim - 1))
    return scaled, logs + (2 * math.log(2.0)) * shift.astype(t.dtype), logs + jnp.log(sq)


def _log_mean_exp(x, axis=-1):
    """``log mean exp(x)`` along ``axis``, stable for any magnitude (``-inf`` if every entry is)."""
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    return logsumexp(x, axis=axis) - jnp.log(jnp.asarray(x.shape[axis], x.dtype))


def network_keys(key):
    """The five keys of one network: ``(weights, input, forward probes, reverse probes, loss target)``."""
    import jax

    return tuple(jax.random.split(key, 5))


def rademacher(key, shape, dtype):
    """+-1 entries from the low bit of uint32 draws (the same probes in float32 and float64 runs)."""
    import jax.numpy as jnp

    bits = bits32(key, shape)  # the bits of jax.random.bits (see .rng)
    return (2 * (bits & 1).astype(jnp.int32) - 1).astype(dtype)


def measure(net: Network, key, hyper: dict, h0=None, *, probes: int = 4, l0: int = 0,
            backward: bool = True, axes: dict | None = None, points: int = 1) -> dict:
    """Per-layer measurements of one network (pure JAX; ``jit``/``vmap`` it).

    Args:
        net: the network.
        key: this network's key; split into weights, input, probes and target keys.
        hyper: ``net.hyper`` (traced numbers), or a :class:`~.network.Sweep`'s ``hyper``.
        h0: input ``(n, d)``; ``None`` draws permutation-symmetric tokens with exact ``(q0, p0)``.
        probes: Hutchinson probes per network (forward and reverse each).
        l0: layer where the forward probes start.
        backward: also run the reverse sweep (``log_apjn_back``, ``log_grad``).
        axes, points: a sweep's ``axes`` and ``size``: every sublayer then runs on all
            ``points`` grid points at once, with this network's weight draws, input and
            probes shared by all of them (``None``: one grid point, ``hyper`` scalar).

    Returns:
        dict of ``(L+1,)`` arrays (``(L+1, points)`` for a sweep): ``q``, ``p``,
        ``log_apjn`` and, with ``backward``, ``log_apjn_back`` and ``log_grad``.
    """
    import jax
    import jax.numpy as jnp

    n, d, L, per = net.n, net.d, net.L, net.period
    dt = net.jdtype
    grid = axes is not None
    names = ("alpha", "shift", "eps")
    hyp = {k: hyper[k] for k in names}
    hyp_axes = {k: axes[k] for k in names} if grid else None

    def over_grid(f, in_axes):
        """``f`` on every grid point (``vmap``; unchanged for a single point)."""
        return jax.vmap(f, in_axes=in_axes, axis_size=points) if grid else f

    def per_point(sub, j):
        """``sub(state, state, state, hyper, stds)`` of the sublayer at block position ``j`` on every point."""
        return over_grid(sub, (0, 0, 0, hyp_axes, axes["std"][j] if grid else None))

    kw, kin, kv, ku, ky = network_keys(key)
    if h0 is None:
        h0 = over_grid(lambda q0, p0: net.symmetric_inputs(kin, {"q0": q0, "p0": p0}),
                       (axes["q0"], axes["p0"]) if grid else None)(hyper["q0"], hyper["p0"])
    else:
        h0 = jnp.asarray(h0, dt)
        h0 = jnp.broadcast_to(h0, (points, n, d)) if grid else h0
    v = rademacher(kv, (probes, n, d), dt)
    lay = hyper["layers"]
    xs = (lay["index"], lay["std"], lay["block"], lay["active"])
    # the last block holds sublayers past L (skipped with full-size selects) only when L % per != 0
    padded = L % per != 0

    def forward_block(carry, x):
        h, t, logs = carry
        b, stds, block, active = x
        ins, stats = [], []
        for j in range(per):
            k = b * per + j
            z = net.unit_weights(kw, k, j)  # drawn once, shared by every grid point

            def sub(h, t, logs, hp, std, j=j, k=k, z=z):
                if l0 > 0:  # (l0 = 0: the carry starts as (v, 0))
                    t = jnp.where(k == l0, v, t)
                    logs = jnp.where(k == l0, 0.0, logs)
                h2, lin = jax.linearize(net.layer_fn(j, net.scale(z, std), hp, block[j]), h)
                t2, logs2, log_sq = _rescaled(jax.vmap(lin)(t), logs)
                if padded:
                    h, t2, logs2 = (jnp.where(active[j], new, old) for new, old in ((h2, h), (t2, t), (logs2, logs)))
                else:
                    h = h2
                q, p = _moments(h)
                stat = jnp.stack([q, p, _log_mean_exp(log_sq) - math.log(n * d)])  # (inactive: dropped)
                return h, t2, logs2, stat

            ins.append(h)
            h, t, logs, stat = per_point(sub, j)(h, t, logs, hyp, stds[j])
            stats.append(stat)
        return (h, t, logs), (jnp.stack(ins), jnp.stack(stats))

    lead = (points,) if grid else ()
    t0 = jnp.broadcast_to(jnp.where(l0 == 0, v, jnp.zeros_like(v)), lead + v.shape)
    (hL, _, _), (hs, stats) = jax.lax.scan(forward_block, (h0, t0, jnp.zeros(lead + (probes,), dt)), xs)
    stats = stats.reshape((-1,) + stats.shape[2:])[:L]  # (L, [points,] 3)
    q0, p0 = over_grid(_moments, 0)(h0)
    layers = jnp.arange(L + 1).reshape((-1,) + (1,) * len(lead))
    log_j = jnp.concatenate([jnp.zeros((1,) + lead, dt), stats[..., 2]])
    log_j = jnp.where(layers == l0, 0.0, log_j)  # J(l0, l0) = 1 (= ||v||^2/(n d) exactly for Rademacher v)
    out = {"q": jnp.concatenate([q0[None], stats[..., 0]]),
           "p": jnp.concatenate([p0[None], stats[..., 1]]),
           "log_apjn": jnp.where(layers >= l0, log_j, jnp.nan)}
    if not backward:
        return out

    u = rademacher(ku, (probes, n, d), dt)
    y = normal(ky, (n, d)).astype(dt)
    g0 = over_grid(lambda h: jnp.concatenate([u, (h - y)[None]]), 0)(hL)

    def backward_block(carry, x):
        g, logs = carry
        b, stds, block, active, h_in = x
        norms = []
        for j in reversed(range(per)):
            k = b * per + j
            z = net.unit_weights(kw, k, j)

            def sub(g, logs, h, hp, std, j=j, z=z):
                _, pull = jax.vjp(net.layer_fn(j, net.scale(z, std), hp, block[j]), h)
                g2, logs2, log_sq = _rescaled(jax.vmap(lambda c: pull(c)[0])(g), logs)
                if padded:
                    g2, logs2 = jnp.where(active[j], g2, g), jnp.where(active[j], logs2, logs)
                return g2, logs2, log_sq

            g, logs, log_sq = per_point(sub, j)(g, logs, h_in[j], hyp, stds[j])
            norms.append(log_sq)  # (inactive sublayers, past L: dropped)
        return (g, logs), jnp.stack(norms[::-1])

    _, norms = jax.lax.scan(backward_block, (g0, jnp.zeros(lead + (probes + 1,), dt)), xs + (hs,), reverse=True)
    norms = norms.reshape((-1,) + norms.shape[2:])[:L]  # (L, [points,] probes + 1): log |g|^2
    norms = jnp.concatenate([norms, jnp.log(jnp.sum(g0 * g0, axis=(-2, -1)))[None]])
    out["log_apjn_back"] = _log_mean_exp(norms[..., :probes], axis=-1) - math.log(n * d)
    out["log_grad"] = (norms[..., probes] - norms[-1, ..., probes]).at[L].set(0.0)  # exactly 0 at l = L
    return out


# ---------------------------------------------------------------------------
# Ensembles
# ---------------------------------------------------------------------------
_COMPILED: dict = {}


def _ensemble_fn(net: Network, probes: int, l0: int, backward: bool, with_inputs: bool, axes: dict | None = None,
                 points: int = 1):
    """``jit(vmap(measure))`` over networks, cached per compiled structure (and a sweep's varying numbers)."""
    import jax

    cache_key = (net.static_key, probes, l0, backward, with_inputs, repr(axes), points)
    fn = _COMPILED.get(cache_key)
    if fn is None:
        def one(key, hyper, h0):
            return measure(net, key, hyper, h0, probes=probes, l0=l0, backward=backward, axes=axes, points=points)

        fn = jax.jit(jax.vmap(one, in_axes=(0, None, 0 if with_inputs else None)))
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        _COMPILED[cache_key] = fn
    return fn


def _auto_chunk(net: Network, samples: int, probes: int, platform: str, points: int = 1,
                weight_points: int = 1) -> int:
    """Networks per compiled call so that the per-chunk working set stays within a few GB.

    ``points``: grid points per network; ``weight_points``: copies of each weight matrix
    (the grid points, when a weight scale is swept; otherwise one shared matrix).
    """
    per = 4 if net.dtype == "float32" else 8
    ratio = max([getattr(net.arch, "mlp_ratio", 1)] + [1])
    act = (net.L + 1) * net.n * net.d * per * points  # stored h^l for the reverse sweep
    work = ((2 * probes + 4) * net.n * net.d * ratio * points + 12 * ratio * net.d * net.d * weight_points) * per
    budget = 8e9 if platform == "gpu" else 1e9
    return int(max(1, min(samples, budget // (act + work))))


def simulate(arch: Architecture, *, width: int | None = None, samples: int = 16, probes: int = 4, seed: int = 0,
             dtype: str = "float32", l0: int = 0, device: str | None = None, progress: bool = False,
             inputs=None, chunk: int | None = None, backward: bool = True,
             value_path_only: bool = False, rng: str = "threefry2x32") -> MCResult:
    """Monte-Carlo ensemble of ``samples`` independent networks of ``arch``.

    Args:
        arch: declaration; scalar fields, or a sweep over traced numbers only (``alpha``,
            ``shift``, ``eps``, ``q0``, ``p0``, the sigmas): then every network runs on all grid
            points in one compiled call, with its weight draws, input and probes shared by all
            points (common random numbers: differences between points are measured on the
            same networks, so the points' errors are correlated).
        width: ``d`` (default ``arch.width``).
        samples: independent networks (new weights, new symmetric input, new probes each).
        probes: Hutchinson probes per network, forward and reverse.
        seed: network ``i`` uses ``fold_in(jax.random.key(seed), i)``.
        dtype: ``"float32"`` (default) or ``"float64"`` (runs under ``jax.enable_x64``).
        l0: starting layer of the forward APJN ``J(l0, l)``.
        device: ``"cpu"``, ``"gpu"`` or ``None`` (JAX's default backend).
        progress: print one line per chunk to stderr.
        inputs: ``None`` (symmetric tokens with exact ``(q0, p0)``), or an array
            ``(n, d)`` / ``(batch, n, d)`` with ``batch`` 1 or ``samples``.
        chunk: networks per compiled call (default: sized to memory; a
            multiple of the local device count when sharding).
        backward: run the reverse sweep (otherwise ``log_apjn_back``/``log_grad`` are ``nan``).
        value_path_only: attention Jacobians without the softmax path (diagnostic; q and p unchanged).
        rng: JAX PRNG implementation, ``"threefry2x32"`` (default, the same numbers on every
            backend; drawn by :mod:`.rng`) or ``"rbg"``/``"unsafe_rbg"`` (XLA's generator;
            other numbers, same statistics; a network's numbers then depend on which
            networks share its chunk, so a seed reproduces only at the same ``chunk``,
            recorded in ``meta``, which by default is sized to the platform's memory).

    Returns:
        :class:`MCResult`; for a sweep its arrays are ``(samples, L+1, *arch.grid_shape())``
        and grid point ``i`` equals ``simulate`` of that point alone (same seed) to round-off.
    """
    import jax

    if samples < 1 or probes < 1:
        raise ValueError(f"samples and probes must be >= 1, got {samples}, {probes}")
    root = root_key(seed, rng)  # checks the seed
    if chunk is not None and chunk < 1:
        raise ValueError(f"chunk must be >= 1 networks per call (or None: sized to memory), got {chunk}")
    if not 0 <= l0 <= arch.depth:
        raise ValueError(f"l0 must be in [0, depth={arch.depth}], got {l0}")
    shape = arch.grid_shape()
    if shape == ():
        net, axes, points, copies = Network(arch, width, dtype, value_path_only), None, 1, 1
        hyper = net.hyper
    else:
        sweep = Sweep.build(arch, width, dtype, value_path_only)
        net, hyper, axes, points, copies = sweep.net, sweep.hyper, sweep.axes, sweep.size, sweep.weight_copies
    platform = device or jax.default_backend()
    try:
        devices = jax.devices(platform)
    except RuntimeError as exc:
        raise ValueError(f"no JAX {platform!r} device available ({exc})") from None
    if inputs is None and net.n > net.d:
        raise ValueError(f"n_tokens={net.n} > width={net.d}: symmetric inputs need n <= d (or pass inputs)")
    x = None if inputs is None else user_inputs(inputs, samples, net.n, net.d)
    if x is not None and axes is not None and (axes["q0"] is not None or axes["p0"] is not None):
        raise ValueError("inputs= replaces the symmetric inputs, so sweeping q0/p0 would change nothing; "
                         "omit inputs (exact (q0, p0) tokens) or do not sweep q0/p0")
    nd = len(devices)
    chunk = chunk or _auto_chunk(net, samples, probes, platform, points, copies)
    chunk = max(nd, -(-chunk // nd) * nd) if nd > 1 else chunk
    chunk = min(chunk, -(-samples // nd) * nd)
    start = time.perf_counter()
    with jax.enable_x64(dtype == "float64"), jax.default_device(devices[0]):
        fn = _ensemble_fn(net, probes, l0, backward, x is not None, axes, points)
        sharding = None
        if nd > 1:
            from jax.sharding import Mesh, NamedSharding, PartitionSpec

            sharding = NamedSharding(Mesh(np.array(devices), ("net",)), PartitionSpec("net"))
        rows = []
        nchunks = -(-samples // chunk)
        for c in range(nchunks):
            idx = np.arange(c * chunk, (c + 1) * chunk)  # fixed shape: no recompilation
            keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(idx)
            xin = None
            if x is not None:
                xin = jax.numpy.asarray(x[np.minimum(idx, samples - 1)], net.jdtype)
            if sharding is not None:
                keys = jax.device_put(keys, sharding)
                xin = None if xin is None else jax.device_put(xin, sharding)
            t0 = time.perf_counter()
            res = jax.device_get(fn(keys, hyper, xin))
            rows.append({k: np.asarray(v, np.float64).reshape(v.shape[:2] + shape) for k, v in res.items()})
            if progress:
                print(f"  networks {c * chunk}-{min(samples, (c + 1) * chunk) - 1} of {samples} "
                      f"(chunk {c + 1}/{nchunks}, {time.perf_counter() - t0:.1f} s"
                      f"{', with any compilation' if c == 0 else ''})", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    cat = {k: np.concatenate([r[k] for r in rows])[:samples] for k in rows[0]}
    nan = np.full_like(cat["q"], np.nan)
    meta = {"width": net.d, "samples": samples, "probes": probes, "seed": seed, "dtype": dtype,
            "device": f"{platform}:{devices[0].device_kind} x{nd}", "seconds": seconds, "loss": LOSS,
            "l0": l0, "chunk": chunk, "value_path_only": value_path_only, "rng": rng, "grid_shape": list(shape),
            "arch": arch.to_dict()}
    return MCResult(cat["q"], cat["p"], cat["log_apjn"], cat.get("log_apjn_back", nan), cat.get("log_grad", nan),
                    meta)
