from __future__ import annotations

import json
import os
import re

import gymnasium as gym
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import drgym  # noqa: F401 - registers the environments
from drgym.envs import Budget, NoiseConfig
from drgym.errors import ConfigError

ENV_IDS = ["drgym/DeepSearch-v1", "drgym/DeepResearch-v1"]


def _call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


@pytest.fixture
def make(tiny_world):
    envs = []

    def factory(env_id="drgym/DeepSearch-v1", **kwargs):
        env = gym.make(env_id, tasks=str(tiny_world.path), **kwargs)
        envs.append(env)
        return env

    yield factory
    for env in envs:
        env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes(make, env_id):
    check_env(make(env_id).unwrapped, skip_render_check=True)


def test_reset_shows_tools_question_and_budget(make, tiny_world):
    env = make()
    task = next(t for t in tiny_world.tasks if t.kind == "deep_search")
    obs, info = env.reset(seed=0, options={"task_id": task.id})
    assert "<tools>" in obs and '"name": "batch_web_surfer"' in obs and task.question in obs
    assert obs.rstrip().endswith("Budget left: tool calls 60, turns 30.")
    assert [t["function"]["name"] for t in info["tools"]] == ["batch_web_surfer", "todo", "file", "analyze_image", "shell"]
    assert info["messages"][1] == {"role": "user", "content": task.question}
    assert info["task_id"] == task.id


def test_tools_of_one_class_share_their_arguments_model_and_each_env_has_its_own_schemas(make):
    first, second = make().unwrapped, make().unwrapped
    assert first.tools["todo"].arguments_model is second.tools["todo"].arguments_model  # built once per process
    assert first.tools["todo"].schema == second.tools["todo"].schema
    first.tools["todo"].schema["function"]["description"] = "changed by a caller"
    assert second.tools["todo"].schema["function"]["description"] != "changed by a caller"
    # the system prompt's line for a tool is its schema as it is (the shared text until a copy is made)
    assert first.tools["todo"].hermes_line() == json.dumps(first.tools["todo"].schema, ensure_ascii=False)
    assert "changed by a caller" in first.tools["todo"].hermes_line()
    from drgym.envs.tools.todo import Todo

    untouched = Todo()
    assert "schema" not in vars(untouched)
    assert json.loads(untouched.hermes_line()) == second.tools["todo"].schema and "schema" not in vars(untouched)


def test_envs_built_after_share_tasks_and_web_play_the_tasks_loaded_once(tiny_world, monkeypatch):
    from drgym.envs import research_env

    monkeypatch.setattr(research_env, "_SHARED_TASKS_AND_WEBS", {})
    research_env.share_tasks_and_web(str(tiny_world.path))
    (shared_tasks, world), = research_env._SHARED_TASKS_AND_WEBS.values()
    # the index's files are loaded, its tantivy reader (which runs a thread) is not: each process opens it
    assert "_searcher" not in vars(world.index)
    envs = [gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path)) for _ in range(2)]
    assert envs[0].unwrapped.index is envs[1].unwrapped.index is world.index and "_searcher" in vars(world.index)
    first = envs[0].unwrapped.tasks[0]
    assert envs[1].unwrapped.tasks is envs[0].unwrapped.tasks is shared_tasks.of_kind("deep_search")
    assert any(task is first for task in shared_tasks)
    other = gym.make("drgym/DeepSearch-v1", tasks=tiny_world.path)  # other arguments: loaded for itself
    assert other.unwrapped.tasks[0] is not envs[0].unwrapped.tasks[0]
    assert other.reset(seed=1)[0] == envs[0].reset(seed=1)[0]
    for env in [*envs, other]:
        env.close()


def test_same_seed_same_task_and_unknown_task_id_suggests(make):
    env = make()
    assert env.reset(seed=3)[1]["task_id"] == env.reset(seed=3)[1]["task_id"]
    with pytest.raises(ConfigError, match=r"no deep_search task 'ds-00000'\. Did you mean 'ds-000\d'"):
        env.reset(options={"task_id": "ds-00000"})


