"""Architecture declarations: typed frozen dataclasses, declared once.

The same declaration drives the mean-field recurrence (:mod:`sigprop.theory`),
the finite-width JAX networks (:mod:`sigprop.montecarlo`), the command line
(``--set KEY=VALUE`` sets a field) and the figures. Numeric fields may be
NumPy arrays: they broadcast, so one declaration describes a whole
hyperparameter grid and one solver call sweeps it.

Conventions (docs/theory.md): ``depth`` counts residual *sublayers* (a transformer
block is two: attention then MLP); weights are Gaussian with variance
``sigma^2 / fan_in``; ``q0``/``p0`` are the input second moments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .activations import get_activation
from .blocks import AttentionBranch, DenseBranch, MLPBranch, PlainDense, Residual
from .normalizers import NormParams, get_normalizer

INITS = ("standard", "scaled", "depth_scaled")
PLACEMENTS = ("pre", "post")


def _fail(name, value, allowed):
    raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _check_real(name, value, *, lo=None, hi=None, lo_open=False, allowed=None):
    arr = None
    if not isinstance(value, (str, bool, np.bool_)):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            arr = None
    if arr is None or not np.all(np.isfinite(arr)):
        _fail(name, value, allowed or "a finite number")
    if lo is not None and (np.any(arr <= lo) if lo_open else np.any(arr < lo)):
        _fail(name, value, allowed or (f"> {lo}" if lo_open else f">= {lo}"))
    if hi is not None and np.any(arr > hi):
        _fail(name, value, allowed or f"<= {hi}")


def _check_int(name, value, lo):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        _fail(name, value, f"an integer >= {lo}")


def _check_name(name, value):
    if not isinstance(value, str):
        _fail(name, value, "a name (a string)")


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, value, "True or False")


@dataclass(frozen=True, eq=False)
class Architecture:
    """Fields shared by every architecture.

    Attributes:
        depth: number of residual sublayers ``L`` (``>= 1``).
        normalizer: registry name (identity, layernorm, rmsnorm, lns, dyt, derf, ...).
        alpha: pointwise-normalizer input scale (``> 0``).
        shift: pointwise-normalizer input shift.
        eps: LayerNorm/RMSNorm epsilon (``>= 0``).
        placement: ``"pre"`` or ``"post"`` normalization.
        init: ``"standard"``, ``"scaled"`` (output projections x ``1/sqrt(2 B)``,
            ``B`` blocks) or ``"depth_scaled"`` (x ``1/sqrt(2 b)``, ``b`` the
            1-based block index) — the Curse-of-Depth paper's comparisons.
        q0, p0: input per-unit second moment and cross-token covariance
            (``q0 > 0``, ``-q0/(n_tokens-1) <= p0 <= q0``: a valid Gram matrix of
            ``n_tokens`` equicorrelated tokens).
        n_tokens: tokens per input (``>= 1``); two suffice for toy networks.
        width: default finite width ``d`` for Monte-Carlo networks.
    """

    depth: int = 64
    normalizer: str = "layernorm"
    alpha: object = 1.0
    shift: object = 0.0
    eps: object = 0.0
    placement: str = "pre"
    init: str = "standard"
    q0: object = 1.0
    p0: object = 0.5
    n_tokens: int = 2
    width: int = 256

    kind: ClassVar[str] = "architecture"
    #: sublayers per block (LNS and depth-scaled init count blocks).
    period: ClassVar[int] = 1
    #: Jacobian tangents of different tokens become correlated (attention); see the solver.
    cross_tangents: ClassVar[bool] = False

    def __post_init__(self):
        for f in dataclasses.fields(self):  # numeric fields: sequences become arrays (a sweep)
            v = getattr(self, f.name)
            if f.type == "object" and isinstance(v, (list, tuple)):
                _check_real(f.name, v, allowed="a finite number or a sweep of finite numbers (rows of equal length)")
            if f.type == "object" and isinstance(v, (list, tuple, np.ndarray)) and np.size(v) == 0:
                _fail(f.name, v, "a number or a non-empty sweep of numbers")
            if f.type == "object" and isinstance(v, (list, tuple)):
                object.__setattr__(self, f.name, np.asarray(v, float))
        _check_int("depth", self.depth, 1)
        _check_int("n_tokens", self.n_tokens, 1)
        _check_int("width", self.width, 1)
        for name in ("normalizer", "placement", "init"):
            _check_name(name, getattr(self, name))
        get_normalizer(self.normalizer)  # raises with the known names
        _check_real("alpha", self.alpha, lo=0.0, lo_open=True)
        _check_real("shift", self.shift)
        _check_real("eps", self.eps, lo=0.0)
        _check_real("q0", self.q0, lo=0.0, lo_open=True)
        _check_real("p0", self.p0)
        q0, p0 = np.broadcast_arrays(np.asarray(self.q0, float), np.asarray(self.p0, float))
        if np.any(np.abs(p0) > q0):
            _fail("p0", self.p0, f"within [-q0, q0] (q0={self.q0!r})")
        if self.n_tokens > 1 and np.any(q0 + (self.n_tokens - 1) * p0 < 0):
            # the Gram matrix (q0 - p0) I + p0 11^T of n tokens has eigenvalue q0 + (n-1) p0
            _fail("p0", self.p0, f">= -q0/(n_tokens-1) = {-np.max(q0) / (self.n_tokens - 1):.4g} for "
                                 f"n_tokens={self.n_tokens} equicorrelated tokens")
        if self.placement not in PLACEMENTS:
            _fail("placement", self.placement, f"one of {PLACEMENTS}")
        if self.init not in INITS:
            _fail("init", self.init, f"one of {INITS}")

    # -- helpers ---------------------------------------------------------
    @property
    def blocks(self) -> int:
        return -(-self.depth // self.period)

    def block_index(self, k: int) -> int:
        """1-based block index of sublayer ``k`` (0-based)."""
        return k // self.period + 1

    def output_scale2(self, k: int) -> float:
        """Variance factor of the output projections of sublayer ``k``."""
        if self.init == "scaled":
            return 1.0 / (2.0 * self.blocks)
        if self.init == "depth_scaled":
            return 1.0 / (2.0 * self.block_index(k))
        return 1.0

    def norm_params(self, k: int) -> NormParams:
        return NormParams(alpha=self.alpha, shift=self.shift, eps=self.eps, block=self.block_index(k))

    def grid_shape(self) -> tuple[int, ...]:
        """Broadcast shape of all array-valued fields (``()`` for a single network)."""
        shapes = {f.name: np.shape(getattr(self, f.name)) for f in dataclasses.fields(self)
                  if not isinstance(getattr(self, f.name), (str, tuple))}
        try:
            return np.broadcast_shapes(*shapes.values())
        except ValueError:
            swept = ", ".join(f"{k} {v}" for k, v in shapes.items() if v != ())
            raise ValueError(f"swept fields must broadcast together (equal-length lists are paired point by "
                             f"point); got shapes {swept}") from None

    def swept_fields(self) -> list[str]:
        """Names of the array-valued (swept) fields."""
        return [f.name for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), np.ndarray) and getattr(self, f.name).ndim]

    def grid_points(self) -> list:
        """The scalar declarations of a sweep, in row-major order of :meth:`grid_shape` (``[self]`` if none)."""
        shape = self.grid_shape()
        arrays = {k: np.broadcast_to(getattr(self, k), shape).ravel() for k in self.swept_fields()}
        return [self.replace(**{k: float(v[i]) for k, v in arrays.items()}) for i in range(int(np.prod(shape)))]

    def sublayer(self, k: int):
        """The ``k``-th sublayer (0-based): an object with ``step(q, p, need_p)``."""
        raise NotImplementedError(f"{type(self).__name__} declares no sublayers; use one of "
                                  f"{', '.join(c.__name__ for c in ARCHITECTURES.values())} (or sigprop.preset)")

    def sublayers(self):
        return [self.sublayer(k) for k in range(self.depth)]

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = {"arch": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else (list(v) if isinstance(v, tuple) else v)
        return out


@dataclass(frozen=True, eq=False)
class ToyResidual(Architecture):
    """Toy dense residual network ``h' = mu h + W phi(Norm(h)) + b`` (Doshi et al. 2023).

    Attributes:
        mu: skip weight.
        sigma_w2: weight variance ``sigma_w^2`` (``W ~ N(0, sigma_w^2/d)``).
        sigma_b2: bias variance.
        activation: ``phi`` (identity for the Pre-LN/Derf toy models of docs/theory.md).
    """

    mu: object = 1.0
    sigma_w2: object = 0.46 ** 2
    sigma_b2: object = 0.0
    activation: str = "identity"

    kind: ClassVar[str] = "toy"

    def __post_init__(self):
        super().__post_init__()
        _check_real("mu", self.mu)
        _check_real("sigma_w2", self.sigma_w2, lo=0.0)
        _check_real("sigma_b2", self.sigma_b2, lo=0.0)
        _check_name("activation", self.activation)
        get_activation(self.activation)

    def sublayer(self, k: int):
        branch = DenseBranch(np.asarray(self.sigma_w2, float) * self.output_scale2(k), self.sigma_b2, self.activation)
        return Residual(branch, self.normalizer, self.norm_params(k), self.mu, self.placement)


@dataclass(frozen=True, eq=False)
class PlainMLP(Architecture):
    """Dense network ``h' = phi(W h + b)`` (``residual=True``: ``h' = h + phi(W h + b)``).

    No normalizer and no output projection, hence ``init="standard"`` only. Seed 003's
    PlainMLP/ResMLP: ReLU, ``sigma_w2 = 2/20``.
    """

    normalizer: str = "identity"
    sigma_w2: object = 2.0
    sigma_b2: object = 0.0
    activation: str = "relu"
    residual: bool = False

    kind: ClassVar[str] = "plain"

    def __post_init__(self):
        super().__post_init__()
        if self.normalizer != "identity":
            _fail("normalizer", self.normalizer, "'identity' for PlainMLP (use ToyResidual or Transformer)")
        if self.init != "standard":  # its branch phi(W h + b) has no output projection to scale
            _fail("init", self.init, "'standard' for PlainMLP: its branch phi(W h + b) has no output projection "
                                     "(init='scaled' / 'depth_scaled' scale a projection after the activation; "
                                     "use ToyResidual or Transformer)")
        _check_real("sigma_w2", self.sigma_w2, lo=0.0)
        _check_real("sigma_b2", self.sigma_b2, lo=0.0)
        _check_name("activation", self.activation)
        _check_bool("residual", self.residual)
        get_activation(self.activation)

    def sublayer(self, k: int):
        return PlainDense(self.sigma_w2, self.sigma_b2, self.activation, self.residual)


@dataclass(frozen=True, eq=False)
class Transformer(Architecture):
    """Residual stack of attention and MLP sublayers (``pattern`` repeats).

    Attributes:
        pattern: sublayer kinds of one block, e.g. ``("attention", "mlp")``
            (a transformer) or ``("mlp",)`` (a Pre-LN MLP stack).
        sigma_q, sigma_k, sigma_v, sigma_o: attention weight scales (variance ``sigma^2/d``).
        sigma_1, sigma_2: MLP scales (``W1``: fan-in ``d``; ``W2``: fan-in ``mlp_ratio d``).
        mlp_ratio: MLP hidden width over ``d``.
        activation: MLP hidden activation.
        heads: attention heads (the mean-field equations do not depend on it).
    """

    n_tokens: int = 8
    pattern: tuple = ("attention", "mlp")
    sigma_q: object = 1.0
    sigma_k: object = 1.0
    sigma_v: object = 1.0
    sigma_o: object = 1.0
    sigma_1: object = 1.0
    sigma_2: object = 1.0
    mlp_ratio: int = 4
    activation: str = "relu"
    heads: int = 1

    kind: ClassVar[str] = "transformer"

    @property
    def period(self) -> int:  # type: ignore[override]
        return len(self.pattern)

    @property
    def cross_tangents(self) -> bool:  # type: ignore[override]
        return "attention" in self.pattern

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.pattern, list):
            object.__setattr__(self, "pattern", tuple(self.pattern))
        if not self.pattern or any(s not in ("attention", "mlp") for s in self.pattern):
            _fail("pattern", self.pattern, "a non-empty sequence of 'attention' and 'mlp'")
        for name in ("sigma_q", "sigma_k", "sigma_v", "sigma_o", "sigma_1", "sigma_2"):
            _check_real(name, getattr(self, name), lo=0.0)
        _check_int("mlp_ratio", self.mlp_ratio, 1)
        _check_int("heads", self.heads, 1)
        if self.width % self.heads:
            _fail("heads", self.heads, f"a divisor of width={self.width}")
        _check_name("activation", self.activation)
        get_activation(self.activation)

    def sublayer(self, k: int):
        scale = np.sqrt(self.output_scale2(k))
        if self.pattern[k % self.period] == "attention":
            branch = AttentionBranch(self.sigma_q, self.sigma_k, self.sigma_v,
                                     np.asarray(self.sigma_o, float) * scale, self.n_tokens, self.heads)
        else:
            branch = MLPBranch(self.sigma_1, np.asarray(self.sigma_2, float) * scale, self.activation, self.mlp_ratio)
        return Residual(branch, self.normalizer, self.norm_params(k), 1.0, self.placement)


ARCHITECTURES = {cls.kind: cls for cls in (ToyResidual, PlainMLP, Transformer)}


# ---------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------
def _vit() -> Transformer:
    """docs/theory.md's ViT-like reference: d = 1024, n = 197, 128 blocks, all weight std 0.02."""
    d, ratio, std = 1024, 4, 0.02
    s = std * np.sqrt(d)  # 0.64
    return Transformer(depth=256, n_tokens=197, width=d, mlp_ratio=ratio, heads=16, normalizer="layernorm",
                       eps=1e-6, sigma_q=s, sigma_k=s, sigma_v=s, sigma_o=s, sigma_1=s,
                       sigma_2=std * np.sqrt(ratio * d), activation="gelu", q0=1.0, p0=0.4)


