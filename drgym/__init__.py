"""drgym: reinforcement-learning environments for deep-research agents on an offline procedural web.

Importing drgym registers its Gymnasium environments: ``gymnasium.make("drgym/DeepSearch-v0")``.
"""

import drgym.envs  # noqa: F401 - registers drgym/DeepSearch-v0 and drgym/DeepResearch-v0
from drgym.errors import DrgymError

__version__ = "0.1.0"

__all__ = ["DrgymError", "__version__"]
