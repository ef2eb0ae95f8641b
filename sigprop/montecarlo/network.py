"""Finite-width networks built from the theory's declarations, in JAX.

:class:`Network` turns an :class:`~sigprop.architectures.Architecture` into a
pure JAX function of a weight key and an input ``(n, d)``. The sublayers are
the declaration's own (``arch.sublayer(k)``): each block file of
:mod:`sigprop.blocks` holds both the mean-field map the theory iterates and
the finite-width ``forward`` used here, so the two cannot drift apart.

Weights are never stored for the whole depth: the weights of sublayer ``k``
are drawn from ``fold_in(weight_key, k)`` when the sublayer runs (Gaussian,
mean 0, standard deviation ``sigma/sqrt(fan_in)`` per docs/theory.md), so the
backward sweep re-draws exactly the same matrices and memory stays
``O(L n d)`` for the stored activations only. Sublayers run inside a
``lax.scan`` over blocks (``arch.period`` sublayers per step); per-layer
numbers (weight scales of ``init="depth_scaled"``, the LNS block index) are
scanned arrays, and the scalar hyperparameters (alpha, shift, eps, q0, p0,
sigmas) are traced arguments, so a sweep over alpha compiles once.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from ..architectures import Architecture, _check_int
from ..arrays import jax_namespace
from ..blocks import Residual
from ..normalizers import NormParams
from .rng import normal

#: fields that only enter through traced numbers (no recompilation when they change)
TRACED_FIELDS = ("alpha", "shift", "eps", "q0", "p0", "sigma_w2", "sigma_b2", "sigma_q", "sigma_k",
                 "sigma_v", "sigma_o", "sigma_1", "sigma_2")


def _scalar(arch: Architecture) -> None:
    if arch.grid_shape() != ():
        raise ValueError("a Network is one grid point (scalar fields); got a grid of shape "
                         f"{arch.grid_shape()}: simulate() runs sweeps over traced numbers (see Sweep)")


def check_width(width) -> None:
    """``ValueError`` unless ``width`` is ``None`` (the declaration's) or an integer ``>= 1``."""
    if width is not None:
        _check_int("width", width, 1)


class Network:
    """A finite-width network of one declaration.

    Args:
        arch: declaration with scalar fields.
        width: ``d`` (default ``arch.width``).
        dtype: ``"float32"`` or ``"float64"`` (the latter must run under
            ``jax.enable_x64(True)``; :func:`sigprop.montecarlo.simulate` does that).
        value_path_only: stop gradients through attention softmax weights (a
            diagnostic: the Jacobian then keeps only the value path, as the
            mean-field chi does).

    Attributes:
        d, n, L, period: width, tokens, sublayers, sublayers per scan step.
        hyper: traced numbers (a pytree of NumPy arrays) passed to every call.
        static_key: string identifying everything that is compiled in.
    """

    def __init__(self, arch: Architecture, width: int | None = None, dtype: str = "float32",
                 value_path_only: bool = False):
        _scalar(arch)
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        check_width(width)
        self.arch = arch
        self.d = int(arch.width if width is None else width)
        self.n = int(arch.n_tokens)
        self.L = int(arch.depth)
        self.dtype = dtype
        self.period = int(arch.period)
        if getattr(arch, "heads", 1) and self.d % getattr(arch, "heads", 1):
            raise ValueError(f"width {self.d} is not a multiple of heads={arch.heads}")
        q0, p0 = float(arch.q0), float(arch.p0)
        nb = -(-self.L // self.period)
        # templates: the sublayer at each position of a block (structure only)
        self.templates = []
        for j in range(self.period):
            sub = arch.sublayer(j)
            if isinstance(sub, Residual):
                sub = dataclasses.replace(sub, mu=float(np.asarray(sub.mu)))
                if value_path_only and hasattr(sub.branch, "value_path_only"):
                    sub = dataclasses.replace(sub, branch=dataclasses.replace(sub.branch, value_path_only=True))
            self.templates.append(sub)
        self.shapes = [{k: v[0] for k, v in t.weight_specs(self.d).items()} for t in self.templates]
        stds = [{k: np.zeros(nb) for k in s} for s in self.shapes]
        block = np.ones((nb, self.period))
        active = np.zeros((nb, self.period), dtype=bool)
        for k in range(self.L):
            b, j = divmod(k, self.period)
            for name, (_, std) in arch.sublayer(k).weight_specs(self.d).items():
                stds[j][name][b] = float(std)
            block[b, j] = arch.block_index(k)
            active[b, j] = True
        self.hyper = {
            "alpha": np.float64(arch.alpha), "shift": np.float64(arch.shift), "eps": np.float64(arch.eps),
            "q0": np.float64(q0), "p0": np.float64(p0),
            "layers": {"std": stds, "block": block, "active": active, "index": np.arange(nb)},
        }
        fields = {k: v for k, v in arch.to_dict().items() if k not in TRACED_FIELDS}
        self.value_path_only = value_path_only
        self.static_key = json.dumps([fields, self.d, dtype, value_path_only], sort_keys=True, default=str)

    # -- pieces ------------------------------------------------------------------
    @property
    def jdtype(self):
        import jax.numpy as jnp

        return jnp.float32 if self.dtype == "float32" else jnp.float64

    def unit_weights(self, wkey, k, j: int) -> dict:
        """Standard-normal draws of sublayer ``k`` (position ``j`` in its block), from ``fold_in(wkey, k)``."""
        import jax

        keys = jax.random.split(jax.random.fold_in(wkey, k), len(self.shapes[j]))
        # drawn in float32 (the numbers of jax.random.normal, see .rng) and cast:
        # float32 and float64 networks share the same weights
        return {name: normal(kk, shape).astype(self.jdtype) for kk, (name, shape) in zip(keys, self.shapes[j].items())}

    def scale(self, unit: dict, stds: dict) -> dict:
        """Weights ``std * z`` from the unit draws ``z`` of :meth:`unit_weights`."""
        return {name: stds[name].astype(self.jdtype) * z for name, z in unit.items()}

    def weights(self, wkey, k, j: int, stds: dict) -> dict:
        """Weights of sublayer ``k`` (position ``j`` in its block), drawn from ``fold_in(wkey, k)``."""
        return self.scale(self.unit_weights(wkey, k, j), stds)

    def layer_fn(self, j: int, weights: dict, hyper: dict, block):
        """``h -> h'`` of the sublayer at position ``j`` with the given weights (a closure for jvp/vjp)."""
        import jax.numpy as jnp

        xp = jax_namespace()
        dt = self.jdtype
        params = NormParams(alpha=jnp.asarray(hyper["alpha"], dt), shift=jnp.asarray(hyper["shift"], dt),
                            eps=jnp.asarray(hyper["eps"], dt), block=jnp.asarray(block, dt))
        t = self.templates[j]
        return lambda h: t.forward(weights, h, params, xp)

    def symmetric_inputs(self, key, hyper: dict | None = None):
        """``(n, d)`` tokens with exactly ``h_a.h_a/d = q0`` and ``h_a.h_b/d = p0`` (see :mod:`.inputs`)."""
        from .inputs import symmetric_tokens

        hyper = self.hyper if hyper is None else hyper
        return symmetric_tokens(key, self.n, self.d, hyper["q0"], hyper["p0"], self.jdtype)

    def apply(self, wkey, h, upto: int | None = None, hyper: dict | None = None, start: int = 0):
        """``h^upto`` (default ``h^L``) of the network with weight key ``wkey``, given ``h = h^start``.

        A plain Python loop (no scan): the reference the sweeps are tested against.
        """
        import jax.numpy as jnp

        hyper = self.hyper if hyper is None else hyper
        lay = hyper["layers"]
        upto = self.L if upto is None else upto
        h = jnp.asarray(h, self.jdtype)
        for k in range(start, upto):
            b, j = divmod(k, self.period)
            stds = {name: jnp.asarray(v[b]) for name, v in lay["std"][j].items()}
            w = self.weights(wkey, k, j, stds)
            h = self.layer_fn(j, w, hyper, jnp.asarray(lay["block"][b, j]))(h)
        return h

    def scan_apply(self, wkey, h, upto=None, hyper: dict | None = None):
        """``h^upto`` from ``h^0`` as a ``lax.scan`` over blocks (sublayers ``k >= upto`` are skipped).

        Compiles in time independent of depth and is rematerialized block by
        block under reverse mode (``jax.checkpoint``), so ``jax.vjp``/``jacfwd``
        of it store only one ``(n, d)`` activation per block, not the weights.
        ``upto`` may be traced.
        """
        import jax
        import jax.numpy as jnp

        hyper = self.hyper if hyper is None else hyper
        lay = hyper["layers"]
        upto = self.L if upto is None else upto

        @jax.checkpoint
        def body(h, x):
            b, stds, block, active = x
            for j in range(self.period):
                k = b * self.period + j
                w = self.weights(wkey, k, j, stds[j])
                h = jnp.where(active[j] & (k < upto), self.layer_fn(j, w, hyper, block[j])(h), h)
            return h, None

        xs = (lay["index"], lay["std"], lay["block"], lay["active"])
        return jax.lax.scan(body, jnp.asarray(h, self.jdtype), xs)[0]


# ---------------------------------------------------------------------------
# Sweeps: one network structure, a grid of traced numbers
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Sweep:
    """A sweep of one network structure over a grid of traced numbers (alpha, sigmas, q0, ...).

    Every grid point shares the weight draws, inputs and probes of each
    network (common random numbers): the unit-normal weights of a sublayer are
    drawn once and scaled per point, and a sublayer runs on all points at once
    (``vmap`` over the grid; a weight matrix that is the same for every point
    multiplies all points' tokens in one product).

    Attributes:
        net: the network of the first grid point (structure, shapes, static key).
        hyper: ``net.hyper`` with the leaves that vary stacked over the flattened
            grid (axis 0 of ``alpha``/``shift``/``eps``/``q0``/``p0``, axis 1 of the
            per-layer ``std`` arrays, which the layer scan slices first).
        axes: ``vmap`` axes of one sublayer's numbers: ``0`` where they vary, ``None`` where not
            (keys ``alpha, shift, eps, q0, p0`` and ``std``, a list over block positions).
        shape: the grid's shape; ``size`` its number of points.
    """

    net: Network
    hyper: dict
    axes: dict
    shape: tuple

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def weight_copies(self) -> int:
        """Copies of each weight matrix the sweep holds: one per point where a weight scale is swept."""
        return self.size if any(a is not None for std in self.axes["std"] for a in std.values()) else 1

    @classmethod
    def build(cls, arch: Architecture, width: int | None = None, dtype: str = "float32",
              value_path_only: bool = False) -> "Sweep":
        shape = arch.grid_shape()  # (the declaration refuses empty sweeps)
        points = [Network(a, width, dtype, value_path_only) for a in arch.grid_points()]
        first = points[0]
        varied = sorted(k for k in arch.swept_fields() if k not in TRACED_FIELDS
                        and np.ptp(np.asarray(getattr(arch, k), float)) > 0)  # (a constant list is one value)
        if varied or any(p.static_key != first.static_key for p in points):
            raise ValueError(f"a Monte-Carlo sweep may vary only {', '.join(TRACED_FIELDS)} (numbers the compiled "
                             f"network takes as inputs); "
                             f"{', '.join(varied) or 'the other swept fields'} would change the network itself: "
                             "loop over those values instead")
        hyper = dict(first.hyper)
        axes = {}
        for name in ("alpha", "shift", "eps", "q0", "p0"):
            vals = np.array([p.hyper[name] for p in points])
            varies = bool(np.any(vals != vals[0]))
            hyper[name], axes[name] = (vals, 0) if varies else (first.hyper[name], None)
        stds, std_axes = [], []
        for j, s in enumerate(first.hyper["layers"]["std"]):
            std, std_axis = {}, {}
            for name, v in s.items():
                vals = np.stack([p.hyper["layers"]["std"][j][name] for p in points], axis=1)  # (blocks, points)
                varies = bool(np.any(vals != vals[:, :1]))
                std[name], std_axis[name] = (vals, 0) if varies else (v, None)
            stds.append(std)
            std_axes.append(std_axis)
        hyper["layers"] = dict(first.hyper["layers"], std=stds)
        axes["std"] = std_axes
        return cls(first, hyper, axes, shape)
