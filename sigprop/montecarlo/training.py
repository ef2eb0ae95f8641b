"""Training a finite-width PlainMLP / ResMLP: the "distant identity" experiment of seed 003.

The seed compares two 20-layer, width-64 ReLU networks on the task ``Y = X``:

* PlainMLP ``h' = ReLU(W h + b)``;
* ResMLP ``h' = h + ReLU(W h + b)`` (no normalizer);

both with Kaiming-normal weights scaled by ``1/sqrt(20)`` (variance
``(2/d)/20 = 0.1/d``, i.e. ``sigma_w^2 = 0.1`` in docs/theory.md's convention),
zero biases, Adam with learning rate ``1e-3``, 500 steps, batch 64. The seed
reports the loss ``0.333 -> 0.333`` (plain) and ``13.826 -> 0.063`` (ResMLP).
``0.333 = E[x^2]`` identifies the inputs as ``x ~ U(-1, 1)`` i.i.d. per unit
and the loss as the mean squared error over batch and units; the input and
output width equal the hidden width (no projections).

The networks are built from the package's declaration
(:class:`~sigprop.architectures.PlainMLP` with ``residual=False/True``): the
weight shapes and scales come from ``arch.sublayer(k).weight_specs(d)`` and the
forward pass is the sublayer's own ``forward`` (``h @ W + b``, then ReLU and,
for ResMLP, the skip). The seed's ResMLP ``x + ReLU(Linear(x))`` is exactly the
declaration's ``residual=True`` form. Biases are trainable and start at zero.

Each step draws a fresh batch (``fold_in(data_key, step)``); initial and final
losses and the per-layer diagnostics are measured on a fixed evaluation set
of ``eval_size`` inputs. Per layer ``l = 0..L`` we record ``q[l]`` (mean of
``h^2`` over examples and units, docs/theory.md's ``q``), the mean ``|h|``, the
squared norm of ``dLoss/dh^l`` and, per sublayer, ``||dLoss/dW_l||_F`` (the
seed's "gradient at layer l"). Several seeds run as one ``vmap``.

This module never imports :mod:`sigprop.theory`; figure 6 overlays the
mean-field prediction.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from ..architectures import PlainMLP
from ..arrays import jax_namespace
from .network import check_width
from .rng import root_key

#: what the seed reports (seed 003's table): initial and final loss.
SEED_REPORT = {"plain": (0.333, 0.333), "resmlp": (13.826, 0.063)}
LOSS = "mean over batch and units of (h^L - x)^2, x ~ U(-1, 1) i.i.d. per unit (target Y = X)"


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Training runs of one declaration; leading axis = seed.

    Attributes:
        loss: ``(S, steps)`` training-batch loss before each update.
        eval_loss: ``(S, 2)`` evaluation-set loss at initialization and after training.
        q, act: ``(S, 2, L+1)`` per-layer ``mean h^2`` and ``mean |h|`` (init, end).
        grad_h: ``(S, 2, L+1)`` ``||dLoss/dh^l||^2`` summed over the evaluation set.
        grad_w: ``(S, 2, L)`` ``||dLoss/dW_l||_F`` of sublayer ``l = 1..L``.
        meta: width, depth, steps, batch, lr, seeds, eval_size, loss, seconds, arch.
    """

    loss: np.ndarray
    eval_loss: np.ndarray
    q: np.ndarray
    act: np.ndarray
    grad_h: np.ndarray
    grad_w: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def initial_loss(self) -> np.ndarray:
        """Evaluation loss at initialization, one value per seed."""
        return self.eval_loss[:, 0]

    @property
    def final_loss(self) -> np.ndarray:
        """Evaluation loss after training, one value per seed."""
        return self.eval_loss[:, 1]

    @property
    def reduction(self) -> np.ndarray:
        """Relative loss reduction ``1 - final/initial`` per seed."""
        return 1.0 - self.final_loss / self.initial_loss


