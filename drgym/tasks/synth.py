"""Task synthesis from a world's graph and the statements its pages make.

* deep_search: a path of functional relations from a named entity, 2–6 hops, ending at an attribute's current
  value or an entity's name: unique answer, with aliases. Every hop is stated on at least one tier-1 page.
* deep_research: a report request over a subgraph (companies of one sector compared; one company's
  trajectory), with 10–40 rubrics whose checks the deterministic judge evaluates, and a gold report written
  from the graph (plus the same report built from low-trust values, for tests and contrastive data).
"""

from __future__ import annotations

import io
import mmap
import random
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from drgym.errors import ConfigError
from drgym.rewards.rubric import (
    CitationCheck,
    CoverageCheck,
    FactCheck,
    FaultCheck,
    MentionCheck,
    Rubric,
    StructureCheck,
)
from drgym.tasks.families import family_tasks
from drgym.tasks.families.compute import chart_compute_task
from drgym.tasks.families.constraints import nice
from drgym.tasks.render import Statement
from drgym.tasks.schema import Task
from drgym.tasks.world import (
    ATTRIBUTES,
    RELATION_BY_KEY,
    RELATIONS_BY_SOURCE,
    Attribute,
    Entity,
    World,
    format_value,
)

__all__ = ["CHART_COMPUTE_SHARE", "FAMILY_NAMES", "INTENT_TEMPLATES", "RISK_LEVELS", "FactIndex", "StatementWriter",
           "TASKS_VERSION", "intent_tasks", "synthesise_tasks"]

TASKS_VERSION = 12
"""Bump when task synthesis (questions, rubrics, gold reports) changes, so cached worlds get new tasks.
6: superseded values, attribute names (label terms), unit scales, rivals, contrary and topic terms in the checks;
gold reports in their own words. 7: task families (puzzle, compute, aggregate, temporal, intent), more sentence
frames for paraphrased statements, relation histories and register indexes. 8: research requests that assess a risk
or explain a change; computation questions that need a chart. 9: intent requests commit to one candidate (a maker's
fact names the other candidates' makers as rivals, a change its earlier holders), and no two intent requests share
a subject (the same company's change or risk, the same products: a train twin gave a held-out task its gold
report). 10: an intent request's conclusions (recommendation, ruled-out products, trends, verdict, explanation)
count only on the facts they rest on (`Rubric.requires`). 11: a product is compared in one supplier request at
most. 12: a report's headquarters and chief-executive facts, its product coverage, a supplier request's maker facts
and a change's fact carry decoys (`_decoys`): a list of every city beside each company had stated every
headquarters; a count question's answer is drawn first, uniform over 2-12 (a constant "2" had scored 0.26)."""

CHART_COMPUTE_SHARE = 0.25
"""Share of a world's computation questions that need a chart's figure, when its charts hold figures no text states
(`WorldSpec.chart_only_history`)."""

FAMILY_NAMES = ("chain", "report", "puzzle", "compute", "aggregate", "temporal", "intent")
"""Task families a suite can mix: chain questions and compare/timeline reports (the classic suites), and the
frontier families."""

_KIND_NOUN = {"organisation": "the company", "person": "the person", "place": "the city", "product": "the product",
              "compound": "the compound", "regulation": "the regulation", "event": "the event"}


_RECORD = np.dtype([("fact", "<i8"), ("start", "<i8"), ("tier", "i1"), ("status", "u1"), ("year", "<i2")])
"""A statement as `StatementWriter` keeps it (20 bytes): its fact, ``(entity number << 32) | key number``, where its
line starts, its tier, its status number and its year."""
_RECORDS_PER_WRITE = 8192


