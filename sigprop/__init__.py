"""sigprop: mean-field signal propagation at initialization in deep residual networks and transformers.

>>> import sigprop
>>> traj = sigprop.solve(sigprop.preset("toy", alpha=0.5))
>>> traj.log_apjn[-1]  # log J(0, L)
"""

from .architectures import Architecture, PlainMLP, ToyResidual, Transformer, preset
from .theory import Trajectory, solve

__version__ = "0.1.0"
__all__ = ["Architecture", "PlainMLP", "ToyResidual", "Transformer", "Trajectory", "preset", "solve"]
