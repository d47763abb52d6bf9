"""Policies described in YAML (`drgym rollout --policy-file policy.yaml`), checked at load time.

    kind: openai                # openai | hf | scripted | solver | random | callable
    base_url: http://127.0.0.1:8000/v1
    model: Qwen/Qwen3-8B
    tool_mode: native
    sampling: {temperature: 0.6, max_tokens: 2048}

``kind: callable`` takes ``target: package.module:function`` (a function ``messages -> str | dict``).
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from drgym.agents.hf_policy import HFPolicy
from drgym.agents.openai_policy import OpenAIChatPolicy
from drgym.agents.policy import CallablePolicy, RandomPolicy
from drgym.agents.scripted import ScriptedResearcher
from drgym.agents.solvers import FrontierSolver
from drgym.errors import ConfigError
from drgym.yaml_files import field_error, read_yaml

__all__ = ["PolicySpec", "load_policy_file"]


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "hf", "scripted", "solver", "random", "callable"]
    name: str | None = None
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    tool_mode: Literal["text", "native"] = "text"
    sampling: dict[str, Any] = {}
    timeout_s: float = 120.0
    usd_per_1k_input_tokens: float = 0.0
    usd_per_1k_output_tokens: float = 0.0
    model_path: str | None = None
    device: str = "cpu"
    max_new_tokens: int = 512
    temperature: float = 0.0
    seed: int = 0
    target: str | None = None

    def factory(self):
        """A picklable zero-argument callable that builds the policy (one per rollout worker)."""
        if self.kind == "openai":
            if not self.base_url or not self.model:
                raise ConfigError("kind 'openai' needs 'base_url' and 'model'")
            return functools.partial(OpenAIChatPolicy, self.base_url, self.model, api_key=self.api_key,
                                     tool_mode=self.tool_mode, sampling=self.sampling or {"temperature": 0.0,
                                                                                          "max_tokens": 1024},
                                     timeout_s=self.timeout_s, usd_per_1k_input_tokens=self.usd_per_1k_input_tokens,
                                     usd_per_1k_output_tokens=self.usd_per_1k_output_tokens)
        if self.kind == "hf":
            if not self.model_path:
                raise ConfigError("kind 'hf' needs 'model_path'")
            return functools.partial(HFPolicy, self.model_path, device=self.device,
                                     max_new_tokens=self.max_new_tokens, temperature=self.temperature)
        if self.kind == "random":
            return functools.partial(RandomPolicy, seed=self.seed)
        if self.kind == "solver":
            return FrontierSolver
        if self.kind == "callable":
            if not self.target or ":" not in self.target:
                raise ConfigError("kind 'callable' needs 'target: package.module:function'")
            module, _, attribute = self.target.partition(":")
            try:
                function = getattr(importlib.import_module(module), attribute)
            except (ImportError, AttributeError) as e:
                raise ConfigError(f"target {self.target!r} cannot be imported: {e}") from e
            return functools.partial(CallablePolicy, function, name=self.target)
        return ScriptedResearcher


def load_policy_file(path: str | Path) -> tuple[Any, str]:
    """(policy factory, policy name) from a YAML file; errors name the file, the field and its line."""
    data, text = read_yaml(path, "policy file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of policy fields, e.g. 'kind: openai'")
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as e:
        raise field_error(path, text, e, top_level="kind") from None
    return spec.factory(), spec.name or spec.model or spec.kind
