"""Benchmark: the vectorized recurrence over a hyperparameter grid vs a per-point loop.

The DyT toy model ``h' = h + W tanh(alpha h)`` (quadrature path: tanh has no
closed-form Gaussian moments) on a 256 x 256 grid of (sigma_w, alpha), to
depth 1000, propagating ``q`` and ``log J(0, l)`` (``need_p=False``).

* **grid**: one :func:`sigprop.theory.solve` call for all 65,536 points
  (moments from the tabulated quadrature, threads over grid rows);
* **loop**: the straightforward baseline — for each grid point, a Python loop
  over layers calling direct quadrature (:func:`sigprop.gaussian.expect`) for
  ``E[tanh^2]`` and ``E[tanh'^2]`` at every layer — timed on a few points and
  extrapolated linearly to the whole grid.

Prints both times and the ratio, and ends with one JSON line.

    python benchmarks/theory_grid.py [--n 256] [--depth 1000] [--loop-points 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from sigprop import gaussian
from sigprop.architectures import ToyResidual
from sigprop.theory import solve


def per_point_loop(sw: float, alpha: float, depth: int, q0: float = 1.0) -> tuple[float, float]:
    """Baseline: scalar recurrence with direct quadrature at every layer."""
    sw2 = sw * sw
    q, log_j = q0, 0.0
    f2 = lambda h: np.tanh(alpha * h) ** 2  # noqa: E731
    d2 = lambda h: (alpha * (1 - np.tanh(alpha * h) ** 2)) ** 2  # noqa: E731
    for _ in range(depth):
        m2 = float(gaussian.expect(f2, q, scale=1.0 / alpha))
        dm = float(gaussian.expect(d2, q, scale=1.0 / alpha))
        log_j += np.log1p(sw2 * dm)
        q = q + sw2 * m2
    return q, log_j


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=256, help="grid points per axis")
    ap.add_argument("--depth", type=int, default=1000)
    ap.add_argument("--loop-points", type=int, default=4, help="grid points timed with the per-point loop")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    sw = np.linspace(0.1, 2.0, args.n)
    alpha = np.linspace(0.05, 2.0, args.n)
    arch = ToyResidual(depth=args.depth, normalizer="dyt", alpha=alpha[None, :], sigma_w2=(sw ** 2)[:, None],
                       q0=1.0, p0=0.5)

    t0 = time.perf_counter()
    solve(arch.replace(alpha=0.5, sigma_w2=0.25), depth=2, need_p=False)  # builds the tanh moment table once
    t_table = time.perf_counter() - t0

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        traj = solve(arch, need_p=False)
        times.append(time.perf_counter() - t0)
    t_grid = min(times)
    print(f"grid: {args.n}x{args.n} points, depth {args.depth}: {t_grid:.3f} s "
          f"(best of {args.repeats}; one-off moment table {t_table:.2f} s)")

    rng = np.random.default_rng(0)
    idx = rng.choice(args.n * args.n, size=args.loop_points, replace=False)
    t0 = time.perf_counter()
    max_rel = 0.0
    for k in idx:
        i, j = divmod(int(k), args.n)
        q, lj = per_point_loop(sw[i], alpha[j], args.depth)
        max_rel = max(max_rel, abs(q / traj.q[-1, i, j] - 1), abs(lj - traj.log_apjn[-1, i, j]) / max(1.0, abs(lj)))
    t_point = (time.perf_counter() - t0) / args.loop_points
    t_loop = t_point * args.n * args.n
    ratio = t_loop / t_grid
    print(f"loop: {t_point * 1e3:.1f} ms per point -> {t_loop:.0f} s for the grid (extrapolated from "
          f"{args.loop_points} points); agreement with the grid: max relative difference {max_rel:.1e}")
    print(f"speed-up: {ratio:.0f}x")
    out = {"benchmark": "theory_grid", "grid": [args.n, args.n], "depth": args.depth, "grid_seconds": t_grid,
           "table_seconds": t_table, "loop_seconds_per_point": t_point, "loop_seconds_extrapolated": t_loop,
           "speedup": ratio, "max_rel_diff": max_rel, "cores": os.cpu_count(), "machine": platform.machine()}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
