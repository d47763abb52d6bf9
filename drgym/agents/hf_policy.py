"""A local Hugging Face causal LM as a policy: its chat template, greedy or sampled decoding, and stop strings
that end a turn at ``</tool_call>`` or ``</answer>``."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from drgym.core.protocol import format_native_tool_calls
from drgym.errors import ConfigError

__all__ = ["HFGenerator", "HFPolicy", "as_text_messages", "from_local"]

STOP_STRINGS = ("</tool_call>", "</answer>")


def as_text_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Messages with string content only: native tool calls written back as <tool_call> text."""
    converted = []
    for message in messages:
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        content += format_native_tool_calls(message.get("tool_calls") or [])
        converted.append({"role": message["role"] if message["role"] != "tool" else "user", "content": content})
    return converted


def from_local(loader: Any, name_or_path: str | Any, **kwargs: Any) -> Any:
    """``loader.from_pretrained(name_or_path)`` from a folder or the local Hugging Face cache only: drgym downloads
    nothing at run time, and a folder that does not exist would otherwise be taken for a Hub id and retried over
    the network for minutes. A ConfigError names what is missing."""
    try:
        return loader.from_pretrained(name_or_path, local_files_only=True, **kwargs)
    except OSError as e:
        raise ConfigError(f"cannot load {name_or_path!r}: not a model folder, and not in the local Hugging Face "
                          f"cache ({str(e).splitlines()[0]}). drgym downloads nothing at run time: fetch the model "
                          f"first (`huggingface-cli download {name_or_path} --local-dir DIR`) and pass DIR") from e


class HFGenerator:
    """Loads a model and tokenizer once; `generate(messages)` returns (text, prompt tokens, completion tokens)."""

    def __init__(self, model_name_or_path: str, *, device: str = "cpu", max_new_tokens: int = 512,
                 temperature: float = 0.0, max_prompt_tokens: int | None = None) -> None:
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:  # pragma: no cover - transformers comes with drgym
            raise ConfigError("HFPolicy needs transformers: pip install transformers") from e
        self.tokenizer = from_local(AutoTokenizer, model_name_or_path)
        if self.tokenizer.chat_template is None:
            raise ConfigError(f"{model_name_or_path} has no chat template; HFPolicy needs one to format the episode")
        self.model = from_local(AutoModelForCausalLM, model_name_or_path).to(device).eval()
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.max_prompt_tokens = max_prompt_tokens
        self._lock = threading.Lock()

    def generate(self, messages: list[dict[str, Any]], *, max_new_tokens: int | None = None,
                 temperature: float | None = None) -> tuple[str, int, int]:
        import torch

        inputs = self.tokenizer.apply_chat_template(as_text_messages(messages), add_generation_prompt=True,
                                                    return_tensors="pt", return_dict=True).to(self.device)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        if self.max_prompt_tokens is not None and prompt_tokens > self.max_prompt_tokens:
            raise ConfigError(f"the episode is {prompt_tokens} tokens, over max_prompt_tokens={self.max_prompt_tokens}")
        temperature = self.temperature if temperature is None else temperature
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with self._lock, torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens or self.max_new_tokens,
                                         stop_strings=list(STOP_STRINGS), tokenizer=self.tokenizer,
                                         pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                                         else self.tokenizer.eos_token_id,
                                         **sampling)
        new_tokens = output[0][prompt_tokens:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True), prompt_tokens, int(new_tokens.shape[0])


@dataclass
class HFPolicy:
    """A local transformers model as a policy (text tool mode).

    Args:
        model_name_or_path: a local folder (nothing is downloaded when it is a path).
        device: torch device.
        max_new_tokens: per turn.
        temperature: 0 = greedy.
    """

    model_name_or_path: str
    device: str = "cpu"
    max_new_tokens: int = 512
    temperature: float = 0.0
    usage: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.generator = HFGenerator(str(self.model_name_or_path), device=self.device,
                                     max_new_tokens=self.max_new_tokens, temperature=self.temperature)

    def act(self, messages: list[dict[str, Any]]) -> str:
        started = time.perf_counter()
        text, prompt_tokens, completion_tokens = self.generator.generate(messages)
        self.usage.append({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                           "latency_s": round(time.perf_counter() - started, 4)})
        return text
