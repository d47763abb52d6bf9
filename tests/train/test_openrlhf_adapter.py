"""drgym's OpenRLHF agent driven through OpenRLHF's own MultiTurnAgentExecutor.execute loop, on CPU.

openrlhf is installed without its GPU dependencies (`pip install --no-deps openrlhf` + pylatexenc, sympy,
aiohttp: the Makefile does it), which is enough for `openrlhf.utils.agent`. The vLLM engine is replaced by
engines with vLLM's async `generate` interface: the scripted researcher speaking through the tokenizer, and a
tiny local model (`HFEngine`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import gymnasium as gym
import pytest
from openrlhf.trainer.ppo_utils import experience as openrlhf_experience
from openrlhf.trainer.ppo_utils.replay_buffer import NaiveReplayBuffer
from openrlhf.utils.agent import MultiTurnAgentExecutor

import drgym  # noqa: F401
from drgym.agents.scripted import ScriptedResearcher
from drgym.agents.tiny_model import build_tiny_model
from drgym.errors import ConfigError
from drgym.train.episodes import EpisodeLabel, EpisodeSession, export_prompts
from drgym.train.launch import agent_func_path
from drgym.train.reference.generation import HFEngine, SamplingParams


def _load_agent_module():
    spec = importlib.util.spec_from_file_location("agent_module", agent_func_path())  # as OpenRLHF loads it
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ScriptedEngine:
    """Reads the conversation back from the token ids (the tiny chat template) and answers as the scripted
    researcher would, ending the turn with EOS like a chat model."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.policy = ScriptedResearcher()

    async def generate(self, token_ids, sampling_params, multi_modal_data=None):
        text = self.tokenizer.decode(token_ids, skip_special_tokens=False)
        messages = [{"role": role, "content": content.removesuffix("<|endoftext|>\n").removesuffix("\n")}
                    for role, content in re.findall(r"<\|(system|user|assistant)\|>\n(.*?)(?=<\|(?:system|user|"
                                                    r"assistant)\|>\n|\Z)", text, flags=re.DOTALL)]
        action = self.policy.act(messages[:-1] if messages[-1]["role"] == "assistant" else messages)
        ids = self.tokenizer(action, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        ids = ids[:sampling_params.max_tokens]
        return SimpleNamespace(outputs=[SimpleNamespace(
            token_ids=ids, text=self.tokenizer.decode(ids, skip_special_tokens=True),
            finish_reason="stop" if ids[-1] == self.tokenizer.eos_token_id else "length",
            logprobs=[{t: SimpleNamespace(logprob=0.0)} for t in ids])])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp("tiny-agent"), seed=0)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path), path


def _prompts(tiny_world, tmp_path, tokenizer_path, kinds=("deep_search", "deep_research")):
    out = tmp_path / "prompts.jsonl"
    n = export_prompts(str(tiny_world.path), out, tokenizer=str(tokenizer_path), kinds=kinds,
                       env_kwargs={"budget": {"max_turns": 12}})
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert n == len(rows)
    return rows


def _execute(executor, row, tokenizer, engine, max_length=60000, max_tokens=20000):
    prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)  # as OpenRLHF
    return asyncio.run(executor.execute(prompt, row["label"], SamplingParams(max_tokens=max_tokens), max_length, tokenizer,
                                        engine))


def test_rl_data_rows_carry_the_train_split_only(tiny_world, tmp_path, tiny_model):
    rows = _prompts(tiny_world, tmp_path, tiny_model[2])
    ids = {row["task_id"] for row in rows}
    assert "ds-0004" not in ids and {"ds-0000", "dr-0000"} <= ids  # ds-0004 is held out
    label = EpisodeLabel.from_json(rows[0]["label"])
    assert label.tasks == str(tiny_world.path) and label.env_kwargs == {"budget": {"max_turns": 12}}
    assert [m["role"] for m in rows[0]["prompt"]] == ["system", "user"]
    with pytest.raises(ConfigError, match="held-out"):
        export_prompts(str(tiny_world.path), tmp_path / "x.jsonl", split="heldout")


