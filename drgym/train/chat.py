"""Chat-template text for token-level multi-turn RL: the prompt of an episode, and the text that closes an
assistant turn, carries the environment's observation and opens the next assistant turn.

OpenRLHF's `MultiTurnAgentExecutor` (and the CPU reference trainer, which follows it) concatenate
``prompt + action₁ + feedback₁ + action₂ + …`` token by token, so the feedback must be exactly what the model's chat
template puts between two assistant turns. It is read off the template itself, by rendering a conversation with
a marker in place of the assistant's text.
"""

from __future__ import annotations

from typing import Any

from drgym.agents.hf_policy import from_local
from drgym.errors import ConfigError

__all__ = ["ChatFormat"]

_MARK = "\u2063DRGYM-ACTION\u2063"


class ChatFormat:
    """Renders drgym episodes with a Hugging Face tokenizer's chat template.

    Args:
        tokenizer: a tokenizer with a chat template, or a path to one (loaded with AutoTokenizer, offline).
        observation_role: the role that carries observations ("user" works with every template).
    """

    def __init__(self, tokenizer: Any, *, observation_role: str = "user") -> None:
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            tokenizer = from_local(AutoTokenizer, tokenizer)
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError("the tokenizer has no chat template: multi-turn training needs one to format turns")
        self.tokenizer = tokenizer
        self.observation_role = observation_role
        probe = [{"role": "user", "content": "q"}, {"role": "assistant", "content": _MARK}]
        closed = self._render(probe + [{"role": observation_role, "content": "\u2063OBS\u2063"}], generation=True)
        if _MARK not in closed or "\u2063OBS\u2063" not in closed:
            raise ConfigError("the chat template drops earlier assistant turns or observations; cannot format "
                              "multi-turn episodes with it")
        between = closed[closed.index(_MARK) + len(_MARK):]
        self._before_obs, self._after_obs = between.split("\u2063OBS\u2063", 1)
        last = self._render(probe, generation=False)
        self._close = last[last.index(_MARK) + len(_MARK):] if _MARK in last else ""
        if not self._before_obs.startswith(self._close):
            self._close = ""

    def _render(self, messages: list[dict[str, str]], *, generation: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)

    def prompt(self, messages: list[dict[str, Any]]) -> str:
        """The episode's opening messages (system, question) with the generation prompt of the first turn."""
        return self._render([{"role": m["role"], "content": m.get("content") or ""} for m in messages],
                            generation=True)

    def feedback(self, observation: str, *, ended_with_eos: bool = True) -> str:
        """What follows an assistant turn: end of turn, the observation turn, the next assistant turn's opening.

        A model trained on its chat template ends a turn with its end-of-turn token, which is its EOS (Qwen's
        <|im_end|>), and the engine stops there with that token in the action; the feedback then starts after it
        instead of repeating it. Pass ``ended_with_eos=False`` for an action cut by a stop string or a length limit.
        """
        before = self._before_obs
        eos = getattr(self.tokenizer, "eos_token", None)
        if ended_with_eos and eos and before.startswith(eos):
            before = before[len(eos):]
        return f"{before}{observation}{self._after_obs}"

    def end_of_episode(self) -> str:
        """What the template puts after the last assistant turn of a conversation (its end-of-turn marker)."""
        return self._close
