"""Renders a `World` as web pages across 22 fictional domains in three authority tiers, and records every
statement a page makes (the ground truth behind citation and conflict rubrics).

Per entity: a tier-1 register entry (relations, current values, a history table), a tier-1 archive record
one link deeper (facts found nowhere else, and the dated history in sentences), a tier-2 encyclopedia article,
often a tier-2 news story or tier-1 press release, and often a tier-3 forum post or listicle that may state a
conflicting (fabricated) or outdated value. Tier-1 statistics tables list many entities' values at once.
"""

from __future__ import annotations

import bisect
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from drgym.tasks.world import (
    ATTRIBUTES,
    RELATION_BY_KEY,
    RELATIONS_BY_SOURCE,
    Attribute,
    Entity,
    World,
    format_value,
)
from drgym.web.corpus import Page, PageImage

__all__ = ["DOMAINS", "HISTORY_FRAMES", "KIND_PLURAL", "RELATION_FRAMES", "RELATION_LABELS", "VALUE_FRAMES", "Chart",
           "ChartSink", "RenderKnobs", "Statement", "authority_tsv", "frame_counts", "render_world"]

# domain -> (tier, what it publishes)
DOMAINS: dict[str, tuple[int, str]] = {
    "registry.commerce-office.gov": (1, "company register"),
    "people.national-archive.gov": (1, "civil register"),
    "census.statbureau.gov": (1, "statistics office"),
    "products.trade-standards.int": (1, "product register"),
    "register.chem-standards.org": (1, "chemical register"),
    "gazette.law-council.gov": (1, "official gazette"),
    "events.culture-ministry.gov": (1, "event register"),
    "press.corporate-wire.org": (1, "official press releases"),
    "journal.applied-chem-review.org": (1, "peer-reviewed journal"),
    "openpedia.org": (2, "encyclopedia"),
    "dailyledger.com": (2, "business news"),
    "metro-herald.com": (2, "city news"),
    "techreview-weekly.com": (2, "product reviews"),
    "sciencebeat.net": (2, "science news"),
    "policywatch.org": (2, "policy analysis"),
    "marketpulse.com": (2, "market news"),
    "askaround-forum.net": (3, "forum"),
    "factsnack.com": (3, "content farm"),
    "buzztrivia.net": (3, "content farm"),
    "chatterbox-board.com": (3, "forum"),
    "quickwiki-mirror.info": (3, "scraper mirror"),
    "randomblogs.net": (3, "blog platform"),
}
_CHARTED = "revenue_musd"
"""The attribute charts show (companies' annual revenue)."""
_REGISTRY = {"organisation": "registry.commerce-office.gov", "person": "people.national-archive.gov",
             "place": "census.statbureau.gov", "product": "products.trade-standards.int",
             "compound": "register.chem-standards.org", "regulation": "gazette.law-council.gov",
             "event": "events.culture-ministry.gov"}
_NEWS = {"organisation": ("dailyledger.com", "marketpulse.com"), "person": ("sciencebeat.net",),
         "place": ("metro-herald.com",), "product": ("techreview-weekly.com",), "compound": ("sciencebeat.net",),
         "regulation": ("policywatch.org",), "event": ("metro-herald.com",)}
_LOW_TRUST = ("askaround-forum.net", "factsnack.com", "buzztrivia.net", "chatterbox-board.com",
              "quickwiki-mirror.info", "randomblogs.net")
RELATION_LABELS = {"headquarters": "headquarters city", "ceo": "chief executive", "birthplace": "place of birth",
                   "employer": "employer", "mayor": "mayor", "maker": "manufacturer", "key_compound": "key compound",
                   "discoverer": "first synthesiser", "issuer": "issuing body", "regulates": "regulated compound",
                   "host_city": "host city", "organiser": "organiser"}
"""How text names the object of each relation ("the chief executive of X")."""
KIND_PLURAL = {"organisation": "companies", "person": "people", "place": "cities", "product": "products",
               "compound": "compounds", "regulation": "regulations", "event": "events"}

