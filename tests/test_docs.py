"""The examples in public docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["drgym.web.corpus", "drgym.web.index", "drgym.web.authority",
                                    "drgym.envs.research_env"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
