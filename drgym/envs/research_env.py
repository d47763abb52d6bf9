"""Gymnasium environments for deep-research agents: `drgym/DeepSearch-v1` and `drgym/DeepResearch-v1`."""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import shutil
import tempfile
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import gymnasium as gym
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from drgym.core.clipping import clip
from drgym.core.kinds import TASK_KINDS
from drgym.core.protocol import MAX_ACTION_CHARS, ParsedAction, action_size_problem, parse_action
from drgym.core.results import ToolResult
from drgym.envs.budget import BudgetTracker
from drgym.envs.config import EnvConfig
from drgym.envs.history import MessageHistory
from drgym.envs.noise import failure_text, inject
from drgym.envs.tools.base import EpisodeState, Tool, ToolError
from drgym.envs.tools.file import MAX_FILE_BYTES, open_workspace_file
from drgym.envs.tools.registry import DEFAULT_TOOLS, ToolContext, build_tools
from drgym.errors import ConfigError, NoTasksError, SearchIndexError
from drgym.rewards.answer import match_answer
from drgym.rewards.citations import check_citations
from drgym.rewards.judges import DeterministicJudge
from drgym.rewards.llm_judge import LLMAnswerGrader, LLMJudge, LLMJudgeConfig
from drgym.rewards.protocol import Judge
from drgym.tasks.procedural import ProceduralWorld
from drgym.tasks.schema import Task, TaskSet
from drgym.tasks.suites import DEFAULT_SUITE, SUITES, load_suite, resolve_tasks
from drgym.web.corpus import Corpus
from drgym.web.index import SearchIndex
from drgym.web.protocol import Web

__all__ = ["DEFAULT_TOOLS", "SYSTEM_PROMPTS", "DeepResearchEnv", "DeepSearchEnv", "ResearchEnv", "UnicodeText",
           "keep_shared_tasks_and_web", "share_tasks_and_web"]

logger = logging.getLogger(__name__)

"""Always on; `shell` joins them when bubblewrap and tmux are installed."""
MAX_TEXT_CHARS = MAX_ACTION_CHARS
"""Longest action and longest observation (the spaces' `max_length`); longer observations are cut to fit."""
MAX_TOOL_RESPONSE_CHARS = 100_000
"""Longest result of one tool call in a batch; the rest is cut with a note."""
MAX_KEPT_FAILED_ACTION_CHARS = 4_000
"""An action that achieved nothing (malformed, or every call in it refused) is kept in `info["messages"]` up to
this many characters, with a note of its length, so a long episode of degenerate output does not hold every
copy of it. Actions that did something are kept whole: the trajectory needs them."""
_SAMPLE_CHARSET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 <>/{}\":,._-\né"


class UnicodeText(spaces.Text):
    """Any Unicode string up to `max_length` characters: web text is not limited to a charset.

    `sample()` draws from a small charset that includes the protocol's tag characters.
    """

    def __init__(self, max_length: int = MAX_TEXT_CHARS, *, seed: int | None = None) -> None:
        super().__init__(max_length=max_length, min_length=0, charset=_SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.max_length})"


_HOW_TO_ACT = """Call tools by writing one or more tool calls in a turn (they run as a batch):
<tool_call>{{"name": "batch_web_surfer", "arguments": {{"queries": ["..."]}}}}</tool_call>
You may think first inside <think>...</think>. {finish}

# Tools
<tools>
{tools}
</tools>"""
SYSTEM_PROMPTS = {
    "procedural": """You are a research agent working on an offline web of fictional entities: nothing you know \
from training applies, so every fact must come from the pages. Sources have authority tiers: 1 = official \
registers, statistics offices and journals; 2 = reputable secondary sources; 3 = forums and content farms, which \
may state wrong or outdated figures. When sources disagree, trust the tier-1 source and the most recent figure.

""" + _HOW_TO_ACT,
    "real": """You are a research agent with a search engine over a collection of web pages. Base every fact on \
what the pages say: check what you remember against them rather than answering from memory. Each result shows \
its source's authority tier: 1 = official, primary and reference sources; 2 = reputable secondary sources; 3 = \
forums, blogs and other unvetted pages, which may be wrong or out of date. When sources disagree, prefer the \
higher tier and the more recent page.

""" + _HOW_TO_ACT,
}
"""The default system prompt by kind of web: "procedural" for a procedural world (a folder with world.json),
"real" for anything else (ingested pages, an imported corpus, the live web)."""
_FINISH = {
    "deep_search": "When you know the answer, reply with <answer>the answer alone</answer>: a name or a figure, "
                   "not a list of candidates.",
    "deep_research": "Finish with the full report in <answer>...</answer>, or draft it in the workspace with the "
                     "file tool and submit <answer file=\"report.md\"/>. Write Markdown with section headings and "
                     "cite the page behind each fact as \\cite{url}.",
}


