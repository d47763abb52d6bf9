"""Task-side synthesis of atomic-capability data: research plans derived from a task's subgraph, queries
reverse-engineered from gold reports, and report variants by length and audience.

The procedural world knows the ground truth behind every page, so a plan is exact: its steps name the entities
the report needs, and `plan_consistent` checks a trajectory's tool calls against them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from drgym.core.protocol import parse_action
from drgym.tasks.schema import Task

__all__ = ["PlanStep", "plan_consistent", "report_variants", "research_plan", "reverse_query", "step_coverage"]


@dataclass(frozen=True)
class PlanStep:
    text: str
    """The todo item."""
    targets: tuple[str, ...]
    """Strings (names, url fragments) of which one must appear in a tool call for the step to be covered;
    empty for the final writing step, covered by the answer."""


_SLUG_BREAKS = re.compile(r"[^a-z0-9]+")
"""Compiled at import: `re`'s cache would make it on first use, amid a world build's memory, and keep it."""


def _slug(name: str) -> str:
    return _SLUG_BREAKS.sub("-", name.lower()).strip("-")


def research_plan(task: Task, entities: dict[str, dict[str, Any]]) -> list[PlanStep]:
    """Ordered sub-questions for a deep_research task, from its subgraph (`entities`: the world graph by id)."""
    meta = task.meta
    subgraph = [entities[i] for i in meta.get("subgraph", []) if i in entities]
    steps: list[PlanStep] = []
    if meta.get("template") == "compare":
        companies = [e for e in subgraph if e["kind"] == "organisation" and e["name"] in task.question]
        for company in companies:
            steps.append(PlanStep(f"find and read the register entry of {company['name']}: headquarters, chief "
                                  "executive, workforce, revenue", (company["name"], _slug(company["name"]))))
        steps.append(PlanStep("compare the companies in a table and name the largest by revenue; write the "
                              "report with \\cite{url} citations", ()))
    elif meta.get("template") == "timeline":
        company = next(e for e in subgraph if e["kind"] == "organisation" and e["name"] in task.question)
        steps.append(PlanStep(f"find the register entry of {company['name']}", (company["name"],
                                                                                 _slug(company["name"]))))
        steps.append(PlanStep(f"read the archive record of {company['name']} (founding, history)",
                              (f"/archive/{company['id']}",)))
        hq = entities.get(company.get("relations", {}).get("headquarters", ""))
        if hq is not None:
            steps.append(PlanStep(f"find the register entry of the headquarters city {hq['name']}",
                                  (hq["name"], _slug(hq["name"]))))
        steps.append(PlanStep("write the timeline report with sections and \\cite{url} citations", ()))
    else:
        raise ValueError(f"no plan template for task {task.id} ({meta.get('template')!r})")
    return steps


def step_coverage(plan: list[PlanStep], actions: list[str]) -> list[int | None]:
    """For each step, the index of the first action whose tool calls (todo calls aside: writing the plan down
    covers nothing) mention one of its targets, or, for the writing step, the first action that writes or
    submits the report; None when uncovered."""
    found: list[int | None] = []
    for step in plan:
        index = None
        for i, action in enumerate(actions):
            calls = " ".join(json.dumps(c) for c in _tool_calls(action) if c.get("name") != "todo").lower()
            if step.targets and any(t.lower() in calls for t in step.targets):
                index = i
                break
            if not step.targets and ("<answer" in action or '"action": "write"' in calls):
                index = i
                break
        found.append(index)
    return found


def plan_consistent(plan: list[PlanStep], actions: list[str]) -> bool:
    """The seed's trajectory consistency check: every step is covered, in the plan's order (steps done in one
    batched call share an index)."""
    coverage = step_coverage(plan, actions)
    return all(i is not None for i in coverage) and all(a <= b for a, b in zip(coverage, coverage[1:]))


def _tool_calls(action: str) -> list[dict[str, Any]]:
    return [{"name": call.name, "arguments": call.arguments} for call in parse_action(action).tool_calls]


def reverse_query(report: str) -> str:
    """A request whose answer is `report`, read back from its headings (the seed's reverse direction)."""
    lines = report.splitlines()
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), "the topic")
    sections = [line[3:].strip() for line in lines if line.startswith("## ")]
    has_table = any(line.lstrip().startswith("|") for line in lines)
    topic = title.split(":", 1)[1].strip() if ":" in title else title
    covered = ", ".join(s.lower() for s in sections if s.lower() not in ("overview", "sources")) or "the key facts"
    return (f"Write a research report on {topic}. Cover {covered}. Use authoritative sources and cite each fact "
            f"as \\cite{{url}}" + (", and include a comparison table." if has_table else "."))


def report_variants(task: Task) -> list[tuple[str, str, str]]:
    """(variant, request, report) triples from a task's gold report: the full report, an executive version with
    the conclusion up front, and one for a general audience with a plain-language introduction. Every variant
    keeps all the facts and citations, so the task's rubrics grade each of them."""
    gold = task.meta["gold_report"]
    lines = gold.splitlines()
    title_end = next((i for i, line in enumerate(lines) if line.startswith("## ")), 1)
    closing = [line for line in lines if "largest" in line.lower() or "founded" in line.lower()]
    summary = closing[0] if closing else lines[title_end - 1]
    executive = "\n".join(lines[:title_end] + ["## Executive summary", "", summary.strip(), ""] + lines[title_end:])
    general = "\n".join(lines[:title_end] + [
        "## In brief", "",
        "This report explains, in plain words, what official registers and statistics say about the subject, "
        "and where each figure comes from. Where sources disagree, it follows the official ones.", ""]
        + lines[title_end:])
    return [("full", task.question, gold),
            ("executive", task.question + " Put a one-paragraph executive summary first.", executive),
            ("general_audience", task.question + " Write for a general audience.", general)]
