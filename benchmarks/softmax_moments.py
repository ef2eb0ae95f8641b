"""Benchmark: the softmax pair moments (the transformer recurrence's cost) against the per-node rule.

For each logit variance ``var`` (two query rows, ``n`` tokens, logit correlation ``rho``):

* **package**: :func:`sigprop.softmax.softmax_pair_moments` as the solver calls it (a wide shared
  logit part, sd > 0.75, integrated on the tau grid's lattice);
* **per node**: the same moments with ``B_j`` evaluated at every ``(tau, g)`` node
  (``sigprop.softmax._pair_narrow``, the rule the lattice replaced), timed in the same run.

Then a Pre-LN transformer's recurrence (n = 8) to ``--depth`` sublayers, whose logits stay narrow.
Prints the times, their ratios and the largest relative difference, and ends with one JSON line.

    python benchmarks/softmax_moments.py [--quick] [--tokens 8] [--rho 0.92] [--depth 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

import sigprop
from sigprop import softmax


def _best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="variances 2 and 20, depth 200 (seconds on a laptop)")
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--rho", type=float, default=0.92, help="logit correlation of the two rows")
    ap.add_argument("--var", type=float, nargs="+", default=None, help="logit variances (default 2 20 100 200)")
    ap.add_argument("--depth", type=int, default=None, help="Pre-LN transformer sublayers (default 2000)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    variances = args.var or ([2.0, 20.0] if args.quick else [2.0, 20.0, 100.0, 200.0])
    depth = args.depth or (200 if args.quick else 2000)
    n, rho = args.tokens, args.rho

    rows = []
    for var in variances:
        v, r = np.array([var]), np.array([rho])
        t_pkg, pkg = _best(lambda: np.array(softmax.softmax_pair_moments(n, v, r)), args.repeats)
        t_node, node = _best(lambda: softmax._pair_narrow(n, v, r, True), args.repeats)
        rel = float(np.max(np.abs(pkg.ravel() - node.ravel()) / np.abs(node.ravel())))
        rows.append({"var": var, "package_s": t_pkg, "per_node_s": t_node, "speedup": t_node / t_pkg,
                     "max_rel_diff": rel, "lattice": bool(abs(rho) * var > softmax._WIDE_SD ** 2)})
        print(f"var {var:7.1f}: package {t_pkg:8.3f} s, per node {t_node:8.3f} s, x{t_node / t_pkg:5.1f} "
              f"({'lattice' if rows[-1]['lattice'] else 'narrow: the same rule'}), max relative difference {rel:.1e}")

    arch = sigprop.preset("transformer", n_tokens=n)
    t_solve, traj = _best(lambda: sigprop.solve(arch, depth=depth), 1)
    print(f"Pre-LN transformer, n = {n}, {depth} sublayers: {t_solve:.2f} s (log J(0, L) = {traj.log_apjn[-1]:.6f})")
    out = {"benchmark": "softmax_moments", "n": n, "rho": rho, "rows": rows, "preln_depth": depth,
           "preln_seconds": t_solve, "preln_log_apjn_L": float(traj.log_apjn[-1]),
           "max_rel_diff": max(x["max_rel_diff"] for x in rows), "cores": os.cpu_count(),
           "machine": platform.machine()}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
