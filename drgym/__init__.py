"""drgym: reinforcement-learning environments for deep-research agents on an offline procedural web."""

from drgym.errors import DrgymError

__version__ = "0.1.0"

__all__ = ["DrgymError", "__version__"]
