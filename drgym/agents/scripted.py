"""ScriptedResearcher: a hand-written research algorithm that sees only what the environment shows it.

It decomposes the question into hops, keeps a todo list, batch-searches, reads the best pages, extracts
candidate values from the page text (the sentence patterns procedural pages are written in), prefers higher-tier
and newer sources when they disagree, follows register links for the next hop, and writes a structured report
with ``\\cite{url}`` citations, drafted in the workspace and submitted as a file. It never reads the world's
graph or the task's ground truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from drgym.core.protocol import format_answer, format_tool_call
from drgym.tasks.world import ATTRIBUTES, RELATIONS

__all__ = ["ScriptedResearcher"]

_RESULT = re.compile(r"^\d+\. \[tier (\d)\] (.*?) — (\S+) \(([^,]+), ([^)]*)\)\n\s+¶\d+: (.*)$", re.MULTILINE)
_PAGE = re.compile(r"^## page: (.*?) — (\S+)\n\[tier (\d)\] ([^,]+), ([^;]*);.*?\n(.*?)(?=^## |\Z)",
                   re.MULTILINE | re.DOTALL)
_PARAGRAPH = re.compile(r"^¶\d+: (.*)$", re.MULTILINE)
_LINKS = re.compile(r"^links: (.*)$", re.MULTILINE)
_KIND_WORDS = ("the company", "the person", "the city", "the product", "the compound", "the regulation", "the event")
_LABELS = sorted({a.label for attributes in ATTRIBUTES.values() for a in attributes}, key=len, reverse=True)
_NAME = r"[A-Z][\w.'-]*(?: [A-Z0-9][\w.'-]*)*|[a-z]{4,}"
_VALUE = r"-?\d[\d,]*(?:\.\d+)?"


@dataclass
class _Evidence:
    url: str
    title: str
    tier: int
    date: str
    text: str


@dataclass
class _Episode:
    question: str
    evidence: list[_Evidence] = field(default_factory=list)
    links: dict[str, list[str]] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)
    searched: set[str] = field(default_factory=set)
    turn: int = 0
    plan: list[tuple[str, str]] = field(default_factory=list)
    current: str = ""
    step: int = 0
    todo_added: bool = False
    report_written: bool = False
    tries: int = 0
    fallback: bool = False
    """The question is not shaped like the templates: search, read the best pages, answer."""


def _call(name: str, **arguments: Any) -> str:
    return format_tool_call(name, arguments)


class ScriptedResearcher:
    """A non-LLM research policy. `act(messages)` follows the environment's observations only.

    Args:
        max_tries_per_hop: searches and page reads spent on one hop before it answers with what it has.
        top_k: search results asked for per query.

    It uses the todo and file tools only when the instructions list them; without the file tool the report is
    submitted inline.
    """

    def __init__(self, *, max_tries_per_hop: int = 4, top_k: int = 10) -> None:
        self.max_tries_per_hop = max_tries_per_hop
        self.top_k = top_k
        self._episode: _Episode | None = None
        self._tools: set[str] = set()

    def act(self, messages: list[dict[str, Any]]) -> str:
        question = messages[1]["content"]
        if self._episode is None or self._episode.question != question or len(messages) <= 2:
            self._episode = _Episode(question)
            system = messages[0]["content"] if messages[0]["role"] == "system" else ""
            self._tools = set(re.findall(r'"name": "(\w+)"', system or "")) or {"todo", "file"}
        episode = self._episode
        if len(messages) > 2 and messages[-1]["role"] in ("user", "tool"):
            self._ingest(episode, "\n".join(str(m.get("content") or "") for m in messages[-3:]
                                            if m["role"] in ("user", "tool")))
        episode.turn += 1
        if "research report" in question or "research briefing" in question:
            return self._research(episode)
        return self._search(episode)

    # -- reading observations -------------------------------------------------------------------------

    def _ingest(self, episode: _Episode, observation: str) -> None:
        for tier, title, url, _domain, date, text in _RESULT.findall(observation):
            episode.evidence.append(_Evidence(url, title, int(tier), date, text))
        for title, url, tier, _domain, date, body in _PAGE.findall(observation):
            episode.read.add(url)
            for text in _PARAGRAPH.findall(body):
                episode.evidence.append(_Evidence(url, title, int(tier), date, text))
            links = _LINKS.search(body)
            if links:
                episode.links[url] = [u for u in links.group(1).split() if u.startswith("http")]

    def _best(self, episode: _Episode, pattern: re.Pattern) -> tuple[str, _Evidence] | None:
        """The best-supported value matching `pattern`: higher tier first, then the newer statement."""
        found = []
        for evidence in episode.evidence:
            for match in pattern.finditer(evidence.text):
                year = match.groupdict().get("year") or evidence.date[:4]
                year = int(year) if year and year.isdigit() else 0  # a truncated result may cut the date
                found.append((evidence.tier, -year, match.group("v").rstrip("."), evidence))
        if not found:
            return None
        tier, _, value, evidence = min(found, key=lambda item: (item[0], item[1]))
        return value, evidence

    def _entry_url(self, episode: _Episode, name: str) -> str | None:
        for evidence in episode.evidence:
            if evidence.tier == 1 and evidence.title == f"{name} — register entry":
                return evidence.url
        return None

    # -- deep search ----------------------------------------------------------------------------------

    def _search(self, episode: _Episode) -> str:
        if episode.fallback:
            return self._search_read_answer(episode)
        if not episode.plan:
            try:
                target, phrase = _split_question(episode.question)
            except ValueError:  # not a chain question: search, read, answer with the best it saw
                episode.fallback = True
                return self._search_read_answer(episode)
            episode.current, relations = _parse_chain(phrase)
            episode.plan = [("relation", key) for key in relations] + ([("attribute", target)] if target else [])
        while episode.step < len(episode.plan):
            kind, what = episode.plan[episode.step]
            pattern = _relation_pattern(what, episode.current) if kind == "relation" else _attribute_pattern(
                what, episode.current)
            best = self._best(episode, pattern)
            if best is not None:
                episode.current = best[0]
                episode.step += 1
                episode.tries = 0
                continue
            action = self._look_for(episode, kind, what)
            if action is not None:
                return action
            return format_answer(episode.current)  # out of tries: the best it has
        return format_answer(episode.current)

    def _look_for(self, episode: _Episode, kind: str, what: str) -> str | None:
        if episode.tries >= self.max_tries_per_hop:
            return None
        episode.tries += 1
        name = episode.current
        prefix = ""
        if "todo" not in self._tools:
            pass
        elif not episode.todo_added:
            episode.todo_added = True
            prefix = "".join(_call("todo", action="add", item=f"step {i + 1}: {k} {w}")
                             for i, (k, w) in enumerate(episode.plan))
        elif episode.tries == 1 and episode.step:
            prefix = _call("todo", action="complete", id=episode.step)
        hint = what.replace("_", " ") if kind == "attribute" else next(
            r.phrase.format(x="").replace("the ", "").strip() for r in RELATIONS if r.key == what)
        query = f"{hint} of {name}" if kind == "attribute" else f"{name} {hint}"
        if query not in episode.searched:
            episode.searched.add(query)
            return prefix + _call("batch_web_surfer", queries=[query], top_k=self.top_k)
        entry = self._entry_url(episode, name)
        unread = [u for u in ([entry] if entry else []) + episode.links.get(entry or "", []) if u not in episode.read]
        archive = [u for u in unread if "/archive/" in u]
        if unread:
            return prefix + _call("batch_web_surfer", urls=(archive + unread)[:3])
        if name not in episode.searched:
            episode.searched.add(name)
            return prefix + _call("batch_web_surfer", queries=[f"{name} register entry"], top_k=self.top_k)
        return None

    def _search_read_answer(self, episode: _Episode) -> str:
        """Any question: search its first line, read the best tier-1 pages, answer with the first name (for who /
        which questions) or figure the best result states."""
        query = episode.question.strip().split("\n")[0][:300]
        if query not in episode.searched:
            episode.searched.add(query)
            return _call("batch_web_surfer", queries=[query], top_k=self.top_k)
        ranked = sorted(episode.evidence, key=lambda e: e.tier)
        unread = list(dict.fromkeys(e.url for e in ranked if e.tier == 1 and e.url not in episode.read))[:3]
        if unread and not episode.tries:
            episode.tries = 1
            return _call("batch_web_surfer", urls=unread)
        return format_answer(_guess(episode.question, ranked))

    # -- deep research --------------------------------------------------------------------------------

    def _research(self, episode: _Episode) -> str:
        question = episode.question
        compare = re.search(r"comparing (.*?), companies in the (.*?) sector", question)
        timeline = re.search(r"on how (.*?) has developed", question)
        if episode.report_written:
            return '<answer file="report.md"/>'
        if not compare and not timeline:
            return self._notes_report(episode)
        companies = re.split(r", | and ", compare.group(1)) if compare else [timeline.group(1)]
        wanted = [f"{c} register entry" for c in companies if not self._entry_url(episode, c)]
        wanted = [q for q in wanted if q not in episode.searched]
        if wanted:
            episode.searched.update(wanted)
            return _call("batch_web_surfer", queries=wanted[:8], top_k=3)
        entries = [self._entry_url(episode, c) for c in companies]
        to_read = [u for u in entries if u and u not in episode.read]
        if not compare:  # the timeline also needs the archive and the headquarters' register entry
            facts = self._company(episode, companies[0])
            extra = [u for u in episode.links.get(entries[0] or "", []) if "/archive/" in u]
            hq_entry = self._entry_url(episode, facts["headquarters"]) if facts["headquarters"] else None
            if facts["headquarters"] and not hq_entry and f"{facts['headquarters']} register entry" not in episode.searched:
                episode.searched.add(f"{facts['headquarters']} register entry")
                return _call("batch_web_surfer", queries=[f"{facts['headquarters']} register entry"], top_k=3)
            to_read += [u for u in extra + ([hq_entry] if hq_entry else []) if u not in episode.read]
        if to_read and episode.tries < 6:
            episode.tries += 1
            return _call("batch_web_surfer", urls=to_read[:5])
        report = self._compare_report(episode, companies, compare.group(2)) if compare else \
            self._timeline_report(episode, companies[0])
        if "file" not in self._tools:
            return format_answer(report)
        episode.report_written = True
        return _call("file", action="write", path="report.md", content=report)

    def _notes_report(self, episode: _Episode) -> str:
        """A request not shaped like the templates: search it, read the best pages, report what they say."""
        query = episode.question.strip().split("\n")[0][:300]
        if query not in episode.searched:
            episode.searched.add(query)
            return _call("batch_web_surfer", queries=[query], top_k=self.top_k)
        ranked = sorted(episode.evidence, key=lambda e: e.tier)
        unread = list(dict.fromkeys(e.url for e in ranked if e.url not in episode.read))[:3]
        if unread and not episode.tries:
            episode.tries = 1
            return _call("batch_web_surfer", urls=unread)
        pages = {e.url: e.title for e in episode.evidence if e.url in episode.read}
        lines = [f"- {title} \\cite{{{url}}}" for url, title in pages.items()] or ["- No source was found."]
        report = "\n\n".join(["# Research notes", "## Sources consulted", "\n".join(lines),
                               "## Summary", "The sources above were consulted for this request."]) + "\n"
        if "file" not in self._tools:
            return format_answer(report)
        episode.report_written = True
        return _call("file", action="write", path="report.md", content=report)

    def _company(self, episode: _Episode, name: str) -> dict[str, Any]:
        facts: dict[str, Any] = {"name": name}
        for key, label in (("headquarters", "headquarters"), ("ceo", "ceo")):
            best = self._best(episode, _relation_pattern(key, name))
            facts[label] = best[0] if best else ""
            facts[f"{label}_url"] = best[1].url if best else ""
        for key, label in (("employees", "workforce"), ("revenue_musd", "annual revenue")):
            best = self._best(episode, _attribute_pattern(label, name))
            facts[key] = best[0] if best else ""
            facts[f"{key}_url"] = best[1].url if best else ""
            facts[f"{key}_year"] = ""
            if best:
                year = re.search(r"As of (\d{4})", best[1].text)
                facts[f"{key}_year"] = year.group(1) if year else ""
        return facts

    def _compare_report(self, episode: _Episode, companies: list[str], sector: str) -> str:
        rows, sections = [], []
        for name in companies:
            f = self._company(episode, name)
            sentences = []
            if f["headquarters"]:
                sentences.append(f"{name} has its head office in {f['headquarters']} \\cite{{{f['headquarters_url']}}}.")
            if f["ceo"]:
                sentences.append(f"{name} is run by {f['ceo']}, its chief executive \\cite{{{f['ceo_url']}}}.")
            for key, label, unit in (("employees", "workforce", "employees"), ("revenue_musd", "annual revenue", "USD million")):
                if f[key]:
                    cite = f"\\cite{{{f[key + '_url']}}}"
                    sentences.append(f"For {f[key + '_year']}, {name} reported {f[key]} {unit} as its {label} {cite}."
                                     if f[key + "_year"] else f"For {name}, the {label} on record is {f[key]} {unit} {cite}.")
            sections.append(f"## {name}\n\n" + (" ".join(sentences) or "No authoritative figures were found."))
            rows.append(f"| {name} | {f['headquarters']} | {f['ceo']} | {f['employees']} | {f['revenue_musd']} |")
        revenues = {n: _number(self._company(episode, n)["revenue_musd"]) for n in companies}
        leader = max(revenues, key=lambda n: revenues[n] if revenues[n] is not None else -1)
        names = ", ".join(companies)
        return "\n\n".join([
            f"# The {sector} sector: {names}", "## Overview",
            f"This briefing compares {names}, using register entries (authority tier 1) for every figure.",
            *sections, "## Comparison",
            "| Company | Headquarters | Chief executive | Workforce (employees) | Annual revenue (USD million) |\n"
            "| --- | --- | --- | --- | --- |\n" + "\n".join(rows),
            "## Conclusion", f"{leader} is the largest of these companies by annual revenue."]) + "\n"

    def _timeline_report(self, episode: _Episode, name: str) -> str:
        f = self._company(episode, name)
        history = []
        for label, unit in (("annual revenue", "USD million"), ("workforce", "employees")):
            pattern = re.compile(rf"In (?P<year>\d{{4}}), {re.escape(name)} recorded an? {label} of (?P<v>{_VALUE})")
            seen = {}
            for evidence in episode.evidence:
                if evidence.tier == 1:
                    for match in pattern.finditer(evidence.text):
                        seen[match.group("year")] = (match.group("v"), evidence.url)
            history += [(label, unit, year, value, url) for year, (value, url) in sorted(seen.items())]
        sentences = [f"For {year}, {name} reported {value} {unit} as its {label} \\cite{{{url}}}."
                     for label, unit, year, value, url in history]
        population = self._best(episode, _attribute_pattern("population", f["headquarters"])) if f["headquarters"] else None
        products = sorted({m.group("s") for e in episode.evidence if e.tier == 1
                           for m in re.finditer(rf"(?P<s>{_NAME}) is made by {re.escape(name)}\.", e.text)})
        profile = []
        if f["headquarters"]:
            profile.append(f"{name} has its head office in {f['headquarters']} \\cite{{{f['headquarters_url']}}}.")
        if population:
            profile.append(f"For {f['headquarters']}, the population on record is {population[0]} inhabitants "
                           f"\\cite{{{population[1].url}}}.")
        if f["ceo"]:
            profile.append(f"{name} is run by {f['ceo']}, its chief executive \\cite{{{f['ceo_url']}}}.")
        if products:
            profile.append(f"Its products include {', '.join(products)}.")
        revenue = [(year, _number(value)) for label, _, year, value, _ in history if label == "annual revenue"]
        trend = ""
        if len(revenue) >= 2:
            grew = revenue[-1][1] > revenue[0][1]
            trend = (f"Overall, the annual revenue of {name} {'grew' if grew else 'declined'} between "
                     f"{revenue[0][0]} and {revenue[-1][0]}.")
        rows = "\n".join(f"| {year} | {label} of {name} | {value} |" for label, _, year, value, _ in history)
        return "\n\n".join([f"# {name}: a timeline", "## Company profile", " ".join(profile) or "No profile found.",
                            "## Revenue and workforce", " ".join(sentences) or "No yearly figures found.",
                            "## Yearly figures", "| Year | Metric | Value |\n| --- | --- | --- |\n" + rows,
                            "## Assessment", trend or "The record is too short to show a trend."]) + "\n"


def _guess(question: str, ranked: list[_Evidence]) -> str:
    """The first name (a 'who' or 'which' question) or figure the best-ranked evidence states."""
    wants_name = re.match(r"\s*(who|which|identify|list|in which city)\b", question, re.IGNORECASE) and \
        not re.match(r"\s*in which year", question, re.IGNORECASE)
    for evidence in ranked:
        if wants_name and evidence.title.endswith(" — register entry"):
            return evidence.title.removesuffix(" — register entry")
        if not wants_name and (number := re.search(_VALUE, evidence.text)):
            return number.group(0)
    return "unknown"


def _split_question(question: str) -> tuple[str | None, str]:
    first_line = question.strip().split("\n")[0]
    for label in ["name", *_LABELS]:
        prefix = f"What is the {label} of "
        if first_line.startswith(prefix):
            return (None if label == "name" else label), first_line[len(prefix):].split("?")[0]
    raise ValueError(f"not a question this researcher understands: {first_line!r}")


def _parse_chain(phrase: str) -> tuple[str, list[str]]:
    """'the birthplace of the mayor of the city X' -> ('X', ['mayor', 'birthplace'])."""
    for relation in RELATIONS:
        pattern = "^" + re.escape(relation.phrase).replace(re.escape("{x}"), "(?P<x>.+)") + "$"
        match = re.match(pattern, phrase)
        if match:
            name, chain = _parse_chain(match.group("x"))
            return name, [*chain, relation.key]
    for word in _KIND_WORDS:
        if phrase.startswith(word + " "):
            return phrase[len(word) + 1:], []
    return phrase, []


def _relation_pattern(key: str, subject: str) -> re.Pattern:
    relation = next(r for r in RELATIONS if r.key == key)
    text = re.escape(relation.sentence).replace(re.escape("{s}"), re.escape(subject))
    return re.compile(text.replace(re.escape("{o}"), f"(?P<v>{_NAME})"))


def _attribute_pattern(label: str, subject: str) -> re.Pattern:
    return re.compile(rf"(?:As of (?P<year>\d{{4}}), )?(?i:the) {re.escape(label)} of {re.escape(subject)} "
                      rf"(?:is|was) (?P<v>{_VALUE})")


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except (AttributeError, ValueError):
        return None
