"""Rollouts: many episodes of a policy in an environment, on reused workers, crash-safe and resumable.

Episode i runs task ``tasks[i mod n_tasks]`` with seed ``seed + i``, so two runs with the same arguments play the
same episodes. A worker (a process, or a Ray actor) builds its environment once and then plays the episodes
streamed to it, two at a time so it never waits for the parent; a `RolloutPool` keeps its workers between runs.
Workers send finished episodes to the parent, the only writer, which appends them to the trajectory file (flushed
and fsynced, from a thread, while the next episodes play). Re-running with the same `out` skips the episodes
already there; a failed episode (the policy raised, a server was down, the worker process died) is recorded with
its error and the run goes on.

Worker processes fork from a zygote: one process per Python process that runs pools, spawned when the first pool
starts and kept for later ones, that imports drgym's environment modules, loads for each pool what every worker's
environment reads and never changes (the tasks and their world, the search index's files, the tools' schemas) and
then forks the pool's workers. A worker starts in a fraction of a second and shares those modules and objects with
the zygote and the other workers, holding a copy only of the pages it writes (where the platform cannot fork,
workers are spawned).
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import logging
import multiprocessing as mp
import multiprocessing.connection
import os
import pickle
import queue
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, Literal, NoReturn

from tqdm.auto import tqdm

from drgym.agents.policy import Policy
from drgym.agents.trajectories import RECORD_VERSION, TrajectoryWriter, env_kwargs_to_json
from drgym.core.records import read_records
from drgym.errors import ConfigError, DependencyNotInstalled, DrgymError

__all__ = ["RolloutPool", "RolloutSummary", "episode_id", "rollout"]

logger = logging.getLogger(__name__)

PolicyFactory = Callable[[], Policy]

EPISODES_IN_FLIGHT = 2
"""Episodes sent to a worker ahead: while it plays one, the next is already waiting, so it never idles while the
parent writes (fsync) a finished episode."""
MAX_EPISODES_UNWRITTEN = 64
"""Finished episodes waiting for the disk before the run waits for it."""
STOP_TIMEOUT_S = 30.0
"""How long `close` waits for a worker to close its environment before it is terminated."""
REAP_TIMEOUT_S = 5.0
"""How long the zygote waits for a worker that closed its end of the pipes to exit, for its exit status."""
FORKSERVER_PRELOAD = ["gymnasium", "drgym", "drgym.agents", "drgym.agents.rollout", "drgym.envs.research_env"]
"""Imported once by the forkserver, which starts workers when the zygote cannot fork them (see `_ThreadsInZygote`)."""


@dataclass
class RolloutSummary:
    out: Path
    n_requested: int
    n_skipped: int = 0
    n_ok: int = 0
    n_failed: int = 0
    rewards: list[float] = field(default_factory=list)
    """Rewards of the episodes played by this call that finished."""
    earlier_rewards: list[float] = field(default_factory=list)
    """Rewards of this run's episodes already in the file (a resumed run), that finished."""
    episodes_per_worker: dict[str, int] = field(default_factory=dict)
    """Finished episodes per worker id (`RolloutPool.worker_ids`)."""
    episodes_per_node: dict[str, int] = field(default_factory=dict)
    """With the Ray backend: finished episodes per Ray node id."""

    @property
    def mean_reward(self) -> float:
        """Over every finished episode of the run: played now, or already in the file; nan for none."""
        rewards = self.rewards + self.earlier_rewards
        return sum(rewards) / len(rewards) if rewards else float("nan")

    def __str__(self) -> str:
        finished = len(self.rewards) + len(self.earlier_rewards)
        mean = f"mean reward {self.mean_reward:.3f} over the run's {finished} finished episodes" if finished else \
            "no finished episode to average"
        text = f"{self.n_ok} episodes finished, {self.n_failed} failed, {self.n_skipped} already in {self.out}; {mean}"
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
    """Runs `n_episodes` episodes and appends them to `out` (JSONL); the workers end with the call.

    To run several rollouts on the same workers, use a `RolloutPool`.

    Args:
        env_id: a registered drgym environment id.
        policy_factory: a picklable zero-argument callable that builds the policy (one per episode).
        n_episodes: episodes in the run, finished ones included.
        out: the trajectory file; existing episodes of the same run are skipped.
        n_workers: workers (with the processes backend, 1 runs in this process).
        backend: "processes" (worker processes) or "ray" (Ray actors, one CPU each, spread over the nodes).
        ray_address: with backend "ray", the cluster to connect to (``host:port`` of a ``ray start --head``,
            ``auto``, or ``ray://host:port``); default ``RAY_ADDRESS`` from the environment; with neither, a local
            Ray starts for the run (unless this process is already connected to one).
        seed: episode i uses seed + i.
        env_kwargs: passed to `gymnasium.make`.
    """
    with RolloutPool(env_id, policy_factory, n_workers=n_workers, env_kwargs=env_kwargs, policy_name=policy_name,
                     backend=backend, ray_address=ray_address) as pool:
        return pool.run(n_episodes=n_episodes, out=out, seed=seed, show_progress=show_progress)


