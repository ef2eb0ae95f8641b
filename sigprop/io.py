"""File input/output: declarations from presets/TOML/JSON, results to JSON/CSV.

The only module of the package that reads or writes files.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from .architectures import ARCHITECTURES, PRESETS, Architecture, Transformer, preset

#: Per-matrix weight standard deviations accepted by ``--set`` for transformers:
#: ``std_X`` sets ``sigma_X = std_X * sqrt(fan_in)`` (fan-in ``width``, or
#: ``mlp_ratio * width`` for ``W_2``); ``weight_std`` sets all six.
STD_KEYS = ("std_q", "std_k", "std_v", "std_o", "std_1", "std_2")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _coerce(arch_cls, key: str, value):
    fields = {f.name: f for f in dataclasses.fields(arch_cls)}
    if key not in fields:
        raise ValueError(f"unknown key {key!r} for {arch_cls.kind}; known: {', '.join(sorted(fields))}")
    default = fields[key].default
    if not isinstance(value, str):
        return tuple(value) if isinstance(default, tuple) else value
    v = value.strip()
    if isinstance(default, bool):
        if v.lower() in ("1", "true", "yes"):
            return True
        if v.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"{key} must be true or false, got {value!r}")
    if isinstance(default, tuple):
        return tuple(s.strip() for s in v.split(",") if s.strip())
    if isinstance(default, int) and not isinstance(default, bool):
        try:
            return int(v)
        except ValueError:
            raise ValueError(f"{key} must be an integer, got {value!r}") from None
    if isinstance(default, str):
        return v
    try:
        if "," in v:
            return np.array([float(s) for s in v.split(",")])
        return float(v)
    except ValueError:
        raise ValueError(f"{key} must be a number (or a comma-separated list for a sweep), got {value!r}") from None


def parse_sets(sets: Iterable[str]) -> dict[str, str]:
    """``["alpha=0.5", "normalizer=derf"]`` -> ``{"alpha": "0.5", ...}``."""
    out = {}
    for item in sets or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out


def apply_changes(arch: Architecture, changes: Mapping[str, object]) -> Architecture:
    """Replace fields of ``arch``; string values are parsed by the field's type.

    ``std_q .. std_2`` (transformers) set one matrix's standard deviation,
    ``sigma = std * sqrt(fan_in)``; ``weight_std`` sets all six.
    """
    changes = dict(changes)
    stds = {k: changes.pop(k) for k in [*STD_KEYS, "weight_std"] if k in changes}
    if stds:
        if not isinstance(arch, Transformer):
            raise ValueError(f"{', '.join(stds)}: weight standard deviations apply to transformers only "
                             f"(got a {arch.kind} declaration; set sigma_w2 instead)")
        d = int(_coerce(type(arch), "width", changes.get("width", arch.width)))
        ratio = int(_coerce(type(arch), "mlp_ratio", changes.get("mlp_ratio", arch.mlp_ratio)))
        said = {k: k for k in stds}  # the key the user wrote, for messages
        if "weight_std" in stds:
            std = stds.pop("weight_std")
            said = {**{k: "weight_std" for k in STD_KEYS}, **said}
            stds = {**{k: std for k in STD_KEYS}, **stds}
        clash = sorted(f"{k} and sigma_{k[4:]}" for k in stds if "sigma_" + k[4:] in changes)
        if clash:
            raise ValueError(f"conflicting settings: {'; '.join(clash)} set the same weights "
                             "(give a standard deviation or a sigma, not both)")
        for key, std in stds.items():
            try:
                std = np.asarray(_coerce(type(arch), "sigma_q", std), dtype=float)
            except (TypeError, ValueError):
                std = None
            if std is None or not np.all(np.isfinite(std)):
                raise ValueError(f"{said[key]} must be a finite number (or a comma-separated list for a sweep), "
                                 f"got {stds[key]!r}")
            if np.any(std < 0):
                raise ValueError(f"{said[key]} must be >= 0, got {stds[key]!r}")
            fan_in = ratio * d if key == "std_2" else d
            changes["sigma_" + key[4:]] = np.asarray(std, float) * np.sqrt(fan_in)
    coerced = {k: _coerce(type(arch), k, v) for k, v in changes.items()}
    return arch.replace(**coerced)


def load_arch(spec: str, sets: Iterable[str] = (), depth: int | None = None,
              width: int | None = None) -> Architecture:
    """A declaration from a preset name or a TOML/JSON file, then ``--set`` changes.

    A file holds either ``preset = "NAME"`` plus changes, or ``arch = "toy" |
    "plain" | "transformer"`` plus fields. ``depth`` and ``width`` (the
    ``--depth``/``--width`` options) act as ``--set depth=...``/``--set width=...``,
    so a ``weight_std`` is turned into sigmas at that width.
    """
    changes = parse_sets(sets)
    if depth is not None:
        changes["depth"] = str(depth)
    if width is not None:
        changes["width"] = str(width)
    data = {}
    if spec in PRESETS:
        arch = preset(spec)
    else:
        path = Path(spec)
        if not path.is_file():
            what = "a folder" if path.is_dir() else "not a preset nor a file"
            raise ValueError(f"unknown architecture {spec!r}: {what} (presets: {', '.join(PRESETS)}, "
                             f"or a TOML/JSON declaration file)")
        if path.suffix.lower() not in (".toml", ".json"):
            raise ValueError(f"{path}: a declaration file must be .toml or .json, got {path.suffix or 'no suffix'!r}")
        text = path.read_text()
        try:
            data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a declaration file holds one table/object of fields, got a "
                             f"{type(data).__name__}")
        if "preset" in data and "arch" in data:
            raise ValueError(f"{path}: give either 'preset' (a preset plus changes) or 'arch' (a kind plus "
                             "fields), not both")
        if "preset" in data:
            name = data.pop("preset")
            if not isinstance(name, str):
                raise ValueError(f"{path}: 'preset' must be a name ({', '.join(PRESETS)}), got {name!r}")
            arch = preset(name)
        else:
            kind = data.pop("arch", None)
            if not isinstance(kind, str) or kind not in ARCHITECTURES:
                raise ValueError(f"{path}: 'arch' must be one of {', '.join(ARCHITECTURES)} (or give 'preset'), "
                                 f"got {kind!r}")
            arch = ARCHITECTURES[kind]()
        # the file's standard deviations become sigmas at the width (and MLP ratio) the command line sets
        sizes = {k: changes[k] for k in ("width", "mlp_ratio") if k in changes}
        arch = apply_changes(arch, {**data, **sizes} if _has_stds(data) else data)
    explicit = set(changes) | (set(data) if spec not in PRESETS else set())
    arch = apply_changes(arch, changes) if changes else arch
    unused = unused_fields(arch, explicit)
    if unused:
        print(f"sigprop: note: {' and '.join(unused)} {'has' if len(unused) == 1 else 'have'} no effect with "
              f"normalizer {arch.normalizer!r}", file=sys.stderr)
    return arch


def _has_stds(data: Mapping) -> bool:
    return any(k in data for k in (*STD_KEYS, "weight_std"))


def unused_fields(arch: Architecture, keys) -> list[str]:
    """Those of ``keys`` that the declaration's normalizer never reads: ``alpha``/``shift``
    for vector normalizers (LayerNorm, RMSNorm, LNS, identity), ``eps`` for pointwise ones."""
    from .normalizers import get_normalizer

    kind = get_normalizer(arch.normalizer).kind
    ignored = ("alpha", "shift") if kind == "vector" else ("eps",)
    return [k for k in ignored if k in keys]


def to_jsonable(obj):
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def dumps(obj) -> str:
    return json.dumps(to_jsonable(obj))


def out_dir(path) -> Path:
    """Create the output folder ``path`` (with parents) before any work; ``ValueError`` if it cannot be."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output folder {str(path)!r} is an existing file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create output folder {str(path)!r}: {exc.strerror or exc}") from None
    return path


