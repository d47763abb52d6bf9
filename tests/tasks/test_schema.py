from __future__ import annotations

import json
import re

import pytest

from drgym.errors import TaskFileError
from drgym.tasks.importers import import_browsecomp_plus, import_research_rubrics
from drgym.tasks.schema import Task, TaskSet

GOOD = {"id": "t1", "kind": "deep_search", "question": "Q?", "answers": ["A"]}


def _write(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_task_file_round_trips(tmp_path):
    tasks = TaskSet([Task(**GOOD), Task(id="t2", kind="deep_research", question="Write.",
                                        rubrics=[{"id": "r", "criterion": "c", "weight": 3}])])
    loaded = TaskSet.load(tasks.save(tmp_path / "t.jsonl"))
    assert [t.model_dump() for t in loaded] == [t.model_dump() for t in tasks]


@pytest.mark.parametrize(("row", "message"), [
    ({**GOOD, "kind": "quiz"}, "t.jsonl:2: field 'kind'"),
    ({**GOOD, "answers": []}, "t.jsonl:2: field '(line)': Value error, a deep_search task needs"),
    ({**GOOD, "extra": 1}, "t.jsonl:2: field 'extra'"),
    ({"id": "r", "kind": "deep_research", "question": "Q", "rubrics": [{"id": "a", "criterion": "c", "weight": 9}]},
     "t.jsonl:2: field 'rubrics.0.weight'"),
    ({"id": "r", "kind": "deep_research", "question": "Q",
      "rubrics": [{"id": "a", "criterion": "c", "weight": 2, "check": {"type": "fact", "entity": []}}]},
     "t.jsonl:2: field 'rubrics.0.check.fact"),
])
def test_bad_task_line_names_file_line_and_field(tmp_path, row, message):
    path = _write(tmp_path / "t.jsonl", [GOOD | {"id": "ok"}, row])
    with pytest.raises(TaskFileError, match=re.escape(message)):
        TaskSet.load(path)


def test_duplicate_ids_and_unknown_ids_are_reported():
    with pytest.raises(TaskFileError, match="duplicate task id 't1'"):
        TaskSet([Task(**GOOD), Task(**GOOD)])
    with pytest.raises(TaskFileError, match="Did you mean 't1'"):
        TaskSet([Task(**GOOD)])["t11"]


def test_research_rubrics_import(tmp_path):
    path = _write(tmp_path / "rr.jsonl", [{"sample_id": "s1", "prompt": "Survey X.", "rubrics": [
        {"criterion": "Mentions Y", "weight": 4, "axis": "explicit"}, {"criterion": "Rambles", "weight": -2.0}]}])
    task = next(iter(import_research_rubrics(path)))
    assert (task.id, task.kind, task.question) == ("s1", "deep_research", "Survey X.")
    assert [(r.weight, r.axis, r.is_mandatory) for r in task.rubrics] == [(4, "explicit", True), (-2, "general", False)]
    bad = _write(tmp_path / "bad.jsonl", [{"prompt": "P", "rubrics": [{"weight": 1}]}])
    with pytest.raises(TaskFileError, match=re.escape("bad.jsonl:1: field 'rubrics.0.criterion' is missing")):
        import_research_rubrics(bad)


def test_browsecomp_plus_import_builds_tasks_and_corpus(tmp_path):
    queries = _write(tmp_path / "q.jsonl", [{"query_id": "7", "query": "Who?", "answer": "Ann"}])
    docs = _write(tmp_path / "d.jsonl", [{"docid": "d1", "text": "Ann wrote it.\n\nMore.", "url": "https://x.edu/a"},
                                         {"docid": "d2", "text": "Other."}])
    tasks, corpus = import_browsecomp_plus(queries, docs)
    assert tasks["7"].answers == ["Ann"]
    assert corpus.page("https://x.edu/a").paragraphs == ("Ann wrote it.", "More.")
    assert corpus.page("https://x.edu/a").tier == 1
    assert "local://browsecomp-plus/d2" in corpus
    with pytest.raises(TaskFileError, match=re.escape("q2.jsonl:1: field 'answer' is missing")):
        import_browsecomp_plus(_write(tmp_path / "q2.jsonl", [{"query": "Who?"}]))