class RolloutPool:
    """Workers that each build one environment once and then play every episode sent to them, across runs.

    Workers start on the first `run` that has episodes to play (as many as it can use, up to `n_workers`) and
    stay until `close` (or the end of a ``with`` block). A worker whose process dies is replaced; the episode it
    was playing is recorded as failed, with the exit code.

    Example:
        >>> from drgym.agents import ScriptedResearcher
        >>> with RolloutPool("drgym/DeepSearch-v1", ScriptedResearcher, n_workers=2,  # doctest: +SKIP
        ...                  env_kwargs={"tasks": "procedural:easy"}) as pool:
        ...     first = pool.run(n_episodes=100, out="runs/a.jsonl")
        ...     second = pool.run(n_episodes=100, out="runs/b.jsonl", seed=1000)  # the same workers, no start-up

    Args:
        env_id, policy_factory, n_workers, env_kwargs, policy_name, backend, ray_address: as in `rollout`.
    """

    def __init__(self, env_id: str, policy_factory: PolicyFactory, *, n_workers: int = 1,
                 env_kwargs: dict[str, Any] | None = None, policy_name: str = "",
                 backend: Literal["processes", "ray"] = "processes", ray_address: str | None = None) -> None:
        if backend not in ("processes", "ray"):
            raise ConfigError(f"backend must be 'processes' or 'ray', got {backend!r}")
        if not isinstance(n_workers, int) or n_workers < 1:
            raise ConfigError(f"n_workers must be a whole number of at least 1, got {n_workers!r}")
        if ray_address is not None and backend != "ray":
            raise ConfigError(f"ray_address ({ray_address!r}) is only used by backend='ray', got backend={backend!r}; "
                              "pass backend='ray' (--backend ray)")
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.n_workers = n_workers
        self.policy_name = policy_name or getattr(policy_factory, "__name__", type(policy_factory).__name__)
        worker_args = (env_id, self.env_kwargs, policy_factory, self.policy_name)
        if backend == "ray":
            self._workers: _Workers = _RayWorkers(worker_args, ray_address=ray_address, n_local_cpus=n_workers)
        elif n_workers == 1:
            self._workers = _InProcessWorkers(worker_args)
        else:
            self._workers = _ProcessWorkers(worker_args)
        self._is_closed = False

    def start(self) -> None:
        """Starts all `n_workers` workers now (a `run` starts those it needs): to time runs without start-up, or
        to find a broken environment or policy before the first episode."""
        if self._is_closed:
            raise ConfigError("this RolloutPool is closed; create a new one")
        self._workers.ensure(self.n_workers)

    @property
    def worker_ids(self) -> list[str]:
        """The running workers: process ids (Ray: ``pid@node``); a replaced worker's id is gone from the list."""
        return [slot.worker_id for slot in self._workers.slots]

    def run(self, *, n_episodes: int, out: str | Path, seed: int = 0, show_progress: bool = True) -> RolloutSummary:
        """Plays the episodes of `out` not yet in it and appends them; see `rollout` for the arguments."""
        if self._is_closed:
            raise ConfigError("this RolloutPool is closed; create a new one")
        if not isinstance(n_episodes, int) or n_episodes < 1:
            raise ConfigError(f"n_episodes must be a whole number of at least 1, got {n_episodes!r}")
        out = Path(out)
        # a line of another shape: an error naming it
        done = {record.episode_id: record for record in read_records(out)}
        ids = [episode_id(self.env_id, self.env_kwargs, seed, i) for i in range(n_episodes)]
        todo = [i for i, key in enumerate(ids) if key not in done]
        summary = RolloutSummary(out=out, n_requested=n_episodes, n_skipped=n_episodes - len(todo),
                                 earlier_rewards=[done[key].reward for key in ids if key in done and done[key].is_ok])
        if not todo:
            return summary
        self._workers.ensure(min(self.n_workers, len(todo)))
        progress = tqdm(total=len(todo), desc=f"rollout {self.env_id}", unit="ep", disable=not show_progress)

        def written(record: dict[str, Any], slot: _Slot) -> None:  # counted once it is on disk
            if record["status"] == "ok":
                summary.n_ok += 1
                summary.rewards.append(record["reward"])
            else:
                summary.n_failed += 1
            summary.episodes_per_worker[slot.worker_id] = summary.episodes_per_worker.get(slot.worker_id, 0) + 1
            if slot.node_id:
                summary.episodes_per_node[slot.node_id] = summary.episodes_per_node.get(slot.node_id, 0) + 1
            progress.update(1)
            progress.set_postfix(mean_reward=f"{summary.mean_reward:.3f}", failed=summary.n_failed)

        try:
            with TrajectoryWriter(out) as writer:
                appender = _Appender(writer, written)
                try:
                    for record, slot in self._stream(todo, seed):
                        appender.put(record, slot)
                finally:
                    appender.close()  # every episode finished so far reaches the file, whatever ended the run
                appender.raise_error()
        finally:
            progress.close()
        return summary

    def _stream(self, todo: list[int], seed: int) -> Iterator[tuple[dict[str, Any], _Slot]]:
        """Finished episodes as they come, each with the worker that played it."""
        pending = deque(todo)
        workers = self._workers

        def feed() -> None:  # round by round, so that a short run still reaches every worker
            for depth in range(1, workers.episodes_in_flight + 1):
                for slot in workers.slots:
                    if pending and len(slot.in_flight) < depth:
                        index = pending.popleft()
                        slot.in_flight.append(index)
                        workers.submit(slot, index, seed)

        feed()
        try:
            while any(slot.in_flight for slot in workers.slots):
                for slot, record, death in workers.wait():
                    if death:
                        # the oldest episode sent is the one it was playing; the others never started
                        index = slot.in_flight.popleft()
                        pending.extendleft(reversed(slot.in_flight))
                        slot.in_flight.clear()
                        yield self._died(index, seed, slot, death), slot
                        workers.replace(slot)
                    else:
                        slot.in_flight.remove(record["index"])
                        feed()
                        yield record, slot
                feed()
        finally:
            workers.abandon()

    def _died(self, index: int, seed: int, slot: _Slot, death: str) -> dict[str, Any]:
        task_id, kind = slot.tasks[index % len(slot.tasks)]
        record = _new_record(self.env_id, self.env_kwargs, seed, index, task_id=task_id, kind=kind,
                             policy_name=self.policy_name)
        record.update(error=f"WorkerDied: the worker process ({slot.worker_id}) {death} during this episode")
        logger.warning("episode %d: %s", index, record["error"])
        return record

    def close(self) -> None:
        """Stops the workers (each closes its environment first); safe to call more than once."""
        if not self._is_closed:
            self._is_closed = True
            self._workers.close()

    def __enter__(self) -> RolloutPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Appender:
    """Writes finished episodes from a thread: the next episode plays while one is written and fsynced (~8 ms on
    a plain disk, as long as a short episode's CPU time)."""

    def __init__(self, writer: TrajectoryWriter, written: Callable[[dict[str, Any], _Slot], None]) -> None:
        self._writer, self._written = writer, written
        self._queue: queue.Queue = queue.Queue(maxsize=MAX_EPISODES_UNWRITTEN)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_all, name="drgym-trajectory-writer", daemon=True)
        self._thread.start()

    def _write_all(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write(item[0])
                    self._written(*item)
                except BaseException as e:  # handed to the run's thread, which raises it
                    self._error = e

    def put(self, record: dict[str, Any], slot: _Slot) -> None:
        self.raise_error()
        self._queue.put((record, slot))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error


# -- the episode ------------------------------------------------------------------------------------------------

_NO_CITATIONS = {"precision": 0.0, "recall": 0.0, "citations": 0, "fabricated": 0}


def _new_record(env_id: str, env_kwargs: dict[str, Any], seed: int, index: int, *, task_id: str, kind: str,
                policy_name: str) -> dict[str, Any]:
    """A failed episode's record: every key of every record, so files of any episodes load as one table."""
    import drgym

    return {"episode_id": episode_id(env_id, env_kwargs, seed, index), "index": index, "env_id": env_id,
            "task_id": task_id, "kind": kind, "seed": seed + index, "policy": policy_name,
            # JSON text: one column type in every file, whatever keyword arguments a run used (datasets)
            "env_kwargs": json.dumps(env_kwargs_to_json(env_kwargs), sort_keys=True), "record_version": RECORD_VERSION,
            "drgym_version": drgym.__version__, "tools": [],
            "status": "failed", "reward": 0.0, "terminated": False, "truncated": False, "verdicts": [],
            "citations": dict(_NO_CITATIONS), "submission": "", "truncated_by": "", "policy_usage": [],
            "error": "", "traceback": "", "steps": [], "messages": [], "usage": {}, "wall_s": 0.0}


class _Worker:
    """One environment, built once, and the episodes played in it."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], policy_factory: PolicyFactory,
                 policy_name: str) -> None:
        import gymnasium as gym

        import drgym  # noqa: F401 - registers the environments
        from drgym.core.kinds import ENTRY_POINTS

        # drgym's own environments pass gymnasium's checks in its tests; the passive checker would run them again
        # in every worker (its first reset and step), writing pages the worker otherwise shares with the zygote
        options = {"disable_env_checker": True} if env_id in ENTRY_POINTS else {}
        self.env = gym.make(env_id, **{**options, **env_kwargs})
        self.env_id, self.env_kwargs = env_id, env_kwargs
        self.policy_factory = policy_factory
        self.policy_name = policy_name
        self.tasks = [(task.id, task.kind) for task in self.env.unwrapped.tasks]

    def run(self, index: int, seed: int) -> dict[str, Any]:
        task = self.env.unwrapped.tasks[index % len(self.tasks)]
        record = _new_record(self.env_id, self.env_kwargs, seed, index, task_id=task.id, kind=task.kind,
                             policy_name=self.policy_name)
        started = time.perf_counter()
        steps: list[dict[str, Any]] = []
        info: dict[str, Any] = {}
        try:
            policy = self.policy_factory()
            _, info = self.env.reset(seed=seed + index, options={"task_id": task.id})
            record["tools"] = info["tools"]
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
                              "results": [{"name": result.name, "tool_call_id": result.call_id or "",
                                           "content": result.text, "is_error": result.is_error}
                                          for result in self.env.unwrapped.last_results],
                              "budget_note": self.env.unwrapped.last_budget_note,
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


def _flat_message(message: dict[str, Any]) -> dict[str, Any]:
    """One shape for every message (role, content text, tool_calls as JSON text), so trajectory files load as
    tables (`datasets.load_dataset("json", ...)`, pyarrow) whatever the action format was."""
    content = message.get("content")
    return {"role": message.get("role", ""),
            "content": content if isinstance(content, str) else "" if content is None else json.dumps(content),
            "tool_calls": json.dumps(message["tool_calls"], ensure_ascii=False) if message.get("tool_calls") else "",
            "tool_call_id": str(message.get("tool_call_id") or ""),
            "reasoning_content": str(message.get("reasoning_content") or "")}


# -- workers -----------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Slot:
    """A running worker as the parent sees it."""

    worker_id: str
    tasks: list[tuple[str, str]]
    """(id, kind) of the environment's tasks: what a record of an episode its worker died in needs."""
    handle: Any = None
    """The backend's handle: the in-process `_Worker`, a (process, connection) pair, or a Ray actor."""
    node_id: str = ""
    in_flight: deque[int] = field(default_factory=deque)
    """Episodes sent and not finished, oldest (the one being played) first."""
    refs: dict[Any, int] = field(default_factory=dict)
    """Ray: the pending result of each episode in flight."""


class _Workers:
    """What `RolloutPool` needs of a backend."""

    episodes_in_flight = EPISODES_IN_FLIGHT

    def __init__(self) -> None:
        self.slots: list[_Slot] = []

    def ensure(self, n_workers: int) -> None:
        """Starts workers until `n_workers` run."""
        raise NotImplementedError

    def submit(self, slot: _Slot, index: int, seed: int) -> None:
        raise NotImplementedError

    def wait(self) -> list[tuple[_Slot, dict[str, Any] | None, str]]:
        """Blocks until some worker finishes an episode or dies: (slot, record, "") or (slot, None, how it died)."""
        raise NotImplementedError

    def replace(self, slot: _Slot) -> None:
        """Starts a new worker in place of a dead one."""
        raise NotImplementedError

    def abandon(self) -> None:
        """After an interrupted run: workers with episodes still in flight are stopped (their results would
        reach the next run)."""
        for slot in [slot for slot in self.slots if slot.in_flight]:
            self._stop(slot)
            self.slots.remove(slot)

    def close(self) -> None:
        for slot in self.slots:
            self._stop(slot)
        self.slots = []

    def _stop(self, slot: _Slot) -> None:
        raise NotImplementedError


class _InProcessWorkers(_Workers):
    """One worker in this process: no start-up, no copying of records."""

    episodes_in_flight = 1

    def __init__(self, worker_args: tuple) -> None:
        super().__init__()
        self._worker_args = worker_args

    def ensure(self, n_workers: int) -> None:
        if not self.slots:
            worker = _Worker(*self._worker_args)
            self.slots.append(_Slot(worker_id=str(os.getpid()), tasks=worker.tasks, handle=worker))

    def submit(self, slot: _Slot, index: int, seed: int) -> None:
        slot.refs[index] = seed

    def wait(self) -> list[tuple[_Slot, dict[str, Any] | None, str]]:
        slot = next(slot for slot in self.slots if slot.in_flight)
        index = slot.in_flight[0]
        return [(slot, slot.handle.run(index, slot.refs.pop(index)), "")]

    def abandon(self) -> None:
        for slot in self.slots:
            slot.in_flight.clear()
            slot.refs.clear()

    def _stop(self, slot: _Slot) -> None:
        slot.handle.close()


def _worker_context() -> mp.context.BaseContext:
    """The forkserver, with the environment's modules preloaded, where the platform has one; else spawn."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    # applies when this process starts the forkserver (the first worker of the first pool); a forkserver that
    # another library started earlier is used as it is: workers then import what they need themselves
    context.set_forkserver_preload(FORKSERVER_PRELOAD)
    return context


def _serve(connection: mp.connection.Connection, worker_args: tuple, environ: dict[str, str]) -> None:
    """A worker process: builds the environment, then plays (index, seed) episodes until told to stop."""
    # what the process it was forked from holds stays shared with it: no collection pass rewrites those objects
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # stopped mid-episode: still close the env (its shell, files)
    # a forked worker inherits the environment of the process it was forked from: use the parent's of now
    os.environ.clear()
    os.environ.update(environ)
    _small_arrow_allocations()
    try:
        worker = _Worker(*worker_args)
    except Exception as e:
        try:
            connection.send(("failed", e, f"{type(e).__name__}: {e}", traceback.format_exc(limit=8)))
        except Exception:  # the exception does not pickle: its text does
            connection.send(("failed", None, f"{type(e).__name__}: {e}", traceback.format_exc(limit=8)))
        return
    connection.send(("ready", worker.tasks))
    try:
        while (message := connection.recv()) is not None:
            index, seed = message
            connection.send(worker.run(index, seed))
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the parent is gone
        pass
    finally:
        worker.close()


def _small_arrow_allocations() -> None:
    """Arrow allocations go through malloc in a worker: an env allocates a few bytes through Arrow per search or
    page read, and Arrow's default allocator (mimalloc) answers the first with a 4 MiB segment of its own, per
    worker process."""
    import pyarrow

    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class _ProcessWorkers(_Workers):
    """Worker processes, each connected to the parent by a pipe: forked by a `_Zygote` where the platform has a
    forkserver, else spawned."""

    def __init__(self, worker_args: tuple) -> None:
        super().__init__()
        self._worker_args = worker_args
        self._context = _worker_context()
        self._uses_zygote = self._context.get_start_method() == "forkserver"
        self._zygote: _Zygote | None = None
        """The zygote that loaded this pool's arguments, under `_zygote_key`."""
        self._zygote_key = 0

    def ensure(self, n_workers: int) -> None:
        started = [self._start() for _ in range(n_workers - len(self.slots))]
        try:
            for slot in started:
                self._wait_ready(slot)
        except BaseException:
            for slot in started:
                self._stop(slot)
            raise
        self.slots.extend(started)

    def _start(self) -> _Slot:
        if self._uses_zygote:
            try:
                process, connection = self._fork()
                return _Slot(worker_id=str(process.pid), tasks=[], handle=(process, connection))
            except _ThreadsInZygote as e:  # forking would leave those threads out: start workers as before
                logger.info("rollout workers are started from the forkserver without sharing the tasks: %s", e)
                self._uses_zygote = False
                self._release_zygote()
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child_end, self._worker_args, dict(os.environ)),
                                        name="drgym-rollout-worker", daemon=True)
        process.start()
        child_end.close()
        return _Slot(worker_id=str(process.pid), tasks=[], handle=(process, parent_end))

    def _fork(self) -> tuple[_ForkedProcess, mp.connection.Connection]:
        """A worker forked by this process's zygote, which loads the pool's arguments first if it has not yet (a
        zygote started now, or one that took over from a zygote that died since the last worker)."""
        with _ZYGOTE_LOCK:
            check_code = True
            for attempt in range(3):
                zygote = _running_zygote()
                try:
                    if self._zygote is not zygote:
                        key = zygote.load(self._worker_args, check_code=check_code)
                        if key is None:  # modules it imported changed on disk since: a new zygote imports them again
                            _stop_zygote()
                            check_code = False  # once: files that keep changing do not stop the pool
                            continue
                        self._use_zygote(zygote, key)
                    return zygote.fork(self._zygote_key)
                except (EOFError, OSError):  # killed since (out of memory, a signal): a new one takes over
                    if zygote.is_new or attempt == 2:
                        raise ConfigError(f"the process that forks the rollout workers ended as it started "
                                          f"({_exit_text(_stop_zygote())}); {_SCRIPT_HINT}") from None
                    _stop_zygote()
            raise ConfigError("the process that forks the rollout workers could not be started")  # pragma: no cover

    def _use_zygote(self, zygote: _Zygote, key: int) -> None:
        self._zygote, self._zygote_key = zygote, key
        # a pool dropped without `close` still gives its tasks back, at the next exchange with the zygote (never
        # from the finalizer itself: it may run in the middle of one)
        self._finalizer = weakref.finalize(self, _PENDING_RELEASES.append, (zygote, key))

    def _release_zygote(self) -> None:
        """Tells the zygote this pool forks no more workers: it drops the tasks it loaded for it."""
        with _ZYGOTE_LOCK:
            if self._zygote is not None:
                self._finalizer.detach()
                if self._zygote is _ZYGOTE and not self._zygote.is_broken:
                    try:
                        self._zygote.release(self._zygote_key)
                    except (EOFError, OSError):
                        pass
            self._zygote = None

    def close(self) -> None:
        super().close()
        self._release_zygote()

    def _wait_ready(self, slot: _Slot) -> None:
        process, connection = slot.handle
        mp.connection.wait([connection, process.sentinel])
        try:
            message = connection.recv()
        except (EOFError, OSError):
            process.join(5)
            raise ConfigError(f"a rollout worker process ended as it started ({_exit_text(process.exitcode)}); "
                              f"{_SCRIPT_HINT}") from None
        if message[0] == "failed":
            _, error, text, trace = message
            if isinstance(error, DrgymError):
                raise error
            raise ConfigError(f"a rollout worker could not build its environment or policy: {text}\n{trace}")
        slot.tasks = message[1]

    def submit(self, slot: _Slot, index: int, seed: int) -> None:
        _, connection = slot.handle
        try:
            connection.send((index, seed))
        except OSError:
            pass  # the worker is gone: `wait` sees it and answers for the episode

    def wait(self) -> list[tuple[_Slot, dict[str, Any] | None, str]]:
        busy = {}
        for slot in self.slots:
            if slot.in_flight:
                process, connection = slot.handle
                busy[connection] = busy[process.sentinel] = slot
        events: list[tuple[_Slot, dict[str, Any] | None, str]] = []
        answered: set[_Slot] = set()
        for ready in mp.connection.wait(list(busy)):
            slot = busy[ready]
            if slot in answered:
                continue
            answered.add(slot)
            process, connection = slot.handle
            try:
                while connection.poll():
                    events.append((slot, connection.recv(), ""))
            except (EOFError, OSError):
                pass
            else:
                if process.is_alive():
                    continue
            process.join(5)
            received = sum(1 for event in events if event[0] is slot)
            if len(slot.in_flight) > received:  # episodes sent that will never come back
                events.append((slot, None, f"ended with {_exit_text(process.exitcode)}"))
        return events

    def replace(self, slot: _Slot) -> None:
        self._stop(slot)
        new = self._start()
        self._wait_ready(new)
        slot.worker_id, slot.tasks, slot.handle = new.worker_id, new.tasks, new.handle

    def _stop(self, slot: _Slot) -> None:
        process, connection = slot.handle
        try:
            connection.send(None)
        except OSError:
            pass
        process.join(STOP_TIMEOUT_S if not slot.in_flight else 0)
        if process.is_alive():
            process.terminate()
            process.join(5)
        connection.close()
        if isinstance(process, _ForkedProcess):
            process.close()