# Sentence frames, `{s}` the subject's name and `{o}` the object's. The first frame of a relation is the plain
# one (`Relation.sentence`); paraphrased statements (`RenderKnobs.paraphrase_rate`) take one of the others. No
# frame is worded like the sentences of gold reports, so a report in its own words never copies a page.
_GENERIC_RELATION_FRAMES = ("{Label} of {s}: {o}.", "{s} lists {o} as its {label}.")
RELATION_FRAMES: dict[str, tuple[str, ...]] = {key: (RELATION_BY_KEY[key].sentence, *_GENERIC_RELATION_FRAMES, *extra)
                                               for key, extra in {
    "headquarters": ("The head office of {s} is located in {o}.", "{o} is home to the headquarters of {s}.",
                     "{s} is based in {o}."),
    "ceo": ("{s} is led by chief executive {o}.", "{o} serves as chief executive of {s}.", "{o} heads {s}."),
    "birthplace": ("{o} is the birthplace of {s}.", "{s} is a native of {o}.", "{s} was born in the city of {o}."),
    "employer": ("{s} is employed by {o}.", "{o} employs {s}.", "{s} is on the staff of {o}."),
    "mayor": ("{s} is governed by mayor {o}.", "The office of mayor of {s} is held by {o}.",
              "{o} serves as mayor of {s}."),
    "maker": ("{o} makes {s}.", "{s} is manufactured by {o}.", "{s} comes from the factories of {o}."),
    "key_compound": ("{s} is built around {o}.", "{o} is the main ingredient of {s}.",
                     "The principal compound of {s} is {o}."),
    "discoverer": ("{o} first synthesised {s}.", "{s} was first produced by {o}.",
                   "The first synthesis of {s} is credited to {o}."),
    "issuer": ("{o} issued {s}.", "{s} was published by {o}.", "{s} carries the authority of {o}."),
    "regulates": ("{s} governs the use of {o}.", "{o} falls under {s}.", "The use of {o} is restricted by {s}."),
    "host_city": ("{s} takes place in {o}.", "{o} hosts {s}.", "{s} is staged in {o}."),
    "organiser": ("{o} organises {s}.", "{s} is put on by {o}.", "The organiser of {s} is {o}."),
}.items()}
# `{v}` the value with its unit, `{year}` the year it was reported, `{a}` the label's article.
VALUE_FRAMES: dict[str, tuple[str, ...]] = {
    "dated": ("As of {year}, the {label} of {s} was {v}.", "{s} — {label}: {v} ({year}).",
              "{s} had {a} {label} of {v} in {year}.", "The {year} figure for the {label} of {s}: {v}.",
              "In {year} {s} stood at {v} for its {label}.", "{Label} of {s} ({year}): {v}."),
    "fixed": ("The {label} of {s} is {v}.", "{s} — {label}: {v}.", "{s} has {a} {label} of {v}.",
              "{Label} of {s}: {v}.", "Records give {v} as the {label} of {s}."),
}
# Former holders of a relation (archive records): `{start}` the year they took over, `{end}` the year they left.
HISTORY_FRAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "ceo": {"first": ("Until {end}, the chief executive of {s} was {o}.", "{o} led {s} as chief executive until {end}."),
            "former": ("From {start} to {end}, the chief executive of {s} was {o}.",
                       "{o} led {s} as chief executive from {start} until {end}."),
            "current": ("Since {start}, {o} has been the chief executive of {s}.",
                        "{o} took over as chief executive of {s} in {start}.")},
    "headquarters": {"first": ("Until {end}, {s} was headquartered in {o}.", "{s} had its headquarters in {o} until {end}."),
                     "former": ("From {start} to {end}, {s} was headquartered in {o}.",
                                "{s} had its headquarters in {o} from {start} until {end}."),
                     "current": ("Since {start}, {s} has been headquartered in {o}.",
                                 "{s} moved its headquarters to {o} in {start}.")},
}


def frame_counts() -> dict[str, int]:
    """Distinct sentence frames per fact type (a relation, a dated or fixed value, a relation's history)."""
    counts = {f"rel:{key}": len(frames) for key, frames in RELATION_FRAMES.items()}
    counts.update({f"value:{kind}": len(frames) for kind, frames in VALUE_FRAMES.items()})
    counts.update({f"history:{key}": sum(map(len, parts.values())) for key, parts in HISTORY_FRAMES.items()})
    return counts
_KIND_WORD = {"organisation": "company", "person": "person", "place": "city", "product": "product",
              "compound": "compound", "regulation": "regulation", "event": "event"}
_FILLER = (
    "Observers note that the {sector} sector has seen steady consolidation over the past decade.",
    "Local officials declined to comment on the figures when contacted.",
    "The broader region has attracted new investment in infrastructure and training.",
    "Several industry associations have published guidance on reporting standards.",
    "Commentators disagree about how representative annual figures are of long-term trends.",
    "The information on this page is compiled from public filings and may be revised.",
    "Earlier coverage focused on supply-chain disruptions that affected many firms.",
    "Readers are encouraged to consult primary records for authoritative figures.",
    "Analysts expect reporting requirements to tighten in the coming years.",
    "The topic drew renewed attention after a series of conference presentations.",
    "Independent auditors review such records on a rolling schedule.",
    "Historical archives hold additional documents that have not been digitised.",
)


