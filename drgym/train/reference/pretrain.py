"""Copy pretraining of a small causal LM on the text of a *different* procedural world.

A randomly initialised small model cannot learn from a few hundred SFT episodes to copy names and figures it has
never seen (from the question into its search, from the results into its answer): it memorises the training
episodes instead. Real LMs bring that skill from pretraining. This step gives it cheaply: language modelling on
another world's paragraphs, each example holding a passage twice (``a b a``), so the second copy can only be
predicted by looking back — the induction behaviour copying needs. The world differs from the one tasks are drawn
from, so no answer is learned here.
"""

from __future__ import annotations

import csv
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from drgym.agents.hf_policy import from_local
from drgym.train.reference.device import resolve_device

__all__ = ["PretrainConfig", "pretrain_copy"]


@dataclass
class PretrainConfig:
    model: str
    texts: list[str]
    """Paragraphs of a world other than the evaluation world."""
    out: str
    steps: int = 600
    batch_size: int = 16
    seq_len: int = 256
    lr: float = 2e-3
    repeat: bool = True
    """Each example holds a passage twice (a b a); False packs the texts as they are."""
    seed: int = 0
    show_progress: bool = True
    device: str = "auto"
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (a GPU when there is one)."""


def _example(rng: random.Random, texts: list[str], tokenizer: Any, seq_len: int, repeat: bool) -> list[int]:
    ids: list[int] = []
    while len(ids) < seq_len:
        a, b = rng.choice(texts), rng.choice(texts)
        ids += tokenizer(f"{a}\n{b}\n{a}\n" if repeat else f"{a}\n", add_special_tokens=False)["input_ids"]
    return ids[:seq_len]


def pretrain_copy(config: PretrainConfig) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(config.device, field="PretrainConfig.device")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer = from_local(AutoTokenizer, config.model)
    model = from_local(AutoModelForCausalLM, config.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 30) * max(0.05, 1 - s / config.steps))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (out / "pretrain_metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "loss", "seconds"])
        model.train()
        for step in tqdm(range(config.steps), desc="copy pretraining", disable=not config.show_progress):
            batch = torch.tensor([_example(rng, config.texts, tokenizer, config.seq_len, config.repeat)
                                  for _ in range(config.batch_size)], device=device)
            loss = model(input_ids=batch, labels=batch).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            writer.writerow([step, f"{loss.item():.4f}", f"{time.perf_counter() - started:.1f}"])
            handle.flush()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