_SCRIPT_HINT = ("its error is in the log above. In a script, run rollouts under `if __name__ == \"__main__\":` (workers "
                "re-import the script's module)")


class _ThreadsInZygote(DrgymError):
    """The zygote runs Python threads (started by the script's module when imported): it cannot fork workers."""


class _Zygote:
    """The process rollout workers fork from: one per Python process that starts pools, spawned by the first
    (`_running_zygote`) and kept for later ones, until this process exits.

    It imports what a worker would (the script's module included). For each pool it loads what every worker's
    environment reads and never changes (`_share_with_workers`: the tasks, their world and its search index files,
    the tools' schemas) and freezes its objects (``gc.freeze``: no collection rewrites them); then it forks a
    worker whenever asked: the worker's connection and exit sentinel come back over the pipe (``SCM_RIGHTS``), its
    exit status on request. A worker starts with all of it in memory it shares with the zygote and the other
    workers, and copies only the pages it writes (`benchmarks/perf_workers.py` measures the total). The zygote is
    spawned rather than forked from the forkserver: pages it wrote after such a fork would be held twice, once by
    each process. Each pool's tasks are loaded afresh and dropped when the pool closes; a module that changed on
    disk since the zygote imported it makes the parent start a new zygote.

    Forking copies only the forking thread. The zygote never opens the search index's reader, which runs a thread
    of tantivy's, and refuses to fork (`_ThreadsInZygote`) when the script's module started Python threads of
    its own. The native threads it may run are fork-aware: jemalloc's background thread, and Arrow's CPU pool,
    which locks its state before a fork and starts afresh in the child.
    """

    def __init__(self) -> None:
        context = mp.get_context("spawn")
        parent_end, child_end = context.Pipe()
        self.process = context.Process(target=_run_zygote, args=(child_end, dict(os.environ)),
                                       name="drgym-rollout-zygote", daemon=True)
        self.process.start()
        child_end.close()
        self.owner = os.getpid()
        self.is_new = True
        """Until it has forked a worker: a zygote that ends before says why in the log (the script's module)."""
        self.is_broken = False
        """An exchange with it was cut off (an error, Ctrl-C): its pipe may hold an answer nobody read, so it is
        replaced (`_running_zygote`)."""
        self._connection = parent_end
        self._socket = socket.fromfd(parent_end.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)

    def _exchange(self, request: tuple, payload: bytes | None = None, *, fds: bool = False) -> Any:
        """Sends a request (and `payload`), returns the answer (with the file descriptors sent after it)."""
        try:
            self._connection.send(request)
            if payload is not None:
                self._connection.send_bytes(payload)
            answer = self._connection.recv()
            if fds and answer[0] == "forked":
                _, received, _, _ = socket.recv_fds(self._socket, 1, 2, getattr(socket, "MSG_CMSG_CLOEXEC", 0))
                return answer, received
            return answer
        except BaseException:
            self.is_broken = True
            raise

    def load(self, worker_args: tuple, *, check_code: bool = True) -> int | None:
        """Loads a pool's arguments; the key its workers are forked by, or None when `check_code` found that a
        module the zygote imported changed on disk since. EOFError or OSError when the zygote is gone.

        Raises:
            ConfigError: the arguments cannot be pickled here or unpickled in the zygote.
        """
        try:
            payload = ForkingPickler.dumps(worker_args)
        except Exception as e:
            raise ConfigError(f"the policy factory and environment arguments of a rollout pool must pickle by name "
                              f"(a lambda, or a class or function defined inside another, does not): {e}") from None
        answer = self._exchange(("load", _where(), check_code), payload)
        if answer[0] == "failed":
            raise ConfigError(f"the process that forks the rollout workers cannot unpickle the pool's policy factory "
                              f"and environment arguments ({answer[1]}): they must be importable by name in a new "
                              f"process, from a module or the top level of a script file (not `python -c` code or "
                              f"a notebook cell)")
        if answer[0] == "changed":
            logger.info("modules changed on disk since the rollout zygote imported them (%s): starting a new one",
                        ", ".join(answer[1]))
            return None
        return answer[1]

    def fork(self, key: int) -> tuple[_ForkedProcess, mp.connection.Connection]:
        """A new worker of the pool loaded under `key` and the parent's end of its pipe; EOFError or OSError when
        the zygote is gone."""
        answer = self._exchange(("fork", key, _where()), fds=True)
        if answer[0] == "threads":
            raise _ThreadsInZygote(f"the zygote runs threads {answer[1]} (started by the script's imports)")
        (_, pid), fds = answer
        if len(fds) != 2:
            self.is_broken = True
            raise EOFError
        self.is_new = False
        return _ForkedProcess(pid, fds[1], self), mp.connection.Connection(fds[0])

    def release(self, key: int) -> None:
        """The pool loaded under `key` forks no more workers."""
        self._exchange(("release", key))

    def reap(self, pid: int) -> int | None:
        """The exit code of worker `pid`, which has ended; None when the zygote cannot tell (or is gone)."""
        with _ZYGOTE_LOCK:
            if self.is_broken:
                return None
            try:
                return self._exchange(("reap", pid))
            except (EOFError, OSError):
                return None

    def close(self) -> int | None:
        """Stops the zygote (the workers run on), and returns its exit code."""
        try:
            self._connection.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self._socket.close()
        self._connection.close()
        return self.process.exitcode


