"""Shared plumbing of the figure scripts: one style, one way to save (PNG + PDF + CSV).

Every figure module calls :func:`setup` for a matplotlib module in the
non-interactive backend with ``sigprop.mplstyle`` applied, and :func:`save`
to write ``<stem>.png``, ``<stem>.pdf`` and ``<stem>.csv`` (the plotted data,
long format) side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Iterable

STYLE = Path(__file__).with_name("sigprop.mplstyle")


def setup():
    """Return ``matplotlib.pyplot`` on the Agg backend with the sigprop style applied."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.style.use(str(STYLE))
    return plt


def save(fig, out_dir, stem: str, data: Mapping[str, Iterable] | None = None) -> list[Path]:
    """Write ``fig`` as PNG and PDF and ``data`` (equal-length columns) as CSV; close the figure.

    Returns the written paths (PNG, PDF, then CSV when ``data`` is given).
    """
    import matplotlib.pyplot as plt

    from sigprop.io import write_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    if data is not None:
        paths.append(write_csv(out / f"{stem}.csv", data))
    return paths


def long_rows(rows: list[dict]) -> dict[str, list]:
    """Turn a list of row dicts (same keys) into CSV columns."""
    if not rows:
        raise ValueError("no rows to write")
    keys = list(rows[0])
    return {k: [r[k] for r in rows] for k in keys}


def run_alone(make, description: str, argv=None, *, quick_help: str = "laptop sizes",
              device_help: str = "Monte-Carlo device") -> None:
    """The command line of a figure module run alone: ``[--quick] [--out DIR] [--device cpu|gpu]``.

    Calls ``make(out, quick=..., device=...)`` and prints the written paths.
    """
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--out", default="results", help="output folder (default: results)")
    ap.add_argument("--device", choices=("cpu", "gpu"), default=None, help=device_help)
    a = ap.parse_args(argv)
    for path in make(a.out, quick=a.quick, device=a.device):
        print(path)


def render(tag: str, stem: str, compute, plot, table, out_dir, quick: bool, device) -> list[Path]:
    """``compute(quick, device)`` -> results; save ``plot(results)`` and ``table(results)`` as ``stem``.

    Prints ``[tag] done in ... s``; returns the written paths.
    """
    import time

    t0 = time.perf_counter()
    results = compute(quick, device)
    paths = save(plot(results), out_dir, stem, table(results))
    print(f"[{tag}] done in {time.perf_counter() - t0:.1f} s", flush=True)
    return paths
