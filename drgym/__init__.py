"""drgym: reinforcement-learning environments for deep-research agents on an offline procedural web.

Importing drgym registers its Gymnasium environments: ``gymnasium.make("drgym/DeepSearch-v1")``. Registration
names entry points only, so ``import drgym.web`` does not load the environments and their tools.
"""

from gymnasium.envs.registration import register, registry

from drgym.core.kinds import ENTRY_POINTS
from drgym.errors import DrgymError

__version__ = "0.1.0"

__all__ = ["DrgymError", "__version__"]

for _env_id, _entry_point in ENTRY_POINTS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point)