def _where() -> tuple[str, list[str], dict[str, str]]:
    """This process's working folder, import path and environment: where the zygote loads a pool and forks its
    workers (it outlives the pool it was started for, and this process may have changed them since)."""
    return os.getcwd(), list(sys.path), dict(os.environ)


def _go_to(where: tuple[str, list[str], dict[str, str]]) -> None:
    """In the zygote: takes on the parent's `_where`."""
    folder, path, environ = where
    os.chdir(folder)
    sys.path[:] = path
    importlib.invalidate_caches()  # modules written since the zygote last looked
    os.environ.clear()
    os.environ.update(environ)


_ZYGOTE: _Zygote | None = None
"""This process's zygote, once a pool has started one."""
_ZYGOTE_LOCK = threading.RLock()
"""Held for each exchange with the zygote: pools in several threads share it."""
_PENDING_RELEASES: list[tuple[_Zygote, int]] = []
"""(zygote, key) of pools dropped without `close`, released at the next exchange."""


def _renew_lock_in_child() -> None:
    """After a fork: another thread of the parent may have held the lock, and it would stay held here."""
    global _ZYGOTE_LOCK
    _ZYGOTE_LOCK = threading.RLock()
    _PENDING_RELEASES.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_lock_in_child)


def _running_zygote() -> _Zygote:
    """This process's zygote, started now if there is none, or it has ended, or an exchange with it was cut off, or
    it is the zygote of the process this one was forked from (called with `_ZYGOTE_LOCK` held)."""
    global _ZYGOTE
    if _ZYGOTE is not None and _ZYGOTE.owner == os.getpid() and (_ZYGOTE.is_broken or not _ZYGOTE.process.is_alive()):
        _stop_zygote()
    if _ZYGOTE is None or _ZYGOTE.owner != os.getpid():
        _ZYGOTE = _Zygote()
    while _PENDING_RELEASES:
        zygote, key = _PENDING_RELEASES.pop()
        if zygote is _ZYGOTE:
            try:
                zygote.release(key)
            except (EOFError, OSError):
                return _running_zygote()
    return _ZYGOTE


