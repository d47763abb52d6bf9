"""Throughput of the deterministic rubric judge (target ≥ 20,000 rubric checks/s), its determinism, and its
time against report size (linear; a 1 MB report well under a second on one core).

    python -m drgym.benchmarks.perf_judge

Grades each deep_research task's gold and low-trust reports in `--rounds` rounds (made unique per round, so no
report-level cache helps), `--passes` times over with rounds of their own, and prints rubric checks per CPU second
of the fastest pass (the least disturbed by other work on the machine; the median beside it), with the time per
report, without and with copy detection against the world's index. A round 0 before them is timed apart: a task's first grade also builds what
the judge keeps per task (its vocabulary, the patterns of its names and criteria), once; in training each task is
graded many times. Beside it, in the same process and on the same reports, a plain reference: one
substring test per rubric (is the rubric's value or entity name in the report?), the least a rubric check can
cost; the ratio is the judge's time over the reference's. Then grades adversarial reports of 1 KB to 1 MB
(distinct sentences naming the task's entities next to figures, one endless sentence, nested HTML) and prints
CPU seconds per size and the fitted log-log slope (1.0 = linear). The load average is printed beside.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from drgym.benchmarks.figures import print_figures
from drgym.rewards.answer import match_answer, normalize_answer
from drgym.rewards.judges import DeterministicJudge
from drgym.tasks.procedural import ProceduralWorld, WorldSpec


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=60, help="deep_research tasks to grade")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=3,
                        help="passes of --rounds rounds each, timed apart: the best is the figure (as timeit's)")
    parser.add_argument("--max-bytes", type=int, default=1_000_000, help="largest adversarial report")
    args = parser.parse_args(argv)
    world = ProceduralWorld.build(Path(tempfile.mkdtemp(prefix="drgym-judge-")) / "w",
                                  WorldSpec(seed=77, pages=3000, n_deep_search=1, n_deep_research=args.tasks),
                                  show_progress=False)
    tasks = [t for t in world.tasks if t.kind == "deep_research"]
    judge = DeterministicJudge()
    # a task's first grade also builds what the judge keeps per task (its vocabulary, the patterns of its names and
    # criteria): timed apart, as round 0; training grades each task many times, as the later rounds do
    first_round = [(task, f"{report}\n\nRound 0.") for task in tasks
             for report in (task.meta["gold_report"], task.meta["low_trust_report"])]
    started = time.process_time()
    for task, report in first_round:
        judge.grade(task.rubrics, report)
    first_elapsed = time.process_time() - started
    first_checks = sum(len(task.rubrics) for task, _ in first_round)
    # each pass grades reports of its own rounds: no report is graded twice
    passes = [[(task, f"{report}\n\nRound {round_number}.")
               for round_number in range(1 + n * args.rounds, 1 + (n + 1) * args.rounds)
               for task in tasks for report in (task.meta["gold_report"], task.meta["low_trust_report"])]
              for n in range(args.passes)]
    graded = passes[0]
    checks, reports = sum(len(task.rubrics) for task, _ in graded), len(graded)
    times = []
    for reports_of_pass in passes:
        started = time.process_time()
        for task, report in reports_of_pass:
            judge.grade(task.rubrics, report)
        times.append(time.process_time() - started)
    elapsed, median = min(times), statistics.median(times)
    needles = {task.id: [_needle(rubric) for rubric in task.rubrics] for task in tasks}
    started = time.process_time()
    for _ in range(_REFERENCE_REPEATS):
        for task, report in graded:
            for needle in needles[task.id]:
                _ = needle in report
    reference = (time.process_time() - started) / _REFERENCE_REPEATS
    started = time.process_time()
    for task in tasks:
        judge.grade(task.rubrics, task.meta["gold_report"] + "\n\nWith copy detection.", sources=world.index)
    with_copy = (time.process_time() - started) / len(tasks)
    first = judge.grade(tasks[0].rubrics, tasks[0].meta["gold_report"])
    again = judge.grade(tasks[0].rubrics, tasks[0].meta["gold_report"])
    rows = [("rubric checks", f"{checks:,} over {reports:,} reports ({args.rounds} rounds)",
             f"{checks / reports:.1f} rubrics each"),
            ("throughput", f"{checks / elapsed:,.0f} rubric checks/s (CPU)",
             f"target ≥ 20,000; best of {len(times)} passes (median {checks / median:,.0f})"),
            ("round 0: each task's first grade", f"{first_checks / first_elapsed:,.0f} rubric checks/s (CPU)",
             f"{(first_elapsed / len(first_round) - elapsed / reports) * 2000:.2f} ms more per task, once"),
            ("plain reference", f"{checks / reference:,.0f} substring tests/s",
             f"judge / reference: {elapsed / reference:.0f}×"),
            ("per report", f"{elapsed / reports * 1000:.2f} ms CPU", ""),
            ("per report with copy detection (index)", f"{with_copy * 1000:.2f} ms CPU", "one search per sentence"),
            ("identical input, identical grade", str(first == again), "")]
    questions = ProceduralWorld.build(Path(tempfile.mkdtemp(prefix="drgym-answers-")) / "w",
                                      WorldSpec(seed=78, pages=600, n_deep_search=60, n_deep_research=1),
                                      index=False, show_progress=False)
    rows += _answer_rows([t for t in questions.tasks if t.kind == "deep_search"])
    rows += _size_rows(judge, tasks[0], world.index, args.max_bytes)
    rows.append(("load (1 min)", f"{os.getloadavg()[0]:.1f}", "on this machine while measuring"))
    return print_figures(rows, title="deterministic judge", width=150)


_REFERENCE_REPEATS = 20


def _needle(rubric) -> str:
    """What a plain check of the rubric would look for: its value, else its entity's name."""
    check = rubric.check
    if check is None:
        return rubric.criterion
    if getattr(check, "value", None):
        return check.value
    names = getattr(check, "entity", None) or (check.entities[0] if getattr(check, "entities", None) else None)
    return names[0] if names else "#"


