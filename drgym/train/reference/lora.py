"""Low-rank adapters (LoRA, Hu et al. 2021) for the reference trainers, in plain torch.

`add_lora` wraps the linear layers whose names match a pattern: each computes W·x + (α/r)·B·A·x with W frozen,
A (r × in) initialised as nn.Linear initialises its weight and B (out × r) at zero, so training starts from the
unchanged model (Hu et al. 2021, section 4.1). `merge_lora` folds B·A into W and puts plain linear layers back, so
a trained actor saves as an ordinary Hugging Face model that any loader (and vLLM) reads.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from drgym.errors import ConfigError

__all__ = ["LoRALinear", "add_lora", "merge_lora"]

DEFAULT_TARGETS = r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$"
"""The attention and MLP projections of a Llama/Qwen decoder block (not the embedding or the output head)."""


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update (α/r)·B·A."""

    def __init__(self, base: nn.Linear, *, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        for parameter in base.parameters():
            parameter.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device,
                                               dtype=base.weight.dtype))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device,
                                               dtype=base.weight.dtype))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # nn.Linear's own initialisation
        self.scaling = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scaling

    def merged(self) -> nn.Linear:
        """The plain linear layer W + (α/r)·B·A."""
        with torch.no_grad():
            self.base.weight += (self.lora_b @ self.lora_a) * self.scaling
        self.base.weight.requires_grad_(True)
        return self.base


def add_lora(model: nn.Module, *, rank: int, alpha: float, targets: str = DEFAULT_TARGETS) -> list[nn.Parameter]:
    """Replaces the linear layers whose module names match `targets` (a regular expression) by `LoRALinear`,
    freezes every other parameter of the model, and returns the adapters' parameters (for the optimizer)."""
    if rank < 1:
        raise ConfigError(f"lora_rank must be at least 1 to add adapters, got {rank}")
    try:
        pattern = re.compile(targets)
    except re.error as error:
        raise ConfigError(f"lora_targets {targets!r} is not a regular expression: {error}") from None
    chosen = [(name, module) for name, module in model.named_modules()
              if isinstance(module, nn.Linear) and pattern.search(name)]
    if not chosen:
        linear = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
        raise ConfigError(f"lora_targets {targets!r} matches none of the model's linear layers "
                          f"(names look like {linear[:3]})")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    adapters: list[nn.Parameter] = []
    for name, module in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        wrapped = LoRALinear(module, rank=rank, alpha=alpha)
        setattr(parent, child, wrapped)
        adapters += [wrapped.lora_a, wrapped.lora_b]
    return adapters


def merge_lora(model: nn.Module) -> nn.Module:
    """Folds every adapter into its linear layer, in place; returns the model (plain layers only)."""
    wrapped = [(name, module) for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    for name, module in wrapped:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.merged())
    return model