def _stop_zygote() -> int | None:
    """Stops this process's zygote, if it has one, and returns its exit code (called with `_ZYGOTE_LOCK` held)."""
    global _ZYGOTE
    zygote, _ZYGOTE = _ZYGOTE, None
    if zygote is None or zygote.owner != os.getpid():
        return None
    return zygote.close()


class _ForkedProcess:
    """A worker forked by the zygote, with what `_ProcessWorkers` uses of a `multiprocessing.Process`."""

    def __init__(self, pid: int, sentinel: int, zygote: _Zygote) -> None:
        self.pid = pid
        self.sentinel = sentinel
        """Readable once the worker has ended: only the worker holds the pipe's other end."""
        self.exitcode: int | None = None
        self._zygote = zygote
        self._has_ended = False

    def is_alive(self) -> bool:
        return not self._has_ended and not mp.connection.wait([self.sentinel], timeout=0)

    def join(self, timeout: float | None = None) -> None:
        if not self._has_ended and mp.connection.wait([self.sentinel], timeout):
            self._has_ended = True
            self.exitcode = self._zygote.reap(self.pid)

    def terminate(self) -> None:
        if not self._has_ended:  # not reaped yet: the pid is still this worker's, even if it has just exited
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        os.close(self.sentinel)


def _run_zygote(connection: mp.connection.Connection, environ: dict[str, str]) -> None:
    """The zygote's process: loads what each pool's workers share, forks a worker per request, until told to stop."""
    gc.freeze()  # what was imported to get here (the script's module among it)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    workers: set[int] = set()
    exited: dict[int, int] = {}
    """Exit codes of workers that ended, until the parent asks (a dropped pool's never: the oldest are forgotten)."""

    def stop_workers(signum: int, frame: object) -> None:  # terminated with the parent: so are its workers
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop_workers)
    os.environ.clear()
    os.environ.update(environ)
    _small_arrow_allocations()
    module_times: dict[str, int] = {}
    _changed_modules(module_times)  # notes what was imported to get here
    pools: dict[int, tuple[tuple, Any]] = {}
    """Key -> (worker arguments, what `_share_with_workers` loaded for them)."""
    with socket.fromfd(connection.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as fd_sender:
        while (message := _next_request(connection)) is not None:
            _collect_exited(workers, exited)
            if message[0] == "load":
                pickled = connection.recv_bytes()  # apart: unpickling a pool's arguments may fail
                _go_to(message[1])
                if message[2] and (changed := _changed_modules(module_times)):
                    connection.send(("changed", changed[:5]))
                    continue
                try:
                    worker_args = pickle.loads(pickled)
                except Exception as e:  # a policy factory defined where the zygote cannot import it
                    connection.send(("failed", f"{type(e).__name__}: {e}"))
                    continue
                _changed_modules(module_times)  # notes the modules unpickling imported
                key = max(pools, default=0) + 1
                pools[key] = (worker_args, _share_with_workers(*worker_args[:2]))
                gc.freeze()  # what was just loaded: the workers' collections never traverse (so never write) it
                connection.send(("loaded", key))
            elif message[0] == "release":
                pools.pop(message[1], None)
                if not pools:  # every pool closed (its workers stopped): what they loaded, cycles included, can go
                    _keep_shared(None)
                    gc.unfreeze()
                    gc.collect()
                    gc.freeze()
                connection.send(None)
            elif message[0] == "reap":
                pid = message[1]
                exitcode = exited.pop(pid, None)
                if exitcode is None and pid in workers:
                    exitcode = _reap(pid)
                    if exitcode is not None:
                        workers.discard(pid)
                connection.send(exitcode)
            else:  # fork
                threads = [thread.name for thread in threading.enumerate() if thread is not threading.main_thread()]
                if threads:
                    connection.send(("threads", threads))
                    continue
                _go_to(message[2])
                # this pool's tasks, even if another pool loaded the same arguments since (no local names: a pool's
                # tasks must not outlive its release in this frame)
                _keep_shared(pools[message[1]][1])
                _fork_worker(connection, fd_sender, pools[message[1]][0], workers, environ=message[2][2])


def _changed_modules(times: dict[str, int]) -> list[str]:
    """Modules whose file changed since `times` noted it (and notes the modules imported since)."""
    changed = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            continue
        if times.setdefault(name, mtime) != mtime:
            changed.append(name)
    return changed


def _collect_exited(workers: set[int], exited: dict[int, int]) -> None:
    """Reaps the workers that have ended (a pool dropped without `close` never asks): no zombie is left."""
    for pid in list(workers):
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            workers.discard(pid)
            continue
        if reaped:
            workers.discard(pid)
            exited[pid] = os.waitstatus_to_exitcode(status)
    while len(exited) > 10_000:
        del exited[next(iter(exited))]


def _next_request(connection: mp.connection.Connection) -> Any:
    """The parent's next request to the zygote; None to stop, or when the parent is gone."""
    try:
        return connection.recv()
    except EOFError:
        return None


def _fork_worker(connection: mp.connection.Connection, fd_sender: socket.socket, worker_args: tuple,
                 workers: set[int], *, environ: dict[str, str]) -> None:
    """In the zygote: forks a worker, adds it to `workers`, and sends the parent its pid, its connection and its exit
    sentinel."""
    parent_end, child_end = mp.connection.Pipe()
    sentinel_read, sentinel_write = os.pipe()
    # SIGTERM waits until the worker has its own handler and the zygote's handler knows the worker (to stop it too)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    with warnings.catch_warnings():  # Python 3.12+ warns of any native thread: jemalloc's is fork-aware
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:  # the worker never returns into the zygote's loop
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until the worker's own handler
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for end in (fd_sender, connection, parent_end):
                end.close()
            os.close(sentinel_read)  # sentinel_write stays open until the worker exits
            _run_forked_worker(child_end, worker_args, environ)
        finally:
            os._exit(1)
    workers.add(pid)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    child_end.close()
    os.close(sentinel_write)
    connection.send(("forked", pid))
    socket.send_fds(fd_sender, [b"w"], [parent_end.fileno(), sentinel_read])
    parent_end.close()
    os.close(sentinel_read)


def _run_forked_worker(connection: mp.connection.Connection, worker_args: tuple, environ: dict[str, str]) -> NoReturn:
    """A worker forked by the zygote: serves, then exits with the code a `multiprocessing.Process` would."""
    exitcode = 1
    try:
        mp.current_process().name = "drgym-rollout-worker"
        _serve(connection, worker_args, environ)
        exitcode = 0
    except SystemExit as e:
        exitcode = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        os._exit(exitcode)


def _reap(pid: int) -> int | None:
    """Waits (a little) for worker `pid` to exit: its exit code (-N for signal N), or None if it does not."""
    deadline = time.monotonic() + REAP_TIMEOUT_S
    while True:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if reaped:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)


