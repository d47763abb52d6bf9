"""`FactIndex` keeps each statement as a few numbers and reads its url and value back from its line: it answers as
the statements grouped by fact in a dict (the index before it) answer."""

from __future__ import annotations

import dataclasses
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drgym.errors import ConfigError
from drgym.tasks.procedural import PAGES_PER_ENTITY
from drgym.tasks.render import RenderKnobs, Statement, render_world
from drgym.tasks.synth import _RECORD, _RECORDS_PER_WRITE, FactIndex, StatementWriter, _write_sorted_by_fact
from drgym.tasks.world import World

SEED, PAGES = 14, 600
KNOBS = RenderKnobs(conflict_rate=0.3, outdated_rate=0.25, paraphrase_rate=0.5, directories=True,
                    chart_only_history=True)
TEXT = ("current", "fixed", "relation", "history")


@pytest.fixture(scope="module")
def statements():
    world = World.generate(SEED, n_entities=round(PAGES / PAGES_PER_ENTITY), relation_change_rate=0.4)
    return [statement for _, page in render_world(world, KNOBS, []) for statement in page]


def _by_fact(statements):
    by_fact = defaultdict(list)
    for statement in statements:
        by_fact[(statement.entity_id, statement.key)].append(statement)
    return by_fact


def _chart_only(by_fact):
    found = {}
    for (entity_id, key), group in by_fact.items():
        charted = {s.year for s in group if s.status == "chart"}
        if charted:
            in_text = {s.year for s in group if s.tier <= 2 and s.status in ("current", "history", "fixed")}
            found[(entity_id, key.removeprefix("attr:"))] = charted - in_text
    return found


def _fact_index_of_file(statements, path, entity_numbers=None) -> FactIndex:
    with path.open("wb") as out:
        writer = StatementWriter(out, entity_numbers=entity_numbers)
        for statement in statements:
            writer.write(statement)
    assert len(writer) == len(statements)
    return FactIndex.of_file(writer, path)


def test_fact_index_answers_as_the_statements_grouped_by_fact(statements, tmp_path):
    from_file = _fact_index_of_file(statements, tmp_path / "statements.jsonl")
    # numbered as a world's entities are (`PackedEntities.numbers`), in another order than first stated, with more
    ids = sorted({s.entity_id for s in statements} | {"zzz-00000"}, reverse=True)
    numbered = _fact_index_of_file(statements, tmp_path / "numbered.jsonl", {i: n for n, i in enumerate(ids)})
    by_fact = _by_fact(statements)
    assert {s.status for s in statements} >= {"conflict", "outdated", "chart", "history"}
    for index in (FactIndex(statements), from_file, numbered):
        for (entity_id, key), group in by_fact.items():
            for value in {s.value for s in group} | {None}:
                assert index.urls(entity_id, key, value=value) == sorted(
                    {s.url for s in group if s.tier == 1 and s.status in TEXT and value in (None, s.value)})
            for tier in (2, 3):
                assert index.urls(entity_id, key, tier=tier, statuses=("conflict", "outdated", "current")) == sorted(
                    {s.url for s in group if s.tier == tier and s.status in ("conflict", "outdated", "current")})
            assert index.conflict(entity_id, key) == next((s for s in group if s.status == "conflict"), None)
        assert list(index.chart_only().items()) == list(_chart_only(by_fact).items())
        assert index.urls("pla-99999", "attr:population") == [] and index.conflict("org-00000", "rel:x") is None


def test_statements_about_no_entity_of_the_numbering_are_refused(statements, tmp_path):
    with (tmp_path / "statements.jsonl").open("wb") as out:
        writer = StatementWriter(out, entity_numbers={statements[0].entity_id: 0})
        writer.write(statements[0])
        stranger = next(s for s in statements if s.entity_id != statements[0].entity_id)
        with pytest.raises(ConfigError, match=stranger.entity_id):
            writer.write(stranger)


def test_an_empty_fact_index_knows_nothing():
    facts = FactIndex([])
    assert facts.urls("org-00000", "attr:revenue_musd") == [] and facts.chart_only() == {}
    assert facts.conflict("org-00000", "attr:revenue_musd") is None