PRESETS = {
    "toy": lambda: ToyResidual(depth=128, normalizer="derf", alpha=0.5, sigma_w2=0.46 ** 2, q0=1.0, p0=0.5),
    "plain": lambda: PlainMLP(depth=20, width=64, sigma_w2=0.1, activation="relu", q0=1.0, p0=0.5),
    "resmlp": lambda: PlainMLP(depth=20, width=64, sigma_w2=0.1, activation="relu", residual=True, q0=1.0, p0=0.5),
    "mlp": lambda: Transformer(depth=64, pattern=("mlp",), n_tokens=8, normalizer="layernorm", sigma_1=1.0,
                               sigma_2=1.0, activation="relu", q0=1.0, p0=0.4),
    "transformer": lambda: Transformer(depth=16, n_tokens=8, normalizer="layernorm", q0=1.0, p0=0.4),
    "vit": _vit,
}

PRESET_DOCS = {
    "toy": "toy residual h' = h + W Derf(h): alpha = 0.5, sigma_w = 0.46, L = 128 (docs/theory.md)",
    "plain": "plain ReLU MLP, 20 layers, sigma_w^2 = 0.1 (seed 003's PlainMLP at init)",
    "resmlp": "residual ReLU MLP h' = h + ReLU(W h), 20 layers, sigma_w^2 = 0.1 (seed 003's ResMLP)",
    "mlp": "Pre-LN MLP stack h' = h + W2 ReLU(W1 LN(h)), 64 sublayers",
    "transformer": "small Pre-LN transformer, 8 blocks (16 sublayers), n = 8, all sigma = 1",
    "vit": "ViT-like reference: d = 1024, n = 197, 128 blocks, std 0.02, GELU, Pre-LN (docs/theory.md)",
}


def preset(name: str, **changes) -> Architecture:
    """A preset declaration, with fields replaced by ``changes``."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    arch = PRESETS[name]()
    return arch.replace(**changes) if changes else arch
