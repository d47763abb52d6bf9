"""Trajectories → SFT data: OpenRLHF multi-turn chat JSONL, filtered the way the Step-DeepResearch report does.

Each output row is ``{"messages": [...], "task_id", "kind", "reward", "turns", "capability", "source"}``: the
whole episode under one key (``--data.input_key messages --data.multiturn --data.apply_chat_template``), so
OpenRLHF computes the loss on assistant turns only; tool observations become ``user`` (or ``tool``) turns that
are not trained on. Native tool calls are written back as ``<tool_call>`` text, so every row is in one format.

With ``output_format="hf"`` (``--format hf``) rows take the form TRL and Hugging Face chat templates expect:
``{"messages": [...], "tools": [...OpenAI JSON schemas...], ...}``, assistant turns carrying structured
``tool_calls`` (``{"id", "type": "function", "function": {"name", "arguments": {...}}}``, read with
`parse_action`), each tool result a ``{"role": "tool", "tool_call_id", "content"}`` message (the budget line
closing the last, as in native mode), and the system message without its ``<tools>`` section (the template states
the tools once, from ``tools``). Render a row with ``tokenizer.apply_chat_template(row["messages"],
tools=row["tools"])``.

Filters, in order (each counts what it removed):
1. ``failed``: the episode crashed or did not finish.
2. ``heldout``: the task is in the held-out split (`drgym.tasks.task_split`); evaluation data never trains.
3. ``reward``: reward below the threshold (per kind).
4. ``loop``: repetitive actions: an action n-gram (n = 1..``loop_n``) repeated ``loop_repeats`` times or more.
5. ``citations``: a deep_research report without ``\\cite{url}`` or with URLs cited any other way.
6. ``longer``: "correct and shortest": per task, only the ``per_task`` shortest kept episodes (fewest turns,
   then fewest action characters).
7. ``mixture``: the larger kind is subsampled (seeded) to reach the deep_search : deep_research ratio.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from drgym.agents.openai_policy import without_tools_block
from drgym.core.protocol import format_native_tool_calls, parse_action
from drgym.core.records import EpisodeRecord, MessageRecord, StepRecord, read_records
from drgym.errors import ConfigError
from drgym.tasks.splits import task_split

T = TypeVar("T")

__all__ = ["OUTPUT_FORMATS", "SFTFilters", "SFTSummary", "action_ngram_loop", "build_sft_dataset",
           "hf_messages", "parse_mixture", "sample_mixture", "sft_messages"]

_CITE = re.compile(r"\\cite\{([^}]*)\}")
_URL = re.compile(r"https?://[^\s)\]}>\"',]+")
OUTPUT_FORMATS = ("openrlhf", "hf")
FILTERS = ("failed", "heldout", "reward", "loop", "citations", "longer", "mixture")


@dataclass
class SFTFilters:
    """Thresholds of the filters (module docstring)."""

    min_reward_search: float = 1.0
    min_reward_research: float = 0.6
    loop_n: int = 2
    loop_repeats: int = 3
    per_task: int = 1
    mixture: dict[str, float] | None = None
    """e.g. {"deep_search": 0.3, "deep_research": 0.7}; None keeps every kept row."""
    observation_role: str = "user"
    """Role of tool observations in the output: "user" (works with any chat template) or "tool"."""
    allow_heldout: bool = False
    seed: int = 0


@dataclass
class SFTSummary:
    read: int = 0
    written: int = 0
    removed: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)

    def table(self) -> str:
        lines = [f"{'episodes read':<28}{self.read:>8}"]
        lines += [f"{'removed: ' + name:<28}{self.removed.get(name, 0):>8}" for name in FILTERS]
        lines += [f"{'written: ' + kind:<28}{n:>8}" for kind, n in sorted(self.by_kind.items())]
        lines.append(f"{'written':<28}{self.written:>8}")
        return "\n".join(lines)


def parse_mixture(text: str | None) -> dict[str, float] | None:
    """'deep_search=0.3,deep_research=0.7' (also 'search=…,research=…') → normalised weights."""
    if not text:
        return None
    aliases = {"search": "deep_search", "seeking": "deep_search", "research": "deep_research"}
    weights: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = aliases.get(key.strip(), key.strip())
        if not sep or key not in ("deep_search", "deep_research"):
            raise ConfigError(f"mixture: expected deep_search=W,deep_research=W, got {part!r}")
        try:
            weights[key] = float(value)
        except ValueError:
            raise ConfigError(f"mixture: {key} weight {value!r} is not a number") from None
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ConfigError(f"mixture weights must be non-negative and not all zero, got {text!r}")
    return {k: w / total for k, w in weights.items()}


def _normalise_action(action: str) -> str:
    calls = parse_action(action).tool_calls
    if calls:
        return " ".join(json.dumps([call.name, call.arguments], sort_keys=True, ensure_ascii=False) for call in calls)
    return " ".join(action.split())


def action_ngram_loop(actions: list[str], *, n: int = 2, repeats: int = 3) -> bool:
    """True when some run of 1..n consecutive (normalised) actions occurs `repeats` times or more."""
    normalised = [_normalise_action(a) for a in actions]
    for size in range(1, n + 1):
        counts = Counter(tuple(normalised[i:i + size]) for i in range(len(normalised) - size + 1))
        if counts and max(counts.values()) >= repeats:
            return True
    return False


def _citations_ok(report: str) -> bool:
    cited = _CITE.findall(report)
    if not cited:
        return False
    outside = _URL.findall(_CITE.sub("", report))
    return not outside


def sft_messages(episode: Sequence[MessageRecord | Mapping[str, Any]], *,
                 observation_role: str = "user") -> list[dict[str, str]]:
    """An episode's messages as text chat messages: system, user question, then assistant / observation turns."""
    if observation_role not in ("user", "tool"):
        raise ConfigError(f"observation_role must be 'user' or 'tool', got {observation_role!r}")
    messages: list[dict[str, str]] = []
    for message in episode:
        if isinstance(message, MessageRecord):
            message = message.model_dump()
        role, content = message.get("role", ""), message.get("content") or ""
        if role == "assistant" and message.get("tool_calls"):
            content += format_native_tool_calls(message["tool_calls"])
        if role == "tool":  # native results: one turn per call, merged into a single observation turn
            if messages and messages[-1]["role"] == observation_role and messages[-1].get("_tool"):
                messages[-1]["content"] += "\n\n" + content
                continue
            messages.append({"role": observation_role, "content": content, "_tool": "1"})
            continue
        if role == "user" and len(messages) >= 2:
            role = observation_role
        messages.append({"role": role, "content": content})
    # the final observation ("answer received …") teaches nothing and may not follow the last assistant turn
    while messages and messages[-1]["role"] != "assistant":
        messages.pop()
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _recorded_action(step: StepRecord) -> Any:
    """The action as the env received it: text, or the assistant message a native-mode policy sent."""
    if step.action_format == "message":
        try:
            return json.loads(step.action)
        except json.JSONDecodeError:
            return step.action
    return step.action


