"""APJN measurement cost: one all-layer JVP sweep vs L reverse-mode estimates vs jax.jacfwd.

Reports, for one configuration (ensemble of ``networks`` networks):

* ``sweep_s``: the forward sweep giving ``q, p`` and ``J(0, l)`` for ALL ``l``
  (``jax.linearize`` carried through the ``lax.scan``, ``probes`` Hutchinson probes);
* ``reverse_s``: ``L`` separate reverse-mode estimates, one per layer ``l``
  (vjp of the network truncated at ``l``, the same probes), timed on 4
  layers when ``L > 8`` and scaled to ``L`` (``reverse_extrapolated``);
* ``jacfwd_s``: ``jax.jacfwd`` of the full Jacobian ``dh^L/dh^0`` (one layer
  only — a lower bound on the cost of all layers), timed directly when
  ``n d <= 2048`` and otherwise scaled from a 64-column ``vmap(jvp)``;
* ``draws_s``: drawing the weights alone (every sublayer of every network; the
  sweep draws them on the fly, see :mod:`sigprop.montecarlo.rng`), and
  ``draws_bound_fraction``, the fraction of the matmul FLOP/s the sweep would reach
  if its matmuls ran at the measured peak and only the draws came on top;
* the sweep's achieved FLOP/s (matmul FLOPs counted analytically by :func:`sublayer_flops`,
  which ``benchmarks/flop_count_check.py`` checks against the compiled HLO's dot operations;
  element-wise work not counted) as a fraction of this machine's measured float32 matmul
  FLOP/s (same default matmul precision; the best of 1024^3 and 2048^3 products on CPU,
  4096^3 and 8192^3 on a GPU, 1024^3 with ``--quick``);
* ``grid``: Derf at ``--grid`` values of alpha (default 10) as ONE sweep, each
  network's weight draws shared by all alphas, against one alpha alone: the
  draws' share falls by the grid size and every weight matrix multiplies that
  many times more rows;
* ``--vit``: docs/theory.md's ViT-like reference (d = 1024, n = 197, 256 sublayers,
  8 networks) for Pre-LN and Derf at 10 values of alpha: full ``simulate``
  (forward and reverse sweeps) time per run, and the Derf runs again as one sweep;
* ``--breakdown``: the sweep alone again with 1 and 8 probes and with 4x the
  networks (how its time splits into primal and per-probe work, and how it
  scales with the batch); ``--sweep-only`` skips everything but the sweeps.

Usage: ``python benchmarks/apjn_sweep.py --quick`` (CPU, < 2 min),
``python benchmarks/apjn_sweep.py`` (d = 512) or ``--vit`` (a GPU); ``--vit --quick``
runs the ViT-like declaration at a CPU size (d = 128, n = 16, 8 sublayers, 2 networks,
3 alphas). Device: JAX's default backend. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _time(fn, *args, repeat=3):
    import jax

    jax.block_until_ready(fn(*args))  # compile + warm up
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def peak_matmul_flops(sizes) -> float:
    """The best measured float32 matmul FLOP/s over square ``sizes`` (the reference of every fraction:
    the larger products run closer to the machine's peak, so the fractions are not flattered)."""
    return max(matmul_flops(s) for s in sizes)


def matmul_flops(size: int) -> float:
    """Measured float32 matmul FLOP/s (``size x size`` product, best of 30: robust to a busy moment)."""
    import jax
    import jax.numpy as jnp

    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.normal(k1, (size, size), jnp.float32)
    b = jax.random.normal(k2, (size, size), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    return 2.0 * size ** 3 / _time(f, a, b, repeat=30)


def sublayer_flops(arch, d: int, tangent: bool = False, recompute: bool = False) -> float:
    """Matmul FLOPs of all sublayers of one network (``n`` tokens): a forward pass, or one tangent.

    A tangent (or cotangent) of a linear map costs what the map does; the two
    token-token products of attention (``Q K^T`` and ``A V``) are bilinear, so
    their tangents take two products each (``dQ K^T + Q dK^T``, ``dA V + A dV``).
    ``recompute``: the forward pass that the reverse sweep runs for its cotangents, whose
    output is discarded, so that XLA drops each branch's last product (the attention output
    projection ``W_O``, the MLP's ``W_2``, the dense branch's ``W``), as the compiled HLO's dot
    operations show (``benchmarks/flop_count_check.py``: the counts agree to 0.3%).
    """
    n = arch.n_tokens
    total = 0.0
    for k in range(arch.depth):
        kind = arch.pattern[k % arch.period] if hasattr(arch, "pattern") else "dense"
        if kind == "attention":
            total += (6 if recompute else 8) * n * d * d + (8 if tangent else 4) * n * n * d
        elif kind == "mlp":
            total += (2 if recompute else 4) * arch.mlp_ratio * n * d * d
        else:
            total += 0 if recompute else 2 * n * d * d
    return total


def ensemble_flops(arch, d: int, probes: int, backward: bool = False) -> float:
    """Matmul FLOPs of one network's measurement: the forward sweep (primal and ``probes`` tangents),
    and with ``backward`` the reverse sweep too (the primal again without each branch's last product,
    ``probes`` + 1 cotangents: the probes and the loss gradient)."""
    tangent = sublayer_flops(arch, d, tangent=True)
    flops = sublayer_flops(arch, d) + probes * tangent
    if backward:
        flops += sublayer_flops(arch, d, recompute=True) + (probes + 1) * tangent
    return flops


def _keys(networks: int, rng: str):
    import jax

    root = jax.random.key(0, impl=rng)
    return jax.vmap(lambda i: jax.random.fold_in(root, i))(np.arange(networks))


def sweep_time(net, networks: int, probes: int, rng: str = "threefry2x32", sweep=None) -> tuple[float, float]:
    """``(seconds, matmul FLOPs)`` of the all-layer forward sweep of ``networks`` networks.

    ``sweep``: a :class:`sigprop.montecarlo.network.Sweep` (``net`` is then its
    ``net``): every network runs on all grid points at once, sharing its weight draws.
    """
    from sigprop.montecarlo.engine import _ensemble_fn

    axes, points, hyper = (None, 1, net.hyper) if sweep is None else (sweep.axes, sweep.size, sweep.hyper)
    fn = _ensemble_fn(net, probes, 0, False, False, axes, points)
    t = _time(lambda k: fn(k, hyper, None), _keys(networks, rng))
    arch, d = net.arch, net.d
    return t, ensemble_flops(arch, d, probes) * networks * points


def grid_sweep(arch, *, networks: int, probes: int, points: int, rng: str = "threefry2x32") -> dict:
    """The sweep of Derf at ``points`` values of alpha: one grid point alone vs all in one sweep.

    The grid sweep draws each network's weights once for all points (see
    :class:`sigprop.montecarlo.network.Sweep`), so the draws' share of the time
    falls by ``points`` and every weight matrix multiplies ``points`` times more rows.
    """
    from sigprop.montecarlo import Network
    from sigprop.montecarlo.network import Sweep

    one = arch.replace(normalizer="derf", alpha=1.0)
    t1, f1 = sweep_time(Network(one), networks, probes, rng)
    sw = Sweep.build(one.replace(alpha=np.linspace(0.1, 2.0, points)))
    tg, fg = sweep_time(sw.net, networks, probes, rng, sw)
    return {"points": points, "point_sweep_s": t1, "point_flops": f1, "grid_sweep_s": tg, "grid_flops": fg,
            "grid_speedup": points * t1 / tg}


def breakdown(arch, *, networks: int, probes: int, peak: float, rng: str = "threefry2x32") -> dict:
    """The sweep alone at 1, ``probes`` and 8 probes and at 4x the networks, as fractions of ``peak``."""
    from sigprop.montecarlo import Network

    net = Network(arch)
    rows = []
    for nets, pr in [(networks, 1), (networks, probes), (networks, 8), (4 * networks, probes)]:
        t, f = sweep_time(net, nets, pr, rng)
        rows.append({"networks": nets, "probes": pr, "sweep_s": t, "fraction_of_matmul": f / t / peak})
        print(f"  breakdown d={net.d} n={net.n} L={net.L}: {nets} networks, {pr} probes: sweep {t:.3g} s, "
              f"{100 * f / t / peak:.0f}% of matmul", file=sys.stderr, flush=True)
    t1, t8 = rows[0]["sweep_s"], rows[2]["sweep_s"]
    per_probe = (t8 - t1) / 7
    return {"rows": rows, "per_probe_s": per_probe, "primal_and_draws_s": t1 - per_probe}


def bench(arch, *, networks: int, probes: int, rng: str = "threefry2x32", sweep_only: bool = False,
          grid: int = 1) -> dict:
    import jax
    import jax.numpy as jnp

    from sigprop.montecarlo import Network
    from sigprop.montecarlo.engine import _ensemble_fn, network_keys, rademacher

    net = Network(arch)
    d, n, L = net.d, net.n, net.L
    keys = _keys(networks, rng)

    # (1) the all-layer forward sweep
    t_sweep, flops = sweep_time(net, networks, probes, rng)
    out = {"d": d, "n": n, "L": L, "networks": networks, "probes": probes, "sweep_s": t_sweep,
           "sweep_flops": flops, "sweep_flops_per_s": flops / t_sweep, "rng": rng}
    if grid > 1:  # (1') the same sweep over a grid of alphas, weights shared by the grid points
        out["grid"] = grid_sweep(arch, networks=networks, probes=probes, points=grid, rng=rng)
    if sweep_only:
        return out

    # (1b) the weight draws alone, every sublayer of every network (each matrix reduced to its max)
    def draws(key):
        kw, lay = network_keys(key)[0], net.hyper["layers"]

        def body(c, x):
            b, stds = x
            for j in range(net.period):
                c = c + sum(jnp.max(w) for w in net.weights(kw, b * net.period + j, j, stds[j]).values())
            return c, None

        return jax.lax.scan(body, jnp.zeros((), net.jdtype), (lay["index"], lay["std"]))[0]

    t_draws = _time(jax.jit(jax.vmap(draws)), keys)
    # the full measurement (forward sweep + reverse sweep): primal, probes tangents, the primal again
    # (without each branch's last product, whose output the cotangents do not need), probes+1 cotangents
    full = _ensemble_fn(net, probes, 0, True, False)
    t_full = _time(lambda k: full(k, net.hyper, None), keys)
    flops_full = ensemble_flops(arch, d, probes, backward=True) * networks

    # (2) L separate reverse-mode estimates of J(0, l)
    def reverse_one(key, l):
        kw, kin, kv, _, _ = network_keys(key)
        h0 = net.symmetric_inputs(kin)
        u = rademacher(kv, (probes, n, d), net.jdtype)
        _, pull = jax.vjp(lambda h: net.scan_apply(kw, h, upto=l), h0)
        g = jax.vmap(lambda c: pull(c)[0])(u)
        return jnp.log(jnp.mean(jnp.sum(g * g, axis=(1, 2))) / (n * d))

    ls = np.arange(1, L + 1) if L <= 8 else np.linspace(1, L, 4).round().astype(int)
    rev = jax.jit(jax.vmap(lambda k, ls: jax.lax.map(lambda l: reverse_one(k, l), ls), in_axes=(0, None)))
    t_rev = _time(rev, keys, jnp.asarray(ls), repeat=1) * L / len(ls)

    # (3) jax.jacfwd of dh^L/dh^0 for each network
    kw0, kin0 = network_keys(keys[0])[:2]
    h0 = net.symmetric_inputs(kin0)
    f = lambda x: net.scan_apply(kw0, x)  # noqa: E731
    if n * d <= 2048:
        t_jac = _time(jax.jit(jax.jacfwd(f)), h0, repeat=1) * networks
        jac_extrap = False
    else:
        cols = 64
        basis = jnp.eye(cols, n * d, dtype=net.jdtype).reshape(cols, n, d)
        g = jax.jit(jax.vmap(lambda t: jax.jvp(f, (h0,), (t,))[1]))
        t_jac = _time(g, basis, repeat=1) * (n * d / cols) * networks
        jac_extrap = True
    out.update({"draws_s": t_draws, "draws_over_sweep": t_draws / t_sweep,
                "reverse_s": t_rev, "reverse_extrapolated": len(ls) < L, "jacfwd_s": t_jac,
                "jacfwd_extrapolated": jac_extrap, "reverse_over_sweep": t_rev / t_sweep,
                "jacfwd_over_sweep": t_jac / t_sweep, "full_s": t_full, "full_flops_per_s": flops_full / t_full})
    return out


def vit_reference(quick: bool):
    """docs/theory.md's ViT-like reference, or (``quick``) the same declaration at a CPU size."""
    from sigprop import preset

    return preset("vit", depth=8, width=128, n_tokens=16, heads=2) if quick else preset("vit")


def vit_alphas(base, networks: int, probes: int, alphas, rng: str = "threefry2x32") -> dict:
    """Full simulate (forward + reverse sweeps) of ``base`` with Pre-LN and with Derf(alpha)."""
    from sigprop.montecarlo import simulate

    runs = []
    for norm, alpha in [("layernorm", 1.0)] + [("derf", a) for a in alphas]:
        arch = base.replace(normalizer=norm, alpha=float(alpha))
        t = time.perf_counter()
        r = simulate(arch, samples=networks, probes=probes, rng=rng)
        runs.append({"normalizer": norm, "alpha": float(alpha), "seconds": time.perf_counter() - t,
                     "log_apjn_L": float(r.mean("log_apjn")[-1]), "q_L": float(r.mean("q")[-1])})
        print(f"  vit {norm:9s} alpha={alpha:.2f}: {runs[-1]['seconds']:.2f} s, log J(0,L) = "
              f"{runs[-1]['log_apjn_L']:.3f}", file=sys.stderr, flush=True)
    # the Derf runs again as one sweep over alpha (each network's weights, input and probes shared by the
    # alphas, as in the separate runs with the same seed): same numbers to round-off, one compilation
    grid_s = []
    for _ in range(2):  # the first call compiles
        t = time.perf_counter()
        g = simulate(base.replace(normalizer="derf", alpha=np.asarray(alphas, float)), samples=networks,
                     probes=probes, rng=rng)
        grid_s.append(time.perf_counter() - t)
    sep = np.array([r["log_apjn_L"] for r in runs[1:]])
    diff = float(np.max(np.abs(g.mean("log_apjn")[-1] - sep)))
    print(f"  vit derf at {len(alphas)} alphas as one sweep: {grid_s[0]:.2f} s with compilation, {grid_s[1]:.2f} s "
          f"again (separately {sum(r['seconds'] for r in runs[1:]):.2f} s, the first with compilation); "
          f"max |log J(0,L) difference| {diff:.2g}", file=sys.stderr, flush=True)
    return {"runs": runs, "total_s": sum(r["seconds"] for r in runs), "networks": networks, "probes": probes,
            "d": base.width, "n": base.n_tokens, "L": base.depth, "rng": rng,
            "derf_grid_s": grid_s[0], "derf_grid_again_s": grid_s[1],
            "derf_separate_s": sum(r["seconds"] for r in runs[1:]),
            "derf_grid_max_abs_diff": diff}


def _report_grid(r: dict, peak: float) -> None:
    g = r["grid"]
    g["point_fraction_of_matmul"] = g["point_flops"] / g["point_sweep_s"] / peak
    g["grid_fraction_of_matmul"] = g["grid_flops"] / g["grid_sweep_s"] / peak
    bound = ""
    if "draws_s" in r:
        ideal = g["grid_flops"] / peak
        g["draws_bound_fraction"] = ideal / (ideal + r["draws_s"])
        bound = f"; the draws bound it at {100 * g['draws_bound_fraction']:.0f}%"
    print(f"  d={r['d']} n={r['n']} L={r['L']}: Derf sweep at {g['points']} alphas in one sweep (shared weight "
          f"draws) {g['grid_sweep_s']:.3g} s = {100 * g['grid_fraction_of_matmul']:.0f}% of matmul{bound}; one "
          f"alpha alone {g['point_sweep_s']:.3g} s = {100 * g['point_fraction_of_matmul']:.0f}% "
          f"(grid x{g['grid_speedup']:.2f} faster than {g['points']} single sweeps)", file=sys.stderr, flush=True)


def _report(r: dict, peak: float) -> dict:
    r["sweep_fraction_of_matmul"] = r["sweep_flops_per_s"] / peak
    if "grid" in r:
        _report_grid(r, peak)
    if "full_s" not in r:  # --sweep-only
        print(f"  d={r['d']} n={r['n']} L={r['L']}: sweep {r['sweep_s']:.3g} s, "
              f"{r['sweep_flops_per_s'] / 1e9:.1f} GFLOP/s = {100 * r['sweep_fraction_of_matmul']:.0f}% of matmul",
              file=sys.stderr, flush=True)
        return r
    r["full_fraction_of_matmul"] = r["full_flops_per_s"] / peak
    # the sweep's best fraction if all its matmuls ran at the peak and nothing but the
    # weight draws (which it cannot avoid: every network has its own weights) took extra time
    ideal = r["sweep_flops"] / peak
    r["draws_bound_fraction"] = ideal / (ideal + r["draws_s"])
    print(f"  d={r['d']} n={r['n']} L={r['L']}: sweep {r['sweep_s']:.3g} s | L reverse {r['reverse_s']:.3g} s "
          f"(x{r['reverse_over_sweep']:.1f}) | jacfwd {r['jacfwd_s']:.3g} s (x{r['jacfwd_over_sweep']:.3g}) | "
          f"sweep {r['sweep_flops_per_s'] / 1e9:.1f} GFLOP/s = {100 * r['sweep_fraction_of_matmul']:.0f}% of matmul; "
          f"forward+reverse {100 * r['full_fraction_of_matmul']:.0f}%; weight draws alone {r['draws_s']:.3g} s "
          f"({100 * r['draws_over_sweep']:.0f}% of the sweep time; with them the sweep could reach at most "
          f"{100 * r['draws_bound_fraction']:.0f}% of matmul)", file=sys.stderr, flush=True)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="CPU sizes (< 2 minutes); with --vit the ViT-like declaration at d = 128, n = 16, "
                         "8 sublayers, 2 networks, 3 alphas")
    ap.add_argument("--vit", action="store_true", help="also the ViT-like reference at 10 alphas (GPU)")
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--networks", type=int, default=None)
    ap.add_argument("--probes", type=int, default=4)
    ap.add_argument("--only-vit", action="store_true", help="skip the small configuration")
    ap.add_argument("--sweep-only", action="store_true",
                    help="time the forward sweeps only (no reverse-mode, jacfwd, draws or alpha runs)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also the sweep at 1 and 8 probes and at 4x the networks")
    ap.add_argument("--grid", type=int, default=None,
                    help="alphas of the shared-weights grid sweep (default 10, --quick 3; 1: skip it)")
    ap.add_argument("--rng", default="threefry2x32", choices=("threefry2x32", "rbg", "unsafe_rbg"),
                    help="JAX PRNG implementation for the weight draws")
    args = ap.parse_args(argv)

    import jax

    from sigprop import preset

    quick = args.quick
    d = args.width or (64 if quick else 512)
    L = args.depth or (8 if quick else 32)
    n = args.tokens or (8 if quick else 64)
    nets = args.networks or (2 if quick else 8)
    arch = preset("transformer", depth=L, width=d, n_tokens=n, heads=max(1, d // 64))
    device = f"{jax.default_backend()}:{jax.devices()[0].device_kind}"
    print(f"device {device}", file=sys.stderr)
    cpu = jax.default_backend() == "cpu"
    peak = peak_matmul_flops((1024,) if quick else (1024, 2048) if cpu else (4096, 8192))
    out = {"device": device, "jax": jax.__version__, "matmul_flops_per_s": peak}
    kw = {"probes": args.probes, "rng": args.rng}
    grid = args.grid or (3 if quick else 10)
    if not args.only_vit:
        out.update(_report(bench(arch, networks=nets, sweep_only=args.sweep_only, grid=grid, **kw), peak))
        if args.breakdown:
            out["breakdown"] = breakdown(arch, networks=nets, peak=peak, **kw)
    if args.vit or args.only_vit:
        vit, vnets = vit_reference(quick), args.networks or (2 if quick else 8)
        out["vit_sweep"] = _report(bench(vit, networks=vnets, sweep_only=args.sweep_only, grid=grid, **kw), peak)
        if args.breakdown:
            out["vit_breakdown"] = breakdown(vit, networks=vnets, peak=peak, **kw)
        if not args.sweep_only:
            out["vit"] = vit_alphas(vit, vnets, args.probes, np.linspace(0.1, 2.0, 3 if quick else 10), args.rng)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
