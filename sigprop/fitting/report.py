"""``sigprop fit FILE``: read a depth profile, fit its growth law, print a table or JSON.

Accepted inputs (read with :mod:`sigprop.io`):

* ``sigprop theory --json`` output: keys ``q``, ``p``, ``log_apjn`` (lists over
  ``l = 0..L``) and ``params``; theory curves carry no errors.
* ``sigprop validate --json`` output: per-quantity dicts with ``theory``,
  ``mean``, ``stderr``, ``z``; the Monte-Carlo ``mean`` is fitted with its
  ``stderr``.
* a CSV with columns ``layer``, ``value`` and optionally ``stderr``, or the
  ``theory.csv`` / ``validate.csv`` that ``sigprop theory --out`` and
  ``sigprop validate`` write (``--quantity`` picks the column).

``--quantity apjn`` is ``J(0, l)``; it is fitted from ``log_apjn`` directly
(:func:`~sigprop.fitting.fit.fit_growth` with ``log=True``), so profiles beyond
the float range (``log J > 709``) fit as well as any other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .fit import fit_growth


def load_profile(path, quantity: str = "apjn"):
    """``(layers, values, stderr_or_None, source, is_log, init)`` from a theory/validate JSON or a CSV file.

    ``is_log``: ``values`` (and ``stderr``) are of ``log J`` (``quantity="apjn"``
    from the package's own outputs) rather than of the quantity itself. ``init``: the
    ``init`` of the declaration a package JSON records (``params`` of ``sigprop theory``,
    ``arch`` of ``sigprop validate``), or ``None`` (a CSV, a foreign file).
    """
    from .. import io

    if str(path) == "-":
        return _load_stdin(quantity)
    path = Path(path)
    if path.is_dir() or not path.exists():  # (a pipe such as /dev/stdin is no regular file, but reads)
        raise ValueError(f"{path}: {'a folder, not a file' if path.is_dir() else 'no such file'}")
    key = "log_apjn" if quantity == "apjn" else quantity
    is_log = quantity == "apjn"
    if path.suffix.lower() == ".csv":
        cols = io.read_csv(path, numeric=("layer", "value", "stderr", key, f"{key}_mean", f"{key}_stderr"))
        if "point" in cols and np.unique(cols["point"]).size > 1:
            raise ValueError(f"{path}: a sweep ({np.unique(cols['point']).size} grid points in column 'point'); "
                             "fit one declaration at a time")
        if "layer" in cols and "value" in cols:  # one unnamed profile, linear values
            return cols["layer"], cols["value"], cols.get("stderr"), "csv", False, None
        if "layer" in cols and f"{key}_mean" in cols:  # validate.csv
            return cols["layer"], cols[f"{key}_mean"], cols.get(f"{key}_stderr"), "validate", is_log, None
        if "layer" in cols and key in cols:  # theory.csv
            return cols["layer"], cols[key], None, "theory", is_log, None
        raise ValueError(f"{path}: a CSV needs columns 'layer' and 'value' (optional 'stderr'), or "
                         f"'layer' and {key!r} / {key + '_mean'!r} (sigprop theory/validate output); "
                         f"got {', '.join(cols)}")
    try:
        data = io.read_json(path)
    except ValueError as exc:
        raise ValueError(f"{path}: neither a CSV nor JSON ({exc})") from None
    if isinstance(data, dict) and key == "p" and "q" in data and data.get("p") is None:
        raise ValueError(f"{path}: no 'p' entry: a declaration with one token has no cross-token covariance")
    if not isinstance(data, dict) or key not in data or data[key] is None:
        raise ValueError(f"{path}: no {key!r} entry (expected `sigprop theory --json` or "
                         f"`sigprop validate --json` output)")
    entry = data[key]
    decl = data.get("params", data.get("arch"))
    init = decl.get("init") if isinstance(decl, dict) else None
    if isinstance(entry, dict):  # validate report
        if "mean" not in entry or "stderr" not in entry:
            raise ValueError(f"{path}: {key!r} holds no 'mean' and 'stderr' (expected `sigprop validate --json` "
                             f"output), got keys {', '.join(map(str, entry)) or 'none'}")
        mean, se = _numbers(path, key, entry["mean"]), _numbers(path, key, entry["stderr"])
        return np.arange(mean.size), mean, se, "validate", is_log, init
    arr = _numbers(path, key, entry)
    return np.arange(arr.size), arr, None, "theory", is_log, init


def _load_stdin(quantity):
    """``-``: a JSON or CSV profile piped in (``sigprop theory toy --json | sigprop fit -``), told apart
    by its first character."""
    import sys
    import tempfile

    text = sys.stdin.read()
    if not text.strip():
        raise ValueError("-: nothing on standard input")
    suffix = ".json" if text.lstrip()[0] in "{[" else ".csv"
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder) / f"stdin{suffix}"
        tmp.write_text(text)
        try:
            return load_profile(tmp, quantity)
        except ValueError as exc:
            raise ValueError(str(exc).replace(str(tmp), "<stdin>")) from None


def _numbers(path, key, entry):
    """One profile over layers; a sweep's ``(layers, *grid)`` arrays are refused with their shape."""
    try:
        arr = np.asarray(entry, float)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {key!r} is not an array of numbers (rows of equal length)") from None
    if arr.ndim == 0:
        raise ValueError(f"{path}: {key!r} must be a list of numbers over layers, got shape {arr.shape}")
    if arr.ndim > 1:
        raise ValueError(f"{path}: {key!r} is a sweep (shape {arr.shape}: layers x grid points); "
                         "fit one declaration at a time")
    return arr


#: printed under the fit of a profile whose declaration scales its branches with the depth
SCALED_NOTE = ("note: init=scaled scales every branch with the network's depth L, so this profile belongs to "
               "one L; the law above describes it layer by layer, not how the network changes as L grows "
               "(compare J(0, L) over several --depth)")


def _fmt_interval(iv):
    lo, hi = iv
    return f"[{lo:.4g}, {hi:.4g}]"


def main(args) -> int:
    """CLI entry point (``args.file``, ``args.quantity``, ``args.json``)."""
    from .. import io

    layers, values, se, source, is_log, init = load_profile(args.file, args.quantity)
    result = fit_growth(layers, values, se, log=is_log)
    scaled = init == "scaled"
    if args.json:
        out = result.to_dict()
        if scaled:
            out["note"] = SCALED_NOTE.removeprefix("note: ")
        print(io.dumps(out))
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
    if scaled:
        print(SCALED_NOTE)
    return 0