@dataclass(frozen=True)
class RenderKnobs:
    """Rates that set how hard a world's web is to research."""

    conflict_rate: float = 0.25
    """Share of dated attributes for which low-trust pages state a fabricated value."""
    outdated_rate: float = 0.25
    """Share of low-trust statements that give an old value as if it were current."""
    low_trust_rate: float = 0.8
    """Chance that an entity is discussed on a low-trust page."""
    news_rate: float = 0.6
    """Chance that an entity with dated values gets a news story."""
    paraphrase_rate: float = 0.0
    """Share of statements worded differently from the usual sentence ("Chief executive of X: Y.")."""
    max_charts: int = 24
    """Register entries of companies with 3+ revenue figures get a chart image, up to this many per world."""
    chart_only_history: bool = False
    """Past figures of a charted attribute appear only in the chart (its caption, read with analyze_image): the
    register entry's table and the archive's lines leave them out, the current figure stays in text. The chart's
    figures become statements of status ``chart`` (computation questions that need a chart)."""
    directories: bool = False
    """Render the register indexes: tier-1 pages listing every entity of a kind (companies with their sector)
    and the address of its entry, 15 to a page: what questions over all entities of a kind are researched from."""


@dataclass(frozen=True)
class Chart:
    """A line chart of an attribute's history, drawn into the world's images folder."""

    url: str
    title: str
    label: str
    years: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)  # a world holds ~5 per page for task synthesis: no per-object __dict__
class Statement:
    """One fact as a page states it."""

    url: str
    tier: int
    entity_id: str
    key: str
    """``"attr:<attribute>"`` or ``"rel:<relation>"``."""
    value: str
    """The stated value (a number as written) or the related entity's id."""
    year: int
    """The year the statement attaches to the value (0: none)."""
    status: str
    """``current``, ``history``, ``fixed``, ``relation``, ``conflict`` (fabricated), ``outdated`` or ``chart`` (a
    figure only a chart's caption gives, `RenderKnobs.chart_only_history`)."""

    def json_line(self) -> str:
        """The statement as a line of statements.jsonl: its fields in order, a JSON array."""
        return json.dumps((self.url, self.tier, self.entity_id, self.key, self.value, self.year, self.status),
                          ensure_ascii=False) + "\n"

    @classmethod
    def from_json_line(cls, line: str | bytes) -> Statement:
        return cls(*json.loads(line))


def authority_tsv() -> str:
    """The world's authority table in the `drgym.web.authority` TSV format."""
    rows = [f"{domain}\t{tier}\t{category}" for domain, (tier, category) in DOMAINS.items()]
    return "# authority tiers of a procedural drgym world\n" + "\n".join(rows) + "\n"


_SLUG_BREAKS = re.compile(r"[^a-z0-9]+")
"""Compiled at import: `re`'s cache would make it on first use, amid a world build's memory, and keep it."""


def slug(text: str) -> str:
    return _SLUG_BREAKS.sub("-", text.lower()).strip("-")


def registry_url(entity: Entity) -> str:
    return f"https://{_REGISTRY[entity.kind]}/entry/{slug(entity.name)}-{slug(entity.id)}"


def archive_url(entity: Entity) -> str:
    return f"https://{_REGISTRY[entity.kind]}/archive/{slug(entity.id)}"


def encyclopedia_url(entity: Entity) -> str:
    return f"https://openpedia.org/wiki/{slug(entity.name)}-{slug(entity.id)}"


class ChartSink(Protocol):
    """Where `render_world` puts the charts it finds: a list, or anything else with ``append`` and ``len``."""

    def append(self, chart: Chart, /) -> None: ...

    def __len__(self) -> int: ...


def render_world(world: World, knobs: RenderKnobs | None = None,
                 charts: ChartSink | None = None) -> Iterator[tuple[Page, list[Statement]]]:
    """Yields each page with the statements it makes, in a fixed order (deterministic for the world).

    Charts shown on pages are appended to `charts`, for the caller to draw.
    """
    knobs = knobs or RenderKnobs()
    rng = random.Random(f"drgym-render-{world.seed}")
    renderer = _Renderer(world, knobs, rng, charts if charts is not None else [])
    for entity in world.entities.values():
        yield from renderer.entity_pages(entity)
    yield from renderer.table_pages()
    if knobs.directories:
        yield from renderer.directory_pages()


