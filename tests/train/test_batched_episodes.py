"""Batched decoding (`sample_batch`, `run_episodes`) plays the same greedy tokens as one prompt at a time."""

from __future__ import annotations

import pytest
import torch

from drgym.agents.tiny_model import build_tiny_model
from drgym.tasks import load_suite
from drgym.train.chat import ChatFormat
from drgym.train.episodes import EpisodeLabel
from drgym.train.reference.generation import sample, sample_batch
from drgym.train.reference.ppo import run_episode, run_episodes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp("tiny-batch"), seed=5)
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_sample_batch_greedy_equals_one_prompt_at_a_time(tiny):
    model, tokenizer = tiny
    prompts = [tokenizer(text, add_special_tokens=False)["input_ids"]
               for text in ("<|user|>\nq", "What is the population of the city? " * 3, "<answer>", "Budget left")]
    limits = [12, 3, 12, 7]
    batched = sample_batch(model, prompts, max_new_tokens=limits, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id, temperature=0.0)
    for prompt, limit, (ids, logprobs, finish) in zip(prompts, limits, batched):
        single_ids, single_logprobs, single_finish = sample(model, prompt, max_new_tokens=limit,
                                                            eos_token_id=tokenizer.eos_token_id, temperature=0.0)
        assert ids == single_ids and finish == single_finish
        torch.testing.assert_close(torch.tensor(logprobs), torch.tensor(single_logprobs), atol=1e-4, rtol=1e-4)
    assert len(batched[1][0]) <= 3  # each row keeps its own limit


def test_run_episodes_batched_equals_one_by_one(tiny):
    model, tokenizer = tiny
    chat = ChatFormat(tokenizer)
    tasks = list(load_suite("procedural:tiny", show_progress=False).tasks)[:5]
    labels = [EpisodeLabel(task_id=t.id, tasks="procedural:tiny", seed=i,
                           env_kwargs={"tools": ["batch_web_surfer"], "budget": {"max_turns": 2}})
              for i, t in enumerate(tasks)]
    kwargs = {"max_new_tokens": 12, "max_length": 4096, "temperature": 0.0, "allow_heldout": True}
    batched = run_episodes(model, tokenizer, chat, labels, batch_size=3, **kwargs)
    assert len(batched) == len(labels)
    for label, episode in zip(labels, batched):
        single = run_episodes(model, tokenizer, chat, [label], **kwargs)[0]
        assert episode.tokens == single.tokens and episode.action_mask == single.action_mask
        assert (episode.reward, episode.done, episode.turns, episode.task_id) == \
            (single.reward, single.done, single.turns, label.task_id)
        assert sum(episode.action_mask) > 0 and episode.turns >= 1
    # the one-episode helper is the same loop
    assert run_episode(model, tokenizer, chat, labels[0], **kwargs).tokens == batched[0].tokens


def test_kept_environments_leave_no_workspace_behind(tmp_path):
    """Environments pooled across episodes are closed at exit, and their temporary workspaces removed."""
    import os
    import subprocess
    import sys

    script = ("from drgym.train.episodes import EpisodeLabel, EpisodeSession\n"
              "from drgym.tasks import load_suite\n"
              "task = list(load_suite('procedural:tiny', show_progress=False).tasks)[0]\n"
              "session = EpisodeSession(EpisodeLabel(task_id=task.id, tasks='procedural:tiny'), allow_heldout=True)\n"
              "session.start()\n"
              "assert session.step('<answer>none</answer>').done\n"
              "import glob, tempfile\n"
              "assert glob.glob(tempfile.gettempdir() + '/drgym-*'), 'the pooled env holds a workspace'\n")
    (tmp_path / "tmp").mkdir()
    subprocess.run([sys.executable, "-c", script], check=True, env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    assert not list((tmp_path / "tmp").glob("drgym-*"))


def test_a_prompt_with_no_room_to_act_is_a_config_error_not_a_silent_zero(tiny):
    # an opening prompt at or over max_length would end every episode before its first action: PPO would train
    # on nothing and save a checkpoint as if it had learned
    from drgym.errors import ConfigError

    model, tokenizer = tiny
    task = list(load_suite("procedural:tiny", show_progress=False).tasks)[0]
    label = EpisodeLabel(task_id=task.id, tasks="procedural:tiny", env_kwargs={"tools": ["batch_web_surfer"]})
    with pytest.raises(ConfigError, match=r"no room to act; raise --max-length above \d+"):
        run_episodes(model, tokenizer, ChatFormat(tokenizer), [label], max_new_tokens=12, max_length=64,
                     temperature=0.0, allow_heldout=True)


def test_an_owned_pool_reuses_one_env_and_closes_it_without_touching_the_shared_pool(tmp_path, monkeypatch):
    """A trainer that passes its own pool gets one env per configuration, reused by later sessions, closed (its
    workspace removed) when the pool closes; the process's shared pool is left alone."""
    from drgym.train.episodes import EnvPool, EpisodeSession, default_pool

    task = list(load_suite("procedural:tiny", show_progress=False).tasks)[0]
    label = EpisodeLabel(task_id=task.id, tasks="procedural:tiny")
    shared_before = dict(default_pool()._free)
    with EnvPool() as pool:
        envs = []
        for _ in range(3):
            session = EpisodeSession(label, allow_heldout=True, pool=pool)
            session.start()
            envs.append(session.env)
            assert session.step("<answer>none</answer>").done and session.env is None  # given back when done
        assert envs[0] is envs[1] is envs[2]
        workspace = envs[0].unwrapped.workspace_root
        assert workspace.exists()
    assert not workspace.exists() and not pool._free
    assert default_pool() is default_pool() and default_pool()._free == shared_before