def hf_messages(record: EpisodeRecord) -> list[dict[str, Any]]:
    """The episode as Hugging Face chat messages with structured tool calls and ``role: tool`` results.

    Raises:
        ConfigError: the record has no per-call results (written before drgym recorded them); export it with
            the openrlhf format, or roll it out again.
    """
    recorded = [m.model_dump() for m in record.messages[:2] if m.role in ("system", "user")]
    messages: list[dict[str, Any]] = [{"role": m["role"], "content": m["content"]}
                                      for m in without_tools_block(recorded)]
    for number, step in enumerate(record.steps, start=1):
        if record.record_version < 2:
            raise ConfigError(f"episode {record.index!r} ({record.task_id}) step {number} has no "
                              "per-call 'results' (recorded by an older drgym): export it with --format openrlhf, "
                              "or roll the episode out again")
        parsed = parse_action(_recorded_action(step))
        if parsed.tool_calls and not parsed.errors:
            calls = [{"id": call.call_id or f"call_{number}_{k}", "type": "function",
                      "function": {"name": call.name, "arguments": call.arguments}}
                     for k, call in enumerate(parsed.tool_calls, start=1)]
            messages.append({"role": "assistant", "content": f"<think>{parsed.think}</think>" if parsed.think else "",
                             "tool_calls": calls})
            results = [r for r in step.results if r.name != "budget"]
            for k, result in enumerate(results):
                call_id = result.tool_call_id or (calls[k]["id"] if k < len(calls) else calls[-1]["id"])
                messages.append({"role": "tool", "tool_call_id": call_id, "content": result.content})
            if step.budget_note and results:
                messages[-1]["content"] += f"\n\n{step.budget_note}"  # as the env closes native results
        else:  # an answer, or an action the env refused: the turn as written, the observation as the user's
            action = _recorded_action(step)
            if isinstance(action, dict):
                action = action.get("content") or ""
            messages.append({"role": "assistant", "content": action})
            messages.append({"role": "user", "content": step.observation})
    while messages and messages[-1]["role"] != "assistant":
        messages.pop()
    return messages