class ResearchEnv(gym.Env[str, str]):
    """A research task on an offline web, one assistant turn per step.

    ## Description
    The agent receives a question (deep_search: a short multi-hop question with one answer; deep_research: an
    open-ended report request graded by a checklist of rubrics) and researches it with the Step-DeepResearch
    tool set: ``batch_web_surfer`` (batched search and page reads), ``todo``, ``file`` (a private
    workspace), ``analyze_image`` (charts on pages) and ``shell`` (a sandboxed terminal on the workspace). Budgets on tool calls, turns, tokens, seconds and cost are enforced by the environment.

    ## Action Space
    `UnicodeText`: the assistant's raw text, with ``<tool_call>{"name": …, "arguments": {…}}</tool_call>``
    (several run as a batch) or a final ``<answer>…</answer>`` / ``<answer file="report.md"/>``. An OpenAI
    assistant message dict with ``tool_calls`` is accepted too. A malformed action costs a turn (and each tool
    call it wrote costs a call) and returns an error observation; it never raises. Actions longer than
    1,000,000 characters are refused before parsing; tool arguments have their own caps (query and url length,
    todo items, file and patch sizes, tool names), and a refusal quotes a short preview, never the input.

    ## Observation Space
    `UnicodeText`: on reset, the instructions with the tool descriptions and the question; after a step, one
    ``<tool_response>`` block per tool result (or for the error), the budget left inside the last, so that
    Qwen/Hermes chat templates read it as a tool turn. A tool result is cut at 100,000 characters and the
    observation at the space's 1,000,000, each with a note. ``info["messages"]`` holds the episode as OpenAI chat
    messages, ``info["tools"]`` the tools as OpenAI JSON schemas, ``info["budget"]`` what is left.

    ## Rewards
    0 on every step but the last. On an answer: deep_search, 1.0 if it commits to one candidate and that matches
    an accepted answer (numeric tolerance, aliases; listing candidates or hedging is wrong; with ``judge="llm"``
    an answer that does not match is
    checked for equivalence by the model, BrowseComp-style) else 0.0; deep_research, the rubric score
    Σ w·m / Σ_{w>0} w minus 0.3 per integrity fault of the judge (negative when faults outweigh), with
    per-rubric verdicts in ``info["verdicts"]`` and
    citation precision/recall in ``info["citations"]`` and the graded text, as submitted, in
    ``info["submission"]``; a citation of a page the agent never retrieved (searched
    or opened) in the episode supports nothing.

    ## Episode End
    Terminated when the agent answers. Truncated when a budget runs out; the reward is then the grade of
    ``report.md`` in the workspace for deep_research (if drafted), else 0.

    ## Arguments
    The keyword options are the fields of `drgym.envs.config.EnvConfig`, checked when the env is built (an unknown
    option is named with the closest one); ``config=EnvConfig(...)`` passes them as one object.
    ``tasks`` (TaskSet, task file path or suite name; default the embedded ``procedural:easy`` world's tasks),
    ``web`` (corpus or world folder, or a `SearchIndex`; default: the suite's world, else the folder the tasks'
    ``corpus`` field names, absolute or relative to the task file, else the task file's folder), ``budget``
    (`Budget`), ``tools`` (names, default all), ``judge`` ("deterministic", or "llm" with ``judge_config``: an
    `LLMJudgeConfig` or its fields), ``noise`` (rate or `NoiseConfig`),
    ``system_prompt`` (a template with ``{tools}`` and ``{finish}``; default: `SYSTEM_PROMPTS` by the web's kind,
    "procedural" for a world folder (it has world.json: fictional entities, nothing known applies) and "real" for
    any other corpus or the live web),
    ``unsearchable`` (url fragments of pages search never returns, e.g. ``["/archive/"]``: link-walk tasks),
    ``web="live"`` with ``live`` (`drgym.web.live.LiveConfig` or its fields: back-end, record/replay) for the real web,
    ``workspace_root`` (each episode gets a fresh folder in it), ``workspace_quota_mb`` (disk the episode's
    files may use, default 256), ``tokenizer``, ``prices`` (`PriceTable`), ``vision`` (`VisionBackend` or its fields as
    a dict: an OpenAI-compatible VLM endpoint for analyze_image), ``render_mode`` ("ansi").

    ## Example
    >>> import gymnasium as gym, drgym
    >>> env = gym.make("drgym/DeepSearch-v1", tasks="procedural:tiny")
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step("<answer>I do not know</answer>")
    >>> terminated, reward
    (True, 0.0)
    >>> env.close()
    """

    metadata = {"render_modes": ["ansi"]}
    kind: str = ""

    def __init__(self, tasks: TaskSet | str | Path | None = None, *, config: EnvConfig | None = None,
                 **options: Any) -> None:
        if config is None:
            config = EnvConfig.from_options(tasks=tasks, **options)
        elif tasks is not None or options:
            raise ConfigError("pass either config= or keyword options (tasks=, web=, ...), not both")
        self.config = config
        """What this env was built from (`EnvConfig`)."""
        self.render_mode = config.render_mode
        if isinstance(config.web, str) and config.web == "live":
            task_set, self.index = _live_tasks_and_web(config.tasks, config.live)
        else:
            task_set, self.index = _resolve_tasks_and_web(config.tasks, config.web)
        # the judge looks for copied sentences in the offline corpus (the live web cannot be searched for them)
        self._copy_sources = self.index if isinstance(self.index, SearchIndex) else None
        if isinstance(self.index, SearchIndex):  # loaded without its reader when shared: errors show here
            self.index.open_engine()
        self._task_set = task_set
        self.tasks = task_set.of_kind(self.kind)
        """The tasks this env plays, in order: a tuple shared by the envs built on the same task set."""
        if not self.tasks:
            raise NoTasksError(f"no {self.kind} tasks in {task_set.name!r} ({len(task_set)} tasks of other kinds)")
        self._judge = _build_judge(config.judge, config.judge_config)
        self._answer_grader = LLMAnswerGrader(self._judge.config) if isinstance(self._judge, LLMJudge) else None
        if self.kind == "deep_research" and isinstance(self._judge, DeterministicJudge):
            unchecked = list(task_set.without_checks(self.kind))
            if unchecked:
                raise ConfigError(f"the deterministic judge needs a machine 'check' on every rubric; tasks "
                                  f"{unchecked[:5]} have rubrics without one: use judge='llm' with judge_config")
        self.budget, self.noise, self.prices = config.budget, config.noise, config.prices
        self.tokenizer = config.tokenizer
        self.workspace_quota_mb = config.workspace_quota_mb
        self.tools = build_tools(config.tools, ToolContext(web=self.index, vision=config.vision,
                                                           unsearchable=config.unsearchable))
        self.workspace_root = config.workspace_root or Path(tempfile.mkdtemp(prefix="drgym-"))
        self.workspace_root.mkdir(parents=True, exist_ok=True)
        self._resources = _Resources(tools=self.tools, root=self.workspace_root,
                                     owns_root=config.workspace_root is None)
        # A dropped env (no close()) still stops its sandbox processes and removes its folders: the finalizer
        # holds only the resources, never the env, so the env can be collected.
        self._finalizer = weakref.finalize(self, _release, self._resources)
        self.observation_space = UnicodeText()
        self.action_space = UnicodeText()
        self._tool_schemas = [tool.schema for tool in self.tools.values()]
        self.web_kind = _web_kind(self.index)
        """"procedural" or "real": which default system prompt the env uses (see `SYSTEM_PROMPTS`)."""
        template = SYSTEM_PROMPTS[self.web_kind] if config.system_prompt is None else config.system_prompt
        try:
            self._system_prompt = template.format(
                finish=_FINISH[self.kind], tools="\n".join(tool.hermes_line() for tool in self.tools.values()))
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"system_prompt: a template may use only {{tools}} and {{finish}} (write literal "
                              f"braces as {{{{ }}}}); got error {e!r}") from None
        self._episode = 0
        self._task: Task | None = None
        self._state: EpisodeState | None = None
        self._tracker: BudgetTracker | None = None
        self._messages = MessageHistory()
        self._done = True
        self._citations: dict[str, float] | None = None
        self._submission: str | None = None
        """The text last graded (the answer or report as submitted), recorded when it is graded."""
        self.last_tool_calls: list[dict[str, Any]] = []
        """The tool calls of the last step with their wall time: kept out of `info`, which must stay
        deterministic for `check_env`."""
        self.last_results: list[ToolResult] = []
        """The results the last observation shows, in order (what trajectory records store per call)."""
        self.last_budget_note = ""
        """The budget line closing the last observation ("" when the episode ended)."""

    # -- gymnasium API --------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if "task_id" in options:
            task = self._task_set.get(options["task_id"]) if isinstance(options["task_id"], str) else None
            if task is None or task.kind != self.kind:
                close = difflib.get_close_matches(str(options["task_id"]), [t.id for t in self.tasks], n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"no {self.kind} task {options['task_id']!r}.{hint}")
        else:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        self._close_episode()
        self._episode += 1
        # the live web opens one cassette per (task, seed); an offline index keeps no per-episode state
        self.index.start_episode(f"{task.id}-seed{seed}" if seed is not None else f"{task.id}-ep{self._episode}")
        # mkdtemp: unique even when envs share a workspace_root or a crashed run left its folders behind
        self.workspace_root.mkdir(parents=True, exist_ok=True)
        workspace = Path(tempfile.mkdtemp(prefix=f"episode-{self._episode:05d}-", dir=self.workspace_root))
        self._resources.workspace = workspace
        self._task = task
        deadline = None if self.budget.max_seconds is None else time.monotonic() + self.budget.max_seconds
        self._state = EpisodeState(workspace=workspace, rng=self.np_random, deadline=deadline,
                                   quota_bytes=self.workspace_quota_mb * 2**20)
        for tool in self.tools.values():
            tool.reset(self._state)
        # one clock for the time budget and the tools' timeouts
        started = None if deadline is None else deadline - self.budget.max_seconds
        self._tracker = BudgetTracker(self.budget, self.prices, self.tokenizer, started=started)
        self._done = False
        self._messages = MessageHistory([{"role": "system", "content": self._system_prompt},
                                         {"role": "user", "content": task.question}])
        observation = f"{self._system_prompt}\n\n# Question\n{task.question}\n\n{self._tracker.describe()}"
        self._tracker.charge_observation(observation)
        return observation, self._info()

    def step(self, action: str | dict) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._done or self._task is None:
            raise ResetNeeded("the episode has ended: call reset() before step()")
        self.last_tool_calls = []
        tracker, state = self._tracker, self._state
        parsed = parse_action(action)
        action_text = _action_text(action)
        tracker.charge_action(action_text)
        reward, terminated, verdicts, results = 0.0, False, None, []
        is_fruitless = True  # until something the action asked for happens
        self._citations = None
        self._submission = None
        if parsed.errors:
            tracker.charge_unrun_calls(parsed.n_calls)
            results = [ToolResult.error("\n".join(parsed.errors))]
        elif parsed.answer is not None or parsed.answer_file is not None:
            report, error = self._answer_text(parsed)
            if error is not None:
                results = [ToolResult.error(error)]
            else:
                reward, verdicts = self._grade(report)
                terminated, is_fruitless = True, False
                results = [ToolResult("answer", f"answer received; episode over. reward {reward:.3f}")]
        else:
            results, n_failed = self._run_tools(parsed, state, tracker)
            is_fruitless = n_failed == len(parsed.tool_calls)
        exhausted = None if terminated else tracker.exhausted()
        truncated = exhausted is not None
        if truncated:
            reward, verdicts = self._grade_draft()
            results.append(ToolResult("budget", f"budget exhausted ({exhausted}): the episode is over."))
        tail = "" if terminated or truncated else tracker.describe()
        results = _fit(results, self.observation_space.max_length - len(tail))
        self.last_results, self.last_budget_note = results, tail
        observation = tool_responses([result.text for result in results], tail)
        if len(observation) > self.observation_space.max_length:  # many blocks in a small space: one block
            room = self.observation_space.max_length - len(tail) - _BLOCK_CHARS - 2
            body = "\n\n".join(result.text for result in results)
            observation = tool_responses([clip(body, max(0, room), what="observation")], tail)
        tracker.charge_observation(observation)
        recorded = _recorded_action(action, action_text, is_fruitless=is_fruitless,
                                    problem=parsed.errors[0] if parsed.errors else "")
        self._messages.record(recorded)
        self._record_observation(recorded, results, observation, tail)
        self._done = terminated or truncated
        info = self._info()
        if verdicts is not None:
            info["verdicts"] = verdicts
            info["submission"] = self._submission or ""
            if self._citations is not None:
                info["citations"] = self._citations
        if truncated:
            info["truncated_by"] = exhausted
        return observation, float(reward), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        lines = []
        for message in self._messages:
            content = message.get("content") or json.dumps(message.get("tool_calls"), ensure_ascii=False)
            if message["role"] == "system":
                content = content.split("\n")[0] + " […]"
            lines.append(f"[{message['role']}] {content}")
        return "\n\n".join(lines)

    def close(self) -> None:
        self._close_episode()
        self.index.finish_episode()
        _release(self._resources)
        super().close()

    # -- internals ------------------------------------------------------------------------------------

    def _run_tools(self, parsed: ParsedAction, state: EpisodeState,
                   tracker: BudgetTracker) -> tuple[list[ToolResult], int]:
        """The calls' results, and how many were refused (unknown tool, or the tool said what was wrong)."""
        results = []
        n_failed = 0
        self.last_tool_calls = []
        for number, call in enumerate(parsed.tool_calls):
            if tracker.exhausted():  # a time budget can run out between two calls of a batch
                tracker.charge_unrun_calls(len(parsed.tool_calls) - number)
                break
            tool = self.tools.get(call.name)
            if tool is None:
                tracker.charge_unrun_calls(1)
                n_failed += 1
                close = difflib.get_close_matches(call.name, list(self.tools), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                results.append(ToolResult.error(f"unknown tool {call.name!r}.{hint} Available: {', '.join(self.tools)}.",
                                                name=call.name, call_id=call.call_id))
                continue
            tracker.charge_tool(call.name)
            started = time.perf_counter()
            # the call's pages are kept apart until its result is known to reach the agent: a copy of every page
            # seen so far, per call, would make a step cost grow with the episode (tools only add to seen_urls)
            n_visited, seen_before, state.seen_urls = len(state.visited_urls), state.seen_urls, set()
            try:
                output = clip(tool.run(state, **tool.validate(call.arguments)), MAX_TOOL_RESPONSE_CHARS,
                              what=f"{call.name} result")
                result = ToolResult(call.name, output, call.call_id)
            except ToolError as e:
                result = ToolResult.error(clip(str(e), MAX_TOOL_RESPONSE_CHARS, what=f"{call.name} error"),
                                          name=call.name, call_id=call.call_id)
                n_failed += 1
            finally:
                seen_by_call, state.seen_urls = state.seen_urls, seen_before
            failure = inject(self.noise, call.name, state.rng)
            self.last_tool_calls.append({"name": call.name, "arguments": call.arguments, "noise": failure,
                                         "error": result.is_error,
                                         "seconds": round(time.perf_counter() - started, 5)})
            if failure is not None:
                result = ToolResult(call.name, failure_text(failure, call.name, result.text, state.rng), call.call_id,
                                    is_error=True, noise=failure)
                # the agent never received the result: its pages count as neither seen nor read for citations
                del state.visited_urls[n_visited:]
            else:
                state.seen_urls |= seen_by_call
                if not result.is_error:
                    state.last_result = result.text
            results.append(result)
        return results, n_failed

    def _record_observation(self, recorded: dict[str, Any], results: list[ToolResult],
                            observation: str, tail: str) -> None:
        """Native tool calls get one ``role: tool`` message each (the budget closes the last); anything else one
        user message of ``<tool_response>`` blocks, the form Qwen/Hermes templates take for a tool turn."""
        native = recorded.get("tool_calls")
        if native and all(result.call_id is not None for result in results):
            for number, result in enumerate(results, start=1):
                content = f"{result.text}\n\n{tail}" if tail and number == len(results) else result.text
                self._messages.record({"role": "tool", "tool_call_id": result.call_id, "name": result.name,
                                       "content": content})
        else:
            self._messages.record({"role": "user", "content": observation})

    def _answer_text(self, parsed: ParsedAction) -> tuple[str, str | None]:
        if parsed.answer_file is None:
            return parsed.answer or "", None
        try:
            # opened without following links: a link swapped in by the shell after a check cannot lead out
            with open_workspace_file(self._state.workspace, parsed.answer_file) as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > MAX_FILE_BYTES:
                    return "", (f"{parsed.answer_file!r} has {size:,} bytes; a report has at most "
                                f"{MAX_FILE_BYTES:,}. Shorten it and submit again.")
                return _read_head(handle), None
        except ToolError as e:
            return "", (f"cannot submit {parsed.answer_file!r}: {e} Write the report with the file tool, then "
                        "submit it.")

    def _grade(self, report: str) -> tuple[float, list[dict[str, Any]]]:
        task = self._task
        self._submission = report
        if task.kind == "deep_search":
            match = match_answer(report, task.answers, question=task.question)
            verdict, evidence = ("satisfied" if match.is_correct else "not_satisfied"), match.reason
            if not match.is_correct and self._answer_grader is not None and not match.lists_several:
                is_correct, why = self._answer_grader.is_correct(task.question, report, task.answers[0])
                verdict = "incomplete" if is_correct is None else "satisfied" if is_correct else "not_satisfied"
                evidence = f"LLM equivalence check: {why}"
            return (1.0 if verdict == "satisfied" else 0.0), [{"id": "answer", "verdict": verdict,
                                                               "evidence": evidence, "weight": 1, "axis": "answer"}]
        retrieved = set(self._state.visited_urls) | self._state.seen_urls
        grade = self._judge.grade(task.rubrics, report, retrieved_urls=retrieved, sources=self._copy_sources)
        citations = check_citations(report, self.index.corpus, retrieved_urls=retrieved)
        self._citations = {"precision": round(citations.precision, 4), "recall": round(citations.recall, 4),
                           "citations": citations.n_citations, "fabricated": citations.n_fabricated}
        verdicts = [{"id": v.rubric_id, "verdict": v.verdict, "evidence": v.evidence[0] if v.evidence else v.reasoning,
                     "weight": v.weight, "axis": v.axis} for v in grade.verdicts]
        return grade.score, verdicts

    def _grade_draft(self) -> tuple[float, list[dict[str, Any]]]:
        if self._task.kind != "deep_research":
            return 0.0, []
        try:  # a regular file of the workspace only: a link to a file outside it is no draft
            with open_workspace_file(self._state.workspace, "report.md") as handle:
                draft = _read_head(handle)  # an over-long draft is graded on its first MAX_FILE_BYTES
        except ToolError:
            return 0.0, []
        return self._grade(draft)

    def _info(self) -> dict[str, Any]:
        return {"task_id": self._task.id, "kind": self._task.kind, "messages": self._messages,
                "tools": self._tool_schemas, "budget": self._tracker.remaining(), "usage": self._tracker.usage(),
                "visited_urls": list(self._state.visited_urls), "budget_limits": asdict(self.budget)}

    def _close_episode(self) -> None:
        if self._state is not None:
            shutil.rmtree(self._state.workspace, ignore_errors=True)
            self._state = None
            self._resources.workspace = None


@dataclass
class _Resources:
    """What an env must release when it is closed or collected; it never refers to the env itself."""

    tools: dict[str, Tool]
    root: Path
    owns_root: bool
    workspace: Path | None = None
    """The current episode's folder."""


def _release(resources: _Resources) -> None:
    """Stops the tools' processes and removes the env's folders; safe to call more than once."""
    for tool in resources.tools.values():
        try:
            tool.close()
        except Exception:  # one tool failing to stop must not keep the others (and the folders) alive
            logger.exception("closing the %s tool failed", tool.name)
    if resources.workspace is not None:
        shutil.rmtree(resources.workspace, ignore_errors=True)
        resources.workspace = None
    if resources.owns_root:
        shutil.rmtree(resources.root, ignore_errors=True)


def _action_text(action: Any) -> str:
    """The action as the text its tokens are charged on: at most MAX_ACTION_CHARS characters."""
    if isinstance(action, str):
        return action if len(action) <= MAX_ACTION_CHARS else action[:MAX_ACTION_CHARS]
    if isinstance(action, dict) and action_size_problem(action) is None:
        return json.dumps(action, ensure_ascii=False)
    return ""  # not an action at all, or one refused unread: the turn is charged, not its size


def tool_responses(texts: list[str], tail: str = "") -> str:
    """Tool results as one observation: a ``<tool_response>`` block each, the budget line inside the last, so
    the text starts and ends with the tags (how Qwen3's chat template tells a tool turn from a new query)."""
    blocks = [f"<tool_response>\n{text}\n</tool_response>" for text in texts or [""]]
    if tail:
        blocks[-1] = blocks[-1][:-len("</tool_response>")] + f"\n{tail}\n</tool_response>"
    return "\n".join(blocks)


_BLOCK_CHARS = len("<tool_response>\n\n</tool_response>\n")


def _fit(results: list[ToolResult], limit: int) -> list[ToolResult]:
    """Results clipped so that their blocks fit in `limit` characters, each getting an equal share."""
    room = limit - _BLOCK_CHARS * max(1, len(results)) - 2
    if sum(len(result.text) for result in results) <= room:
        return results
    share = max(0, room // max(1, len(results)))
    return [dataclasses.replace(result, text=clip(result.text, share, what="tool result")) for result in results]


def _recorded_action(action: Any, action_text: str, *, is_fruitless: bool, problem: str) -> dict[str, Any]:
    """The assistant message kept in the history: the action itself, or a clipped copy of one that achieved
    nothing. A kept message dict is the caller's own (shallow-copied), never a re-serialised one, with
    ``content`` as text ("" rather than None: chat templates such as Qwen3's fail on None)."""
    if not is_fruitless or len(action_text) <= MAX_KEPT_FAILED_ACTION_CHARS:
        if isinstance(action, dict) and action_text:
            return {**action, "role": "assistant", "content": action.get("content") or ""}
        if isinstance(action, str):
            return {"role": "assistant", "content": action}
    if action_text:
        return {"role": "assistant", "content": clip(action_text, MAX_KEPT_FAILED_ACTION_CHARS, what="failed action")}
    return {"role": "assistant", "content": f"[an action that could not be read: {problem[:200]}]"}


def _read_head(handle: BinaryIO) -> str:
    return handle.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")


class DeepSearchEnv(ResearchEnv):
    __doc__ = ResearchEnv.__doc__
    kind = "deep_search"


class DeepResearchEnv(ResearchEnv):
    # a one-line "report" is graded by the rubrics (integrity faults can make it negative): show termination only
    __doc__ = (ResearchEnv.__doc__.replace('gym.make("drgym/DeepSearch-v1"', 'gym.make("drgym/DeepResearch-v1"')
               .replace(">>> terminated, reward\n    (True, 0.0)", ">>> terminated\n    True"))
    kind = "deep_research"


def _build_judge(judge, config) -> Judge:
    if isinstance(judge, Judge):  # the built-in judges, or a user's own with the same grade signature
        return judge
    if judge == "deterministic":
        return DeterministicJudge()
    if judge == "llm":
        if config is None:
            raise ConfigError("judge='llm' needs judge_config={'base_url': ..., 'model': ...} (an OpenAI-compatible "
                              "endpoint, e.g. a vLLM server)")
        return LLMJudge(config if isinstance(config, LLMJudgeConfig) else LLMJudgeConfig(**config))
    raise ConfigError(f"judge must be 'deterministic', 'llm' or an object with drgym.rewards.protocol.Judge's grade "
                      f"method, got {judge!r}")


def _live_tasks_and_web(tasks, live) -> tuple[TaskSet, Any]:
    from drgym.web.live import LiveWeb

    if isinstance(tasks, str) and tasks in SUITES:
        raise ConfigError(f"{tasks!r} is a suite of the offline procedural web; web='live' takes a TaskSet or a task "
                          "file of real questions")
    if isinstance(tasks, TaskSet):
        task_set = tasks
    elif isinstance(tasks, (str, Path)) and Path(tasks).is_file():
        task_set = TaskSet.load(tasks)
    else:
        raise ConfigError(f"web='live' needs tasks= a TaskSet or a task file, got {tasks!r}")
    return task_set, LiveWeb(live)


_SHARED_TASKS_AND_WEBS: dict[tuple[Any, Any], tuple[TaskSet, Any]] = {}
"""What `share_tasks_and_web` loaded, by the (tasks, web) arguments that name it."""


def share_tasks_and_web(tasks: str | Path | None = None, web: str | Path | None = None, *,
                        reload: bool = False) -> tuple[TaskSet, Any]:
    """Loads the tasks that environments built with these `tasks` and `web` arguments play, and their world or
    corpus folder, and keeps them: the environments this process builds afterwards with the same arguments use
    them, and so do those of the processes forked from it, which then share these objects' memory instead of each
    holding a copy of its own (rollout workers are forked from a process that called this). A saved search index
    is loaded too (its corpus, paragraph maps and page columns), but not its tantivy reader, which runs a thread
    that a forked process would not have: each process opens the reader when it builds its first environment.
    An index that is missing or outdated is left to that environment to build, as without this call. Loads again
    with ``reload=True`` (a relative path or a suite resolves where this process is now). Returns what it keeps.

    Raises:
        ConfigError, TaskFileError, UnknownSuiteError: as `gymnasium.make` would for these arguments.
    """
    if reload or (tasks, web) not in _SHARED_TASKS_AND_WEBS:
        task_set, loaded = _load_tasks_and_web(tasks, web)
        for kind in TASK_KINDS:  # what building an env reads of every task, read once here
            task_set.without_checks(kind)
        _SHARED_TASKS_AND_WEBS[tasks, web] = task_set, _without_engine(loaded)
    return _SHARED_TASKS_AND_WEBS[tasks, web]


def keep_shared_tasks_and_web(kept: dict[tuple[Any, Any], tuple[TaskSet, Any]]) -> None:
    """Makes `kept` ((tasks, web) arguments -> what `share_tasks_and_web` returned for them) all that environments
    built afterwards find shared; anything else is forgotten (they load their own)."""
    _SHARED_TASKS_AND_WEBS.clear()
    _SHARED_TASKS_AND_WEBS.update(kept)


def _without_engine(web: Any) -> Any:
    """A world or corpus folder with its saved index loaded but its tantivy reader not opened; as it is when the
    index cannot be loaded that way (missing, outdated: an environment builds it) or `web` is anything else."""
    try:
        if isinstance(web, ProceduralWorld):
            web.load_index_files()
        elif isinstance(web, Path) and (web / "index").is_dir():
            index = SearchIndex.load(web / "index", Corpus.load(web), open_engine=False)
            index.corpus.open_columns()
            return index
    except SearchIndexError:
        pass
    return web


def _resolve_tasks_and_web(tasks, web) -> tuple[TaskSet, SearchIndex]:
    """The tasks and their web: `web` when given, else the one the tasks name (`resolve_tasks`)."""
    is_shareable = all(value is None or isinstance(value, (str, Path)) for value in (tasks, web))
    shared = _SHARED_TASKS_AND_WEBS.get((tasks, web)) if is_shareable else None
    task_set, web = shared or _load_tasks_and_web(tasks, web)
    if isinstance(web, (SearchIndex, Web)):
        return task_set, web
    if isinstance(web, ProceduralWorld):
        return task_set, web.index
    return task_set, SearchIndex.load(web / "index", Corpus.load(web))


def _load_tasks_and_web(tasks, web) -> tuple[TaskSet, Any]:
    """The tasks, and their web as an index (or any `Web`), a world, or a corpus folder (not opened yet)."""
    if tasks is None:
        tasks = DEFAULT_SUITE
    if isinstance(tasks, TaskSet):
        task_set, named = tasks, None
    elif isinstance(tasks, (str, Path)):
        source = resolve_tasks(tasks, find_web=web is None)
        task_set, named = source.tasks, source.world or source.web
    else:
        raise ConfigError(f"tasks must be a TaskSet, a task file path or a suite name, got {type(tasks).__name__}")
    web = named if web is None else web
    if isinstance(web, str) and web in SUITES:  # --web procedural:medium: that suite's world
        web = load_suite(web)
    # an index, any web with the protocol's search, pages and episodes, or a world (its index opened on first use)
    if isinstance(web, (SearchIndex, Web, ProceduralWorld)):
        return task_set, web
    if web is None:
        raise ConfigError("these tasks need a web: pass web= (a corpus or world folder, or a SearchIndex), or name "
                          "the corpus folder in the tasks' 'corpus' field")
    folder = Path(web)
    if (folder / "world.json").is_file():
        return task_set, ProceduralWorld(folder)
    return task_set, folder


def _web_kind(index: Any) -> str:
    """"procedural" when the index is a procedural world's (its corpus folder holds world.json), else "real"."""
    folder = getattr(getattr(index, "corpus", None), "path", None)
    return "procedural" if folder is not None and (Path(folder) / "world.json").is_file() else "real"
