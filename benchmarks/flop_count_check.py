"""Check the analytic matmul FLOP count of ``apjn_sweep.py`` (:func:`apjn_sweep.ensemble_flops`) against the compiled program.

``apjn_sweep.py`` reports FLOP/s from :func:`apjn_sweep.sublayer_flops`. This script compiles
the same ensemble computations (the forward sweep alone, and the forward plus reverse sweeps)
on given inputs (so without the symmetric-token generator's own small products) with every
``lax.scan`` unrolled, reads the optimized HLO, adds up ``2 * prod(output dims) *
prod(contracted dims)`` over its ``dot`` operations and prints the ratio to the analytic
count. Nothing is run, only compiled. Element-wise work is in neither number.

Usage: ``python benchmarks/flop_count_check.py [--width 256 --tokens 64 --depth 8
--networks 2 --probes 2]``; the last line of output is one JSON object. A ratio near 1 means the
benchmark's fractions of the matmul FLOP/s count the products that are actually executed.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_DEF = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*\w+\[([\d,]*)\]")
_DOT = re.compile(r"\bdot\(\s*(?:\w+\[[\d,]*\]\{?[\d,]*\}?\s*)?%?([\w.\-]+)")
_CONTRACT = re.compile(r"lhs_contracting_dims=\{([\d,]*)\}")


def dot_flops(hlo: str) -> float:
    """``2 prod(out) prod(contracted)`` summed over the ``dot`` instructions of an HLO module."""
    shapes = {}
    for line in hlo.splitlines():
        m = _DEF.match(line)
        if m:
            shapes[m.group(1)] = [int(x) for x in m.group(2).split(",") if x]
    total, count = 0.0, 0
    for line in hlo.splitlines():
        if " dot(" not in line:
            continue
        out, lhs, contract = _DEF.match(line), _DOT.search(line), _CONTRACT.search(line)
        if not (out and lhs and contract) or lhs.group(1) not in shapes:
            raise RuntimeError(f"unrecognized dot instruction: {line.strip()[:160]}")
        dims = [int(x) for x in contract.group(1).split(",") if x]
        total += 2.0 * math.prod(int(x) for x in out.group(2).split(",") if x) * math.prod(
            shapes[lhs.group(1)][c] for c in dims)
        count += 1
    if count == 0:
        raise RuntimeError("no dot instruction found in the compiled HLO")
    return total


def compiled_dot_flops(net, networks: int, probes: int, backward: bool) -> float:
    """Dot FLOPs of the compiled ensemble function with every ``lax.scan`` unrolled."""
    import jax

    from apjn_sweep import _keys
    from sigprop.montecarlo import engine

    scan = jax.lax.scan

    def unrolled(*a, **k):
        k["unroll"] = True
        return scan(*a, **k)

    engine._COMPILED.clear()
    jax.lax.scan = unrolled
    try:
        # inputs given (zeros): the symmetric-token generator's own products are not the sweep's
        fn = engine._ensemble_fn(net, probes, 0, backward, True)
        h0 = jax.numpy.zeros((networks, net.n, net.d), net.jdtype)
        hlo = fn.lower(_keys(networks, "threefry2x32"), net.hyper, h0).compile().as_text()
    finally:
        jax.lax.scan = scan
        engine._COMPILED.clear()
    return dot_flops(hlo)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--depth", type=int, default=8, help="sublayers (even: whole blocks)")
    ap.add_argument("--networks", type=int, default=2)
    ap.add_argument("--probes", type=int, default=2)
    args = ap.parse_args(argv)

    from apjn_sweep import ensemble_flops
    from sigprop import preset
    from sigprop.montecarlo import Network

    d, n, L, nets, probes = args.width, args.tokens, args.depth, args.networks, args.probes
    arch = preset("transformer", depth=L, width=d, n_tokens=n, heads=max(1, d // 64))
    net = Network(arch)
    out = {"d": d, "n": n, "L": L, "networks": nets, "probes": probes}
    for name, backward in (("sweep", False), ("forward_reverse", True)):
        analytic = ensemble_flops(arch, d, probes, backward) * nets
        hlo = compiled_dot_flops(net, nets, probes, backward)
        out[name] = {"analytic": analytic, "hlo_dots": hlo, "ratio": hlo / analytic}
        print(f"  {name}: analytic {analytic:.4g} FLOP, compiled dots {hlo:.4g} FLOP, ratio {hlo / analytic:.4f}",
              file=sys.stderr, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