def write_json(path, obj) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(obj), indent=1))
    return path


def write_csv(path, columns: Mapping[str, Iterable]) -> Path:
    """Write equal-length columns (``name -> values``) as CSV with a header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    cols = [np.asarray(columns[n]).ravel() for n in names]
    n = len(cols[0]) if cols else 0
    if any(len(c) != n for c in cols):
        raise ValueError(f"columns of unequal length: {[len(c) for c in cols]}")
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for i in range(n):
            w.writerow([_fmt(c[i]) for c in cols])
    return path


def grid_columns(arch: Architecture, per_layer: Mapping[str, object]) -> dict:
    """Long-format CSV columns of per-layer arrays ``(L+1, *grid)`` (``None``: all ``nan``).

    One row per layer; for a sweep (``arch.grid_shape() != ()``) one row per grid
    point and layer, point-major, led by ``point`` (flat grid index) and the
    swept fields' values.
    """
    shape = arch.grid_shape()
    L1, npts = arch.depth + 1, int(np.prod(shape, dtype=int))
    cols = {}
    if shape:
        cols["point"] = np.repeat(np.arange(npts), L1)
        for k in arch.swept_fields():
            cols[k] = np.repeat(np.broadcast_to(np.asarray(getattr(arch, k), float), shape).ravel(), L1)
    cols["layer"] = np.tile(np.arange(L1), npts)
    for k, v in per_layer.items():
        cols[k] = np.full(L1 * npts, np.nan) if v is None else np.asarray(v, float).reshape(L1, npts).T.ravel()
    return cols


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return v


def read_csv(path, numeric: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Read a CSV with a header into ``name -> float array`` (empty cells NaN).

    Non-numeric columns stay strings, except those named in ``numeric``: a cell
    there that is not a number is a ``ValueError`` naming its row and column.
    """
    if not Path(path).is_file():
        raise ValueError(f"{path}: not a file")
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:  # a spreadsheet's byte-order mark
        rows = list(csv.reader(fh))
    if not rows:
        raise ValueError(f"{path}: empty CSV")
    header, body = rows[0], [r for r in rows[1:] if r]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise ValueError(f"{path}: row {i + 2} has {len(r)} fields, the header {len(header)}")
    out = {}
    for j, name in enumerate(header):
        col = [r[j] for r in body]
        try:
            out[name.strip()] = np.array([float(x) if x != "" else np.nan for x in col])
        except ValueError:
            if name.strip() in numeric:
                i, bad = next((i, x) for i, x in enumerate(col) if x != "" and not _is_float(x))
                raise ValueError(f"{path}: column {name.strip()!r} row {i + 2}: {bad!r} is not a number") from None
            out[name.strip()] = np.array(col)
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_json(path):
    return json.loads(Path(path).read_text())
