"""Figure registry and the ``sigprop figure`` / ``figures`` / ``reproduce`` entry points.

Each figure is a module exposing ``make(out_dir, quick=True, device=None) -> list[Path]``
(PNG + PDF + CSV). Modules are imported lazily, so a missing or broken figure module
fails only that figure.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

#: figure name -> module path (imported on demand).
FIGURES: dict[str, str] = {
    "derf-vs-preln": "figures.fig1_derf_vs_preln",
    "vit-qp": "figures.fig2_vit_qp",
    "apjn": "figures.fig3_apjn",
    "phase-diagram": "figures.fig4_phase_diagram",
    "curse-of-depth": "figures.fig5_curse_of_depth",
    "seed-examples": "figures.fig6_seed_examples",
    "exponent-table": "figures.fig7_exponent_table",
}


def load(name: str):
    """Import the module of figure ``name``; ``KeyError`` for unknown names."""
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}")
    return importlib.import_module(FIGURES[name])


def available(name: str) -> bool:
    """True when the module of figure ``name`` imports and has ``make``."""
    try:
        return hasattr(load(name), "make")
    except Exception:  # noqa: BLE001 - any import failure means unavailable
        return False


def main_list(args=None) -> int:
    """Print every figure name and whether its module is available."""
    for name, mod in FIGURES.items():
        print(f"{name:16s} {mod:34s} {'ok' if available(name) else 'missing'}")
    return 0


def main_figure(args) -> int:
    """Render one figure into ``args.out``."""
    if args.name not in FIGURES:
        print(f"sigprop figure: error: unknown figure {args.name!r}; known: {', '.join(FIGURES)}", file=sys.stderr)
        return 2
    try:
        mod = load(args.name)
    except ImportError as exc:
        print(f"error: figure {args.name!r} is not available ({exc})", file=sys.stderr)
        return 1
    from sigprop import io

    for path in mod.make(io.out_dir(args.out), quick=args.quick, device=args.device):
        print(path)
    return 0


def main_reproduce(args) -> int:
    """Every figure (or ``args.only``) and the claims report into ``args.out``; index.json with timings.

    A failing figure does not stop the others; the exit status is 1 if any failed.
    """
    from sigprop import io

    if args.only is not None:
        if not args.only:
            raise ValueError("--only needs at least one figure name (see `sigprop figures`)")
        unknown = [n for n in args.only if n not in FIGURES]
        if unknown:
            raise ValueError(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    out = io.out_dir(args.out)
    names = list(args.only) if args.only else list(FIGURES)
    index, failures = {"quick": bool(args.quick), "device": args.device, "items": []}, []
    for name in names + ([] if args.only else ["claims"]):
        t0 = time.perf_counter()
        print(f"[reproduce] {name} ...", flush=True)
        try:
            if name == "claims":
                paths = _claims(out, args.quick)
            else:
                paths = load(name).make(out, quick=args.quick, device=args.device)
            status, error = "ok", None
        except Exception as exc:  # noqa: BLE001 - one failure must not stop the rest
            paths, status, error = [], "failed", f"{type(exc).__name__}: {exc}"
            failures.append(name)
        seconds = time.perf_counter() - t0
        print(f"[reproduce] {name}: {status} ({seconds:.1f} s){'' if error is None else ' ' + error}", flush=True)
        index["items"].append({"name": name, "status": status, "error": error, "seconds": round(seconds, 2),
                               "quick": bool(args.quick), "files": [str(p) for p in paths]})
    if args.only:  # re-rendered items replace their entries; the folder's other items stay listed
        kept = [it for it in _previous_items(out / "index.json") if it.get("name") not in names]
        order = {n: i for i, n in enumerate([*FIGURES, "claims"])}
        index["items"] = sorted(kept + index["items"], key=lambda it: order.get(it.get("name"), len(order)))
    io.write_json(out / "index.json", index)
    if failures:
        print(f"[reproduce] failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def _previous_items(path: Path) -> list[dict]:
    """The items of an existing index.json (none if absent or unreadable)."""
    import json

    try:
        items = json.loads(path.read_text())["items"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [it for it in items if isinstance(it, dict)] if isinstance(items, list) else []


def _claims(out: Path, quick: bool) -> list[Path]:
    from sigprop import io
    from sigprop.claims import check_claims, format_report

    rows = check_claims(quick=quick, mc=True)
    io.write_json(out / "claims.json", rows)
    lines = ["| id | status | statement |", "| --- | --- | --- |"]
    lines += [f"| {r['id']} | {r['status']} | {r['statement']} |" for r in rows]
    (out / "claims.md").write_text("\n".join(lines) + "\n")
    (out / "claims_report.txt").write_text(format_report(rows) + "\n")  # with the evidence
    return [out / "claims.json", out / "claims.md", out / "claims_report.txt"]
