"""Supervised fine-tuning of a causal LM on drgym SFT JSONL (``drgym sft-data``), in plain torch.

Each row's ``messages`` are rendered with the model's chat template; the loss is the next-token cross-entropy on
the assistant turns only (their text and end-of-turn marker): system, question and observation tokens are
context, as in OpenRLHF's multi-turn SFT. A row is cut to ``max_len`` tokens; a row left with no assistant token
is dropped (with a warning), and a file left with none fails. A loss or gradient that is not finite stops training.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from drgym.agents.hf_policy import from_local
from drgym.errors import ConfigError, TrainingError
from drgym.train.reference.device import resolve_device
from drgym.train.reference.generation import padding_id

__all__ = ["SFTConfig", "assistant_token_mask", "train_sft"]

logger = logging.getLogger(__name__)


@dataclass
class SFTConfig:
    model: str
    """A local Hugging Face model folder (e.g. from `build_tiny_model`)."""
    data: str
    """SFT JSONL with a ``messages`` list per row."""
    out: str
    epochs: int = 3
    lr: float = 1e-3
    batch_tokens: int = 8192
    """Tokens per optimizer step (rows are packed into a batch up to this many padded tokens)."""
    max_len: int = 2048
    weight_decay: float = 0.0
    warmup_steps: int = 10
    seed: int = 0
    show_progress: bool = True
    device: str = "auto"
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (a GPU when there is one)."""


def assistant_token_mask(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of the rendered conversation and a 0/1 mask of the tokens that belong to assistant turns."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:k], tokenize=False, add_generation_prompt=True) if k else ""
        upto = tokenizer.apply_chat_template(messages[:k + 1], tokenize=False)
        if not text.startswith(upto) or not upto.startswith(before):
            raise ConfigError("the chat template does not render conversations prefix by prefix; cannot locate "
                              "assistant turns")
        spans.append((len(before), len(upto)))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start <= s < end for start, end in spans)) for s, _ in encoded["offset_mapping"]]
    return encoded["input_ids"], mask


def _load_rows(path: Path, tokenizer: Any, max_len: int) -> list[tuple[list[int], list[int]]]:
    rows = []
    cut_off = []  # (line, tokens, position of the first assistant token) of rows truncation leaves nothing to learn
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ConfigError(f"{path}:{number}: not an SFT row with 'messages' ({e})") from None
            ids, mask = assistant_token_mask(tokenizer, messages)
            if sum(mask) == 0:
                continue
            if sum(mask[:max_len]) == 0:
                cut_off.append((number, len(ids), mask.index(1)))
                continue
            rows.append((ids[:max_len], mask[:max_len]))
    if cut_off:
        number, length, first = cut_off[0]
        why = (f"no assistant token survives truncation to max_len {max_len} in {len(cut_off)} row(s) of {path} "
               f"(line {number}: {length} tokens, the first assistant token at position {first})")
        fix = (f"raise max_len (--max-len) above {max(first for _, _, first in cut_off)}, or write shorter rows "
               "(shorter observations or fewer turns before the first assistant turn)")
        if not rows:
            raise ConfigError(f"{why}: nothing is left to train on; {fix}")
        logger.warning("%s: those rows are dropped; to keep them, %s", why, fix)
    if not rows:
        raise ConfigError(f"{path}: no rows with assistant turns")
    return rows


def _batches(rows: list, batch_tokens: int, rng: random.Random) -> list[list]:
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    batches, current, longest = [], [], 0
    for i in order:
        longest_next = max(longest, len(rows[i][0]))
        if current and longest_next * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest_next = [], len(rows[i][0])
        current.append(rows[i])
        longest = longest_next
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def sft_loss(model: Any, batch: list[tuple[list[int], list[int]]], pad_id: int) -> torch.Tensor:
    """Mean cross-entropy over assistant tokens of a padded batch."""
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id)
    labels = torch.full((len(batch), width), -100)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, mask) in enumerate(batch):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        attention[row, :len(ids)] = 1
        labels[row, :len(ids)] = torch.tensor([t if m else -100 for t, m in zip(ids, mask)])
    device = next(model.parameters()).device
    input_ids, labels, attention = input_ids.to(device), labels.to(device), attention.to(device)
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                             ignore_index=-100)


def _stop_unless_finite(step: int, epoch: int, loss: float, grad_norm: float, config: SFTConfig) -> None:
    """Raises before an update with a NaN or infinite loss or gradient (it would make every weight NaN)."""
    if math.isfinite(loss) and math.isfinite(grad_norm):
        return
    raise TrainingError(f"SFT step {step} (epoch {epoch}): the loss is {loss} and the gradient norm {grad_norm}; "
                        f"training stopped before the update, nothing saved. Lower the learning rate (lr "
                        f"{config.lr}), and check that the model's weights are finite")


def train_sft(config: SFTConfig) -> Path:
    """Trains and saves the model and tokenizer to ``config.out``; losses go to ``out/sft_metrics.csv``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(config.device, field="SFTConfig.device")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer = from_local(AutoTokenizer, config.model)
    model = from_local(AutoModelForCausalLM, config.model).to(device)
    rows = _load_rows(Path(config.data), tokenizer, config.max_len)
    pad = padding_id(tokenizer)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(_batches(rows, config.batch_tokens, random.Random(0)))
    total = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, config.warmup_steps)) *
        max(0.0, 1.0 - step / max(1, total)) ** 0.5)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sft_config.json").write_text(json.dumps(asdict(config), indent=2))
    progress = tqdm(total=total, desc="sft", unit="step", disable=not config.show_progress)
    started = time.perf_counter()
    with (out / "sft_metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "epoch", "loss", "lr", "seconds"])
        step = 0
        for epoch in range(config.epochs):
            model.train()
            for batch in _batches(rows, config.batch_tokens, rng):
                loss = sft_loss(model, batch, pad)
                optimizer.zero_grad()
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                _stop_unless_finite(step + 1, epoch, loss.item(), grad_norm.item(), config)
                optimizer.step()
                schedule.step()
                step += 1
                writer.writerow([step, epoch, f"{loss.item():.5f}", f"{schedule.get_last_lr()[0]:.2e}",
                                 f"{time.perf_counter() - started:.1f}"])
                handle.flush()
                progress.update(1)
                progress.set_postfix(loss=f"{loss.item():.3f}", epoch=epoch)
    progress.close()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
