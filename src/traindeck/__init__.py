"""traindeck: track, watch, steer and launch machine-learning training."""
from ._version import __version__

__all__ = ["__version__"]
