from __future__ import annotations

import pytest

from drgym.tasks.procedural import ProceduralWorld
from drgym.tasks.suites import SUITES


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Suites build into a temporary cache, never the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DRGYM_HOME", str(tmp_path_factory.mktemp("drgym-home")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> ProceduralWorld:
    """The seeded procedural:tiny world (~80 pages, 8 tasks), indexed."""
    return ProceduralWorld.build(tmp_path_factory.mktemp("worlds") / "tiny", SUITES["procedural:tiny"],
                                 show_progress=False)
