"""SymPy derivations of the mean-field results used by :mod:`sigprop`.

Each module ``derivations.<name>`` derives one result symbolically from the
model's definition, prints it, writes its LaTeX to ``derivations/latex/<name>.tex``
and checks sigprop's numeric implementation at random points.  Each module
exposes ``run() -> list[Check]`` and a flag ``SLOW`` (True for scripts over ~5 s:
skipped by ``--fast`` and by the default test run, run by ``pytest -m slow``).  ``python -m derivations``
runs them all and regenerates ``derivations/RESULTS.md``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sympy as sp

HERE = Path(__file__).resolve().parent
NAMES = ("relu_kernel", "gelu_kernel", "derf_maps", "norm_maps", "derf_lambda", "plain_relu", "preln_zeta",
         "dyt_expansions", "derf_shift", "cod_lemmas", "preln_attention_zeta", "scaled_init")


@dataclass
class Check:
    """One comparison between a symbolic result and sigprop's number."""

    what: str
    expected: float
    got: float
    rtol: float

    @property
    def ok(self) -> bool:
        return abs(self.got - self.expected) <= self.rtol * max(abs(self.expected), 1e-300)

    def line(self) -> str:
        flag = "ok" if self.ok else "MISMATCH"
        return f"[{flag}] {self.what}: symbolic {self.expected:.12g}, sigprop {self.got:.12g} (rtol {self.rtol:g})"


def write_latex(name: str, items: dict[str, sp.Expr]) -> Path:
    """Write ``name.tex`` with one display equation per ``label -> expression``."""
    out = HERE / "latex" / f"{name}.tex"
    out.parent.mkdir(exist_ok=True)
    body = "\n".join(f"% {k}\n\\begin{{equation}}\n{k} = {sp.latex(v)}\n\\end{{equation}}" for k, v in items.items())
    out.write_text(body + "\n")
    return out


def gaussian_expectation(expr, h, q):
    """``E[expr(h)]`` for ``h ~ N(0, q)`` by symbolic integration."""
    dens = sp.exp(-h**2 / (2 * q)) / sp.sqrt(2 * sp.pi * q)
    return sp.simplify(sp.integrate(expr * dens, (h, -sp.oo, sp.oo), conds="none"))
