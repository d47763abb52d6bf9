"""The cost model: prices per 1k input/output tokens per model and per tool call, read from a YAML file, so a
report's cost is computed from its episode, and every price shows where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drgym.core.records import EpisodeRecord
from drgym.envs.budget import PriceTable
from drgym.yaml_files import field_error, read_yaml

__all__ = ["DEFAULT_PRICES", "CostModel", "EpisodeCost", "load_prices"]

DEFAULT_PRICES = Path(__file__).parent / "data" / "prices.yaml"


class _ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_per_1k: float = Field(0.0, ge=0)
    output_per_1k: float = Field(0.0, ge=0)
    source: str = ""


class _ToolPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    per_call: float = Field(0.0, ge=0)
    source: str = ""


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = "USD"
    models: dict[str, _ModelPrice] = {}
    tools: dict[str, _ToolPrice] = {}


@dataclass
class EpisodeCost:
    model: float
    tools: float
    input_tokens: int
    output_tokens: int
    token_source: str
    """'policy' (tokens the model reported) or 'estimated' (the environment's count, ~4 characters a token)."""
    tool_calls: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.model + self.tools


@dataclass
class CostModel:
    currency: str
    models: dict[str, _ModelPrice]
    tools: dict[str, _ToolPrice]
    path: str

    def model_price(self, name: str) -> tuple[float, float, str]:
        price = self.models.get(name)
        if price is None:
            return 0.0, 0.0, f"not in {Path(self.path).name}: counted as free"
        return price.input_per_1k, price.output_per_1k, price.source or Path(self.path).name

    def price_table(self, model: str) -> PriceTable:
        """The file's prices for `model` as the environment's `PriceTable` (one cost formula everywhere)."""
        price_in, price_out, _ = self.model_price(model)
        return PriceTable(usd_per_1k_input_tokens=price_in, usd_per_1k_output_tokens=price_out,
                          usd_per_tool_call={name: tool.per_call for name, tool in self.tools.items()})

    def episode(self, record: EpisodeRecord, model: str) -> EpisodeCost:
        reported = record.policy_usage
        if reported and any(u.get("prompt_tokens") for u in reported):
            input_tokens = int(sum(u.get("prompt_tokens", 0) for u in reported))
            output_tokens = int(sum(u.get("completion_tokens", 0) for u in reported))
            source = "policy"
        else:
            usage = record.usage
            input_tokens, output_tokens = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
            source = "estimated"
        calls: dict[str, int] = {}
        for step in record.steps:
            for call in step.tool_calls:
                calls[call.name] = calls.get(call.name, 0) + 1
        prices = self.price_table(model)
        return EpisodeCost(model=prices.token_cost(input_tokens, output_tokens), tools=prices.tool_cost(calls),
                           input_tokens=input_tokens, output_tokens=output_tokens, token_source=source,
                           tool_calls=calls)


def load_prices(path: str | Path | None = None) -> CostModel:
    path = Path(path) if path else DEFAULT_PRICES
    raw, text = read_yaml(path, "price file")
    try:
        data = _PriceFile.model_validate(raw or {})
    except ValidationError as e:
        raise field_error(path, text, e) from None
    return CostModel(data.currency, data.models, data.tools, str(path))
