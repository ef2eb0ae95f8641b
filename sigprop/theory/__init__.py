"""Exact infinite-width theory (NumPy/SciPy only; never imports JAX)."""

from .solver import Trajectory, solve

__all__ = ["Trajectory", "solve"]