def test_whole_episodes_through_openrlhf_executor_match_the_environment(tiny_world, tmp_path, tiny_model):
    _, tokenizer, path = tiny_model
    module = _load_agent_module()
    executor = module.AgentExecutor()
    assert isinstance(executor, MultiTurnAgentExecutor)
    rows = _prompts(tiny_world, tmp_path, path)
    for row in [r for r in rows if r["task_id"] in ("ds-0000", "ds-0002", "dr-0000")]:
        result = _execute(executor, row, tokenizer, ScriptedEngine(tokenizer))
        # the same policy straight in the environment gets the same reward
        label = EpisodeLabel.from_json(row["label"])
        env = gym.make(label.env_id, tasks=label.tasks, **label.env_kwargs)
        _, info = env.reset(seed=label.seed, options={"task_id": label.task_id})
        policy, done = ScriptedResearcher(), False
        while not done:
            _, reward, terminated, truncated, info = env.step(policy.act(info["messages"]))
            done = terminated or truncated
        env.close()
        assert result["reward"] == pytest.approx(reward) and reward > 0
        assert float(result["extra_logs"]["done"]) == 1.0 and float(result["extra_logs"]["turns"]) >= 2
        tokens, ranges = result["observation_tokens"], result["action_ranges"]
        assert len(ranges) == int(result["extra_logs"]["turns"])
        # environment feedback lies between the actions, and opens the next assistant turn
        for (_, end), (start, _) in zip(ranges, ranges[1:]):
            feedback = tokenizer.decode(tokens[end:start], skip_special_tokens=False)
            assert feedback.startswith("\n<|user|>\n") and feedback.endswith("<|assistant|>\n")
            assert "Budget left" in feedback
        assert all(lp == 0.0 for lp in result["rollout_log_probs"][:ranges[0][0]])


def test_a_tiny_model_plays_through_the_executor(tiny_world, tmp_path, tiny_model):
    model, tokenizer, path = tiny_model
    executor = _load_agent_module().AgentExecutor()
    row = next(r for r in _prompts(tiny_world, tmp_path, path, kinds=("deep_search",)) if r["task_id"] == "ds-0001")
    prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    prompt_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    result = _execute(executor, row, tokenizer, HFEngine(model, tokenizer, seed=0), max_length=prompt_tokens + 160,
                      max_tokens=16)
    # a random model writes no valid action: the context fills up and the episode ends unrewarded
    assert result["action_ranges"][0][0] == prompt_tokens and result["reward"] == 0.0
    actions = sum(end - start for start, end in result["action_ranges"])
    assert 0 < actions <= 160


def test_a_held_out_label_is_refused(tiny_world, tiny_model):
    executor = _load_agent_module().AgentExecutor()
    label = EpisodeLabel(task_id="ds-0004", tasks=str(tiny_world.path), tokenizer=str(tiny_model[2]))
    with pytest.raises(ConfigError, match="held-out"):
        asyncio.run(executor.execute("q", label.to_json(), SamplingParams(), 100, tiny_model[1], None))