def build_sft_dataset(paths: Iterable[str | Path], out: str | Path, filters: SFTFilters | None = None, *,
                      capability: str = "trajectory", output_format: str = "openrlhf") -> SFTSummary:
    """Reads trajectory files, filters them and writes the SFT JSONL; returns what each filter removed.

    Args:
        output_format: "openrlhf" (text tool calls, the default) or "hf" (structured ``tool_calls``, ``role: tool``
            results and a ``tools`` column; module docstring).
    """
    if output_format not in OUTPUT_FORMATS:
        raise ConfigError(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
    filters = filters or SFTFilters()
    summary = SFTSummary()
    kept: list[dict[str, Any]] = []  # {"record": EpisodeRecord, "turns", "chars", "source"}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"trajectory file {path} does not exist")
        for record in read_records(path):
            summary.read += 1
            reason = _rejection(record, filters)
            if reason:
                summary.removed[reason] += 1
                continue
            actions = [step.action for step in record.steps]
            kept.append({"record": record, "turns": len(actions), "chars": sum(len(a) for a in actions),
                         "source": str(path)})
    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in kept:
        by_task.setdefault(row["record"].task_id, []).append(row)
    shortest: list[dict[str, Any]] = []
    for rows in by_task.values():
        rows.sort(key=lambda row: (row["turns"], row["chars"]))
        if filters.per_task > 0:
            summary.removed["longer"] += max(0, len(rows) - filters.per_task)
            rows = rows[:filters.per_task]
        shortest.extend(rows)
    chosen = _mix(shortest, filters, summary)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in chosen:
            record = row["record"]
            if output_format == "hf":
                columns = {"messages": hf_messages(record), "tools": record.tools}
            else:
                columns = {"messages": sft_messages(record.messages, observation_role=filters.observation_role)}
            handle.write(json.dumps({**columns, "task_id": record.task_id, "kind": record.kind,
                                     "reward": record.reward, "turns": row["turns"],
                                     "capability": capability, "source": row["source"]},
                                    ensure_ascii=False) + "\n")
            summary.written += 1
            summary.by_kind[record.kind] += 1
    return summary


def _rejection(record: EpisodeRecord, filters: SFTFilters) -> str | None:
    if not record.is_ok or not record.steps:
        return "failed"
    if not filters.allow_heldout and task_split(record.task_id) == "heldout":
        return "heldout"
    threshold = filters.min_reward_search if record.kind == "deep_search" else filters.min_reward_research
    if record.reward < threshold:
        return "reward"
    if action_ngram_loop([s.action for s in record.steps], n=filters.loop_n, repeats=filters.loop_repeats):
        return "loop"
    if record.kind == "deep_research" and not _citations_ok(record.submission):
        return "citations"
    return None


def sample_mixture(groups: Mapping[str, list[T]], shares: Mapping[str, float], rng: random.Random) -> dict[str, list[T]]:
    """Rows of each group in the given shares, as many in all as every group with a share can supply (a group
    without a share gives none); each group's rows are a random subset, in their order when all are kept."""
    # the largest total such that every group can supply its share
    total = min((len(groups[k]) / w for k, w in shares.items() if w > 0), default=0.0)
    chosen = {}
    for key, group in groups.items():
        take = min(len(group), int(round(total * shares.get(key, 0.0))))
        chosen[key] = rng.sample(group, take) if take < len(group) else list(group)
    return chosen


def _mix(rows: list[dict[str, Any]], filters: SFTFilters, summary: SFTSummary) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda row: (row["record"].kind, row["record"].task_id, row["turns"]))
    if not filters.mixture:
        return rows
    groups = {kind: [r for r in rows if r["record"].kind == kind] for kind in ("deep_search", "deep_research")}
    chosen = sample_mixture(groups, filters.mixture, random.Random(filters.seed))
    summary.removed["mixture"] += len(rows) - sum(map(len, chosen.values()))
    return [row for group in chosen.values() for row in group]