def test_statement_records_span_several_writes_and_point_at_their_lines(statements, tmp_path):
    copies = _RECORDS_PER_WRITE // len(statements) + 2
    many = [dataclasses.replace(s, url=f"{s.url}#{copy}") for copy in range(copies) for s in statements]
    with (tmp_path / "statements.jsonl").open("wb") as out:
        writer = StatementWriter(out)
        for statement in many:
            writer.write(statement)
    lines, statuses = (tmp_path / "statements.jsonl").read_bytes(), list(writer.status_numbers)
    records = writer.records()
    assert len(records) == len(writer) == len(many) > _RECORDS_PER_WRITE
    for (fact, start, tier, status, year), statement in zip(records.tolist(), many):
        assert Statement.from_json_line(lines[start:lines.index(b"\n", start)]) == statement
        assert fact == writer.entity_numbers[statement.entity_id] << 32 | writer.key_numbers[statement.key]
        assert (tier, statuses[status], year) == (statement.tier, statement.status, statement.year)
    index = FactIndex.of_file(writer, tmp_path / "statements.jsonl")
    for (entity_id, key), group in _by_fact(many).items():
        assert index.urls(entity_id, key) == sorted({s.url for s in group if s.tier == 1 and s.status in TEXT})


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 400), n_facts=st.integers(1, 40), run=st.integers(1, 64), seed=st.integers(0, 2**32 - 1))
def test_sort_by_fact_in_runs_is_the_stable_sort_of_all_records(n, n_facts, run, seed):
    """The columns `_write_sorted_by_fact` writes in bounded memory are those of one stable sort of every record: runs
    of any size, facts repeated far more than a run holds (ties), none at all."""
    rng = np.random.default_rng(seed)
    records = np.zeros(n, dtype=_RECORD)
    # few facts, some repeated more than a run: the ranges must keep record order within a fact
    records["fact"] = rng.integers(0, n_facts, n) * (1 << 32) + rng.integers(0, 3, n)
    records["start"] = np.arange(n) * 7
    records["tier"] = rng.integers(1, 4, n)
    records["status"] = rng.integers(0, 6, n)
    records["year"] = rng.integers(1990, 2030, n)
    order = np.argsort(records["fact"], kind="stable")
    expected = b"".join(records[name][order].tobytes() for name in _RECORD.names)
    with tempfile.TemporaryFile() as out:
        out.write(b"head")  # written after what the file already holds
        _write_sorted_by_fact(records, out, None, run=run)
        assert out.tell() == 4 + len(expected)
        out.seek(0)
        assert out.read() == b"head" + expected


def _mapped_rss_kib(address: int) -> int:
    """The resident KiB of this process's memory map that starts at `address` (/proc/self/smaps)."""
    lines = iter(open("/proc/self/smaps").read().splitlines())
    for line in lines:
        if line.split("-", 1)[0] == f"{address:x}" and "-" in line.split()[0]:
            for field in lines:
                if field.startswith("Rss:"):
                    return int(field.split()[1])
    raise AssertionError(f"no map at {address:#x}")


@pytest.mark.skipif(not Path("/proc/self/smaps").is_file(), reason="needs Linux's /proc")
def test_sorting_records_from_a_file_map_leaves_none_of_it_resident(tmp_path):
    """Each page of a file map that is read counts in the process's resident memory until the map is closed: the
    sort drops the records' pages once it has sorted them (`_drop_pages`), and its runs' pages after each range.
    The records read the same afterwards (from the page cache)."""
    import mmap

    from drgym.tasks.synth import _drop_pages

    rng = np.random.default_rng(3)
    records = np.zeros(1 << 19, dtype=_RECORD)  # 10 MiB
    records["fact"] = rng.integers(0, 1 << 40, len(records))
    records["start"] = np.arange(len(records))
    with (tmp_path / "records").open("w+b") as file:
        file.write(records.tobytes())
        file.flush()
        mapped = np.frombuffer(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ), dtype=_RECORD)
    address = mapped.ctypes.data
    assert int(mapped["start"].sum()) == int(records["start"].sum())  # every page read
    assert _mapped_rss_kib(address) > 9 * 1024
    with tempfile.TemporaryFile() as out:
        _write_sorted_by_fact(mapped, out, tmp_path, run=1 << 17)
        assert _mapped_rss_kib(address) < 1024
        out.seek(0)
        order = np.argsort(records["fact"], kind="stable")
        assert out.read(8 * len(records)) == records["fact"][order].tobytes()
    assert np.array_equal(mapped, records)
    _drop_pages(records)  # an array in memory: nothing to drop
