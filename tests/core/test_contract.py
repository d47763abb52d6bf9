"""The typed contract between the layers: one protocol, typed results and errors, one chat client, validated
configs, and a layout static tools resolve. Each test pins a bug that text passed between layers once caused."""

from __future__ import annotations

import json
import pickle
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import drgym
from drgym.core.chat_client import ChatClient, ChatEndpoint
from drgym.core.kinds import ENV_IDS, TASK_KINDS, env_id_for
from drgym.core.protocol import format_answer, format_native_tool_calls, format_tool_call, parse_action
from drgym.envs.tools import EpisodeState, Tool, ToolError, register_tool
from drgym.errors import ConfigError, EndpointError, NoTasksError
from drgym.tasks.procedural import WorldSpec
from drgym.tasks.schema import TaskSet

from ..rewards.chat_server import ChatServer

ROOT = Path(__file__).resolve().parents[2]


# -- the action protocol: what is formatted is what is parsed -------------------------------------------------

@pytest.mark.parametrize("arguments", [{"queries": ["Zouboudrein Industries chief executive"]},
                                       {"action": "write", "path": "r.md", "content": "ü\n</tool_call> \"q\""},
                                       {}])
def test_a_formatted_tool_call_parses_back_to_the_same_call(arguments):
    parsed = parse_action("<think>plan</think>" + format_tool_call("file", arguments))
    assert not parsed.errors and [(c.name, c.arguments) for c in parsed.tool_calls] == [("file", arguments)]


def test_formatted_answers_parse_back():
    assert parse_action(format_answer("Kelvaport")).answer == "Kelvaport"
    assert parse_action(format_answer(file="report.md")).answer_file == "report.md"
    with pytest.raises(ValueError):
        format_answer("x", file="r.md")


def test_native_tool_calls_become_text_without_losing_malformed_arguments():
    calls = [{"id": "1", "type": "function", "function": {"name": "todo", "arguments": '{"action": "list"}'}},
             {"id": "2", "type": "function", "function": {"name": "file", "arguments": "{not json"}},
             "garbage"]
    text = format_native_tool_calls(calls)
    assert text.count("<tool_call>") == 2
    assert parse_action(format_native_tool_calls(calls[:1])).tool_calls[0].arguments == {"action": "list"}
    assert "{not json" in text  # kept as the string the model wrote, so the env can say what was wrong
    assert format_native_tool_calls(json.dumps(calls[:1])) == format_native_tool_calls(calls[:1])
    assert format_native_tool_calls("not a list") == ""


# -- kinds, typed errors, validated configs ------------------------------------------------------------------

def test_every_task_kind_has_a_registered_environment():
    assert set(ENV_IDS) == set(TASK_KINDS)
    for kind in TASK_KINDS:
        assert env_id_for(kind) in gym.registry
    with pytest.raises(ValueError, match="unknown task kind 'chat'"):
        env_id_for("chat")


def test_an_env_over_tasks_of_the_other_kind_raises_no_tasks_error(tiny_world, tmp_path):
    research_only = TaskSet([t for t in tiny_world.tasks if t.kind == "deep_research"], name="research-only")
    path = tmp_path / "tasks.jsonl"
    research_only.save(path)
    with pytest.raises(NoTasksError, match="no deep_search tasks"):
        gym.make("drgym/DeepSearch-v1", tasks=str(path), web=str(tiny_world.path))


def test_world_spec_checks_its_fields_when_built():
    with pytest.raises(ConfigError, match=r"min_hops=5, max_hops=3"):
        WorldSpec(min_hops=5, max_hops=3)
    with pytest.raises(ConfigError, match=r"conflict_rate must be in \[0, 1\], got 1.5"):
        WorldSpec(conflict_rate=1.5)
    with pytest.raises(ConfigError, match="pages must be at least 1"):
        WorldSpec(pages=0)


# -- one chat client -----------------------------------------------------------------------------------------