@pytest.fixture
def samples_generator(monkeypatch):
    """OpenRLHF's samples_generator module, which turns executor outputs into `Experience`s; its vLLM imports
    stubbed as OpenRLHF's own tests/test_agent.py does (vLLM does not install on CPU)."""
    monkeypatch.setitem(sys.modules, "vllm", MagicMock())
    monkeypatch.setitem(sys.modules, "openrlhf.trainer.ray.vllm_engine", MagicMock())
    path = Path(openrlhf_experience.__file__).with_name("samples_generator.py")
    spec = importlib.util.spec_from_file_location("_openrlhf_samples_generator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_graded_and_cut_off_episodes_batch_through_openrlhf_experience_functions(tiny_world, tmp_path, tiny_model,
                                                                                  samples_generator):
    _, tokenizer, path = tiny_model
    module = _load_agent_module()
    executor = module.AgentExecutor()
    rows = {row["task_id"]: row for row in _prompts(tiny_world, tmp_path, path)}
    cut_row = rows["ds-0001"]
    prompt = tokenizer.apply_chat_template(cut_row["prompt"], tokenize=False, add_generation_prompt=True)
    cut_length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) + 40
    # max_new_tokens caps each turn; the cut-off run's prompt just fits with 40 tokens to generate
    runs = [(rows["ds-0000"], 60000, 20000), (rows["dr-0000"], 60000, 20000), (cut_row, cut_length, 40)]
    responses = [_execute(executor, row, tokenizer, ScriptedEngine(tokenizer), max_length=length,
                          max_tokens=max_tokens) for row, length, max_tokens in runs]
    graded, graded_report, cut = (r["extra_logs"] for r in responses)
    assert float(cut["done"]) == 0.0  # the context filled up before an answer: no verdicts
    assert set(graded) == set(graded_report) == set(cut) == set(module.EXTRA_LOG_DEFAULTS)
    assert float(cut["verdict_pass_rate"]) == 0.0 and float(cut["graded"]) == 0.0
    assert float(graded["verdict_pass_rate"]) == 1.0 and float(graded["graded"]) == 1.0
    assert float(graded_report["graded"]) == 1.0
    assert "truncated" not in cut  # OpenRLHF's own per-sample metric of that name would be shadowed

    # OpenRLHF's path from executor outputs to a training batch
    generator = samples_generator.SamplesGenerator.__new__(samples_generator.SamplesGenerator)
    experiences = [generator._process_response_into_experience(response, max_len=length)
                   for response, (_, length, _) in zip(responses, runs)]
    merged = openrlhf_experience.Experience.concat_experiences(experiences, tokenizer.pad_token_id)
    items = openrlhf_experience.split_experience_batch(merged)
    batch = openrlhf_experience.make_experience_batch(items)
    # per-sample logs come back as a list of scalars (OpenRLHF's actor turns lists into tensors to log them)
    assert [float(v) for v in batch.info["verdict_pass_rate"]] == [1.0, float(graded_report["verdict_pass_rate"]),
                                                                   0.0]
    assert [float(v) for v in batch.info["graded"]] == [1.0, 1.0, 0.0]
    balanced = openrlhf_experience.balance_experiences(experiences, SimpleNamespace(
        actor=SimpleNamespace(num_nodes=1, num_gpus_per_node=2), ds=SimpleNamespace(ring_attn_size=1,
                                                                                    tensor_parallel_size=1)))
    assert sum(len(b.sequences) for b in balanced) == 3
    # the replay buffer's append (split) and collate (make_experience_batch); its __init__ only asks for a CUDA
    # device, to send samples to
    buffer = NaiveReplayBuffer.__new__(NaiveReplayBuffer)
    buffer.__dict__.update(cpu_offload=False, limit=0, items=[], packing_samples=False, dynamic_batch=False)
    for experience in balanced:
        buffer.append(experience)
    sample = buffer.collate_fn([buffer[i] for i in range(len(buffer))])
    assert sorted(float(v) for v in sample.info["graded"]) == [0.0, 1.0, 1.0]


def test_max_new_tokens_caps_every_turn_not_only_the_first(tiny_world, tmp_path, tiny_model):
    _, tokenizer, path = tiny_model
    executor = _load_agent_module().AgentExecutor()
    row = next(r for r in _prompts(tiny_world, tmp_path, path) if r["task_id"] == "ds-0000")
    asked: list[int] = []

    class Recording(ScriptedEngine):
        async def generate(self, token_ids, sampling_params, multi_modal_data=None):
            asked.append(sampling_params.max_tokens)
            return await super().generate(token_ids, sampling_params, multi_modal_data)

    result = _execute(executor, row, tokenizer, Recording(tokenizer), max_length=60000, max_tokens=300)
    assert len(asked) >= 2 and max(asked) == 300  # OpenRLHF alone asks for all of the context left
    assert float(result["extra_logs"]["done"]) == 1.0


def test_held_out_tasks_run_through_the_adapter_only_as_evaluation_prompts(tiny_world, tmp_path, tiny_model):
    _, tokenizer, path = tiny_model
    out = tmp_path / "eval.jsonl"
    n = export_prompts(str(tiny_world.path), out, split="heldout", for_eval=True, tokenizer=str(path),
                       kinds=("deep_search",))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert n == len(rows) >= 1 and {r["task_id"] for r in rows} == {"ds-0004"}
    executor = _load_agent_module().AgentExecutor()
    result = _execute(executor, rows[0], tokenizer, ScriptedEngine(tokenizer))
    assert float(result["extra_logs"]["done"]) == 1.0
    training = {**json.loads(rows[0]["label"]), "purpose": "train"}
    with pytest.raises(ConfigError, match="held-out"):
        EpisodeSession(json.dumps(training))