def _answer_rows(tasks) -> list[tuple[str, str, str]]:
    """Answer matching against a SQuAD exact match (normalised answer equals a normalised accepted one) on the
    same answers: the gold answer as given, in a sentence, shouted, hedged, and next to a second candidate."""
    answers = [(answer, task.answers, task.question) for task in tasks for answer in
               (task.answers[0], f"The answer is {task.answers[0]}.", task.answers[0].upper(),
                f"maybe {task.answers[0]}", f"{task.answers[0]} or {task.answers[-1]} (2021)")]
    started = time.process_time()
    for answer, accepted, question in answers:
        match_answer(answer, accepted, question=question)
    matching = time.process_time() - started
    started = time.process_time()
    for answer, accepted, _ in answers:
        normalized = normalize_answer(answer)
        _ = any(normalized == normalize_answer(gold) for gold in accepted)
    exact = time.process_time() - started
    return [("answer matching", f"{len(answers) / matching:,.0f} answers/s (CPU)",
             f"{matching / exact:.1f}× a SQuAD exact match ({len(answers) / exact:,.0f}/s)")]


def _adversarial(task, kind: str, size: int) -> str:
    entity = next(r.check.entity[0] for r in task.rubrics if r.check is not None and hasattr(r.check, "entity"))
    if kind == "figures":
        text, number = [], 0
        while sum(map(len, text)) < size:
            text.append(f"{entity} reported {number:,} employees and revenue of {number % 997}.{number % 10}. ")
            number += 1
        return "".join(text)[:size]
    if kind == "one sentence":
        return (f"{entity} " + "and revenue 12.3 " * size)[:size]
    return ("<div><span>" + entity + " 12.3 ") * (size // 20)


def _size_rows(judge, task, index, max_bytes: int) -> list[tuple[str, str, str]]:
    sizes = [s for s in (1_000, 10_000, 100_000, 1_000_000) if s <= max_bytes]
    rows = []
    for kind in ("figures", "one sentence", "nested html"):
        seconds = []
        for size in sizes:
            report = _adversarial(task, kind, size)
            started = time.process_time()
            judge.grade(task.rubrics, report, sources=index)
            seconds.append(max(time.process_time() - started, 1e-6))
        slope = (math.log(seconds[-1]) - math.log(seconds[1])) / (math.log(sizes[-1]) - math.log(sizes[1])) \
            if len(sizes) > 2 else float("nan")
        figures = ", ".join(f"{size // 1000} KB {t:.3f} s" for size, t in zip(sizes, seconds))
        rows.append((f"judge time vs size ({kind})", figures, f"log-log slope {slope:.2f} (10 KB → largest)"))
    return rows


if __name__ == "__main__":
    main()
