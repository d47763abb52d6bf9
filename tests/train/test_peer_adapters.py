"""drgym's peer-trainer adapters driven the way each trainer drives them, on CPU.

- SkyRL: the real ``skyrl_gym`` package (the ``dev`` extra installs it): the env is registered with and built by
  ``skyrl_gym.make(env_class, env_config=..., extras=row)``, where ``row`` is a row of the exported parquet minus
  ``prompt`` and ``env_class`` plus ``max_turns``, exactly what SkyRL's ``PromptDataset`` and
  ``SkyRLGymGenerator.agent_loop`` hand it; the conversation grows as the generator grows it.
- verifiers: the real ``verifiers`` package (0.3.x, the classic ``MultiTurnEnv`` API; ``dev`` extra): a rollout
  through verifiers' own ``evaluate`` against an OpenAI-compatible server this test starts on 127.0.0.1, whose
  replies are drgym's scripted researcher.
- veRL cannot be installed on this CPU machine (it pins transformers < 5.11 and CUDA-era stacks). Without it, the
  test installs a stand-in for ``verl.experimental.agent_loop.agent_loop`` written from veRL 0.9.1's source:
  ``AgentLoopBase.__init__``'s signature and the attributes it sets, the ``AgentLoopOutput`` and
  ``AgentLoopMetrics`` fields, the ``register`` registry; and it calls the loop as ``AgentLoopWorker._run_agent_loop``
  does (build from the registry entry with the keyword arguments veRL passes, then ``run(sampling_params, **row)``)
  with a server manager whose ``generate(request_id, *, prompt_ids, sampling_params, ...)`` returns veRL's
  ``TokenOutput`` fields. Where veRL is installed the real module is used instead.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import re
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from drgym.agents.scripted import ScriptedResearcher
from drgym.errors import ConfigError
from drgym.train.peer_data import VERL_AGENT_LOOP, export_peer_dataset

BUDGET = {"budget": {"max_turns": 12}}


def _require(module: str, extra: str) -> None:
    """Skips (the reason shows in the summary, -ra) where a peer package cannot be installed."""
    pytest.importorskip(module, reason=f"{module} is not installed: pip install 'drgym[{extra}]' to run this test")


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import datasets

    return list(datasets.load_dataset("parquet", data_files=str(path), split="train"))


@pytest.fixture(scope="module")
def skyrl_parquet(tiny_world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("skyrl") / "train.parquet"
    export_peer_dataset("skyrl", str(tiny_world.path), out, env_kwargs=BUDGET)
    return out


# -- dataset exports ------------------------------------------------------------------------------------------


def test_skyrl_export_has_the_columns_skyrl_reads_and_a_label_per_row(skyrl_parquet):
    rows = _read_parquet(skyrl_parquet)
    assert rows and set(rows[0]) == {"data_source", "prompt", "env_class", "reward_spec", "extra_info"}
    kinds = {row["extra_info"]["kind"] for row in rows}
    assert kinds == {"deep_search", "deep_research"}
    for row in rows:
        assert row["env_class"] == "drgym"
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        label = json.loads(row["extra_info"]["label"])
        assert label["task_id"] == row["extra_info"]["task_id"] and label["env_kwargs"] == BUDGET
        if row["extra_info"]["kind"] == "deep_search":
            assert json.loads(row["reward_spec"]["ground_truth"])  # the accepted answers, for inspection


def test_verl_export_has_the_columns_rlhfdataset_reads(tiny_world, tmp_path):
    out = tmp_path / "verl.parquet"
    n = export_peer_dataset("verl", str(tiny_world.path), out, env_kwargs=BUDGET, kinds=("deep_search",), seeds=2)
    rows = _read_parquet(out)
    assert n == len(rows) and len({(r["extra_info"]["task_id"], r["extra_info"]["seed"]) for r in rows}) == n
    for index, row in enumerate(rows):
        assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info", "agent_name"}
        assert row["agent_name"] == "drgym_agent" and row["ability"] == "deep_search"
        assert row["data_source"] == "drgym/DeepSearch-v1" and row["extra_info"]["index"] == index


def test_export_refuses_heldout_for_training_and_unknown_trainers(tiny_world, tmp_path):
    with pytest.raises(ConfigError, match="held-out split is for evaluation only"):
        export_peer_dataset("skyrl", str(tiny_world.path), tmp_path / "x.parquet", split="heldout")
    with pytest.raises(ConfigError, match=re.escape("unknown trainer 'openrlhf': expected one of ['skyrl', 'verl']")):
        export_peer_dataset("openrlhf", str(tiny_world.path), tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_cli_exports_verl_rows_and_the_agent_loop_config(tiny_world, tmp_path):
    from typer.testing import CliRunner

    from drgym.cli import app

    out, config = tmp_path / "verl.parquet", tmp_path / "agent_loop.yaml"
    result = CliRunner().invoke(app, ["export", "verl", "--suite", str(tiny_world.path), "--out", str(out),
                                      "--kind", "deep_research", "--max-turns", "9", "--agent-loop-config", str(config)])
    assert result.exit_code == 0, result.output
    rows = _read_parquet(out)
    assert rows and {row["ability"] for row in rows} == {"deep_research"}
    assert json.loads(rows[0]["extra_info"]["label"])["env_kwargs"]["budget"]["max_turns"] == 9
    assert config.read_text() == f"- name: drgym_agent\n  _target_: {VERL_AGENT_LOOP}\n"

    result = CliRunner().invoke(app, ["export", "skyrl", "--suite", str(tiny_world.path), "--out", str(out),
                                      "--kind", "deep_serch"])
    assert result.exit_code == 1 and "ConfigError: unknown task kinds ['deep_serch']" in result.output


# -- SkyRL ----------------------------------------------------------------------------------------------------


def _skyrl_episode(row: dict[str, Any], policy, *, max_turns: int = 20) -> tuple[list[dict], list[dict], Any]:
    """One trajectory as SkyRLGymGenerator.agent_loop runs it; returns the chat, the step outputs and the env."""
    import skyrl_gym

    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")}
    extras["max_turns"] = max_turns  # the generator sets it from generator.max_turns
    env = skyrl_gym.make(row["env_class"], env_config={}, extras=extras)
    chat, _ = env.init([dict(m) for m in row["prompt"]])
    steps: list[dict] = []
    done = False
    while not done:
        action = policy(chat)
        output = env.step(action)
        steps.append(output)
        chat = chat + [{"role": "assistant", "content": action}] + output["observations"]
        done = output["done"]
    env.close()
    return chat, steps, env


def test_skyrl_env_plays_drgym_episodes_with_the_judges_reward(skyrl_parquet):
    _require("skyrl_gym", "skyrl")
    from drgym.train.skyrl import DrgymSkyRLEnv, register_skyrl_env

    assert register_skyrl_env() == "drgym" and register_skyrl_env() == "drgym"  # idempotent
    for row in _read_parquet(skyrl_parquet):
        researcher = ScriptedResearcher()
        chat, steps, env = _skyrl_episode(row, researcher.act)
        assert isinstance(env, DrgymSkyRLEnv)
        assert [s["reward"] for s in steps[:-1]] == [0.0] * (len(steps) - 1)
        assert steps[-1]["reward"] == 1.0 and steps[-1]["observations"] == []
        assert steps[-1]["metadata"]["verdicts"]  # the judge's per-rubric verdicts
        observations = [m["content"] for m in chat[2:] if m["role"] == "user"]
        assert observations and all(o.startswith("<tool_response>") for o in observations)
        metrics = env.get_metrics()
        assert metrics["reward"] == 1.0 and metrics["graded"] == 1.0 and metrics["turns"] == len(steps)


def test_skyrl_wrong_answer_scores_zero_and_max_turns_cuts_the_episode(skyrl_parquet):
    _require("skyrl_gym", "skyrl")
    row = next(r for r in _read_parquet(skyrl_parquet) if r["extra_info"]["kind"] == "deep_search")
    _, steps, _ = _skyrl_episode(row, lambda chat: "<answer>Nobody in particular</answer>")
    assert len(steps) == 1 and steps[0]["done"] and steps[0]["reward"] == 0.0

    search = '<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["anything"]}}</tool_call>'
    _, steps, env = _skyrl_episode(row, lambda chat: search, max_turns=3)
    assert len(steps) == 3 and steps[-1]["done"] and steps[-1]["metadata"]["cut_by_max_turns"]
    assert [s["reward"] for s in steps] == [0.0, 0.0, 0.0] and env.get_metrics()["cut_by_max_turns"] == 1.0


def test_skyrl_row_without_a_label_is_refused_with_the_fix():
    _require("skyrl_gym", "skyrl")
    from drgym.train.skyrl import DrgymSkyRLEnv

    with pytest.raises(ConfigError, match=re.escape("export the dataset with `drgym export skyrl`")):
        DrgymSkyRLEnv(extras={"reward_spec": {"method": "rule", "ground_truth": "4"}, "extra_info": {}})


# -- verifiers ------------------------------------------------------------------------------------------------


class ScriptedChatServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1 whose replies come from `reply(messages)`."""

    def __init__(self, reply) -> None:
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                text = reply(body["messages"])
                data = json.dumps({
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def __enter__(self) -> ScriptedChatServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _scripted_replies():
    researchers: dict[str, ScriptedResearcher] = {}  # one per question: episodes run concurrently

    def reply(messages: list[dict]) -> str:
        return researchers.setdefault(messages[1]["content"], ScriptedResearcher()).act(messages)

    return reply


def _evaluate(env, reply) -> tuple[list[dict], ScriptedChatServer]:
    import verifiers as vf
    from openai import AsyncOpenAI

    with ScriptedChatServer(reply) as server:
        client = vf.OpenAIChatCompletionsClient(AsyncOpenAI(base_url=server.url, api_key="local"))
        results = env.evaluate_sync(client, "scripted-researcher", num_examples=-1, rollouts_per_example=1)
    return results["outputs"], server


def test_verifiers_rollouts_through_a_local_server_get_the_judges_reward(tiny_world):
    _require("verifiers", "verifiers")
    from drgym.train.verifiers_env import load_environment

    env = load_environment(str(tiny_world.path), env_kwargs=BUDGET, eval_split="all", max_turns=20)
    outputs, server = _evaluate(env, _scripted_replies())
    assert len(outputs) == len(env.eval_dataset) and len(server.requests) >= 2 * len(outputs)
    kinds = set()
    for output in outputs:
        assert output["error"] is None and output["stop_condition"] == "has_final_env_response"
        assert output["reward"] == 1.0 and output["metrics"]["drgym_reward"] == 1.0
        assert output["metrics"]["verdict_pass_rate"] == 1.0 and output["metrics"]["tool_calls"] > 0
        user_turns = [m for m in output["completion"] if m["role"] == "user"]
        assert user_turns and all(str(m["content"]).startswith("<tool_response>") for m in user_turns)
        kinds.add(output["info"]["kind"])
    assert kinds == {"deep_search", "deep_research"}
    # the model saw the env's observations: the last request carries the conversation so far
    assert any(m["role"] == "user" and m["content"].startswith("<tool_response>") for m in server.requests[-1]["messages"])


def test_verifiers_wrong_answers_and_cut_episodes_score_zero(tiny_world):
    _require("verifiers", "verifiers")
    from drgym.train.verifiers_env import DrgymVerifiersEnv, verifiers_dataset

    dataset = verifiers_dataset(str(tiny_world.path), env_kwargs=BUDGET, kinds=("deep_search",))
    env = DrgymVerifiersEnv(dataset=dataset, eval_dataset=dataset, max_turns=5)
    outputs, _ = _evaluate(env, lambda messages: "<answer>Nobody in particular</answer>")
    assert outputs and all(o["reward"] == 0.0 and o["metrics"]["num_turns"] == 1 for o in outputs)

    search = '<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["anything"]}}</tool_call>'
    env = DrgymVerifiersEnv(dataset=dataset, eval_dataset=dataset, max_turns=2)  # cut before drgym's budget ends
    outputs, _ = _evaluate(env, lambda messages: search)
    assert outputs and all(o["stop_condition"] == "max_turns_reached" and o["reward"] == 0.0 for o in outputs)
    assert all(o["metrics"]["tool_calls"] == 1.0 for o in outputs)  # the first turn's call; the second is never run


# -- veRL -----------------------------------------------------------------------------------------------------


def _verl_stand_in() -> types.ModuleType:
    """``verl.experimental.agent_loop.agent_loop`` as far as the drgym loop and this test use it (veRL 0.9.1)."""
    from pydantic import BaseModel

    module = types.ModuleType("verl.experimental.agent_loop.agent_loop")

    class AgentLoopMetrics(BaseModel):
        generate_sequences: float = 0.0
        tool_calls: float = 0.0
        compute_score: float = 0.0
        num_preempted: int = -1

    class AgentLoopOutput(BaseModel):
        prompt_ids: list[int]
        response_ids: list[int]
        response_mask: list[int]
        response_logprobs: list[float] | None = None
        routed_experts: Any = None
        multi_modal_data: dict[str, Any] | None = None
        reward_score: float | None = None
        num_turns: int = 0
        metrics: AgentLoopMetrics
        extra_fields: dict[str, Any] = {}

    class DictConfigWrap:
        def __init__(self, config):
            self.config = config

    class AgentLoopBase:
        def __init__(self, trainer_config, server_manager, tokenizer, processor, dataset_cls, data_config,
                     hf_model_type=None, **kwargs):
            self.config = trainer_config.config
            self.rollout_config = self.config.actor_rollout_ref.rollout
            self.server_manager = server_manager
            self.tokenizer = tokenizer
            self.processor = processor
            self.dataset_cls = dataset_cls
            self.data_config = data_config.config

    registry: dict[str, dict] = {}

    def register(agent_name):
        def decorator(subclass):
            registry[agent_name] = {"_target_": f"{subclass.__module__}.{subclass.__qualname__}"}
            return subclass
        return decorator

    module.__dict__.update(AgentLoopBase=AgentLoopBase, AgentLoopOutput=AgentLoopOutput, DictConfigWrap=DictConfigWrap,
                           AgentLoopMetrics=AgentLoopMetrics, register=register, _agent_loop_registry=registry)
    return module


@pytest.fixture
def verl(monkeypatch):
    """veRL's agent-loop module: the real one where veRL is installed, else the stand-in (reason printed)."""
    if importlib.util.find_spec("verl") is not None:
        importlib.import_module("drgym.train.verl_agent_loop")
        yield importlib.import_module("verl.experimental.agent_loop.agent_loop")
        return
    print("veRL is not installed (it needs a CUDA machine): testing on its interface with a stand-in of "
          "verl.experimental.agent_loop.agent_loop (veRL 0.9.1)")
    stand_in = _verl_stand_in()
    for name in ("verl", "verl.experimental", "verl.experimental.agent_loop"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, stand_in.__name__, stand_in)
    monkeypatch.delitem(sys.modules, "drgym.train.verl_agent_loop", raising=False)
    importlib.import_module("drgym.train.verl_agent_loop")  # its @register runs against the stand-in
    yield stand_in
    sys.modules.pop("drgym.train.verl_agent_loop", None)


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from drgym.agents.tiny_model import build_tiny_model

    return AutoTokenizer.from_pretrained(build_tiny_model(tmp_path_factory.mktemp("tiny-verl"), seed=0))


class ScriptedServerManager:
    """veRL's ``LLMServerClient.generate`` signature and ``TokenOutput`` fields; reads the conversation back from the token ids (the tiny chat
    template) and answers as `policy(messages)` would, ending the turn with EOS like a chat model."""

    def __init__(self, tokenizer, policy) -> None:
        self.tokenizer, self.policy = tokenizer, policy
        self.calls: list[dict[str, Any]] = []

    async def generate(self, request_id, *, prompt_ids, sampling_params, image_data=None, video_data=None,
                       audio_data=None, mm_processor_kwargs=None, **kwargs):
        call = {"request_id": request_id, "prompt_ids": list(prompt_ids)}
        self.calls.append(call)
        text = self.tokenizer.decode(prompt_ids, skip_special_tokens=False)
        messages = [{"role": role, "content": content.removesuffix("<|endoftext|>\n").removesuffix("\n")}
                    for role, content in re.findall(r"<\|(system|user|assistant)\|>\n(.*?)(?=<\|(?:system|user|"
                                                    r"assistant)\|>\n|\Z)", text, flags=re.DOTALL)]
        if messages and messages[-1]["role"] == "assistant":
            messages = messages[:-1]
        ids = self.tokenizer(self.policy(messages), add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        call["token_ids"] = ids
        log_probs = [-0.5] * len(ids) if sampling_params.get("logprobs") else None  # as veRL's server: on request
        return types.SimpleNamespace(token_ids=ids, log_probs=log_probs, routed_experts=None,
                                     stop_reason="completed", num_preempted=0, extra_fields={})


def _verl_loop(verl, tokenizer, server_manager, *, response_length: int = 65536):
    """The loop as AgentLoopWorker._run_agent_loop builds it: from the registry entry, with veRL's keywords."""
    from omegaconf import OmegaConf

    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"prompt_length": 8192,
                                                                 "response_length": response_length}},
                               "data": {}})
    target = verl._agent_loop_registry["drgym_agent"]["_target_"]
    assert target == VERL_AGENT_LOOP  # the class the exported agent-loop config file names
    module_name, class_name = target.rsplit(".", 1)
    loop_class = getattr(importlib.import_module(module_name), class_name)
    wrap = verl.DictConfigWrap
    return loop_class(trainer_config=wrap(config), server_manager=server_manager, tokenizer=tokenizer,
                      processor=None, hf_model_type=None, dataset_cls=None, data_config=wrap(config.data), tools=None)