def test_final_answer_terminates_episode_with_match_reward(make, tiny_world):
    env = make()
    task = next(t for t in tiny_world.tasks if t.kind == "deep_search")
    env.reset(seed=0, options={"task_id": task.id})
    obs, reward, terminated, truncated, info = env.step(f"<answer>{task.answers[0]}</answer>")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["verdicts"][0]["verdict"] == "satisfied"
    with pytest.raises(ResetNeeded):
        env.step("<answer>again</answer>")
    env.reset(seed=0, options={"task_id": task.id})
    assert env.step(f"<answer>{task.answers[0]} or 12</answer>")[1] == 0.0


def test_research_report_from_workspace_file_is_graded(make, tiny_world):
    env = make("drgym/DeepResearch-v1")
    task = next(t for t in tiny_world.tasks if t.kind == "deep_research")
    env.reset(seed=0, options={"task_id": task.id})
    cited = sorted(set(re.findall(r"\\cite\{([^}]*)\}", task.meta["gold_report"])))
    for start in range(0, len(cited), 5):  # the judge credits citations of pages retrieved in the episode
        env.step(_call("batch_web_surfer", urls=cited[start:start + 5]))
    draft = task.meta["gold_report"].replace("## ", "## Draft ", 1)
    obs = env.step(_call("file", action="write", path="report.md", content=draft))[0]
    assert "wrote" in obs
    obs = env.step(_call("file", action="patch", path="report.md", old="## Draft ", new="## "))[0]
    assert "patched report.md" in obs
    obs, reward, terminated, _, info = env.step('<answer file="report.md"/>')
    assert terminated and reward == 1.0
    assert {v["verdict"] for v in info["verdicts"] if v["weight"] > 0} == {"satisfied"}


def test_missing_answer_file_is_an_error_not_the_end(make):
    env = make("drgym/DeepResearch-v1")
    env.reset(seed=0)
    obs, reward, terminated, truncated, _ = env.step('<answer file="nothing.md"/>')
    assert not terminated and not truncated and "no file 'nothing.md'" in obs


GARBAGE = [
    "", "hello", "<tool_call>{not json}</tool_call>", "<tool_call>[1, 2]</tool_call>",
    "<tool_call>{\"name\": 5}</tool_call>", _call("no_such_tool"), _call("batch_web_surfer"),
    _call("batch_web_surfer", queries="not a list"), _call("batch_web_surfer", queries=["x"], top_k="many"),
    _call("batch_web_surfer", queries=["x"], bogus=1), _call("todo", action="explode"), _call("todo"),
    _call("file", action="read"), _call("file", action="write", path="a.txt"),
    "<tool_call>" + "x" * 100_000 + "</tool_call>", "x" * 100_000, "\x00\x00<tool_call>\x00</tool_call>",
    "<tool_call><tool_call>{}</tool_call></tool_call>", "<tool_call><answer>1</answer></tool_call>",
    "<tool_call>{\"name\": \"todo\", \"arguments\": {\"action\": \"list\"}", "</tool_call>",
    _call("todo", action="list") + "<answer>both</answer>", "<answer file='../../etc/passwd'/>",
    {"role": "assistant", "tool_calls": [{"function": {"name": "todo", "arguments": "{bad"}}]},
    {"role": "assistant", "tool_calls": "nope"}, {"content": 7}, None, 42, ["list"],
    "<tool_call>" + json.dumps({"name": "todo", "arguments": {"action": "add", "item": "\x00" * 10}}) + "</tool_call>",
]


def test_garbage_actions_never_raise_and_explain_the_error(make):
    env = make(budget=Budget(max_turns=None, max_tool_calls=None))
    env.reset(seed=0)
    for action in GARBAGE:
        obs, reward, terminated, truncated, _ = env.step(action)
        assert isinstance(obs, str) and reward == 0.0 and not terminated and not truncated, action
        if action != GARBAGE[-1]:
            assert "error" in obs, (action, obs)