def _check(arch) -> None:
    if not isinstance(arch, PlainMLP):
        raise TypeError(f"the training experiment takes a PlainMLP declaration, got {type(arch).__name__}")
    if arch.grid_shape() != ():
        raise ValueError("training needs scalar fields (one network per declaration)")


def init_params(arch: PlainMLP, key, width: int):
    """Stacked parameters ``{"w": (L, d, d), "b": (L, d)}`` from the declaration's weight specs.

    ``W_l`` has i.i.d. entries ``N(0, sigma_w2/d)`` (seed 003: Kaiming ``2/d``
    times ``1/20``); ``b_l ~ N(0, sigma_b2)`` (zero for the seed).
    """
    import jax
    import jax.numpy as jnp

    specs = [arch.sublayer(k).weight_specs(width) for k in range(arch.depth)]
    (wshape, wstd), (bshape, bstd) = specs[0]["w"], specs[0]["b"]
    if any(s["w"][1] != wstd or s["b"][1] != bstd for s in specs):  # pragma: no cover - PlainMLP is homogeneous
        raise ValueError("training expects sublayers with identical weight scales")

    def one(k):
        kw, kb = jax.random.split(jax.random.fold_in(key, k))
        return {"w": float(wstd) * jax.random.normal(kw, wshape, jnp.float32),
                "b": float(bstd) * jax.random.normal(kb, bshape, jnp.float32)}

    return jax.vmap(one)(jnp.arange(arch.depth))


def sample_inputs(key, batch: int, width: int):
    """``(batch, d)`` inputs ``x ~ U(-1, 1)`` (``E[x^2] = 1/3``, the seed's plain-network loss)."""
    import jax
    import jax.numpy as jnp

    return jax.random.uniform(key, (batch, width), jnp.float32, -1.0, 1.0)


def _forward_fn(arch: PlainMLP):
    """``(params, x, taps) -> (h^L, stack of h^l)``; ``taps[l]`` is added to ``h^l`` (zero: gradient probes)."""
    import jax
    import jax.numpy as jnp

    sub = arch.sublayer(0)  # every PlainMLP sublayer has the same form; only weights differ
    xp = jax_namespace()

    def forward(params, x, taps):
        def body(h, inp):
            w, b, tap = inp
            h2 = sub.forward({"w": w, "b": b}, h, None, xp) + tap
            return h2, h2

        h0 = x + taps[0]
        hL, hs = jax.lax.scan(body, h0, (params["w"], params["b"], taps[1:]))
        return hL, jnp.concatenate([h0[None], hs])

    return forward


def _diagnostics(forward, params, x):
    """Loss, per-layer moments and gradients on the batch ``x`` (target ``x``)."""
    import jax
    import jax.numpy as jnp

    L = params["w"].shape[0]
    taps = jnp.zeros((L + 1,) + x.shape, x.dtype)

    def loss_fn(p, t):
        hL, hs = forward(p, x, t)
        return jnp.mean((hL - x) ** 2), hs

    (loss, hs), (gp, gt) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(params, taps)
    return {"loss": loss, "q": jnp.mean(hs ** 2, axis=(1, 2)), "act": jnp.mean(jnp.abs(hs), axis=(1, 2)),
            "grad_h": jnp.sum(gt ** 2, axis=(1, 2)), "grad_w": jnp.sqrt(jnp.sum(gp["w"] ** 2, axis=(1, 2)))}


_COMPILED: dict = {}


def _run_fn(arch: PlainMLP, width: int, steps: int, batch: int, lr: float, eval_size: int):
    """``jit(vmap(run))`` over seed keys: init, diagnostics, ``steps`` Adam updates (``lax.scan``), diagnostics.

    Cached per declaration and settings, so repeated calls reuse the compiled function.
    """
    key = json.dumps([arch.to_dict(), width, steps, batch, lr, eval_size], sort_keys=True, default=str)
    if key not in _COMPILED:
        if len(_COMPILED) > 16:
            _COMPILED.clear()
        _COMPILED[key] = _build_run_fn(arch, width, steps, batch, lr, eval_size)
    return _COMPILED[key]


