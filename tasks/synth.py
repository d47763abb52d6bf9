"""Task synthesis from a world's graph and the statements its pages make.

* deep_search: a path of functional relations from a named entity, 2–6 hops, ending at an attribute's current
  value or an entity's name: unique answer, with aliases. Every hop is stated on at least one tier-1 page.
* deep_research: a report request over a subgraph (companies of one sector compared; one company's
  trajectory), with 10–40 rubrics whose checks the deterministic judge evaluates, and a gold report written
  from the graph (plus the same report built from low-trust values, for tests and contrastive data).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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

__all__ = ["FAMILY_NAMES", "FactIndex", "TASKS_VERSION", "synthesise_tasks"]

TASKS_VERSION = 7
"""Bump when task synthesis (questions, rubrics, gold reports) changes, so cached worlds get new tasks.
6: superseded values, attribute names (label terms), unit scales, rivals, contrary and topic terms in the checks;
gold reports in their own words. 7: task families (puzzle, compute, aggregate, temporal, intent), more sentence
frames for paraphrased statements, relation histories and register indexes."""

FAMILY_NAMES = ("chain", "report", "puzzle", "compute", "aggregate", "temporal", "intent")
"""Task families a suite can mix: chain questions and compare/timeline reports (the classic suites), and the
frontier families."""

_KIND_NOUN = {"organisation": "the company", "person": "the person", "place": "the city", "product": "the product",
              "compound": "the compound", "regulation": "the regulation", "event": "the event"}


class FactIndex:
    """Statements grouped by (entity id, key): which pages state what."""

    def __init__(self, statements: Iterable[Statement]) -> None:
        self.by_fact: dict[tuple[str, str], list[Statement]] = defaultdict(list)
        for statement in statements:
            self.by_fact[(statement.entity_id, statement.key)].append(statement)

    def urls(self, entity_id: str, key: str, *, value: str | None = None, tier: int = 1,
             statuses: tuple[str, ...] = ("current", "fixed", "relation", "history")) -> list[str]:
        return sorted({s.url for s in self.by_fact.get((entity_id, key), ()) if s.tier == tier
                       and s.status in statuses and (value is None or s.value == value)})

    def conflict(self, entity_id: str, key: str) -> Statement | None:
        """The first low-trust statement of a fabricated value for this fact, if the web has one."""
        return next((s for s in self.by_fact.get((entity_id, key), ()) if s.status == "conflict"), None)


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
        else:
            tasks += family_tasks(world, family, count, seed=seed, prefix=prefix, seen_questions=seen)
    return tasks


# -- deep search ------------------------------------------------------------------------------------------

def _deep_search(world: World, facts: FactIndex, rng: random.Random, hops: tuple[int, int],
                 task_id: str) -> Task | None:
    n_hops = rng.randint(*hops)
    starts = [e for e in world.entities.values() if not e.twin_of and RELATIONS_BY_SOURCE[e.kind]]
    start = rng.choice(starts)
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


def _fact_rubrics(fact: _Fact, rubric_id: str, *, with_year: bool = False) -> list[Rubric]:
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
                                          context=[str(fact.year)] if with_year else [])))
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
            rubrics += _fact_rubrics(fact, f"c{number}-f{fact_number}")
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
                                  rivals=[c.names for c in companies if c is not largest],
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
    products = sorted((e for e in world.by_kind("product") if e.relations.get("maker") == company.id and not e.twin_of),
                      key=lambda e: e.id)[:4]
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
        rubrics += _fact_rubrics(fact, f"ctx-{number}")
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
                              check=CoverageCheck(entities=[p.names for p in products])))
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


def _supplier_task(world: World, facts: FactIndex, rng: random.Random, task_id: str) -> Task | None:
    """A buyer chooses one of 3-4 products under a stated policy (a minimum workforce of the manufacturer, then the
    lowest latest unit price): the recommendation follows from the facts, and at least one cheaper product is
    ruled out by the policy, so a report that only compares prices recommends the wrong one."""
    price = next(a for a in ATTRIBUTES["product"] if a.key == "unit_price_usd")
    employees = ATTRIBUTES["organisation"][0]
    products = [p for p in world.by_kind("product") if not p.twin_of]
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
        for fact_number, fact in enumerate(product_facts):
            rubrics += _fact_rubrics(fact, f"p{number}-f{fact_number}")
        citation = _citation_rubric(product_facts[0], f"p{number}-cite", 1)
        if citation is not None:
            rubrics.append(citation)
        sections.append((product, product_facts))
    names = ", ".join(p.name for p in options[:-1]) + f" and {options[-1].name}"
    rivals = [p.names for p in options if p is not winner]
    rubrics.append(Rubric(id="recommendation", weight=5, axis="analysis",
                          criterion=f"Recommends {winner.name}: the cheapest product whose manufacturer meets the "
                                    f"workforce policy ({threshold:,} employees)",
                          check=MentionCheck(entity=winner.names, terms=_RECOMMEND_TERMS, rivals=rivals)))
    for number, product in enumerate(excluded):
        rubrics.append(Rubric(id=f"ruled-out-{number}", weight=2, axis="analysis",
                              criterion=f"Says that the policy rules out {product.name} (its manufacturer has fewer "
                                        f"than {threshold:,} employees)",
                              check=MentionCheck(entity=product.names, terms=_RULED_OUT_TERMS,
                                                 rivals=[p.names for p in allowed])))
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
                      "gold_report": report(False), "low_trust_report": report(True)})


def intent_tasks(world: World, facts: FactIndex, count: int, *, seed: int, prefix: str = "") -> list[Task]:
    """Research requests with a persona and a goal whose recommendation follows from the facts."""
    rng = random.Random(f"drgym-intent-{world.seed}-{seed}")
    tasks: list[Task] = []
    seen: set[str] = set()
    for _attempt in range(count * 50):
        if len(tasks) >= count:
            break
        task = _supplier_task(world, facts, rng, f"{prefix}intent-{len(tasks):04d}")
        if task is not None and task.question not in seen:
            seen.add(task.question)
            tasks.append(task)
    return tasks