def test_budget_exhaustion_truncates_and_grades_the_draft(make, tiny_world):
    env = make("drgym/DeepResearch-v1", budget=Budget(max_tool_calls=2))
    task = next(t for t in tiny_world.tasks if t.kind == "deep_research")
    env.reset(seed=0, options={"task_id": task.id})
    cited = sorted(set(re.findall(r"\\cite\{([^}]*)\}", task.meta["gold_report"])))[:5]
    obs, reward, terminated, truncated, info = env.step(_call("batch_web_surfer", urls=cited))
    assert not truncated and "tool calls 1" in obs
    obs, reward, terminated, truncated, info = env.step(
        _call("file", action="write", path="report.md", content=task.meta["gold_report"]))
    assert truncated and not terminated and info["truncated_by"] == "max_tool_calls"
    assert 0 < reward <= 1.0 and "budget exhausted (max_tool_calls)" in obs
    assert {v["verdict"] for v in info["verdicts"] if v["axis"] == "facts"} == {"satisfied"}


def test_token_and_cost_budgets_use_the_given_tokenizer_and_prices(make):
    from drgym.envs import PriceTable

    env = make(budget=Budget(max_tokens=None, max_cost_usd=0.0025, max_turns=None),
               prices=PriceTable(usd_per_tool_call={"batch_web_surfer": 0.001}), tokenizer=lambda text: 1)
    env.reset(seed=0)
    truncated = False
    for _ in range(5):
        _, _, _, truncated, info = env.step(_call("batch_web_surfer", queries=["population"]))
        if truncated:
            break
    assert truncated and info["truncated_by"] == "max_cost_usd" and info["usage"]["tool_calls"] == 3
    assert info["usage"]["input_tokens"] == info["usage"]["turns"] + 1  # one token per text, by the tokenizer


def test_noise_is_seeded_and_fails_about_the_given_share(make):
    def failures(seed):
        env = make(noise=NoiseConfig(rate=0.3), budget=Budget(max_turns=None, max_tool_calls=None))
        env.reset(seed=seed)
        texts = [env.step(_call("batch_web_surfer", queries=[f"population {i}"]))[0] for i in range(60)]
        return [bool(re.search(r"timed out|HTTP 503|empty response|truncated", t)) for t in texts]

    first = failures(1)
    assert first == failures(1)
    assert 8 <= sum(first) <= 30


def test_a_read_lost_to_an_injected_failure_retrieves_nothing(make, tiny_world):
    page = next(iter(tiny_world.corpus))
    env = make(noise=NoiseConfig(rate=0.99), budget=Budget(max_turns=None, max_tool_calls=None))
    env.reset(seed=0)
    for _ in range(5):  # each call fails (but once in a hundred): what it would have shown counts as unseen
        obs, *_, info = env.step(_call("batch_web_surfer", urls=[page.url], queries=[page.title]))
        if re.search(r"timed out|HTTP 503|empty response|truncated", obs):
            assert info["visited_urls"] == [] and env.unwrapped._state.seen_urls == set()
    quiet = make(budget=Budget(max_turns=None, max_tool_calls=None))
    quiet.reset(seed=0)
    *_, info = quiet.step(_call("batch_web_surfer", urls=[page.url], queries=[page.title]))
    assert info["visited_urls"] == [page.url] and quiet.unwrapped._state.seen_urls


