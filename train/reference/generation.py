"""Token sampling for the reference trainer, and a local stand-in for OpenRLHF's vLLM engine.

`sample` decodes one assistant turn with a KV cache until the EOS (end-of-turn) token or a token limit.
`HFEngine` offers the slice of vLLM's interface that OpenRLHF's `MultiTurnAgentExecutor` uses
(``await engine.generate(token_ids, sampling_params)`` → ``.outputs[0]`` with token_ids, text, finish_reason,
logprobs), so the drgym OpenRLHF adapter runs through OpenRLHF's own loop on a CPU with a small local model.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch

__all__ = ["HFEngine", "SamplingParams", "sample"]


@torch.no_grad()
def sample(model: Any, prompt_ids: list[int], *, max_new_tokens: int, eos_token_id: int, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> tuple[list[int], list[float], str]:
    """Samples up to `max_new_tokens` tokens after `prompt_ids`.

    Returns (token ids, their log-probabilities under the sampling distribution, finish reason 'stop'|'length').
    temperature 0 is greedy.
    """
    model.eval()
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids], device=device)
    past = None
    out_ids: list[int] = []
    out_logprobs: list[float] = []
    for _ in range(max_new_tokens):
        output = model(input_ids=ids, past_key_values=past, use_cache=True)
        past = output.past_key_values
        logits = output.logits[0, -1].float()
        if temperature > 0:
            logprobs = torch.log_softmax(logits / temperature, dim=-1)
            token = int(torch.multinomial(logprobs.exp(), 1, generator=generator))
        else:
            logprobs = torch.log_softmax(logits, dim=-1)
            token = int(torch.argmax(logits))
        out_ids.append(token)
        out_logprobs.append(float(logprobs[token]))
        if token == eos_token_id:
            return out_ids, out_logprobs, "stop"
        ids = torch.tensor([[token]], device=device)
    return out_ids, out_logprobs, "length"


@dataclass
class SamplingParams:
    """The fields of vLLM's SamplingParams that OpenRLHF's executor reads and sets."""

    max_tokens: int = 64
    temperature: float = 1.0
    logprobs: int | None = 1


class HFEngine:
    """A local causal LM behind vLLM's async ``generate`` (token ids in, a RequestOutput-like object out)."""

    def __init__(self, model: Any, tokenizer: Any, *, seed: int = 0) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.generator = torch.Generator().manual_seed(seed)
        self._lock = threading.Lock()

    def _generate(self, token_ids: list[int], params: Any) -> Any:
        with self._lock:
            ids, logprobs, finish = sample(self.model, list(token_ids), max_new_tokens=int(params.max_tokens),
                                           eos_token_id=self.tokenizer.eos_token_id,
                                           temperature=float(getattr(params, "temperature", 1.0)),
                                           generator=self.generator)
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        logprob_dicts = [{token: SimpleNamespace(logprob=lp)} for token, lp in zip(ids, logprobs)]
        return SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, text=text, finish_reason=finish,
                                                        logprobs=logprob_dicts)])

    async def generate(self, token_ids: list[int], sampling_params: Any, multi_modal_data: Any = None) -> Any:
        return await asyncio.to_thread(self._generate, token_ids, sampling_params)