def _verl_kwargs(row: dict[str, Any]) -> dict[str, Any]:
    """The keywords veRL's worker passes to run(): the RLHFDataset row's non-tensor fields, agent_name taken out."""
    kwargs = {k: v for k, v in row.items() if k not in ("agent_name", "prompt")}
    return {**kwargs, "raw_prompt": row["prompt"], "index": row["extra_info"]["index"], "tools_kwargs": {},
            "interaction_kwargs": {}}


def test_verl_agent_loop_plays_episodes_token_in_token_out(verl, tiny_world, tiny_tokenizer, tmp_path):
    out = tmp_path / "verl.parquet"
    export_peer_dataset("verl", str(tiny_world.path), out, env_kwargs=BUDGET)
    rows = _read_parquet(out)
    log_keys = set()
    for row in rows:
        researcher = ScriptedResearcher()
        manager = ScriptedServerManager(tiny_tokenizer, researcher.act)
        loop = _verl_loop(verl, tiny_tokenizer, manager)
        output = asyncio.run(loop.run({"temperature": 1.0, "top_p": 1.0, "logprobs": True}, **_verl_kwargs(row)))
        assert isinstance(output, verl.AgentLoopOutput)
        assert output.reward_score == 1.0 and output.extra_fields["reward_extra_info"]["graded"] == 1.0
        assert len(output.response_ids) == len(output.response_mask) == len(output.response_logprobs)
        # model tokens (mask 1) are exactly what the server generated, environment tokens carry the observations
        generated = [t for t, m in zip(output.response_ids, output.response_mask) if m == 1]
        assert generated == [t for call in manager.calls for t in call["token_ids"]] and output.response_mask[0] == 1
        turns = len(manager.calls)
        assert output.num_turns == 1 + 2 * turns and {c["request_id"] for c in manager.calls} == {manager.calls[0]["request_id"]}
        for previous, call in zip(manager.calls, manager.calls[1:]):  # a turn's prompt extends the one before it
            extended = previous["prompt_ids"] + previous["token_ids"]
            assert call["prompt_ids"][:len(extended)] == extended
        environment = tiny_tokenizer.decode([t for t, m in zip(output.response_ids, output.response_mask) if m == 0])
        assert environment.count("<tool_response>") >= turns - 1
        logprobs = {lp for lp, m in zip(output.response_logprobs, output.response_mask) if m == 1}
        assert logprobs == {-0.5}
        log_keys.add(tuple(sorted(output.extra_fields["reward_extra_info"])))
    assert len(log_keys) == 1  # the same keys from every episode: veRL batches reward_extra_info per key


