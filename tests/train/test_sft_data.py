"""Trajectories → SFT JSONL: format and every filter."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from drgym.agents.rollout import rollout
from drgym.agents.scripted import ScriptedResearcher
from drgym.agents.trajectories import TrajectoryWriter, read_trajectories
from drgym.cli import app
from drgym.train.sft_data import (
    SFTFilters,
    action_ngram_loop,
    build_sft_dataset,
    parse_mixture,
)


def _scripted_runs(tiny_world, tmp_path):
    out = tmp_path / "runs.jsonl"
    for env_id in ("drgym/DeepSearch-v1", "drgym/DeepResearch-v1"):
        rollout(env_id, ScriptedResearcher, n_episodes=8, out=out, env_kwargs={"tasks": str(tiny_world.path)},
                show_progress=False)
    return out


def test_sft_rows_and_filters(tiny_world, tmp_path):
    runs = _scripted_runs(tiny_world, tmp_path)
    records = list(read_trajectories(runs))
    search = next(r for r in records if r["kind"] == "deep_search" and r["reward"] == 1.0 and r["task_id"] != "ds-0004")
    research = next(r for r in records if r["kind"] == "deep_research")
    planted = tmp_path / "planted.jsonl"
    with TrajectoryWriter(planted) as writer:
        looping = json.loads(json.dumps(search))
        repeated = looping["steps"][0]
        looping["steps"] = [repeated, repeated, repeated] + looping["steps"]
        looping["episode_id"] = "loop"
        writer.write(looping)
        writer.write({**search, "episode_id": "failed", "status": "failed", "reward": 0.0})
        uncited = json.loads(json.dumps(research))
        for step in uncited["steps"]:
            step["action"] = step["action"].replace("\\\\cite{", "(see ").replace("\\cite{", "(see ")
        uncited["submission"] = uncited["submission"].replace("\\cite{", "(see ")
        uncited["episode_id"] = "uncited"
        writer.write(uncited)
    out = tmp_path / "sft.jsonl"
    summary = build_sft_dataset([runs, planted], out, SFTFilters(min_reward_research=0.5))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.read == 16 + 3
    assert summary.removed["failed"] == 1 and summary.removed["loop"] == 1 and summary.removed["citations"] == 1
    assert summary.removed["heldout"] == 1  # ds-0004 is in the held-out split
    assert summary.written == len(rows) > 0
    assert len({r["task_id"] for r in rows}) == len(rows)  # correct and shortest: one episode per task
    assert summary.removed["longer"] > 0  # the 8 episodes cycled over fewer tasks
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles[:2] == ["system", "user"] and roles[-1] == "assistant"
        assert set(roles[2:]) <= {"assistant", "user"}
        assert all(a != b for a, b in zip(roles[2:], roles[3:]))  # turns alternate
        assert row["capability"] == "trajectory" and row["reward"] >= 0.5
    assert "ds-0004" not in {r["task_id"] for r in rows}
    table = summary.table()
    assert "removed: loop" in table and "written" in table


def test_mixture_ratio_and_tool_role(tiny_world, tmp_path):
    runs = _scripted_runs(tiny_world, tmp_path)
    out = tmp_path / "mixed.jsonl"
    summary = build_sft_dataset([runs], out, SFTFilters(min_reward_research=0.0, per_task=0,
                                                        mixture=parse_mixture("search=1,research=1"),
                                                        observation_role="tool"))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = [r["kind"] for r in rows]
    assert kinds.count("deep_search") == kinds.count("deep_research") > 0
    assert summary.removed["mixture"] > 0
    assert all(m["role"] in ("system", "user", "assistant", "tool") for r in rows for m in r["messages"])
    assert any(m["role"] == "tool" for r in rows for m in r["messages"])


def test_loop_detector_and_report_extraction():
    call = '<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["x"]}}</tool_call>'
    other = '<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["y"]}}</tool_call>'
    assert action_ngram_loop([call, call, call])
    assert action_ngram_loop([call, other, call, other, call, other], n=2, repeats=3)
    assert not action_ngram_loop([call, other, call, "<answer>1</answer>"])


def test_cli_sft_data(tiny_world, tmp_path):
    runs = _scripted_runs(tiny_world, tmp_path)
    result = CliRunner().invoke(app, ["sft-data", str(runs), "--out", str(tmp_path / "cli.jsonl"),
                                      "--mix", "deep_search=0.3,deep_research=0.7"])
    assert result.exit_code == 0, result.output
    assert "removed: mixture" in result.output and (tmp_path / "cli.jsonl").is_file()
    bad = CliRunner().invoke(app, ["sft-data", str(runs), "--out", str(tmp_path / "x.jsonl"), "--mix", "search=abc"])
    assert bad.exit_code == 1 and "ConfigError" in bad.output


# a Hermes/Qwen-style template with tool support, written from the documented rules: tools in the system turn,
# assistant tool calls as <tool_call> JSON, consecutive tool results as <tool_response> blocks in one user turn
_TOOL_TEMPLATE = """{%- for message in messages -%}
{%- if message.role == 'system' -%}<|im_start|>system
{{ message.content }}{% if tools %}
# Tools
<tools>{% for tool in tools %}
{{ tool | tojson }}{% endfor %}
</tools>{% endif %}<|im_end|>
{% elif message.role == 'tool' -%}
{%- if loop.previtem.role != 'tool' %}<|im_start|>user{% endif %}
<tool_response id="{{ message.tool_call_id }}">
{{ message.content }}
</tool_response>{% if loop.last or loop.nextitem.role != 'tool' %}<|im_end|>
{% endif -%}
{%- else -%}<|im_start|>{{ message.role }}
{{ message.content }}{% for call in message.tool_calls or [] %}
<tool_call>
{"name": "{{ call.function.name }}", "arguments": {{ call.function.arguments | tojson }}}
</tool_call>{% endfor %}<|im_end|>
{% endif -%}
{%- endfor -%}"""


def test_hf_format_rows_render_through_a_chat_template_and_load_with_datasets(tiny_world, tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets is in the dev extra")
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    runs = _scripted_runs(tiny_world, tmp_path)
    out = tmp_path / "hf.jsonl"
    summary = build_sft_dataset([runs], out, SFTFilters(min_reward_research=0.0), output_format="hf")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.written == len(rows) > 0 and {r["kind"] for r in rows} == {"deep_search", "deep_research"}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tokenizer.chat_template = _TOOL_TEMPLATE
    for row in rows:
        names = {tool["function"]["name"] for tool in row["tools"]}
        assert "batch_web_surfer" in names
        system, *rest = row["messages"]
        assert "<tools>" not in system["content"]  # stated once, by the template, from the tools column
        calls = [call for m in rest if m["role"] == "assistant" for call in m.get("tool_calls", [])]
        results = [m for m in rest if m["role"] == "tool"]
        assert calls and results and {m["tool_call_id"] for m in results} <= {c["id"] for c in calls}
        assert all(isinstance(c["function"]["arguments"], dict) and c["function"]["name"] in names for c in calls)
        assert not any("<tool_call>" in m["content"] for m in rest if m["role"] == "assistant")
        assert not any("<tool_response>" in m["content"] for m in results)  # never wrapped twice
        rendered = tokenizer.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
        system_turn, turns = rendered.split("<|im_end|>", 1)  # the system prompt shows the call form once
        assert system_turn.count("<tools>") == 1 and all(json.dumps(t) in system_turn for t in row["tools"])
        assert turns.count("<tool_call>") == len(calls) and turns.count("<tool_response") == len(results)
        assert rest[-1]["role"] == "assistant" and "<answer" in rest[-1]["content"]
    table = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert table.num_rows == len(rows)
    loaded = table[0]
    assert loaded["messages"][0]["role"] == "system" and loaded["tools"]


def test_cli_sft_data_format_hf(tiny_world, tmp_path):
    runs = _scripted_runs(tiny_world, tmp_path)
    result = CliRunner().invoke(app, ["sft-data", str(runs), "--out", str(tmp_path / "hf.jsonl"), "--format", "hf"])
    assert result.exit_code == 0, result.output
    assert all("tools" in json.loads(line) for line in (tmp_path / "hf.jsonl").read_text().splitlines())
    bad = CliRunner().invoke(app, ["sft-data", str(runs), "--out", str(tmp_path / "x.jsonl"), "--format", "trl"])
    assert bad.exit_code == 1 and "output_format must be one of openrlhf, hf" in bad.output