class _Renderer:
    def __init__(self, world: World, knobs: RenderKnobs, rng: random.Random, charts: ChartSink) -> None:
        self.world = world
        self.charts = charts
        self.knobs = knobs
        self.rng = rng
        self.frame_rng = random.Random(f"drgym-frames-{world.seed}")
        # every relation as (object id, relation, subject id), sorted, in three lists of shared strings: the ones
        # naming an entity lie together (`inverse`); a list of tuples per object took 3.5 times the memory
        # a packed world's entities (`PackedEntities`) give each read of an id its own string: the lists keep the
        # store's own (`canonical`), made before the render, not copies made amid it
        one: Callable[[str], str] = getattr(world.entities, "canonical", None) or (lambda entity_id: entity_id)
        edges = sorted((one(object_id), key, one(entity.id))
                       for entity in world.entities.values() for key, object_id in entity.relations.items())
        self.edge_objects = [object_id for object_id, _, _ in edges]
        self.edge_keys = [key for _, key, _ in edges]
        self.edge_subjects = [subject_id for _, _, subject_id in edges]
        del edges
        self.decoded: tuple[Entity | None, dict[str, list[tuple[int, float]]]] = (None, {})
        self.low_trust_counter = 0
        self.charted: set[str] = set()
        """Entities whose register entry shows a chart."""

    def entity_pages(self, entity: Entity) -> Iterator[tuple[Page, list[Statement]]]:
        yield self.registry(entity)
        yield self.archive(entity)
        yield self.encyclopedia(entity)
        dated = [a for a in ATTRIBUTES[entity.kind] if a.dated]
        if dated and self.rng.random() < self.knobs.news_rate:
            yield self.news(entity, self.rng.choice(dated))
        if self.rng.random() < self.knobs.low_trust_rate:
            yield self.low_trust(entity)

    # -- helpers --------------------------------------------------------------------------------------

    def paraphrased(self) -> bool:
        """Whether the next statement uses another wording (draws only when the knob is on)."""
        return self.knobs.paraphrase_rate > 0 and self.rng.random() < self.knobs.paraphrase_rate

    def value_sentence(self, entity: Entity, attribute: Attribute, year: int, value: float) -> str:
        frames = VALUE_FRAMES["dated" if year and not attribute.is_year else "fixed"]
        # the frame is drawn from a stream of its own, so worlds differ only in the wording of these sentences
        frame = self.frame_rng.choice(frames[1:]) if self.paraphrased() else frames[0]
        label = attribute.label
        return frame.format(s=entity.name, label=label, Label=label[0].upper() + label[1:], a=_article(label),
                            v=format_value(value, attribute), year=year)

    def relation_sentence(self, entity: Entity, key: str, *, target: Entity | None = None) -> str:
        target = target or self.world.target(entity, key)
        frames = RELATION_FRAMES[key]
        frame = frames[0]
        if self.paraphrased():
            draw = self.rng.random()
            frame = frames[1:][min(int(draw * (len(frames) - 1)), len(frames) - 2)]
        label = RELATION_LABELS[key]
        return frame.format(s=entity.name, o=target.name, label=label, Label=label[0].upper() + label[1:])

    def history_sentences(self, entity: Entity, url: str) -> tuple[list[str], list[Statement]]:
        """The former holders of the entity's changed relations, one sentence each (archive records)."""
        paragraphs, statements = [], []
        for key, holders in sorted(entity.relation_history.items()):
            for number, (start, object_id) in enumerate(holders):
                part = "current" if number == len(holders) - 1 else "first" if start == 0 else "former"
                end = holders[number + 1][0] if part != "current" else 0
                frame = self.frame_rng.choice(HISTORY_FRAMES[key][part])
                paragraphs.append(frame.format(s=entity.name, o=self.world.entities[object_id].name, start=start,
                                               end=end))
                statements.append(Statement(url, 1, entity.id, f"rel:{key}", object_id, start,
                                            "relation" if part == "current" else "history"))
        return paragraphs, statements

    def attributes(self, entity: Entity) -> dict[str, list[tuple[int, float]]]:
        """``entity.attributes``, decoded once for the entity whose pages are being rendered (they read it ~9 times)."""
        if self.decoded[0] is not entity:
            self.decoded = (entity, entity.attributes)
        return self.decoded[1]

    def inverse(self, object_id: str) -> list[tuple[str, str]]:
        """The relations naming `object_id` as their object: (relation, subject id), sorted."""
        start = bisect.bisect_left(self.edge_objects, object_id)
        stop = bisect.bisect_right(self.edge_objects, object_id, lo=start)
        return list(zip(self.edge_keys[start:stop], self.edge_subjects[start:stop]))

    def filler(self, entity: Entity, count: int) -> list[str]:
        sector = entity.category or "research"
        return [self.rng.choice(_FILLER).format(sector=sector) for _ in range(count)]

    def date(self, year: int) -> str:
        return f"{year:04d}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"

    def latest_year(self, entity: Entity) -> int:
        years = [h[-1][0] for h in self.attributes(entity).values() if h[-1][0]]
        return max(years) if years else 2023

    # -- page styles ----------------------------------------------------------------------------------

    def registry(self, entity: Entity) -> tuple[Page, list[Statement]]:
        url, domain = registry_url(entity), _REGISTRY[entity.kind]
        statements: list[Statement] = []
        lead = f"{entity.name} is a {_KIND_WORD[entity.kind]} listed in the {DOMAINS[domain][1]}"
        lead += f", operating in the {entity.category} sector." if entity.category else "."
        if entity.aliases:
            lead += f" It is also known as {', '.join(entity.aliases)}."
        paragraphs = [lead]
        for relation in RELATIONS_BY_SOURCE[entity.kind]:
            paragraphs.append(self.relation_sentence(entity, relation.key))
            statements.append(Statement(url, 1, entity.id, f"rel:{relation.key}", entity.relation(relation.key), 0,
                                        "relation"))
        for key, subject_id in self.inverse(entity.id)[:12]:
            subject = self.world.entities[subject_id]
            paragraphs.append(self.relation_sentence(subject, key, target=entity))
            statements.append(Statement(url, 1, subject.id, f"rel:{key}", entity.id, 0, "relation"))
        tables = []
        images = self.chart(entity, domain)
        if images:
            statements += self.chart_statements(entity, url)
        for attribute in ATTRIBUTES[entity.kind]:
            if attribute.deep:
                continue
            history = self.attributes(entity)[attribute.key]
            year, value = history[-1]
            paragraphs.append(self.value_sentence(entity, attribute, year, value))
            statements.append(Statement(url, 1, entity.id, f"attr:{attribute.key}", format_value(value, attribute,
                                        with_unit=False), year, "current" if attribute.dated else "fixed"))
            if attribute.dated and len(history) > 1 and not self.only_in_chart(entity, attribute):
                unit = f" ({attribute.unit})" if attribute.unit else ""
                rows = [f"| Year | {attribute.label.capitalize()}{unit} |", "| --- | --- |"]
                for old_year, old_value in history:
                    rows.append(f"| {old_year} | {format_value(old_value, attribute, with_unit=False)} |")
                    if old_year != year:
                        statements.append(Statement(url, 1, entity.id, f"attr:{attribute.key}",
                                                    format_value(old_value, attribute, with_unit=False), old_year,
                                                    "history"))
                tables.append("\n".join(rows))
        paragraphs.extend(tables)
        paragraphs.append(f"Further records on {entity.name} are kept in the archive (record {entity.id}).")
        outlinks = [archive_url(entity), encyclopedia_url(entity)]
        outlinks += [registry_url(self.world.entities[t]) for t in entity.relations.values()]
        title = f"{entity.name} — register entry"
        return Page(url, domain, title, self.date(self.latest_year(entity)), 1, tuple(paragraphs),
                    tuple(dict.fromkeys(outlinks)), images=images), statements

    def chart(self, entity: Entity, domain: str) -> tuple[PageImage, ...]:
        """A revenue chart for companies with 3+ figures; its caption carries the figures."""
        history = self.attributes(entity).get(_CHARTED, [])
        if entity.kind != "organisation" or len(history) < 3 or len(self.charts) >= self.knobs.max_charts:
            return ()
        attribute = next(a for a in ATTRIBUTES["organisation"] if a.key == _CHARTED)
        url = f"https://{domain}/charts/{slug(entity.name)}-{slug(entity.id)}-revenue.png"
        years = tuple(y for y, _ in history)
        values = tuple(v for _, v in history)
        figures = "; ".join(f"{y}: {format_value(v, attribute, with_unit=False)}" for y, v in history)
        self.charts.append(Chart(url, f"{entity.name}: annual revenue", "USD million", years, values))
        self.charted.add(entity.id)
        return (PageImage(url, alt=f"Line chart of the annual revenue of {entity.name}, {years[0]}-{years[-1]}",
                          caption=f"Annual revenue of {entity.name} (USD million) by year: {figures}."),)

    def only_in_chart(self, entity: Entity, attribute: Attribute) -> bool:
        """Whether the attribute's past figures are left to the entity's chart (`RenderKnobs.chart_only_history`)."""
        return self.knobs.chart_only_history and entity.id in self.charted and attribute.key == _CHARTED

    def chart_statements(self, entity: Entity, page_url: str) -> list[Statement]:
        """The charted figures, as statements of the page showing the chart, when nothing else states them."""
        if not self.knobs.chart_only_history:
            return []
        attribute = next(a for a in ATTRIBUTES["organisation"] if a.key == _CHARTED)
        return [Statement(page_url, 1, entity.id, f"attr:{_CHARTED}", format_value(value, attribute, with_unit=False),
                          year, "chart") for year, value in self.attributes(entity)[_CHARTED]]

    def archive(self, entity: Entity) -> tuple[Page, list[Statement]]:
        url, domain = archive_url(entity), _REGISTRY[entity.kind]
        statements: list[Statement] = []
        paragraphs = [f"Archive record {entity.id}. This record collects historical filings for {entity.name}."]
        for attribute in ATTRIBUTES[entity.kind]:
            history = self.attributes(entity)[attribute.key]
            if attribute.deep or not attribute.dated:
                year, value = history[-1]
                if attribute.deep:
                    paragraphs.append(self.value_sentence(entity, attribute, year, value))
                    statements.append(Statement(url, 1, entity.id, f"attr:{attribute.key}",
                                                format_value(value, attribute, with_unit=False), year, "fixed"))
                continue
            for year, value in history[-1:] if self.only_in_chart(entity, attribute) else history:
                paragraphs.append(f"In {year}, {entity.name} recorded {_article(attribute.label)} {attribute.label} of "
                                  f"{format_value(value, attribute)}.")
                statements.append(Statement(url, 1, entity.id, f"attr:{attribute.key}",
                                            format_value(value, attribute, with_unit=False), year,
                                            "current" if (year, value) == history[-1] else "history"))
        history_paragraphs, history_statements = self.history_sentences(entity, url)
        paragraphs.extend(history_paragraphs)
        statements.extend(history_statements)
        paragraphs.extend(self.filler(entity, 1))
        return Page(url, domain, f"Archive record {entity.id}", self.date(self.latest_year(entity)), 1,
                    tuple(paragraphs), (registry_url(entity),)), statements

    def encyclopedia(self, entity: Entity) -> tuple[Page, list[Statement]]:
        url, domain = encyclopedia_url(entity), "openpedia.org"
        statements: list[Statement] = []
        paragraphs = [f"{entity.name} is a {_KIND_WORD[entity.kind]}"
                      + (f" in the {entity.category} sector." if entity.category else ".")]
        for relation in RELATIONS_BY_SOURCE[entity.kind]:
            paragraphs.append(self.relation_sentence(entity, relation.key))
            statements.append(Statement(url, 2, entity.id, f"rel:{relation.key}", entity.relation(relation.key), 0,
                                        "relation"))
        for attribute in ATTRIBUTES[entity.kind]:
            if attribute.deep or self.rng.random() < 0.4:
                continue
            year, value = self.attributes(entity)[attribute.key][-1]
            paragraphs.append(self.value_sentence(entity, attribute, year, value))
            statements.append(Statement(url, 2, entity.id, f"attr:{attribute.key}",
                                        format_value(value, attribute, with_unit=False), year,
                                        "current" if attribute.dated else "fixed"))
        paragraphs.extend(self.filler(entity, self.rng.randint(2, 4)))
        if entity.twin_of:
            paragraphs.append(f"Not to be confused with {self.world.entities[entity.twin_of].name}.")
        outlinks = [encyclopedia_url(self.world.entities[t]) for t in entity.relations.values()]
        outlinks.append(registry_url(entity))
        return Page(url, domain, entity.name, self.date(self.latest_year(entity)), 2, tuple(paragraphs),
                    tuple(dict.fromkeys(outlinks))), statements

    def news(self, entity: Entity, attribute: Attribute) -> tuple[Page, list[Statement]]:
        history = self.attributes(entity)[attribute.key]
        (year, value) = history[-1]
        official = entity.kind == "organisation" and self.rng.random() < 0.5
        domain = "press.corporate-wire.org" if official else self.rng.choice(_NEWS[entity.kind])
        tier = DOMAINS[domain][0]
        url = f"https://{domain}/{year}/{slug(entity.name)}-{slug(attribute.label)}-{slug(entity.id)}"
        statements = [Statement(url, tier, entity.id, f"attr:{attribute.key}",
                                format_value(value, attribute, with_unit=False), year, "current")]
        verb = "reports" if official else "reported"
        paragraphs = [f"{entity.name} {verb} {_article(attribute.label)} {attribute.label} of {format_value(value, attribute)} for {year}."]
        if len(history) > 1:
            old_year, old_value = history[-2]
            direction = "up" if value > old_value else "down"
            paragraphs.append(f"That is {direction} from {format_value(old_value, attribute)} in {old_year}.")
            statements.append(Statement(url, tier, entity.id, f"attr:{attribute.key}",
                                        format_value(old_value, attribute, with_unit=False), old_year, "history"))
        relations = RELATIONS_BY_SOURCE[entity.kind]
        if relations:
            relation = self.rng.choice(relations)
            paragraphs.append(self.relation_sentence(entity, relation.key))
            statements.append(Statement(url, tier, entity.id, f"rel:{relation.key}", entity.relation(relation.key),
                                        0, "relation"))
        paragraphs.extend(self.filler(entity, self.rng.randint(1, 3)))
        title = f"{entity.name}: {attribute.label} {'rises' if len(history) < 2 or value > history[-2][1] else 'falls'} to " \
                f"{format_value(value, attribute)}"
        return Page(url, domain, title, self.date(year), tier, tuple(paragraphs),
                    (registry_url(entity), encyclopedia_url(entity))), statements

    def conflicting_value(self, entity: Entity, attribute: Attribute) -> float:
        """The fabricated value low-trust pages repeat for this attribute: 15-45 % off the current one."""
        rumour = random.Random(f"{self.world.seed}-{entity.id}-{attribute.key}")
        history = [v for _, v in self.attributes(entity)[attribute.key]]
        while True:  # also ≥ 5 % away from every true historical value, so no check can confuse them
            factor = rumour.uniform(1.15, 1.45) if rumour.random() < 0.5 else rumour.uniform(0.55, 0.85)
            value = round(history[-1] * factor, attribute.decimals)
            value = float(int(value)) if attribute.decimals == 0 else value
            if all(abs(value - old) > 0.05 * abs(old) for old in history):
                return value

    def has_conflict(self, entity: Entity, attribute: Attribute) -> bool:
        draw = random.Random(f"{self.world.seed}-{entity.id}-{attribute.key}-conflict").random()
        return attribute.dated and draw < self.knobs.conflict_rate

    def low_trust(self, entity: Entity) -> tuple[Page, list[Statement]]:
        domain = _LOW_TRUST[self.low_trust_counter % len(_LOW_TRUST)]
        self.low_trust_counter += 1
        url = f"https://{domain}/t/{self.low_trust_counter}-{slug(entity.name)}"
        statements: list[Statement] = []
        attributes = [a for a in ATTRIBUTES[entity.kind] if not a.deep]
        if not attributes:
            return self.low_trust_gossip(entity, domain, url)
        attribute = self.rng.choice(attributes)
        history = self.attributes(entity)[attribute.key]
        if self.has_conflict(entity, attribute):
            year, value, status = history[-1][0], self.conflicting_value(entity, attribute), "conflict"
        elif len(history) > 1 and self.rng.random() < self.knobs.outdated_rate:
            (year, value), status = self.rng.choice(history[:-1]), "outdated"
        else:
            (year, value), status = history[-1], "current" if attribute.dated else "fixed"
        stated = format_value(value, attribute)
        if domain in ("askaround-forum.net", "chatterbox-board.com"):
            paragraphs = [f"Does anyone know the {attribute.label} of {entity.name}?",
                          f"Pretty sure the {attribute.label} of {entity.name} is {stated}, saw it somewhere.",
                          "Thanks, that matches what my colleague said."]
            title = f"Question about {entity.name}"
        else:
            paragraphs = [f"Ten things you did not know about {entity.name}.",
                          f"Number four: the {attribute.label} of {entity.name} is {stated}!"]
            title = f"Ten surprising facts about {entity.name}"
        statements.append(Statement(url, 3, entity.id, f"attr:{attribute.key}",
                                    format_value(value, attribute, with_unit=False), year, status))
        twins = [e for e in (self.world.entities.get(f"{entity.id}-twin"),) if e is not None]
        if twins:
            paragraphs.append(f"Some people mix it up with {twins[0].name}, which is a different {_KIND_WORD[entity.kind]}.")
        paragraphs.extend(self.filler(entity, self.rng.randint(1, 2)))
        published = self.date(year if status == "outdated" else self.rng.randint(2019, 2024))
        return Page(url, domain, title, published, 3, tuple(paragraphs), (encyclopedia_url(entity),)), statements

    def low_trust_gossip(self, entity: Entity, domain: str, url: str) -> tuple[Page, list[Statement]]:
        """A low-trust page about an entity with no public numbers: chatter around one relation."""
        relation = self.rng.choice(RELATIONS_BY_SOURCE[entity.kind])
        paragraphs = [f"Has anyone heard more about {entity.name}?", self.relation_sentence(entity, relation.key),
                      *self.filler(entity, self.rng.randint(1, 2))]
        statement = Statement(url, 3, entity.id, f"rel:{relation.key}", entity.relation(relation.key), 0, "relation")
        return Page(url, domain, f"Thread about {entity.name}", self.date(self.rng.randint(2019, 2024)), 3,
                    tuple(paragraphs), (encyclopedia_url(entity),)), [statement]

    def directory_pages(self) -> Iterator[tuple[Page, list[Statement]]]:
        """The register indexes: every entity of each kind with the address of its entry."""
        return _directory_pages(self.world)

    def table_pages(self) -> Iterator[tuple[Page, list[Statement]]]:
        """Statistics tables: one tier-1 page per 25 entities of a kind, listing current values."""
        for kind, attribute_key in (("place", "population"), ("product", "unit_price_usd"),
                                    ("compound", "melting_point_c")):
            attribute = next(a for a in ATTRIBUTES[kind] if a.key == attribute_key)
            entities = [e for e in self.world.by_kind(kind) if not e.twin_of]
            domain = _REGISTRY[kind]
            for start in range(0, len(entities), 25):
                chunk = entities[start:start + 25]
                url = f"https://{domain}/tables/{slug(attribute.label)}-{start // 25 + 1}"
                unit = f" ({attribute.unit})" if attribute.unit else ""
                rows = [f"| {_KIND_WORD[kind].capitalize()} | {attribute.label.capitalize()}{unit} | Year |",
                        "| --- | --- | --- |"]
                statements = []
                for entity in chunk:
                    year, value = self.attributes(entity)[attribute.key][-1]
                    written = format_value(value, attribute, with_unit=False)
                    rows.append(f"| {entity.name} | {written} | {year or ''} |")
                    statements.append(Statement(url, 1, entity.id, f"attr:{attribute.key}", written, year,
                                                "current" if attribute.dated else "fixed"))
                paragraphs = (f"Table {start // 25 + 1}: {attribute.label} by {_KIND_WORD[kind]}, latest figures.",
                              "\n".join(rows), "Figures are compiled from official filings.")
                yield Page(url, domain, f"{attribute.label.capitalize()} by {_KIND_WORD[kind]}, table {start // 25 + 1}",
                           "2024-06-30", 1, paragraphs, tuple(registry_url(e) for e in chunk)), statements


