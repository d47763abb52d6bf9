"""Rollouts: many episodes of a policy in an environment, in parallel worker processes, crash-safe and resumable.

Episode i runs task ``tasks[i mod n_tasks]`` with seed ``seed + i``, so two runs with the same arguments play the
same episodes. Workers send finished episodes to the parent, the only writer, which appends them to the
trajectory file (flushed and fsynced). Re-running with the same `out` skips the episodes already there; a failed
episode (the policy raised, a server was down) is recorded with its error and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from drgym.agents.policy import Policy
from drgym.agents.trajectories import TrajectoryWriter, read_trajectories
from drgym.errors import ConfigError, DependencyNotInstalled

__all__ = ["RolloutSummary", "episode_id", "rollout"]

logger = logging.getLogger(__name__)

PolicyFactory = Callable[[], Policy]


@dataclass
class RolloutSummary:
    out: Path
    n_requested: int
    n_skipped: int = 0
    n_ok: int = 0
    n_failed: int = 0
    rewards: list[float] = field(default_factory=list)
    episodes_per_node: dict[str, int] = field(default_factory=dict)
    """With the Ray backend: finished episodes per Ray node id."""

    @property
    def mean_reward(self) -> float:
        return sum(self.rewards) / len(self.rewards) if self.rewards else 0.0

    def __str__(self) -> str:
        text = (f"{self.n_ok} episodes finished, {self.n_failed} failed, {self.n_skipped} already in {self.out}; "
                f"mean reward {self.mean_reward:.3f}")
        if self.episodes_per_node:
            text += f"; episodes per Ray node: {', '.join(f'{node}: {n}' for node, n in self.episodes_per_node.items())}"
        return text


def episode_id(env_id: str, env_kwargs: dict[str, Any], seed: int, index: int) -> str:
    key = repr((env_id, sorted((k, repr(v)) for k, v in env_kwargs.items()), seed, index))
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def rollout(env_id: str, policy_factory: PolicyFactory, *, n_episodes: int, out: str | Path, n_workers: int = 1,
            seed: int = 0, env_kwargs: dict[str, Any] | None = None, policy_name: str = "",
            backend: Literal["processes", "ray"] = "processes", ray_address: str | None = None,
            show_progress: bool = True) -> RolloutSummary:
    """Runs `n_episodes` episodes and appends them to `out` (JSONL).

    Args:
        env_id: a registered drgym environment id.
        policy_factory: a picklable zero-argument callable that builds the policy (one per worker).
        n_episodes: episodes in the run, finished ones included.
        out: the trajectory file; existing episodes of the same run are skipped.
        n_workers: workers (with the processes backend, 1 runs in this process).
        backend: "processes" (multiprocessing, spawn) or "ray" (Ray actors, one CPU each, spread over the nodes).
        ray_address: with backend "ray", the cluster to connect to (``host:port`` of a ``ray start --head``,
            ``auto``, or ``ray://host:port``); default ``RAY_ADDRESS`` from the environment; with neither, a local
            Ray starts for the run (unless this process is already connected to one).
        seed: episode i uses seed + i.
        env_kwargs: passed to `gymnasium.make`.
    """
    if backend not in ("processes", "ray"):
        raise ConfigError(f"backend must be 'processes' or 'ray', got {backend!r}")
    if n_episodes < 1 or n_workers < 1:
        raise ConfigError(f"n_episodes and n_workers must be at least 1, got {n_episodes} and {n_workers}")
    if ray_address is not None and backend != "ray":
        raise ConfigError(f"ray_address ({ray_address!r}) is only used by backend='ray', got backend={backend!r}; "
                          "pass backend='ray' (--backend ray)")
    env_kwargs = dict(env_kwargs or {})
    out = Path(out)
    done = {record.get("episode_id") for record in read_trajectories(out)}
    todo = [i for i in range(n_episodes) if episode_id(env_id, env_kwargs, seed, i) not in done]
    summary = RolloutSummary(out=out, n_requested=n_episodes, n_skipped=n_episodes - len(todo))
    if not todo:
        return summary
    progress = tqdm(total=len(todo), desc=f"rollout {env_id}", unit="ep", disable=not show_progress)
    with TrajectoryWriter(out) as writer:
        def record(result: dict[str, Any]) -> None:
            writer.write(result)
            if result["status"] == "ok":
                summary.n_ok += 1
                summary.rewards.append(result["reward"])
            else:
                summary.n_failed += 1
            progress.update(1)
            progress.set_postfix(mean_reward=f"{summary.mean_reward:.3f}", failed=summary.n_failed)

        if backend == "ray":
            for result, node_id in _ray_results(todo, n_workers, (env_id, env_kwargs, policy_factory, seed, policy_name),
                                                ray_address=ray_address):
                record(result)
                summary.episodes_per_node[node_id] = summary.episodes_per_node.get(node_id, 0) + 1
        elif n_workers == 1:
            worker = _Worker(env_id, env_kwargs, policy_factory, seed, policy_name)
            for index in todo:
                record(worker.run(index))
            worker.close()
        else:
            context = mp.get_context("spawn")
            with context.Pool(min(n_workers, len(todo)), initializer=_init_worker,
                              initargs=(env_id, env_kwargs, policy_factory, seed, policy_name)) as pool:
                for result in pool.imap_unordered(_run_in_worker, todo):
                    record(result)
    progress.close()
    return summary


class _Worker:
    def __init__(self, env_id: str, env_kwargs: dict[str, Any], policy_factory: PolicyFactory, seed: int,
                 policy_name: str) -> None:
        import gymnasium as gym

        import drgym  # noqa: F401 - registers the environments

        self.env = gym.make(env_id, **env_kwargs)
        self.env_id, self.env_kwargs, self.seed = env_id, env_kwargs, seed
        self.policy_factory = policy_factory
        self.policy_name = policy_name or getattr(policy_factory, "__name__", type(policy_factory).__name__)

    def run(self, index: int) -> dict[str, Any]:
        import drgym

        tasks = self.env.unwrapped.tasks
        task = tasks[index % len(tasks)]
        record: dict[str, Any] = {
            "episode_id": episode_id(self.env_id, self.env_kwargs, self.seed, index), "index": index,
            "env_id": self.env_id, "task_id": task.id, "kind": task.kind, "seed": self.seed + index,
            "policy": self.policy_name, "env_kwargs": {k: repr(v) for k, v in self.env_kwargs.items()},
            "drgym_version": drgym.__version__,
            # every key of every record, so files of any episodes (failed ones too) load as one table
            "status": "failed", "reward": 0.0, "terminated": False, "truncated": False, "verdicts": [],
            "citations": dict(_NO_CITATIONS), "submission": "", "truncated_by": "", "policy_usage": [],
            "error": "", "traceback": ""}
        started = time.perf_counter()
        steps: list[dict[str, Any]] = []
        info: dict[str, Any] = {}
        try:
            policy = self.policy_factory()
            _, info = self.env.reset(seed=self.seed + index, options={"task_id": task.id})
            reward, terminated, truncated = 0.0, False, False
            while not (terminated or truncated):
                step_started = time.perf_counter()
                action = policy.act(info["messages"])
                acted = time.perf_counter()
                observation, reward, terminated, truncated, info = self.env.step(action)
                steps.append({"action": action if isinstance(action, str) else json.dumps(action, ensure_ascii=False),
                              "action_format": "text" if isinstance(action, str) else "message",
                              "observation": observation,
                              "tool_calls": [{**call, "arguments": json.dumps(call["arguments"], ensure_ascii=False),
                                              "noise": call["noise"] or ""} for call in self.env.unwrapped.last_tool_calls],
                              "policy_s": round(acted - step_started, 4), "env_s": round(time.perf_counter() - acted, 4)})
            record.update(status="ok", reward=float(reward), terminated=terminated, truncated=truncated,
                          verdicts=info.get("verdicts", []),
                          # one schema for every kind of episode, so mixed trajectory files load as one table
                          citations={**_NO_CITATIONS, **(info.get("citations") or {})},
                          submission=info.get("submission") or "",
                          truncated_by=info.get("truncated_by") or "")
            record["policy_usage"] = list(getattr(policy, "usage", []) or [])
        except Exception as e:  # a policy or server failure is recorded, and the run goes on
            record.update(status="failed", reward=0.0, error=f"{type(e).__name__}: {e}",
                          traceback=traceback.format_exc(limit=8))
        record.update(steps=steps, messages=[_flat_message(m) for m in info.get("messages", [])],
                      usage=info.get("usage") or {}, wall_s=round(time.perf_counter() - started, 4))
        return record

    def close(self) -> None:
        self.env.close()


_NO_CITATIONS = {"precision": 0.0, "recall": 0.0, "citations": 0, "fabricated": 0}


def _flat_message(message: dict[str, Any]) -> dict[str, Any]:
    """One shape for every message (role, content text, tool_calls as JSON text), so trajectory files load as
    tables (`datasets.load_dataset("json", ...)`, pyarrow) whatever the action format was."""
    content = message.get("content")
    return {"role": message.get("role", ""),
            "content": content if isinstance(content, str) else "" if content is None else json.dumps(content),
            "tool_calls": json.dumps(message["tool_calls"], ensure_ascii=False) if message.get("tool_calls") else "",
            "tool_call_id": str(message.get("tool_call_id") or ""),
            "reasoning_content": str(message.get("reasoning_content") or "")}


class _RayWorker(_Worker):
    def run_on_node(self, index: int) -> tuple[dict[str, Any], str]:
        import ray

        return self.run(index), ray.get_runtime_context().get_node_id()


def _ray_results(todo: list[int], n_workers: int, worker_args: tuple, *,
                 ray_address: str | None) -> Iterator[tuple[dict[str, Any], str]]:
    """Episodes run by Ray actors, each with the id of the node that ran it."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as e:
        raise DependencyNotInstalled("the ray backend needs Ray: pip install 'drgym[ray]'") from e
    address = ray_address or os.environ.get("RAY_ADDRESS") or None
    started_here = not ray.is_initialized()
    if not started_here and ray_address is not None:
        raise ConfigError(f"this process is already connected to Ray, so ray_address={ray_address!r} cannot be "
                          "used; call ray.shutdown() first, or leave ray_address out to use that connection")
    if started_here:
        _connect_to_ray(ray, address, n_workers)
    try:
        n_actors = min(n_workers, len(todo))
        n_cpus = ray.cluster_resources().get("CPU", 0)
        if n_cpus < n_actors:
            raise ConfigError(f"the Ray cluster{f' at {address}' if address else ''} has {n_cpus:g} CPUs, but "
                              f"n_workers={n_workers} needs {n_actors} (one per worker); lower n_workers or add nodes")
        worker_class = ray.remote(num_cpus=1, scheduling_strategy="SPREAD")(_RayWorker)
        actors = [worker_class.remote(*worker_args) for _ in range(n_actors)]
        try:
            yield from ActorPool(actors).map_unordered(lambda actor, index: actor.run_on_node.remote(index), todo)
        finally:
            ray.get([actor.close.remote() for actor in actors])
            for actor in actors:
                ray.kill(actor)
    finally:
        if started_here:
            ray.shutdown()


def _connect_to_ray(ray: Any, address: str | None, n_workers: int) -> None:
    """Starts a local Ray, or connects to the cluster at `address` (checked first: Ray retries for minutes)."""
    if address is None:
        ray.init(num_cpus=n_workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")  # an IPv6 address is written [::1]:6379
    if address != "auto":
        if not host or not port.isdigit():
            raise ConfigError(f"Ray address {address!r} is not host:port (or auto, or ray://host:port)")
        try:
            socket.create_connection((host, int(port)), timeout=10).close()
        except OSError as e:
            raise ConfigError(f"no Ray cluster answers at {address} ({e}); start one there with `ray start --head "
                              f"--port {port}`, or fix --ray-address / RAY_ADDRESS") from None
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        # Ray writes the underlying failure (a refused token, say) into its cause's text, as a traceback
        last_lines = str(e.__cause__ or "").strip().splitlines()
        detail = f"{type(e).__name__}: {e}" + (f"; Ray's last error: {last_lines[-1]}" if last_lines else "")
        raise ConfigError(f"cannot connect to the Ray cluster at {address} ({detail}); is `ray start --head` running "
                          "there, with the same Ray and Python versions as here? A cluster with token authentication "
                          "also needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or ~/.ray/auth_token) here") from e


_worker: _Worker | None = None


def _init_worker(*args: Any) -> None:
    global _worker
    _worker = _Worker(*args)


def _run_in_worker(index: int) -> dict[str, Any]:
    return _worker.run(index)
