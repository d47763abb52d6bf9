"""Importers read the published formats of BrowseComp-Plus and ResearchRubrics (fixtures in tests/tasks/fixtures,
written in those formats with our own text)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drgym.agents.trajectories import read_trajectories
from drgym.cli import app
from drgym.errors import TaskFileError
from drgym.tasks.importers import import_browsecomp_plus, import_research_rubrics, research_rubrics_weight
from drgym.tasks.schema import TaskSet

FIXTURES = Path(__file__).parent / "fixtures"
BCP = FIXTURES / "browsecomp_plus"
RR = FIXTURES / "researchrubrics" / "processed_data.jsonl"


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_browsecomp_plus_queries_keep_answers_and_evidence_labels():
    tasks, corpus = import_browsecomp_plus(BCP / "queries.jsonl")
    assert [t.id for t in tasks] == ["801", "802", "803"]
    task = tasks["801"]
    assert (task.kind, task.answers) == ("deep_search", ["Maren Tollefsen"])
    assert (task.meta["evidence_docids"], task.meta["gold_docids"]) == (["5101", "5102"], ["5101"])
    # the documents nested in the queries alone make a corpus: every labelled docid has a page
    assert len(corpus) == 6
    assert task.meta["evidence_urls"] == ["local://browsecomp-plus/5101", "local://browsecomp-plus/5102"]


def test_browsecomp_plus_corpus_file_gives_urls_titles_and_dates():
    tasks, corpus = import_browsecomp_plus(BCP / "queries.jsonl", BCP / "corpus.jsonl", name="bcp")
    assert corpus.name == "bcp" and len(corpus) == 7  # six corpus documents and the one only a query holds
    front_matter = corpus.page("https://harbourlights.example.org/keepers/orwell-point")
    assert (front_matter.title, front_matter.published) == ("Orwell Point light and its keepers", "2019-04-02")
    assert front_matter.paragraphs[1].startswith("The light at Orwell Point was first lit in 1871.")
    assert corpus.page("https://archive.example.net/logs/tollefsen").title == "The Tollefsen weather log"
    assert corpus.page("https://forum.example.com/t/lighthouse-trivia").title == "5103"  # no title of its own
    assert corpus.page("local://browsecomp-plus/5999").paragraphs[0].startswith("A stone bridge of five arches")
    assert tasks["803"].meta["gold_urls"] == ["https://rivers.example.edu/masons/brandvold"]


def test_browsecomp_plus_shared_url_and_repeated_docid(tmp_path):
    queries = _write(tmp_path / "q.jsonl", [{"query_id": 7, "query": "Who?", "answer": 1905}])
    docs = _write(tmp_path / "d.jsonl", [{"docid": "a", "text": "One.", "url": "https://x.example/p"},
                                         {"docid": "b", "text": "Two.", "url": "https://x.example/p"}])
    tasks, corpus = import_browsecomp_plus(queries, docs)
    assert tasks["7"].answers == ["1905"]  # numbers as the published files sometimes write them
    assert corpus.page("https://x.example/p#docid-b").paragraphs == ("Two.",)
    twice = _write(tmp_path / "twice.jsonl", [{"docid": "a", "text": "One."}, {"docid": "a", "text": "Again."}])
    with pytest.raises(TaskFileError, match=re.escape("twice.jsonl:2: docid 'a' appears twice")):
        import_browsecomp_plus(queries, twice)


@pytest.mark.parametrize(("row", "message"), [
    ({"query_id": "1", "query": "Who?"}, "q.jsonl:1: field 'answer' is missing"),
    ({"query_id": "1", "query": ["Who?"], "answer": "A"}, "q.jsonl:1: field 'query' is a list, not text"),
    ({"query_id": "1", "query": "Who?", "answer": "A", "gold_docs": "5101"},
     "q.jsonl:1: field 'gold_docs' must be a list"),
    ({"query_id": "1", "query": "Who?", "answer": "A", "evidence_docs": [{"text": "x"}]},
     "q.jsonl:1: field 'evidence_docs.0.docid' is missing"),
    ({"query_id": "1", "query": "Who?", "answer": "A", "evidence_docs": [{"docid": "d", "text": None}]},
     "q.jsonl:1: evidence_docs.0: field 'text' of document 'd' is missing"),
])
def test_browsecomp_plus_malformed_query_names_line_and_field(tmp_path, row, message):
    with pytest.raises(TaskFileError, match=re.escape(message)):
        import_browsecomp_plus(_write(tmp_path / "q.jsonl", [row]))


def test_a_json_array_file_is_refused_with_the_conversion(tmp_path):
    with pytest.raises(TaskFileError, match=re.escape("expected one JSON object per line (JSONL), got a JSON array")):
        import_research_rubrics(_write(tmp_path / "rr.json", [[{"prompt": "P"}]]))


def test_research_rubrics_fixture_maps_fields_and_weights():
    tasks = import_research_rubrics(RR)
    task = tasks["66aa01f0c3b2d1e4f5a6b7c8"]
    assert task.kind == "deep_research" and task.question.startswith("Write a short report on how lighthouse")
    assert [(r.weight, r.axis, r.is_mandatory) for r in task.rubrics] == [
        (5, "Explicit Criteria", True), (3, "Implicit Criteria", False), (3, "References & Citation Quality", False),
        (-4, "Synthesis of Information", True)]
    assert task.meta["domain"] == "History" and task.meta["exploration"] == "Low"
    assert task.meta["source_weights"] == [5.0, 3.0, 2.5, -4.0]  # a non-integer weight: the originals are kept
    other = tasks["66aa01f0c3b2d1e4f5a6b7c9"]
    assert [r.weight for r in other.rubrics] == [4, 4, 1, -1]  # 0.5 stays a (light) requirement, never 0


@pytest.mark.parametrize(("weight", "expected"), [(4.0, 4), (-2.0, -2), (2.5, 3), (-2.5, -3), (0.3, 1), (-0.3, -1),
                                                  (5, 5), (4.49, 4)])
def test_research_rubrics_weight_rounds_half_away_from_zero_never_to_zero(weight, expected):
    assert research_rubrics_weight(weight) == expected


@pytest.mark.parametrize("weight", [0, 0.0, 5.5, -6, math.nan, math.inf, "4", True, None])
def test_research_rubrics_weight_refuses_zero_out_of_scale_and_non_numbers(weight):
    with pytest.raises(ValueError, match="weight must be"):
        research_rubrics_weight(weight)


def test_research_rubrics_compiled_form_and_bad_rubrics(tmp_path):
    compiled = _write(tmp_path / "compiled.jsonl", [{"task_name": "683a", "prompt": "Survey X.", "rubrics": json.dumps(
        [{"title": "Data sources", "weight": 1.0, "category": "Accuracy", "row_index": 1}])}])
    rubric = next(iter(import_research_rubrics(compiled))).rubrics[0]
    assert (rubric.criterion, rubric.weight, rubric.axis) == ("Data sources", 1, "Accuracy")
    for rubrics, message in ((["Mentions Y"], "field 'rubrics.0' must be an object"),
                             ([{"criterion": "Y", "weight": 9}], "field 'rubrics.0.weight': weight must be non-zero"),
                             ([{"weight": 1}], "field 'rubrics.0.criterion' is missing"),
                             ([], "field 'rubrics' must be a non-empty list")):
        bad = _write(tmp_path / "bad.jsonl", [{"prompt": "P", "rubrics": rubrics}])
        with pytest.raises(TaskFileError, match=re.escape(f"bad.jsonl:1: {message}")):
            import_research_rubrics(bad)


def test_imported_browsecomp_plus_task_is_answered_by_the_scripted_researcher(tmp_path):
    """The import names its corpus in the tasks' corpus field, so a rollout needs no --web; every episode on the
    real pages ends with an answer (right or wrong), none fails."""
    runner = CliRunner()
    result = runner.invoke(app, ["tasks", "import", str(BCP / "queries.jsonl"), "--format", "browsecomp-plus",
                                 "--out", str(tmp_path / "tasks" / "bcp.jsonl"), "--documents", str(BCP / "corpus.jsonl"),
                                 "--corpus-out", str(tmp_path / "corpora" / "bcp")])
    assert result.exit_code == 0, result.output
    tasks = TaskSet.load(tmp_path / "tasks" / "bcp.jsonl")
    assert {t.corpus for t in tasks} == {"../corpora/bcp"}
    result = runner.invoke(app, ["rollout", "--env", "drgym/DeepSearch-v1", "--suite", str(tmp_path / "tasks" / "bcp.jsonl"),
                                 "--episodes", "3", "--out", str(tmp_path / "runs.jsonl")])
    assert result.exit_code == 0, result.output
    records = list(read_trajectories(tmp_path / "runs.jsonl"))
    assert len(records) == 3
    assert all(r["status"] == "ok" and r["terminated"] for r in records), [r.get("error") for r in records]
    last_actions = [[m for m in r["messages"] if m["role"] == "assistant"][-1]["content"] for r in records]
    assert all(re.search(r"<answer>.+</answer>", action, re.S) for action in last_actions), last_actions