def test_browse_paginates_and_finds(make, tiny_world):
    env = make(budget=Budget(max_turns=None, max_tool_calls=None))
    env.reset(seed=0)
    page = max(tiny_world.corpus, key=lambda p: len(p.paragraphs))
    obs = env.step(_call("batch_web_surfer", urls=[page.url]))[0]
    assert f"page: {page.title}" in obs and "¶0:" in obs and "[tier" in obs
    word = page.paragraphs[-1].split()[0]
    found = env.step(_call("batch_web_surfer", urls=[page.url], find=word))[0]
    assert f"containing {word!r}" in found
    missing = env.step(_call("batch_web_surfer", urls=["https://nowhere.example/x"]))[0]
    assert "no page at this url" in missing
    assert env.step(_call("batch_web_surfer", urls=[page.url], page=99))[0].count("does not exist") == 1


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_envs_step_in_parallel(tiny_world, vector_cls):
    fns = [lambda: gym.make("drgym/DeepSearch-v1", tasks=str(tiny_world.path)) for _ in range(2)]
    envs = vector_cls(fns, shared_memory=False) if vector_cls is gym.vector.AsyncVectorEnv else vector_cls(fns)
    try:
        observations, infos = envs.reset(seed=[0, 1])
        assert len(observations) == 2 and all("<tools>" in o for o in observations)
        actions = (_call("batch_web_surfer", queries=["mayor"]), "<answer>no idea</answer>")
        observations, rewards, terminated, truncated, infos = envs.step(actions)
        assert "search:" in observations[0] and list(terminated) == [False, True]
    finally:
        envs.close()


def test_close_removes_the_workspace(make):
    env = make()
    env.reset(seed=0)
    root = env.unwrapped.workspace_root
    env.step(_call("file", action="write", path="notes.md", content="x"))
    assert any(root.rglob("notes.md"))
    env.close()
    assert not os.path.exists(root)


def test_env_without_tasks_of_its_kind_is_a_config_error(tmp_path, tiny_world):
    only_search = tmp_path / "tasks.jsonl"
    only_search.write_text("".join(t.model_dump_json() + "\n" for t in tiny_world.tasks if t.kind == "deep_search"))
    with pytest.raises(ConfigError, match="no deep_research tasks"):
        gym.make("drgym/DeepResearch-v1", tasks=str(only_search), web=str(tiny_world.path))
    with pytest.raises(ConfigError, match="Did you mean 'procedural:tiny'"):
        gym.make("drgym/DeepSearch-v1", tasks="procedural:tinny")


