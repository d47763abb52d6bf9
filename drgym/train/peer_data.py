"""Prompt datasets for peer trainers, as the parquet files their training scripts read: SkyRL (``prompt``,
``env_class``, ``reward_spec``, ``extra_info``) and veRL (``data_source``, ``prompt``, ``ability``, ``reward_model``,
``extra_info``, ``agent_name``). One row per (task, seed), from the same iteration as ``drgym rl-data``; each row's
``extra_info.label`` is the `EpisodeLabel` the trainer-side adapter (`drgym.train.skyrl`,
`drgym.train.verl_agent_loop`) rebuilds the episode from. Neither peer package is needed to export.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from drgym.errors import ConfigError
from drgym.train.episodes import PromptRow, iter_prompt_rows

__all__ = ["PEER_TRAINERS", "SKYRL_ENV_CLASS", "VERL_AGENT_LOOP", "VERL_AGENT_NAME", "export_peer_dataset", "skyrl_row",
           "verl_row", "write_parquet", "write_verl_agent_loop_config"]

SKYRL_ENV_CLASS = "drgym"
"""The ``env_class`` of SkyRL rows, the id `drgym.train.skyrl.register_skyrl_env` registers."""
VERL_AGENT_NAME = "drgym_agent"
"""The ``agent_name`` of veRL rows, the name `drgym.train.verl_agent_loop.DrgymAgentLoop` registers under."""
VERL_AGENT_LOOP = "drgym.train.verl_agent_loop.DrgymAgentLoop"
"""The agent loop class, as veRL's agent-loop config names it (``_target_``)."""
_REWARD = "drgym_env"  # the reward is the drgym env's judge, given by the adapter; no rule-based scorer applies


def _extra_info(row: PromptRow, index: int, split: str) -> dict[str, Any]:
    return {"label": row.label.to_json(), "task_id": row.label.task_id, "kind": row.kind, "seed": row.label.seed,
            "split": split, "index": index}


def _ground_truth(row: PromptRow) -> str:
    # informational (the env grades): the accepted answers of a deep_search task as a JSON list, "[]" otherwise
    return json.dumps(list(row.answers), ensure_ascii=False)


def skyrl_row(row: PromptRow, index: int, *, split: str, env_class: str = SKYRL_ENV_CLASS) -> dict[str, Any]:
    """A SkyRL dataset row (SkyRL's ``PromptDataset`` passes every column but prompt and env_class to the env)."""
    return {"data_source": row.label.env_id, "prompt": row.prompt, "env_class": env_class,
            "reward_spec": {"method": _REWARD, "ground_truth": _ground_truth(row)},
            "extra_info": _extra_info(row, index, split)}


def verl_row(row: PromptRow, index: int, *, split: str, agent_name: str = VERL_AGENT_NAME) -> dict[str, Any]:
    """A veRL dataset row (``RLHFDataset``: ``agent_name`` picks the agent loop, ``extra_info.index`` the index)."""
    return {"data_source": row.label.env_id, "prompt": row.prompt, "ability": row.kind,
            "reward_model": {"style": _REWARD, "ground_truth": _ground_truth(row)},
            "extra_info": _extra_info(row, index, split), "agent_name": agent_name}


PEER_TRAINERS = {"skyrl": skyrl_row, "verl": verl_row}


def write_parquet(rows: list[dict[str, Any]], out: str | Path) -> Path:
    """Writes `rows` (dicts with the same keys; nested lists and dicts allowed) to `out` atomically.

    Raises:
        ConfigError: no rows (an empty parquet file has no schema; the trainers would fail on it later), or rows
            whose values do not share one schema.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if not rows:
        raise ConfigError(f"no rows to write to {out}: the suite has no tasks of the chosen kinds in the chosen split")
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise ConfigError(f"the rows for {out} do not share one schema: {e}") from e
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        pq.write_table(table, partial)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def export_peer_dataset(trainer: str, tasks: str, out: str | Path, *, split: str = "train", seeds: int = 1,
                        web: str | None = None, env_kwargs: dict[str, Any] | None = None,
                        kinds: tuple[str, ...] = ("deep_search", "deep_research"), for_eval: bool = False,
                        show_progress: bool = False) -> int:
    """Writes the prompt dataset of a suite or task file for `trainer` ("skyrl" or "verl"); returns the row count.

    Args:
        trainer: the peer trainer whose format to write.
        tasks: a suite name (procedural:easy) or a task file.
        out: the parquet file.
        split: 'train' (held-out tasks are refused), 'all', or 'heldout' with `for_eval`.
        seeds: rows per task (episode seeds 0..seeds-1).
        web: a world or corpus folder (default: the suite's).
        env_kwargs: JSON-able ``gymnasium.make`` arguments (budget, tools, judge, ...), carried in every label.
        kinds: the task kinds to export.
        for_eval: evaluation rows (labels with purpose 'eval'; may hold held-out tasks).
        show_progress: a progress bar over the rows (one env reset each).
    """
    if trainer not in PEER_TRAINERS:
        raise ConfigError(f"unknown trainer {trainer!r}: expected one of {sorted(PEER_TRAINERS)}")
    make_row = PEER_TRAINERS[trainer]
    rows_in = iter_prompt_rows(tasks, split=split, seeds=seeds, web=web, env_kwargs=env_kwargs, kinds=kinds,
                               for_eval=for_eval)
    if show_progress:
        from tqdm import tqdm

        rows_in = tqdm(rows_in, desc=f"{trainer} rows", unit="row")
    label_split = "eval" if for_eval else split
    rows = [make_row(row, index, split=label_split) for index, row in enumerate(rows_in)]
    write_parquet(rows, out)
    return len(rows)


def write_verl_agent_loop_config(out: str | Path) -> Path:
    """Writes the file for veRL's ``actor_rollout_ref.rollout.agent.agent_loop_config_path``: the drgym loop under
    the name the exported rows carry, so veRL's workers build it without importing drgym first."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"- name: {VERL_AGENT_NAME}\n  _target_: {VERL_AGENT_LOOP}\n", encoding="utf-8")
    return out