def _share_with_workers(env_id: str, env_kwargs: dict[str, Any]) -> tuple[tuple[Any, Any], Any] | None:
    """Loads in the zygote what every worker's environment would load for itself and never changes: the tasks
    and their world (`share_tasks_and_web`, afresh for each pool), and the built-in tools' schemas (pydantic
    models). Returns ((tasks, web) arguments, what was loaded for them), for `_keep_shared`; None when nothing was
    (a failure is left to the workers, which build their environments in full and report it)."""
    from drgym.core.kinds import ENTRY_POINTS

    if env_id not in ENTRY_POINTS:
        return None
    from drgym.envs.research_env import share_tasks_and_web
    from drgym.envs.tools.registry import prepare_built_in_tools

    try:
        config = env_kwargs.get("config")
        tasks, web = (config.tasks, config.web) if config is not None else (env_kwargs.get("tasks"),
                                                                             env_kwargs.get("web"))
        prepare_built_in_tools()
        if web != "live" and all(value is None or isinstance(value, (str, Path)) for value in (tasks, web)):
            return (tasks, web), share_tasks_and_web(tasks, web, reload=True)
    except Exception:
        logger.debug("the zygote could not load the tasks of %s %s", env_id, env_kwargs, exc_info=True)
    return None


def _keep_shared(shared: tuple[tuple[Any, Any], Any] | None) -> None:
    """In the zygote: makes `shared` (from `_share_with_workers`) what environments built with its arguments use,
    and forgets any other pool's; None forgets all."""
    from drgym.envs.research_env import keep_shared_tasks_and_web

    keep_shared_tasks_and_web({} if shared is None else {shared[0]: shared[1]})