def test_chat_client_retries_transient_answers_then_returns_the_message():
    answers = iter([(503, "busy"), (502, "bad gateway"), (429, "slow down")])

    def behaviour(body):
        return next(answers, (200, {"role": "assistant", "content": "ok", "tool_calls": []}))

    with ChatServer(behaviour) as server:
        client = ChatClient(ChatEndpoint(server.url, backoff_s=0.01, max_retries=3))
        reply = client.complete({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert reply.content == "ok" and client.requests == 4 and len(server.requests) == 4


def test_chat_client_gives_up_as_transient_and_refusals_are_not():
    with ChatServer(lambda body: (503, "busy")) as server:
        client = ChatClient(ChatEndpoint(server.url, backoff_s=0.01, max_retries=1))
        with pytest.raises(EndpointError, match="failed 2 times: HTTP 503") as info:
            client.complete({"model": "m", "messages": []})
        assert info.value.transient
    with ChatServer(lambda body: (401, '{"error": "bad key"}')) as server:
        with pytest.raises(EndpointError, match="HTTP 401") as info:
            ChatClient(ChatEndpoint(server.url)).complete({"model": "m", "messages": []})
        assert not info.value.transient
    with pytest.raises(EndpointError, match=r"http://127.0.0.1:9/v1 is unreachable"):
        ChatClient(ChatEndpoint("http://127.0.0.1:9/v1", max_retries=0)).complete({"model": "m", "messages": []})


def test_chat_client_pickles_for_worker_processes():
    with ChatServer(lambda body: (200, "ok")) as server:
        client = ChatClient(ChatEndpoint(server.url))
        client.complete({"model": "m", "messages": []})
        copy = pickle.loads(pickle.dumps(client))
        assert copy.complete({"model": "m", "messages": []}).content == "ok"


# -- a layout static tools resolve ---------------------------------------------------------------------------

def _all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(drgym.__path__, "drgym.") if m.name != "drgym.__main__")


def test_every_package_folder_is_reached_through_drgym_without_an_import_hook():
    assert not any("__editable__" in type(finder).__module__ for finder in sys.meta_path)
    # the packages are real folders of drgym/ (what pip copies); the top-level folders are links to them
    for name in ("core", "web", "rewards", "tasks", "envs", "agents", "train", "benchmarks"):
        assert (ROOT / "drgym" / name / "__init__.py").is_file() and not (ROOT / "drgym" / name).is_symlink()
        if (ROOT / name).exists():
            assert (ROOT / name).resolve() == (ROOT / "drgym" / name).resolve()
    assert {"drgym.core.protocol", "drgym.envs.research_env", "drgym.cli.app"} <= set(_all_modules())


@pytest.mark.slow
def test_mypy_resolves_every_drgym_module(tmp_path):
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mypy is not installed (it is in the dev extra)")
    probe = tmp_path / "imports_everything.py"
    probe.write_text("".join(f"import {name}\n" for name in _all_modules()) + "import drgym.no_such_module\n")
    run = subprocess.run([str(Path(sys.executable).parent / "mypy"), "--follow-imports=skip", "--no-incremental",
                          str(probe)], capture_output=True, text=True, cwd=tmp_path)
    unresolved = [line for line in run.stdout.splitlines() if "import-not-found" in line or "import-untyped" in line]
    assert [line.removeprefix(str(tmp_path) + "/") for line in unresolved] == [
        f"{probe.name}:{len(_all_modules()) + 1}: error: Cannot find implementation or library stub "
                          'for module named "drgym.no_such_module"  [import-not-found]'], run.stdout[-3000:]


def test_the_env_grades_with_any_judge_that_has_the_judge_signature(tiny_world):
    from drgym.rewards.protocol import Judge
    from drgym.rewards.scoring import Grade, RubricVerdict

    seen = {}

    class Lenient:
        def grade(self, rubrics, report, *, retrieved_urls=None, sources=None):
            seen["retrieved"] = set(retrieved_urls or ())
            return Grade(1.0, [RubricVerdict(r.id, "satisfied", weight=r.weight) for r in rubrics], 1.0, [])

    assert isinstance(Lenient(), Judge)
    env = gym.make("drgym/DeepResearch-v1", tasks=str(tiny_world.path / "tasks.jsonl"), web=str(tiny_world.path),
                   judge=Lenient())
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(format_answer("# A report"))
    assert terminated and reward == 1.0 and seen["retrieved"] == set()
    with pytest.raises(ConfigError, match="Judge's grade method"):
        gym.make("drgym/DeepResearch-v1", tasks=str(tiny_world.path / "tasks.jsonl"), web=str(tiny_world.path),
                 judge=object())


def test_the_llm_judge_never_shows_the_model_a_citation_of_an_unread_page(tmp_path):
    from drgym.rewards.llm_judge import LLMJudge, LLMJudgeConfig
    from drgym.rewards.rubric import Rubric

    bodies = []

    def behaviour(body):
        bodies.append(" ".join(m["content"] for m in body["messages"]))
        return 200, json.dumps({"verdicts": [{"id": "r0", "verdict": "not_satisfied", "evidence_quotes": [],
                                              "reasoning": "r"}]})

    report = ("Kelvaport handled 1,204 ships in 2023 \\cite{https://port.gov/a, https://blog.example/b}. "
              "See https://blog.example/c too.")
    with ChatServer(behaviour) as server:
        LLMJudge(LLMJudgeConfig(base_url=server.url, model="m", use_cache=False, backoff_s=0.01)).grade(
            [Rubric(id="r0", criterion="States the ship count", weight=2)], report,
            retrieved_urls={"https://port.gov/a"})
    assert "https://port.gov/a" in bodies[0]
    assert "blog.example" not in bodies[0] and "[unread source]" in bodies[0]


def test_offline_live_and_user_webs_share_one_protocol(tiny_world):
    from drgym.agents import ScriptedResearcher
    from drgym.web.live.web import LiveWeb
    from drgym.web.protocol import Web, WebCorpus

    index = tiny_world.index
    assert isinstance(index, Web) and isinstance(index.corpus, WebCorpus)
    assert isinstance(LiveWeb({"mode": "replay", "cassette_dir": "unused"}), Web)

    class CountingWeb:  # a user's web: delegates to the offline index and counts episodes
        def __init__(self):
            self.corpus, self.episodes = index.corpus, []

        def search(self, query, k=10, **options):
            return index.search(query, k, **options)

        def start_episode(self, name):
            self.episodes.append(name)

        def finish_episode(self):
            self.episodes.append("end")

    web = CountingWeb()
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path / "tasks.jsonl"), web=web)
    _, info = env.reset(seed=4)
    policy, done = ScriptedResearcher(), False
    while not done:
        _, reward, terminated, truncated, info = env.step(policy.act(info["messages"]))
        done = terminated or truncated
    env.close()
    assert web.episodes[0].endswith("-seed4") and web.episodes[-1] == "end" and reward == 1.0


