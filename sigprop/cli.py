"""The ``sigprop`` command line (the only module that parses arguments).

Each subcommand's options are declared in its own ``_add_*`` function; the
work is done by the module named there, imported lazily so that ``sigprop
theory`` never loads JAX or matplotlib.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from . import __version__


def _common_arch(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="preset name (toy, plain, resmlp, mlp, transformer, vit) or a TOML/JSON file")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="change a field of the declaration (repeatable); a comma-separated list makes a sweep")
    p.add_argument("--depth", type=int, default=None, help="number of residual sublayers L")


def _add_theory(sub) -> None:
    p = sub.add_parser("theory", help="solve the infinite-width recurrence",
                       description="Solve the exact mean-field recurrence and print q, p, chi, log J per layer.")
    _common_arch(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (q, p, chi, log_apjn, log_apjn_back, params)")
    p.add_argument("--out", default=None,
                   help="also write theory.json and theory.csv into this folder (for a sweep, the CSV has one "
                        "row per grid point and layer, with the swept fields as columns)")
    p.set_defaults(func=_run_theory)


def _run_theory(args) -> int:
    import numpy as np

    from . import io
    from .theory import solve

    arch = io.load_arch(args.arch, args.sets, args.depth)
    if args.out:
        io.out_dir(args.out)
    # a line every 5 s on long runs (stderr); a sweep keeps the points that stay in float64
    traj = solve(arch, progress=True, overflow="nan" if arch.grid_shape() else "raise")
    data = traj.to_dict()
    one_token = int(arch.n_tokens) < 2  # p is the covariance of token pairs: none with one token
    if one_token:
        data["p"] = None
        print("sigprop theory: note: n_tokens = 1: no token pairs, so no cross-token covariance p "
              "(left out of the output)", file=sys.stderr)
    lost = ~np.isfinite(traj.log_apjn[-1])
    if np.any(lost):
        first = np.argmin(np.isfinite(traj.log_apjn), axis=0)[lost]  # first layer lost, per such point
        reach = " or the softmax quadrature's reach (logit variance ~ 330)" if arch.cross_tangents else ""
        print(f"sigprop theory: note: {int(lost.sum())} of {lost.size} grid points left float64{reach} (an "
              f"exponential phase, from sublayer {int(first.min()) - 1} on); their values are nan (null in JSON) "
              "from there", file=sys.stderr)
    if args.out:
        io.write_json(f"{args.out}/theory.json", data)
        io.write_csv(f"{args.out}/theory.csv", _theory_columns(arch, traj, with_p=not one_token))
    if args.json:
        print(io.dumps(data))
        return 0
    if traj.q.ndim != 1:
        final = traj.log_apjn[-1][np.isfinite(traj.log_apjn[-1])]
        print(f"grid of shape {traj.q.shape[1:]}; final log J(0, L) range "
              + (f"{final.min():.4g} .. {final.max():.4g}" if final.size else "none (every point left float64)")
              + " (use --json for arrays)")
        return 0
    print(f"{'layer':>6} {'q':>12} {'p':>12} {'rho':>8} {'chi':>12} {'log J(0,l)':>12}")
    L = arch.depth
    step = max(1, L // 32)
    for l in list(range(0, L + 1, step)) + ([L] if L % step else []):
        chi = f"{traj.chi[l]:12.6g}" if l < L else " " * 12
        p, rho = (f"{'-':>12}", f"{'-':>8}") if one_token else (f"{traj.p[l]:12.5g}", f"{traj.p[l] / traj.q[l]:8.4f}")
        print(f"{l:6d} {traj.q[l]:12.5g} {p} {rho} {chi} {traj.log_apjn[l]:12.5g}")
    return 0


def _theory_columns(arch, traj, with_p: bool = True) -> dict:
    """CSV columns of a trajectory: ``layer, q, p, chi, log_apjn, log_apjn_back`` (``chi`` of the
    sublayer leaving layer ``l``; ``nan`` at ``l = L``; no ``p`` without token pairs); for a sweep,
    one row per grid point and layer, led by ``point`` (flat grid index) and the swept fields'
    values (:func:`io.grid_columns`)."""
    import numpy as np

    from . import io

    chi = np.asarray(traj.chi, float)
    chi = np.concatenate([chi, np.full((1,) + chi.shape[1:], np.nan)])
    cols = {"q": traj.q, "p": traj.p, "chi": chi, "log_apjn": traj.log_apjn, "log_apjn_back": traj.log_apjn_back}
    if not with_p:
        del cols["p"]
    return io.grid_columns(arch, cols)


def _add_validate(sub) -> None:
    p = sub.add_parser("validate", help="compare theory with finite-width Monte-Carlo (JAX)",
                       description="Run theory and Monte-Carlo on the same declaration; report per-layer z-scores.")
    _common_arch(p)
    p.add_argument("--width", type=int, default=None, help="network width d (default: the declaration's)")
    p.add_argument("--samples", type=int, default=16,
                   help="independent networks in the ensemble (default 16; fewer than 7 at --zmax 4 give an "
                        "inconclusive verdict)")
    p.add_argument("--probes", type=int, default=4, help="Hutchinson probes per network (default 4)")
    p.add_argument("--seed", type=int, default=0, help="network i uses fold_in(key(seed), i) (default 0)")
    p.add_argument("--float64", action="store_true", help="run the networks in float64")
    p.add_argument("--device", choices=("cpu", "gpu"), default=None, help="JAX platform")
    p.add_argument("--zmax", type=float, default=4.0,
                   help="largest allowed |z| after the finite-width allowance, as the normal-equivalent of "
                        "Student's t for the ensemble's size (default 4)")
    p.add_argument("--no-doubling", action="store_true", help="skip the width-doubling (O(1/d)) check")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", default=None,
                   help="folder for validate.csv, validate.json and validate.png (default results/validate/NAME, "
                        "NAME the preset's name or the declaration file's stem)")
    p.set_defaults(func=lambda a: _lazy("sigprop.validation", "main")(a))


def _add_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit the growth law of q, p or the APJN and classify the regime",
                       description="Fit power law / stretched exponential / exponential / log / bounded models.")
    p.add_argument("file", help="`sigprop theory --json` or `sigprop validate --json` output, or a CSV "
                                "(columns layer, value[, stderr]); - reads either from standard input")
    p.add_argument("--quantity", choices=("q", "p", "apjn"), default="apjn",
                   help="which profile of a theory/validate JSON to fit (a CSV holds one profile)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: _lazy("sigprop.fitting.report", "main")(a))


def _add_claims(sub) -> None:
    p = sub.add_parser("claims", help="check published claims against the recurrences and Monte-Carlo",
                       description="Curse-of-Depth lemmas/theorems and the normalization-free transformer growth laws.")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="smaller Monte-Carlo ensembles and shallower recurrences")
    p.add_argument("--no-mc", action="store_true", help="exact recurrences only")
    p.set_defaults(func=lambda a: _lazy("sigprop.claims", "main")(a))


def _add_derive(sub) -> None:
    p = sub.add_parser("derive", help="run the SymPy derivations and regenerate derivations/RESULTS.md")
    p.add_argument("names", nargs="*", help="only these derivations")
    p.add_argument("--fast", action="store_true", help="skip the slow derivations")
    p.set_defaults(func=_run_derive)


def _run_derive(args) -> int:
    cmd = [sys.executable, "-m", "derivations", *args.names] + (["--fast"] if args.fast else [])
    return subprocess.call(cmd)


def _add_figures(sub) -> None:
    p = sub.add_parser("figure", help="render one figure (PNG + PDF + CSV)")
    p.add_argument("name", help="figure name (see `sigprop figures`)")
    p.add_argument("--quick", action="store_true", help="laptop sizes")
    p.add_argument("--device", choices=("cpu", "gpu"), default=None)
    p.add_argument("--out", default="results", help="output folder (default results)")
    p.set_defaults(func=lambda a: _lazy("figures", "main_figure")(a))
    p = sub.add_parser("figures", help="list the figures")
    p.set_defaults(func=lambda a: _lazy("figures", "main_list")(a))
    p = sub.add_parser("reproduce", help="every figure, the exponent table and the claims report into a folder")
    p.add_argument("--quick", action="store_true", help="laptop sizes (under 10 minutes on 2 cores)")
    p.add_argument("--device", choices=("cpu", "gpu"), default=None)
    p.add_argument("--out", default="results", help="output folder (default results)")
    p.add_argument("--only", nargs="*", default=None, help="only these figures")
    p.set_defaults(func=lambda a: _lazy("figures", "main_reproduce")(a))


def _lazy(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(module), name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sigprop",
        description="Mean-field signal propagation at initialization: exact infinite-width recurrences for "
                    "q (activation variance), p (cross-token covariance) and the APJN, checked against "
                    "finite-width JAX Monte-Carlo. Start with `sigprop theory toy` or `sigprop reproduce --quick`.")
    parser.add_argument("--version", action="version", version=f"sigprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_add_theory, _add_validate, _add_fit, _add_claims, _add_derive, _add_figures):
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, FloatingPointError, OSError) as exc:
        print(f"sigprop {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"sigprop {args.command}: error: out of memory; reduce the depth, the width or the sweep grid",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