def _build_run_fn(arch: PlainMLP, width: int, steps: int, batch: int, lr: float, eval_size: int):
    import jax
    import jax.numpy as jnp
    import optax

    forward = _forward_fn(arch)
    opt = optax.adam(lr)
    zero_taps = jnp.zeros((arch.depth + 1, batch, width), jnp.float32)

    def batch_loss(params, x):
        hL, _ = forward(params, x, zero_taps)
        return jnp.mean((hL - x) ** 2)

    def run(key):
        kp, kd, ke = jax.random.split(key, 3)
        params = init_params(arch, kp, width)
        x_eval = sample_inputs(ke, eval_size, width)
        before = _diagnostics(forward, params, x_eval)

        def step(carry, i):
            params, state = carry
            x = sample_inputs(jax.random.fold_in(kd, i), batch, width)
            loss, grads = jax.value_and_grad(batch_loss)(params, x)
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(steps))
        after = _diagnostics(forward, params, x_eval)
        both = {k: jnp.stack([before[k], after[k]]) for k in before}
        return losses, both

    return jax.jit(jax.vmap(run))


def train(arch: PlainMLP, *, width: int | None = None, steps: int = 500, batch: int = 64, lr: float = 1e-3,
          seeds=(0,), eval_size: int = 4096) -> TrainResult:
    """Train ``arch`` on ``Y = X`` with Adam, once per seed (seed 003's experiment).

    Args:
        arch: a :class:`~sigprop.architectures.PlainMLP` (``residual`` picks PlainMLP or ResMLP);
            seed 003 is ``preset("plain")`` / ``preset("resmlp")``.
        width: ``d`` (default ``arch.width``; 64 in the seed).
        steps: Adam updates (500 in the seed).
        batch: examples per update (64 in the seed).
        lr: Adam learning rate (``1e-3``; optax defaults ``b1 = 0.9``, ``b2 = 0.999``, ``eps = 1e-8``,
            PyTorch's defaults too).
        seeds: network seeds, integers in ``[0, 2^62)``; seed ``s`` uses the key of ``s``
            (:func:`~sigprop.montecarlo.rng.root_key`, ``jax.random.key(s)`` for ``s < 2^32``) for
            weights, batches and evaluation set, so results are deterministic.
        eval_size: examples in the fixed evaluation set.

    Returns:
        :class:`TrainResult` (float64 NumPy arrays; computed in float32 like the seed's PyTorch).
    """
    import jax

    _check(arch)
    width = arch.width if width is None else width
    check_width(width)
    width = int(width)
    if steps < 1 or batch < 1 or eval_size < 1:
        raise ValueError(f"steps, batch and eval_size must be >= 1, got {steps}, {batch}, {eval_size}")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("need at least one seed")
    roots = [root_key(s) for s in seeds]  # checks each seed: an integer in [0, 2^62)
    seeds = tuple(int(s) for s in seeds)
    start = time.perf_counter()
    fn = _run_fn(arch, width, int(steps), int(batch), float(lr), int(eval_size))
    keys = jax.numpy.stack([jax.random.key_data(k) for k in roots])
    keys = jax.vmap(jax.random.wrap_key_data)(keys)
    losses, diag = jax.device_get(fn(keys))
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    meta = {"width": width, "depth": arch.depth, "steps": int(steps), "batch": int(batch), "lr": float(lr),
            "seeds": list(seeds), "eval_size": int(eval_size), "loss": LOSS, "optimizer": "adam",
            "seconds": time.perf_counter() - start, "arch": arch.to_dict()}
    return TrainResult(f64(losses), f64(diag["loss"]), f64(diag["q"]), f64(diag["act"]), f64(diag["grad_h"]),
                       f64(diag["grad_w"]), meta)