def test_verl_agent_loop_cuts_at_response_length_with_zero_reward(verl, tiny_world, tiny_tokenizer, tmp_path):
    out = tmp_path / "verl.parquet"
    export_peer_dataset("verl", str(tiny_world.path), out, env_kwargs=BUDGET, kinds=("deep_search",))
    row = _read_parquet(out)[0]
    manager = ScriptedServerManager(tiny_tokenizer, ScriptedResearcher().act)
    loop = _verl_loop(verl, tiny_tokenizer, manager, response_length=600)
    output = asyncio.run(loop.run({"logprobs": False}, **_verl_kwargs(row)))
    assert output.reward_score == 0.0 and output.extra_fields["reward_extra_info"]["cut_by_response_length"] == 1.0
    assert len(output.response_ids) <= 600 and output.response_logprobs is None


def test_verl_row_without_a_label_is_refused_with_the_fix(verl, tiny_tokenizer):
    loop = _verl_loop(verl, tiny_tokenizer, ScriptedServerManager(tiny_tokenizer, lambda m: ""))
    with pytest.raises(ConfigError, match=re.escape("export the dataset with `drgym export verl`")):
        asyncio.run(loop.run({}, raw_prompt=[{"role": "user", "content": "q"}], extra_info={"index": 0}))


def test_the_verifiers_example_exits_with_an_error_when_its_server_does_not_answer(tmp_path):
    """examples/verifiers_drgym.py against a port nobody serves: every rollout ends in a connection error, which
    it prints, and it exits with 1 instead of reporting rewards of 0 as a finished run."""
    _require("verifiers", "verifiers")
    import socket
    import subprocess

    with socket.socket() as probe:  # a port that was free a moment ago, and nobody listens on now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    example = Path(__file__).resolve().parents[2] / "examples" / "verifiers_drgym.py"
    done = subprocess.run([sys.executable, str(example), "--base-url", f"http://127.0.0.1:{port}/v1", "--max-turns",
                           "2"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "rollouts ended in an error" in done.stderr and "ended in an error: " in done.stdout