DIRECTORY_ROWS = 15
"""Entries per register index page (a page's links show 15)."""


def directory_url(kind: str, part: int) -> str:
    return f"https://{_REGISTRY[kind]}/index/{KIND_PLURAL[kind]}-{part}"


def _directory_pages(world: World) -> Iterator[tuple[Page, list[Statement]]]:
    for kind in world_kinds(world):
        entities = sorted(world.by_kind(kind), key=lambda e: (e.name, e.id))
        domain = _REGISTRY[kind]
        n_parts = -(-len(entities) // DIRECTORY_ROWS)
        parts = " ".join(directory_url(kind, number) for number in range(1, n_parts + 1))
        for number in range(1, n_parts + 1):
            chunk = entities[(number - 1) * DIRECTORY_ROWS: number * DIRECTORY_ROWS]
            url = directory_url(kind, number)
            rows = [f"{e.name} ({e.category} sector): {registry_url(e)}" if e.category else f"{e.name}: {registry_url(e)}"
                    for e in chunk]
            lead = (f"Part {number} of {n_parts} of the index of the {DOMAINS[domain][1]}: every {_KIND_WORD[kind]} on "
                    f"record ({len(entities)} in all), with the address of its entry. All parts: {parts}")
            yield Page(url, domain, f"Index of {KIND_PLURAL[kind]} in the {DOMAINS[domain][1]}, part {number} of {n_parts}",
                       "2024-06-30", 1, (lead, *rows), tuple(registry_url(e) for e in chunk)), []


def world_kinds(world: World) -> list[str]:
    return sorted({e.kind for e in world.entities.values()})


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"
