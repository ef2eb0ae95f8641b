"""``sigprop fit FILE``: read a depth profile, fit its growth law, print a table or JSON.

Accepted inputs (read with :mod:`sigprop.io`):

* ``sigprop theory --json`` output: keys ``q``, ``p``, ``log_apjn`` (lists over
  ``l = 0..L``) and ``params``; theory curves carry no errors.
* ``sigprop validate --json`` output: per-quantity dicts with ``theory``,
  ``mean``, ``stderr``, ``z``; the Monte-Carlo ``mean`` is fitted with its
  ``stderr``. For the APJN, ``J = exp(mean log J)`` with the delta-method error
  ``J * stderr(log J)``.
* a CSV with columns ``layer``, ``value`` and optionally ``stderr``.

``--quantity apjn`` is ``J(0, l) = exp(log_apjn)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fit import fit_growth


def load_profile(path, quantity: str = "apjn"):
    """``(layers, values, stderr_or_None, source)`` from a theory/validate JSON or a CSV file."""
    from .. import io

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: {'a folder, not a file' if path.is_dir() else 'no such file'}")
    if path.suffix.lower() == ".csv":
        cols = io.read_csv(path, numeric=("layer", "value", "stderr"))
        if "layer" not in cols or "value" not in cols:
            raise ValueError(f"{path}: a CSV needs columns 'layer' and 'value' (optional 'stderr'), "
                             f"got {', '.join(cols)}")
        return cols["layer"], cols["value"], cols.get("stderr"), "csv"
    try:
        data = io.read_json(path)
    except ValueError as exc:
        raise ValueError(f"{path}: neither a CSV nor JSON ({exc})") from None
    key = "log_apjn" if quantity == "apjn" else quantity
    if isinstance(data, dict) and key == "p" and "q" in data and data.get("p") is None:
        raise ValueError(f"{path}: no 'p' entry: a declaration with one token has no cross-token covariance")
    if not isinstance(data, dict) or key not in data or data[key] is None:
        raise ValueError(f"{path}: no {key!r} entry (expected `sigprop theory --json` or "
                         f"`sigprop validate --json` output)")
    entry = data[key]
    if isinstance(entry, dict):  # validate report
        mean = np.asarray(entry["mean"], float)
        se = np.asarray(entry["stderr"], float)
        if quantity == "apjn":
            value = np.exp(mean)
            se = value * se
        else:
            value = mean
        return np.arange(mean.size), value, se, "validate"
    arr = np.asarray(entry, float)
    if arr.ndim != 1:
        raise ValueError(f"{path}: {key} is a grid of shape {arr.shape[1:]}; fit one declaration at a time")
    value = np.exp(arr) if quantity == "apjn" else arr
    return np.arange(arr.size), value, None, "theory"


def _fmt_interval(iv):
    lo, hi = iv
    return f"[{lo:.4g}, {hi:.4g}]"


def main(args) -> int:
    """CLI entry point (``args.file``, ``args.quantity``, ``args.json``)."""
    from .. import io

    layers, values, se, source = load_profile(args.file, args.quantity)
    result = fit_growth(layers, values, se)
    if args.json:
        print(io.dumps(result.to_dict()))
        return 0
    # a CSV holds one unnamed profile: --quantity does not apply
    label = "value" if source == "csv" else {"apjn": "J(0, l)", "q": "q", "p": "p"}[args.quantity]
    print(f"{label} from {args.file} ({source}{', with errors' if se is not None else ''})")
    print(f"model:   {result.model}    regime: {result.regime}")
    print(f"window:  layers {result.window[0]:g} .. {result.window[1]:g}")
    print(f"{'param':>8} {'value':>12}  95% interval")
    for k, v in result.params.items():
        iv = result.intervals.get(k)
        print(f"{k:>8} {v:12.5g}  {_fmt_interval(iv) if iv else ''}")
    print("BIC:     " + ", ".join(f"{k} {v:.5g}" for k, v in sorted(result.scores.items(), key=lambda kv: kv[1])))
    print(f"evidence: {result.evidence}")
    return 0
