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

__all__ = ["HFEngine", "SamplingParams", "padding_id", "sample", "sample_batch"]


def padding_id(tokenizer: Any) -> int:
    """The id that pads a batch: the tokenizer's pad token, else its EOS token."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def sample(model: Any, prompt_ids: list[int], *, max_new_tokens: int, eos_token_id: int, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> tuple[list[int], list[float], str]:
    """Samples up to `max_new_tokens` tokens after `prompt_ids` (a batch of one for `sample_batch`).

    Returns (token ids, their log-probabilities under the sampling distribution, finish reason 'stop'|'length').
    temperature 0 is greedy.
    """
    return sample_batch(model, [prompt_ids], max_new_tokens=max_new_tokens, eos_token_id=eos_token_id,
                        pad_token_id=eos_token_id, temperature=temperature, generator=generator)[0]


@torch.no_grad()
def sample_batch(model: Any, prompts: list[list[int]], *, max_new_tokens: list[int] | int, eos_token_id: int,
                 pad_token_id: int, temperature: float = 1.0, generator: torch.Generator | None = None
                 ) -> list[tuple[list[int], list[float], str]]:
    """Samples a turn for several prompts at once: left-padded, one forward per token for the whole batch, each
    row with the KV cache, until its EOS (end-of-turn) token or its own token limit.

    On a CPU a small model's forward costs about the same for 1 row as for 16, so a batch of episodes plays
    several times faster than one episode after another. Returns, per prompt, (token ids, their log-probabilities
    under the sampling distribution, finish reason 'stop'|'length'); temperature 0 is greedy.
    """
    model.eval()
    device = next(model.parameters()).device
    limits = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_token_id, device=device)
    attention = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(prompt, device=device)
        attention[row, width - len(prompt):] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    outputs: list[tuple[list[int], list[float], str]] = [([], [], "length") for _ in prompts]
    active = [limit > 0 for limit in limits]
    past = None
    for step in range(max(limits, default=0)):
        if not any(active):
            break
        output = model(input_ids=ids, attention_mask=attention, position_ids=positions, past_key_values=past,
                       use_cache=True)
        past = output.past_key_values
        logits = output.logits[:, -1].float()
        if temperature > 0:
            logprobs = torch.log_softmax(logits / temperature, dim=-1)
            tokens = torch.multinomial(logprobs.exp(), 1, generator=generator).squeeze(-1)
        else:
            logprobs = torch.log_softmax(logits, dim=-1)
            tokens = logits.argmax(-1)
        for row in range(len(prompts)):
            if not active[row]:
                continue
            token = int(tokens[row])
            outputs[row][0].append(token)
            outputs[row][1].append(float(logprobs[row, token]))
            if token == eos_token_id:
                outputs[row] = (outputs[row][0], outputs[row][1], "stop")
                active[row] = False
            elif step + 1 >= limits[row]:
                active[row] = False
        ids = tokens.unsqueeze(-1)
        attention = torch.cat([attention, torch.ones_like(ids)], dim=-1)
        positions = positions[:, -1:] + 1
    return outputs


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
        self.generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
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
