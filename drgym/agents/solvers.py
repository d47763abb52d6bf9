"""FrontierSolver: a strong scripted solver for the frontier task families, which sees only observations.

It reads the question (the language the families write), then works demand-driven: it tries to compute the
answer from what it has read so far; every fact it lacks (a register entry, an archive record, a register
index) becomes a page to read or a search to run, batched into the next turn; when nothing is lacking it
answers. Facts come from tier-1 pages only, read with every sentence frame the worlds are written in, so
low-trust pages cannot mislead it. It never reads the world's graph or the task's answers.

It proves that each family is solvable through the tools within the default budget; it is no general
researcher (questions in other shapes get the chain researcher's fallback: search, read, answer).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from drgym.core.protocol import format_answer, format_tool_call
from drgym.tasks.families.compute import CONVERSIONS
from drgym.tasks.families.constraints import ATTRIBUTE_BY_LABEL, Constraint, parse_constraint
from drgym.tasks.render import HISTORY_FRAMES, KIND_PLURAL, RELATION_FRAMES, RELATION_LABELS, VALUE_FRAMES
from drgym.tasks.world import ATTRIBUTES, RELATIONS, Attribute

__all__ = ["FrontierSolver"]

_NUMBER = r"-?[\d,]+(?:\.\d+)?"
_RESULT = re.compile(r"^\d+\. \[tier (\d)\] (.*?) — (\S+) \(([^,]+), ([^)]*)\)\n\s+¶\d+: (.*)$", re.MULTILINE)
_PAGE = re.compile(r"^## page: (.*?) — (\S+)\n\[tier (\d)\] ([^,]+), ([^;]*);.*?\n(.*?)(?=^## |^Budget left|\Z)",
                   re.MULTILINE | re.DOTALL)
_PARAGRAPH = re.compile(r"^¶\d+: (.*(?:\n\|.*)*)$", re.MULTILINE)  # a table's rows continue its paragraph
_LINKS = re.compile(r"^links: (.*)$", re.MULTILINE)
_IMAGES = re.compile(r"^images: (.*)$", re.MULTILINE)
_CHART_ALT = re.compile(r"(?P<url>https?://\S+) \(Line chart of the (?P<label>.+?) of (?P<name>.+), \d{4}-\d{4}\)")
_CAPTION = re.compile(r"^image (?P<url>\S+).*\n(?:shown on \S+\n)?(?:alt text: .*\n)?caption: (?P<label>[A-Z][^()]*?) of "
                      r"(?P<name>.+?) \([^)]*\) by year: (?P<figures>.*)\.$", re.MULTILINE)
_KIND_BY_WORD = {"company": "organisation", "person": "person", "city": "place", "product": "product",
                 "compound": "compound", "regulation": "regulation", "event": "event"}
_KIND_BY_PLURAL = {plural: kind for kind, plural in KIND_PLURAL.items()}
_KIND_NOUNS = tuple(f"the {word} " for word in _KIND_BY_WORD)
_ATTRIBUTE_KIND = {a.key: kind for kind, attributes in ATTRIBUTES.items() for a in attributes}
_MAX_CALLS_PER_TURN = 12
_URLS_PER_CALL = 5
_QUERIES_PER_CALL = 8


def _value_pattern(attribute: Attribute) -> str:
    unit = f"(?: {re.escape(attribute.unit)})?" if attribute.unit else ""
    return f"(?P<v>{_NUMBER}){unit}"


def _compile(frame: str, fills: dict[str, str]) -> re.Pattern:
    pattern, position = "", 0
    for match in re.finditer(r"\{(\w+)\}", frame):
        pattern += re.escape(frame[position:match.start()]) + fills[match.group(1)]
        position = match.end()
    return re.compile(pattern + re.escape(frame[position:]))


def _literal_length(frame: str) -> int:
    """Words a frame fixes: the most specific frames are tried first ("born in the city of {o}" before
    "born in {o}")."""
    return -len(re.sub(r"\{\w+\}", "", frame))


def _label_fills(label: str) -> dict[str, str]:
    return {"label": re.escape(label), "Label": re.escape(label[0].upper() + label[1:])}


# (pattern, relation key)
_RELATION_PATTERNS = [(_compile(frame, {"s": "(?P<s>.+?)", "o": "(?P<o>.+?)", **_label_fills(RELATION_LABELS[key])}), key)
                      for key, frames in RELATION_FRAMES.items() for frame in sorted(frames, key=_literal_length)]
# (pattern, attribute, dated)
_VALUE_PATTERNS = [(_compile(frame, {"s": "(?P<s>.+?)", "v": _value_pattern(a), "year": r"(?P<year>\d{4})",
                                     "a": "an?", **_label_fills(a.label)}), a, kind == "dated")
                   for attributes in ATTRIBUTES.values() for a in attributes
                   for kind, frames in VALUE_FRAMES.items() for frame in sorted(frames, key=_literal_length)]
_VALUE_PATTERNS += [(re.compile(rf"In (?P<year>\d{{4}}), (?P<s>.+?) recorded an? {re.escape(a.label)} of "
                                rf"{_value_pattern(a)}\."), a, True)
                    for attributes in ATTRIBUTES.values() for a in attributes]
# (pattern, relation key)
_HISTORY_PATTERNS = [(_compile(frame, {"s": "(?P<s>.+?)", "o": "(?P<o>.+?)", "start": r"(?P<start>\d{4})",
                                       "end": r"(?P<end>\d{4})"}), key)
                     for key, parts in HISTORY_FRAMES.items()
                     for frame in sorted((f for frames in parts.values() for f in frames), key=_literal_length)]
_TABLE_HEADER = re.compile(r"^\| Year \| (?P<label>[^|(]+?)(?: \((?P<unit>[^)]*)\))? \|$")
_DIRECTORY_ROW = re.compile(r"^(?P<name>.+?)(?: \((?P<sector>.+) sector\))?: (?P<url>https://\S+/entry/\S+)$")
_DIRECTORY_TITLE = re.compile(r"^Index of (?P<plural>\w+) in the .*, part \d+ of \d+$")
_ALL_PARTS = re.compile(r"All parts: (?P<urls>.*)$")
_BUDGET = re.compile(r"tool calls (\d+)")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


@dataclass
class _Knowledge:
    """What the episode's observations said, tier-1 facts first."""

    entry_urls: dict[str, str] = field(default_factory=dict)
    """Entity name → its register entry."""
    archive_urls: dict[str, str] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)
    searched: set[str] = field(default_factory=set)
    relations: dict[tuple[str, str], str] = field(default_factory=dict)
    values: dict[tuple[str, str], dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    """(name, attribute) → year → value (year 0: an undated figure), tier-1 statements only."""
    history: dict[tuple[str, str], list[tuple[int, int, str]]] = field(default_factory=lambda: defaultdict(list))
    """(name, relation) → (from year or 0, until year or 0, holder) of the relation's holders."""
    sources: dict[tuple[str, str], str] = field(default_factory=dict)
    """(name, relation or attribute key) → the first tier-1 page that stated it."""
    sectors: dict[str, str] = field(default_factory=dict)
    directory: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    """Kind → part url → '' (unread) or 'read'."""
    members: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """Kind → names listed in its register index."""
    charts: dict[tuple[str, str], str] = field(default_factory=dict)
    """(name, attribute key) → the chart a tier-1 register entry shows of it."""
    analysed: set[str] = field(default_factory=set)
    """Images asked about (analyze_image)."""

    def ingest(self, observation: str) -> None:
        for chart in _CAPTION.finditer(observation):  # analyze_image's description of a chart read from tier 1
            attribute = _LABELS_LOWER.get(chart.group("label").lower())
            name = chart.group("name")
            if attribute is None or self.charts.get((name, attribute.key)) != chart.group("url"):
                continue
            for point in chart.group("figures").split("; "):
                year, _, value = point.partition(": ")
                if year.isdigit():
                    self.values[(name, attribute.key)].setdefault(int(year), _number(value))
        for tier, title, url, _domain, _date, text in _RESULT.findall(observation):
            if tier == "1" and title.endswith(" — register entry"):
                self.entry_urls.setdefault(title.removesuffix(" — register entry"), url)
            if tier == "1" and (match := _DIRECTORY_TITLE.match(title)):
                self._directory_parts(match.group("plural"), text)
        for title, url, tier, _domain, _date, body in _PAGE.findall(observation):
            self.read.add(url)
            if tier != "1":
                continue
            paragraphs = _PARAGRAPH.findall(body)
            links = _LINKS.search(body)
            subject = title.removesuffix(" — register entry") if title.endswith(" — register entry") else ""
            if subject:
                self.entry_urls[subject] = url
                for link in (links.group(1).split() if links else ()):
                    if "/archive/" in link:
                        self.archive_urls[subject] = link
                for chart in _CHART_ALT.finditer(images.group(1) if (images := _IMAGES.search(body)) else ""):
                    attribute = _LABELS_LOWER.get(chart.group("label").lower())
                    if attribute is not None and chart.group("name") == subject:
                        self.charts[(subject, attribute.key)] = chart.group("url")
            if match := _DIRECTORY_TITLE.match(title):
                self._directory_parts(match.group("plural"), paragraphs[0] if paragraphs else "")
                self.directory[_KIND_BY_PLURAL.get(match.group("plural"), "")][url] = "read"
            self._paragraphs(paragraphs, subject, title, url)

    def _directory_parts(self, plural: str, lead: str) -> None:
        kind = _KIND_BY_PLURAL.get(plural)
        parts = _ALL_PARTS.search(lead)
        if kind is None or parts is None:
            return
        for url in parts.group("urls").split():
            self.directory[kind].setdefault(url, "")

    def _paragraphs(self, paragraphs: list[str], subject: str, title: str, url: str) -> None:
        kind = _KIND_BY_PLURAL.get(m.group("plural")) if (m := _DIRECTORY_TITLE.match(title)) else None
        for text in paragraphs:
            if kind is not None and (row := _DIRECTORY_ROW.match(text)):
                self.members[kind].add(row.group("name"))
                self.entry_urls[row.group("name")] = row.group("url")
                if row.group("sector"):
                    self.sectors[row.group("name")] = row.group("sector")
                continue
            if text.startswith("|"):
                self._table(text, subject, url)
                continue
            if subject and text.startswith(f"{subject} is a ") and " sector." in text:
                self.sectors[subject] = text.split("operating in the ", 1)[-1].split(" sector.")[0]
                continue
            self._sentence(text, url)

    def _table(self, text: str, subject: str, url: str) -> None:
        rows = text.split("\n")
        header = _TABLE_HEADER.match(rows[0])
        if not subject or header is None or header.group("label").lower() not in _LABELS_LOWER:
            return
        attribute = _LABELS_LOWER[header.group("label").lower()]
        for row in rows[2:]:
            cells = [c.strip() for c in row.strip("|").split("|")]
            if len(cells) == 2 and cells[0].isdigit():
                self.values[(subject, attribute.key)][int(cells[0])] = _number(cells[1])
                self.sources.setdefault((subject, attribute.key), url)

    def _sentence(self, text: str, url: str) -> None:
        for pattern, key in _HISTORY_PATTERNS:
            if match := pattern.fullmatch(text):
                groups = match.groupdict()
                start, end = int(groups.get("start") or 0), int(groups.get("end") or 0)
                entry = (start, end, match.group("o"))
                if entry not in self.history[(match.group("s"), key)]:
                    self.history[(match.group("s"), key)].append(entry)
                return
        for pattern, attribute, dated in _VALUE_PATTERNS:
            if match := pattern.fullmatch(text):
                year = int(match.group("year")) if dated else 0
                self.values[(match.group("s"), attribute.key)][year] = _number(match.group("v"))
                self.sources.setdefault((match.group("s"), attribute.key), url)
                return
        for pattern, key in _RELATION_PATTERNS:
            if match := pattern.fullmatch(text):
                self.relations.setdefault((match.group("s"), key), match.group("o"))
                self.sources.setdefault((match.group("s"), key), url)
                return


_LABELS_LOWER = {a.label.lower(): a for attributes in ATTRIBUTES.values() for a in attributes}


class _Missing(Exception):
    """A fact the solver has not read yet; the pages to read are already requested."""


@dataclass
class _Episode:
    question: str
    knowledge: _Knowledge = field(default_factory=_Knowledge)
    wanted_urls: list[str] = field(default_factory=list)
    wanted_queries: list[str] = field(default_factory=list)
    wanted_images: list[str] = field(default_factory=list)
    calls_left: int | None = None
    """Tool calls the budget still allows (from the last observation)."""


class FrontierSolver:
    """A non-LLM solver of the frontier families (puzzle, compute, aggregate, temporal; research requests that
    choose a supplier, assess a risk or explain a change) that follows the environment's observations only.
    `act(messages)` returns tool calls or the answer."""

    def __init__(self) -> None:
        self._episode: _Episode | None = None

    def act(self, messages: list[dict[str, Any]]) -> str:
        question = messages[1]["content"] if len(messages) > 1 else ""
        if self._episode is None or self._episode.question != question or len(messages) <= 2:
            self._episode = _Episode(question)
        episode = self._episode
        since_last_action = []
        for message in reversed(messages[2:]):
            if message["role"] == "assistant":
                break
            since_last_action.append(str(message.get("content") or ""))
        for observation in reversed(since_last_action):
            episode.knowledge.ingest(observation)
            if budget := _BUDGET.findall(observation):
                episode.calls_left = int(budget[-1])
        episode.wanted_urls, episode.wanted_queries, episode.wanted_images = [], [], []
        for prefix, memo in (("I am the procurement lead at ", self._supplier_memo),
                             ("I am a credit analyst at ", self._risk_memo), ("I am an analyst at ", self._change_memo)):
            if question.startswith(prefix):
                try:
                    return format_answer(memo(episode))
                except _Missing:
                    return self._fetch(episode) or format_answer(memo(episode, best_effort=True))
        try:
            answer = self._solve(episode)
        except _Missing:
            action = self._fetch(episode)
            if action is not None:
                return action
            answer = ""  # nothing left to read: answer with what is known
            try:
                answer = self._solve(episode, best_effort=True)
            except _Missing:
                pass
        return format_answer(answer or 'unknown')

    # -- fetching ---------------------------------------------------------------------------------------

    def _fetch(self, episode: _Episode) -> str | None:
        knowledge = episode.knowledge
        urls = [u for u in dict.fromkeys(episode.wanted_urls) if u not in knowledge.read]
        queries = [q for q in dict.fromkeys(episode.wanted_queries) if q not in knowledge.searched]
        images = [i for i in dict.fromkeys(episode.wanted_images) if i not in knowledge.analysed]
        if not urls and not queries and not images:
            return None
        most = _MAX_CALLS_PER_TURN if episode.calls_left is None else min(_MAX_CALLS_PER_TURN, episode.calls_left - 1)
        if most < 1:
            return None  # keep the last call for nothing: answer now
        calls = []
        for image in images[:most]:
            knowledge.analysed.add(image)
            calls.append(format_tool_call("analyze_image", {"source": image, "question": "What values does the chart "
                                                                                        "show?"}))
        while (urls or queries) and len(calls) < most:
            batch_urls, urls = urls[:_URLS_PER_CALL], urls[_URLS_PER_CALL:]
            batch_queries, queries = queries[:_QUERIES_PER_CALL], queries[_QUERIES_PER_CALL:]
            arguments: dict[str, Any] = {}
            if batch_queries:
                arguments.update(queries=batch_queries, top_k=3)
                knowledge.searched.update(batch_queries)
            if batch_urls:
                arguments["urls"] = batch_urls
                knowledge.read.update(batch_urls)  # asked for: a missing page is not asked for again
            calls.append(format_tool_call("batch_web_surfer", arguments))
        return "".join(calls)

    def _need_entry(self, episode: _Episode, name: str) -> None:
        url = episode.knowledge.entry_urls.get(name)
        if url is not None and url not in episode.knowledge.read:
            episode.wanted_urls.append(url)
        elif url is None:
            episode.wanted_queries.append(f"{name} register entry")
        raise _Missing

    # -- facts ------------------------------------------------------------------------------------------

    def relation(self, episode: _Episode, name: str, key: str) -> str:
        found = episode.knowledge.relations.get((name, key))
        if found is not None:
            return found
        if episode.knowledge.entry_urls.get(name) in episode.knowledge.read:
            history = episode.knowledge.history.get((name, key))
            current = [holder for _, end, holder in history or () if end == 0]
            if current:
                return current[0]
        self._need_entry(episode, name)
        raise AssertionError  # unreachable: _need_entry raises

    def values(self, episode: _Episode, name: str, attribute: Attribute, *, archive: bool = False,
               history: bool = False) -> dict[int, float]:
        """Every tier-1 figure of the attribute by year; reads the entry, and the archive for deep attributes or
        when `archive` (full histories). When `archive` or `history` and the text gives one figure of a charted
        attribute, the entry's chart too."""
        knowledge = episode.knowledge
        entry = knowledge.entry_urls.get(name)
        if entry is None or entry not in knowledge.read:
            if (attribute.deep or archive) and (archive_url := _archive_of(entry)) and archive_url not in knowledge.read:
                episode.wanted_urls.append(archive_url)  # read with the entry, in the same turn
            self._need_entry(episode, name)
        if attribute.deep or archive:
            archive_url = knowledge.archive_urls.get(name) or _archive_of(entry)
            if archive_url is not None and archive_url not in knowledge.read:
                episode.wanted_urls.append(archive_url)
                raise _Missing
        figures = knowledge.values.get((name, attribute.key), {})
        chart = knowledge.charts.get((name, attribute.key))
        if (archive or history) and len(figures) < 2 and chart is not None and chart not in knowledge.analysed:
            episode.wanted_images.append(chart)  # the text gives one figure: the past ones are in the chart
            raise _Missing
        return figures

    def current(self, episode: _Episode, name: str, attribute: Attribute) -> float | None:
        figures = self.values(episode, name, attribute)
        if not figures:
            return None
        return figures[max(figures)]

    def holders(self, episode: _Episode, name: str, key: str) -> list[tuple[int, int, str]]:
        knowledge = episode.knowledge
        self.values(episode, name, ATTRIBUTES["organisation"][2], archive=True)  # the archive holds the history
        return sorted(knowledge.history.get((name, key), []))

    def resolve(self, episode: _Episode, phrase: str) -> str:
        """The name a phrase of the chain questions refers to ("the city where the company X is headquartered")."""
        for relation in RELATIONS:
            pattern = "^" + re.escape(relation.phrase).replace(re.escape("{x}"), "(?P<x>.+)") + "$"
            if match := re.match(pattern, phrase):
                return self.relation(episode, self.resolve(episode, match.group("x")), relation.key)
        for noun in _KIND_NOUNS:
            if phrase.startswith(noun):
                return phrase[len(noun):]
        return phrase

    # -- constraints ------------------------------------------------------------------------------------

    def _reach(self, episode: _Episode, name: str, path: tuple[str, ...]) -> str:
        for key in path:
            name = self.relation(episode, name, key)
        return name

    def satisfies(self, episode: _Episode, name: str, constraint: Constraint) -> bool:
        end = self._reach(episode, name, constraint.path)
        if constraint.test == "is":
            return end == constraint.value
        if constraint.test == "sector":
            sector = episode.knowledge.sectors.get(end)
            if sector is None:
                self._need_entry(episode, end)
            return sector == constraint.value
        attribute = next(a for a in ATTRIBUTES[_ATTRIBUTE_KIND[constraint.attribute]] if a.key == constraint.attribute)
        value = self.current(episode, end, attribute)
        if value is None:
            return False
        if constraint.test == "compare":
            reference = self.current(episode, constraint.value, attribute)
            return reference is not None and (value > reference if constraint.op == "gt" else value < reference)
        if constraint.op == "between":
            return constraint.low <= value <= constraint.high
        return value > constraint.low if constraint.op == "gt" else value < constraint.low

    def members(self, episode: _Episode, kind: str) -> list[str]:
        """Every entity of a kind, from its register index (all parts)."""
        knowledge = episode.knowledge
        parts = knowledge.directory.get(kind, {})
        unread = [url for url, state in parts.items() if state != "read" and url not in knowledge.read]
        if not parts:
            episode.wanted_queries.append(f"Index of {KIND_PLURAL[kind]} register every {_word(kind)} on record")
            raise _Missing
        if unread:
            episode.wanted_urls.extend(unread)
            raise _Missing
        return sorted(knowledge.members.get(kind, ()))

    def matching(self, episode: _Episode, kind: str, constraints: list[Constraint]) -> list[str]:
        """The entities of `kind` meeting every constraint: constraints that need the fewest pages first, each
        resolved for all remaining candidates before the next (their pages read as one batch)."""
        alive = self.members(episode, kind)
        for constraint in sorted(constraints, key=_cost):
            kept, missing = [], False
            for name in alive:
                try:
                    if self.satisfies(episode, name, constraint):
                        kept.append(name)
                except _Missing:
                    missing = True
                    kept.append(name)
            if missing:
                raise _Missing
            alive = kept
        return alive

    # -- research requests ------------------------------------------------------------------------------

    def _supplier_memo(self, episode: _Episode, *, best_effort: bool = False) -> str:
        """The decision memo of a supplier choice: each product's price, maker and the maker's workforce, the
        products the policy rules out, the recommendation; every figure cited to the tier-1 page it came from."""
        match = re.match(r"I am the procurement lead at (.+?) and must choose a supplier: one of the products (.+?)\. "
                         r"Our policy: we only buy from manufacturers with a workforce of at least ([\d,]+) employees",
                         episode.question)
        if match is None:
            return "The request could not be read."
        buyer, threshold = match.group(1), int(_number(match.group(3)))
        products = re.split(r", | and ", match.group(2))
        price, workforce = _attribute("unit_price_usd"), _attribute("employees")
        rows, missing = [], False
        for product in products:
            try:
                maker = self.relation(episode, product, "maker")
                rows.append((product, maker, self._latest(episode, product, price),
                             self._latest(episode, maker, workforce)))
            except _Missing:
                missing = True
        if missing and not best_effort:
            raise _Missing
        sources = episode.knowledge.sources
        parts = [f"# Supplier choice for {buyer}", "## Request",
                 f"The memo weighs {len(products)} candidate products against the purchasing policy of {buyer}: a "
                 f"manufacturer workforce of {threshold:,} employees or more, then the lowest latest unit price."]
        table = ["| Product | Unit price (USD) | Manufacturer | Manufacturer workforce (employees) |",
                 "| --- | --- | --- | --- |"]
        for product, maker, (price_year, unit_price), (work_year, employees) in rows:
            parts += [f"## {product}",
                      f"For {price_year}, {product} reported {unit_price:,.2f} USD as its unit price "
                      f"\\cite{{{sources.get((product, 'unit_price_usd'), '')}}}. For {product}, the maker on record is "
                      f"{maker} \\cite{{{sources.get((product, 'maker'), '')}}}. For {work_year}, {maker} reported "
                      f"{employees:,.0f} employees as its workforce \\cite{{{sources.get((maker, 'employees'), '')}}}."]
            table.append(f"| {product} | {unit_price:,.2f} | {maker} | {employees:,.0f} |")
        parts += ["## Comparison", "\n".join(table), "## Recommendation"]
        qualifying = [(row[2][1], row[0]) for row in rows if row[3][1] >= threshold]
        for product, _, _, (_, employees) in rows:
            if employees < threshold:
                parts.append(f"{product} is ruled out by the policy: its manufacturer has fewer than {threshold:,} "
                             "employees.")
        if qualifying:
            parts.append(f"We recommend {min(qualifying)[1]}, the lowest-priced product among those that qualify.")
        return "\n\n".join(parts) + "\n"

    def _risk_memo(self, episode: _Episode, *, best_effort: bool = False) -> str:
        """A risk assessment under the lender's rule: the two latest figures of the company's annual revenue and
        workforce, whether each fell, and the level the rule gives (high: both fell, moderate: one, low: neither)."""
        match = re.match(r"I am a credit analyst at (.+?), assessing the risk of lending to (.+?)\. Our rule:",
                         episode.question)
        if match is None:
            return "The request could not be read."
        lender, company = match.groups()
        pairs, missing = [], False
        for key in ("revenue_musd", "employees"):
            attribute = _attribute(key)
            try:
                figures = self.values(episode, company, attribute, history=True)
            except _Missing:
                missing = True
                continue
            if len(figures) >= 2:
                pairs.append((attribute, *sorted(figures.items())[-2:]))
        if missing and not best_effort:
            raise _Missing
        sources = episode.knowledge.sources
        parts = [f"# Credit risk of {company}", "## Request",
                 f"{lender} weighs a loan to {company} under its rule on the latest movement of the company's annual "
                 "revenue and workforce.", "## Figures"]
        sentences, rows, trends, falls = [], ["| Year | Metric | Value |", "| --- | --- | --- |"], [], 0
        for attribute, (first_year, first), (last_year, last) in pairs:
            cite = sources.get((company, attribute.key), "")
            for year, value in ((first_year, first), (last_year, last)):
                written = _written(value, attribute)
                sentences.append(f"For {year}, {company} reported {written} {attribute.unit} as its {attribute.label} "
                                 f"\\cite{{{cite}}}.")
                rows.append(f"| {year} | {attribute.label} of {company} ({attribute.unit}) | {written} |")
            falls += last < first
            trends.append(f"Between {first_year} and {last_year}, the {attribute.label} of {company} "
                          f"{'declined' if last < first else 'grew'}.")
        parts += [" ".join(sentences), "\n".join(rows), "## Trends", *trends]
        if len(pairs) == 2:
            parts += ["## Verdict", f"Under the stated rule, {company} is a {('low', 'moderate', 'high')[falls]} risk."]
        return "\n\n".join(parts) + "\n"

    def _change_memo(self, episode: _Episode, *, best_effort: bool = False) -> str:
        """Why a company's workforce moved between two years: the figures at both, and the one change of chief
        executive or headquarters in between (from the archive record), with its year."""
        match = re.match(r"I am an analyst at (.+?) following (.+?)\. Why did its workforce (?:fall|rise) between "
                         r"(\d{4}) and (\d{4})\?", episode.question)
        if match is None:
            return "The request could not be read."
        analyst, company, first_year, last_year = match.group(1), match.group(2), int(match.group(3)), int(match.group(4))
        workforce = _attribute("employees")
        try:
            figures = self.values(episode, company, workforce, history=True)
            changes = [(start, key, holder) for key in ("ceo", "headquarters")
                       for start, _, holder in self.holders(episode, company, key) if first_year < start <= last_year]
        except _Missing:
            if not best_effort:
                raise
            figures, changes = episode.knowledge.values.get((company, "employees"), {}), []
        first, last = figures.get(first_year), figures.get(last_year)
        cite = episode.knowledge.sources.get((company, "employees"), "")
        parts = [f"# The workforce of {company}, {first_year} to {last_year}", "## Request",
                 f"{analyst} asked what lies behind the movement in the workforce of {company} from {first_year} to "
                 f"{last_year}. This note sets out the headcount {company} reported in each of those years, the "
                 "direction of the movement, and the one change in the company's leadership or location that falls "
                 "between them, each from the company's official filings.", "## Figures"]
        known = [(year, value) for year, value in ((first_year, first), (last_year, last)) if value is not None]
        parts.append(" ".join(f"For {year}, {company} reported {_written(value, workforce)} employees as its workforce "
                              f"\\cite{{{cite}}}." for year, value in known))
        parts.append("\n".join(["| Year | Metric | Value |", "| --- | --- | --- |",
                                *(f"| {year} | workforce of {company} (employees) | {_written(value, workforce)} |"
                                  for year, value in known)]))
        if first is not None and last is not None:
            parts += ["## Trend", f"Between {first_year} and {last_year}, the workforce of {company} "
                                  f"{'declined' if last < first else 'grew'}."]
        if len(changes) == 1:
            start, key, holder = changes[0]
            archive = episode.knowledge.archive_urls.get(company) or _archive_of(episode.knowledge.entry_urls.get(company))
            if key == "ceo":
                explanation = (f"The turning point came in {start}, when {holder} was appointed to lead {company} as "
                               f"its new chief executive \\cite{{{archive}}}.")
            else:
                explanation = (f"The turning point came in {start}, when {company} relocated its head office to "
                               f"{holder} \\cite{{{archive}}}.")
            parts += ["## Explanation", explanation]
        return "\n\n".join(parts) + "\n"

    def _latest(self, episode: _Episode, name: str, attribute: Attribute) -> tuple[int, float]:
        figures = self.values(episode, name, attribute)
        if not figures:
            raise _Missing
        year = max(figures)
        return year, figures[year]

    # -- families -----------------------------------------------------------------------------------------

    def _solve(self, episode: _Episode, *, best_effort: bool = False) -> str:
        question = episode.question
        lines = question.split("\n")
        constraints = [c for line in lines if line.startswith("- ") and (c := parse_constraint(line[2:]))]
        if match := re.match(r"Identify the (\w+) that meets every one", lines[0]):
            found = self.matching(episode, _KIND_BY_WORD[match.group(1)], constraints)
            return found[0] if found else ""
        if match := re.match(r"How many (\w+) meet every one", lines[0]):
            return str(len(self.matching(episode, _KIND_BY_PLURAL[match.group(1)], constraints)))
        if match := re.match(r"List every (\w+) that meets all", lines[0]):
            return "; ".join(self.matching(episode, _KIND_BY_WORD[match.group(1)], constraints))
        if match := re.match(r"Of the (\w+) that meet every one of these conditions, which has the "
                             r"(largest|smallest|latest|earliest) (.+?) \(figures", lines[0]):
            attribute = ATTRIBUTE_BY_LABEL[match.group(3)]
            found = self.matching(episode, _KIND_BY_PLURAL[match.group(1)], constraints)
            scored = [(self.current(episode, name, attribute), name) for name in found]
            scored = [(v, n) for v, n in scored if v is not None]
            if not scored:
                return ""
            pick = max if match.group(2) in ("largest", "latest") else min
            return pick(scored)[1]
        return self._compute(episode, question) or self._temporal(episode, question) or ""

    def _compute(self, episode: _Episode, question: str) -> str | None:
        if match := re.match(r"By what percentage did the (.+?) of (.+) change from (\d{4}) to (\d{4})\?", question):
            attribute = ATTRIBUTE_BY_LABEL[match.group(1)]
            figures = self.values(episode, self.resolve(episode, match.group(2)), attribute, archive=True)
            first, last = figures.get(int(match.group(3))), figures.get(int(match.group(4)))
            return f"{100 * (last - first) / first:.2f}%" if first and last is not None else None
        if match := re.match(r"By how much did the (.+?) of (.+) change from (\d{4}) to (\d{4}) \(", question):
            attribute = ATTRIBUTE_BY_LABEL[match.group(1)]
            figures = self.values(episode, self.resolve(episode, match.group(2)), attribute, archive=True)
            first, last = figures.get(int(match.group(3))), figures.get(int(match.group(4)))
            return f"{last - first:.{attribute.decimals}f}" if first is not None and last is not None else None
        if match := re.match(r"What is the ratio of the (.+?) of (.+) to the \1 of (.+), using the latest", question):
            attribute = ATTRIBUTE_BY_LABEL[match.group(1)]
            first, second = (self.resolve(episode, match.group(i)) for i in (2, 3))
            a, b = self.current(episode, first, attribute), self.current(episode, second, attribute)
            return f"{a / b:.3f}" if a is not None and b else None
        if match := re.match(r"What is the combined (.+?) of (.+), using the latest authoritative figures", question):
            attribute = ATTRIBUTE_BY_LABEL[match.group(1)]
            phrases = re.split(r", | and (?=the )", match.group(2))
            names = [self.resolve(episode, phrase) for phrase in phrases]
            figures = [self.current(episode, name, attribute) for name in names]
            return f"{sum(figures):.{attribute.decimals}f}" if None not in figures else None
        units = "|".join(re.escape(unit) for unit, *_ in CONVERSIONS.values())
        if match := re.match(rf"What is the (?:latest )?(.+?) of (.+) in ({units})\? Give it to (\d) decimal", question):
            attribute = ATTRIBUTE_BY_LABEL[match.group(1)]
            unit, factor, offset, _ = CONVERSIONS[attribute.key]
            value = self.current(episode, self.resolve(episode, match.group(2)), attribute)
            return f"{value * factor + offset:.{int(match.group(4)) + 1}f}" if value is not None else None
        if match := re.match(r"How many years after its (.+?) was founded was the (\w+) (.+) (launched|first held|"
                             r"enacted)\?", question):
            key = next(k for k, label in RELATION_LABELS.items() if label == match.group(1))
            name = match.group(3)
            own_key = {"launched": "launch_year", "first held": "first_held", "enacted": "enacted"}[match.group(4)]
            own = self.current(episode, name, _attribute(own_key))
            other = self.current(episode, self.relation(episode, name, key), _attribute("founded"))
            return str(int(own - other)) if own is not None and other is not None else None
        return None

    def _temporal(self, episode: _Episode, question: str) -> str | None:
        if match := re.match(r"Who was the chief executive of (.+) in (\d{4})\?", question):
            return _holder_in(self.holders(episode, match.group(1), "ceo"), int(match.group(2)))
        if match := re.match(r"In which city was (.+) headquartered in (\d{4})\?", question):
            return _holder_in(self.holders(episode, match.group(1), "headquarters"), int(match.group(2)))
        if match := re.match(r"In which year did (.+) become the chief executive of (.+)\?", question):
            return next((str(start) for start, _, holder in self.holders(episode, match.group(2), "ceo")
                         if holder == match.group(1) and start), None)
        if match := re.match(r"In which year did (.+) move its headquarters to (.+)\?", question):
            return next((str(start) for start, _, holder in self.holders(episode, match.group(1), "headquarters")
                         if holder == match.group(2) and start), None)
        if match := re.match(r"What is the (?:latest )?(.+?) of the (?:city where (.+) was headquartered|person who "
                             r"was chief executive of (.+)) in (\d{4})\?", question):
            key = "headquarters" if match.group(2) else "ceo"
            holder = _holder_in(self.holders(episode, match.group(2) or match.group(3), key), int(match.group(4)))
            if holder is None:
                return None
            value = self.current(episode, holder, ATTRIBUTE_BY_LABEL[match.group(1)])
            return _figure(value, ATTRIBUTE_BY_LABEL[match.group(1)])
        if match := re.match(r"What was the (.+?) of (.+) as of the year (its current chief executive took over|it "
                             r"moved to its current headquarters)", question):
            key = "ceo" if "chief executive" in match.group(3) else "headquarters"
            name = match.group(2)
            starts = [start for start, end, _ in self.holders(episode, name, key) if end == 0]
            if not starts:
                return None
            return _as_of(self.values(episode, name, ATTRIBUTE_BY_LABEL[match.group(1)], archive=True), starts[0],
                          ATTRIBUTE_BY_LABEL[match.group(1)])
        if match := re.match(r"What was the (.+?) of (.+) as of (\d{4}), that is", question):
            attribute = ATTRIBUTE_BY_LABEL[match.group(1)]
            figures = self.values(episode, self.resolve(episode, match.group(2)), attribute, archive=True)
            return _as_of(figures, int(match.group(3)), attribute)
        return None


_ENTRY_URL = re.compile(r"^(?P<site>https://[^/]+)/entry/.*?-(?P<record>[a-z]{3}-\d{5}(?:-twin)?)$")


def _archive_of(entry_url: str | None) -> str | None:
    """Archive records sit beside register entries: ``…/entry/<name>-<record>`` has ``…/archive/<record>`` (the
    link every entry shows), so the solver reads both in one turn."""
    match = _ENTRY_URL.match(entry_url or "")
    return f"{match.group('site')}/archive/{match.group('record')}" if match else None


def _word(kind: str) -> str:
    return next(word for word, k in _KIND_BY_WORD.items() if k == kind)


def _attribute(key: str) -> Attribute:
    return next(a for a in ATTRIBUTES[_ATTRIBUTE_KIND[key]] if a.key == key)


def _cost(constraint: Constraint) -> tuple[int, int]:
    """Pages a constraint needs per candidate, roughly: a sector of the entity itself is in the index."""
    if constraint.test == "sector" and not constraint.path:
        return (0, 0)
    deep = constraint.test in ("range", "compare") and _attribute(constraint.attribute).deep
    return (1 + len(constraint.path) + deep, 0)


def _holder_in(holders: list[tuple[int, int, str]], year: int) -> str | None:
    for start, end, holder in holders:
        if (start == 0 or start <= year) and (end == 0 or year < end):
            return holder
    return None


def _as_of(figures: dict[int, float], year: int, attribute: Attribute) -> str | None:
    reported = [y for y in figures if 0 < y <= year]
    return _figure(figures[max(reported)], attribute) if reported else None


def _written(value: float, attribute: Attribute) -> str:
    """A figure as the registers write it: thousands separated, the attribute's decimals."""
    return f"{value:,.{attribute.decimals}f}"


def _figure(value: float | None, attribute: Attribute) -> str | None:
    if value is None:
        return None
    return f"{value:.{attribute.decimals}f}"