def test_a_registered_tool_is_offered_described_and_run_by_name(tiny_world):
    class WordCount(Tool):
        name = "word_count"

        def run(self, state: EpisodeState, *, text: str) -> str:
            """Count the words of a text. Example: {"text": "two words"}

            Args:
                text: the text to count.
            """
            if not text.strip():
                raise ToolError("text is empty; pass the text to count")
            return f"{len(text.split())} words"

    register_tool("word_count", lambda context: WordCount(), replace=True)
    with pytest.raises(ConfigError, match="registered already"):
        register_tool("word_count", lambda context: WordCount())
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path / "tasks.jsonl"), web=str(tiny_world.path),
                   tools=["batch_web_surfer", "word_count"])
    obs, info = env.reset(seed=0)
    assert "word_count" in obs and {t["function"]["name"] for t in info["tools"]} == {"batch_web_surfer", "word_count"}
    obs, *_ = env.step(format_tool_call("word_count", {"text": "one two three"}))
    assert "3 words" in obs
    obs, *_ = env.step(format_tool_call("word_count", {"text": " "}))
    assert "error: text is empty" in obs
    with pytest.raises(ConfigError, match="unknown tool 'word_cont'. Did you mean 'word_count'"):
        gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path / "tasks.jsonl"), web=str(tiny_world.path),
                 tools=["word_cont"])
    env.close()


def test_the_env_is_built_from_one_checked_config(tiny_world):
    from drgym.envs.config import EnvConfig

    tasks = str(tiny_world.path / "tasks.jsonl")
    with pytest.raises(ConfigError, match="unknown environment option 'budgett'. Did you mean 'budget'"):
        gym.make("drgym/DeepSearch-v1", tasks=tasks, budgett={"max_turns": 3})
    config = EnvConfig(tasks=tasks, web=str(tiny_world.path), budget={"max_turns": 3}, noise=0.1,
                       tools=["batch_web_surfer"])
    assert config.budget.max_turns == 3 and config.noise.rate == 0.1 and config.tools == ("batch_web_surfer",)
    env = gym.make("drgym/DeepSearch-v1", config=config)
    assert env.unwrapped.config is config and list(env.unwrapped.tools) == ["batch_web_surfer"]
    env.close()
    for bad, message in (({"workspace_quota_mb": 0}, "workspace_quota_mb must be a positive"),
                         ({"tools": "file"}, "tools must be a list"), ({"live": {}}, "live= is for web='live'"),
                         ({"render_mode": "human"}, "render_mode must be one of")):
        with pytest.raises(ConfigError, match=message):
            EnvConfig(tasks=tasks, **bad)
    with pytest.raises(ConfigError, match="not both"):
        gym.make("drgym/DeepSearch-v1", config=config, budget={"max_turns": 4})


def test_web_takes_a_suite_name(tiny_world):
    env = gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path / "tasks.jsonl"), web="procedural:tiny")
    assert env.unwrapped.web_kind == "procedural"
    env.close()