def _exit_text(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit code"
    if exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class _RayWorker(_Worker):
    def hello(self) -> tuple[str, str, list[tuple[str, str]]]:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        return f"{os.getpid()}@{node_id[:12]}", node_id, self.tasks


class _RayWorkers(_Workers):
    """Ray actors, one CPU each, spread over the cluster's nodes."""

    def __init__(self, worker_args: tuple, *, ray_address: str | None, n_local_cpus: int) -> None:
        super().__init__()
        try:
            import ray
        except ImportError as e:
            raise DependencyNotInstalled("the ray backend needs Ray: pip install 'drgym[ray]'") from e
        self._ray = ray
        self._worker_args = worker_args
        self._address = ray_address or os.environ.get("RAY_ADDRESS") or None
        self._started_ray = False
        self._n_local_cpus = n_local_cpus
        if ray.is_initialized() and ray_address is not None:
            raise ConfigError(f"this process is already connected to Ray, so ray_address={ray_address!r} cannot be "
                              "used; call ray.shutdown() first, or leave ray_address out to use that connection")
        self._worker_class = None

    def ensure(self, n_workers: int) -> None:
        ray = self._ray
        if len(self.slots) >= n_workers:
            return
        if not ray.is_initialized():
            _connect_to_ray(ray, self._address, self._n_local_cpus)
            self._started_ray = True
        n_cpus = ray.cluster_resources().get("CPU", 0)
        if n_cpus < n_workers:
            raise ConfigError(f"the Ray cluster{f' at {self._address}' if self._address else ''} has {n_cpus:g} CPUs, "
                              f"but n_workers={n_workers} needs {n_workers} (one per worker); lower n_workers or add "
                              "nodes")
        if self._worker_class is None:
            self._worker_class = ray.remote(num_cpus=1, scheduling_strategy="SPREAD")(_RayWorker)
        actors = [self._worker_class.remote(*self._worker_args) for _ in range(n_workers - len(self.slots))]
        for actor, (worker_id, node_id, tasks) in zip(actors, ray.get([a.hello.remote() for a in actors])):
            self.slots.append(_Slot(worker_id=worker_id, tasks=tasks, handle=actor, node_id=node_id))

    def submit(self, slot: _Slot, index: int, seed: int) -> None:
        slot.refs[slot.handle.run.remote(index, seed)] = index

    def wait(self) -> list[tuple[_Slot, dict[str, Any] | None, str]]:
        ray = self._ray
        owner = {ref: slot for slot in self.slots for ref in slot.refs}
        ready, _ = ray.wait(list(owner), num_returns=1)
        ready += ray.wait([ref for ref in owner if ref not in ready], num_returns=len(owner) - 1, timeout=0)[0] \
            if len(owner) > 1 else []
        events: list[tuple[_Slot, dict[str, Any] | None, str]] = []
        for ref in ready:
            slot = owner[ref]
            if ref not in slot.refs:  # its worker died earlier in this batch
                continue
            try:
                record = ray.get(ref)
            except ray.exceptions.RayActorError as e:
                slot.refs.clear()
                events.append((slot, None, f"died ({type(e).__name__})"))
                continue
            del slot.refs[ref]
            events.append((slot, record, ""))
        return events

    def replace(self, slot: _Slot) -> None:
        self._stop(slot)
        actor = self._worker_class.remote(*self._worker_args)
        slot.worker_id, slot.node_id, slot.tasks = self._ray.get(actor.hello.remote())
        slot.handle, slot.refs = actor, {}

    def abandon(self) -> None:
        super().abandon()
        for slot in self.slots:
            slot.refs.clear()

    def close(self) -> None:
        super().close()
        if self._started_ray:
            self._ray.shutdown()
            self._started_ray = False

    def _stop(self, slot: _Slot) -> None:
        try:
            self._ray.get(slot.handle.close.remote(), timeout=STOP_TIMEOUT_S)
        except Exception:  # a dead or stuck actor: it is killed below
            logger.debug("ray worker %s did not close cleanly", slot.worker_id, exc_info=True)
        self._ray.kill(slot.handle)


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