class StatementWriter:
    """Writes statements as the lines of statements.jsonl, and what a `FactIndex` of them holds to a temporary file.

    A world's pages make ~3.4 statements each (680k at 200k pages); as objects grouped in lists by fact they took
    ~175 bytes each. This keeps a 20-byte record of each (`_RECORD`), written to an unnamed temporary file 8,192 at
    a time (in `temporary_dir`: a world's build puts it in its staging folder), and leaves the url and the value in
    the line: memory holds the entity, key and status numbers.
    """

    def __init__(self, out: BinaryIO, temporary_dir: str | Path | None = None,
                 entity_numbers: Mapping[str, int] | None = None) -> None:
        self._out = out
        self._position = 0
        # with `entity_numbers` (a world's, `PackedEntities.numbers`), the entities are numbered as there and no table
        # is made: one made amid the pages (~100 bytes an entity, 12 MiB at 500k pages) would also keep their memory
        # pools; without, an entity is numbered when first stated
        own: dict[str, int] = {}
        self._own_numbers = own if entity_numbers is None else None
        self.entity_numbers: Mapping[str, int] = own if entity_numbers is None else entity_numbers
        self.key_numbers: dict[str, int] = {}
        self.status_numbers: dict[str, int] = {}
        # beside the world being built (`temporary_dir`) rather than in /tmp, which is often a RAM disk
        self.temporary_dir = temporary_dir
        self._records = tempfile.TemporaryFile(dir=temporary_dir)
        self._pending: list[tuple[int, int, int, int, int]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def write(self, statement: Statement) -> None:
        line = statement.json_line().encode("utf-8")
        entity = self.entity_numbers.get(statement.entity_id)
        if entity is None:
            if self._own_numbers is None:
                raise ConfigError(f"a statement about {statement.entity_id!r}, which is no entity of the world")
            entity = self._own_numbers[statement.entity_id] = len(self._own_numbers)
        key = self.key_numbers.setdefault(statement.key, len(self.key_numbers))
        status = self.status_numbers.setdefault(statement.status, len(self.status_numbers))
        self._pending.append((entity << 32 | key, self._position, statement.tier, status, statement.year))
        if len(self._pending) == _RECORDS_PER_WRITE:
            self._flush()
        self._count += 1
        self._out.write(line)
        self._position += len(line)

    def records(self) -> np.ndarray:
        """Every record written, in statement order, memory-mapped read-only (the file's pages, not the heap)."""
        self._flush()
        if not self._count:
            return np.zeros(0, dtype=_RECORD)
        return np.frombuffer(_mapped(self._records), dtype=_RECORD, count=self._count)

    def close(self) -> None:
        """Deletes the records' file; a `FactIndex` of them has its own."""
        self._records.close()

    def _flush(self) -> None:
        if self._pending:
            self._records.write(np.array(self._pending, dtype=_RECORD))
            self._records.flush()
            self._pending = []


_SORT_RUN = 1 << 18
"""Records sorted in memory at a time (~9 MiB of work): `_write_sorted_by_fact` merges sorted runs of this many."""


def _write_sorted_by_fact(records: np.ndarray, out: BinaryIO, temporary_dir: str | Path | None,
                          run: int = _SORT_RUN) -> None:
    """Writes each column of `records` (`_RECORD`) to `out`, one after the other, sorted by fact and in record order
    within a fact (a stable sort), holding ~36 bytes for each of `run` records rather than for every record.

    Runs of `run` records are sorted in memory and written to temporary files (their facts apart, contiguous, for
    `searchsorted`); then the facts are taken a range at a time, a range that no run gives more than `run // runs`
    records of, and the range's records, gathered run by run (record order within a fact), are sorted and written at
    their place in each column.
    """
    n = len(records)
    if n <= run:  # one run: sorted at once
        order = np.argsort(records["fact"], kind="stable")
        for name in _RECORD.names:
            out.write(records[name][order])
        return
    starts = list(range(0, n, run))
    with (tempfile.TemporaryFile(dir=temporary_dir) as runs_file,
          tempfile.TemporaryFile(dir=temporary_dir) as facts_file):
        for start in starts:
            part = records[start:start + run]
            order = np.argsort(part["fact"], kind="stable")
            part = part[order]
            runs_file.write(part)
            facts_file.write(np.ascontiguousarray(part["fact"]))
            del part, order
            _drop_pages(records)
        runs_file.flush()
        facts_file.flush()
        runs_map, facts_map = _mapped(runs_file), _mapped(facts_file)
        sorted_runs = np.frombuffer(runs_map, dtype=_RECORD)
        sorted_facts = np.frombuffer(facts_map, dtype=np.int64)
    stops, cursors = [min(start + run, n) for start in starts], list(starts)
    take = max(1, run // len(starts))
    column_offsets = np.cumsum([0] + [n * _RECORD[name].itemsize for name in _RECORD.names[:-1]])
    base, written = out.tell(), 0
    out.truncate(base + n * _RECORD.itemsize)
    while written < n:
        # the range's end: the least fact `take` records ahead in a run; no run has `take` records below it
        ahead = [int(sorted_facts[cursor + take]) for cursor, stop in zip(cursors, stops) if cursor + take < stop]
        low = min(int(sorted_facts[cursor]) for cursor, stop in zip(cursors, stops) if cursor < stop)
        end = max(min(ahead), low + 1) if ahead else None  # a fact stated `take` times in a run is taken whole
        pieces = []
        for number, (cursor, stop) in enumerate(zip(cursors, stops)):
            last = stop if end is None else cursor + int(np.searchsorted(sorted_facts[cursor:stop], end))
            pieces.append(sorted_runs[cursor:last])
            cursors[number] = last
        block = np.concatenate(pieces)
        block = block[np.argsort(block["fact"], kind="stable")]
        for name, offset in zip(_RECORD.names, column_offsets):
            out.seek(base + int(offset) + written * _RECORD[name].itemsize)
            out.write(np.ascontiguousarray(block[name]))
        written += len(block)
        del pieces, block
        _drop_pages(runs_map)
        _drop_pages(facts_map)
    out.seek(base + n * _RECORD.itemsize)


def _drop_pages(mapped: np.ndarray | mmap.mmap) -> None:
    """Drops the pages of the file map under `mapped` (a map, or an array over one) from this process's resident
    memory: a page of a map that was read counts in it until the map is closed. They stay in the page cache, and are
    read back from it if used again. Nothing for an array in memory."""
    while isinstance(mapped, np.ndarray):
        mapped = mapped.base
    if isinstance(mapped, memoryview):
        mapped = mapped.obj
    if isinstance(mapped, mmap.mmap):
        mapped.madvise(mmap.MADV_DONTNEED)


def _mapped(file: BinaryIO) -> mmap.mmap:
    """The whole of a non-empty file, memory-mapped read-only; the map outlives the file's closing."""
    return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


class FactIndex:
    """Statements grouped by (entity id, key): which pages state what.

    Each statement's fact, tier, status and year are columns sorted by fact (in statement order within one), in a
    memory-mapped temporary file; its url and value are read back from its line (`StatementWriter`) when a question
    needs them.
    """

    def __init__(self, statements: Iterable[Statement]) -> None:
        buffer = io.BytesIO()
        writer = StatementWriter(buffer)
        for statement in statements:
            writer.write(statement)
        self._take(writer, buffer.getvalue())

    @classmethod
    def of_file(cls, writer: StatementWriter, path: Path) -> FactIndex:
        """The index of the statements `writer` wrote to the file at `path` (closed since); closes the writer."""
        index = cls.__new__(cls)
        index._take(writer, path)
        return index

    def _take(self, writer: StatementWriter, lines: bytes | Path) -> None:
        self._lines = lines
        self._entity_numbers, self._key_numbers = writer.entity_numbers, writer.key_numbers
        self._status_numbers = writer.status_numbers
        records = writer.records()
        with tempfile.TemporaryFile(dir=writer.temporary_dir) as columns_file:
            _write_sorted_by_fact(records, columns_file, writer.temporary_dir)
            columns_file.flush()
            columns = _mapped(columns_file) if len(records) else b""
        del records
        writer.close()
        n_statements, offset, sorted_columns = len(writer), 0, []
        for name in _RECORD.names:
            sorted_columns.append(np.frombuffer(columns, dtype=_RECORD[name], count=n_statements, offset=offset))
            offset += n_statements * _RECORD[name].itemsize
        self._facts, self._starts, self._tiers, self._statuses, self._years = sorted_columns

    def urls(self, entity_id: str, key: str, *, value: str | None = None, tier: int = 1,
             statuses: tuple[str, ...] = ("current", "fixed", "relation", "history")) -> list[str]:
        wanted = {self._status_numbers[status] for status in statuses if status in self._status_numbers}
        rows = self._rows(entity_id, key)
        chosen = [row for row, row_tier, status in zip(rows, self._tiers[rows.start:rows.stop].tolist(),
                                                        self._statuses[rows.start:rows.stop].tolist())
                  if row_tier == tier and status in wanted]
        return sorted({s.url for s in self._statements(chosen) if value is None or s.value == value})

    def chart_only(self) -> dict[tuple[str, str], set[int]]:
        """(entity id, attribute key) → the years whose figure only a chart states: no tier-1 or tier-2 text does."""
        chart = self._status_numbers.get("chart")
        if chart is None:
            return {}
        in_text = np.isin(self._statuses, [self._status_numbers[s] for s in ("current", "history", "fixed")
                                           if s in self._status_numbers]) & (self._tiers <= 2)
        charted_facts = np.unique(self._facts[self._statuses == chart])
        firsts = np.searchsorted(self._facts, charted_facts)
        entity_ids, keys = list(self._entity_numbers), list(self._key_numbers)
        found: dict[tuple[str, str], set[int]] = {}
        for first in sorted(firsts, key=lambda row: self._starts[row]):  # facts in the order they were first stated
            fact = int(self._facts[first])
            rows = slice(first, np.searchsorted(self._facts, fact, side="right"))
            years, statuses = self._years[rows].tolist(), self._statuses[rows].tolist()
            charted = {year for year, status in zip(years, statuses) if status == chart}
            stated = {year for year, is_text in zip(years, in_text[rows].tolist()) if is_text}
            found[(entity_ids[fact >> 32], keys[fact & 0xFFFFFFFF].removeprefix("attr:"))] = charted - stated
        return found

    def conflict(self, entity_id: str, key: str) -> Statement | None:
        """The first low-trust statement of a fabricated value for this fact, if the web has one."""
        conflict = self._status_numbers.get("conflict")
        rows = self._rows(entity_id, key)
        first = next((row for row, status in zip(rows, self._statuses[rows.start:rows.stop].tolist())
                      if status == conflict), None)
        return None if first is None else self._statements([first])[0]

    def _rows(self, entity_id: str, key: str) -> range:
        """Where the statements of a fact lie in the sorted columns."""
        entity, number = self._entity_numbers.get(entity_id), self._key_numbers.get(key)
        if entity is None or number is None:
            return range(0)
        fact = entity << 32 | number
        return range(int(np.searchsorted(self._facts, fact)), int(np.searchsorted(self._facts, fact, side="right")))

    def _statements(self, rows: list[int]) -> list[Statement]:
        if isinstance(self._lines, bytes):
            lines = self._lines
            return [Statement.from_json_line(lines[start:lines.index(b"\n", start)])
                    for start in self._starts[rows].tolist()]
        with self._lines.open("rb") as file:
            statements = []
            for start in self._starts[rows].tolist():
                file.seek(start)
                statements.append(Statement.from_json_line(file.readline()))
            return statements


def synthesise_tasks(world: World, facts: FactIndex, *, n_deep_search: int, n_deep_research: int,
                     hops: tuple[int, int] = (2, 4), seed: int = 0, prefix: str = "",
                     families: Mapping[str, int] | None = None) -> list[Task]:
    """Deterministic for (world, statements, arguments).

    `families` (name → count, names in `FAMILY_NAMES`) replaces the chains and compare/timeline reports with that
    mix: ``chain`` and ``report`` are those, the others the frontier families of `drgym.tasks.families`.
    """
    if families:
        return _family_mix(world, facts, families, hops=hops, seed=seed, prefix=prefix)
    rng = random.Random(f"drgym-tasks-{world.seed}-{seed}")
    tasks: list[Task] = []
    seen_questions: set[str] = set()
    for _attempt in range(n_deep_search * 20):
        if sum(t.kind == "deep_search" for t in tasks) >= n_deep_search:
            break
        task = _deep_search(world, facts, rng, hops, f"{prefix}ds-{len(tasks):04d}")
        if task is not None and task.question not in seen_questions:
            seen_questions.add(task.question)
            tasks.append(task)
    research = []
    for _attempt in range(n_deep_research * 20):
        if len(research) >= n_deep_research:
            break
        builder = _compare_task if rng.random() < 0.6 else _timeline_task
        task = builder(world, facts, rng, f"{prefix}dr-{len(research):04d}")
        if task is not None and task.question not in seen_questions:
            seen_questions.add(task.question)
            research.append(task)
    return tasks + research


def _family_mix(world: World, facts: FactIndex, families: Mapping[str, int], *, hops: tuple[int, int], seed: int,
                prefix: str) -> list[Task]:
    unknown = sorted(set(families) - set(FAMILY_NAMES))
    if unknown:
        raise ConfigError(f"unknown task families {unknown}; known: {', '.join(FAMILY_NAMES)}")
    seen: set[str] = set()
    tasks: list[Task] = []
    for family, count in families.items():
        if family in ("chain", "report"):
            built = synthesise_tasks(world, facts, n_deep_search=count if family == "chain" else 0,
                                     n_deep_research=count if family == "report" else 0, hops=hops, seed=seed,
                                     prefix=f"{prefix}{family}-")
            for task in built:
                seen.add(task.question)
            tasks += [t.model_copy(update={"meta": {**t.meta, "family": family}}) for t in built]
        elif family == "intent":
            tasks += intent_tasks(world, facts, count, seed=seed, prefix=prefix)
        elif family == "compute" and any((chart_only := facts.chart_only()).values()):
            n_chart = round(count * CHART_COMPUTE_SHARE)
            built = family_tasks(world, family, count - n_chart, seed=seed, prefix=prefix, seen_questions=seen)
            rng = random.Random(f"drgym-chart-compute-{world.seed}-{seed}")
            for _attempt in range(n_chart * 50):
                if len(built) >= count:
                    break
                task = chart_compute_task(world, rng, f"{prefix}compute-{len(built):04d}", chart_only)
                if task is not None and task.question not in seen:
                    seen.add(task.question)
                    built.append(task)
            tasks += built
        else:
            tasks += family_tasks(world, family, count, seed=seed, prefix=prefix, seen_questions=seen)
    return tasks


# -- deep search ------------------------------------------------------------------------------------------

def _deep_search(world: World, facts: FactIndex, rng: random.Random, hops: tuple[int, int],
                 task_id: str) -> Task | None:
    n_hops = rng.randint(*hops)
    start = world.entities[rng.choice(world.chain_start_ids())]
    path = [start]
    edges: list[str] = []
    end_with_attribute = rng.random() < 0.7
    n_edges = n_hops - 1 if end_with_attribute else n_hops
    for _ in range(n_edges):
        options = [r for r in RELATIONS_BY_SOURCE[path[-1].kind] if world.entities[path[-1].relations[r.key]] not in path]
        if not options:
            return None
        relation = rng.choice(options)
        edges.append(relation.key)
        path.append(world.entities[path[-1].relations[relation.key]])
    phrase = f"{_KIND_NOUN[start.kind]} {start.name}"
    gold_path = []
    for subject, key, target in zip(path, edges, path[1:]):
        phrase = RELATION_BY_KEY[key].phrase.format(x=phrase)
        gold_path.append({"subject": subject.id, "subject_name": subject.name, "key": f"rel:{key}",
                          "object": target.id, "object_name": target.name,
                          "urls": facts.urls(subject.id, f"rel:{key}", value=target.id)})
    last = path[-1]
    if end_with_attribute:
        attribute = rng.choice(ATTRIBUTES[last.kind])
        year, value = last.current(attribute.key)
        written = format_value(value, attribute, with_unit=False)
        recency = " Give the most recent figure from an authoritative source." if attribute.dated else ""
        question = f"What is the {attribute.label} of {phrase}?{recency}"
        answers = list(dict.fromkeys([written, written.replace(",", ""), format_value(value, attribute)]))
        gold_path.append({"subject": last.id, "subject_name": last.name, "key": f"attr:{attribute.key}",
                          "value": written, "year": year, "urls": facts.urls(last.id, f"attr:{attribute.key}", value=written)})
    else:
        question = f"What is the name of {phrase}?"
        answers = last.names
    question = question[0].upper() + question[1:]
    return Task(id=task_id, kind="deep_search", question=question, answers=answers,
                meta={"hops": n_hops, "gold_path": gold_path, "world_seed": world.seed})


# -- deep research ----------------------------------------------------------------------------------------

@dataclass
class _Fact:
    """One value a report must state, with where the web states it right and (maybe) wrong."""

    entity: Entity
    key: str
    label: str
    value: str
    unit: str
    year: int
    numeric: bool
    value_aliases: list[str]
    urls: list[str]
    conflict: Statement | None
    weight: int
    superseded: list[tuple[str, int]]
    """Older values of a current figure, with their years."""


def _attribute_fact(world: World, facts: FactIndex, entity: Entity, attribute: Attribute, weight: int,
                    *, history_index: int = -1) -> _Fact:
    year, value = entity.attributes[attribute.key][history_index]
    written = format_value(value, attribute, with_unit=False)
    key = f"attr:{attribute.key}"
    conflict = facts.conflict(entity.id, key) if history_index == -1 else None
    history = entity.attributes[attribute.key]
    superseded = [(format_value(old, attribute, with_unit=False), old_year) for old_year, old in history[:-1]
                  if format_value(old, attribute, with_unit=False) != written] if history_index == -1 else []
    return _Fact(entity, key, attribute.label, written, attribute.unit, year, True, [],
                 facts.urls(entity.id, key, value=written), conflict, weight, superseded)


def _relation_fact(world: World, facts: FactIndex, entity: Entity, relation_key: str, weight: int) -> _Fact:
    target = world.target(entity, relation_key)
    label = {"headquarters": "headquarters", "ceo": "chief executive"}.get(relation_key, relation_key)
    return _Fact(entity, f"rel:{relation_key}", label, target.name, "", 0, False, target.aliases,
                 facts.urls(entity.id, f"rel:{relation_key}", value=target.id), None, weight, [])


_DECOYS = 8
"""Decoys per name fact or product coverage (`FactCheck.decoys`): a report that lists k names of a kind where one is
asked for, guessing, passes with a chance of at most ~(k / n)(1 - 8 / n)^(k - 1) among n names, ~4 % at n = 52."""

def _decoys(world: World, key: str, kind: str, exclude: set[str]) -> list[list[str]]:
    """`_DECOYS` entities of `kind` (their names), none in `exclude`, drawn from their own stream (`key`): the task's
    other draws are unchanged."""
    pool = world.ids_of_kind(kind)
    rng = random.Random(f"drgym-decoys-{world.seed}-{key}")
    picked = []
    for entity_id in rng.sample(pool, min(len(pool), _DECOYS + len(exclude))):
        if entity_id not in exclude:
            picked.append(world.entities[entity_id].names)
            if len(picked) == _DECOYS:
                break
    return picked


def _holders(companies: Sequence[Entity], relation_key: str) -> set[str]:
    """Every entity that holds or held `relation_key` for any of `companies` (their headquarters, past and present)."""
    return {holder for company in companies for holder in
            (company.relation(relation_key), *(o for _, o in company.relation_history.get(relation_key, ())))}


def _fact_rubrics(fact: _Fact, rubric_id: str, *, with_year: bool = False, rivals: Sequence[Sequence[str]] = (),
                  peers: Sequence[Sequence[str]] = (), decoys: Sequence[Sequence[str]] = ()) -> list[Rubric]:
    entity = fact.entity
    unit = f" {fact.unit}" if fact.unit else ""
    when = f" for {fact.year}" if with_year else ""
    wrong = [fact.conflict.value] if fact.conflict is not None else []
    rubrics = []
    if fact.conflict is not None:
        criterion = (f"States the {fact.label} of {entity.name}{when} as {fact.value}{unit} (the authoritative "
                     f"figure), not the {fact.conflict.value}{unit} found on low-trust pages")
        axis = "conflict_resolution"
    else:
        criterion = f"States the {fact.label} of {entity.name}{when} as {fact.value}{unit}"
        axis = "facts"
    rubrics.append(Rubric(id=rubric_id, criterion=criterion, weight=fact.weight, axis=axis,
                          check=FactCheck(entity=entity.names, value=fact.value, numeric=fact.numeric,
                                          value_aliases=fact.value_aliases, wrong_values=wrong,
                                          superseded=fact.superseded, label_terms=_label_terms(fact),
                                          unit_scale=_unit_scale(fact),
                                          context=[str(fact.year)] if with_year else [],
                                          rivals=[list(names) for names in rivals],
                                          peers=[list(names) for names in peers],
                                          decoys=[list(names) for names in decoys])))
    if fact.conflict is not None:
        rubrics.append(Rubric(id=f"{rubric_id}-fault", weight=-3, axis="faults",
                              criterion=f"States the {fact.label} of {entity.name} as {fact.conflict.value}{unit}, "
                                        "a figure found only on low-trust pages",
                              check=FaultCheck(entity=entity.names, value=fact.conflict.value,
                                               unit_scale=_unit_scale(fact))))
    return rubrics


# Words that name an attribute in a report: its label's last word, and common synonyms.
_SYNONYMS = {"workforce": ["employees", "staff", "headcount"], "revenue": ["turnover", "sales"],
             "population": ["inhabitants", "residents"]}


def _unit_scale(fact: _Fact) -> float:
    return 1e6 if fact.unit.endswith("million") else 1.0


def _label_terms(fact: _Fact) -> list[str]:
    if not fact.numeric:
        return []
    head = fact.label.split()[-1].lower()
    return [head, *_SYNONYMS.get(head, [])]


def _citation_rubric(fact: _Fact, rubric_id: str, weight: int) -> Rubric | None:
    if not fact.urls:
        return None
    return Rubric(id=rubric_id, weight=weight, axis="citations",
                  criterion=f"Cites an authoritative page that supports the {fact.label} of {fact.entity.name}",
                  check=CitationCheck(entity=fact.entity.names, value=fact.value, numeric=fact.numeric,
                                      urls=fact.urls, unit_scale=_unit_scale(fact)))


def _sentence(fact: _Fact, *, low_trust: bool, with_year: bool = False) -> str:
    """One fact in the report's own words: no page words it this way, so it is not a pasted sentence."""
    value, url = fact.value, fact.urls[0] if fact.urls else ""
    if low_trust and fact.conflict is not None:
        value, url = fact.conflict.value, fact.conflict.url
    unit = f" {fact.unit}" if fact.unit else ""
    cite = f" \\cite{{{url}}}" if url else ""
    if fact.key == "rel:headquarters":
        return f"{fact.entity.name} has its head office in {value}{cite}."
    if fact.key == "rel:ceo":
        return f"{fact.entity.name} is run by {value}, its chief executive{cite}."
    if not fact.numeric:
        return f"For {fact.entity.name}, the {fact.label} on record is {value}{cite}."
    if with_year or fact.year:
        return f"For {fact.year}, {fact.entity.name} reported {value}{unit} as its {fact.label}{cite}."
    return f"For {fact.entity.name}, the {fact.label} on record is {value}{unit}{cite}."


def _rebuttal(fact: _Fact) -> str:
    unit = f" {fact.unit}" if fact.unit else ""
    domain = fact.conflict.url.split("/")[2]
    return (f"A figure of {fact.conflict.value}{unit} for the {fact.label} of {fact.entity.name}, seen on {domain}, "
            "is not supported by official records.")


def _compare_task(world: World, facts: FactIndex, rng: random.Random, task_id: str) -> Task | None:
    by_sector: dict[str, list[Entity]] = defaultdict(list)
    for entity in world.by_kind("organisation"):
        if not entity.twin_of:
            by_sector[entity.category].append(entity)
    sectors = sorted(s for s, members in by_sector.items() if len(members) >= 3)
    if not sectors:
        return None
    sector = rng.choice(sectors)
    companies = rng.sample(by_sector[sector], min(len(by_sector[sector]), rng.randint(3, 5)))
    employees = ATTRIBUTES["organisation"][0]
    revenue = ATTRIBUTES["organisation"][1]
    rubrics: list[Rubric] = []
    sections: list[tuple[Entity, list[tuple[_Fact, bool]]]] = []
    for number, company in enumerate(companies):
        company_facts = [_relation_fact(world, facts, company, "headquarters", 2),
                         _relation_fact(world, facts, company, "ceo", 2),
                         _attribute_fact(world, facts, company, employees, 3),
                         _attribute_fact(world, facts, company, revenue, 4)]
        for fact_number, fact in enumerate(company_facts):
            relation = {0: ("headquarters", "place"), 1: ("ceo", "person")}.get(fact_number)
            decoys = _decoys(world, f"{task_id}-c{number}-f{fact_number}", relation[1],
                             _holders(companies, relation[0])) if relation else []
            rubrics += _fact_rubrics(fact, f"c{number}-f{fact_number}", decoys=decoys)
        citation = _citation_rubric(company_facts[3], f"c{number}-cite", 2)
        if citation is not None:
            rubrics.append(citation)
        sections.append((company, [(f, False) for f in company_facts]))
    largest = max(companies, key=lambda c: c.current("revenue_musd")[1])
    names = ", ".join(c.name for c in companies[:-1]) + f" and {companies[-1].name}"
    rubrics += [
        Rubric(id="coverage", criterion=f"Covers every company asked about: {names}", weight=3, axis="coverage",
               check=CoverageCheck(entities=[c.names for c in companies])),
        Rubric(id="largest", criterion=f"Identifies {largest.name} as the largest of them by annual revenue",
               weight=3, axis="analysis",
               check=MentionCheck(entity=largest.names, terms=["largest", "biggest", "highest revenue", "leads"],
                                  rivals=[c.names for c in companies if c.id != largest.id],
                                  topic_terms=_SYNONYMS["revenue"] + ["revenue"])),
        Rubric(id="structure", criterion="Is organised in sections and includes a comparison table", weight=2,
               axis="presentation", check=StructureCheck(min_sections=3, needs_table=True)),
        Rubric(id="length", criterion="Is between 120 and 2,500 words long", weight=1, axis="presentation",
               check=StructureCheck(min_words=120, max_words=2500)),
    ]
    question = (f"Write a short research briefing comparing {names}, companies in the {sector} sector: for each, "
                "its headquarters city, chief executive, latest workforce and latest annual revenue, and which of "
                "them is the largest by revenue. Use authoritative sources, cite them as \\cite{url}, and include "
                "a comparison table.")
    table_header = ("| Company | Headquarters | Chief executive | Workforce (employees) | Annual revenue (USD million) |\n"
                    "| --- | --- | --- | --- | --- |")

    def report(low_trust: bool) -> str:
        parts = [f"# The {sector} sector: {names}", "## Overview",
                 f"This briefing compares {len(companies)} companies active in the {sector} sector, using "
                 "register entries and official filings."]
        rows = []
        for company, company_facts in sections:
            parts.append(f"## {company.name}")
            sentences = [_sentence(f, low_trust=low_trust) for f, _ in company_facts]
            if not low_trust:
                sentences += [_rebuttal(f) for f, _ in company_facts if f.conflict is not None]
            parts.append(" ".join(sentences))
            values = [(f.conflict.value if low_trust and f.conflict is not None else f.value) for f, _ in company_facts]
            rows.append(f"| {company.name} | " + " | ".join(values) + " |")
        parts += ["## Comparison", table_header + "\n" + "\n".join(rows), "## Conclusion"]
        if low_trust:
            leader = max(sections, key=lambda s: float((s[1][3][0].conflict or s[1][3][0]).value.replace(",", "")))[0]
        else:
            leader = largest
        parts.append(f"{leader.name} is the largest of these companies by annual revenue.")
        return "\n\n".join(parts) + "\n"

    subgraph = sorted({c.id for c in companies} | {c.relations["headquarters"] for c in companies}
                      | {c.relations["ceo"] for c in companies})
    return Task(id=task_id, kind="deep_research", question=question, rubrics=rubrics,
                meta={"template": "compare", "sector": sector, "subgraph": subgraph, "world_seed": world.seed,
                      "gold_report": report(False), "low_trust_report": report(True)})


def _timeline_task(world: World, facts: FactIndex, rng: random.Random, task_id: str) -> Task | None:
    candidates = [e for e in world.by_kind("organisation")
                  if not e.twin_of and len(e.attributes["revenue_musd"]) >= 3]
    if not candidates:
        return None
    company = rng.choice(candidates)
    employees, revenue = ATTRIBUTES["organisation"][0], ATTRIBUTES["organisation"][1]
    hq = world.target(company, "headquarters")
    made = sorted((e for e in world.by_kind("product") if e.relations.get("maker") == company.id and not e.twin_of),
                  key=lambda e: e.id)
    products = made[:4]
    rubrics: list[Rubric] = []
    history_facts = []
    for attribute in (revenue, employees):
        history = company.attributes[attribute.key]
        for index in range(len(history)):
            weight = 4 if index == len(history) - 1 else 2
            fact = _attribute_fact(world, facts, company, attribute, weight, history_index=index - len(history))
            history_facts.append(fact)
            rubrics += _fact_rubrics(fact, f"h-{attribute.key}-{index}", with_year=True)
    context_facts = [_relation_fact(world, facts, company, "headquarters", 2),
                     _relation_fact(world, facts, company, "ceo", 2),
                     _attribute_fact(world, facts, hq, ATTRIBUTES["place"][0], 1)]
    for number, fact in enumerate(context_facts):
        relation = {0: ("headquarters", "place"), 1: ("ceo", "person")}.get(number)
        decoys = _decoys(world, f"{task_id}-ctx-{number}", relation[1], _holders([company], relation[0])) \
            if relation else []
        rubrics += _fact_rubrics(fact, f"ctx-{number}", decoys=decoys)
    latest_revenue = next(f for f in history_facts if f.key == "attr:revenue_musd" and f.weight == 4)
    oldest_revenue = next(f for f in history_facts if f.key == "attr:revenue_musd")
    for rubric in (_citation_rubric(latest_revenue, "cite-latest", 2), _citation_rubric(oldest_revenue, "cite-oldest", 1)):
        if rubric is not None:
            rubrics.append(rubric)
    grew = float(latest_revenue.value.replace(",", "")) > float(oldest_revenue.value.replace(",", ""))
    up_terms = ["grew", "increased", "rose", "growth"]
    down_terms = ["fell", "declined", "decreased", "decline"]
    rubrics.append(Rubric(id="trend", weight=3, axis="analysis",
                          criterion=f"Says that the annual revenue of {company.name} {'grew' if grew else 'declined'} "
                                    f"between {oldest_revenue.year} and {latest_revenue.year}",
                          check=MentionCheck(entity=company.names, terms=up_terms if grew else down_terms,
                                             contrary_terms=down_terms if grew else up_terms,
                                             topic_terms=_SYNONYMS["revenue"] + ["revenue"])))
    if products:
        rubrics.append(Rubric(id="products", weight=2, axis="coverage",
                              criterion=f"Names the products {company.name} makes: {', '.join(p.name for p in products)}",
                              check=CoverageCheck(entities=[p.names for p in products],
                                                  decoys=_decoys(world, f"{task_id}-products", "product",
                                                                 {p.id for p in made}))))
    rubrics += [
        Rubric(id="structure", criterion="Is organised in sections and includes a table of the yearly figures",
               weight=2, axis="presentation", check=StructureCheck(min_sections=3, needs_table=True)),
        Rubric(id="length", criterion="Is between 120 and 2,500 words long", weight=1, axis="presentation",
               check=StructureCheck(min_words=120, max_words=2500)),
    ]
    question = (f"Write a short research report on how {company.name} has developed over the years it has "
                "reported: its annual revenue and workforce in each reported year, whether revenue grew or "
                "declined, where it is headquartered (with that city's latest population), who leads it and "
                "which products it makes. Use authoritative sources, cite them as \\cite{url}, and include a table "
                "of the yearly figures.")

    def report(low_trust: bool) -> str:
        parts = [f"# {company.name}: a timeline", "## Company profile",
                 " ".join(_sentence(f, low_trust=low_trust) for f in context_facts)
                 + (f" Its products include {', '.join(p.name for p in products)}." if products else "")]
        parts.append("## Revenue and workforce")
        parts.append(" ".join(_sentence(f, low_trust=low_trust, with_year=True) for f in history_facts))
        if not low_trust:
            rebuttals = [_rebuttal(f) for f in history_facts + context_facts if f.conflict is not None]
            if rebuttals:
                parts.append(" ".join(rebuttals))
        rows = ["| Year | Metric | Value |", "| --- | --- | --- |"]
        for fact in history_facts:
            value = fact.conflict.value if low_trust and fact.conflict is not None else fact.value
            rows.append(f"| {fact.year} | {fact.label} of {company.name} | {value} |")
        parts += ["## Yearly figures", "\n".join(rows), "## Assessment"]
        latest = latest_revenue.conflict.value if low_trust and latest_revenue.conflict else latest_revenue.value
        up = float(latest.replace(",", "")) > float(oldest_revenue.value.replace(",", ""))
        parts.append(f"Overall, the annual revenue of {company.name} {'grew' if up else 'declined'} between "
                     f"{oldest_revenue.year} and {latest_revenue.year}.")
        return "\n\n".join(parts) + "\n"

    subgraph = sorted({company.id, hq.id, company.relations["ceo"], *(p.id for p in products),
                       *(world.target(p, "key_compound").id for p in products)})
    return Task(id=task_id, kind="deep_research", question=question, rubrics=rubrics,
                meta={"template": "timeline", "subgraph": subgraph, "world_seed": world.seed,
                      "gold_report": report(False), "low_trust_report": report(True)})


# -- research requests with intent -------------------------------------------------------------------------

_RECOMMEND_TERMS = ["recommend", "recommended", "recommendation"]
_RULED_OUT_TERMS = ["ruled out", "rules out", "excluded", "disqualified"]


def _supplier_task(world: World, facts: FactIndex, rng: random.Random, task_id: str,
                   taken: frozenset = frozenset()) -> Task | None:
    """A buyer chooses one of 3-4 products under a stated policy (a minimum workforce of the manufacturer, then the
    lowest latest unit price): the recommendation follows from the facts, and at least one cheaper product is
    ruled out by the policy, so a report that only compares prices recommends the wrong one."""
    price = next(a for a in ATTRIBUTES["product"] if a.key == "unit_price_usd")
    employees = ATTRIBUTES["organisation"][0]
    # a product compared in one request is in no other: its price and maker, learned from a train request, would
    # answer a held-out one
    used = {product for subject in taken for product in subject[3]}
    products = [p for p in world.by_kind("product") if not p.twin_of and p.id not in used]
    buyers = [o for o in world.by_kind("organisation") if not o.twin_of]
    if len(products) < 4 or not buyers:
        return None
    options = rng.sample(products, rng.randint(3, 4))
    makers = [world.target(p, "maker") for p in options]
    if len({m.id for m in makers}) < len(makers):
        return None
    workforces = sorted(m.current("employees")[1] for m in makers)
    cut = rng.randint(1, len(workforces) - 1)
    low, high = workforces[cut - 1], workforces[cut]
    if high < 1.1 * low:
        return None
    threshold = int(nice((low + high) / 2, up=True))
    if not low < threshold <= high:
        return None
    allowed = [p for p, m in zip(options, makers) if m.current("employees")[1] >= threshold]
    excluded = [p for p in options if p not in allowed]
    by_price = sorted(allowed, key=lambda p: p.current("unit_price_usd")[1])
    winner = by_price[0]
    cheapest = min(options, key=lambda p: p.current("unit_price_usd")[1])
    if cheapest in allowed or (len(by_price) > 1 and by_price[1].current("unit_price_usd")[1] <
                               1.05 * winner.current("unit_price_usd")[1]):
        return None  # the policy must matter, and the winner must be clear of the next by 5 %
    buyer = rng.choice([o for o in buyers if o.id not in {m.id for m in makers}])
    rubrics: list[Rubric] = []
    sections = []
    for number, (product, maker) in enumerate(zip(options, makers)):
        product_facts = [_attribute_fact(world, facts, product, price, 3),
                         _relation_fact(world, facts, product, "maker", 2),
                         _attribute_fact(world, facts, maker, employees, 2)]
        # the maker is one of the candidates' makers: naming the others for this product (a list of every company
        # near every product) commits to none; each is said of the product mentioned nearest to it
        other_makers = [m.names for m in makers if m.id != maker.id]
        other_products = [p.names for p in options if p.id != product.id]
        for fact_number, fact in enumerate(product_facts):
            decoys = _decoys(world, f"{task_id}-p{number}-f1", "organisation",
                             {m.id for m in makers} | {buyer.id}) if fact_number == 1 else []
            rubrics += _fact_rubrics(fact, f"p{number}-f{fact_number}", decoys=decoys,
                                     rivals=other_makers if fact_number == 1 else (),
                                     peers=other_products if fact_number == 1 else ())
        citation = _citation_rubric(product_facts[0], f"p{number}-cite", 1)
        if citation is not None:
            rubrics.append(citation)
        sections.append((product, product_facts))
    names = ", ".join(p.name for p in options[:-1]) + f" and {options[-1].name}"
    rivals = [p.names for p in options if p.id != winner.id]
    # the choice follows from every price and every manufacturer's workforce: guessed without them, it earns nothing
    inputs = [f"p{number}-f{fact}" for number in range(len(options)) for fact in (0, 2)]
    rubrics.append(Rubric(id="recommendation", weight=5, axis="analysis",
                          criterion=f"Recommends {winner.name}: the cheapest product whose manufacturer meets the "
                                    f"workforce policy ({threshold:,} employees)",
                          check=MentionCheck(entity=winner.names, terms=_RECOMMEND_TERMS, rivals=rivals),
                          requires=inputs))
    for number, product in enumerate(excluded):
        rubrics.append(Rubric(id=f"ruled-out-{number}", weight=2, axis="analysis",
                              criterion=f"Says that the policy rules out {product.name} (its manufacturer has fewer "
                                        f"than {threshold:,} employees)",
                              check=MentionCheck(entity=product.names, terms=_RULED_OUT_TERMS,
                                                 rivals=[p.names for p in allowed]),
                              requires=[f"p{options.index(product)}-f2"]))
    padding = sorted({e.id for e in world.entities.values() if not e.twin_of and e.kind in ("product", "event")
                      and e.relations.get("maker", e.relations.get("organiser")) in {m.id for m in makers}}
                     - {p.id for p in options})
    if padding:
        rubrics.append(Rubric(id="padding", weight=-2, axis="faults",
                              criterion="Pads the report with the manufacturers' other products and events, which do "
                                        "not bear on the choice",
                              check=CoverageCheck(entities=[world.entities[i].names for i in padding],
                                                  min_fraction=0.5)))
    rubrics += [
        Rubric(id="structure", criterion="Is organised in sections and includes a comparison table", weight=2,
               axis="presentation", check=StructureCheck(min_sections=3, needs_table=True)),
        Rubric(id="length", criterion="Is between 120 and 1,500 words long: a decision memo, not a dossier", weight=1,
               axis="presentation", check=StructureCheck(min_words=120, max_words=1500)),
    ]
    question = (f"I am the procurement lead at {buyer.name} and must choose a supplier: one of the products {names}. "
                f"Our policy: we only buy from manufacturers with a workforce of at least {threshold:,} employees, and "
                "among the products that qualify we choose the lowest latest unit price. Write a short decision memo "
                "(a research report): for each product its latest unit price, its manufacturer and that manufacturer's "
                "latest workforce; which products the policy rules out; and which product you recommend. Use "
                "authoritative sources, cite them as \\cite{url}, and include a comparison table.")

    def report(low_trust: bool) -> str:
        parts = [f"# Supplier choice for {buyer.name}", "## Request",
                 f"The memo weighs {len(options)} candidate products against the purchasing policy of {buyer.name}: a "
                 f"manufacturer workforce of {threshold:,} employees or more, then the lowest latest unit price."]
        rows = ["| Product | Unit price (USD) | Manufacturer | Manufacturer workforce (employees) |",
                "| --- | --- | --- | --- |"]
        for product, product_facts in sections:
            sentences = [_sentence(f, low_trust=low_trust) for f in product_facts]
            if not low_trust:
                sentences += [_rebuttal(f) for f in product_facts if f.conflict is not None]
            parts += [f"## {product.name}", " ".join(sentences)]
            values = [(f.conflict.value if low_trust and f.conflict is not None else f.value) for f in product_facts]
            rows.append(f"| {product.name} | {values[0]} | {values[1]} | {values[2]} |")
        parts += ["## Comparison", "\n".join(rows), "## Recommendation"]
        for product in excluded:
            parts.append(f"{product.name} is ruled out by the policy: its manufacturer has fewer than {threshold:,} "
                         "employees.")
        parts.append(f"We recommend {winner.name}, the lowest-priced product among those that qualify.")
        return "\n\n".join(parts) + "\n"

    subgraph = sorted({buyer.id, *(p.id for p in options), *(m.id for m in makers)})
    return Task(id=task_id, kind="deep_research", question=question, rubrics=rubrics,
                meta={"family": "intent", "template": "supplier", "subgraph": subgraph, "world_seed": world.seed,
                      "threshold": threshold, "recommended": winner.id, "ruled_out": [p.id for p in excluded],
                      "products": [p.id for p in options],
                      "gold_report": report(False), "low_trust_report": report(True)})


_UP_TERMS = ["grew", "increased", "rose", "growth"]
_DOWN_TERMS = ["fell", "declined", "decreased", "decline"]
_WORKFORCE_TOPIC = ["workforce", *_SYNONYMS["workforce"]]
_REVENUE_TOPIC = ["revenue", *_SYNONYMS["revenue"]]
RISK_LEVELS = ("low", "moderate", "high")
"""The verdicts of a risk assessment, by how many of the company's two figures fell."""


def _padding_rubric(world: World, companies: set[str], keep: set[str]) -> Rubric | None:
    """A fault for naming the companies' other products and events, which do not bear on the request."""
    padding = sorted({e.id for e in world.entities.values() if not e.twin_of and e.kind in ("product", "event")
                      and e.relations.get("maker", e.relations.get("organiser")) in companies} - keep)
    if not padding:
        return None
    return Rubric(id="padding", weight=-2, axis="faults",
                  criterion="Pads the report with the companies' products and events, which do not bear on the request",
                  check=CoverageCheck(entities=[world.entities[i].names for i in padding], min_fraction=0.5))


def _memo_rubrics(kind: str) -> list[Rubric]:
    return [Rubric(id="structure", criterion=f"Is organised in sections and includes a table of the {kind}", weight=2,
                   axis="presentation", check=StructureCheck(min_sections=3, needs_table=True)),
            Rubric(id="length", criterion="Is between 120 and 1,500 words long: a memo, not a dossier", weight=1,
                   axis="presentation", check=StructureCheck(min_words=120, max_words=1500))]


def _trend_rubric(rubric_id: str, company: Entity, label: str, first: _Fact, last: _Fact, weight: int,
                  requires: Sequence[str] = ()) -> Rubric:
    fell = float(last.value.replace(",", "")) < float(first.value.replace(",", ""))
    topic = _REVENUE_TOPIC if label == "annual revenue" else _WORKFORCE_TOPIC
    return Rubric(id=rubric_id, weight=weight, axis="analysis",
                  criterion=f"Says that the {label} of {company.name} {'fell' if fell else 'rose'} between {first.year} "
                            f"and {last.year}",
                  check=MentionCheck(entity=company.names, terms=_DOWN_TERMS if fell else _UP_TERMS,
                                     contrary_terms=_UP_TERMS if fell else _DOWN_TERMS, topic_terms=topic),
                  requires=list(requires))


def _figures_table(facts: list[_Fact], company: Entity, *, low_trust: bool) -> str:
    rows = ["| Year | Metric | Value |", "| --- | --- | --- |"]
    for fact in facts:
        value = fact.conflict.value if low_trust and fact.conflict is not None else fact.value
        rows.append(f"| {fact.year} | {fact.label} of {company.name} ({fact.unit}) | {value} |")
    return "\n".join(rows)


def _stated(fact: _Fact, low_trust: bool) -> float:
    return float((fact.conflict.value if low_trust and fact.conflict is not None else fact.value).replace(",", ""))


def _risk_task(world: World, facts: FactIndex, rng: random.Random, task_id: str,
               taken: frozenset = frozenset()) -> Task | None:
    """A lender assesses a company under a stated rule (high risk when both its annual revenue and its workforce fell
    between their two latest reported figures, moderate when one did, low when neither): the verdict follows from
    four facts, each stated on a tier-1 page, the latest ones maybe contradicted on low-trust pages."""
    revenue, employees = ATTRIBUTES["organisation"][1], ATTRIBUTES["organisation"][0]
    wanted = rng.choice(RISK_LEVELS)
    companies = []
    for company in world.by_kind("organisation"):
        if company.twin_of or ("risk", company.id, (), ()) in taken:
            continue
        falls = sum(company.attributes[a.key][-1][1] < company.attributes[a.key][-2][1] for a in (revenue, employees))
        if RISK_LEVELS[falls] == wanted:
            companies.append(company)
    if not companies:
        return None
    company = rng.choice(sorted(companies, key=lambda e: e.id))
    lenders = [o for o in world.by_kind("organisation") if not o.twin_of and o.id != company.id]
    figures = [_attribute_fact(world, facts, company, attribute, weight, history_index=index)
               for attribute in (revenue, employees) for index, weight in ((-2, 2), (-1, 3))]
    if not lenders or not all(f.urls for f in figures):
        return None  # every figure the verdict rests on is stated in a tier-1 page's text
    lender = rng.choice(lenders)
    rubrics: list[Rubric] = []
    for number, fact in enumerate(figures):
        rubrics += _fact_rubrics(fact, f"f{number}", with_year=True)
    for number in (1, 3):
        citation = _citation_rubric(figures[number], f"cite-{number}", 1)
        if citation is not None:
            rubrics.append(citation)
    rubrics += [_trend_rubric("trend-revenue", company, revenue.label, figures[0], figures[1], 2, ["f0", "f1"]),
                _trend_rubric("trend-workforce", company, employees.label, figures[2], figures[3], 2, ["f2", "f3"])]
    others = [level for level in RISK_LEVELS if level != wanted]
    rubrics.append(Rubric(id="verdict", weight=5, axis="analysis",
                          criterion=f"Rates lending to {company.name} a {wanted} risk, as the rule gives for these "
                                    "figures",
                          check=MentionCheck(entity=company.names, terms=[f"{wanted} risk"],
                                             contrary_terms=[f"{level} risk" for level in others]),
                          requires=["f0", "f1", "f2", "f3"]))
    if (padding := _padding_rubric(world, {company.id}, set())) is not None:
        rubrics.append(padding)
    rubrics += _memo_rubrics("figures")
    question = (f"I am a credit analyst at {lender.name}, assessing the risk of lending to {company.name}. Our rule: "
                "the risk is high if both its annual revenue and its workforce fell between their two latest reported "
                "figures, moderate if exactly one of them fell, and low if neither fell. Write a short risk assessment "
                "(a research report): the two latest reported figures of its annual revenue and of its workforce, "
                "with their years; whether each rose or fell; and the risk level the rule gives. Use authoritative "
                "sources, cite them as \\cite{url}, and include a table of the figures.")

    def report(low_trust: bool) -> str:
        parts = [f"# Credit risk of {company.name}", "## Request",
                 f"{lender.name} weighs a loan to {company.name} under its rule on the latest movement of the "
                 "company's annual revenue and workforce.", "## Figures",
                 " ".join(_sentence(f, low_trust=low_trust, with_year=True) for f in figures)]
        if not low_trust:
            parts += [_rebuttal(f) for f in figures if f.conflict is not None]
        parts += [_figures_table(figures, company, low_trust=low_trust), "## Trends"]
        falls = 0
        for first, last in ((figures[0], figures[1]), (figures[2], figures[3])):
            fell = _stated(last, low_trust) < _stated(first, low_trust)
            falls += fell
            parts.append(f"Between {first.year} and {last.year}, the {first.label} of {company.name} "
                         f"{'declined' if fell else 'grew'}.")
        parts += ["## Verdict", f"Under the stated rule, {company.name} is a {RISK_LEVELS[falls]} risk."]
        return "\n\n".join(parts) + "\n"

    subgraph = sorted({lender.id, company.id})
    return Task(id=task_id, kind="deep_research", question=question, rubrics=rubrics,
                meta={"family": "intent", "template": "risk", "subgraph": subgraph, "world_seed": world.seed,
                      "company": company.id, "verdict": wanted, "gold_report": report(False),
                      "low_trust_report": report(True)})


_EXPLANATION_TERMS = ["turning point", "explains", "explained by", "explanation", "because", "due to", "driven by",
                      "accounts for", "reason"]
"""Words that give a change as the cause: the archive's record of the change ("X took over in 2019") has none, so a
report that pastes the history states the change but explains nothing."""


def _change_task(world: World, facts: FactIndex, rng: random.Random, task_id: str,
                 taken: frozenset = frozenset()) -> Task | None:
    """An analyst asks why a company's workforce rose or fell between two consecutive reported years; the answer is
    the one relation change of the company in between (a new chief executive, a headquarters move), named with its
    year, beside the figures at both years."""
    employees = ATTRIBUTES["organisation"][0]
    options = []
    for company in sorted(world.by_kind("organisation"), key=lambda e: e.id):
        if company.twin_of or not company.relation_history:
            continue
        history = company.attributes[employees.key]
        changes = [(start, key, holder) for key, holders in company.relation_history.items()
                   for start, holder in holders if start]
        for index in range(len(history) - 1):
            (y1, _), (y2, _) = history[index], history[index + 1]
            between = [change for change in changes if y1 < change[0] <= y2]
            if len(between) == 1 and ("change", company.id, (y1, y2), ()) not in taken:
                options.append((company, index, between[0]))
    if not options:
        return None
    company, index, (change_year, key, holder_id) = rng.choice(options)
    holder = world.entities[holder_id]
    analysts = [o for o in world.by_kind("organisation") if not o.twin_of and o.id != company.id]
    figures = [_attribute_fact(world, facts, company, employees, 3, history_index=i - len(company.attributes[employees.key]))
               for i in (index, index + 1)]
    change_urls = facts.urls(company.id, f"rel:{key}", value=holder_id)
    if not analysts or not all(f.urls for f in figures) or not change_urls:
        return None
    analyst = rng.choice(analysts)
    fell = _stated(figures[1], False) < _stated(figures[0], False)
    rubrics: list[Rubric] = []
    for number, fact in enumerate(figures):
        rubrics += _fact_rubrics(fact, f"f{number}", with_year=True)
        citation = _citation_rubric(fact, f"cite-{number}", 1)
        if citation is not None:
            rubrics.append(citation)
    rubrics.append(_trend_rubric("trend", company, employees.label, figures[0], figures[1], 1, ["f0", "f1"]))
    what = (f"{holder.name} became its chief executive" if key == "ceo"
            else f"it moved its headquarters to {holder.name}")
    rivals = [world.entities[o].names for _, o in company.relation_history[key] if o != holder_id]
    # the holders before the change: a report that names every city (or person) for the change names them too
    earlier = [world.entities[o].names for start, o in company.relation_history[key]
               if o != holder_id and (not start or start < change_year)]
    rubrics.append(Rubric(id="change", weight=4, axis="analysis",
                          criterion=f"Names the change in between with its year: in {change_year}, {what}",
                          check=FactCheck(entity=company.names, value=holder.name, numeric=False,
                                          value_aliases=holder.aliases, context=[str(change_year)],
                                          rivals=earlier,
                                          decoys=_decoys(world, f"{task_id}-change",
                                                         "person" if key == "ceo" else "place",
                                                         _holders([company], key)))))
    rubrics.append(Rubric(id="explanation", weight=3, axis="analysis",
                          criterion=f"Explains the change by {holder.name}'s arrival, not by another "
                                    f"{'chief executive' if key == 'ceo' else 'city'}",
                          check=MentionCheck(entity=holder.names, terms=_EXPLANATION_TERMS, rivals=rivals),
                          requires=["change"]))
    rubrics.append(Rubric(id="cite-change", weight=1, axis="citations",
                          criterion=f"Cites an authoritative page that records the change at {company.name}",
                          check=CitationCheck(entity=company.names, value=holder.name, numeric=False,
                                              urls=change_urls)))
    if (padding := _padding_rubric(world, {company.id}, set())) is not None:
        rubrics.append(padding)
    rubrics += _memo_rubrics("figures")
    y1, y2 = figures[0].year, figures[1].year
    question = (f"I am an analyst at {analyst.name} following {company.name}. Why did its workforce "
                f"{'fall' if fell else 'rise'} between {y1} and {y2}? Write a short research note (a report): its "
                f"workforce in {y1} and in {y2}; whether it rose or fell; and the change at the company in between "
                "that explains it (a new chief executive or a headquarters move: who or where, and in which year). "
                "Use authoritative sources, cite them as \\cite{url}, and include a table of the figures.")

    def report(low_trust: bool) -> str:
        parts = [f"# The workforce of {company.name}, {y1} to {y2}", "## Request",
                 f"{analyst.name} asked what lies behind the movement in the workforce of {company.name} from {y1} "
                 f"to {y2}. This note sets out the headcount {company.name} reported in each of those years, the "
                 "direction of the movement, and the one change in the company's leadership or location that falls "
                 "between them, each from the company's official filings.", "## Figures",
                 " ".join(_sentence(f, low_trust=low_trust, with_year=True) for f in figures)]
        if not low_trust:
            parts += [_rebuttal(f) for f in figures if f.conflict is not None]
        down = _stated(figures[1], low_trust) < _stated(figures[0], low_trust)
        parts += [_figures_table(figures, company, low_trust=low_trust), "## Trend",
                  f"Between {y1} and {y2}, the workforce of {company.name} {'declined' if down else 'grew'}.",
                  "## Explanation"]
        cite = f" \\cite{{{change_urls[0]}}}"
        if key == "ceo":
            parts.append(f"The turning point came in {change_year}, when {holder.name} was appointed to lead "
                         f"{company.name} as its new chief executive{cite}.")
        else:
            parts.append(f"The turning point came in {change_year}, when {company.name} relocated its head office to "
                         f"{holder.name}{cite}.")
        return "\n\n".join(parts) + "\n"

    subgraph = sorted({analyst.id, company.id, holder_id})
    return Task(id=task_id, kind="deep_research", question=question, rubrics=rubrics,
                meta={"family": "intent", "template": "change", "subgraph": subgraph, "world_seed": world.seed,
                      "company": company.id, "years": [y1, y2], "change": {"relation": key, "year": change_year,
                                                                          "holder": holder_id},
                      "gold_report": report(False), "low_trust_report": report(True)})


INTENT_TEMPLATES = ("supplier", "risk", "change")
"""The goals of research requests with intent, taken in turn: choose a supplier, assess a risk, explain a change."""
_INTENT_BUILDERS = {"supplier": _supplier_task, "risk": _risk_task, "change": _change_task}


def _intent_subject(template: str, task: Task) -> tuple:
    """What a request is about, without who asks: (template, company, years, products)."""
    return (template, task.meta.get("company"), tuple(task.meta.get("years", ())),
            tuple(sorted(task.meta.get("products", ()))))


def intent_tasks(world: World, facts: FactIndex, count: int, *, seed: int, prefix: str = "") -> list[Task]:
    """Research requests with a persona and a goal (`INTENT_TEMPLATES`, in turn) whose recommendation, verdict or
    explanation follows from the facts."""
    rng = random.Random(f"drgym-intent-{world.seed}-{seed}")
    tasks: list[Task] = []
    seen: set[str] = set()
    subjects: set[tuple] = set()
    for attempt in range(count * 50):
        if len(tasks) >= count:
            break
        # the template whose turn it is; one that cannot be built in this world gives way to the next
        template = INTENT_TEMPLATES[(len(tasks) + attempt // 20) % len(INTENT_TEMPLATES)]
        task = _INTENT_BUILDERS[template](world, facts, rng, f"{prefix}intent-{len(tasks):04d}",
                                          frozenset(subjects))
        if task is None or task.question in seen:
            continue
        # the request without its persona: two requests on one subject differ only in who asks (and the split
        # would put one in train and its twin in held-out)
        subject = _intent_subject(template, task)
        if subject in subjects:
            continue
        seen.add(task.question)
        subjects.add(subject)
        tasks.append(task)
    return tasks