def test_token_budget_counts_with_a_hugging_face_tokenizer(make):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(["answer tool call search the a"], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", bos_token="[UNK]")
    env = make(tokenizer=tokenizer, budget=Budget(max_tokens=100_000))
    _, info = env.reset(seed=0)
    assert info["usage"]["output_tokens"] == 0
    info = env.step("one two three four")[4]
    assert info["usage"]["output_tokens"] == 4


def test_llm_judge_grades_deep_research_through_an_endpoint(make, tiny_world, tmp_path):
    from ..rewards.chat_server import ChatServer, criteria_of, report_of

    def behaviour(body):
        first_sentence = report_of(body).split("\n\n")[2].split(". ")[0]
        return 200, json.dumps({"verdicts": [{"id": rubric_id, "verdict": "satisfied",
                                              "evidence_quotes": [first_sentence]} for rubric_id, _ in criteria_of(body)]})

    task = next(t for t in tiny_world.tasks if t.kind == "deep_research")
    with ChatServer(behaviour) as server:
        env = make("drgym/DeepResearch-v1", judge="llm",
                   judge_config={"base_url": server.url, "model": "judge", "cache_dir": tmp_path / "cache"})
        env.reset(seed=0, options={"task_id": task.id})
        _, reward, terminated, _, info = env.step(f"<answer>{task.meta['gold_report']}</answer>")
    positive = sum(r.weight for r in task.rubrics if r.weight > 0)
    assert terminated and reward == pytest.approx(sum(r.weight for r in task.rubrics) / positive)  # faults too
    assert len(server.requests) == len(task.rubrics)
    assert info["citations"]["fabricated"] == info["citations"]["citations"] > 0  # nothing was retrieved
    with pytest.raises(ConfigError, match="judge_config"):
        make("drgym/DeepResearch-v1", judge="llm")


def test_llm_judge_checks_deep_search_answer_equivalence(make, tiny_world, tmp_path):
    from ..rewards.chat_server import ChatServer

    task = next(t for t in tiny_world.tasks if t.kind == "deep_search")
    reply = json.dumps({"extracted_final_answer": "x", "reasoning": "equivalent wording", "correct": "yes"})
    with ChatServer(lambda body: (200, reply)) as server:
        env = make(judge="llm", judge_config={"base_url": server.url, "model": "judge", "use_cache": False})
        env.reset(seed=0, options={"task_id": task.id})
        _, reward, _, _, info = env.step("<answer>my research points to the one in the registry</answer>")
        assert reward == 1.0 and "equivalent wording" in info["verdicts"][0]["evidence"]
        env.reset(seed=0, options={"task_id": task.id})
        assert env.step(f"<answer>{task.answers[0]}</answer>")[1] == 1.0
    assert len(server.requests) == 1  # an exact match needs no model


def test_a_trailing_unclosed_tool_call_runs_as_vllm_leaves_it(make):
    env = make()
    env.reset(seed=0)
    obs, *_ = env.step('<think>plan</think><tool_call>{"name": "todo", "arguments": {"action": "list"}}')
    assert obs.startswith("<tool_response>\ntodo list") and obs.endswith("</tool_response>")
    obs, *_ = env.step('<tool_call>{"name": "todo", "arguments": {"action": "list"}}</tool_call><tool_call>{"name":')
    assert "error" in obs  # only a last call whose JSON is whole may stay open


def test_a_plain_assistant_message_is_the_final_answer(make):
    env = make()
    env.reset(seed=0)
    *_, terminated, _, info = env.step({"role": "assistant", "content": "42"})
    assert terminated and info["submission"] == "42"


def test_a_draft_or_submission_linked_to_a_host_file_is_never_read(make, tiny_world, tmp_path):
    """A white-box adversary's escape: `ln -s /host/file report.md` in the shell, then running the budget out, made
    the env read the host file as the draft (it reached info["submission"] and the verdicts). Links, pipes and
    links swapped in after a check are refused: the draft and the submission are regular workspace files."""
    secret = tmp_path / "secret.md"
    secret.write_text(next(t for t in tiny_world.tasks if t.kind == "deep_research").meta["gold_report"])
    env = make("drgym/DeepResearch-v1", budget=Budget(max_tool_calls=1))
    env.reset(seed=0)
    workspace = env.unwrapped._state.workspace
    os.symlink(secret, workspace / "report.md")  # what the shell tool's `ln -s` leaves
    obs, _, terminated, _, _ = env.step('<answer file="report.md"/>')
    assert not terminated and "cannot submit 'report.md'" in obs
    (workspace / "sub").mkdir()
    os.symlink(secret, workspace / "sub" / "r.md")
    obs, _, terminated, _, _ = env.step('<answer file="sub/r.md"/>')
    assert not terminated and "cannot submit" in obs
    _, reward, _, truncated, info = env.step(_call("todo", action="list"))  # the last tool call: budget over
    assert truncated and reward == 0.0 and info["verdicts"] == [] and info.get("submission", "") == ""
    # a pipe named report.md: refused at once, never waited on
    env.reset(seed=1)
    os.mkfifo(env.unwrapped._state.workspace / "report.md")
    obs, _, terminated, _, _ = env.step('<answer file="report.md"/>')
    assert not terminated and "not a regular file" in obs


def test_a_folder_link_swapped_in_after_the_check_is_not_followed(tmp_path, monkeypatch):
    from drgym.envs.tools import file as file_tool

    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    (workspace / "notes").mkdir(parents=True)
    outside.mkdir()
    (outside / "a.md").write_text("host secret")
    (workspace / "notes" / "a.md").write_text("mine")
    checked = file_tool.resolve_workspace_path

    def check_then_swap(root, path):  # the race: the path is fine when checked, a link when opened
        result = checked(root, path)
        (workspace / "notes" / "a.md").unlink()
        (workspace / "notes").rmdir()
        os.symlink(outside, workspace / "notes")
        return result

    monkeypatch.setattr(file_tool, "resolve_workspace_path", check_then_swap)
    with pytest.raises(file_tool.ToolError, match="symbolic links are not followed"):
        file_tool.open_workspace_file(workspace, "notes/a.md")
